//! Live job metrics shared by the worker threads of one process: per operator records in/out
//! and output watermark, per source skipped records. Read by `rask run`'s progress display.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_sql::plan::{NodeKind, StreamPlan};
use rask_types::WATERMARK_MIN;

use crate::connector::SourceMetrics;

/// Counters of a lookup join.
#[derive(Debug, Default)]
pub struct LookupMetrics {
    /// Keys asked of the external table.
    pub lookups: AtomicU64,
    /// Keys answered from the cache.
    pub hits: AtomicU64,
}

#[derive(Debug)]
pub struct NodeMetrics {
    pub name: String,
    pub is_source: bool,
    pub is_sink: bool,
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Arrow bytes (the batches' column data) received and emitted.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Output watermark per local worker (ms; `i64::MIN` = none yet).
    pub watermarks: Vec<AtomicI64>,
    /// Combined input watermark per local worker (what the operator has seen).
    pub input_watermarks: Vec<AtomicI64>,
    pub source: Arc<SourceMetrics>,
    /// Records dropped because they arrived after the watermark passed their window (Flink's
    /// `numLateRecordsDropped`), summed over this process's instances.
    pub late_records_dropped: Arc<AtomicU64>,
    /// Longest time (µs) a window operator took from a watermark's arrival to having emitted
    /// the windows it closed (the latency a window result adds after its watermark).
    pub window_fire_max_us: Arc<AtomicU64>,
    /// Longest synchronous part of a checkpoint in this operator (µs): `on_checkpoint` plus
    /// taking the snapshot, during which the operator processes nothing.
    pub checkpoint_sync_max_us: AtomicU64,
    /// Longest checkpoint alignment in this operator (µs): from the first event after the
    /// barrier on one input (held back) to the barrier having passed on every input.
    pub checkpoint_align_max_us: AtomicU64,
    /// Lookup joins: keys looked up and cache hits.
    pub lookup: Arc<LookupMetrics>,
    /// Time (µs, summed over this process's subtasks) the operator spent working: its
    /// callbacks, or for a source its reader producing batches. Against the wall clock it
    /// gives Flink's busy/idle time (`busyTimeMsPerSecond`), the backpressure indicator.
    pub busy_us: AtomicU64,
    /// Sinks: (latency µs, rows) per received batch, the latency counted from when the first
    /// batch of its epoch left a source (an upper bound: epochs hold up to 16 source batches).
    pub latencies: Mutex<Vec<(u32, u32)>>,
}

impl NodeMetrics {
    pub fn record_latency(&self, latency: Duration, rows: usize) {
        if rows == 0 {
            return;
        }
        if let Ok(mut l) = self.latencies.lock() {
            l.push((latency.as_micros().min(u32::MAX as u128) as u32, rows.min(u32::MAX as usize) as u32));
        }
    }
}

pub struct JobMetrics {
    pub nodes: Vec<NodeMetrics>,
    /// Subtasks of each node in this process.
    pub local_workers: usize,
    /// The checkpoint coordinator, once the job runs with checkpoints (for their figures).
    pub checkpoints: std::sync::OnceLock<Arc<rask_state::Coordinator>>,
}

impl std::fmt::Debug for JobMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMetrics").field("nodes", &self.nodes).field("local_workers", &self.local_workers).finish()
    }
}

impl JobMetrics {
    pub fn new(plan: &StreamPlan, local_workers: usize) -> Self {
        JobMetrics {
            nodes: plan
                .nodes
                .iter()
                .map(|n| NodeMetrics {
                    name: n.name.clone(),
                    is_source: matches!(n.kind, NodeKind::Source { .. } | NodeKind::Values { .. }),
                    is_sink: matches!(n.kind, NodeKind::Sink { .. }),
                    records_in: AtomicU64::new(0),
                    records_out: AtomicU64::new(0),
                    bytes_in: AtomicU64::new(0),
                    bytes_out: AtomicU64::new(0),
                    watermarks: (0..local_workers).map(|_| AtomicI64::new(WATERMARK_MIN)).collect(),
                    input_watermarks: (0..local_workers).map(|_| AtomicI64::new(WATERMARK_MIN)).collect(),
                    source: Arc::new(SourceMetrics::default()),
                    late_records_dropped: Arc::new(AtomicU64::new(0)),
                    window_fire_max_us: Arc::new(AtomicU64::new(0)),
                    checkpoint_sync_max_us: AtomicU64::new(0),
                    checkpoint_align_max_us: AtomicU64::new(0),
                    lookup: Arc::new(LookupMetrics::default()),
                    busy_us: AtomicU64::new(0),
                    latencies: Mutex::new(Vec::new()),
                })
                .collect(),
            local_workers,
            checkpoints: std::sync::OnceLock::new(),
        }
    }

