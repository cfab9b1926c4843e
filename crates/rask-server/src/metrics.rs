//! Job metrics. `/metrics`: Prometheus text exposition of every running deployment's
//! per-operator metrics (from its workers' metrics files, summed over processes; watermarks as
//! their minimum) and of each deployment's state and restarts. Time series for charts: a
//! sampler keeps, per deployment, one sample a second of the last hour (records read and
//! written with their rates, the sinks' watermark and its lag behind the clock), served with
//! the current per-operator figures at `/api/v1/deployments/{id}/metrics`.

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
    let watermark = GaugeVec::new(Opts::new("rask_operator_watermark_ms", "The operator's output watermark (epoch ms; minimum over subtasks)."), &op).map_err(internal)?;
    reg.register(Box::new(watermark.clone())).map_err(internal)?;
    let align = GaugeVec::new(Opts::new("rask_operator_checkpoint_alignment_max_us", "Longest checkpoint alignment of the operator (µs)."), &op).map_err(internal)?;
    reg.register(Box::new(align.clone())).map_err(internal)?;
    let up = IntGaugeVec::new(Opts::new("rask_deployment_running", "1 while the deployment's job runs."), &["deployment", "state"]).map_err(internal)?;
    reg.register(Box::new(up.clone())).map_err(internal)?;
    let restarts = IntGaugeVec::new(Opts::new("rask_deployment_restarts", "Worker restarts of the deployment's current run."), &["deployment"]).map_err(internal)?;
    reg.register(Box::new(restarts.clone())).map_err(internal)?;
    for d in s.store.deployments().await? {
        let running = matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::RESTARTING);
        up.with_label_values(&[d.name.as_str(), d.state.as_str()]).set(i64::from(running));
        restarts.with_label_values(&[d.name.as_str()]).set(d.restarts);
        if !running {
            continue;
        }
        for o in operators(&s.jobs.metrics(&d.id)) {
            let node = o.node.to_string();
            let labels = [d.name.as_str(), node.as_str(), o.name.as_str()];
            records_in.with_label_values(&labels).inc_by(o.records_in);
            records_out.with_label_values(&labels).inc_by(o.records_out);
            late.with_label_values(&labels).inc_by(o.late_records_dropped);
            skipped.with_label_values(&labels).inc_by(o.skipped_records);
            if let Some(w) = o.watermark_ms {
                watermark.with_label_values(&labels).set(w as f64);
            }
            align.with_label_values(&labels).set(o.checkpoint_alignment_max_us as f64);
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
    pub records_in: u64,
    pub records_out: u64,
    pub late_records_dropped: u64,
    pub skipped_records: u64,
    /// Output watermark, minimum over subtasks; absent before the first watermark.
    pub watermark_ms: Option<i64>,
    /// The watermark reaching the operator (for a sink: how far its output is complete).
    pub input_watermark_ms: Option<i64>,
    pub checkpoint_alignment_max_us: u64,
    pub source: bool,
    pub sink: bool,
}

/// The operators of a deployment's running job, from its workers' metrics files.
pub fn operators(snapshots: &[serde_json::Value]) -> Vec<OperatorMetrics> {
    let mut by_id: std::collections::BTreeMap<u64, OperatorMetrics> = Default::default();
    for snap in snapshots {
        for n in snap["nodes"].as_array().into_iter().flatten() {
            let id = n["id"].as_u64().unwrap_or(0);
            let e = by_id.entry(id).or_insert_with(|| OperatorMetrics {
                node: id,
                name: n["name"].as_str().unwrap_or("").to_string(),
                records_in: 0,
                records_out: 0,
                late_records_dropped: 0,
                skipped_records: 0,
                watermark_ms: None,
                input_watermark_ms: None,
                checkpoint_alignment_max_us: 0,
                source: n["source"].as_bool().unwrap_or(false),
                sink: n["sink"].as_bool().unwrap_or(false),
            });
            e.records_in += n["records_in"].as_u64().unwrap_or(0);
            e.records_out += n["records_out"].as_u64().unwrap_or(0);
            e.late_records_dropped += n["late_records_dropped"].as_u64().unwrap_or(0);
            e.skipped_records += n["skipped_records"].as_u64().unwrap_or(0);
            if let Some(w) = n["watermark_ms"].as_i64() {
                e.watermark_ms = Some(e.watermark_ms.map_or(w, |x| x.min(w)));
            }
            if let Some(w) = n["input_watermark_ms"].as_i64() {
                e.input_watermark_ms = Some(e.input_watermark_ms.map_or(w, |x| x.min(w)));
            }
            e.checkpoint_alignment_max_us = e.checkpoint_alignment_max_us.max(n["checkpoint_align_max_us"].as_u64().unwrap_or(0));
        }
    }
    by_id.into_values().collect()
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
}

/// The last hour of samples per deployment.
#[derive(Clone, Default)]
pub struct Series {
    samples: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<Sample>>>>,
}

/// One sample a second, an hour's worth.
const KEEP: usize = 3600;

impl Series {
    pub fn get(&self, id: &str) -> Vec<Sample> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).get(id).map(|q| q.iter().cloned().collect()).unwrap_or_default()
    }

    /// Add a sample of deployment `id`'s operators.
    pub fn record(&self, id: &str, ops: &[OperatorMetrics]) {
        let now = crate::store::now_ms();
        let read: u64 = ops.iter().filter(|o| o.source).map(|o| o.records_out).sum();
        let written: u64 = ops.iter().filter(|o| o.sink).map(|o| o.records_in).sum();
        let watermark = ops.iter().filter(|o| o.sink).filter_map(|o| o.input_watermark_ms).min();
        let mut all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let q = all.entry(id.to_string()).or_default();
        let (read_per_s, written_per_s) = match q.back() {
            Some(p) if now > p.at && read >= p.records_read => {
                let dt = (now - p.at) as f64 / 1000.0;
                ((read - p.records_read) as f64 / dt, written.saturating_sub(p.records_written) as f64 / dt)
            }
            _ => (0.0, 0.0),
        };
        q.push_back(Sample { at: now, records_read: read, records_written: written, read_per_s, written_per_s, watermark_ms: watermark, watermark_lag_ms: watermark.map(|w| now - w) });
        while q.len() > KEEP {
            q.pop_front();
        }
    }
}

/// Sample every running deployment once a second.
pub async fn sample_forever(s: AppState) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Ok(all) = s.store.deployments().await else { continue };
        for d in all.iter().filter(|d| matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::RESTARTING)) {
            let ops = operators(&s.jobs.metrics(&d.id));
            if !ops.is_empty() {
                s.series.record(&d.id, &ops);
            }
        }
    }
}
