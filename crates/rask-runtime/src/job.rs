//! Running a job: builds the timely configuration (one worker, N threads, or a cluster of
//! processes over TCP), builds the dataflow on every worker, steps the workers until the
//! bounded input is exhausted, the job is cancelled, or an operator fails.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_sql::StreamPlan;
use timely::dataflow::ProbeHandle;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use timely::communication::allocator::ProcessBuilder;
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::{CommunicationConfig, WorkerConfig};

/// How long the processes of a cluster wait for each other at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Connect this process to every other one: connect to lower-numbered processes, accept
/// higher-numbered ones; each connection starts with the connecting process's index (u64,
/// big-endian), the handshake timely's own networking uses. Unlike timely's, this reports
/// failures as errors (with a deadline) instead of printing to stdout.
fn connect_cluster(addresses: &[String], me: usize, timeout: Duration) -> Result<Vec<Option<TcpStream>>> {
    let deadline = Instant::now() + timeout;
    let listener = TcpListener::bind(&addresses[me])
        .map_err(|e| RuntimeError::External(format!("process {me}: cannot listen on {}: {e}", addresses[me])))?;
    listener.set_nonblocking(true).map_err(|e| RuntimeError::External(e.to_string()))?;
    let n = addresses.len();
    let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    for (i, addr) in addresses.iter().enumerate().take(me) {
        loop {
            match TcpStream::connect(addr) {
                Ok(mut s) => {
                    let _ = s.set_nodelay(true);
                    s.write_all(&(me as u64).to_be_bytes())
                        .map_err(|e| RuntimeError::External(format!("process {me}: handshake with process {i} at {addr}: {e}")))?;
                    sockets[i] = Some(s);
                    break;
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(RuntimeError::External(format!(
                        "process {me}: cannot connect to process {i} at {addr} within {timeout:?}: {e}"
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let mut missing = n - me - 1;
    while missing > 0 {
        match listener.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false).map_err(|e| RuntimeError::External(e.to_string()))?;
                let _ = s.set_nodelay(true);
                let mut b = [0u8; 8];
                s.read_exact(&mut b).map_err(|e| RuntimeError::External(format!("process {me}: handshake: {e}")))?;
                let who = u64::from_be_bytes(b) as usize;
                if who <= me || who >= n || sockets[who].is_some() {
                    return Err(RuntimeError::External(format!("process {me}: unexpected connection from process {who}")));
                }
                sockets[who] = Some(s);
                missing -= 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(RuntimeError::External(format!(
                        "process {me}: {missing} process(es) did not connect within {timeout:?}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(RuntimeError::External(format!("process {me}: accept: {e}"))),
        }
    }
    Ok(sockets)
}

use rask_state::{CheckpointStore, Coordinator, CoordinatorConfig, Manifest};

use crate::checkpoint::{node_infos, state_err, Restore};
use crate::connector::{ConnectorRegistry, PrintTarget};
use crate::engine::{build_dataflow, EngineConfig, Shared};
use crate::epoch::Epoch;
use crate::error::{Result, RuntimeError};
use crate::metrics::JobMetrics;

/// Where the workers of a job live.
#[derive(Debug, Clone)]
pub enum Cluster {
    /// `threads` workers in this process.
    Local { threads: usize },
    /// One process of several; `addresses[i]` is process `i`'s `host:port`.
    Processes { threads: usize, process: usize, addresses: Vec<String> },
}

impl Cluster {
    pub fn threads(&self) -> usize {
        match self {
            Cluster::Local { threads } | Cluster::Processes { threads, .. } => *threads,
        }
    }
    /// Total parallelism: workers across all processes.
    pub fn parallelism(&self) -> usize {
        match self {
            Cluster::Local { threads } => *threads,
            Cluster::Processes { threads, addresses, .. } => threads * addresses.len(),
        }
    }
}

pub struct JobOptions {
    pub cluster: Cluster,
    pub batch_size: usize,
    pub print: Arc<dyn PrintTarget>,
    /// Set to stop an unbounded job (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
    /// Checkpoint storage, and what to restore (see [`Checkpointing::open`]).
    pub checkpointing: Option<Checkpointing>,
}

pub use rask_state::FINAL_CHECKPOINT;

/// Where checkpoints go and which one the job starts from.
pub struct Checkpointing {
    /// Where this run writes checkpoints (`None`: it only restores).
    pub store: Option<Arc<CheckpointStore>>,
    /// `execution.checkpointing.num-retained`.
    pub retain: usize,
    /// The checkpoint or savepoint to start from, with the storage its files are relative to.
    pub restore: Option<(Arc<CheckpointStore>, Manifest)>,
    /// Flink's `--allowNonRestoredState`.
    pub allow_non_restored: bool,
    /// Stop-with-savepoint: when the job is cancelled, it first takes a savepoint here.
    pub savepoint_dir: Option<Arc<CheckpointStore>>,
    /// Raised to take a savepoint (into `savepoint_dir`) while the job keeps running; the
    /// job lowers it when the savepoint is written.
    pub savepoint_trigger: Arc<AtomicBool>,
}

/// The checkpoint directory a plan configures (`execution.checkpointing.dir`, or Flink 1.x's
/// `state.checkpoints.dir`).
pub fn checkpoint_dir(plan: &StreamPlan) -> Option<String> {
    plan.config.get("execution.checkpointing.dir").or_else(|| plan.config.get("state.checkpoints.dir")).map(|s| s.to_string())
}

impl Checkpointing {
    /// Checkpointing for `plan`: its checkpoint directory (which needs an interval), `from` (a
    /// checkpoint or savepoint to start from: a `chk-N`/`savepoint-N` directory or its
    /// `_metadata`; otherwise the latest complete checkpoint of the directory is resumed) and
    /// `savepoint_dir` (stop-with-savepoint on cancel). `at_start`: no other process of this
    /// job runs yet, so incomplete checkpoints of earlier attempts can be deleted.
    pub fn open(
        plan: &StreamPlan,
        from: Option<&str>,
        savepoint_dir: Option<&str>,
        allow_non_restored: bool,
        at_start: bool,
    ) -> Result<Option<Checkpointing>> {
        let savepoint_dir = match savepoint_dir {
            Some(d) => Some(Arc::new(CheckpointStore::open(d).map_err(state_err)?)),
            None => None,
        };
        let from = match from {
            Some(f) => Some(read_manifest(f)?),
            None => None,
        };
        let Some(dir) = checkpoint_dir(plan) else {
            if from.is_none() && savepoint_dir.is_none() {
                return Ok(None);
            }
            // Without a checkpoint directory, checkpoints (and the one a stop-with-savepoint
            // takes) are kept in memory, as Flink's JobManager checkpoint storage.
            let store = match &savepoint_dir {
                Some(_) => Some(Arc::new(CheckpointStore::open("memory://").map_err(state_err)?)),
                None => None,
            };
            return Ok(Some(Checkpointing { store, retain: 1, restore: from, allow_non_restored, savepoint_dir, savepoint_trigger: Default::default() }));
        };
        if plan.config.duration("execution.checkpointing.interval").ok().flatten().is_none_or(|d| d.is_zero()) {
            return Err(RuntimeError::User(format!(
                "'execution.checkpointing.dir' is set ('{dir}') but 'execution.checkpointing.interval' is not: set the interval to take checkpoints"
            )));
        }
        let retain = plan
            .config
            .int("execution.checkpointing.num-retained")
            .ok()
            .flatten()
            .or_else(|| plan.config.int("state.checkpoints.num-retained").ok().flatten())
            .unwrap_or(1)
            .max(1) as usize;
        let store = Arc::new(CheckpointStore::open(&dir).map_err(state_err)?);
        if at_start {
            rask_state::manifest::collect_garbage(&store, retain, true, None).map_err(state_err)?;
        }
        let restore = match from {
            Some(r) => Some(r),
            None => rask_state::manifest::latest_complete(&store).map_err(state_err)?.map(|m| (store.clone(), m)),
        };
        Ok(Some(Checkpointing { store: Some(store), retain, restore, allow_non_restored, savepoint_dir, savepoint_trigger: Default::default() }))
    }
}

/// `path` = `…/chk-N` or `…/chk-N/_metadata`: the directory holding `chk-N`.
fn parent_of(path: &str) -> String {
    let p = path.trim_end_matches('/').trim_end_matches("/_metadata");
    match p.rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => parent.to_string(),
        Some(_) => "/".to_string(),
        None => ".".to_string(),
    }
}

/// Read the manifest of the checkpoint or savepoint at `path`, with the storage its files are
/// relative to.
fn read_manifest(path: &str) -> Result<(Arc<CheckpointStore>, Manifest)> {
    let p = path.trim_end_matches('/').trim_end_matches("/_metadata");
    let name = p.rsplit('/').next().unwrap_or(p).to_string();
    let store = CheckpointStore::open(&parent_of(path)).map_err(state_err)?;
    let bytes = store
        .get(&format!("{name}/_metadata"))
        .map_err(state_err)?
        .ok_or_else(|| RuntimeError::User(format!("'{path}' is not a complete checkpoint or savepoint (no _metadata in it)")))?;
    let m = Manifest::decode(&bytes, &format!("{p}/_metadata")).map_err(state_err)?;
    Ok((Arc::new(store), m))
}

/// Copy checkpoint `id` of `from` into `to` as the self-contained savepoint `savepoint-<id>`;
/// returns its path.
fn write_savepoint(from: &CheckpointStore, id: u64, to: &CheckpointStore) -> Result<String> {
    let bytes = from
        .get(&rask_state::manifest::manifest_path(id))
        .map_err(state_err)?
        .ok_or_else(|| RuntimeError::Internal(format!("checkpoint {id} has no manifest")))?;
    let mut m = Manifest::decode(&bytes, "savepoint checkpoint").map_err(state_err)?;
    let dir = format!("savepoint-{id}");
    let copy = |f: &str, target: &str| -> Result<()> {
        let data = from.get(f).map_err(state_err)?.ok_or_else(|| RuntimeError::External(format!("checkpoint file {f} vanished")))?;
        to.put(target, data).map_err(state_err)
    };
    for n in &mut m.nodes {
        for p in &mut n.parts {
            // Shared files keep their paths, under the savepoint's directory.
            for f in &p.shared {
                copy(f, &format!("{dir}/{f}"))?;
            }
            if let Some(f) = &p.file {
                let target = format!("{dir}/{}", f.rsplit('/').next().unwrap_or(f));
                copy(f, &target)?;
                p.file = Some(target);
            }
        }
    }
    m.savepoint = true;
    to.put(&format!("{dir}/_metadata"), m.encode()).map_err(state_err)?;
    Ok(format!("{}/{dir}", to.location().trim_end_matches('/')))
}

#[derive(Debug, Clone)]
pub struct JobSummary {
    pub elapsed: Duration,
    pub records_in: u64,
    pub records_out: u64,
    pub skipped: u64,
    /// Records dropped as late (behind the watermark for their window).
    pub late_dropped: u64,
    /// Keys lookup joins asked their tables for, and keys served from their caches.
    pub lookups: (u64, u64),
    /// Longest time a window operator took to emit the windows a watermark closed (µs).
    pub window_fire_max_us: u64,
    /// Median and 99th percentile end-to-end latency (ms) of the rows the sinks received.
    pub sink_latency_ms: Option<(f64, f64)>,
    pub cancelled: bool,
    /// Checkpoints completed by this run, and the latest one's figures.
    pub checkpoints: Option<rask_state::CheckpointStats>,
    /// The checkpoint the run started from.
    pub restored_from: Option<u64>,
    /// Where the stop-with-savepoint wrote its savepoint.
    pub savepoint: Option<String>,
    /// Longest synchronous part of a checkpoint in one operator (µs).
    pub checkpoint_sync_max_us: u64,
    /// Longest checkpoint alignment in one operator (µs).
    pub checkpoint_align_max_us: u64,
}

/// Savepoints of a running job: on the trigger, take one and go on; on the user's cancel,
/// take one and stop the engine (stop-with-savepoint). Returns the stop's savepoint path
/// (`None` if the job ended first).
struct SavepointMonitor {
    cancel: Arc<AtomicBool>,
    trigger: Arc<AtomicBool>,
    shared: Arc<Shared>,
    done: Arc<AtomicBool>,
    co: Arc<Coordinator>,
    from: Arc<CheckpointStore>,
    to: Arc<CheckpointStore>,
    interval: Option<Duration>,
    engine_cancel: Arc<AtomicBool>,
    /// Process 0 writes savepoints; the others take part in their checkpoint.
    writer: bool,
}

impl SavepointMonitor {
    fn run(self) -> Result<Option<String>> {
        use std::sync::atomic::Ordering::SeqCst;
        let stop = |r| {
            self.engine_cancel.store(true, SeqCst);
            r
        };
        loop {
            if self.cancel.load(SeqCst) {
                return stop(self.take().map(Option::flatten));
            }
            if self.trigger.load(SeqCst) {
                match self.take() {
                    Ok(Some(Some(path))) => eprintln!("[rask] savepoint written to {path}; the job goes on"),
                    Ok(Some(None)) => {}
                    Ok(None) => return Ok(None),
                    Err(e) => eprintln!("[rask] savepoint failed: {e}; the job goes on"),
                }
                self.trigger.store(false, SeqCst);
            }
            if self.done.load(SeqCst) {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Request a checkpoint, wait until it is complete and every exactly-once sink of this
    /// process committed it, copy it to the savepoint directory. `None`: the job ended or
    /// failed first; `Some(None)`: taken, written by another process.
    fn take(&self) -> Result<Option<Option<String>>> {
        use std::sync::atomic::Ordering::SeqCst;
        let (shared, co) = (&self.shared, &self.co);
        let acked_before = shared.commit_acks.load(SeqCst);
        let id = shared.request_checkpoint(self.interval);
        shared.savepoint_target.store(id, SeqCst);
        co.pin(id); // retention must not delete it before it is copied
        let deadline = Instant::now() + Duration::from_secs(600);
        while co.completed() < id {
            if let Some(e) = co.failure() {
                return Err(state_err(e));
            }
            if self.done.load(SeqCst) || shared.failed() {
                return Ok(None);
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::External(format!("savepoint {id} did not complete within 10 minutes")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let acks = Instant::now() + Duration::from_secs(30);
        while shared.commit_acks.load(SeqCst) < acked_before + shared.two_phase_sinks.load(SeqCst) && Instant::now() < acks && !shared.failed() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let path = if self.writer { Some(write_savepoint(&self.from, id, &self.to)?) } else { None };
        co.pin(0);
        Ok(Some(path))
    }
}

/// Environment variable through which `rask run` hands the job's start time (epoch ms) to the
/// processes of a multi-process job, so that they agree on it.
pub const JOB_START_ENV: &str = "RASK_JOB_START_MS";

/// The job's wall-clock start: [`JOB_START_ENV`] when set, else now.
pub fn job_start_ms() -> i64 {
    std::env::var(JOB_START_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or_else(rask_types::now_ms)
}

/// Run `plan` to completion (bounded), cancellation or failure. `metrics` is updated live.
pub fn run_job(plan: Arc<StreamPlan>, registry: ConnectorRegistry, opts: JobOptions, metrics: Arc<JobMetrics>) -> Result<JobSummary> {
    let cfg = EngineConfig {
        batch_size: opts.batch_size,
        max_parallelism: plan.config.int("pipeline.max-parallelism").ok().flatten().unwrap_or(32768).clamp(1, 32768) as u32,
        print: opts.print.clone(),
        watermark_interval: plan
            .config
            .duration("pipeline.auto-watermark-interval")
            .ok()
            .flatten()
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_millis(200)),
        idle_timeout: plan.config.duration("table.exec.source.idle-timeout").ok().flatten().filter(|d| !d.is_zero()),
        state_ttl: plan.config.duration("table.exec.state.ttl").ok().flatten().and_then(rask_state::StateTtl::new),
        checkpoint_interval: plan.config.duration("execution.checkpointing.interval").ok().flatten().filter(|d| !d.is_zero()),
        mini_batch: plan.config.get("table.exec.mini-batch.enabled").filter(|v| v.eq_ignore_ascii_case("true")).map(|_| {
            let latency = plan.config.duration("table.exec.mini-batch.allow-latency").ok().flatten().unwrap_or(Duration::from_secs(1));
            let size = plan.config.int("table.exec.mini-batch.size").ok().flatten().filter(|n| *n > 0).unwrap_or(5000) as usize;
            (latency, size)
        }),
        job_start_ms: job_start_ms(),
        checkpoints: None,
        restore: None,
    };
    let mut cfg = cfg;
    let (processes, process, threads) = match &opts.cluster {
        Cluster::Local { threads } => (1, 0, *threads),
        Cluster::Processes { threads, process, addresses } => (addresses.len(), *process, *threads),
    };
    let mut restored_from = None;
    if let Some(ck) = &opts.checkpointing {
        if let Some((store, m)) = &ck.restore {
            restored_from = Some(m.checkpoint);
            // The state restored: every part's whole size (incremental parts reference earlier files).
            let bytes: u64 = m.nodes.iter().flat_map(|n| n.parts.iter().map(|p| p.full_bytes.max(p.bytes))).sum();
            tracing::info!(target: "rask::recovery", checkpoint = m.checkpoint, bytes, "restoring");
            cfg.restore = Some(Arc::new(Restore::new(store.clone(), m.clone(), &plan, ck.allow_non_restored)?));
        }
        if let Some(store) = &ck.store {
            if processes > 1 && store.location().starts_with("memory://") {
                return Err(RuntimeError::User(
                    "a stop-with-savepoint across several processes needs 'execution.checkpointing.dir' (storage all processes share)".into(),
                ));
            }
            let co = Coordinator::start(CoordinatorConfig {
                store: store.clone(),
                process,
                processes,
                local_subtasks: process * threads..(process + 1) * threads,
                nodes: node_infos(&plan),
                parallelism: opts.cluster.parallelism(),
                max_parallelism: cfg.max_parallelism,
                retain: ck.retain,
                restored: restored_from.unwrap_or(0),
            })
            .map_err(state_err)?;
            let _ = metrics.checkpoints.set(co.clone());
            cfg.checkpoints = Some(co);
        }
    }
    let coordinator = cfg.checkpoints.clone();
    // Stop-with-savepoint: the engine stops on its own flag, raised once the savepoint is
    // taken after the user's cancel.
    let savepoint = opts.checkpointing.as_ref().and_then(|c| c.savepoint_dir.clone().zip(c.store.clone()));
    let engine_cancel = if savepoint.is_some() { Arc::new(AtomicBool::new(false)) } else { opts.cancel.clone() };
    let shared = Arc::new(Shared::new(metrics.clone(), engine_cancel.clone()));
    let job_done = Arc::new(AtomicBool::new(false));
    let trigger = opts.checkpointing.as_ref().map(|c| c.savepoint_trigger.clone()).unwrap_or_default();
    let monitor = match (savepoint, coordinator.clone()) {
        (Some((to, from)), Some(co)) => {
            let m = SavepointMonitor {
                cancel: opts.cancel.clone(),
                trigger,
                shared: shared.clone(),
                done: job_done.clone(),
                co,
                from,
                to,
                interval: cfg.checkpoint_interval,
                engine_cancel,
                writer: process == 0,
            };
            Some(std::thread::spawn(move || m.run()))
        }
        _ => None,
    };
    let communication = match &opts.cluster {
        Cluster::Local { threads: 1 } => CommunicationConfig::Thread,
        Cluster::Local { threads } => CommunicationConfig::Process(*threads),
        Cluster::Processes { threads, process, addresses } => {
            if *process >= addresses.len() {
                return Err(RuntimeError::User(format!(
                    "process index {process} is out of range for {} addresses",
                    addresses.len()
                )));
            }
            CommunicationConfig::Cluster { threads: *threads, process: *process, addresses: addresses.clone(), report: false, zerocopy: false }
        }
    };
    let first_local = match &opts.cluster {
        Cluster::Processes { threads, process, .. } => threads * process,
        Cluster::Local { .. } => 0,
    };
    let (builders, guard): (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>) = match communication {
        CommunicationConfig::Cluster { threads, process, addresses, .. } => {
            let sockets = connect_cluster(&addresses, process, CONNECT_TIMEOUT)?;
            let process_allocators = ProcessBuilder::new_typed_vector(threads, Hooks::default().refill, None);
            let (tcp, guard) = initialize_networking_from_sockets(process_allocators, sockets, process, threads, Hooks::default())
                .map_err(|e| RuntimeError::External(format!("cannot start the cluster network: {e}")))?;
            (tcp.into_iter().map(AllocatorBuilder::Tcp).collect(), Box::new(guard))
        }
        other => other.try_build().map_err(|e| RuntimeError::External(format!("cannot start the workers: {e}")))?,
    };
    let start = Instant::now();
    let sh = shared.clone();
    let guards = timely::execute::execute_from(builders, guard, WorkerConfig::default(), move |worker| {
        // An operator panic on this worker must stop the others too (they would otherwise
        // wait for its progress forever).
        let sh2 = sh.clone();
        let body = std::panic::AssertUnwindSafe(|| run_worker(worker, &plan, &registry, &cfg, &sh, first_local));
        if let Err(p) = std::panic::catch_unwind(body) {
            sh2.fail(RuntimeError::Internal(format!("worker panicked: {}", crate::engine::panic_message(&p))));
        }
    })
    .map_err(|e| RuntimeError::External(format!("cannot start the timely cluster: {e}")))?;

    // Joining drops timely's communication guard, which panics if a network thread died
    // (another process of the cluster went away): report that as an external failure.
    let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || guards.join()));
    match joined {
        Ok(results) => {
            for g in results {
                if let Err(e) = g {
                    shared.fail(RuntimeError::Internal(format!("a worker thread panicked: {e}")));
                }
            }
        }
        Err(_) => shared.fail(RuntimeError::External("lost the connection to another process of the job".into())),
    }
    job_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let savepoint_path = match monitor.map(|m| m.join()) {
        Some(Ok(Ok(p))) => p,
        Some(Ok(Err(e))) => {
            shared.fail(e.context("stop-with-savepoint"));
            None
        }
        Some(Err(_)) => {
            shared.fail(RuntimeError::Internal("the savepoint thread panicked".into()));
            None
        }
        None => None,
    };
    if let Some(co) = &coordinator {
        // A finished job's final checkpoint completes once every process has handed in its
        // part (exactly-once sinks waited for it already); a failed or cancelled one stops.
        let finished = !shared.failed() && !opts.cancel.load(std::sync::atomic::Ordering::Relaxed);
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while finished && co.completed() < rask_state::FINAL_CHECKPOINT && co.failure().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        co.stop();
        if let Some(e) = co.failure() {
            shared.fail(state_err(e).context("checkpoint storage"));
        }
    }
    if let Some(e) = shared.take_failure() {
        return Err(e);
    }
    Ok(JobSummary {
        checkpoints: coordinator.as_ref().map(|c| c.stats()),
        restored_from,
        savepoint: savepoint_path,
        checkpoint_sync_max_us: metrics.checkpoint_sync_max_us(),
        checkpoint_align_max_us: metrics.checkpoint_align_max_us(),
        elapsed: start.elapsed(),
        records_in: metrics.source_records(),
        records_out: metrics.sink_records(),
        skipped: metrics.skipped_records(),
        late_dropped: metrics.late_records_dropped(),
        lookups: metrics.lookups(),
        window_fire_max_us: metrics.window_fire_max_us(),
        sink_latency_ms: metrics.sink_latency_percentiles(),
        cancelled: opts.cancel.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// One worker: build the dataflow, then step until the sinks' probe says every epoch is done,
/// or the job is cancelled or failed.
fn run_worker(
    worker: &mut timely::worker::Worker,
    plan: &Arc<StreamPlan>,
    registry: &ConnectorRegistry,
    cfg: &EngineConfig,
    sh: &Arc<Shared>,
    first_local: usize,
) {
    let probe = ProbeHandle::<Epoch>::new();
    let local_index = worker.index() - first_local;
    let built = worker.dataflow::<Epoch, _, _>(|scope| build_dataflow(scope, plan, registry, cfg, sh, &probe, local_index));
    if let Err(e) = built {
        sh.fail(e);
        return;
    }
    while !probe.done() {
        if sh.stopped() {
            break;
        }
        if let Some(e) = cfg.checkpoints.as_ref().and_then(|c| c.failure()) {
            sh.fail(state_err(e).context("checkpoint storage"));
            break;
        }
        worker.step_or_park(Some(Duration::from_millis(20)));
    }
}
