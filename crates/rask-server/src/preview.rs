//! Session previews: run a `SELECT` against the catalog and hand its first rows (or changes)
//! back while it runs — the quick debug loop of a SQL editor. Each preview is a worker
//! process of its own (`rask run` of a script printing rows as JSON lines, parallelism 1, no
//! checkpoints), so a runaway query cannot hurt the server; it is ended once it has produced
//! `max_rows` rows, after `max_seconds`, or when cancelled. Finished previews are forgotten
//! after ten minutes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

use crate::catalog::Catalog;
use crate::error::{Result, ServerError};

pub const RUNNING: &str = "RUNNING";
pub const FINISHED: &str = "FINISHED";
pub const FAILED: &str = "FAILED";
pub const CANCELLED: &str = "CANCELLED";

/// At most this many previews run at once.
const MAX_RUNNING: usize = 4;
/// Finished previews are kept this long for their readers.
const KEEP: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    /// One SELECT statement.
    pub sql: String,
    /// Stop after this many rows (changes, for an updating query); default 100, at most 10,000.
    pub max_rows: Option<usize>,
    /// Stop after this many seconds; default 60, at most 600.
    pub max_seconds: Option<u64>,
}

/// One result row: its change kind and values as printed (NULL as null).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewRow {
    /// `+I`, `-U`, `+U` or `-D`.
    pub kind: String,
    pub values: Vec<Option<String>>,
}

/// A preview and (from `after` on) its rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub id: String,
    /// RUNNING, FINISHED (input ended or `max_rows` reached), FAILED or CANCELLED.
    pub state: String,
    pub columns: Vec<String>,
    pub rows: Vec<PreviewRow>,
    /// Rows so far.
    pub total: usize,
    /// Why it failed, or why it stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

struct Running {
    columns: Vec<String>,
    rows: Vec<PreviewRow>,
    state: &'static str,
    error: Option<String>,
    message: Option<String>,
    pid: Option<u32>,
    ended: Option<Instant>,
}

