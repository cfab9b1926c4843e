//! Over aggregation on event time (Flink's row-time OVER functions): rows wait per partition
//! key until the watermark passes them, then are processed in time order (ties in arrival
//! order); each is emitted once with the aggregates over its frame — `ROWS BETWEEN n PRECEDING`
//! (the row and the n before it), `RANGE BETWEEN INTERVAL … PRECEDING` (rows within the interval
//! before it, and all rows with its timestamp), or UNBOUNDED PRECEDING (running aggregates).
//! A row is late, dropped and counted, if its time is not after the watermark (unbounded frames)
//! or after the last time processed for its key (bounded frames), as in Flink.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use rask_sql::over_agg::{Frame, OverAggregate as Plan};
use rask_types::{StreamBatch, WATERMARK_MIN};

use rask_state::{OperatorSnapshot, StateEntry, StateTtl};

use super::buffer::{deferred_replay_snapshot, replay_restore, require_append_only, restored_watermark, BatchStore};
use super::window_agg::{aggregate_args, internal};
use super::window_tvf::to_millis;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

/// One buffered row: where it is, and its aggregate arguments (one-row arrays per aggregate).
struct Row {
    at: (u32, u32),
    args: Vec<Vec<ArrayRef>>,
}

#[derive(Default)]
struct KeyState {
    pending: BTreeMap<(i64, u64), Row>,
    /// Processed rows still inside some future frame: (time, arguments).
    history: VecDeque<(i64, Vec<Vec<ArrayRef>>)>,
    /// Running accumulators (UNBOUNDED PRECEDING frames).
    running: Option<Vec<Box<dyn Accumulator>>>,
    last_processed: i64,
    /// Processing time of the key's last row or emission (for `table.exec.state.ttl`).
    last_access: i64,
}

pub struct OverAggregate {
    plan: Plan,
    schema: SchemaRef,
    input: SchemaRef,
    converter: RowConverter,
    keys: HashMap<Box<[u8]>, KeyState>,
    batches: BatchStore,
    seq: u64,
    watermark: i64,
    late_dropped: Arc<AtomicU64>,
    /// `table.exec.state.ttl`: a key without pending rows is dropped once idle this long (its
    /// running aggregates start again from its next row, as in Flink).
    ttl: Option<StateTtl>,
    /// Processing time (a field so that tests can move it).
    clock: fn() -> i64,
}

impl OverAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, late_dropped: Arc<AtomicU64>, ttl: Option<StateTtl>) -> Result<Self> {
        let converter = RowConverter::new(plan.partition.iter().map(|p| SortField::new(input.field(*p).data_type().clone())).collect()).map_err(internal)?;
        Ok(OverAggregate {
            plan,
            schema,
            input,
            converter,
            keys: HashMap::new(),
            batches: BatchStore::default(),
            seq: 0,
            watermark: WATERMARK_MIN,
            late_dropped,
            ttl,
            clock: rask_types::now_ms,
        })
    }

    /// With a TTL, look for idle keys again after the sweep interval.
    fn arm_ttl(&self, out: &mut Emitter) {
        super::keyed::arm_ttl(self.ttl, !self.keys.is_empty(), out);
    }

    fn accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.plan.aggs.iter().map(|a| a.create_accumulator().map_err(internal)).collect()
    }
}

impl OverAggregate {
    /// The key columns of `keys` (Arrow's row format back to arrays).
    fn key_columns(&self, keys: &[&[u8]]) -> Result<Vec<ArrayRef>> {
        if self.plan.partition.is_empty() {
            return Ok(Vec::new());
        }
        let parser = self.converter.parser();
        self.converter.convert_rows(keys.iter().map(|k| parser.parse(k))).map_err(internal)
    }

    fn key_fields(&self) -> Vec<Field> {
        self.plan.partition.iter().enumerate().map(|(i, p)| Field::new(format!("k{i}"), self.input.field(*p).data_type().clone(), true)).collect()
    }