    /// Figures of the latest completed checkpoint (`None` without checkpoints).
    pub fn checkpoint_stats(&self) -> Option<rask_state::CheckpointStats> {
        self.checkpoints.get().map(|c| c.stats())
    }

    /// Rows read by all sources so far.
    pub fn source_records(&self) -> u64 {
        self.nodes.iter().filter(|n| n.is_source).map(|n| n.records_out.load(Ordering::Relaxed)).sum()
    }

    /// Rows written by all sinks so far.
    pub fn sink_records(&self) -> u64 {
        self.nodes.iter().filter(|n| n.is_sink).map(|n| n.records_in.load(Ordering::Relaxed)).sum()
    }

    /// Records skipped by `ignore-parse-errors`.
    pub fn skipped_records(&self) -> u64 {
        self.nodes.iter().map(|n| n.source.skipped_records.load(Ordering::Relaxed)).sum()
    }

    /// Late records dropped by all operators.
    pub fn late_records_dropped(&self) -> u64 {
        self.nodes.iter().map(|n| n.late_records_dropped.load(Ordering::Relaxed)).sum()
    }

    /// Keys the lookup joins asked their tables for, and keys they found in their caches.
    pub fn lookups(&self) -> (u64, u64) {
        let sum = |f: fn(&LookupMetrics) -> &AtomicU64| self.nodes.iter().map(|n| f(&n.lookup).load(Ordering::Relaxed)).sum();
        (sum(|l| &l.lookups), sum(|l| &l.hits))
    }

    /// The longest window firing (µs) of any window operator.
    pub fn checkpoint_align_max_us(&self) -> u64 {
        self.nodes.iter().map(|n| n.checkpoint_align_max_us.load(Ordering::Relaxed)).max().unwrap_or(0)
    }
    pub fn checkpoint_sync_max_us(&self) -> u64 {
        self.nodes.iter().map(|n| n.checkpoint_sync_max_us.load(Ordering::Relaxed)).max().unwrap_or(0)
    }
    pub fn window_fire_max_us(&self) -> u64 {
        self.nodes.iter().map(|n| n.window_fire_max_us.load(Ordering::Relaxed)).max().unwrap_or(0)
    }

    /// Median and 99th percentile (ms) of the end-to-end latency of the rows the sinks
    /// received, weighted by rows; `None` when no sink received rows.
    pub fn sink_latency_percentiles(&self) -> Option<(f64, f64)> {
        let mut all: Vec<(u32, u32)> = Vec::new();
        for n in self.nodes.iter().filter(|n| n.is_sink) {
            if let Ok(l) = n.latencies.lock() {
                all.extend_from_slice(&l);
            }
        }
        let total: u64 = all.iter().map(|(_, r)| *r as u64).sum();
        if total == 0 {
            return None;
        }
        all.sort_unstable();
        let at = |q: f64| {
            let want = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0u64;
            for (us, rows) in &all {
                seen += *rows as u64;
                if seen >= want {
                    return *us as f64 / 1000.0;
                }
            }
            all.last().map(|(us, _)| *us as f64 / 1000.0).unwrap_or(0.0)
        };
        Some((at(0.5), at(0.99)))
    }

    /// The lowest watermark arriving at any sink (`None` if no watermark yet).
    pub fn sink_watermark(&self) -> Option<i64> {
        self.nodes
            .iter()
            .filter(|n| n.is_sink)
            .flat_map(|n| n.input_watermarks.iter().map(|w| w.load(Ordering::Relaxed)))
            .filter(|w| *w != WATERMARK_MIN)
            .min()
    }
}

/// The bytes of a batch's column data (its slices of the buffers), as counted in
/// [`NodeMetrics::bytes_in`] / [`NodeMetrics::bytes_out`].
pub fn batch_bytes(b: &arrow::array::RecordBatch) -> u64 {
    b.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64).sum()
}
