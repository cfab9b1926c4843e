//! Job metrics. `/metrics`: Prometheus text exposition of every running deployment's
//! per-operator metrics (from its workers' metrics files, summed over processes; watermarks as
//! their minimum; busy ratio; state size), its latest checkpoint, and each deployment's state
//! and restarts. Time series for charts: a sampler keeps, per deployment, one sample a second
//! of the last hour (records read and written with their rates, the sinks' watermark and its
//! lag behind the clock, checkpoint duration and size, state size, the busiest operator),
//! served with the current per-operator figures at `/api/v1/deployments/{id}/metrics`.

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::error::{Result, ServerError};
use crate::AppState;

fn internal(e: prometheus::Error) -> ServerError {
    ServerError::Internal(format!("metrics: {e}"))
}

pub async fn render(s: &AppState) -> Result<String> {
    let reg = Registry::new();
    let op = ["deployment", "node", "operator"];
    let counter = |name: &str, help: &str| -> Result<IntCounterVec> {
        let c = IntCounterVec::new(Opts::new(name, help), &op).map_err(internal)?;
        reg.register(Box::new(c.clone())).map_err(internal)?;
        Ok(c)
    };
    let records_in = counter("rask_operator_records_in_total", "Records an operator received.")?;
    let records_out = counter("rask_operator_records_out_total", "Records an operator emitted.")?;
    let late = counter("rask_operator_late_records_dropped_total", "Records dropped as late (behind the watermark).")?;
    let skipped = counter("rask_source_skipped_records_total", "Source records skipped as unparsable (ignore-parse-errors).")?;
    let bytes_in = counter("rask_operator_bytes_in_total", "Bytes an operator received (Arrow column data; a source: bytes read from the external system).")?;
    let bytes_out = counter("rask_operator_bytes_out_total", "Bytes an operator emitted (Arrow column data).")?;
    let pending = IntGaugeVec::new(Opts::new("rask_source_pending_records", "Records in the external system a source has not read yet (Kafka consumer lag; Flink's pendingRecords)."), &op).map_err(internal)?;
    reg.register(Box::new(pending.clone())).map_err(internal)?;
    let watermark = GaugeVec::new(Opts::new("rask_operator_watermark_ms", "The operator's output watermark (epoch ms; minimum over subtasks)."), &op).map_err(internal)?;
    reg.register(Box::new(watermark.clone())).map_err(internal)?;
    let busy = GaugeVec::new(Opts::new("rask_operator_busy_ratio", "Share of the last second the operator's subtasks were busy (0-1; backpressure on its inputs near 1)."), &op).map_err(internal)?;
    reg.register(Box::new(busy.clone())).map_err(internal)?;
    let state = IntGaugeVec::new(Opts::new("rask_operator_state_bytes", "Size of the operator's state in the latest checkpoint."), &op).map_err(internal)?;
    reg.register(Box::new(state.clone())).map_err(internal)?;
    let ck_duration = IntGaugeVec::new(Opts::new("rask_checkpoint_last_duration_ms", "Duration of the latest completed checkpoint."), &["deployment"]).map_err(internal)?;
    reg.register(Box::new(ck_duration.clone())).map_err(internal)?;
    let ck_size = IntGaugeVec::new(Opts::new("rask_checkpoint_last_size_bytes", "Whole size of the latest completed checkpoint."), &["deployment"]).map_err(internal)?;
    reg.register(Box::new(ck_size.clone())).map_err(internal)?;
    let ck_count = IntGaugeVec::new(Opts::new("rask_checkpoints_completed", "Checkpoints the deployment's current run completed."), &["deployment"]).map_err(internal)?;
    reg.register(Box::new(ck_count.clone())).map_err(internal)?;
    let align = GaugeVec::new(Opts::new("rask_operator_checkpoint_alignment_max_us", "Longest checkpoint alignment of the operator (µs)."), &op).map_err(internal)?;
    reg.register(Box::new(align.clone())).map_err(internal)?;
    let up = IntGaugeVec::new(Opts::new("rask_deployment_running", "1 while the deployment's job runs."), &["deployment", "state"]).map_err(internal)?;
    reg.register(Box::new(up.clone())).map_err(internal)?;
    let restarts = IntGaugeVec::new(Opts::new("rask_deployment_restarts", "Worker restarts of the deployment's current run."), &["deployment"]).map_err(internal)?;
    reg.register(Box::new(restarts.clone())).map_err(internal)?;
    for d in s.store.deployments().await? {
        let running = matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::FAILING | crate::jobs::RESTARTING);
        up.with_label_values(&[d.name.as_str(), d.state.as_str()]).set(i64::from(running));
        restarts.with_label_values(&[d.name.as_str()]).set(d.restarts);
        if !running {
            continue;
        }
        let snap = s.series.latest(&d.id).unwrap_or_else(|| job_snapshot(&s.jobs.metrics(&d.id)));
        if let Some(c) = &snap.checkpoint {
            ck_duration.with_label_values(&[d.name.as_str()]).set(c.duration_ms as i64);
            ck_size.with_label_values(&[d.name.as_str()]).set(c.full_bytes as i64);
            ck_count.with_label_values(&[d.name.as_str()]).set(c.completed as i64);
        }
        for o in snap.operators {
            let node = o.node.to_string();
            let labels = [d.name.as_str(), node.as_str(), o.name.as_str()];
            records_in.with_label_values(&labels).inc_by(o.records_in);
            records_out.with_label_values(&labels).inc_by(o.records_out);
            late.with_label_values(&labels).inc_by(o.late_records_dropped);
            skipped.with_label_values(&labels).inc_by(o.skipped_records);
            bytes_in.with_label_values(&labels).inc_by(o.bytes_in);
            bytes_out.with_label_values(&labels).inc_by(o.bytes_out);
            if let Some(p) = o.pending_records {
                pending.with_label_values(&labels).set(p);
            }
            if let Some(w) = o.watermark_ms {
                watermark.with_label_values(&labels).set(w as f64);
            }
            align.with_label_values(&labels).set(o.checkpoint_alignment_max_us as f64);
            busy.with_label_values(&labels).set(o.busy_ratio);
            state.with_label_values(&labels).set(o.state_bytes as i64);
        }
    }
    let mut buf = Vec::new();
    TextEncoder::new().encode(&reg.gather(), &mut buf).map_err(internal)?;
    String::from_utf8(buf).map_err(|e| ServerError::Internal(e.to_string()))
}

