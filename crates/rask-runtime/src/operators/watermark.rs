//! Watermark assigner for `WATERMARK FOR ts AS expr`: tracks the maximum of `expr` over the
//! rows seen and emits it as the watermark every `pipeline.auto-watermark-interval` (200 ms
//! by default), as Flink's periodic watermark generator does. Upstream watermarks are ignored
//! except the end-of-input one. With `table.exec.source.idle-timeout`, a subtask that sees no
//! rows for that long declares itself idle so it does not hold back the watermark downstream.
//!
//! **Per-split watermarks**: batches of a source whose reader owns several splits (Kafka
//! partitions) carry a [`SplitTag`]; then, as Flink's sources do, each split has its own
//! maximum, the watermark is the minimum over the splits that are not idle — a split that has
//! not produced a row yet holds it back — and a split without rows for the idle timeout is
//! idle; when every split is idle, so is the subtask. Watermarks of split-tagged input are only
//! emitted periodically (Flink generates them in the source, on the periodic emit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType};
use datafusion_physical_expr::PhysicalExpr;
use rask_types::{SplitTag, StreamBatch, WATERMARK_MAX};

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct WatermarkAssigner {
    name: String,
    expr: Arc<dyn PhysicalExpr>,
    rowtime: usize,
    /// Emit a watermark right after every row that advances it (as Flink does) even when no
    /// row of the batch could be affected: needed when the job reads `CURRENT_WATERMARK`.
    per_row: bool,
    interval: Duration,
    idle_timeout: Option<Duration>,
    /// The expression is `rowtime - <fixed interval>` (the usual bounded out-of-orderness):
    /// the interval in ms, so that the rowtime column is read instead of evaluating `expr`.
    rowtime_minus: Option<i64>,
    /// Largest watermark candidate seen (ms since epoch).
    max_candidate: i64,
    emitted: i64,
    last_row: Instant,
    idle: bool,
    timer_armed: bool,
    /// Per-split state, once a split-tagged batch told which splits the reader owns.
    splits: Vec<SplitState>,
    /// When the operator opened: a split's idleness counts from then until its first row
    /// (as Flink's idleness timer counts from the split's assignment).
    opened: Instant,
}

struct SplitState {
    id: u32,
    /// Largest candidate of the split (`None`: no row yet).
    max: Option<i64>,
    last_row: Instant,
    idle: bool,
}

impl WatermarkAssigner {
    pub fn new(name: String, expr: Arc<dyn PhysicalExpr>, rowtime: usize, per_row: bool, interval: Duration, idle_timeout: Option<Duration>) -> Self {
        WatermarkAssigner {
            name,
            rowtime_minus: rowtime_minus_ms(&expr, rowtime),
            expr,
            rowtime,
            per_row,
            interval,
            idle_timeout,
            // Flink's assigner starts both at 0: no watermark before the epoch is ever emitted
            // (rows before 1970 are never late) until the end of input.
            max_candidate: 0,
            emitted: 0,
            last_row: Instant::now(),
            idle: false,
            timer_armed: false,
            splits: Vec::new(),
            opened: Instant::now(),
        }
    }

    /// Per-split: record `batch_max` for the batch's split; learns the splits on first sight.
    fn on_split_batch(&mut self, tag: &SplitTag, batch_max: Option<i64>) {
        let now = Instant::now();
        for id in tag.splits.iter() {
            if !self.splits.iter().any(|s| s.id == *id) {
                self.splits.push(SplitState { id: *id, max: None, last_row: self.opened, idle: false });
            }
        }
        if let Some(s) = self.splits.iter_mut().find(|s| s.id == tag.split) {
            s.last_row = now;
            s.idle = false;
            if let Some(m) = batch_max {
                s.max = Some(s.max.map_or(m, |x| x.max(m)));
            }
        }
    }

    /// Per-split: raise the candidate to the minimum over active splits (none while one has no
    /// row yet, or all are idle).
    fn advance_to_splits(&mut self) {
        let mut active = self.splits.iter().filter(|s| !s.idle).peekable();
        if active.peek().is_none() {
            return;
        }
        if let Some(w) = active.map(|s| s.max).try_fold(i64::MAX, |acc, m| m.map(|m| acc.min(m))) {
            self.max_candidate = self.max_candidate.max(w);
        }
    }

    fn arm(&mut self, out: &mut Emitter) {
        if !self.timer_armed {
            out.wake_after(self.interval);
            self.timer_armed = true;
        }
    }
}

/// `Some(ms)` when `e` is `column(rowtime) - INTERVAL` with a whole number of milliseconds and
/// no months (whose length varies).
fn rowtime_minus_ms(e: &Arc<dyn PhysicalExpr>, rowtime: usize) -> Option<i64> {
    use datafusion_common::ScalarValue;
    use datafusion_expr::Operator as Op;
    use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal};
    let b = e.downcast_ref::<BinaryExpr>()?;
    if *b.op() != Op::Minus || b.left().downcast_ref::<Column>()?.index() != rowtime {
        return None;
    }
    match b.right().downcast_ref::<Literal>()?.value() {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 && v.nanoseconds % 1_000_000 == 0 => {
            Some(i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(v)) => Some(i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds)),
        _ => None,
    }
}

