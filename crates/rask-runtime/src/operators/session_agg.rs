//! Session window aggregation (`SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), gap)` grouped
//! by `k, window_start, window_end`). Session windows merge, so they cannot be sliced: rows are
//! kept (as references into the batches they came in) per session of their key; a row whose
//! `[ts, ts + gap)` touches sessions of its key merges them (Flink's `TimeWindow.intersects`).
//! When the watermark passes a session's end (last row + gap), its rows are aggregated in one
//! vectorised pass with the other sessions that close at the same watermark, and emitted once.
//! A row that would open a new session whose end has already passed the watermark is late:
//! dropped and counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, SchemaRef, TimestampMillisecondType};
use arrow::row::{RowConverter, SortField};
use datafusion_expr::EmitTo;
use rask_sql::window_agg::{GroupOutput, WindowAggregate as Plan, WindowColumn};
use rask_types::{StreamBatch, WATERMARK_MIN};

use rask_state::OperatorSnapshot;

use super::buffer::{deferred_replay_snapshot, replay_restore, require_append_only, restored_watermark, BatchStore, RowRef};
use super::window_agg::{aggregate_args, internal, new_accumulator, KeyTable};
use rask_sql::window_tvf::WindowClock;

use crate::error::Result;
use crate::operator::{Emitter, Operator};

pub(crate) struct Session {
    id: u64,
    pub(crate) start: i64,
    /// Exclusive: the last row's time + gap.
    pub(crate) end: i64,
    /// (stored batch, row) in arrival order.
    pub(crate) rows: Vec<RowRef>,
}

/// Open sessions per key, shared by the session window aggregation and the SESSION table
/// function: rows kept as references into their batches, merged when they touch.
pub(crate) struct Sessions {
    gap: i64,
    /// The clock of row times and session bounds (the session zone for TIMESTAMP_LTZ).
    pub(crate) clock: WindowClock,
    pub(crate) keys: KeyTable,
    /// Open sessions per key id.
    sessions: HashMap<u32, Vec<Session>>,
    /// (end, key id, session id) of every open session.
    timers: BTreeSet<(i64, u32, u64)>,
    /// Input batches with rows in open sessions.
    pub(crate) store: BatchStore,
    next_session: u64,
    pub(crate) watermark: i64,
}

impl Sessions {
    pub(crate) fn new(gap: i64, clock: WindowClock) -> Sessions {
        Sessions {
            gap,
            clock,
            keys: KeyTable::default(),
            sessions: HashMap::new(),
            timers: BTreeSet::new(),
            store: BatchStore::default(),
            next_session: 0,
            watermark: WATERMARK_MIN,
        }
    }

