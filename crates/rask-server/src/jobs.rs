//! Deployments and their jobs. A job runs as its own worker process (`rask run` of a script
//! holding the catalog, the job's configuration and its statements), so that one job's crash
//! or memory blow-up cannot take down another job or the server. Per deployment a directory
//! under the data directory holds the script, the log, checkpoints and savepoints.
//!
//! States (as Flink's): CREATED → RUNNING → FINISHED | FAILED | CANCELLED | SUSPENDED (stopped
//! with a savepoint); a failure passes through FAILING to RESTARTING → RUNNING, or to FAILED.
//! The worker applies the job's restart strategy (`restart-strategy.*`) to failures inside the
//! job; when it gives up and exits, the deployment FAILED. A worker
//! process that dies (killed, out of memory) is restored from the latest checkpoint
//! (RESTARTING) up to `restart-strategy.fixed-delay.attempts` times (default 3).
//! Every change is stored with a history entry. Requests on one deployment are serialised.
//!
//! When the server starts, deployments left RUNNING are adopted again if their worker still
//! runs (the server was killed, not the worker), otherwise restored from their latest
//! checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::catalog::Catalog;
use crate::error::{Result, ServerError};
use crate::store::{now_ms, Deployment, Store};

pub const CREATED: &str = "CREATED";
pub const RUNNING: &str = "RUNNING";
/// A failure happened; the job is being torn down to restart (RESTARTING) or to end (FAILED).
pub const FAILING: &str = "FAILING";
pub const RESTARTING: &str = "RESTARTING";
pub const FINISHED: &str = "FINISHED";
pub const FAILED: &str = "FAILED";
pub const CANCELLED: &str = "CANCELLED";
pub const SUSPENDED: &str = "SUSPENDED";

#[derive(Clone)]
pub struct Jobs {
    store: Store,
    catalog: Catalog,
    data_dir: PathBuf,
    /// The `rask` binary that runs workers.
    worker_bin: PathBuf,
    /// One lock per deployment id.
    locks: Arc<std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    /// Deployments whose worker the server ends on purpose, and why.
    stopping: Arc<std::sync::Mutex<HashMap<String, Stop>>>,
    /// Per deployment, the lines of its workers' events file already recorded.
    events_seen: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

/// Why the server ends a worker.
#[derive(Debug, Clone, PartialEq)]
enum Stop {
    Savepoint,
    Cancel,
    /// It went over `taskmanager.memory.process.size` (the message says by how much).
    Memory(String),
}

/// A memory size as Flink writes it: `512m`, `1 gb`, `1073741824`.
fn parse_memory(v: &str) -> Option<u64> {
    let t = v.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mul: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Resident memory of process `pid` and all its descendants (bytes).
fn tree_rss(pid: i64) -> u64 {
    let mut parents: HashMap<i64, Vec<i64>> = HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i64>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid …: the command may hold spaces and parentheses.
        if let Some(ppid) = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|x| x.parse::<i64>().ok()) {
            parents.entry(ppid).or_default().push(p);
        }
    }
    let page = 4096u64;
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        if let Ok(statm) = std::fs::read_to_string(format!("/proc/{p}/statm")) {
            total += statm.split_whitespace().nth(1).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) * page;
        }
        stack.extend(parents.get(&p).into_iter().flatten());
    }
    total
}

/// The newest completed checkpoint or savepoint (`chk-N` or `savepoint-N` with a
/// `_metadata`) under `dir`.
fn latest_snapshot(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(n) = name.strip_prefix("chk-").or_else(|| name.strip_prefix("savepoint-")).and_then(|n| n.parse::<u64>().ok()) else { continue };
        if e.path().join("_metadata").exists() && best.as_ref().is_none_or(|(b, _)| n > *b) {
            best = Some((n, e.path()));
        }
    }
    best.map(|(_, p)| p)
}

