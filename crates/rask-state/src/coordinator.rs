//! The checkpoint coordinator of one process: a thread that receives every local operator
//! instance's snapshot for a checkpoint, encodes and writes it (so workers only clone
//! reference-counted Arrow buffers), and completes checkpoints:
//!
//! 1. when every local instance has a part for checkpoint `c` (or has finished), the process
//!    writes its marker `chk-c/_process-p`; parts of older checkpoints still waiting for some
//!    instance are abandoned (subsumed);
//! 2. process 0, once every process's marker for `c` exists, merges them into the manifest
//!    `chk-c/_metadata` — from then on `c` is complete — and removes what retention drops;
//! 3. every process learns completion from the manifest and publishes the id through
//!    [`Coordinator::completed`]; operators commit what they pre-committed for checkpoints up
//!    to it (two-phase commit).
//!
//! When every local instance has finished, the process writes its part of the final checkpoint
//! ([`FINAL_CHECKPOINT`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Result, StateError};
use crate::manifest::{
    collect_garbage, manifest_path, marker_path, part_path, Manifest, NodeState, PartRef, ProcessMarker, FINAL_CHECKPOINT, MANIFEST_FORMAT,
    MANIFEST_VERSION,
};
use crate::snapshot::OperatorSnapshot;
use crate::store::CheckpointStore;

/// How often the coordinator looks for other processes' markers or the manifest.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: usize,
    pub name: String,
    pub signature: String,
}

pub struct CoordinatorConfig {
    pub store: Arc<CheckpointStore>,
    pub process: usize,
    pub processes: usize,
    /// The subtasks that run in this process.
    pub local_subtasks: std::ops::Range<usize>,
    pub nodes: Vec<NodeInfo>,
    pub parallelism: usize,
    pub max_parallelism: u32,
    /// `execution.checkpointing.num-retained`.
    pub retain: usize,
    /// The checkpoint the job was restored from (0 = none): ids at or below it are done.
    pub restored: u64,
}

/// Figures of the latest completed checkpoint, for metrics.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    pub completed: u64,
    pub last_id: u64,
    /// From the first part received to the manifest written (process 0) or seen (others).
    pub last_duration: Duration,
    /// Bytes written for the checkpoint (process 0: all processes; others: their own).
    pub last_bytes: u64,
    /// Bytes this process wrote for the checkpoint.
    pub last_local_bytes: u64,
    /// The whole size of the latest checkpoint (process 0), shared files included.
    pub last_full_bytes: u64,
    /// Per plan node, the whole size of its state in the latest checkpoint (process 0).
    pub last_node_bytes: Vec<(usize, u64)>,
    /// When the latest checkpoint completed (epoch ms).
    pub last_completed_ms: i64,
}

/// What a completed manifest adds up to: bytes written, whole size, whole size per node.
type ManifestSizes = (u64, u64, Vec<(usize, u64)>);

enum Msg {
    Part { checkpoint: u64, node: usize, subtask: usize, snapshot: Option<OperatorSnapshot>, finished: bool },
}

