//! `/metrics`: Prometheus text exposition of every running deployment's per-operator metrics
//! (from its workers' metrics files, summed over processes; watermarks as their minimum) and
//! of each deployment's state and restarts.

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
        // Sum counters over the worker processes; watermarks are the minimum.
        let mut nodes: std::collections::BTreeMap<u64, (String, [u64; 4], Option<i64>, u64)> = Default::default();
        for snap in s.jobs.metrics(&d.id) {
            for n in snap["nodes"].as_array().into_iter().flatten() {
                let id = n["id"].as_u64().unwrap_or(0);
                let e = nodes.entry(id).or_insert_with(|| (n["name"].as_str().unwrap_or("").to_string(), [0; 4], None, 0));
                for (i, k) in ["records_in", "records_out", "late_records_dropped", "skipped_records"].iter().enumerate() {
                    e.1[i] += n[*k].as_u64().unwrap_or(0);
                }
                if let Some(w) = n["watermark_ms"].as_i64() {
                    e.2 = Some(e.2.map_or(w, |x: i64| x.min(w)));
                }
                e.3 = e.3.max(n["checkpoint_align_max_us"].as_u64().unwrap_or(0));
            }
        }
        for (id, (name, c, wm, al)) in nodes {
            let node = id.to_string();
            let labels = [d.name.as_str(), node.as_str(), name.as_str()];
            records_in.with_label_values(&labels).inc_by(c[0]);
            records_out.with_label_values(&labels).inc_by(c[1]);
            late.with_label_values(&labels).inc_by(c[2]);
            skipped.with_label_values(&labels).inc_by(c[3]);
            if let Some(w) = wm {
                watermark.with_label_values(&labels).set(w as f64);
            }
            align.with_label_values(&labels).set(al as f64);
        }
    }
    let mut buf = Vec::new();
    TextEncoder::new().encode(&reg.gather(), &mut buf).map_err(internal)?;
    String::from_utf8(buf).map_err(|e| ServerError::Internal(e.to_string()))
}
