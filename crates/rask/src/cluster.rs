//! `rask run` as a supervisor: it starts the job's worker process(es) — N copies of this binary
//! forming one timely cluster on 127.0.0.1 with `--processes N`, or one worker process when the
//! job stores checkpoints — forwards Ctrl-C to them, and when one fails stops the others and,
//! for a checkpointed job, restarts all of them from the latest complete checkpoint following
//! the restart strategy (Flink's `restart-strategy.*` options). Workers die with the supervisor
//! (parent-death signal), so killing `rask run` never leaves a job running behind it; running
//! the same command again resumes from the latest complete checkpoint.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rask_sql::StreamPlan;

use crate::ExecArgs;

/// Environment variable naming the supervisor's pid in its workers (they exit if it is gone).
pub const SUPERVISOR_ENV: &str = "RASK_SUPERVISOR_PID";

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// Flink's restart strategies (`restart-strategy.type` and its options).
#[derive(Debug, Clone)]
pub enum RestartStrategy {
    None,
    FixedDelay { attempts: u64, delay: Duration },
    ExponentialDelay { initial: Duration, max: Duration, multiplier: f64, reset_after: Duration, attempts_before_reset: u64 },
}

impl RestartStrategy {
    /// From the job's configuration; without `restart-strategy.type`, a checkpointed job
    /// restarts with exponential delay (Flink's default) and any other job does not restart.
    pub fn from_plan(plan: &StreamPlan, checkpointed: bool) -> Result<RestartStrategy> {
        let c = &plan.config;
        let dur = |k: &str, d: Duration| -> Result<Duration> { Ok(c.duration(k).map_err(anyhow::Error::msg)?.unwrap_or(d)) };
        let int = |k: &str, d: u64| -> Result<u64> { Ok(c.int(k).map_err(anyhow::Error::msg)?.map(|v| v.max(0) as u64).unwrap_or(d)) };
        let kind = c.get("restart-strategy.type").map(|s| s.to_ascii_lowercase());
        Ok(match kind.as_deref() {
            None if !checkpointed => RestartStrategy::None,
            Some("none" | "off" | "disable") => RestartStrategy::None,
            Some("fixed-delay" | "fixeddelay") => RestartStrategy::FixedDelay {
                attempts: int("restart-strategy.fixed-delay.attempts", 1)?,
                delay: dur("restart-strategy.fixed-delay.delay", Duration::from_secs(1))?,
            },
            None | Some("exponential-delay" | "exponentialdelay") => RestartStrategy::ExponentialDelay {
                initial: dur("restart-strategy.exponential-delay.initial-backoff", Duration::from_secs(1))?,
                max: dur("restart-strategy.exponential-delay.max-backoff", Duration::from_secs(60))?,
                multiplier: c
                    .get("restart-strategy.exponential-delay.backoff-multiplier")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(1.5),
                reset_after: dur("restart-strategy.exponential-delay.reset-backoff-threshold", Duration::from_secs(3600))?,
                attempts_before_reset: int("restart-strategy.exponential-delay.attempts-before-reset-backoff", u64::MAX)?,
            },
            Some(other) => bail!("restart-strategy.type '{other}' is not supported (none, fixed-delay, exponential-delay)"),
        })
    }
}

/// Tracks restarts against a strategy.
struct Restarts {
    strategy: RestartStrategy,
    attempts: u64,
    backoff: Duration,
    /// A failure happened before (the exponential backoff grows from the second one).
    failed_before: bool,
}

impl Restarts {
    /// The delay before the next attempt, or `None` when the strategy gives up.
    fn next_delay(&mut self, ran_for: Duration) -> Option<Duration> {
        match &self.strategy {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                self.attempts += 1;
                (self.attempts <= *attempts).then_some(*delay)
            }
            RestartStrategy::ExponentialDelay { initial, max, multiplier, reset_after, attempts_before_reset } => {
                if ran_for >= *reset_after || !self.failed_before {
                    self.attempts = 0;
                    self.backoff = *initial;
                }
                self.attempts += 1;
                if self.attempts > *attempts_before_reset {
                    return None;
                }
                let d = self.backoff;
                self.backoff = Duration::from_secs_f64((self.backoff.as_secs_f64() * multiplier).min(max.as_secs_f64()));
                self.failed_before = true;
                Some(d)
            }
        }
    }
}

/// How to start the workers of one attempt.
pub struct Supervised<'a> {
    pub script: &'a Path,
    pub exec: &'a ExecArgs,
    /// Number of worker processes.
    pub processes: usize,
    /// Job parallelism when there is one worker process (threads in it).
    pub parallelism: usize,
    pub restart: RestartStrategy,
    /// Picks the checkpoint each attempt starts from (a `chk-N` path), and says so.
    pub restore_from: Box<dyn FnMut() -> Result<Option<String>> + 'a>,
}