/// One operator's current figures (summed over the job's worker processes).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OperatorMetrics {
    pub node: u64,
    pub name: String,
    /// Subtasks running the operator.
    pub parallelism: u64,
    pub records_in: u64,
    pub records_out: u64,
    /// Per second over the last sampling second.
    pub records_in_per_s: f64,
    pub records_out_per_s: f64,
    /// Bytes received and emitted (Arrow column data; a source's bytes in are what it read
    /// from the external system, where the connector counts them: Kafka, filesystem).
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub bytes_in_per_s: f64,
    pub bytes_out_per_s: f64,
    /// A source's records not read yet (Kafka consumer lag: end offsets minus positions);
    /// absent where the source does not know it.
    pub pending_records: Option<i64>,
    /// Share of the last second the operator's subtasks were busy (0–1; Flink's
    /// busyTimeMsPerSecond / 1000): near 1 it is the bottleneck and backpressures its inputs.
    pub busy_ratio: f64,
    /// Time its subtasks have worked so far (µs).
    pub busy_us: u64,
    pub late_records_dropped: u64,
    pub skipped_records: u64,
    /// Output watermark, minimum over subtasks; absent before the first watermark.
    pub watermark_ms: Option<i64>,
    /// The watermark reaching the operator (for a sink: how far its output is complete).
    pub input_watermark_ms: Option<i64>,
    /// Size of its state in the latest checkpoint.
    pub state_bytes: u64,
    pub checkpoint_alignment_max_us: u64,
    pub source: bool,
    pub sink: bool,
}

/// The latest completed checkpoint of a running job.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CheckpointFigures {
    pub id: u64,
    /// Checkpoints this run completed.
    pub completed: u64,
    pub completed_at: i64,
    pub duration_ms: u64,
    /// Bytes written for it, and its whole size with the shared (incremental) files.
    pub bytes: u64,
    pub full_bytes: u64,
}

/// A running deployment at a glance (the jobs list).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LiveStatus {
    /// When the current run started (epoch ms).
    pub started_at: i64,
    pub read_per_s: f64,
    pub written_per_s: f64,
    pub watermark_lag_ms: Option<i64>,
    /// The sources' records not read yet (Kafka consumer lag), where they know it.
    pub pending_records: Option<i64>,
    pub last_checkpoint: Option<CheckpointFigures>,
}

/// A running job's figures as its worker processes last wrote them.
#[derive(Debug, Clone, Default)]
pub struct JobSnapshot {
    pub at: i64,
    pub operators: Vec<OperatorMetrics>,
    pub checkpoint: Option<CheckpointFigures>,
}

/// The operators of a deployment's running job, from its workers' metrics files.
pub fn operators(snapshots: &[serde_json::Value]) -> Vec<OperatorMetrics> {
    job_snapshot(snapshots).operators
}

