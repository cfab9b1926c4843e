//! Window table function operator (`TUMBLE`/`HOP`/`CUMULATE`): appends `window_start`,
//! `window_end` and `window_time` to each row, one output row per window the row belongs to.
//! A window that has already fired (its `window_time` is at or behind the current watermark) no
//! longer takes rows: such late rows are dropped and counted, as in Flink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use rask_sql::window_tvf::WindowSpec;
use rask_types::{StreamBatch, WATERMARK_MIN};

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct WindowAssign {
    time_col: usize,
    spec: WindowSpec,
    /// Drop rows whose windows have all fired (a standalone TVF); a window aggregation's slice
    /// assigner keeps them and lets the aggregation decide.
    drop_late: bool,
    schema: SchemaRef,
    watermark: i64,
    /// Rows dropped because every window they belong to has fired (the operator's
    /// `late_records_dropped` metric).
    late_dropped: Arc<AtomicU64>,
    windows: Vec<(i64, i64)>,
}

impl WindowAssign {
    pub fn new(time_col: usize, spec: WindowSpec, drop_late: bool, schema: SchemaRef, late_dropped: Arc<AtomicU64>) -> Self {
        WindowAssign { time_col, spec, drop_late, schema, watermark: WATERMARK_MIN, late_dropped, windows: Vec::new() }
    }
}

/// The time column as epoch milliseconds (nulls stay null).
fn to_millis(a: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let conv = |v: i64, unit: &TimeUnit| match unit {
        TimeUnit::Second => v * 1000,
        TimeUnit::Millisecond => v,
        TimeUnit::Microsecond => v.div_euclid(1000),
        TimeUnit::Nanosecond => v.div_euclid(1_000_000),
    };
    match a.data_type() {
        DataType::Timestamp(unit, _) => {
            let unit = *unit;
            let p: Vec<Option<i64>> = match unit {
                TimeUnit::Second => a.as_primitive::<arrow::datatypes::TimestampSecondType>().iter().collect(),
                TimeUnit::Millisecond => a.as_primitive::<arrow::datatypes::TimestampMillisecondType>().iter().collect(),
                TimeUnit::Microsecond => a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().iter().collect(),
                TimeUnit::Nanosecond => a.as_primitive::<arrow::datatypes::TimestampNanosecondType>().iter().collect(),
            };
            Ok(p.into_iter().map(|v| v.map(|v| conv(v, &unit))).collect())
        }
        other => Err(RuntimeError::Internal(format!("window time column has type {other}"))),
    }
}

impl Operator for WindowAssign {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let times = to_millis(batch.data.column(self.time_col))?;
        let mut rows = Vec::with_capacity(times.len());
        let (mut starts, mut ends) = (Vec::with_capacity(times.len()), Vec::with_capacity(times.len()));
        for (i, t) in times.iter().enumerate() {
            let Some(t) = t else {
                self.late_dropped.fetch_add(1, Ordering::Relaxed); // a row without event time belongs to no window
                continue;
            };
            self.spec.assign(*t, &mut self.windows);
            let mut kept = false;
            for (s, e) in &self.windows {
                if self.drop_late && e - 1 <= self.watermark {
                    continue; // this window has fired
                }
                rows.push(i as u32);
                starts.push(*s);
                ends.push(*e);
                kept = true;
            }
            if !kept {
                self.late_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let taken = batch.take(&UInt32Array::from(rows))?;
        let mut cols: Vec<ArrayRef> = taken.data.columns().to_vec();
        let wt_tz = match self.schema.field(self.schema.fields().len() - 1).data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
        cols.push(Arc::new(TimestampMillisecondArray::from(starts)));
        cols.push(Arc::new(TimestampMillisecondArray::from(ends)));
        cols.push(Arc::new(TimestampMillisecondArray::from(times).with_timezone_opt(wt_tz)));
        let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| RuntimeError::Internal(format!("window table function: {e}")))?;
        out.emit(taken.with_data(rb));
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        self.watermark = watermark;
        out.watermark(watermark);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use rask_sql::window_tvf::WindowKind;

    #[test]
    fn rows_of_fired_windows_are_dropped_and_counted() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let input = Arc::new(Schema::new(vec![Field::new("ts", ts.clone(), true)]));
        let out_schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts.clone(), true),
            Field::new("window_start", ts.clone(), false),
            Field::new("window_end", ts.clone(), false),
            Field::new("window_time", ts, false),
        ]));
        let spec = WindowSpec { kind: WindowKind::Hop, size: 6000, step: 2000, offset: 0 };
        let late = Arc::new(AtomicU64::new(0));
        let mut op = WindowAssign::new(0, spec, true, out_schema, late.clone());
        let mut out = Emitter::default();
        op.on_watermark(4999, &mut out).unwrap();
        // 1000 belongs to [-4000,2000), [-2000,4000), [0,6000): only the last has not fired.
        // 300 belongs to windows ending 2000 and 4000 (fired) and 6000: kept once.
        // -3000 belongs only to fired windows: dropped. A NULL time: dropped.
        let col = TimestampMillisecondArray::from(vec![Some(1000), Some(-3000), None, Some(300)]);
        let b = StreamBatch::inserts(RecordBatch::try_new(input, vec![Arc::new(col)]).unwrap());
        let mut out = Emitter::default();
        op.on_batch(0, b, &mut out).unwrap();
        let rows: usize = out.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 2);
        assert_eq!(late.load(Ordering::Relaxed), 2);
        let ends = out.batches[0].data.column(2).as_primitive::<arrow::datatypes::TimestampMillisecondType>().values().to_vec();
        assert_eq!(ends, vec![6000, 6000]);
    }
}