    /// Add `data`'s rows: row `i`'s key is `key(i)`, its event time `time(i)` (`None`: no
    /// time, dropped). Returns the number of rows dropped as late.
    pub(crate) fn add<'k>(&mut self, data: &RecordBatch, key: impl Fn(usize) -> &'k [u8], time: impl Fn(usize) -> Option<i64>) -> u64 {
        // One reference held while this batch is processed, one per row kept in a session.
        let batch_id = self.store.insert(data.clone(), 1);
        let mut late = 0u64;
        for i in 0..data.num_rows() {
            let Some(ts) = time(i) else {
                late += 1;
                continue;
            };
            let (start, end) = (ts, ts + self.gap);
            let key = self.keys.intern(key(i));
            let list = self.sessions.entry(key).or_default();
            let overlapping: Vec<usize> = (0..list.len()).filter(|j| list[*j].start <= end && list[*j].end >= start).collect();
            if overlapping.is_empty() {
                if end - 1 <= self.watermark {
                    late += 1;
                    if self.keys.refs[key as usize] == 0 {
                        self.keys.refs[key as usize] = 1;
                        self.keys.release(key);
                    }
                    continue;
                }
                let id = self.next_session;
                self.next_session += 1;
                list.push(Session { id, start, end, rows: vec![(batch_id, i as u32)] });
                self.timers.insert((end, key, id));
                self.keys.refs[key as usize] += 1;
            } else if let [j] = overlapping[..] {
                // The row extends one session (the common case): append in place, keeping
                // arrival order without re-sorting the session's rows.
                let s = &mut list[j];
                s.start = s.start.min(start);
                if end > s.end {
                    self.timers.remove(&(s.end, key, s.id));
                    s.end = end;
                    self.timers.insert((s.end, key, s.id));
                }
                s.rows.push((batch_id, i as u32));
            } else {
                // Merge the touched sessions (and the row) into the first one.
                let mut merged = Session { id: self.next_session, start, end, rows: vec![(batch_id, i as u32)] };
                self.next_session += 1;
                for j in overlapping.into_iter().rev() {
                    let s = list.swap_remove(j);
                    self.timers.remove(&(s.end, key, s.id));
                    merged.start = merged.start.min(s.start);
                    merged.end = merged.end.max(s.end);
                    merged.rows.extend(s.rows);
                    self.keys.refs[key as usize] -= 1;
                }
                merged.rows.sort_unstable();
                self.timers.insert((merged.end, key, merged.id));
                list.push(merged);
                self.keys.refs[key as usize] += 1;
            }
            self.store.retain(batch_id);
        }
        self.store.release(batch_id);
        late
    }

    /// The watermark (or processing time) is `now`: take the sessions it closes (key id,
    /// session), in end order.
    pub(crate) fn fire(&mut self, now: i64) -> Vec<(u32, Session)> {
        let watermark = self.clock.progress(now);
        self.watermark = watermark;
        let mut fired = Vec::new();
        while let Some(&(end, key, id)) = self.timers.first() {
            if end - 1 > watermark {
                break;
            }
            self.timers.pop_first();
            if let Some(list) = self.sessions.get_mut(&key)
                && let Some(j) = list.iter().position(|s| s.id == id)
            {
                fired.push((key, list.swap_remove(j)));
                if list.is_empty() {
                    self.sessions.remove(&key);
                }
            }
        }
        fired
    }

    /// Release the rows and keys of sessions taken by [`Sessions::fire`].
    pub(crate) fn release(&mut self, fired: &[(u32, Session)]) {
        for (k, s) in fired {
            for (b, _) in &s.rows {
                self.store.release(*b);
            }
            self.keys.release(*k);
        }
    }

    /// When (the instant) the next open session closes (its end − 1 ms), if any.
    pub(crate) fn next_close(&self) -> Option<i64> {
        self.timers.first().map(|(end, _, _)| self.clock.timer_instant(end - 1))
    }

    /// Processing time: ask for a wake-up when the next session closes.
    pub(crate) fn arm(&self, out: &mut Emitter) {
        if let Some(at) = self.next_close() {
            out.wake_after(std::time::Duration::from_millis((at - rask_types::now_ms()).clamp(1, 60_000) as u64));
        }
    }

    /// The checkpoint: the watermark and every row in an open session, in arrival order, to
    /// be replayed (input rows of schema `input`).
    pub(crate) fn snapshot(&self, input: &arrow::datatypes::SchemaRef) -> Result<OperatorSnapshot> {
        let mut refs: Vec<RowRef> = self.sessions.values().flatten().flat_map(|s| s.rows.iter().copied()).collect();
        refs.sort_unstable(); // arrival order (batch id, row)
        deferred_replay_snapshot(self.watermark, &self.store, &refs, input)
    }
}

pub struct SessionAggregate {
    plan: Plan,
    schema: SchemaRef,
    input: SchemaRef,
    converter: RowConverter,
    sessions: Sessions,
    late_dropped: Arc<AtomicU64>,
    fire_max_us: Arc<AtomicU64>,
}

