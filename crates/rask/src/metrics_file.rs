//! `--metrics-file`: the job's operator metrics written as JSON every second (and when the job
//! ends), replaced atomically, for `rask server` to expose. One file per process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rask_runtime::metrics::JobMetrics;
use rask_types::WATERMARK_MIN;

pub struct MetricsFile {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// The metrics as JSON: per plan node its name and counters (summed over this process's
/// subtasks), watermark (their minimum; absent before the first), busy time and state size in
/// the latest checkpoint; and that checkpoint's figures.
pub fn snapshot(m: &JobMetrics) -> serde_json::Value {
    let ck = m.checkpoint_stats();
    let state_bytes = |id: usize| ck.as_ref().and_then(|c| c.last_node_bytes.iter().find(|(n, _)| *n == id).map(|(_, b)| *b));
    let nodes: Vec<serde_json::Value> = m
        .nodes
        .iter()
        .enumerate()
        .map(|(id, n)| {
            let wm = n.watermarks.iter().map(|w| w.load(Ordering::Relaxed)).min().filter(|w| *w > WATERMARK_MIN);
            let input_wm = n.input_watermarks.iter().map(|w| w.load(Ordering::Relaxed)).min().filter(|w| *w > WATERMARK_MIN);
            serde_json::json!({
                "id": id,
                "name": n.name,
                "source": n.is_source,
                "sink": n.is_sink,
                "records_in": n.records_in.load(Ordering::Relaxed),
                "records_out": n.records_out.load(Ordering::Relaxed),
                "watermark_ms": wm,
                "input_watermark_ms": input_wm,
                "late_records_dropped": n.late_records_dropped.load(Ordering::Relaxed),
                "skipped_records": n.source.skipped_records.load(Ordering::Relaxed),
                // A source's bytes in are what it read from the external system.
                "bytes_in": if n.is_source { n.source.bytes_read.load(Ordering::Relaxed) } else { n.bytes_in.load(Ordering::Relaxed) },
                "bytes_out": n.bytes_out.load(Ordering::Relaxed),
                "pending_records": (n.source.pending_reporters.load(Ordering::Relaxed) > 0).then(|| n.source.pending_records.load(Ordering::Relaxed)),
                "checkpoint_align_max_us": n.checkpoint_align_max_us.load(Ordering::Relaxed),
                "checkpoint_sync_max_us": n.checkpoint_sync_max_us.load(Ordering::Relaxed),
                "busy_us": n.busy_us.load(Ordering::Relaxed),
                "state_bytes": state_bytes(id),
            })
        })
        .collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let checkpoint = ck.filter(|c| c.completed > 0).map(|c| {
        serde_json::json!({
            "completed": c.completed,
            "id": c.last_id,
            "completed_ms": c.last_completed_ms,
            "duration_ms": c.last_duration.as_millis() as u64,
            "bytes": c.last_bytes,
            "full_bytes": c.last_full_bytes,
        })
    });
    serde_json::json!({ "time_ms": now, "subtasks": m.local_workers, "nodes": nodes, "checkpoint": checkpoint })
}

fn write(path: &PathBuf, m: &JobMetrics) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, snapshot(m).to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

impl MetricsFile {
    pub fn start(metrics: Arc<JobMetrics>, path: Option<PathBuf>) -> MetricsFile {
        let stop = Arc::new(AtomicBool::new(false));
        let Some(path) = path else { return MetricsFile { stop, handle: None } };
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                write(&path, &metrics);
                for _ in 0..10 {
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            write(&path, &metrics);
        });
        MetricsFile { stop, handle: Some(handle) }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