/// Whether process `pid` is alive and runs the job in `dir`.
fn runs_job(pid: i64, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    String::from_utf8_lossy(&cmdline).contains(&dir.display().to_string())
}

fn signal(pid: i64, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

impl Jobs {
    pub fn new(store: Store, catalog: Catalog, data_dir: PathBuf, worker_bin: PathBuf) -> Jobs {
        Jobs { store, catalog, data_dir, worker_bin, locks: Default::default(), stopping: Default::default(), events_seen: Default::default() }
    }

    fn lock(&self, id: &str) -> Arc<Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(id.to_string()).or_default().clone()
    }

    fn job_dir(&self, id: &str) -> PathBuf {
        self.data_dir.join("jobs").join(id)
    }

    pub async fn get(&self, id: &str) -> Result<Deployment> {
        self.store.deployment(id).await?.ok_or_else(|| ServerError::NotFound(format!("no deployment '{id}'")))
    }

    /// Create a deployment from SQL after checking that it plans against the catalog.
    pub async fn create(&self, name: String, sql: String, parallelism: i64, config: BTreeMap<String, String>) -> Result<Deployment> {
        if name.trim().is_empty() || name.contains('/') {
            return Err(ServerError::BadRequest(format!("invalid deployment name '{name}'")));
        }
        if !(1..=1024).contains(&parallelism) {
            return Err(ServerError::BadRequest(format!("parallelism must be between 1 and 1024, got {parallelism}")));
        }
        self.catalog.plan_job(&sql, &config).await?;
        if self.store.deployment(&name).await?.is_some() {
            return Err(ServerError::Conflict(format!("a deployment named '{name}' already exists")));
        }
        let now = now_ms();
        let d = Deployment {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            sql,
            parallelism,
            config,
            state: CREATED.into(),
            pid: None,
            restarts: 0,
            last_savepoint: None,
            failure: None,
            created_at: now,
            updated_at: now,
            live: None,
        };
        self.store.insert_deployment(&d).await?;
        self.store.set_state(&d, "created").await?;
        Ok(d)
    }

    /// Start (or resume) a deployment: from its last savepoint if it has one and
    /// `from_savepoint`, else fresh.
    pub async fn start(&self, id: &str, from_savepoint: bool) -> Result<Deployment> {
        let d = self.get(id).await?;
        let lock = self.lock(&d.id);
        let _g = lock.lock().await;
        let mut d = self.get(&d.id).await?;
        if matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING) {
            return Err(ServerError::Conflict(format!("deployment '{}' is already {}", d.name, d.state)));
        }
        let from = if from_savepoint { d.last_savepoint.clone().map(PathBuf::from) } else { None };
        d.restarts = 0;
        d.failure = None;
        self.spawn(&mut d, from.as_deref(), if from.is_some() { "resumed from savepoint" } else { "started" }).await?;
        Ok(d)
    }

    /// Launch the worker and watch it (boxed: the watcher's restart launches again).
    fn spawn<'a>(&'a self, d: &'a mut Deployment, from: Option<&'a Path>, why: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(self.spawn_worker(d, from, why))
    }

    async fn spawn_worker(&self, d: &mut Deployment, from: Option<&Path>, why: &str) -> Result<()> {
        let dir = self.job_dir(&d.id);
        tokio::fs::create_dir_all(dir.join("checkpoints")).await?;
        tokio::fs::create_dir_all(dir.join("savepoints")).await?;
        let mut config = d.config.clone();
        config.entry("execution.checkpointing.interval".into()).or_insert_with(|| "10 s".into());
        config.insert("execution.checkpointing.dir".into(), dir.join("checkpoints").display().to_string());
        config.insert("execution.checkpointing.savepoint-dir".into(), dir.join("savepoints").display().to_string());
        let script = self.catalog.job_script(&d.sql, &config).await?;
        let script_path = dir.join("job.sql");
        tokio::fs::write(&script_path, script).await?;
        // It may hold secrets' values: readable by the server's user only.
        std::fs::set_permissions(&script_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        if !why.starts_with("restored") {
            // A new run (not a restore of this one): its own restarts and exceptions.
            let _ = std::fs::remove_file(dir.join("metrics.json.events"));
            self.events_seen.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id.clone(), 0);
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("job.log"))?;
        let mut cmd = tokio::process::Command::new(&self.worker_bin);
        cmd.arg("run").arg(&script_path).arg("-p").arg(d.parallelism.to_string()).args(["--progress", "plain"]);
        cmd.arg("--metrics-file").arg(dir.join("metrics.json"));
        if let Some(f) = from {
            cmd.arg("--from-savepoint").arg(f);
        }
        cmd.stdout(log.try_clone()?).stderr(log).stdin(std::process::Stdio::null());
        let child = cmd.spawn().map_err(|e| ServerError::External(format!("cannot start a worker ({}): {e}", self.worker_bin.display())))?;
        d.pid = child.id().map(i64::from);
        d.state = RUNNING.into();
        self.store.set_state(d, &format!("{why} (worker pid {})", d.pid.unwrap_or(0))).await?;
        let jobs = self.clone();
        let id = d.id.clone();
        tokio::spawn(async move {
            let mut child = child;
            let status = child.wait().await;
            let code = status.as_ref().ok().and_then(|s| s.code());
            jobs.on_exit(&id, code).await;
        });
        Ok(())
    }

    /// A worker ended (`code`: its exit code; `None` killed by a signal or unknown).
    async fn on_exit(&self, id: &str, code: Option<i32>) {
        let lock = self.lock(id);
        let _g = lock.lock().await;
        let Ok(mut d) = self.get(id).await else { return };
        let dir = self.job_dir(id);
        let stopped = self.stopping.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.apply_worker_events(&mut d).await;
        d.pid = None;
        let result = match (stopped, code) {
            (Some(Stop::Memory(why)), _) => {
                d.failure = Some(why.clone());
                d.state = FAILING.into();
                let _ = self.store.set_state(&d, &format!("job failed: {why}")).await;
                d.state = FAILED.into();
                self.store.set_state(&d, &format!("failed: {why}")).await
            }
            (Some(Stop::Savepoint), Some(0)) => {
                d.last_savepoint = latest_snapshot(&dir.join("savepoints")).map(|p| p.display().to_string());
                d.state = SUSPENDED.into();
                let msg = format!("stopped with savepoint {}", d.last_savepoint.clone().unwrap_or_default());
                self.store.set_state(&d, &msg).await
            }
            (Some(_), _) => {
                d.state = CANCELLED.into();
                self.store.set_state(&d, "cancelled").await
            }
            (None, Some(0)) => {
                d.state = FINISHED.into();
                self.store.set_state(&d, "finished").await
            }
            (None, Some(code)) => {
                // The worker applied the job's restart strategy and gave up.
                let tail = log_tail(&dir.join("job.log"), 20).unwrap_or_default();
                d.failure = Some(failure_line(&tail));
                if d.state != FAILING {
                    d.state = FAILING.into();
                    let _ = self.store.set_state(&d, &format!("job failed: {}", d.failure.clone().unwrap_or_default())).await;
                }
                d.state = FAILED.into();
                self.store.set_state(&d, &format!("failed (worker exit code {code}): {}", d.failure.clone().unwrap_or_default())).await
            }
            (None, None) => {
                // The worker process died (killed, out of memory): restore it from the latest
                // checkpoint, up to the job's fixed-delay attempts (default 3).
                let attempts: i64 = d.config.get("restart-strategy.fixed-delay.attempts").and_then(|v| v.parse().ok()).unwrap_or(3);
                d.state = FAILING.into();
                let _ = self.store.set_state(&d, "the worker process died").await;
                if d.restarts < attempts {
                    d.restarts += 1;
                    d.state = RESTARTING.into();
                    let _ = self.store.set_state(&d, &format!("worker died; restoring from the latest checkpoint, attempt {}", d.restarts)).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let from = latest_snapshot(&dir.join("checkpoints"));
                    self.spawn(&mut d, from.as_deref(), "restored").await
                } else {
                    d.failure = Some(format!("the worker died {} times", d.restarts + 1));
                    d.state = FAILED.into();
                    self.store.set_state(&d, &format!("failed: {}", d.failure.clone().unwrap_or_default())).await
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(deployment = %id, error = %e, "recording a job's end failed");
        }
    }

    /// Stop a running deployment: with a savepoint (SUSPENDED, resumable) or cancelled.
    pub async fn stop(&self, id: &str, savepoint: bool) -> Result<Deployment> {
        let d = self.get(id).await?;
        let lock = self.lock(&d.id);
        let g = lock.lock().await;
        let d = self.get(&d.id).await?;
        let Some(pid) = d.pid.filter(|_| matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING)) else {
            return Err(ServerError::Conflict(format!("deployment '{}' is not running ({})", d.name, d.state)));
        };
        self.stopping.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id.clone(), if savepoint { Stop::Savepoint } else { Stop::Cancel });
        // SIGINT: the worker takes a savepoint and exits; SIGKILL: cancelled at once.
        signal(pid, if savepoint { nix::sys::signal::Signal::SIGINT } else { nix::sys::signal::Signal::SIGKILL });
        drop(g);
        // Wait for the watcher to record the end.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let d = self.get(&d.id).await?;
            if !matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING) {
                return Ok(d);
            }
            if std::time::Instant::now() > deadline {
                return Err(ServerError::External(format!("deployment '{}' did not stop within 120 s", d.name)));
            }
        }
    }

    /// Change a deployment that is not running: its SQL, parallelism or configuration (checked
    /// against the catalog). Resuming then restores its savepoint into the new job — an
    /// upgrade or a rescale.
    pub async fn update(&self, id: &str, sql: Option<String>, parallelism: Option<i64>, config: Option<BTreeMap<String, String>>) -> Result<Deployment> {
        let d = self.get(id).await?;
        let lock = self.lock(&d.id);
        let _g = lock.lock().await;
        let mut d = self.get(&d.id).await?;
        if matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING) {
            return Err(ServerError::Conflict(format!("deployment '{}' is {}: stop it (with a savepoint) before changing it", d.name, d.state)));
        }
        if let Some(p) = parallelism {
            if !(1..=1024).contains(&p) {
                return Err(ServerError::BadRequest(format!("parallelism must be between 1 and 1024, got {p}")));
            }
            d.parallelism = p;
        }
        if let Some(s) = sql {
            d.sql = s;
        }
        if let Some(c) = config {
            d.config = c;
        }
        self.catalog.plan_job(&d.sql, &d.config).await?;
        self.store.update_definition(&d).await?;
        self.store.set_state(&d, &format!("updated (parallelism {})", d.parallelism)).await?;
        self.get(&d.id).await
    }

    /// Every 500 ms: end workers that use more memory than their job's
    /// `taskmanager.memory.process.size` (resident memory of the worker's process tree), as a
    /// container's memory limit would — that job fails, the others keep running.
    pub async fn watch_memory(self) {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(all) = self.store.deployments().await else { continue };
            for d in all {
                let (Some(pid), true) = (d.pid, d.state == RUNNING) else { continue };
                let Some(limit) = d.config.get("taskmanager.memory.process.size").and_then(|v| parse_memory(v)) else { continue };
                let rss = tree_rss(pid);
                if rss > limit {
                    let why = format!("the job used {} MiB, over its memory limit of {} MiB (taskmanager.memory.process.size)", rss >> 20, limit >> 20);
                    tracing::warn!(deployment = %d.name, "{why}");
                    self.stopping.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id.clone(), Stop::Memory(why));
                    signal(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
    }

    /// After a server restart: adopt workers that still run, restore the others.
    pub async fn recover(&self) -> Result<()> {
        for d in self.store.deployments().await? {
            // What the workers reported before this server started is in the history already.
            let n = self.worker_events(&d.id).len();
            self.events_seen.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id.clone(), n);
            if !matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING) {
                continue;
            }
            let dir = self.job_dir(&d.id);
            match d.pid {
                Some(pid) if runs_job(pid, &dir) => {
                    tracing::info!(deployment = %d.name, pid, "adopting a running worker");
                    let jobs = self.clone();
                    let id = d.id.clone();
                    tokio::spawn(async move {
                        // Not our child: poll until it is gone; its exit code is unknown, so
                        // the log says whether it finished.
                        while runs_job(pid, &jobs.job_dir(&id)) {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        let finished = log_tail(&jobs.job_dir(&id).join("job.log"), 5).is_some_and(|t| t.contains("Job finished"));
                        jobs.on_exit(&id, if finished { Some(0) } else { None }).await;
                    });
                }
                _ => {
                    let mut d = d.clone();
                    let lock = self.lock(&d.id);
                    let _g = lock.lock().await;
                    let from = latest_snapshot(&dir.join("checkpoints"));
                    tracing::info!(deployment = %d.name, from = ?from, "restoring a job whose worker is gone");
                    self.spawn(&mut d, from.as_deref(), "restored after a server restart").await?;
                }
            }
        }
        Ok(())
    }

    /// The latest operator metrics of a deployment's worker processes (their `--metrics-file`
    /// snapshots), one JSON document per process.
    pub fn metrics(&self, id: &str) -> Vec<serde_json::Value> {
        let dir = self.job_dir(id);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("metrics.json") && !name.ends_with(".tmp")
                && let Ok(v) = std::fs::read_to_string(e.path()).map_err(|_| ()).and_then(|t| serde_json::from_str(&t).map_err(|_| ()))
            {
                out.push(v);
            }
        }
        out
    }

    /// The last `lines` lines of a deployment's log.
    pub async fn logs(&self, id: &str, lines: usize) -> Result<String> {
        let d = self.get(id).await?;
        Ok(log_tail(&self.job_dir(&d.id).join("job.log"), lines).unwrap_or_default())
    }
}