/// Sum the workers' metrics files into one snapshot of the job.
pub fn job_snapshot(snapshots: &[serde_json::Value]) -> JobSnapshot {
    let mut by_id: std::collections::BTreeMap<u64, OperatorMetrics> = Default::default();
    let mut at = 0;
    let mut checkpoint: Option<CheckpointFigures> = None;
    for snap in snapshots {
        at = at.max(snap["time_ms"].as_i64().unwrap_or(0));
        let subtasks = snap["subtasks"].as_u64().unwrap_or(1);
        let c = &snap["checkpoint"];
        if let Some(id) = c["id"].as_u64()
            && checkpoint.as_ref().is_none_or(|k| id >= k.id)
        {
            checkpoint = Some(CheckpointFigures {
                id,
                completed: c["completed"].as_u64().unwrap_or(0),
                completed_at: c["completed_ms"].as_i64().unwrap_or(0),
                duration_ms: c["duration_ms"].as_u64().unwrap_or(0),
                bytes: c["bytes"].as_u64().unwrap_or(0),
                full_bytes: c["full_bytes"].as_u64().unwrap_or(0),
            });
        }
        for n in snap["nodes"].as_array().into_iter().flatten() {
            let id = n["id"].as_u64().unwrap_or(0);
            let e = by_id.entry(id).or_insert_with(|| OperatorMetrics {
                node: id,
                name: n["name"].as_str().unwrap_or("").to_string(),
                parallelism: 0,
                records_in: 0,
                records_out: 0,
                records_in_per_s: 0.0,
                records_out_per_s: 0.0,
                bytes_in: 0,
                bytes_out: 0,
                bytes_in_per_s: 0.0,
                bytes_out_per_s: 0.0,
                pending_records: None,
                busy_ratio: 0.0,
                busy_us: 0,
                late_records_dropped: 0,
                skipped_records: 0,
                watermark_ms: None,
                input_watermark_ms: None,
                state_bytes: 0,
                checkpoint_alignment_max_us: 0,
                source: n["source"].as_bool().unwrap_or(false),
                sink: n["sink"].as_bool().unwrap_or(false),
            });
            e.parallelism += subtasks;
            e.records_in += n["records_in"].as_u64().unwrap_or(0);
            e.records_out += n["records_out"].as_u64().unwrap_or(0);
            e.busy_us += n["busy_us"].as_u64().unwrap_or(0);
            e.bytes_in += n["bytes_in"].as_u64().unwrap_or(0);
            e.bytes_out += n["bytes_out"].as_u64().unwrap_or(0);
            if let Some(p) = n["pending_records"].as_i64() {
                e.pending_records = Some(e.pending_records.unwrap_or(0) + p);
            }
            e.late_records_dropped += n["late_records_dropped"].as_u64().unwrap_or(0);
            e.skipped_records += n["skipped_records"].as_u64().unwrap_or(0);
            e.state_bytes = e.state_bytes.max(n["state_bytes"].as_u64().unwrap_or(0));
            if let Some(w) = n["watermark_ms"].as_i64() {
                e.watermark_ms = Some(e.watermark_ms.map_or(w, |x| x.min(w)));
            }
            if let Some(w) = n["input_watermark_ms"].as_i64() {
                e.input_watermark_ms = Some(e.input_watermark_ms.map_or(w, |x| x.min(w)));
            }
            e.checkpoint_alignment_max_us = e.checkpoint_alignment_max_us.max(n["checkpoint_align_max_us"].as_u64().unwrap_or(0));
        }
    }
    JobSnapshot { at, operators: by_id.into_values().collect(), checkpoint }
}

/// One sample of a deployment's series.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Sample {
    /// Epoch ms.
    pub at: i64,
    /// Records read by the sources and written by the sinks so far, and per second since the
    /// previous sample.
    pub records_read: u64,
    pub records_written: u64,
    pub read_per_s: f64,
    pub written_per_s: f64,
    /// The sinks' (minimum) input watermark and how far it is behind the clock.
    pub watermark_ms: Option<i64>,
    pub watermark_lag_ms: Option<i64>,
    /// The latest completed checkpoint's duration and whole size.
    pub checkpoint_duration_ms: Option<u64>,
    pub checkpoint_size_bytes: Option<u64>,
    /// State of all operators in the latest checkpoint.
    pub state_bytes: Option<u64>,
    /// The busiest operator's busy ratio (0–1).
    pub busy_max: f64,
    /// The sources' records not read yet (Kafka consumer lag), where they know it.
    pub pending_records: Option<i64>,
}

/// Per deployment: the last hour of samples, and the latest operator figures with rates.
#[derive(Clone, Default)]
pub struct Series {
    samples: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<Sample>>>>,
    latest: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, JobSnapshot>>>,
}

/// One sample a second, an hour's worth.
const KEEP: usize = 3600;

