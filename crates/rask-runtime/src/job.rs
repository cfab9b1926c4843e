//! Running a job: builds the timely configuration (one worker, N threads, or a cluster of
//! processes over TCP), builds the dataflow on every worker, steps the workers until the
//! bounded input is exhausted, the job is cancelled, or an operator fails.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_sql::StreamPlan;
use timely::dataflow::ProbeHandle;
use timely::{CommunicationConfig, WorkerConfig};

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
}

#[derive(Debug, Clone)]
pub struct JobSummary {
    pub elapsed: Duration,
    pub records_in: u64,
    pub records_out: u64,
    pub skipped: u64,
    pub cancelled: bool,
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
    };
    let shared = Arc::new(Shared::new(metrics.clone(), opts.cancel.clone()));
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
    let config = timely::Config { communication, worker: WorkerConfig::default() };
    let start = Instant::now();
    let sh = shared.clone();
    let guards = timely::execute(config, move |worker| {
        let probe = ProbeHandle::<Epoch>::new();
        let local_index = worker.index() - first_local;
        let plan = plan.clone();
        let built = worker.dataflow::<Epoch, _, _>(|scope| build_dataflow(scope, &plan, &registry, &cfg, &sh, &probe, local_index));
        if let Err(e) = built {
            sh.fail(e);
            return;
        }
        while !probe.done() {
            if sh.stopped() {
                break;
            }
            worker.step_or_park(Some(Duration::from_millis(20)));
        }
    })
    .map_err(|e| RuntimeError::External(format!("cannot start the timely cluster: {e}")))?;
    for g in guards.join() {
        if let Err(e) = g {
            shared.fail(RuntimeError::Internal(format!("a worker thread panicked: {e}")));
        }
    }
    if let Some(e) = shared.take_failure() {
        return Err(e);
    }
    Ok(JobSummary {
        elapsed: start.elapsed(),
        records_in: metrics.source_records(),
        records_out: metrics.sink_records(),
        skipped: metrics.skipped_records(),
        cancelled: opts.cancel.load(std::sync::atomic::Ordering::Relaxed),
    })
}