impl SessionAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, late_dropped: Arc<AtomicU64>, fire_max_us: Arc<AtomicU64>) -> Result<Self> {
        let fields = (0..plan.keys).map(|i| SortField::new(input.field(i).data_type().clone())).collect();
        let converter = RowConverter::new(fields).map_err(internal)?;
        let sessions = Sessions::new(plan.spec.size, plan.spec.clock);
        Ok(SessionAggregate { plan, schema, input, converter, sessions, late_dropped, fire_max_us })
    }

    /// Aggregate and emit the sessions `fired` (key id, session).
    fn emit(&mut self, fired: Vec<(u32, Session)>, out: &mut Emitter) -> Result<()> {
        if fired.is_empty() {
            return Ok(());
        }
        // Gather every row of the fired sessions into one batch, with its session as group.
        let refs: Vec<RowRef> = fired.iter().flat_map(|(_, s)| s.rows.iter().copied()).collect();
        let groups: Vec<usize> = fired.iter().enumerate().flat_map(|(g, (_, s))| std::iter::repeat_n(g, s.rows.len())).collect();
        let cols = self.sessions.store.gather(&refs, self.input.fields().len())?;
        let rows = RecordBatch::try_new(self.input.clone(), cols).map_err(internal)?;
        let n = fired.len();
        let mut results = Vec::with_capacity(self.plan.aggs.len());
        for (i, agg) in self.plan.aggs.iter().enumerate() {
            let mut acc = new_accumulator(agg)?;
            let args = aggregate_args(agg, &rows)?;
            let filter: Option<&BooleanArray> = self.plan.filters[i].map(|c| rows.column(c).as_boolean());
            acc.update_batch(&args, &groups, filter, n).map_err(internal)?;
            results.push(acc.evaluate(EmitTo::All).map_err(internal)?);
        }
        let key_cols = if self.plan.keys == 0 {
            Vec::new()
        } else {
            let parser = self.converter.parser();
            self.converter.convert_rows(fired.iter().map(|(k, _)| parser.parse(&self.sessions.keys.rows[*k as usize]))).map_err(internal)?
        };
        let mut out_cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (i, g) in self.plan.groups.iter().enumerate() {
            out_cols.push(match g {
                GroupOutput::Key(k) => key_cols[*k].clone(),
                GroupOutput::Null => arrow::array::new_null_array(self.schema.field(i).data_type(), fired.len()),
                GroupOutput::GroupingId(g) => {
                    let a: ArrayRef = Arc::new(arrow::array::UInt64Array::from(vec![*g; fired.len()]));
                    arrow::compute::cast(&a, self.schema.field(i).data_type()).map_err(internal)?
                }
                GroupOutput::Window(w) => window_column(self.schema.field(i).data_type(), self.sessions.clock, fired.iter().map(|(_, s)| (s, 1)), *w),
            });
        }
        out_cols.extend(results);
        let rb = RecordBatch::try_new(self.schema.clone(), out_cols).map_err(internal)?;
        out.emit(StreamBatch::inserts(rb));
        self.sessions.release(&fired);
        Ok(())
    }
}

/// A window column (start, end or time = the instant of end − 1 ms) of the type `dt`, for
/// sessions each repeated `n` times.
pub(crate) fn window_column<'a>(dt: &DataType, clock: WindowClock, sessions: impl Iterator<Item = (&'a Session, usize)>, w: WindowColumn) -> ArrayRef {
    let mut vals = Vec::new();
    for (s, n) in sessions {
        let v = match w {
            WindowColumn::Start => s.start,
            WindowColumn::End => s.end,
            WindowColumn::Time => clock.instant(s.end - 1),
        };
        vals.extend(std::iter::repeat_n(v, n));
    }
    let tz = match dt {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    Arc::new(TimestampMillisecondArray::from(vals).with_timezone_opt(tz))
}

impl Operator for SessionAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "session window aggregation")?;
        let data = batch.data;
        let keys = self.plan.keys;
        let rows = self.converter.convert_columns(&data.columns()[..keys]).map_err(internal)?;
        let times = data.column(keys).as_primitive::<TimestampMillisecondType>();
        // The slicer put the row's time + 1 ms; processing time is the clock's.
        let now = self.sessions.clock.local(rask_types::now_ms());
        let proctime = self.plan.proctime;
        let late = self.sessions.add(
            &data,
            |i| if keys == 0 { &[] } else { rows.row(i).data() },
            |i| if proctime { Some(now) } else { times.is_valid(i).then(|| times.value(i) - 1) },
        );
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        if proctime {
            self.sessions.arm(out);
        }
        Ok(())
    }

    /// Processing time: fire the sessions the clock has closed.
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if self.plan.proctime {
            let fired = self.sessions.fire(rask_types::now_ms());
            self.emit(fired, out)?;
            self.sessions.arm(out);
        }
        Ok(())
    }
    // Processing-time sessions still open at the end of input are not fired (as in Flink).

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        Ok(Some(self.sessions.snapshot(&self.input)?))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.sessions.watermark = restored_watermark(self.sessions.watermark, &parts);
        replay_restore(parts, |i, b, out| self.on_batch(i, StreamBatch::inserts(b), out))
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        if self.plan.proctime {
            out.watermark(watermark);
            return Ok(());
        }
        let started = std::time::Instant::now();
        let fired = self.sessions.fire(watermark);
        if !fired.is_empty() {
            self.emit(fired, out)?;
            self.fire_max_us.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        out.watermark(watermark);
        Ok(())
    }
}
