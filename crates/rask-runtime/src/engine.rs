//! The timely dataflow plumbing, and the only module that touches timely's operator API.
//!
//! Every plan node becomes one timely operator on every worker:
//! - sources pull batches from a reader thread through a bounded channel and advance their
//!   epoch (the timely timestamp) every few batches; a source does not start epoch `e` until the
//!   probe at the sinks shows epoch `e - IN_FLIGHT_EPOCHS` finished everywhere (flow control);
//! - every other node runs [`Operator`] callbacks under a driver that holds one capability at
//!   the operator's open epoch, delivers events of that epoch immediately, stashes events of
//!   later epochs, and moves on when the input frontier passes (alignment);
//! - edges are forward (pipeline), keyed (key-group exchange) or single; watermarks travel
//!   in-band and are combined per input and sender.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rask_sql::plan::{Exchange, NodeKind, PlanNode, StreamPlan};
use rask_types::{StreamBatch, WATERMARK_MAX, WATERMARK_MIN};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{DistributorPact, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::{Capability, Probe};
use timely::dataflow::{ProbeHandle, Scope, Stream};
use timely::progress::frontier::MutableAntichain;

use rask_state::{Coordinator, OperatorSnapshot, FINAL_CHECKPOINT};

use crate::checkpoint::Restore;
use crate::connector::{ConnectorRegistry, PrintTarget, SinkContext, SourceContext, SourceEvent};
use crate::container::{Batch, Msg};
use crate::epoch::{checkpoint_of, first_epoch_of, next_tick, Epoch, IN_FLIGHT_EPOCHS};
use crate::error::{Result, RuntimeError};
use crate::exchange::{KeyGroupDistributor, SingleDistributor};
use crate::metrics::JobMetrics;
use crate::operator::{Emitter, Operator};
use crate::operators;
use crate::watermarks::{combine, combine_idle, InputWatermarks};

/// Batches a source emits per epoch before it ticks (flow-control granularity).
const EPOCH_BATCHES: usize = 16;
/// Capacity of the channel between a source's reader thread and its operator.
const SOURCE_CHANNEL: usize = 8;
/// An idle source still ticks this often so that others are not held back.
const IDLE_TICK: Duration = Duration::from_millis(20);

/// Settings the engine needs besides the plan.
#[derive(Clone)]
pub struct EngineConfig {
    pub batch_size: usize,
    pub max_parallelism: u32,
    pub print: Arc<dyn PrintTarget>,
    pub watermark_interval: Duration,
    pub idle_timeout: Option<Duration>,
    /// `execution.checkpointing.interval`: sources move to the next checkpoint's epochs at this
    /// interval (wall-clock aligned, so every source of every process agrees on the numbering).
    pub checkpoint_interval: Option<Duration>,
    /// `table.exec.mini-batch.*` when enabled: (allow-latency, size). Bounds how long and how
    /// many rows the local phase of an aggregation buffers.
    pub mini_batch: Option<(Duration, usize)>,
    /// Wall-clock start of the job (epoch ms), shared by all processes (see [`job_start_ms`]).
    pub job_start_ms: i64,
    /// Checkpoint storage is configured: operators' snapshots and sources' positions go to
    /// this process's coordinator, and two-phase commits wait for its completions.
    pub checkpoints: Option<Arc<Coordinator>>,
    /// The checkpoint or savepoint the job starts from.
    pub restore: Option<Arc<Restore>>,
    /// `table.exec.state.ttl`: idle keyed state is dropped after this long.
    pub state_ttl: Option<rask_state::StateTtl>,
}

/// The checkpoint due now: wall-clock slots of the interval (at least 10 ms, as in Flink).
pub(crate) fn checkpoint_due(interval: Duration) -> u64 {
    let ms = rask_types::now_ms().max(0) as u64;
    ms / (interval.as_millis() as u64).max(10)
}

/// The text of a panic payload.
pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "unknown panic".into())
}

/// State shared by all worker threads of one process.
pub struct Shared {
    pub metrics: Arc<JobMetrics>,
    pub cancel: Arc<AtomicBool>,
    failed: AtomicBool,
    failure: Mutex<Option<RuntimeError>>,
    /// When the first batch of each recent epoch left a source of this process (the start of
    /// the end-to-end latency of what the sinks receive in that epoch).
    epoch_started: Mutex<BTreeMap<Epoch, Instant>>,
    /// A checkpoint requested now (savepoint): sources move to this checkpoint's epochs.
    pub force_checkpoint: AtomicU64,
    /// The savepoint being taken: exactly-once sinks acknowledge when they committed it.
    pub savepoint_target: AtomicU64,
    /// Exactly-once sink instances in this process, and how many committed the savepoint.
    pub two_phase_sinks: AtomicUsize,
    pub commit_acks: AtomicUsize,
    /// A source emitted its first batch after a restore (logged once, for recovery timing).
    resumed: AtomicBool,
}

impl Shared {
    pub fn new(metrics: Arc<JobMetrics>, cancel: Arc<AtomicBool>) -> Self {
        Shared {
            metrics,
            cancel,
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            epoch_started: Mutex::new(BTreeMap::new()),
            force_checkpoint: AtomicU64::new(0),
            savepoint_target: AtomicU64::new(0),
            two_phase_sinks: AtomicUsize::new(0),
            commit_acks: AtomicUsize::new(0),
            resumed: AtomicBool::new(false),
        }
    }

