//! Window table function operator (`TUMBLE`/`HOP`/`CUMULATE`): appends `window_start`,
//! `window_end` and `window_time` to each row, one output row per window the row belongs to.
//! As Flink's window table function, it does not look at the watermark (a row behind it still
//! gets its windows; lateness is decided by the window aggregation downstream); a row without
//! event time (NULL) belongs to no window and is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use rask_sql::window_tvf::WindowSpec;
use rask_types::StreamBatch;

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct WindowAssign {
    time_col: usize,
    spec: WindowSpec,
    schema: SchemaRef,
    /// Rows dropped because they have no event time (the operator's `late_records_dropped`).
    late_dropped: Arc<AtomicU64>,
    windows: Vec<(i64, i64)>,
}

impl WindowAssign {
    pub fn new(time_col: usize, spec: WindowSpec, schema: SchemaRef, late_dropped: Arc<AtomicU64>) -> Self {
        WindowAssign { time_col, spec, schema, late_dropped, windows: Vec::new() }
    }
}

/// The time column as epoch milliseconds (nulls stay null).
pub(crate) fn to_millis(a: &ArrayRef) -> Result<Vec<Option<i64>>> {
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
        let mut clock = self.spec.clock.localizer();
        for (i, t) in times.iter().enumerate() {
            let Some(t) = t else {
                self.late_dropped.fetch_add(1, Ordering::Relaxed); // a row without event time belongs to no window
                continue;
            };
            self.spec.assign(clock.local(*t), &mut self.windows);
            for (s, e) in &self.windows {
                rows.push(i as u32);
                starts.push(*s);
                ends.push(*e);
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
        // One zone conversion per window, not per row (rows of a batch mostly share windows).
        let mut last = (i64::MIN, 0);
        let times: Vec<i64> = ends
            .iter()
            .map(|e| {
                if last.0 != *e {
                    last = (*e, self.spec.window_time(*e));
                }
                last.1
            })
            .collect();
        cols.push(Arc::new(TimestampMillisecondArray::from(starts)));
        cols.push(Arc::new(TimestampMillisecondArray::from(ends)));
        cols.push(Arc::new(TimestampMillisecondArray::from(times).with_timezone_opt(wt_tz)));
        let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| RuntimeError::Internal(format!("window table function: {e}")))?;
        out.emit(taken.with_data(rb));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use rask_sql::window_tvf::WindowKind;

    #[test]
    fn rows_get_every_window_even_behind_the_watermark() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let input = Arc::new(Schema::new(vec![Field::new("ts", ts.clone(), true)]));
        let out_schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts.clone(), true),
            Field::new("window_start", ts.clone(), false),
            Field::new("window_end", ts.clone(), false),
            Field::new("window_time", ts, false),
        ]));
        let spec = WindowSpec { kind: WindowKind::Hop, size: 6000, step: 2000, offset: 0, clock: Default::default() };
        let late = Arc::new(AtomicU64::new(0));
        let mut op = WindowAssign::new(0, spec, out_schema, late.clone());
        let mut out = Emitter::default();
        op.on_watermark(4999, &mut out).unwrap();
        // 1000 belongs to [-4000,2000), [-2000,4000), [0,6000); a NULL time to none (dropped).
        let col = TimestampMillisecondArray::from(vec![Some(1000), None]);
        let b = StreamBatch::inserts(RecordBatch::try_new(input, vec![Arc::new(col)]).unwrap());
        let mut out = Emitter::default();
        op.on_batch(0, b, &mut out).unwrap();
        let rows: usize = out.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 3);
        assert_eq!(late.load(Ordering::Relaxed), 1);
        let ends = out.batches[0].data.column(2).as_primitive::<arrow::datatypes::TimestampMillisecondType>().values().to_vec();
        assert_eq!(ends, vec![2000, 4000, 6000]);
    }
}