impl Series {
    pub fn get(&self, id: &str) -> Vec<Sample> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).get(id).map(|q| q.iter().cloned().collect()).unwrap_or_default()
    }

    /// The latest sample of a deployment.
    pub fn get_last(&self, id: &str) -> Option<Sample> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).get(id).and_then(|q| q.back().cloned())
    }

    /// The latest snapshot of a deployment's job, its rates computed against the one before.
    pub fn latest(&self, id: &str) -> Option<JobSnapshot> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Forget a deployment's latest figures (its job ended).
    pub fn ended(&self, id: &str) {
        self.latest.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Add a sample of deployment `id`'s job.
    pub fn record(&self, id: &str, mut snap: JobSnapshot) {
        let now = crate::store::now_ms();
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = latest.get(id)
            && snap.at > prev.at
        {
            let dt = (snap.at - prev.at) as f64 / 1000.0;
            for o in &mut snap.operators {
                if let Some(p) = prev.operators.iter().find(|p| p.node == o.node) {
                    o.records_in_per_s = o.records_in.saturating_sub(p.records_in) as f64 / dt;
                    o.records_out_per_s = o.records_out.saturating_sub(p.records_out) as f64 / dt;
                    o.bytes_in_per_s = o.bytes_in.saturating_sub(p.bytes_in) as f64 / dt;
                    o.bytes_out_per_s = o.bytes_out.saturating_sub(p.bytes_out) as f64 / dt;
                    let busy = o.busy_us.saturating_sub(p.busy_us) as f64 / 1e6;
                    o.busy_ratio = (busy / (dt * o.parallelism.max(1) as f64)).clamp(0.0, 1.0);
                }
            }
        } else if let Some(prev) = latest.get(id) {
            // The files did not change since the last second: keep the rates.
            snap = prev.clone();
        }
        let ops = &snap.operators;
        let read: u64 = ops.iter().filter(|o| o.source).map(|o| o.records_out).sum();
        let written: u64 = ops.iter().filter(|o| o.sink).map(|o| o.records_in).sum();
        let watermark = ops.iter().filter(|o| o.sink).filter_map(|o| o.input_watermark_ms).min();
        let busy_max = ops.iter().map(|o| o.busy_ratio).fold(0.0, f64::max);
        let pending = ops.iter().filter_map(|o| o.pending_records).reduce(|a, b| a + b);
        let state: u64 = ops.iter().map(|o| o.state_bytes).sum();
        let ck = snap.checkpoint.clone();
        latest.insert(id.to_string(), snap);
        drop(latest);
        let mut all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let q = all.entry(id.to_string()).or_default();
        let (read_per_s, written_per_s) = match q.back() {
            Some(p) if now > p.at && read >= p.records_read => {
                let dt = (now - p.at) as f64 / 1000.0;
                ((read - p.records_read) as f64 / dt, written.saturating_sub(p.records_written) as f64 / dt)
            }
            _ => (0.0, 0.0),
        };
        q.push_back(Sample {
            at: now,
            records_read: read,
            records_written: written,
            read_per_s,
            written_per_s,
            watermark_ms: watermark,
            watermark_lag_ms: watermark.map(|w| now - w),
            checkpoint_duration_ms: ck.as_ref().map(|c| c.duration_ms),
            checkpoint_size_bytes: ck.as_ref().map(|c| c.full_bytes),
            state_bytes: ck.as_ref().map(|_| state),
            busy_max,
            pending_records: pending,
        });
        while q.len() > KEEP {
            q.pop_front();
        }
    }
}

/// Fill in `d.live` when its job runs.
pub async fn with_live(s: &AppState, mut d: crate::store::Deployment) -> crate::error::Result<crate::store::Deployment> {
    if !matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::FAILING | crate::jobs::RESTARTING) {
        return Ok(d);
    }
    let events = s.store.events(&d.id).await?;
    let started_at = events.iter().rev().find(|e| e.message.contains("(worker pid")).map_or(d.updated_at, |e| e.at);
    let last = s.series.get_last(&d.id);
    d.live = Some(LiveStatus {
        started_at,
        read_per_s: last.as_ref().map_or(0.0, |l| l.read_per_s),
        written_per_s: last.as_ref().map_or(0.0, |l| l.written_per_s),
        watermark_lag_ms: last.as_ref().and_then(|l| l.watermark_lag_ms),
        pending_records: last.as_ref().and_then(|l| l.pending_records),
        last_checkpoint: s.series.latest(&d.id).and_then(|j| j.checkpoint),
    });
    Ok(d)
}

/// Sample every running deployment once a second, and follow its workers' restarts.
pub async fn sample_forever(s: AppState) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        s.jobs.follow_worker_events().await;
        let Ok(all) = s.store.deployments().await else { continue };
        for d in &all {
            if matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::FAILING | crate::jobs::RESTARTING) {
                let snap = job_snapshot(&s.jobs.metrics(&d.id));
                if !snap.operators.is_empty() {
                    s.series.record(&d.id, snap);
                }
            } else {
                s.series.ended(&d.id);
            }
        }
    }
}
