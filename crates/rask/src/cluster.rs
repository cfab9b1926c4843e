//! `rask run --processes N`: start N copies of this binary as the processes of one timely
//! cluster on 127.0.0.1 and supervise them: if one fails, the others are stopped and the run
//! fails (recovery from checkpoints restarts the whole set).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::ExecArgs;

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

pub fn run_local_cluster(script: &Path, n: usize, exec: &ExecArgs) -> Result<()> {
    if n == 0 {
        bail!("--processes must be at least 1");
    }
    let hosts: Vec<String> = (0..n).map(|_| free_port().map(|p| format!("127.0.0.1:{p}"))).collect::<Result<_>>()?;
    let exe = std::env::current_exe().context("locating the rask binary")?;
    let mut children: Vec<Child> = Vec::new();
    let start = rask_runtime::job::job_start_ms().to_string();
    for i in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.env(rask_runtime::job::JOB_START_ENV, &start);
        cmd.arg("run")
            .arg(script)
            .arg("--process-index")
            .arg(i.to_string())
            .arg("--hosts")
            .arg(hosts.join(","))
            .arg("--workers")
            .arg(exec.workers.to_string())
            .arg("--batch-size")
            .arg(exec.batch_size.to_string())
            .arg("--progress")
            .arg(if exec.progress == "auto" { "plain".to_string() } else { exec.progress.clone() });
        children.push(cmd.spawn().with_context(|| format!("starting process {i}"))?);
    }
    // Supervise: wait for all; on the first failure stop the rest; forward Ctrl-C so that
    // every process cancels its part of the job and prints its summary.
    let cancel = crate::script::cancel_flag();
    let mut forwarded = false;
    let mut failed: Option<String> = None;
    let mut done = vec![false; n];
    while done.iter().any(|d| !d) {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) && !forwarded {
            forwarded = true;
            for (i, c) in children.iter().enumerate() {
                if !done[i] {
                    let _ = Command::new("kill").arg("-INT").arg(c.id().to_string()).status();
                }
            }
        }
        for (i, c) in children.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            if let Some(status) = c.try_wait()? {
                done[i] = true;
                if !status.success() && failed.is_none() {
                    failed = Some(format!("process {i} exited with {status}"));
                }
            }
        }
        if failed.is_some() {
            for (i, c) in children.iter_mut().enumerate() {
                if !done[i] {
                    let _ = c.kill();
                    let _ = c.wait();
                    done[i] = true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match failed {
        Some(f) => bail!("multi-process run failed: {f}"),
        None => Ok(()),
    }
}