    /// Ask every source of this process to start a new checkpoint now; returns its id.
    pub fn request_checkpoint(&self, interval: Option<Duration>) -> u64 {
        // Always a new checkpoint, later than any requested before (two savepoints in one
        // interval must not share one).
        let due = interval.map_or(0, checkpoint_due) + 2;
        let next = |f: u64| due.max(f + 1);
        let prev = self.force_checkpoint.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| Some(next(f))).unwrap_or_else(|f| f);
        next(prev) - 1
    }
    /// A source emits the first batch of epoch `e` now (the earliest source counts).
    fn epoch_started(&self, e: Epoch) {
        if let Ok(mut m) = self.epoch_started.lock() {
            m.entry(e).or_insert_with(Instant::now);
            while m.len() > 4096 {
                m.pop_first();
            }
        }
    }
    /// When data of epoch `e` (or the latest earlier epoch with data) left its source.
    fn epoch_start(&self, e: Epoch) -> Option<Instant> {
        self.epoch_started.lock().ok().and_then(|m| m.range(..=e).next_back().map(|(_, t)| *t))
    }
    /// Record the first failure; every worker stops.
    pub fn fail(&self, e: RuntimeError) {
        if let Ok(mut f) = self.failure.lock()
            && f.is_none() {
                *f = Some(e);
            }
        self.failed.store(true, Ordering::SeqCst);
    }
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn stopped(&self) -> bool {
        self.failed() || self.cancel.load(Ordering::Relaxed)
    }
    pub fn take_failure(&self) -> Option<RuntimeError> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }
}

/// Build the dataflow for `plan` on this worker; sink outputs feed `probe`.
pub fn build_dataflow(
    scope: Scope<'_, Epoch>,
    plan: &StreamPlan,
    registry: &ConnectorRegistry,
    cfg: &EngineConfig,
    shared: &Arc<Shared>,
    probe: &ProbeHandle<Epoch>,
    local_index: usize,
) -> Result<()> {
    let index = scope.index();
    let peers = scope.peers();
    let mut streams: Vec<Stream<'_, Epoch, Batch>> = Vec::with_capacity(plan.nodes.len());
    for node in &plan.nodes {
        let s = match &node.kind {
            NodeKind::Source { table, read } => {
                let connector = registry.get(&table.connector).ok_or_else(|| {
                    RuntimeError::User(format!("unknown connector '{}' for table '{}'", table.connector, table.name))
                })?;
                let restore = match &cfg.restore {
                    Some(r) => r.source_positions(node, index, peers)?,
                    None => None,
                };
                // The scan's schema is the physical columns followed by the metadata columns.
                let schema = table.physical_schema();
                let metadata_fields = node.schema.fields().iter().skip(schema.fields().len()).cloned();
                let ctx = SourceContext {
                    subtask: index,
                    parallelism: peers,
                    metadata: table.metadata_columns().map(|(_, key, _)| key.to_string()).zip(metadata_fields).collect(),
                    read: read.iter().take(schema.fields().len()).cloned().collect(),
                    schema,
                    batch_size: cfg.batch_size,
                    metrics: shared.metrics.nodes[node.id].source.clone(),
                    job_start_ms: cfg.job_start_ms,
                    checkpointing: cfg.checkpoints.is_some(),
                    restore,
                    restore_all: match &cfg.restore {
                        Some(r) => r.source_positions(node, 0, 1)?,
                        None => None,
                    },
                };
                let reader = connector.create_source(table, &ctx).map_err(|e| e.context(format!("source '{}'", table.name)))?;
                source_stream(scope, node, reader, shared.clone(), probe.clone(), local_index, cfg)
            }
            NodeKind::Values { batch } => {
                let done = cfg.restore.as_ref().is_some_and(|r| r.finished(node, index, peers));
                let b = if index == 0 && !done { Some(StreamBatch::inserts(batch.clone())) } else { None };
                values_stream(scope, node, b, shared.clone(), local_index, cfg.checkpoints.clone())
            }
            _ => {
                let mut op = make_operator(node, plan, registry, cfg, shared, index, peers)?;
                if let Some(r) = &cfg.restore {
                    let started = std::time::Instant::now();
                    let parts = r.state_for(node, index, peers, cfg.max_parallelism)?;
                    let read = started.elapsed();
                    op.restore(parts).map_err(|e| e.context(format!("restoring '{}'", node.name)))?;
                    tracing::debug!(target: "rask::recovery", node = %node.name, subtask = index, read_ms = read.as_millis() as u64,
                        rebuild_ms = (started.elapsed() - read).as_millis() as u64, "operator state restored");
                }
                let inputs = node.inputs.iter().map(|i| (streams[i.node].clone(), i.exchange.clone())).collect();
                operator_stream(scope, node, inputs, op, cfg, shared.clone(), local_index)
            }
        };
        streams.push(s);
    }
    for sink in plan.sinks() {
        streams[sink.id].clone().probe_with(probe);
    }
    Ok(())
}

