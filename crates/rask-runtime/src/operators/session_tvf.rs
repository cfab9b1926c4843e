//! The SESSION window table function on its own (Flink's `WindowTableFunction` with a session
//! window): rows are kept per session of their `PARTITION BY` key (sessions merge as in the
//! session window aggregation, see [`super::session_agg::Sessions`]); when the watermark passes
//! a session's end, its rows are emitted with `window_start`, `window_end` and `window_time`
//! (end − 1 ms) appended. Used by `SELECT * FROM TABLE(SESSION(…))` and by a session window
//! grouped by other keys than its partition keys, which Flink runs as this function followed by
//! a (changelog-producing) group aggregation. Late rows are dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::row::{RowConverter, SortField};
use rask_sql::window_agg::WindowColumn;
use rask_sql::window_tvf::WindowClock;
use rask_state::OperatorSnapshot;
use rask_types::StreamBatch;

use super::buffer::{replay_restore, require_append_only, restored_watermark, RowRef};
use super::keyed::{key_of, key_rows};
use super::session_agg::{window_column, Sessions};
use super::window_agg::internal;
use crate::error::Result;
use crate::operator::{Emitter, Operator};

pub struct SessionWindowTvf {
    partition: Vec<usize>,
    time_col: usize,
    /// Sessions by the wall clock (a `PROCTIME()` attribute), fired by timers.
    proctime: bool,
    input: SchemaRef,
    schema: SchemaRef,
    converter: RowConverter,
    sessions: Sessions,
    late_dropped: Arc<AtomicU64>,
}

impl SessionWindowTvf {
    pub fn new(
        partition: Vec<usize>,
        time_col: usize,
        gap: i64,
        proctime: bool,
        clock: WindowClock,
        input: SchemaRef,
        schema: SchemaRef,
        late_dropped: Arc<AtomicU64>,
    ) -> Result<Self> {
        let converter = RowConverter::new(partition.iter().map(|c| SortField::new(input.field(*c).data_type().clone())).collect()).map_err(internal)?;
        Ok(SessionWindowTvf { partition, time_col, proctime, input, schema, converter, sessions: Sessions::new(gap, clock), late_dropped })
    }

    /// Emit the rows of the sessions that `now` (watermark or clock) closes.
    fn fire(&mut self, now: i64, out: &mut Emitter) -> Result<()> {
        let fired = self.sessions.fire(now);
        if !fired.is_empty() {
            let refs: Vec<RowRef> = fired.iter().flat_map(|(_, s)| s.rows.iter().copied()).collect();
            let mut cols: Vec<ArrayRef> = self.sessions.store.gather(&refs, self.input.fields().len())?;
            let n = self.input.fields().len();
            for (j, w) in [WindowColumn::Start, WindowColumn::End, WindowColumn::Time].into_iter().enumerate() {
                cols.push(window_column(self.schema.field(n + j).data_type(), self.sessions.clock, fired.iter().map(|(_, s)| (s, s.rows.len())), w));
            }
            out.emit(StreamBatch::inserts(RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?));
            self.sessions.release(&fired);
        }
        Ok(())
    }
}

impl Operator for SessionWindowTvf {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "the SESSION window table function")?;
        let data = batch.data;
        let keys = key_rows(&self.converter, &self.partition, &data)?;
        let times = arrow::compute::cast(data.column(self.time_col), &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None))?;
        let times = times.as_primitive::<TimestampMillisecondType>();
        // Sessions are on the window's clock (the session zone for TIMESTAMP_LTZ).
        let now = self.sessions.clock.local(rask_types::now_ms());
        let proctime = self.proctime;
        let local: Vec<Option<i64>> = if proctime {
            Vec::new()
        } else {
            let mut clock = self.sessions.clock.localizer();
            times.iter().map(|t| t.map(|t| clock.local(t))).collect()
        };
        let late = self.sessions.add(&data, |i| key_of(&keys, i), |i| if proctime { Some(now) } else { local[i] });
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        if proctime {
            self.sessions.arm(out);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        if !self.proctime {
            self.fire(watermark, out)?;
        }
        out.watermark(watermark);
        Ok(())
    }

    /// Processing time: emit the sessions the clock has closed.
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if self.proctime {
            self.fire(rask_types::now_ms(), out)?;
            self.sessions.arm(out);
        }
        Ok(())
    }
    // Processing-time sessions still open at the end of input are not emitted (as in Flink).

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        Ok(Some(self.sessions.snapshot(&self.input)?))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.sessions.watermark = restored_watermark(self.sessions.watermark, &parts);
        replay_restore(parts, |i, b, out| self.on_batch(i, StreamBatch::inserts(b), out))
    }
}