/// The lines of a worker's log that say why it failed (the last three that look like errors).
fn failure_line(tail: &str) -> String {
    let errors: Vec<&str> = tail
        .lines()
        .map(str::trim)
        .filter(|l| ["error", "failed", "panicked", "cannot"].iter().any(|k| l.contains(k)))
        .collect();
    if errors.is_empty() {
        return tail.trim().to_string();
    }
    errors[errors.len().saturating_sub(3)..].join(" | ")
}

fn log_tail(path: &Path, lines: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let all: Vec<&str> = text.lines().collect();
    Some(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// A checkpoint or savepoint of a deployment.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CheckpointInfo {
    pub id: u64,
    /// `checkpoint` or `savepoint`.
    pub kind: String,
    /// When it was taken (epoch ms).
    pub at: i64,
    /// How long it took (absent for checkpoints of older Rask versions).
    pub duration_ms: Option<u64>,
    /// Its whole size, shared (incremental) files included.
    pub size_bytes: u64,
    pub path: String,
}

/// A failure inside a deployment's job (the job restarts or fails on it).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobException {
    pub at: i64,
    pub message: String,
    /// The job restarted after it (per its restart strategy).
    pub restarted: bool,
}

/// One line of a worker's events file (FILE.events, written by the supervising `rask run`).
#[derive(Debug, Clone, serde::Deserialize)]
struct WorkerEvent {
    at: i64,
    kind: String,
    message: String,
    restart_in_ms: Option<u64>,
}