fn make_operator(
    node: &PlanNode,
    plan: &StreamPlan,
    registry: &ConnectorRegistry,
    cfg: &EngineConfig,
    shared: &Arc<Shared>,
    index: usize,
    peers: usize,
) -> Result<Box<dyn Operator>> {
    Ok(match &node.kind {
        NodeKind::Calc { steps } => {
            let input_width = node.inputs.first().map_or(0, |i| plan.nodes[i.node].schema.fields().len());
            Box::new(operators::calc::Calc::new(node.name.clone(), steps.clone(), input_width))
        }
        NodeKind::Watermark { expr, rowtime } => {
            // Exact per-row watermarks only matter to CURRENT_WATERMARK (see the assigner).
            let per_row = plan.uses_current_watermark();
            Box::new(operators::watermark::WatermarkAssigner::new(
                node.name.clone(),
                expr.clone(),
                *rowtime,
                per_row,
                cfg.watermark_interval,
                cfg.idle_timeout,
            ))
        }
        NodeKind::Union => Box::new(operators::union::Union),
        NodeKind::Expand { projections } => Box::new(operators::expand::Expand::new(projections.clone(), node.schema.clone())),
        NodeKind::Limit { skip, fetch } => Box::new(operators::limit::Limit::new(*skip, *fetch)),
        NodeKind::WindowAssign { time_col, spec } => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            Box::new(operators::window_tvf::WindowAssign::new(*time_col, *spec, node.schema.clone(), late))
        }
        NodeKind::SessionWindow { time_col, partition, gap, proctime, clock } => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            Box::new(operators::session_tvf::SessionWindowTvf::new(partition.clone(), *time_col, *gap, *proctime, *clock, input, node.schema.clone(), late)?)
        }
        NodeKind::LocalWindowAggregate(agg) => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            Box::new(operators::local_window_agg::LocalWindowAggregate::new((**agg).clone(), input, node.schema.clone(), late, cfg.mini_batch)?)
        }
        NodeKind::WindowAggregate(agg) => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            let fire = shared.metrics.nodes[node.id].window_fire_max_us.clone();
            if agg.spec.kind == rask_sql::window_tvf::WindowKind::Session {
                Box::new(operators::session_agg::SessionAggregate::new((**agg).clone(), input, node.schema.clone(), late, fire)?)
            } else {
                Box::new(operators::window_agg::WindowAggregate::new((**agg).clone(), input, node.schema.clone(), late, fire)?)
            }
        }
        NodeKind::OverAggregate(over) if over.updating => {
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            Box::new(operators::updating_over_agg::UpdatingOverAggregate::new((**over).clone(), input, node.schema.clone(), cfg.state_ttl)?)
        }
        NodeKind::OverAggregate(over) => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            Box::new(operators::over_agg::OverAggregate::new((**over).clone(), input, node.schema.clone(), late, cfg.state_ttl)?)
        }
        NodeKind::IntervalJoin(join) => {
            let left = plan.nodes[node.inputs[0].node].schema.clone();
            let right = plan.nodes[node.inputs[1].node].schema.clone();
            Box::new(operators::interval_join::IntervalJoin::new((**join).clone(), left, right, node.schema.clone())?)
        }
        NodeKind::Join(join) => {
            let left = plan.nodes[node.inputs[0].node].schema.clone();
            let right = plan.nodes[node.inputs[1].node].schema.clone();
            Box::new(operators::join::Join::new((**join).clone(), left, right, node.schema.clone(), cfg.state_ttl)?)
        }
        NodeKind::LookupJoin(join) => {
            let table = &join.table;
            let connector = registry
                .get(&table.connector)
                .ok_or_else(|| RuntimeError::User(format!("unknown connector '{}' for table '{}'", table.connector, table.name)))?;
            let ctx = crate::connector::LookupContext {
                subtask: index,
                parallelism: peers,
                schema: table.source_schema(),
                keys: join.keys.iter().map(|(k, _)| *k).collect(),
            };
            let (function, cache) = connector.create_lookup(table, &ctx).map_err(|e| e.context(format!("lookup table '{}'", table.name)))?;
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            let metrics = shared.metrics.nodes[node.id].lookup.clone();
            Box::new(operators::lookup_join::LookupJoin::new((**join).clone(), function, cache, input, node.schema.clone(), metrics)?)
        }
        NodeKind::TemporalJoin(join) => {
            let left = plan.nodes[node.inputs[0].node].schema.clone();
            let right = plan.nodes[node.inputs[1].node].schema.clone();
            Box::new(operators::temporal_join::TemporalJoin::new((**join).clone(), left, right, node.schema.clone())?)
        }
        NodeKind::ChangelogNormalize { key } => Box::new(operators::changelog_normalize::ChangelogNormalize::new(key.clone(), node.schema.clone(), cfg.state_ttl)?),
        NodeKind::Rank(rank) => {
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            Box::new(operators::rank::Rank::new((**rank).clone(), input, node.schema.clone(), cfg.state_ttl)?)
        }
        NodeKind::WindowJoin(join) => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            let left = plan.nodes[node.inputs[0].node].schema.clone();
            let right = plan.nodes[node.inputs[1].node].schema.clone();
            Box::new(operators::window_join::WindowJoin::new((**join).clone(), left, right, node.schema.clone(), late))
        }
        NodeKind::WindowRank(rank) => {
            let late = shared.metrics.nodes[node.id].late_records_dropped.clone();
            Box::new(operators::window_rank::WindowRank::new((**rank).clone(), node.schema.clone(), late))
        }
        NodeKind::LocalGroupAggregate(agg) => {
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            let mini_batch = cfg.mini_batch.ok_or_else(|| RuntimeError::Internal("a local group aggregation without mini-batch".into()))?;
            Box::new(operators::local_group_agg::LocalGroupAggregate::new((**agg).clone(), input, node.schema.clone(), mini_batch)?)
        }
        NodeKind::GroupAggregate(agg) => {
            let input = plan.nodes[node.inputs[0].node].schema.clone();
            Box::new(operators::group_agg::GroupAggregate::new((**agg).clone(), input, node.schema.clone(), cfg.mini_batch.is_some(), cfg.state_ttl)?)
        }
        NodeKind::Sink { table } => {
            let connector = registry
                .get(&table.connector)
                .ok_or_else(|| RuntimeError::User(format!("unknown connector '{}' for table '{}'", table.connector, table.name)))?;
            let input_schema = plan.nodes[node.inputs[0].node].schema.clone();
            let ctx = SinkContext { subtask: index, parallelism: peers, schema: input_schema, print: cfg.print.clone(), two_phase: cfg.checkpoints.is_some() };
            let writer = connector.create_sink(table, &ctx).map_err(|e| e.context(format!("sink '{}'", table.name)))?;
            Box::new(operators::sink::Sink::new(table.name.clone(), &table.sink_schema(), writer))
        }
        NodeKind::Source { .. } | NodeKind::Values { .. } => {
            return Err(RuntimeError::Internal("sources are not operators".into()));
        }
    })
}

