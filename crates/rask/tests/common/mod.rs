//! Helpers shared by the integration tests: processes to kill, figures of the job summary.

/// Processes whose parent is `pid`.
#[allow(dead_code)]
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid …: comm may contain spaces, so split after the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// The job summary's lookup figures in `rask run`'s stderr: (keys looked up, keys served from
/// the lookup cache); (0, 0) without lookups.
#[allow(dead_code)]
pub fn lookup_figures(stderr: &str) -> (u64, u64) {
    let Some((head, rest)) = stderr.split_once(" keys looked up (") else { return (0, 0) };
    (head.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0), rest.split(' ').next().unwrap_or("0").parse().unwrap_or(0))
}