/// Maximum timestamp of an array, in milliseconds.
pub fn max_millis(a: &dyn Array) -> Result<Option<i64>> {
    Ok(match a.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => arrow::compute::max(a.as_primitive::<TimestampMillisecondType>()),
        DataType::Timestamp(TimeUnit::Second, _) => arrow::compute::max(a.as_primitive::<TimestampSecondType>()).map(|v| v * 1000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            arrow::compute::max(a.as_primitive::<TimestampMicrosecondType>()).map(|v| v.div_euclid(1000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            arrow::compute::max(a.as_primitive::<TimestampNanosecondType>()).map(|v| v.div_euclid(1_000_000))
        }
        other => return Err(RuntimeError::Internal(format!("watermark expression produced {other}"))),
    })
}

impl Operator for WatermarkAssigner {
    fn on_open(&mut self, out: &mut Emitter) -> Result<()> {
        // A subtask that never receives a row must still become idle after the timeout.
        self.last_row = Instant::now();
        self.opened = self.last_row;
        if self.idle_timeout.is_some() {
            self.arm(out);
        }
        Ok(())
    }

    fn on_batch(&mut self, _input: usize, mut batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let arr = match self.rowtime_minus {
            Some(_) => batch.data.column(self.rowtime).clone(),
            None => {
                let v = self.expr.evaluate(&batch.data).map_err(|e| RuntimeError::from(e).context(&self.name))?;
                v.into_array(batch.num_rows()).map_err(|e| RuntimeError::from(e).context(&self.name))?
            }
        };
        // Watermark candidate of a row = `arr` value - `minus`.
        let minus = self.rowtime_minus.unwrap_or(0);
        self.last_row = Instant::now();
        self.idle = false;
        // As Flink's WatermarkAssignerOperator: besides the periodic emission, a watermark is
        // emitted right after the row that advances it by more than the interval (in event
        // time), so rows behind it in the same batch already see it.
        let interval = self.interval.as_millis() as i64;
        let batch_max = max_millis(arr.as_ref())?.map(|m| m.saturating_sub(minus));
        if let Some(tag) = batch.split.take() {
            self.on_split_batch(&tag, batch_max);
            self.advance_to_splits();
            out.emit(batch);
            self.arm(out);
            return Ok(());
        }
        let fast = batch_max.is_none_or(|m| m.max(self.max_candidate) - self.emitted <= interval);
        if fast || self.emitted == WATERMARK_MAX {
            if let Some(m) = batch_max {
                self.max_candidate = self.max_candidate.max(m);
            }
            out.emit(batch);
        } else {
            let values = crate::operators::window_tvf::to_millis(&arr)?;
            let rowtimes = crate::operators::window_tvf::to_millis(batch.data.column(self.rowtime))?;
            // A watermark Flink would have emitted after an earlier row of this batch and that
            // has not been sent yet: it is sent before the first later row it could make late
            // (rowtime <= watermark + 1, the widest lateness test of any operator), or with the
            // row itself when exact per-row watermarks are needed (`CURRENT_WATERMARK`).
            // Otherwise the batch stays whole and the watermark follows it.
            let mut pending: Option<i64> = None;
            let mut start = 0;
            for (i, v) in values.iter().enumerate() {
                if let (Some(w), Some(t)) = (pending, rowtimes[i])
                    && t <= w.saturating_add(1)
                {
                    out.emit(batch.slice(start, i - start));
                    out.watermark(w);
                    pending = None;
                    start = i;
                }
                let Some(v) = v else { continue };
                self.max_candidate = self.max_candidate.max(v.saturating_sub(minus));
                if self.max_candidate - self.emitted > interval {
                    self.emitted = self.max_candidate;
                    if self.per_row {
                        out.emit(batch.slice(start, i + 1 - start));
                        out.watermark(self.emitted);
                        start = i + 1;
                    } else {
                        pending = Some(self.emitted);
                    }
                }
            }
            if start < batch.num_rows() {
                out.emit(batch.slice(start, batch.num_rows() - start));
            }
            if let Some(w) = pending {
                out.watermark(w);
            }
        }
        self.arm(out);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        if watermark == WATERMARK_MAX {
            self.emitted = WATERMARK_MAX;
            out.watermark(WATERMARK_MAX);
        }
        Ok(())
    }

    fn on_idle(&mut self, _out: &mut Emitter) -> Result<()> {
        // Idleness is decided here from the rows seen, not inherited from the source.
        Ok(())
    }

    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        self.timer_armed = false;
        if self.emitted == WATERMARK_MAX {
            return Ok(());
        }
        if let Some(t) = self.idle_timeout {
            // Splits without rows for the timeout stop holding the watermark back.
            let mut changed = false;
            for s in self.splits.iter_mut().filter(|s| !s.idle && s.last_row.elapsed() >= t) {
                s.idle = true;
                changed = true;
            }
            if changed {
                self.advance_to_splits();
            }
        }
        let all_splits_idle = !self.splits.is_empty() && self.splits.iter().all(|s| s.idle);
        if self.max_candidate > self.emitted {
            self.emitted = self.max_candidate;
            out.watermark(self.emitted);
        } else if let Some(t) = self.idle_timeout
            && !self.idle
            && (self.last_row.elapsed() >= t || all_splits_idle)
        {
            self.idle = true;
            out.idle();
        }
        if !self.idle {
            self.arm(out);
        }
        Ok(())
    }

    fn on_close(&mut self, out: &mut Emitter) -> Result<()> {
        if self.emitted != WATERMARK_MAX {
            out.watermark(WATERMARK_MAX);
        }
        Ok(())
    }
}