pub struct Coordinator {
    pinned: Arc<AtomicU64>,
    tx: Mutex<Option<Sender<Msg>>>,
    completed: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<StateError>>>,
    stats: Arc<Mutex<CheckpointStats>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Coordinator {
    pub fn start(cfg: CoordinatorConfig) -> Result<Arc<Coordinator>> {
        let (tx, rx) = channel();
        let completed = Arc::new(AtomicU64::new(cfg.restored));
        let failure = Arc::new(Mutex::new(None));
        let stats = Arc::new(Mutex::new(CheckpointStats::default()));
        let pinned = Arc::new(AtomicU64::new(0));
        let mut state = State::new(cfg, completed.clone(), stats.clone(), pinned.clone());
        let f = failure.clone();
        let thread = std::thread::Builder::new()
            .name("rask-checkpoint".into())
            .spawn(move || {
                if let Err(e) = state.run(rx)
                    && let Ok(mut slot) = f.lock()
                {
                    *slot = Some(e);
                }
            })
            .map_err(|e| StateError::External(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Arc::new(Coordinator {
            pinned,
            tx: Mutex::new(Some(tx)),
            completed,
            failure,
            stats,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// An operator instance's state for `checkpoint` (`None`: nothing to store). `finished`:
    /// the instance has ended; its part stands for every later checkpoint too.
    pub fn submit(&self, checkpoint: u64, node: usize, subtask: usize, snapshot: Option<OperatorSnapshot>, finished: bool) {
        if let Ok(tx) = self.tx.lock()
            && let Some(tx) = tx.as_ref()
        {
            let _ = tx.send(Msg::Part { checkpoint, node, subtask, snapshot, finished });
        }
    }

    /// The latest completed checkpoint id (the restored one, or 0, before any completes).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Acquire)
    }

    /// Keep checkpoint `id` whatever the retention (a savepoint is copied from it).
    pub fn pin(&self, id: u64) {
        self.pinned.store(id, Ordering::Release);
    }

    /// A storage failure that stopped the coordinator.
    pub fn failure(&self) -> Option<StateError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    pub fn stats(&self) -> CheckpointStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stop the thread after it has handled what was submitted so far.
    pub fn stop(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut t) = self.thread.lock()
            && let Some(t) = t.take()
        {
            let _ = t.join();
        }
    }
}

type Instance = (usize, usize);

struct State {
    cfg: CoordinatorConfig,
    instances: usize,
    pending: BTreeMap<u64, HashMap<Instance, PartRef>>,
    finished: HashMap<Instance, PartRef>,
    /// Checkpoints whose local marker is written, waiting to complete; with start time and
    /// local bytes.
    awaiting: BTreeMap<u64, (Instant, u64)>,
    started: HashMap<u64, Instant>,
    local_bytes: HashMap<u64, u64>,
    final_marked: bool,
    completed: Arc<AtomicU64>,
    stats: Arc<Mutex<CheckpointStats>>,
    token: String,
    pinned: Arc<AtomicU64>,
    /// Stable batches already written: (node, subtask, entry, id) → (shared file, bytes).
    durable: HashMap<(usize, usize, String, u64), (String, u64)>,
}

impl State {
    fn new(cfg: CoordinatorConfig, completed: Arc<AtomicU64>, stats: Arc<Mutex<CheckpointStats>>, pinned: Arc<AtomicU64>) -> Self {
        let instances = cfg.nodes.len() * cfg.local_subtasks.len();
        // Names this process's shared files apart from other processes' and attempts'.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let token = format!("{:x}-{}-{nanos:x}", std::process::id(), cfg.process);
        State {
            cfg,
            instances,
            pending: BTreeMap::new(),
            finished: HashMap::new(),
            awaiting: BTreeMap::new(),
            started: HashMap::new(),
            local_bytes: HashMap::new(),
            final_marked: false,
            completed,
            stats,
            token,
            pinned,
            durable: HashMap::new(),
        }
    }

    fn run(&mut self, rx: Receiver<Msg>) -> Result<()> {
        loop {
            let timeout = if self.awaiting.is_empty() { Duration::from_millis(200) } else { POLL };
            match rx.recv_timeout(timeout) {
                Ok(Msg::Part { checkpoint, node, subtask, snapshot, finished }) => {
                    self.on_part(checkpoint, node, subtask, snapshot, finished)?;
                    // Handle everything queued before looking at the storage again.
                    while let Ok(Msg::Part { checkpoint, node, subtask, snapshot, finished }) = rx.try_recv() {
                        self.on_part(checkpoint, node, subtask, snapshot, finished)?;
                    }
                    self.local_complete()?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // The job stopped; a final checkpoint may still be waiting for other
                    // processes, which the job waits for through `completed` before stopping us.
                    return Ok(());
                }
            }
            self.poll()?;
        }
    }

    fn on_part(&mut self, checkpoint: u64, node: usize, subtask: usize, snapshot: Option<OperatorSnapshot>, finished: bool) -> Result<()> {
        if checkpoint <= self.completed.load(Ordering::Acquire) && !finished {
            return Ok(()); // already subsumed
        }
        self.started.entry(checkpoint).or_insert_with(Instant::now);
        let mut shared: Vec<String> = Vec::new();
        let mut new_bytes = 0u64;
        let mut old_bytes = 0u64;
        let (file, bytes) = match snapshot.filter(|s| !s.is_empty()) {
            None => (None, 0),
            Some(s) => {
                // Batches with stable ids are written once, to their own shared file, and
                // referenced from then on (incremental checkpoints).
                let (store, token) = (self.cfg.store.clone(), self.token.clone());
                let durable = &mut self.durable;
                let mut used: std::collections::HashSet<(String, u64)> = std::collections::HashSet::new();
                let b = s.encode_with(&mut |entry, id, build| {
                    let key = (node, subtask, entry.to_string(), id);
                    let path = match durable.get(&key) {
                        Some((path, n)) => {
                            old_bytes += n;
                            path.clone()
                        }
                        None => {
                            let clean: String = entry.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                            let path = format!("shared/{token}-n{node}-s{subtask}-{clean}-{id}.ipc");
                            let batch = build()?;
                            let data = crate::snapshot::ipc_stream(&batch.schema(), std::slice::from_ref(&batch))?;
                            let n = data.len() as u64;
                            store.put(&path, data)?;
                            new_bytes += n;
                            durable.insert(key, (path.clone(), n));
                            path
                        }
                    };
                    used.insert((entry.to_string(), id));
                    shared.push(path.clone());
                    Ok(Some(path))
                })?;
                // Forget stable batches of this instance that this snapshot no longer has.
                durable.retain(|(n, st, e, i), _| (*n, *st) != (node, subtask) || used.contains(&(e.clone(), *i)));
                let path = if finished {
                    format!("shared/{}-n{node}-s{subtask}.state", self.token)
                } else {
                    part_path(checkpoint, node, subtask)
                };
                let n = b.len() as u64;
                self.cfg.store.put(&path, b)?;
                (Some(path), n)
            }
        };
        let bytes = bytes + new_bytes;
        *self.local_bytes.entry(checkpoint).or_default() += bytes;
        let part = PartRef { subtask, file, bytes, finished, shared, full_bytes: bytes + old_bytes };
        if finished {
            self.finished.insert((node, subtask), part);
        } else {
            self.pending.entry(checkpoint).or_default().insert((node, subtask), part);
        }
        Ok(())
    }

    fn marker_parts(&self, parts: Option<&HashMap<Instance, PartRef>>) -> Vec<(usize, PartRef)> {
        let mut out: Vec<(usize, PartRef)> = self.finished.iter().map(|((n, _), p)| (*n, p.clone())).collect();
        if let Some(parts) = parts {
            out.extend(parts.iter().filter(|(k, _)| !self.finished.contains_key(k)).map(|((n, _), p)| (*n, p.clone())));
        }
        out.sort_by_key(|(n, p)| (*n, p.subtask));
        out
    }

    /// Write this process's marker for every checkpoint all local instances have reached.
    fn local_complete(&mut self) -> Result<()> {
        if !self.final_marked && self.finished.len() == self.instances {
            self.final_marked = true;
            self.pending.clear();
            let parts = self.marker_parts(None);
            self.write_marker(FINAL_CHECKPOINT, parts)?;
            return Ok(());
        }
        let ready: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, parts)| parts.len() + self.finished.keys().filter(|k| !parts.contains_key(k)).count() >= self.instances)
            .map(|(c, _)| *c)
            .collect();
        if let Some(&c) = ready.last() {
            let parts = self.marker_parts(self.pending.get(&c));
            self.pending = self.pending.split_off(&(c + 1));
            self.write_marker(c, parts)?;
        }
        Ok(())
    }

    fn write_marker(&mut self, c: u64, parts: Vec<(usize, PartRef)>) -> Result<()> {
        let m = ProcessMarker { process: self.cfg.process, checkpoint: c, parts };
        let bytes = serde_json::to_vec(&m).map_err(|e| StateError::Internal(e.to_string()))?;
        self.cfg.store.put(&marker_path(c, self.cfg.process), bytes)?;
        let started = self.started.get(&c).copied().unwrap_or_else(Instant::now);
        let local = self.local_bytes.get(&c).copied().unwrap_or(0);
        self.awaiting.insert(c, (started, local));
        self.started.retain(|k, _| *k > c);
        self.local_bytes.retain(|k, _| *k > c);
        Ok(())
    }

    /// Complete what can be completed: process 0 merges markers into manifests; the others
    /// look for the manifests.
    fn poll(&mut self) -> Result<()> {
        let candidates: Vec<u64> = self.awaiting.keys().rev().copied().collect();
        for c in candidates {
            let done = if self.cfg.process == 0 {
                self.try_manifest(c)?.map(Some)
            } else {
                self.cfg.store.exists(&manifest_path(c))?.then_some(None)
            };
            if let Some(sizes) = done {
                self.complete(c, sizes)?;
                break;
            }
        }
        Ok(())
    }

    /// Process 0: write the manifest of `c` if every process has its marker. Returns the
    /// checkpoint's total size when complete.
    fn try_manifest(&self, c: u64) -> Result<Option<ManifestSizes>> {
        let mut markers = Vec::with_capacity(self.cfg.processes);
        for p in 0..self.cfg.processes {
            match self.cfg.store.get(&marker_path(c, p))? {
                Some(b) => markers.push(
                    serde_json::from_slice::<ProcessMarker>(&b)
                        .map_err(|e| StateError::External(format!("unreadable marker {}: {e}", marker_path(c, p))))?,
                ),
                None => return Ok(None),
            }
        }
        let mut nodes: Vec<NodeState> =
            self.cfg.nodes.iter().map(|n| NodeState { id: n.id, name: n.name.clone(), signature: n.signature.clone(), parts: Vec::new() }).collect();
        let (mut bytes, mut full_bytes) = (0, 0);
        for m in markers {
            for (node, part) in m.parts {
                // A finished instance's part stands for later checkpoints: counted once.
                if !part.finished || c == FINAL_CHECKPOINT {
                    bytes += part.bytes;
                }
                full_bytes += part.full_bytes.max(part.bytes);
                if let Some(n) = nodes.iter_mut().find(|n| n.id == node) {
                    n.parts.push(part);
                }
            }
        }
        for n in &mut nodes {
            n.parts.sort_by_key(|p| p.subtask);
        }
        let node_bytes = nodes.iter().map(|n| (n.id, n.parts.iter().map(|p| p.full_bytes.max(p.bytes)).sum())).collect();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            checkpoint: c,
            savepoint: false,
            finished: c == FINAL_CHECKPOINT,
            created_ms: rask_types::now_ms(),
            parallelism: self.cfg.parallelism,
            max_parallelism: self.cfg.max_parallelism,
            nodes,
            bytes,
            full_bytes,
            duration_ms: self.awaiting.get(&c).map(|(t, _)| t.elapsed().as_millis() as u64),
        };
        self.cfg.store.put(&manifest_path(c), manifest.encode())?;
        Ok(Some((bytes, full_bytes, node_bytes)))
    }

    fn complete(&mut self, c: u64, sizes: Option<ManifestSizes>) -> Result<()> {
        let (started, local) = self.awaiting.get(&c).copied().unwrap_or((Instant::now(), 0));
        self.awaiting = self.awaiting.split_off(&(c + 1));
        self.completed.fetch_max(c, Ordering::AcqRel);
        if let Ok(mut s) = self.stats.lock() {
            s.completed += 1;
            s.last_id = c;
            s.last_duration = started.elapsed();
            s.last_local_bytes = local;
            s.last_completed_ms = rask_types::now_ms();
            match sizes {
                Some((total, full, nodes)) => {
                    s.last_bytes = total;
                    s.last_full_bytes = full;
                    s.last_node_bytes = nodes;
                }
                None => {
                    s.last_bytes = local;
                    s.last_full_bytes = local;
                }
            }
        }
        if self.cfg.process == 0 {
            let pinned = self.pinned.load(Ordering::Acquire);
            collect_garbage(&self.cfg.store, self.cfg.retain, false, (pinned != 0).then_some(pinned))?;
        }
        tracing::debug!(checkpoint = c, "checkpoint complete");
        Ok(())
    }
}