/// A source's epoch bookkeeping: the recent epochs it started (flow control waits on the one
/// `IN_FLIGHT_EPOCHS` back), batches given in the open epoch, and when it last advanced.
struct SourceClock {
    started: std::collections::VecDeque<Epoch>,
    in_epoch: usize,
    last_tick: Instant,
}

impl SourceClock {
    fn new(first: Epoch) -> Self {
        SourceClock { started: std::collections::VecDeque::from([first]), in_epoch: 0, last_tick: Instant::now() }
    }

    /// Flow control: the epoch started `IN_FLIGHT_EPOCHS` epochs ago must be finished everywhere
    /// before this source produces more.
    fn may_produce(&self, probe: &ProbeHandle<Epoch>) -> bool {
        let n = IN_FLIGHT_EPOCHS as usize;
        self.started.len() <= n || !probe.less_equal(&self.started[self.started.len() - 1 - n])
    }

    /// Move the source's capability to epoch `to`.
    fn advance(&mut self, cap: &mut Capability<Epoch>, to: Epoch) {
        cap.downgrade(&to);
        self.started.push_back(to);
        while self.started.len() > IN_FLIGHT_EPOCHS as usize + 1 {
            self.started.pop_front();
        }
        self.in_epoch = 0;
        self.last_tick = Instant::now();
    }
}

enum FromReader {
    /// A batch and, when checkpoints are stored, the reader's position after it.
    Batch(StreamBatch, Option<Vec<u8>>),
    End(Option<Vec<u8>>),
    Failed(RuntimeError),
}