/// The operator graph of a deployment's job.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobGraph {
    pub nodes: Vec<GraphNode>,
    /// The plan as EXPLAIN prints it.
    pub explain: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct GraphNode {
    pub id: u64,
    pub name: String,
    pub parallelism: i64,
    pub inputs: Vec<GraphEdge>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct GraphEdge {
    pub node: u64,
    /// `forward`, `hash[col, …]` or `single`.
    pub exchange: String,
}

/// The checkpoints and savepoints (`chk-N` / `savepoint-N` with a `_metadata`) under `dir`.
fn snapshots_in(dir: &Path, kind: &str) -> Vec<CheckpointInfo> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(id) = name.strip_prefix("chk-").or_else(|| name.strip_prefix("savepoint-")).and_then(|n| n.parse::<u64>().ok()) else { continue };
        let Ok(bytes) = std::fs::read(e.path().join("_metadata")) else { continue };
        let Ok(m) = rask_state::Manifest::decode(&bytes, "checkpoint") else { continue };
        // A savepoint is self-contained: its size is what it holds.
        let size = if kind == "savepoint" { m.bytes.max(m.full_bytes) } else { m.full_bytes.max(m.bytes) };
        out.push(CheckpointInfo { id, kind: kind.into(), at: m.created_ms, duration_ms: m.duration_ms, size_bytes: size, path: e.path().display().to_string() });
    }
    out
}

