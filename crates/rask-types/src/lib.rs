//! Rask's shared vocabulary, depended on by every other crate: Flink SQL types and their Arrow
//! representation, changelog row kinds and the batch that flows between operators, stable key
//! hashing into key groups, connector option specifications, and the fault classification used
//! by every crate's error type.

pub mod batch;
pub mod column_use;
pub mod error;
pub mod keygroup;
pub mod options;
pub mod types;
pub mod value_fmt;

pub use batch::{RowKind, SplitTag, StreamBatch};
pub use column_use::ColumnUse;
pub use error::{Fault, Pos};
pub use types::FlinkType;

/// Watermark value meaning "no watermark yet" (Flink's Long.MIN_VALUE).
pub const WATERMARK_MIN: i64 = i64::MIN;
/// Watermark emitted at the end of bounded input (Flink's Long.MAX_VALUE): fires every timer.
pub const WATERMARK_MAX: i64 = i64::MAX;

thread_local! {
    static CURRENT_WATERMARK: std::cell::Cell<i64> = const { std::cell::Cell::new(WATERMARK_MIN) };
}

/// The input watermark of the operator running on this thread (set by the engine before each
/// operator callback; read by `CURRENT_WATERMARK(ts)`).
pub fn set_current_watermark(wm: i64) {
    CURRENT_WATERMARK.with(|c| c.set(wm));
}

/// Wall-clock time in milliseconds since the epoch (processing time, checkpoint clocks).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// See [`set_current_watermark`]; [`WATERMARK_MIN`] when the operator has none yet.
pub fn current_watermark() -> i64 {
    CURRENT_WATERMARK.with(|c| c.get())
}

/// A crash point for failure tests: when `RASK_FAILPOINT` is `<name>:<file>` and `<file>` does
/// not exist yet, create it and abort the process (as a SIGKILL would end it), so a test can
/// fail a job once at an exact moment that random kills rarely hit. Unset: does nothing.
pub fn failpoint(name: &str) {
    let Ok(spec) = std::env::var("RASK_FAILPOINT") else { return };
    let Some((n, file)) = spec.split_once(':') else { return };
    if n == name && std::fs::OpenOptions::new().write(true).create_new(true).open(file).is_ok() {
        eprintln!("failpoint '{name}' reached: aborting the process");
        std::process::abort();
    }
}