/// A source: a reader thread feeding a timely source operator with flow control.
fn source_stream<'s>(
    scope: Scope<'s, Epoch>,
    node: &PlanNode,
    mut reader: Box<dyn crate::connector::SourceReader>,
    shared: Arc<Shared>,
    probe: ProbeHandle<Epoch>,
    local_index: usize,
    cfg: &EngineConfig,
) -> Stream<'s, Epoch, Batch> {
    let id = node.id;
    let name = node.name.clone();
    let sender = scope.index() as u32;
    let checkpoint_interval = cfg.checkpoint_interval;
    let checkpoints = cfg.checkpoints.clone();
    let track = checkpoints.is_some();
    let restored = cfg.restore.is_some();
    // The position before the first batch (the restored one, or the start).
    let initial = if track { reader.position() } else { Ok(None) };
    source::<_, CapacityContainerBuilder<Batch>, _, _>(scope, &node.name, move |cap, info| {
        let activator = scope.activator_for(info.address.clone());
        let sync_act = scope.worker().sync_activator_for(info.address.to_vec());
        let (tx, rx) = sync_channel::<FromReader>(SOURCE_CHANNEL);
        // Positions of completed checkpoints, back to the reader.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let thread_name = format!("rask-source-{id}-{sender}");
        let stop = shared.clone();
        let spawned = std::thread::Builder::new().name(thread_name).spawn(move || {
            let failed = tx.clone();
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || loop {
                if stop.stopped() {
                    return;
                }
                let position = |r: &mut Box<dyn crate::connector::SourceReader>| if track { r.position() } else { Ok(None) };
                let completed = done_rx.try_iter().last().map_or(Ok(()), |p| reader.on_checkpoint_complete(&p));
                let busy = Busy::start(&stop.metrics.nodes[id]);
                let next = completed.and_then(|()| reader.next());
                if matches!(next, Ok(SourceEvent::Idle)) {
                    busy.discard();
                }
                let msg = match next {
                    Ok(SourceEvent::Batch(b)) => match position(&mut reader) {
                        Ok(p) => FromReader::Batch(b, p),
                        Err(e) => FromReader::Failed(e),
                    },
                    Ok(SourceEvent::Idle) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Ok(SourceEvent::End) => match position(&mut reader) {
                        Ok(p) => FromReader::End(p),
                        Err(e) => FromReader::Failed(e),
                    },
                    Err(e) => FromReader::Failed(e),
                };
                let last = !matches!(msg, FromReader::Batch(..));
                if tx.send(msg).is_err() {
                    return;
                }
                let _ = sync_act.activate();
                if last {
                    return;
                }
            }));
            if let Err(p) = run {
                // A connector bug must fail the job, never look like the end of the input.
                let _ = failed.send(FromReader::Failed(RuntimeError::Internal(format!("source reader panicked: {}", panic_message(&p)))));
            }
        });
        let rx: Option<Receiver<FromReader>> = match spawned {
            Ok(_) => Some(rx),
            Err(e) => {
                shared.fail(RuntimeError::External(format!("{name}: cannot start reader thread: {e}")));
                None
            }
        };
        let mut clock = SourceClock::new(*cap.time());
        let mut cap = Some(cap);
        let metrics = shared.metrics.clone();
        let mut position: Option<Vec<u8>> = match initial {
            Ok(p) => p,
            Err(e) => {
                shared.fail(e.context(&name));
                None
            }
        };
        let part = |p: &Option<Vec<u8>>| p.as_ref().map(|p| OperatorSnapshot { meta: p.clone(), entries: Vec::new() });
        let subtask = sender as usize;
        // Positions in checkpoints not known to be complete yet.
        let mut submitted: std::collections::VecDeque<(u64, Vec<u8>)> = Default::default();
        move |output| {
            if let Some(co) = &checkpoints {
                let done = co.completed();
                let mut last = None;
                while submitted.front().is_some_and(|(c, _)| *c <= done) {
                    last = submitted.pop_front();
                }
                if let Some((_, p)) = last {
                    let _ = done_tx.send(p);
                }
            }
            let Some(c) = cap.as_mut() else { return };
            let Some(rx) = rx.as_ref() else {
                cap = None;
                return;
            };
            if shared.stopped() {
                cap = None;
                return;
            }
            if !clock.may_produce(&probe) {
                activator.activate_after(Duration::from_micros(200));
                return;
            }
            // A checkpoint is due (or requested): move to its first epoch; the jump is the barrier.
            let due = checkpoint_interval.map_or(0, checkpoint_due).max(shared.force_checkpoint.load(Ordering::Relaxed));
            if due > checkpoint_of(*c.time()) {
                // The position after the last batch before the cut is this source's part of
                // the checkpoint the operators take when their frontier reaches `due`.
                if let Some(co) = &checkpoints {
                    co.submit(due - 1, id, subtask, part(&position), false);
                    if let Some(p) = &position {
                        submitted.push_back((due - 1, p.clone()));
                    }
                }
                clock.advance(c, first_epoch_of(due));
                activator.activate_after(checkpoint_interval.unwrap_or(IDLE_TICK).min(IDLE_TICK));
            }
            let e = *c.time();
            for _ in 0..EPOCH_BATCHES {
                match rx.try_recv() {
                    Ok(FromReader::Batch(b, p)) => {
                        if p.is_some() {
                            position = p;
                        }
                        if b.num_rows() == 0 {
                            continue;
                        }
                        metrics.nodes[id].records_out.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                        metrics.nodes[id].bytes_out.fetch_add(crate::metrics::batch_bytes(&b.data), Ordering::Relaxed);
                        if clock.in_epoch == 0 {
                            shared.epoch_started(e);
                        }
                        if restored && !shared.resumed.swap(true, Ordering::Relaxed) {
                            tracing::info!(target: "rask::recovery", "processing resumed after the restore");
                        }
                        output.session(&*c).give_container(&mut Batch::data(b));
                        clock.in_epoch += 1;
                        if clock.in_epoch >= EPOCH_BATCHES {
                            clock.advance(c, next_tick(e));
                            activator.activate();
                            return;
                        }
                    }
                    Err(TryRecvError::Disconnected) => {
                        // The reader also stops when the job is cancelled: only otherwise is
                        // its silence a bug.
                        if !shared.stopped() {
                            shared.fail(RuntimeError::Internal(format!("{name}: the source reader stopped without ending its input")));
                        }
                        cap = None;
                        return;
                    }
                    Ok(FromReader::End(p)) => {
                        if p.is_some() {
                            position = p;
                        }
                        if let Some(co) = &checkpoints {
                            co.submit(checkpoint_of(e), id, subtask, part(&position), true);
                        }
                        // End of bounded input: a final MAX watermark fires every event-time timer.
                        output.session(&*c).give_container(&mut Batch::watermark(sender, WATERMARK_MAX));
                        metrics.nodes[id].watermarks[local_index].store(WATERMARK_MAX, Ordering::Relaxed);
                        cap = None;
                        return;
                    }
                    Ok(FromReader::Failed(err)) => {
                        shared.fail(err.context(&name));
                        cap = None;
                        return;
                    }
                    Err(TryRecvError::Empty) => {
                        if clock.last_tick.elapsed() >= IDLE_TICK {
                            clock.advance(c, next_tick(e));
                        }
                        activator.activate_after(IDLE_TICK);
                        return;
                    }
                }
            }
            activator.activate();
        }
    })
}

/// `VALUES`: worker 0 emits the rows; every worker then ends with a MAX watermark.
fn values_stream<'s>(
    scope: Scope<'s, Epoch>,
    node: &PlanNode,
    batch: Option<StreamBatch>,
    shared: Arc<Shared>,
    local_index: usize,
    checkpoints: Option<Arc<Coordinator>>,
) -> Stream<'s, Epoch, Batch> {
    let id = node.id;
    let sender = scope.index() as u32;
    source::<_, CapacityContainerBuilder<Batch>, _, _>(scope, &node.name, move |cap, _info| {
        let mut cap = Some(cap);
        let mut batch = batch;
        move |output| {
            let Some(c) = cap.as_ref() else { return };
            if let Some(b) = batch.take()
                && b.num_rows() > 0 {
                    shared.metrics.nodes[id].records_out.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                    shared.metrics.nodes[id].bytes_out.fetch_add(crate::metrics::batch_bytes(&b.data), Ordering::Relaxed);
                    output.session(c).give_container(&mut Batch::data(b));
                }
            output.session(c).give_container(&mut Batch::watermark(sender, WATERMARK_MAX));
            shared.metrics.nodes[id].watermarks[local_index].store(WATERMARK_MAX, Ordering::Relaxed);
            if let Some(co) = &checkpoints {
                co.submit(checkpoint_of(*c.time()), id, sender as usize, None, true);
            }
            cap = None;
        }
    })
}