pub fn supervise(mut s: Supervised<'_>) -> Result<()> {
    let n = s.processes;
    if n == 0 {
        bail!("--processes must be at least 1");
    }
    let mut restarts = Restarts { strategy: s.restart.clone(), attempts: 0, backoff: Duration::ZERO, failed_before: false };
    let start = rask_runtime::job::job_start_ms().to_string();
    let cancel = crate::script::cancel_flag();
    let mut attempt = 0;
    loop {
        let from = (s.restore_from)()?;
        if attempt > 0 {
            job_event(&s, "restarted", &format!("restarted from {}", from.as_deref().unwrap_or("the beginning")), None);
        }
        attempt += 1;
        let began = Instant::now();
        match run_attempt(&s, n, &start, from.as_deref(), &cancel)? {
            None => return Ok(()),
            Some(failure) => {
                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    bail!("job cancelled: {failure}");
                }
                let failure = worker_errors(&s, n).unwrap_or(failure);
                let delay = restarts.next_delay(began.elapsed());
                job_event(&s, "failed", &failure, delay);
                match delay {
                    None => bail!("job failed: {failure}"),
                    Some(d) => {
                        eprintln!("[rask] job failed: {failure}; restarting in {:.1} s", d.as_secs_f64());
                        std::thread::sleep(d);
                    }
                }
            }
        }
    }
}

/// What the workers of a failed attempt said (`--metrics-file`: each writes FILE.N.error).
fn worker_errors(s: &Supervised<'_>, n: usize) -> Option<String> {
    let m = s.exec.metrics_file.as_ref()?;
    let said: Vec<String> = (0..n)
        .filter_map(|i| {
            let p = format!("{}.{i}.error", m.display());
            let t = std::fs::read_to_string(&p).ok()?;
            let _ = std::fs::remove_file(&p);
            Some(t.trim().to_string())
        })
        .collect();
    (!said.is_empty()).then(|| said.join("; "))
}

/// With `--metrics-file`: append a failure or restart to FILE.events (JSON lines), which
/// `rask server` shows as the job's exceptions and RESTARTING state.
fn job_event(s: &Supervised<'_>, kind: &str, message: &str, restart_in: Option<Duration>) {
    let Some(m) = &s.exec.metrics_file else { return };
    let line = serde_json::json!({
        "at": rask_types::now_ms(),
        "kind": kind,
        "message": message,
        "restart_in_ms": restart_in.map(|d| d.as_millis() as u64),
    });
    let path = format!("{}.events", m.display());
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes());
    }
}

/// One attempt: start the workers and wait. `Some(reason)` if it failed.
fn run_attempt(
    s: &Supervised<'_>,
    n: usize,
    start: &str,
    from: Option<&str>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Option<String>> {
    let hosts: Vec<String> = if n > 1 {
        (0..n).map(|_| free_port().map(|p| format!("127.0.0.1:{p}"))).collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let exe = std::env::current_exe().context("locating the rask binary")?;
    let mut children: Vec<Child> = Vec::new();
    for i in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.env(rask_runtime::job::JOB_START_ENV, start);
        cmd.env(SUPERVISOR_ENV, std::process::id().to_string());
        // Own process group: a terminal's Ctrl-C reaches only the supervisor, which forwards it
        // once (a worker seeing it twice would exit at once instead of stopping cleanly).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.arg("run").arg(s.script);
        if n > 1 {
            cmd.arg("--process-index").arg(i.to_string()).arg("--hosts").arg(hosts.join(",")).arg("--workers").arg(s.exec.workers.to_string());
        } else {
            cmd.arg("--worker").arg("--parallelism").arg(s.parallelism.to_string());
        }
        cmd.arg("--batch-size").arg(s.exec.batch_size.to_string());
        cmd.arg("--progress").arg(if s.exec.progress == "auto" { "plain".to_string() } else { s.exec.progress.clone() });
        if let Some(f) = from {
            cmd.arg("--from-savepoint").arg(f);
        }
        if let Some(d) = &s.exec.savepoint_dir {
            cmd.arg("--savepoint-dir").arg(d);
        }
        if let Some(m) = &s.exec.metrics_file {
            cmd.arg("--metrics-file").arg(format!("{}.{i}", m.display()));
        }
        if s.exec.allow_non_restored_state {
            cmd.arg("--allow-non-restored-state");
        }
        match cmd.spawn() {
            Ok(c) => children.push(c),
            Err(e) => {
                for c in children.iter_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(anyhow::Error::new(e).context(format!("starting worker process {i}")));
            }
        }
    }
    // Wait for all; on the first failure stop the rest; forward Ctrl-C so that every process
    // cancels its part of the job and prints its summary.
    let mut forwarded = false;
    let mut failed: Option<String> = None;
    let mut done = vec![false; n];
    let savepoint = crate::script::savepoint_signal();
    while done.iter().any(|d| !d) {
        if savepoint.swap(false, std::sync::atomic::Ordering::SeqCst) {
            for (i, c) in children.iter().enumerate() {
                if !done[i] {
                    let _ = Command::new("kill").arg("-USR1").arg(c.id().to_string()).status();
                }
            }
        }
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
                    failed = Some(if n > 1 { format!("process {i} exited with {status}") } else { format!("the worker process exited with {status}") });
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
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(failed)
}

/// In a worker: die with the supervisor (and exit now if it is already gone).
pub fn bind_to_supervisor() {
    let Some(pid) = std::env::var(SUPERVISOR_ENV).ok().and_then(|v| v.parse::<i32>().ok()) else { return };
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if nix::unistd::getppid().as_raw() != pid {
        eprintln!("[rask] the supervising `rask run` is gone; exiting");
        std::process::exit(1);
    }
}