#[derive(Clone)]
pub struct Previews {
    catalog: Catalog,
    dir: PathBuf,
    worker_bin: PathBuf,
    all: Arc<Mutex<HashMap<String, Arc<Mutex<Running>>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Previews {
    pub fn new(catalog: Catalog, data_dir: &std::path::Path, worker_bin: PathBuf) -> Previews {
        Previews { catalog, dir: data_dir.join("previews"), worker_bin, all: Default::default() }
    }

    /// Check the SELECT against the catalog and start it.
    pub async fn start(&self, req: PreviewRequest) -> Result<Preview> {
        let max_rows = req.max_rows.unwrap_or(100);
        if !(1..=10_000).contains(&max_rows) {
            return Err(ServerError::BadRequest(format!("max_rows must be between 1 and 10000, got {max_rows}")));
        }
        let max_seconds = req.max_seconds.unwrap_or(60);
        if !(1..=600).contains(&max_seconds) {
            return Err(ServerError::BadRequest(format!("max_seconds must be between 1 and 600, got {max_seconds}")));
        }
        let (columns, script) = self.catalog.preview_script(&req.sql).await?;
        self.forget_old();
        let running = lock(&self.all).values().filter(|p| lock(p).state == RUNNING).count();
        if running >= MAX_RUNNING {
            return Err(ServerError::Conflict(format!("{running} previews are running; cancel one (DELETE /api/v1/previews/{{id}}) first")));
        }
        let id = uuid::Uuid::new_v4().to_string();
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.dir.join(format!("{id}.sql"));
        tokio::fs::write(&path, script).await?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        let log = std::fs::File::create(self.dir.join(format!("{id}.log")))?;
        let mut child = tokio::process::Command::new(&self.worker_bin)
            .arg("run")
            .arg(&path)
            .args(["-p", "1", "--progress", "none"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ServerError::External(format!("cannot start a preview worker ({}): {e}", self.worker_bin.display())))?;
        let state = Arc::new(Mutex::new(Running { columns, rows: Vec::new(), state: RUNNING, error: None, message: None, pid: child.id(), ended: None }));
        lock(&self.all).insert(id.clone(), state.clone());
        let stdout = child.stdout.take();
        let (dir, pid) = (self.dir.clone(), id.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(max_seconds);
            let mut lines = stdout.map(|s| tokio::io::BufReader::new(s).lines());
            let mut stopped: Option<String> = None;
            if let Some(lines) = lines.as_mut() {
                loop {
                    let line = tokio::select! {
                        l = lines.next_line() => l,
                        _ = tokio::time::sleep_until(deadline) => {
                            stopped = Some(format!("stopped after {max_seconds} s"));
                            break;
                        }
                    };
                    let Ok(Some(line)) = line else { break };
                    let Ok(row) = serde_json::from_str::<PreviewRow>(&line) else { continue };
                    let mut s = lock(&state);
                    if s.state != RUNNING {
                        break; // cancelled
                    }
                    s.rows.push(row);
                    if s.rows.len() >= max_rows {
                        stopped = Some(format!("stopped after {max_rows} rows"));
                        break;
                    }
                }
            }
            let ended_early = stopped.is_some() || lock(&state).state != RUNNING;
            if ended_early {
                let _ = child.start_kill();
            }
            let status = child.wait().await;
            let mut s = lock(&state);
            s.ended = Some(Instant::now());
            s.pid = None;
            if s.state != RUNNING {
                return; // cancelled
            }
            match (stopped, status) {
                (Some(why), _) => {
                    s.state = FINISHED;
                    s.message = Some(why);
                }
                (None, Ok(st)) if st.success() => s.state = FINISHED,
                (None, st) => {
                    s.state = FAILED;
                    let log = std::fs::read_to_string(dir.join(format!("{pid}.log"))).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
                    let why = tail.join("\n").trim().to_string();
                    s.error = Some(if why.is_empty() { format!("the preview worker ended with {st:?}") } else { why });
                }
            }
        });
        self.get(&id, 0)
    }

    /// A preview with its rows from index `after` on.
    pub fn get(&self, id: &str, after: usize) -> Result<Preview> {
        let p = lock(&self.all).get(id).cloned().ok_or_else(|| ServerError::NotFound(format!("no preview '{id}'")))?;
        let s = lock(&p);
        Ok(Preview {
            id: id.to_string(),
            state: s.state.to_string(),
            columns: s.columns.clone(),
            rows: s.rows.iter().skip(after).cloned().collect(),
            total: s.rows.len(),
            error: s.error.clone(),
            message: s.message.clone(),
        })
    }

    /// Stop a running preview (its rows stay readable) or forget a finished one.
    pub fn cancel(&self, id: &str) -> Result<()> {
        let p = lock(&self.all).get(id).cloned().ok_or_else(|| ServerError::NotFound(format!("no preview '{id}'")))?;
        let mut s = lock(&p);
        if s.state == RUNNING {
            s.state = CANCELLED;
            s.ended = Some(Instant::now());
            if let Some(pid) = s.pid.take() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
        } else {
            drop(s);
            lock(&self.all).remove(id);
            self.remove_files(id);
        }
        Ok(())
    }

    fn forget_old(&self) {
        let mut all = lock(&self.all);
        let old: Vec<String> = all.iter().filter(|(_, p)| lock(p).ended.is_some_and(|t| t.elapsed() > KEEP)).map(|(k, _)| k.clone()).collect();
        for id in old {
            all.remove(&id);
            self.remove_files(&id);
        }
    }

    /// A forgotten preview's script and log.
    fn remove_files(&self, id: &str) {
        let _ = std::fs::remove_file(self.dir.join(format!("{id}.sql")));
        let _ = std::fs::remove_file(self.dir.join(format!("{id}.log")));
    }
}