type Drain = Box<dyn FnMut(&mut dyn FnMut(Epoch, Msg))>;

/// Erase an input handle's puller type (it differs per pact) behind a closure that hands every
/// received message to `f` with its epoch.
fn boxed_drain<P>(mut h: timely::dataflow::operators::generic::InputHandleCore<Epoch, Batch, P>) -> Drain
where
    P: timely::communication::Pull<timely::dataflow::channels::Message<Epoch, Batch>> + 'static,
{
    Box::new(move |f: &mut dyn FnMut(Epoch, Msg)| {
        h.for_each(|cap, data| {
            if let (Some(t), Some(m)) = (cap.least(), data.0.take()) {
                f(*t, m)
            }
        })
    })
}

/// Adds the time from its start to its drop to a node's busy time.
struct Busy<'a> {
    node: &'a crate::metrics::NodeMetrics,
    started: Option<Instant>,
}

impl<'a> Busy<'a> {
    fn start(node: &'a crate::metrics::NodeMetrics) -> Self {
        Busy { node, started: Some(Instant::now()) }
    }
    /// The time was not work (a source that had nothing to read).
    fn discard(mut self) {
        self.started = None;
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.started {
            self.node.busy_us.fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
}

/// The driver around an [`Operator`]: alignment, watermark combining, timers, emission.
struct Driver {
    op: Box<dyn Operator>,
    name: String,
    id: usize,
    sender: u32,
    cap: Option<Capability<Epoch>>,
    stash: BTreeMap<Epoch, Vec<(usize, Msg)>>,
    trackers: Vec<InputWatermarks>,
    last_wm: i64,
    all_idle: bool,
    timer: Option<Instant>,
    shared: Arc<Shared>,
    local_index: usize,
    dead: bool,
    /// `on_open` has been called.
    opened: bool,
    /// The operator is a sink: record the end-to-end latency of what it receives.
    is_sink: bool,
    checkpoints: Option<Arc<Coordinator>>,
    /// The latest checkpoint completion the operator was told about.
    notified: u64,
    /// The operator has closed and waits for the final checkpoint to complete (exactly-once
    /// sinks commit then).
    closing: bool,
    /// The latest savepoint whose commit this exactly-once sink acknowledged.
    acked: u64,
    /// When the first event after the next checkpoint's barrier arrived (and was stashed
    /// until every input passed the barrier): the start of the alignment.
    align_started: Option<Instant>,
}

impl Driver {
    /// Deliver one event to the operator and collect its output.
    fn deliver(&mut self, input: usize, epoch: Epoch, msg: Msg, out: &mut Emitter) -> Result<()> {
        match msg {
            Msg::Data(b) => {
                self.trackers[input].on_data(None);
                let node = &self.shared.metrics.nodes[self.id];
                node.records_in.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                node.bytes_in.fetch_add(crate::metrics::batch_bytes(&b.data), Ordering::Relaxed);
                if self.is_sink
                    && let Some(t) = self.shared.epoch_start(epoch) {
                        node.record_latency(t.elapsed(), b.num_rows());
                    }
                self.op.on_batch(input, b, out)
            }
            Msg::Watermark { sender, watermark } => {
                self.trackers[input].on_watermark(sender, watermark);
                self.after_watermark_change(out)
            }
            Msg::Idle { sender } => {
                self.trackers[input].on_idle(sender);
                self.after_watermark_change(out)
            }
        }
    }

    fn after_watermark_change(&mut self, out: &mut Emitter) -> Result<()> {
        match combine(&self.trackers) {
            Some(w) => {
                self.all_idle = false;
                self.advance(w, out)
            }
            None => {
                // Every sender is idle: no one will hold the watermark back any more, so it
                // moves to the highest one seen (Flink's valve does the same), then idles.
                if let Some(w) = combine_idle(&self.trackers) {
                    self.advance(w, out)?;
                }
                if !self.all_idle {
                    self.all_idle = true;
                    self.op.on_idle(out)?;
                }
                Ok(())
            }
        }
    }

    /// The combined input watermark is `w`: pass it on if it advanced.
    fn advance(&mut self, w: i64, out: &mut Emitter) -> Result<()> {
        if w > self.last_wm {
            self.last_wm = w;
            self.shared.metrics.nodes[self.id].input_watermarks[self.local_index].store(w, Ordering::Relaxed);
            self.op.on_watermark(w, out)?;
        }
        Ok(())
    }

    /// Send what the operator emitted, at the open epoch.
    fn flush(&mut self, out: Emitter, output: &mut timely::dataflow::channels::pushers::Output<Epoch, Batch>, activator: &timely::scheduling::Activator) {
        if let Some(d) = out.wake_after {
            let at = Instant::now() + d;
            if self.timer.is_none_or(|t| at < t) {
                self.timer = Some(at);
            }
            activator.activate_after(d);
        }
        let Some(cap) = self.cap.as_ref() else { return };
        let mut session = output.activate();
        let mut marks = out.marks.iter().peekable();
        for (i, b) in out.batches.into_iter().enumerate() {
            while let Some((_, w)) = marks.next_if(|(at, _)| *at <= i) {
                session.give(cap, &mut Batch::watermark(self.sender, *w));
            }
            let node = &self.shared.metrics.nodes[self.id];
            node.records_out.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            node.bytes_out.fetch_add(crate::metrics::batch_bytes(&b.data), Ordering::Relaxed);
            session.give(cap, &mut Batch::data(b));
        }
        for (_, w) in marks {
            session.give(cap, &mut Batch::watermark(self.sender, *w));
        }
        if let Some((_, w)) = out.marks.last() {
            self.shared.metrics.nodes[self.id].watermarks[self.local_index].store(*w, Ordering::Relaxed);
        } else if out.idle {
            session.give(cap, &mut Batch::idle(self.sender));
        }
    }

    /// The checkpoint barrier `c` passed: the operator's `on_checkpoint`, then its snapshot to
    /// the coordinator (or, without checkpoint storage, the completion right away).
    fn checkpoint(&mut self, c: u64, out: &mut Emitter) -> Result<()> {
        let started = Instant::now();
        if let Some(t) = self.align_started.take() {
            let us = t.elapsed().as_micros() as u64;
            self.shared.metrics.nodes[self.id].checkpoint_align_max_us.fetch_max(us, Ordering::Relaxed);
        }
        self.op.on_checkpoint(c, out)?;
        match &self.checkpoints {
            Some(co) => {
                let snap = self.op.snapshot(c)?;
                co.submit(c, self.id, self.sender as usize, snap, false);
                let us = started.elapsed().as_micros() as u64;
                self.shared.metrics.nodes[self.id].checkpoint_sync_max_us.fetch_max(us, Ordering::Relaxed);
                Ok(())
            }
            None => self.op.on_checkpoint_complete(c),
        }
    }

    /// End of input: close, then hand the final state in; an operator that commits on
    /// completion keeps running until the final checkpoint completes. Returns whether the
    /// operator is done.
    fn close(&mut self, out: &mut Emitter) -> Result<bool> {
        let r = self.op.on_close(out);
        out.wake_after = None; // nothing runs after close
        r?;
        match self.checkpoints.clone() {
            Some(co) => {
                let snap = self.op.snapshot(FINAL_CHECKPOINT)?;
                co.submit(FINAL_CHECKPOINT, self.id, self.sender as usize, snap, true);
                if self.op.commits_on_completion() {
                    self.closing = true;
                    return Ok(false);
                }
                Ok(true)
            }
            None => self.op.on_checkpoint_complete(FINAL_CHECKPOINT).map(|_| true),
        }
    }

    /// Tell the operator about checkpoints completed since the last call.
    fn notify_completed(&mut self) -> Result<()> {
        if let Some(co) = &self.checkpoints {
            let done = co.completed();
            if done > self.notified {
                self.notified = done;
                self.op.on_checkpoint_complete(done)?;
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: RuntimeError) {
        self.shared.fail(e.context(&self.name));
        self.dead = true;
        self.cap = None;
        self.stash.clear();
    }

    /// Run one operator callback with a fresh emitter, send what it emitted, and fail the
    /// operator if the callback failed. Returns whether the operator is still alive.
    fn step(
        &mut self,
        output: &mut timely::dataflow::channels::pushers::Output<Epoch, Batch>,
        activator: &timely::scheduling::Activator,
        f: impl FnOnce(&mut Driver, &mut Emitter) -> Result<()>,
    ) -> bool {
        let mut out = Emitter::default();
        rask_types::set_current_watermark(self.last_wm);
        let r = f(self, &mut out);
        self.flush(out, output, activator);
        match r {
            Ok(()) => true,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }
}

fn operator_stream<'s>(
    scope: Scope<'s, Epoch>,
    node: &PlanNode,
    inputs: Vec<(Stream<'s, Epoch, Batch>, Exchange)>,
    op: Box<dyn Operator>,
    cfg: &EngineConfig,
    shared: Arc<Shared>,
    local_index: usize,
) -> Stream<'s, Epoch, Batch> {
    let index = scope.index();
    let peers = scope.peers();
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address.clone());
    let mut drains: Vec<Drain> = Vec::new();
    let mut trackers = Vec::new();
    for (stream, exchange) in inputs {
        match exchange {
            Exchange::Forward => {
                drains.push(boxed_drain(builder.new_input(stream, Pipeline)));
                trackers.push(InputWatermarks::new(vec![index as u32]));
            }
            Exchange::Hash(keys) => {
                let keys = Arc::new(keys);
                let maxp = cfg.max_parallelism;
                let pact = DistributorPact(move |_peers: usize| KeyGroupDistributor { keys: keys.clone(), max_parallelism: maxp });
                drains.push(boxed_drain(builder.new_input(stream, pact)));
                trackers.push(InputWatermarks::new((0..peers as u32).collect()));
            }
            Exchange::Single => {
                let pact = DistributorPact(|_peers: usize| SingleDistributor);
                drains.push(boxed_drain(builder.new_input(stream, pact)));
                trackers.push(InputWatermarks::new((0..peers as u32).collect()));
            }
        }
    }
    let (mut output, stream) = builder.new_output::<Batch>();
    let name = node.name.clone();
    let id = node.id;
    let is_sink = matches!(node.kind, NodeKind::Sink { .. });
    let checkpoints = cfg.checkpoints.clone();
    let restored = cfg.restore.as_ref().map_or(0, |r| r.manifest.checkpoint);
    if checkpoints.is_some() && op.commits_on_completion() {
        shared.two_phase_sinks.fetch_add(1, Ordering::SeqCst);
    }
    let busy = shared.clone();
    builder.build(move |mut caps| {
        let driver = Rc::new(RefCell::new(Driver {
            op,
            name,
            id,
            sender: index as u32,
            cap: caps.pop(),
            stash: BTreeMap::new(),
            trackers,
            last_wm: WATERMARK_MIN,
            all_idle: false,
            timer: None,
            shared,
            local_index,
            dead: false,
            opened: false,
            is_sink,
            checkpoints,
            notified: restored,
            closing: false,
            acked: 0,
            align_started: None,
        }));
        move |frontiers: &[MutableAntichain<Epoch>]| {
            let _busy = Busy::start(&busy.metrics.nodes[id]);
            let mut d = driver.borrow_mut();
            // 0. The first activation opens the operator (before any input arrives).
            if !d.opened {
                d.opened = true;
                if !d.dead && d.cap.is_some() && !d.step(&mut output, &activator, |d, out| d.op.on_open(out)) {
                    return;
                }
            }
            // 1. Read inputs: events of the open epoch go straight in, later ones wait.
            let mut arrived: Vec<(usize, Epoch, Msg)> = Vec::new();
            for (i, drain) in drains.iter_mut().enumerate() {
                drain(&mut |t, m| arrived.push((i, t, m)));
            }
            if d.dead || d.cap.is_none() {
                return; // failed or finished: discard
            }
            if d.shared.stopped() {
                d.cap = None;
                return;
            }
            // 1b. Two-phase commit: checkpoints completed since the last activation.
            if d.op.commits_on_completion() {
                if !d.step(&mut output, &activator, |d, _| d.notify_completed()) {
                    return;
                }
                let target = d.shared.savepoint_target.load(Ordering::Relaxed);
                if target != 0 && d.acked != target && d.notified >= target {
                    d.acked = target;
                    d.shared.commit_acks.fetch_add(1, Ordering::SeqCst);
                }
                if d.closing {
                    if d.notified >= FINAL_CHECKPOINT {
                        d.cap = None;
                    } else {
                        activator.activate_after(Duration::from_millis(10));
                    }
                    return;
                }
                activator.activate_after(Duration::from_millis(50));
            }
            let open = d.cap.as_ref().map(|c| *c.time()).unwrap_or(0);
            for (i, t, m) in arrived {
                if t <= open {
                    if !d.step(&mut output, &activator, |d, out| d.deliver(i, t, m, out)) {
                        return;
                    }
                } else {
                    if d.align_started.is_none() && checkpoint_of(t) > checkpoint_of(open) {
                        d.align_started = Some(Instant::now());
                    }
                    d.stash.entry(t).or_default().push((i, m));
                }
            }
            // 2. Processing-time timers.
            if d.timer.is_some_and(|t| t <= Instant::now()) {
                d.timer = None;
                if !d.step(&mut output, &activator, |d, out| d.op.on_timer(out)) {
                    return;
                }
            }
            // 3. Advance the open epoch as far as the input frontier allows.
            let frontier: Option<Epoch> = frontiers.iter().filter_map(|f| f.frontier().first().copied()).min();
            loop {
                let Some(open) = d.cap.as_ref().map(|c| *c.time()) else { return };
                let next_stash = d.stash.keys().next().copied();
                let target = match (next_stash, frontier) {
                    (Some(s), Some(f)) => Some(s.min(f)),
                    (Some(s), None) => Some(s),
                    (None, f) => f,
                };
                match target {
                    Some(t) if t <= open => {
                        if let Some(events) = d.stash.remove(&t) {
                            for (i, m) in events {
                                if !d.step(&mut output, &activator, |d, out| d.deliver(i, t, m, out)) {
                                    return;
                                }
                            }
                            continue;
                        }
                        break;
                    }
                    Some(t) => {
                        // Every event before `t` has been delivered.
                        if checkpoint_of(t) > checkpoint_of(open)
                            && !d.step(&mut output, &activator, |d, out| d.checkpoint(checkpoint_of(t) - 1, out))
                        {
                            return;
                        }
                        if let Some(c) = d.cap.as_mut() {
                            c.downgrade(&t);
                        }
                        if d.stash.contains_key(&t) {
                            continue;
                        }
                        break;
                    }
                    None => {
                        // Every input has ended.
                        for t in d.trackers.iter_mut() {
                            t.finish();
                        }
                        let mut done = false;
                        if !d.step(&mut output, &activator, |d, out| d.close(out).map(|x| done = x)) {
                            return;
                        }
                        if done {
                            d.cap = None;
                        } else {
                            // Waiting for the final checkpoint: keep the operator alive (and the
                            // worker stepping) without holding back the probe, which other
                            // sources still need for flow control until they end.
                            if let Some(c) = d.cap.as_mut() {
                                c.downgrade(&(Epoch::MAX - 1));
                            }
                            activator.activate_after(Duration::from_millis(10));
                        }
                        return;
                    }
                }
            }
        }
    });
    stream
}