impl Jobs {
    /// Take a savepoint of a running deployment, which keeps running; it becomes the one
    /// `resume` starts from.
    pub async fn savepoint(&self, id: &str) -> Result<Deployment> {
        let d = self.get(id).await?;
        let dir = self.job_dir(&d.id).join("savepoints");
        let before = latest_snapshot(&dir);
        {
            let lock = self.lock(&d.id);
            let _g = lock.lock().await;
            let d = self.get(&d.id).await?;
            let Some(pid) = d.pid.filter(|_| d.state == RUNNING) else {
                return Err(ServerError::Conflict(format!("deployment '{}' is not running ({})", d.name, d.state)));
            };
            // The worker takes a savepoint on SIGUSR1 and goes on.
            signal(pid, nix::sys::signal::Signal::SIGUSR1);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let path = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = latest_snapshot(&dir);
            if now.is_some() && now != before {
                break now.unwrap_or_default();
            }
            let cur = self.get(&d.id).await?;
            if cur.state != RUNNING {
                return Err(ServerError::Conflict(format!("deployment '{}' stopped ({}) before its savepoint completed", cur.name, cur.state)));
            }
            if std::time::Instant::now() > deadline {
                return Err(ServerError::External(format!("the savepoint of '{}' did not complete within 300 s (see its logs)", d.name)));
            }
        };
        let lock = self.lock(&d.id);
        let _g = lock.lock().await;
        let mut d = self.get(&d.id).await?;
        d.last_savepoint = Some(path.display().to_string());
        self.store.set_state(&d, &format!("savepoint {}", path.display())).await?;
        Ok(d)
    }

