//! Live progress of a running job: a refreshing status line on a terminal, periodic log lines
//! otherwise, and the final summary.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rask_runtime::metrics::JobMetrics;
use rask_types::WATERMARK_MAX;

pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    tty: bool,
}

fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

fn watermark_text(w: Option<i64>) -> String {
    match w {
        None => "-".into(),
        Some(WATERMARK_MAX) => "end".into(),
        Some(ms) => chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| ms.to_string()),
    }
}

impl Progress {
    /// `mode`: auto | plain | none.
    pub fn start(metrics: Arc<JobMetrics>, mode: &str, label: String) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let tty = mode == "auto" && std::io::stderr().is_terminal();
        if mode == "none" {
            return Progress { stop, handle: None, tty: false };
        }
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let (mut last_in, mut last_out, mut last_t) = (0u64, 0u64, Instant::now());
            let period = if tty { Duration::from_millis(500) } else { Duration::from_secs(10) };
            let mut next = Instant::now() + period;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if Instant::now() < next {
                    continue;
                }
                next += period;
                let (i, o) = (metrics.source_records(), metrics.sink_records());
                let dt = last_t.elapsed().as_secs_f64().max(1e-3);
                let line = format!(
                    "{label} {:>7.1}s | in {} ({}/s) | out {} ({}/s) | watermark {}",
                    start.elapsed().as_secs_f64(),
                    human(i as f64),
                    human((i - last_in) as f64 / dt),
                    human(o as f64),
                    human((o - last_out) as f64 / dt),
                    watermark_text(metrics.sink_watermark()),
                );
                (last_in, last_out, last_t) = (i, o, Instant::now());
                let mut err = std::io::stderr().lock();
                if tty {
                    let _ = write!(err, "\r\x1b[2K{line}");
                } else {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
        });
        Progress { stop, handle: Some(handle), tty }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

pub fn summary(s: &rask_runtime::JobSummary) -> String {
    let secs = s.elapsed.as_secs_f64().max(1e-6);
    format!(
        "Job {} in {:.2} s: {} rows read ({}/s), {} rows written{}",
        if s.cancelled { "cancelled" } else { "finished" },
        secs,
        s.records_in,
        human(s.records_in as f64 / secs),
        s.records_out,
        if s.skipped > 0 { format!(", {} malformed records skipped", s.skipped) } else { String::new() }
    ) + &if s.late_dropped > 0 { format!(", {} late records dropped", s.late_dropped) } else { String::new() }
        + &if s.lookups != (0, 0) { format!(", {} keys looked up ({} more served from the lookup cache)", s.lookups.0, s.lookups.1) } else { String::new() }
        + &if s.window_fire_max_us > 0 {
            format!(", windows emitted within {:.1} ms of their watermark", s.window_fire_max_us as f64 / 1000.0)
        } else {
            String::new()
        }
        + &match (&s.checkpoints, s.restored_from) {
            (Some(c), _) if c.completed > 0 => format!(
                "; {} checkpoint{} completed (last: {}, {} in {:.0} ms; longest alignment {:.1} ms, synchronous snapshot {:.1} ms)",
                c.completed,
                if c.completed == 1 { "" } else { "s" },
                checkpoint_name(c.last_id),
                if c.last_full_bytes > c.last_bytes {
                    format!("{} written of {}", human_bytes(c.last_bytes), human_bytes(c.last_full_bytes))
                } else {
                    human_bytes(c.last_bytes)
                },
                c.last_duration.as_secs_f64() * 1000.0,
                s.checkpoint_align_max_us as f64 / 1000.0,
                s.checkpoint_sync_max_us as f64 / 1000.0
            ),
            _ => String::new(),
        }
        + &s.restored_from.map(|id| format!("; restored from {}", checkpoint_name(id))).unwrap_or_default()
}

fn checkpoint_name(id: u64) -> String {
    if id == rask_runtime::job::FINAL_CHECKPOINT { "the final checkpoint".into() } else { format!("chk-{id}") }
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
