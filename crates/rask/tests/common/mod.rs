//! Helpers shared by the integration tests: scripts run through the binary, processes to kill,
//! figures of the job summary, the table a changelog leaves.

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

/// A script run through the binary (`rask run`, `--progress none` unless `args` set it).
#[allow(dead_code)]
pub struct ScriptRun {
    pub ok: bool,
    /// The printed changelog rows in output order: (subtask prefix, row without it).
    pub printed: Vec<(String, String)>,
    pub stderr: String,
}

/// Write `sql` as a new script in `dir` and run it.
#[allow(dead_code)]
pub fn run_script(dir: &std::path::Path, sql: &str, args: &[&str]) -> ScriptRun {
    static SCRIPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = dir.join(format!("job-{}.sql", SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::write(&path, sql).expect("write script");
    let progress: &[&str] = if args.contains(&"--progress") { &[] } else { &["--progress", "none"] };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rask")).arg("run").arg(&path).args(args).args(progress).output().expect("rask run");
    let printed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| ["+I[", "-U[", "+U[", "-D["].iter().any(|k| l.contains(k)))
        .map(|l| {
            let (prefix, row) = l.split_once("> ").unwrap_or(("", l));
            (prefix.to_string(), row.to_string())
        })
        .collect();
    ScriptRun { ok: out.status.success(), printed, stderr: String::from_utf8_lossy(&out.stderr).to_string() }
}

/// The table a changelog leaves behind (sorted rows): `+I`/`+U` add a row, `-U`/`-D` remove
/// one equal row, which must be there.
#[allow(dead_code)]
pub fn materialise(changelog: &[String]) -> Result<Vec<String>, String> {
    let mut table: Vec<String> = Vec::new();
    for line in changelog {
        let (kind, row) = line.split_at(line.len().min(2));
        match kind {
            "+I" | "+U" => table.push(row.to_string()),
            "-U" | "-D" => match table.iter().position(|r| r == row) {
                Some(i) => {
                    table.swap_remove(i);
                }
                None => return Err(format!("'{line}' retracts a row that is not in the table")),
            },
            _ => return Err(format!("'{line}' is not a changelog row")),
        }
    }
    table.sort();
    Ok(table)
}