    fn keys_of(&self, b: &RecordBatch) -> Result<Vec<Box<[u8]>>> {
        let n = self.plan.partition.len();
        if n == 0 {
            return Ok(vec![Box::from(&[][..]); b.num_rows()]);
        }
        let rows = self.converter.convert_columns(&b.columns()[..n]).map_err(internal)?;
        Ok((0..b.num_rows()).map(|i| Box::from(rows.row(i).as_ref())).collect())
    }
}

fn bad_state(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::User(format!("OVER aggregation state does not fit the query: {e}"))
}

fn evaluate(accs: &mut [Box<dyn Accumulator>]) -> Result<Vec<ScalarValue>> {
    accs.iter_mut().map(|a| a.evaluate().map_err(internal)).collect()
}

impl Operator for OverAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "over aggregation")?;
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        let data = batch.data;
        let cols: Vec<ArrayRef> = self.plan.partition.iter().map(|p| data.column(*p).clone()).collect();
        let rows = self.converter.convert_columns(&cols).map_err(internal)?;
        let times = to_millis(data.column(self.plan.time_col))?;
        let args: Vec<Vec<ArrayRef>> = self.plan.aggs.iter().map(|a| aggregate_args(a, &data)).collect::<Result<_>>()?;
        let bounded = matches!(self.plan.frame, Frame::Rows(Some(_)) | Frame::Range(Some(_)));
        // One reference held while this batch is processed, one per buffered row.
        let bid = self.batches.insert(data.clone(), 1);
        let mut late = 0u64;
        for (i, t) in times.iter().enumerate() {
            let Some(t) = *t else {
                late += 1;
                continue;
            };
            let key: &[u8] = if self.plan.partition.is_empty() { &[] } else { rows.row(i).data() };
            let state = self.keys.entry(key.into()).or_insert_with(|| KeyState { last_processed: WATERMARK_MIN, ..Default::default() });
            state.last_access = now;
            let behind = if bounded { t <= state.last_processed } else { t <= self.watermark };
            if behind {
                late += 1;
                continue;
            }
            let row_args = args.iter().map(|a| a.iter().map(|c| c.slice(i, 1)).collect()).collect();
            state.pending.insert((t, self.seq), Row { at: (bid, i as u32), args: row_args });
            self.seq += 1;
            self.batches.retain(bid);
        }
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        self.batches.release(bid);
        self.arm_ttl(out);
        Ok(())
    }

    /// Drop the keys idle for the TTL that have no rows waiting for the watermark (Flink
    /// keeps those until they are processed).
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if let Some(ttl) = self.ttl {
            let now = (self.clock)();
            self.keys.retain(|_, s| !s.pending.is_empty() || !ttl.expired(s.last_access, now));
            self.arm_ttl(out);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        self.watermark = watermark;
        let mut refs: Vec<(u32, u32)> = Vec::new();
        let mut results: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.plan.aggs.len()];
        let frame = self.plan.frame;
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        let keys: Vec<Box<[u8]>> = self.keys.iter().filter(|(_, s)| s.pending.first_key_value().is_some_and(|((t, _), _)| *t <= watermark)).map(|(k, _)| k.clone()).collect();
        for k in keys {
            let fresh = if matches!(frame, Frame::Rows(None) | Frame::Range(None)) && self.keys[&k].running.is_none() { Some(self.accumulators()?) } else { None };
            let mut frame_accs = Vec::new();
            let state = self.keys.get_mut(&k).ok_or_else(|| internal("key vanished"))?;
            if let Some(f) = fresh {
                state.running = Some(f);
            }
            state.last_access = now;
            // Rows due now, in time order, grouped by timestamp (RANGE frames treat equal
            // timestamps as peers).
            let mut due: Vec<(i64, Row)> = Vec::new();
            while let Some(entry) = state.pending.first_entry() {
                if entry.key().0 > watermark {
                    break;
                }
                let ((t, _), row) = entry.remove_entry();
                due.push((t, row));
            }
            let mut i = 0;
            while i < due.len() {
                let t = due[i].0;
                let peers_end = if matches!(frame, Frame::Range(_)) { due[i..].iter().position(|(u, _)| *u != t).map_or(due.len(), |p| i + p) } else { i + 1 };
                // Add this step's rows (one row, or all peers for RANGE) to the frame.
                for (u, row) in &due[i..peers_end] {
                    state.history.push_back((*u, row.args.clone()));
                    if let Some(run) = state.running.as_mut() {
                        for (a, args) in run.iter_mut().zip(&row.args) {
                            a.update_batch(args).map_err(internal)?;
                        }
                    }
                }
                // Trim the history to what this frame (and later ones) can see.
                match frame {
                    Frame::Rows(Some(n)) => {
                        while state.history.len() > n as usize + 1 {
                            state.history.pop_front();
                        }
                    }
                    Frame::Range(Some(ms)) => {
                        while state.history.front().is_some_and(|(u, _)| *u < t - ms) {
                            state.history.pop_front();
                        }
                    }
                    _ => state.history.clear(),
                }
                for (_, row) in due[i..peers_end].iter() {
                    let values = match state.running.as_mut() {
                        Some(run) => evaluate(run)?,
                        None => {
                            // The trimmed history is the frame: up to the current row (ROWS,
                            // one row per step) or up to its last peer (RANGE).
                            frame_accs.clear();
                            for a in &self.plan.aggs {
                                frame_accs.push(a.create_accumulator().map_err(internal)?);
                            }
                            for (_, args) in &state.history {
                                for (acc, a) in frame_accs.iter_mut().zip(args) {
                                    acc.update_batch(a).map_err(internal)?;
                                }
                            }
                            evaluate(&mut frame_accs)?
                        }
                    };
                    for (r, v) in results.iter_mut().zip(values) {
                        r.push(v);
                    }
                    refs.push(row.at);
                }
                state.last_processed = t;
                i = peers_end;
            }
            if state.pending.is_empty() && matches!(frame, Frame::Rows(Some(_)) | Frame::Range(Some(_))) && state.history.is_empty() {
                self.keys.remove(&k);
            }
        }
        if !refs.is_empty() {
            let mut cols = self.batches.gather(&refs, self.input.fields().len())?;
            for (i, vals) in results.into_iter().enumerate() {
                let a = ScalarValue::iter_to_array(vals).map_err(internal)?;
                let want = self.schema.field(self.input.fields().len() + i).data_type();
                cols.push(if a.data_type() == want { a } else { arrow::compute::cast(&a, want).map_err(internal)? });
            }
            let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
            out.emit(StreamBatch::inserts(rb));
            for (b, _) in refs {
                self.batches.release(b);
            }
        }
        out.watermark(watermark);
        self.arm_ttl(out);
        Ok(())
    }

    /// Per key: last processed time and running accumulator states ("keys"); the processed
    /// rows still inside a future frame with their aggregate arguments ("history"); and the
    /// rows waiting for the watermark, replayed on restore ("input:0").
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let nk = self.plan.partition.len();
        let key_cols = (nk > 0).then(|| (0..nk).collect::<Vec<_>>());
        let keys: Vec<Box<[u8]>> = self.keys.keys().cloned().collect();
        let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        // keys
        let mut fields = self.key_fields();
        fields.push(Field::new("__last_processed", DataType::Int64, false));
        fields.push(Field::new("__running", DataType::Boolean, false));
        let mut cols = self.key_columns(&key_refs)?;
        cols.push(Arc::new(Int64Array::from_iter_values(keys.iter().map(|k| self.keys[k].last_processed))));
        cols.push(Arc::new(BooleanArray::from_iter(keys.iter().map(|k| Some(self.keys[k].running.is_some())))));
        for (ai, a) in self.plan.aggs.iter().enumerate() {
            let state_fields = a.state_fields().map_err(internal)?;
            let mut per_field: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(keys.len()); state_fields.len()];
            for k in &keys {
                // Keys without running accumulators (bounded frames) store nulls.
                let st = match self.keys.get_mut(k).and_then(|s| s.running.as_mut()) {
                    Some(run) => run[ai].state().map_err(internal)?,
                    None => state_fields.iter().map(|f| ScalarValue::try_from(f.data_type()).map_err(internal)).collect::<Result<Vec<_>>>()?,
                };
                for (j, v) in st.into_iter().enumerate() {
                    per_field[j].push(v);
                }
            }
            for (j, f) in state_fields.iter().enumerate() {
                fields.push(Field::new(format!("a{ai}_{}", f.name()), f.data_type().clone(), true));
                cols.push(if keys.is_empty() {
                    arrow::array::new_empty_array(f.data_type())
                } else {
                    ScalarValue::iter_to_array(std::mem::take(&mut per_field[j])).map_err(internal)?
                });
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let keys_batch = RecordBatch::try_new(schema.clone(), cols).map_err(internal)?;
        let mut entries = vec![StateEntry::new("keys", schema, key_cols.clone(), vec![keys_batch])];
        // history
        let mut hkeys: Vec<&[u8]> = Vec::new();
        let mut times: Vec<i64> = Vec::new();
        let mut args: Vec<Vec<Vec<ArrayRef>>> = self.plan.aggs.iter().map(|a| vec![Vec::new(); a.expressions().len()]).collect();
        for (k, st) in &self.keys {
            for (t, row) in &st.history {
                hkeys.push(k.as_ref());
                times.push(*t);
                for (ai, per_arg) in row.iter().enumerate() {
                    for (j, arr) in per_arg.iter().enumerate() {
                        args[ai][j].push(arr.clone());
                    }
                }
            }
        }
        if !times.is_empty() {
            let mut fields = self.key_fields();
            fields.push(Field::new("__t", DataType::Int64, false));
            let rows = times.len();
            let mut cols = self.key_columns(&hkeys)?;
            cols.push(Arc::new(Int64Array::from(times)));
            for (ai, a) in self.plan.aggs.iter().enumerate() {
                for (j, e) in a.expressions().iter().enumerate() {
                    fields.push(Field::new(format!("a{ai}_{j}"), e.data_type(&self.input).map_err(internal)?, true));
                }
            }
            let schema = Arc::new(Schema::new(fields));
            // The argument columns are concatenated on the checkpoint thread.
            let s2 = schema.clone();
            let build = move || -> std::result::Result<RecordBatch, rask_state::StateError> {
                let err = |e: arrow::error::ArrowError| rask_state::StateError::Internal(format!("OVER aggregation snapshot: {e}"));
                let mut cols = cols.clone();
                for per_arg in &args {
                    for arrs in per_arg {
                        let refs: Vec<&dyn Array> = arrs.iter().map(|a| a.as_ref()).collect();
                        cols.push(arrow::compute::concat(&refs).map_err(err)?);
                    }
                }
                RecordBatch::try_new(s2.clone(), cols).map_err(err)
            };
            let mut entry = StateEntry::new("history", schema, key_cols, Vec::new());
            entry.deferred.push(rask_state::Deferred { id: None, rows, build: Arc::new(build) });
            entries.push(entry);
        }
        // pending rows, in arrival order
        let mut pending: Vec<(u64, (u32, u32))> = self.keys.values().flat_map(|s| s.pending.iter().map(|((_, seq), r)| (*seq, r.at))).collect();
        pending.sort_unstable_by_key(|(seq, _)| *seq);
        let refs: Vec<(u32, u32)> = pending.into_iter().map(|(_, at)| at).collect();
        let mut snap = deferred_replay_snapshot(self.watermark, &self.batches, &refs, &self.input)?;
        snap.entries.extend(entries);
        Ok(Some(snap))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.watermark = restored_watermark(self.watermark, &parts);
        let nk = self.plan.partition.len();
        for p in &parts {
            for e in &p.entries {
                for b in &e.batches {
                    let keys = self.keys_of(b)?;
                    match e.name.as_str() {
                        "keys" => {
                            let last = b.column(nk).as_primitive_opt::<Int64Type>().ok_or_else(|| bad_state("last processed"))?;
                            let running = b.column(nk + 1).as_boolean_opt().ok_or_else(|| bad_state("running flag"))?;
                            for (i, k) in keys.into_iter().enumerate() {
                                let accs = if running.value(i) {
                                    let mut accs = self.accumulators()?;
                                    let mut at = nk + 2;
                                    for (acc, a) in accs.iter_mut().zip(&self.plan.aggs) {
                                        let width = a.state_fields().map_err(internal)?.len();
                                        let cols: Vec<ArrayRef> = (at..at + width).map(|c| b.column(c).slice(i, 1)).collect();
                                        acc.merge_batch(&cols).map_err(internal)?;
                                        at += width;
                                    }
                                    Some(accs)
                                } else {
                                    None
                                };
                                let st = self.keys.entry(k).or_insert_with(|| KeyState { last_processed: WATERMARK_MIN, ..Default::default() });
                                st.last_processed = st.last_processed.max(last.value(i));
                                st.running = accs;
                            }
                        }
                        "history" => {
                            let times = b.column(nk).as_primitive_opt::<Int64Type>().ok_or_else(|| bad_state("history time"))?;
                            for (i, k) in keys.into_iter().enumerate() {
                                let mut c = nk + 1;
                                let mut row = Vec::with_capacity(self.plan.aggs.len());
                                for a in &self.plan.aggs {
                                    let n = a.expressions().len();
                                    row.push((c..c + n).map(|x| b.column(x).slice(i, 1)).collect::<Vec<_>>());
                                    c += n;
                                }
                                let st = self.keys.entry(k).or_insert_with(|| KeyState { last_processed: WATERMARK_MIN, ..Default::default() });
                                st.history.push_back((times.value(i), row));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // Restored keys count as accessed now.
        let now = (self.clock)();
        for s in self.keys.values_mut() {
            s.last_access = now;
        }
        replay_restore(parts, |i, b, out| self.on_batch(i, StreamBatch::inserts(b), out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::TimeUnit;
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;
    use std::sync::atomic::AtomicI64;

    static NOW: AtomicI64 = AtomicI64::new(0);
    fn fake_now() -> i64 {
        NOW.load(Ordering::Relaxed)
    }

    /// COUNT(*) OVER (PARTITION BY k ORDER BY ts ROWS UNBOUNDED PRECEDING) with a 10 s TTL.
    fn count_over() -> OverAggregate {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        ]));
        let count = datafusion_functions_aggregate::count::count_udaf();
        let agg = AggregateExprBuilder::new(count, vec![Arc::new(Column::new("k", 0))]).schema(input.clone()).alias("c").build().unwrap();
        let plan = Plan { partition: vec![0], time_col: 1, descending: false, nulls_first: true, frame: Frame::Rows(None), aggs: vec![Arc::new(agg)], updating: false };
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("c", DataType::Int64, false));
        let ttl = StateTtl::new(std::time::Duration::from_secs(10));
        let mut op = OverAggregate::new(plan, input, Arc::new(Schema::new(fields)), Arc::new(AtomicU64::new(0)), ttl).unwrap();
        op.clock = fake_now;
        op
    }

    fn row(op: &mut OverAggregate, k: &str, ts: i64) -> i64 {
        let b = RecordBatch::try_new(
            op.input.clone(),
            vec![Arc::new(StringArray::from(vec![k])), Arc::new(arrow::array::TimestampMillisecondArray::from(vec![ts]))],
        )
        .unwrap();
        let mut out = Emitter::default();
        op.on_batch(0, StreamBatch::inserts(b), &mut out).unwrap();
        assert_eq!(out.wake_after, Some(std::time::Duration::from_millis(2500)), "a TTL arms the sweep");
        op.on_watermark(ts, &mut out).unwrap();
        let b = &out.batches[0].data;
        b.column(2).as_primitive::<Int64Type>().value(0)
    }

    #[test]
    fn idle_keys_expire_after_the_state_ttl() {
        let mut op = count_over();
        NOW.store(1_000_000, Ordering::Relaxed);
        assert_eq!(row(&mut op, "a", 1), 1);
        assert_eq!(row(&mut op, "b", 2), 1);
        NOW.store(1_008_000, Ordering::Relaxed);
        assert_eq!(row(&mut op, "a", 3), 2);
        // 10 s after b's last access, 2 s after a's: only b goes.
        NOW.store(1_010_000, Ordering::Relaxed);
        op.on_timer(&mut Emitter::default()).unwrap();
        assert_eq!(op.keys.len(), 1);
        assert_eq!(row(&mut op, "b", 4), 1, "b's count starts again");
        assert_eq!(row(&mut op, "a", 5), 3, "a's state is kept");
    }
}