    /// A deployment's retained checkpoints and its savepoints, newest first.
    pub async fn checkpoints(&self, id: &str) -> Result<Vec<CheckpointInfo>> {
        let d = self.get(id).await?;
        let dir = self.job_dir(&d.id);
        let mut all = snapshots_in(&dir.join("checkpoints"), "checkpoint");
        all.extend(snapshots_in(&dir.join("savepoints"), "savepoint"));
        all.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// The failures inside a deployment's job (newest first): those its worker restarted
    /// from, and the one it failed with.
    pub async fn exceptions(&self, id: &str) -> Result<Vec<JobException>> {
        let d = self.get(id).await?;
        let mut out: Vec<JobException> = self
            .worker_events(&d.id)
            .into_iter()
            .filter(|e| e.kind == "failed")
            .map(|e| JobException { at: e.at, message: e.message, restarted: e.restart_in_ms.is_some() })
            .collect();
        if d.state == FAILED
            && let Some(f) = &d.failure
            && !out.iter().any(|e| !e.restarted && f.contains(e.message.as_str()))
        {
            out.push(JobException { at: d.updated_at, message: f.clone(), restarted: false });
        }
        out.sort_by(|a, b| b.at.cmp(&a.at));
        Ok(out)
    }

    fn worker_events(&self, id: &str) -> Vec<WorkerEvent> {
        let text = std::fs::read_to_string(self.job_dir(id).join("metrics.json.events")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Follow the workers' events of running deployments: a failure the worker restarts from
    /// shows as RESTARTING, the restart as RUNNING again, each in the history.
    pub async fn follow_worker_events(&self) {
        let Ok(all) = self.store.deployments().await else { return };
        for d in all.into_iter().filter(|d| matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING)) {
            if self.worker_events(&d.id).len() <= self.events_seen(&d.id) {
                continue;
            }
            let lock = self.lock(&d.id);
            let _g = lock.lock().await;
            let Ok(mut d) = self.get(&d.id).await else { continue };
            self.apply_worker_events(&mut d).await;
        }
    }

    fn events_seen(&self, id: &str) -> usize {
        self.events_seen.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied().unwrap_or(0)
    }

    /// Record the worker events of `d` not handled yet (the caller holds its lock).
    async fn apply_worker_events(&self, d: &mut Deployment) {
        let events = self.worker_events(&d.id);
        let from = self.events_seen(&d.id);
        self.events_seen.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id.clone(), events.len());
        for e in events.iter().skip(from) {
            // A failure is FAILING first (Flink's order), then RESTARTING if the worker's
            // restart strategy restarts it; if not, the worker exits and the job is FAILED.
            let steps: Vec<(&str, String)> = match (e.kind.as_str(), e.restart_in_ms) {
                ("failed", Some(ms)) => vec![
                    (FAILING, format!("job failed: {}", e.message)),
                    (RESTARTING, format!("restarting in {:.1} s", ms as f64 / 1000.0)),
                ],
                ("failed", None) => vec![(FAILING, format!("job failed, not restarting: {}", e.message))],
                ("restarted", _) => vec![(RUNNING, e.message.clone())],
                _ => continue,
            };
            for (state, msg) in steps {
                if !matches!(d.state.as_str(), RUNNING | FAILING | RESTARTING) {
                    return;
                }
                d.state = state.into();
                if let Err(err) = self.store.set_state(d, &msg).await {
                    tracing::error!(deployment = %d.name, error = %err, "recording a restart failed");
                }
            }
        }
    }

    /// The operator graph of a deployment's job (planned from its SQL against the catalog).
    pub async fn graph(&self, id: &str) -> Result<JobGraph> {
        let d = self.get(id).await?;
        let plan = self.catalog.plan_job(&d.sql, &d.config).await?;
        let nodes = plan
            .nodes
            .iter()
            .map(|n| GraphNode {
                id: n.id as u64,
                name: n.name.clone(),
                parallelism: d.parallelism,
                inputs: n
                    .inputs
                    .iter()
                    .map(|i| GraphEdge {
                        node: i.node as u64,
                        exchange: match &i.exchange {
                            rask_sql::plan::Exchange::Forward => "forward".into(),
                            rask_sql::plan::Exchange::Single => "single".into(),
                            rask_sql::plan::Exchange::Hash(keys) => {
                                let schema = &plan.nodes[i.node].schema;
                                let names: Vec<String> = keys.iter().map(|k| schema.fields().get(*k).map_or_else(|| format!("${k}"), |f| f.name().clone())).collect();
                                format!("hash[{}]", names.join(", "))
                            }
                        },
                    })
                    .collect(),
            })
            .collect();
        Ok(JobGraph { nodes, explain: plan.explain(d.parallelism.max(1) as usize) })
    }
}
