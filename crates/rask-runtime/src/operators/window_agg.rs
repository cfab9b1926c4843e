//! Window aggregation on slices (Flink's slicing window operator). Each row arrives with the
//! end of the slice it falls in (a slice is the whole window for TUMBLE, `slide` wide for HOP,
//! `step` wide for CUMULATE) and is aggregated into that slice's accumulator for its key: work
//! per row is one update, however many windows overlap. When the watermark passes a window's
//! end, the window is computed by merging the states of its slices (a TUMBLE window evaluates
//! its single slice directly), emitted once (append-only), and slices no later window needs
//! are dropped. Rows whose windows have all fired are late: dropped and counted, as in Flink.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, SchemaRef, TimestampMillisecondType};
use arrow::row::{RowConverter, SortField};
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::GroupsAccumulatorAdapter;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use rask_sql::window_agg::{GroupOutput, WindowAggregate as Plan, WindowColumn};
use rask_types::{StreamBatch, WATERMARK_MIN};

use super::buffer::{require_append_only, restored_watermark, watermark_meta};
use rask_state::{Deferred, OperatorSnapshot, StateEntry, StateError};
use std::sync::{Mutex, OnceLock};

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub(crate) fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("window aggregation: {e}"))
}

/// Grouping keys (in Arrow's row format) interned to small ids, reference-counted by the
/// slices that hold them so that keys of expired windows are forgotten.
#[derive(Default)]
pub(crate) struct KeyTable {
    index: HashMap<Arc<[u8]>, u32>,
    /// Shared with checkpoint parts that capture keys (a pointer copy).
    pub(crate) rows: Vec<Arc<[u8]>>,
    pub(crate) refs: Vec<u32>,
    free: Vec<u32>,
}

impl KeyTable {
    pub(crate) fn intern(&mut self, key: &[u8]) -> u32 {
        if let Some(id) = self.index.get(key) {
            return *id;
        }
        let boxed: Arc<[u8]> = key.into();
        let id = match self.free.pop() {
            Some(id) => {
                self.rows[id as usize] = boxed.clone();
                id
            }
            None => {
                self.rows.push(boxed.clone());
                self.refs.push(0);
                (self.rows.len() - 1) as u32
            }
        };
        self.index.insert(boxed, id);
        id
    }

    /// Room for `n` more keys (a restore knows how many rows come).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.index.reserve(n);
        self.rows.reserve(n);
        self.refs.reserve(n);
    }

    pub(crate) fn release(&mut self, id: u32) {
        let r = &mut self.refs[id as usize];
        *r -= 1;
        if *r == 0 {
            let row = std::mem::take(&mut self.rows[id as usize]);
            self.index.remove(&row);
            self.free.push(id);
        }
    }
}

/// Accumulator states taken out of a slice (when a window containing it was first computed,
/// or at a checkpoint): partial aggregates of the groups updated since the previous part, or
/// the compaction of earlier parts. Immutable once made, so a checkpoint writes each part once
/// (its `id` is the stable id).
struct Part {
    id: u64,
    /// Slice groups the part holds (for the compaction heuristic).
    rows: usize,
    data: Arc<PartData>,
}

/// A part's contents, shared with the checkpoint thread: a compaction is computed there (or
/// here, if a window needs it first) and so are the key columns of the snapshot batch — the
/// operator's thread only freezes accumulators and copies key pointers.
struct PartData {
    end: i64,
    ctx: Arc<PartContext>,
    states: OnceLock<std::result::Result<PartStates, String>>,
    keys: OnceLock<std::result::Result<Vec<ArrayRef>, String>>,
    source: Mutex<Source>,
}

struct PartStates {
    /// The slice's group indices the rows are for.
    groups: Vec<u32>,
    /// Per aggregate, its state columns.
    states: Vec<Vec<ArrayRef>>,
}

/// What a part's not yet computed contents come from.
enum Source {
    /// A frozen part whose keys were not needed yet.
    Frozen,
    /// The key of each row (Arrow row format), captured when a checkpoint first took the part.
    Keys(Vec<Arc<[u8]>>),
    /// The compaction of these parts of a slice with `groups` groups: its row `g` is group `g`.
    Compact { parts: Vec<Arc<PartData>>, groups: usize },
    /// Everything computed.
    Done,
}

/// What computing parts needs, shared by an operator's parts (and the operator's own key
/// converter to and from Arrow's row format).
struct PartContext {
    aggs: Vec<Arc<AggregateFunctionExpr>>,
    converter: RowConverter,
    nkeys: usize,
    /// The snapshot entry's schema: keys, slice end, every aggregate's state columns.
    schema: SchemaRef,
}

impl PartData {
    fn frozen(end: i64, ctx: Arc<PartContext>, states: PartStates) -> Arc<Self> {
        Arc::new(PartData { end, ctx, states: OnceLock::from(Ok(states)), keys: OnceLock::new(), source: Mutex::new(Source::Frozen) })
    }

    fn source(&self) -> std::sync::MutexGuard<'_, Source> {
        self.source.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The accumulator states (computing a compaction on first use).
    fn states(&self) -> Result<&PartStates> {
        self.states
            .get_or_init(|| {
                let (parts, groups) = match &*self.source() {
                    Source::Compact { parts, groups } => (parts.clone(), *groups),
                    _ => return Err("a part has neither states nor a compaction".into()),
                };
                let mut accs = self.ctx.aggs.iter().map(new_accumulator).collect::<Result<Vec<_>>>().map_err(|e| e.to_string())?;
                for part in &parts {
                    let p = part.states().map_err(|e| e.to_string())?;
                    let at: Vec<usize> = p.groups.iter().map(|g| *g as usize).collect();
                    for (a, states) in accs.iter_mut().zip(&p.states) {
                        a.merge_batch(states, &at, groups).map_err(|e| e.to_string())?;
                    }
                }
                let states = accs.iter_mut().map(|a| a.state(EmitTo::All)).collect::<datafusion_common::Result<Vec<_>>>().map_err(|e| e.to_string())?;
                Ok(PartStates { groups: (0..groups as u32).collect(), states })
            })
            .as_ref()
            .map_err(|e| internal(e))
    }

    /// The key columns of the part's rows.
    fn keys(&self) -> Result<&[ArrayRef]> {
        self.keys
            .get_or_init(|| {
                if self.ctx.nkeys == 0 {
                    return Ok(Vec::new());
                }
                let source = std::mem::replace(&mut *self.source(), Source::Done);
                match source {
                    Source::Keys(rows) => {
                        let parser = self.ctx.converter.parser();
                        self.ctx.converter.convert_rows(rows.iter().map(|r| parser.parse(r))).map_err(|e| e.to_string())
                    }
                    Source::Compact { parts, groups } => {
                        // Row g is group g: take each group's key from a part that has it.
                        let mut at = vec![(usize::MAX, 0usize); groups];
                        let mut columns: Vec<&[ArrayRef]> = Vec::with_capacity(parts.len());
                        for (i, part) in parts.iter().enumerate() {
                            let p = part.states().map_err(|e| e.to_string())?;
                            columns.push(part.keys().map_err(|e| e.to_string())?);
                            for (row, g) in p.groups.iter().enumerate() {
                                at[*g as usize] = (i, row);
                            }
                        }
                        if at.iter().any(|(i, _)| *i == usize::MAX) {
                            return Err("a compacted part lacks the key of a group".into());
                        }
                        (0..self.ctx.nkeys)
                            .map(|c| {
                                let arrays: Vec<&dyn Array> = columns.iter().map(|k| k[c].as_ref()).collect();
                                arrow::compute::interleave(&arrays, &at).map_err(|e| e.to_string())
                            })
                            .collect()
                    }
                    Source::Frozen | Source::Done => Err("a part's keys were not captured".into()),
                }
            })
            .as_ref()
            .map(|k| k.as_slice())
            .map_err(|e| internal(e))
    }

    /// The part as a snapshot batch (keys, slice end, states); run on the checkpoint thread.
    fn batch(&self) -> Result<RecordBatch> {
        let states = self.states()?;
        let mut cols: Vec<ArrayRef> = self.keys()?.to_vec();
        cols.push(Arc::new(TimestampMillisecondArray::from(vec![self.end; states.groups.len()])));
        for st in &states.states {
            cols.extend(st.iter().cloned());
        }
        let batch = RecordBatch::try_new(self.ctx.schema.clone(), cols).map_err(internal)?;
        // What the part was computed from is not needed any more.
        *self.source() = Source::Done;
        Ok(batch)
    }
}

/// A slice's parts are compacted into one when the parts after the first hold as many rows as
/// the first (size-tiered: a checkpoint rewrites a slice in full only after about as much
/// change), or beyond this many parts (bounding the merge work when its windows fire).
const MAX_PARTS: usize = 64;

fn needs_compaction(parts: &[Part]) -> bool {
    let first = parts.first().map_or(0, |p| p.rows);
    let rest: usize = parts.iter().skip(1).map(|p| p.rows).sum();
    parts.len() > MAX_PARTS || (parts.len() > 1 && rest >= first)
}

#[derive(Default)]
struct Slice {
    group_of: HashMap<u32, u32>,
    /// Group index → key id.
    key_ids: Vec<u32>,
    /// Accumulators of the groups updated since the last freeze, indexed by *live index*
    /// (dense in the order groups were first touched), so that freezing costs what changed.
    live: Option<Vec<Box<dyn GroupsAccumulator>>>,
    /// Slice group → live index (`u32::MAX`: not in the live accumulators).
    live_of: Vec<u32>,
    /// Live index → slice group.
    live_groups: Vec<u32>,
    frozen: Vec<Part>,
}

impl Slice {
    /// The live indices of slice groups `groups` (assigning new ones on first touch).
    fn live_indices(&mut self, groups: &[usize]) -> Vec<usize> {
        if self.live_of.len() < self.key_ids.len() {
            self.live_of.resize(self.key_ids.len(), u32::MAX);
        }
        groups
            .iter()
            .map(|g| {
                let l = &mut self.live_of[*g];
                if *l == u32::MAX {
                    *l = self.live_groups.len() as u32;
                    self.live_groups.push(*g as u32);
                }
                *l as usize
            })
            .collect()
    }

    /// Move the live accumulators' states (the groups updated since the last freeze) into a
    /// new part.
    fn freeze(&mut self, end: i64, ctx: &Arc<PartContext>, next_id: &mut u64) -> Result<()> {
        if let Some(mut live) = self.live.take() {
            let states = live.iter_mut().map(|a| a.state(EmitTo::All)).collect::<datafusion_common::Result<Vec<_>>>().map_err(internal)?;
            let groups = std::mem::take(&mut self.live_groups);
            for g in &groups {
                self.live_of[*g as usize] = u32::MAX;
            }
            *next_id += 1;
            let rows = groups.len();
            self.frozen.push(Part { id: *next_id, rows, data: PartData::frozen(end, ctx.clone(), PartStates { groups, states }) });
        }
        Ok(())
    }
}

pub struct WindowAggregate {
    plan: Plan,
    schema: SchemaRef,
    keys: KeyTable,
    slices: BTreeMap<i64, Slice>,
    /// Ends of windows that hold rows and have not fired yet.
    pending: BTreeSet<i64>,
    watermark: i64,
    late_dropped: Arc<AtomicU64>,
    /// Longest `on_watermark` that fired windows, in µs (metric `window_fire_max_us`).
    fire_max_us: Arc<AtomicU64>,
    /// Key id → window group while a window is computed (`u32::MAX`: not in the window).
    scratch: Vec<u32>,
    /// Two-phase global side: each aggregate's partial-state columns in the input.
    state_cols: Vec<std::ops::Range<usize>>,
    /// Id of the last part made (parts' stable ids for incremental checkpoints).
    next_part: u64,
    ctx: Arc<PartContext>,
}

/// An aggregate's argument columns for `batch`.
pub(crate) fn aggregate_args(agg: &AggregateFunctionExpr, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    agg.expressions()
        .iter()
        .map(|e| e.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())))
        .collect::<datafusion_common::Result<Vec<_>>>()
        .map_err(internal)
}

/// A local aggregation's flush: the leading columns (keys, slice end) then every accumulator's
/// partial state for all its groups, cast to the local phase's output schema.
pub(crate) fn partial_states(schema: &SchemaRef, mut cols: Vec<ArrayRef>, accs: &mut [Box<dyn GroupsAccumulator>]) -> Result<RecordBatch> {
    for a in accs.iter_mut() {
        cols.extend(a.state(EmitTo::All).map_err(internal)?);
    }
    let cols = cols
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { arrow::compute::cast(&c, f.data_type()).map_err(internal) })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), cols).map_err(internal)
}

pub(crate) fn new_accumulator(agg: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if agg.groups_accumulator_supported() {
        agg.create_groups_accumulator().map_err(internal)
    } else {
        let a = agg.clone();
        Ok(Box::new(GroupsAccumulatorAdapter::new(move || a.create_accumulator())))
    }
}

impl WindowAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, late_dropped: Arc<AtomicU64>, fire_max_us: Arc<AtomicU64>) -> Result<Self> {
        let mut state_cols = Vec::new();
        let mut at = plan.keys + 1;
        for a in &plan.aggs {
            let n = a.state_fields().map_err(internal)?.len();
            state_cols.push(at..at + n);
            at += n;
        }
        let key_types: Vec<DataType> = (0..plan.keys).map(|i| input.field(i).data_type().clone()).collect();
        let ctx = Arc::new(PartContext {
            aggs: plan.aggs.clone(),
            converter: RowConverter::new(key_types.iter().map(|t| SortField::new(t.clone())).collect()).map_err(internal)?,
            nkeys: plan.keys,
            schema: state_schema(&key_types, &plan.aggs)?,
        });
        Ok(WindowAggregate {
            ctx,
            next_part: 0,
            state_cols,
            plan,
            schema,
            keys: KeyTable::default(),
            slices: BTreeMap::new(),
            pending: BTreeSet::new(),
            watermark: WATERMARK_MIN,
            late_dropped,
            fire_max_us,
            scratch: Vec::new(),
        })
    }

    fn accumulators(&self) -> Result<Vec<Box<dyn GroupsAccumulator>>> {
        self.plan.aggs.iter().map(new_accumulator).collect()
    }

    /// Update the slice ending at `end` with the rows `rows` of `batch` (all rows if `None`);
    /// `merge`: the rows hold partial states (two-phase global side, or restored state).
    fn update(&mut self, end: i64, batch: &RecordBatch, rows: Option<&[u32]>, groups: &[usize], merge: bool) -> Result<()> {
        let taken;
        let batch = match rows {
            None => batch,
            Some(r) => {
                taken = take_record_batch(batch, &UInt32Array::from(r.to_vec())).map_err(internal)?;
                &taken
            }
        };
        if self.slices.get(&end).is_some_and(|s| s.live.is_none()) {
            let accs = self.accumulators()?;
            if let Some(s) = self.slices.get_mut(&end) {
                s.live = Some(accs);
            }
        }
        let Some(slice) = self.slices.get_mut(&end) else { return Err(internal("slice vanished")) };
        let groups = slice.live_indices(groups);
        let total = slice.live_groups.len();
        let Some(live) = slice.live.as_mut() else { return Err(internal("slice without accumulators")) };
        if merge {
            for (i, cols) in self.state_cols.iter().enumerate() {
                live[i].merge_batch(&batch.columns()[cols.clone()], &groups, total).map_err(internal)?;
            }
            return Ok(());
        }
        for (i, agg) in self.plan.aggs.iter().enumerate() {
            let args = aggregate_args(agg, batch)?;
            let filter: Option<&BooleanArray> = self.plan.filters[i].map(|c| batch.column(c).as_boolean());
            live[i].update_batch(&args, &groups, filter, total).map_err(internal)?;
        }
        Ok(())
    }

    /// Compute and emit the window ending at `end`.
    fn fire(&mut self, end: i64, out: &mut Emitter) -> Result<()> {
        let start = self.plan.spec.window_start(end);
        let ends: Vec<i64> = if self.plan.attached {
            self.slices.get(&end).map(|_| vec![end]).unwrap_or_default()
        } else {
            self.slices.range(start + 1..=end).map(|(e, _)| *e).collect()
        };
        if ends.is_empty() {
            return Ok(());
        }
        let (key_ids, results) = if ends.len() == 1
            && self.last_end(ends[0]) == end
            && self.slices.get(&ends[0]).is_some_and(|s| s.frozen.is_empty())
        {
            // The window is one slice that no later window needs: evaluate it in place.
            let Some(slice) = self.slices.get_mut(&ends[0]) else { return Err(internal("slice vanished")) };
            let Some(mut live) = slice.live.take() else { return Err(internal("slice without accumulators")) };
            let results = live.iter_mut().map(|a| a.evaluate(EmitTo::All)).collect::<datafusion_common::Result<Vec<_>>>().map_err(internal)?;
            // Results are in live order.
            (slice.live_groups.iter().map(|g| slice.key_ids[*g as usize]).collect(), results)
        } else {
            let mut accs = self.accumulators()?;
            let mut key_ids: Vec<u32> = Vec::new();
            if self.scratch.len() < self.keys.rows.len() {
                self.scratch.resize(self.keys.rows.len(), u32::MAX);
            }
            for e in &ends {
                let Some(slice) = self.slices.get_mut(e) else { continue };
                slice.freeze(*e, &self.ctx, &mut self.next_part)?;
                let idx: Vec<usize> = slice
                    .key_ids
                    .iter()
                    .map(|k| {
                        let g = &mut self.scratch[*k as usize];
                        if *g == u32::MAX {
                            *g = key_ids.len() as u32;
                            key_ids.push(*k);
                        }
                        *g as usize
                    })
                    .collect();
                for part in &slice.frozen {
                    let part = part.data.states()?;
                    let at: Vec<usize> = part.groups.iter().map(|g| idx[*g as usize]).collect();
                    for (a, states) in accs.iter_mut().zip(&part.states) {
                        a.merge_batch(states, &at, key_ids.len()).map_err(internal)?;
                    }
                }
            }
            for k in &key_ids {
                self.scratch[*k as usize] = u32::MAX;
            }
            let results = accs.iter_mut().map(|a| a.evaluate(EmitTo::All)).collect::<datafusion_common::Result<Vec<_>>>().map_err(internal)?;
            (key_ids, results)
        };
        let n = key_ids.len();
        let key_cols = if self.plan.keys == 0 {
            Vec::new()
        } else {
            let parser = self.ctx.converter.parser();
            self.ctx.converter.convert_rows(key_ids.iter().map(|k| parser.parse(&self.keys.rows[*k as usize]))).map_err(internal)?
        };
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (i, g) in self.plan.groups.iter().enumerate() {
            cols.push(match g {
                GroupOutput::Key(k) => key_cols[*k].clone(),
                GroupOutput::Null => arrow::array::new_null_array(self.schema.field(i).data_type(), n),
                GroupOutput::GroupingId(g) => {
                    let a: ArrayRef = Arc::new(arrow::array::UInt64Array::from(vec![*g; n]));
                    arrow::compute::cast(&a, self.schema.field(i).data_type()).map_err(internal)?
                }
                GroupOutput::Window(w) => {
                    let v = match w {
                        WindowColumn::Start => start,
                        WindowColumn::End => end,
                        WindowColumn::Time => self.plan.spec.window_time(end),
                    };
                    let tz = match self.schema.field(i).data_type() {
                        DataType::Timestamp(_, tz) => tz.clone(),
                        _ => None,
                    };
                    Arc::new(TimestampMillisecondArray::from(vec![v; n]).with_timezone_opt(tz))
                }
            });
        }
        cols.extend(results);
        let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        out.emit(StreamBatch::inserts(rb));
        Ok(())
    }

    /// The end of the last window that needs the slice ending at `slice_end`.
    fn last_end(&self, slice_end: i64) -> i64 {
        if self.plan.attached { slice_end } else { self.plan.spec.last_window_end(slice_end) }
    }

    /// Fire every pending window whose end has been passed by `time` (event or processing).
    fn advance(&mut self, time: i64, out: &mut Emitter) -> Result<()> {
        let started = std::time::Instant::now();
        let mut fired = false;
        while let Some(&end) = self.pending.first() {
            if end - 1 > time {
                break;
            }
            self.pending.pop_first();
            self.fire(end, out)?;
            self.expire(end);
            fired = true;
        }
        if fired {
            self.fire_max_us.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Processing time: wake up when the next window ends.
    fn arm(&self, out: &mut Emitter) {
        if let Some(end) = self.pending.first() {
            let wait = (self.plan.spec.clock.timer_instant(end - 1) - rask_types::now_ms()).max(0) as u64;
            out.wake_after(std::time::Duration::from_millis(wait));
        }
    }

    /// Drop the slices no window after `fired` needs.
    fn expire(&mut self, fired: i64) {
        while let Some((&e, _)) = self.slices.first_key_value() {
            if self.last_end(e) > fired {
                break;
            }
            if let Some(slice) = self.slices.remove(&e) {
                for k in slice.key_ids {
                    self.keys.release(k);
                }
            }
        }
    }
}

impl WindowAggregate {
    /// Aggregate `data` = (keys, slice end, arguments or partial states) into its slices;
    /// `proc_slice`: processing time assigns every row to this slice.
    fn ingest(&mut self, data: &RecordBatch, proc_slice: Option<i64>, merge: bool) -> Result<()> {
        let per_slice = self.assign(data, proc_slice)?;
        let all = per_slice.len() == 1 && per_slice[0].1.len() == data.num_rows();
        for (end, rows, groups) in per_slice {
            self.update(end, data, if all { None } else { Some(&rows) }, &groups, merge)?;
        }
        Ok(())
    }

    /// Add the slice ending at `end`; its windows become pending.
    fn open_slice(&mut self, end: i64, slice: Slice) {
        let ends: Vec<i64> = if self.plan.attached { vec![end] } else { self.plan.spec.window_ends(end).collect() };
        for w in ends {
            if w - 1 > self.watermark {
                self.pending.insert(w);
            }
        }
        self.slices.insert(end, slice);
    }

    /// The slice and slice group of each row of `data` (creating them), as (slice end, rows,
    /// groups) per slice in arrival order; late rows are dropped and counted.
    #[allow(clippy::type_complexity)]
    fn assign(&mut self, data: &RecordBatch, proc_slice: Option<i64>) -> Result<Vec<(i64, Vec<u32>, Vec<usize>)>> {
        let keys = self.plan.keys;
        let rows = self.ctx.converter.convert_columns(&data.columns()[..keys]).map_err(internal)?;
        let ends = data.column(keys).as_primitive::<TimestampMillisecondType>();
        // Rows per slice, in arrival order; most batches fall in one slice.
        let mut per_slice: Vec<(i64, Vec<u32>, Vec<usize>)> = Vec::new();
        let mut late = 0u64;
        for i in 0..data.num_rows() {
            if ends.is_null(i) && proc_slice.is_none() {
                late += 1;
                continue;
            }
            // Processing time: the row belongs to the slice of this operator's clock (Flink's
            // processing-time windows assign by the window operator's time).
            let end = proc_slice.unwrap_or_else(|| ends.value(i));
            if self.last_end(end) - 1 <= self.watermark {
                late += 1;
                continue;
            }
            let key = if keys == 0 { self.keys.intern(&[]) } else { self.keys.intern(rows.row(i).as_ref()) };
            if !self.slices.contains_key(&end) {
                self.open_slice(end, Slice::default());
            }
            let Some(slice) = self.slices.get_mut(&end) else { return Err(internal("slice vanished")) };
            let group = match slice.group_of.get(&key) {
                Some(g) => *g,
                None => {
                    let g = slice.key_ids.len() as u32;
                    slice.group_of.insert(key, g);
                    slice.key_ids.push(key);
                    self.keys.refs[key as usize] += 1;
                    g
                }
            };
            match per_slice.iter_mut().find(|(e, _, _)| *e == end) {
                Some((_, r, g)) => {
                    r.push(i as u32);
                    g.push(group as usize);
                }
                None => per_slice.push((end, vec![i as u32], vec![group as usize])),
            }
        }
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        Ok(per_slice)
    }
}

/// The schema of the snapshot entry: keys, slice end, every aggregate's state columns (the
/// layout of the two-phase input, so restoring is merging).
fn state_schema(key_types: &[DataType], aggs: &[Arc<AggregateFunctionExpr>]) -> Result<SchemaRef> {
    let mut fields: Vec<arrow::datatypes::FieldRef> = Vec::new();
    for (i, f) in key_types.iter().enumerate() {
        fields.push(Arc::new(arrow::datatypes::Field::new(format!("k{i}"), f.clone(), true)));
    }
    fields.push(Arc::new(arrow::datatypes::Field::new("slice_end", DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None), false)));
    for (i, a) in aggs.iter().enumerate() {
        for f in a.state_fields().map_err(internal)? {
            fields.push(Arc::new(f.as_ref().clone().with_name(format!("a{i}_{}", f.name())).with_nullable(true)));
        }
    }
    Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
}

impl Operator for WindowAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "window aggregation")?;
        let proc_slice = self.plan.proctime.then(|| {
            let (now, slice, off) = (self.plan.spec.clock.local(rask_types::now_ms()), self.plan.spec.slice(), self.plan.spec.offset);
            now - (now - off).rem_euclid(slice) + slice
        });
        self.ingest(&batch.data, proc_slice, self.plan.merge)?;
        if self.plan.proctime {
            self.arm(out);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        if !self.plan.proctime {
            // Window bounds are on the window's clock (the session zone for TIMESTAMP_LTZ).
            self.watermark = self.plan.spec.clock.progress(watermark);
            self.advance(self.watermark, out)?;
        }
        out.watermark(watermark);
        Ok(())
    }

    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if self.plan.proctime {
            self.advance(self.plan.spec.clock.progress(rask_types::now_ms()), out)?;
            self.arm(out);
        }
        Ok(())
    }
    // Processing-time windows still open at the end of input are not fired (as in Flink).

    /// Every slice's accumulator states as rows (keys, slice end, states), one batch per
    /// part. Live accumulators are frozen into a new part holding just the groups updated
    /// since the previous checkpoint; earlier parts are unchanged and keep their stable ids,
    /// so the checkpoint writes only the new ones (incremental). A slice whose later parts
    /// outweigh its first is compacted into one (see [`needs_compaction`]). Batches are built
    /// — and compactions computed — on the checkpoint thread: here the operator only freezes
    /// what changed and copies key pointers.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let mut deferred = Vec::new();
        let ends: Vec<i64> = self.slices.keys().copied().collect();
        for end in ends {
            let Some(slice) = self.slices.get_mut(&end) else { continue };
            slice.freeze(end, &self.ctx, &mut self.next_part)?;
            // Capture the keys of parts a checkpoint takes for the first time.
            for part in &slice.frozen {
                let mut source = part.data.source();
                if matches!(*source, Source::Frozen) && part.data.keys.get().is_none() {
                    let groups = &part.data.states()?.groups;
                    *source = Source::Keys(groups.iter().map(|g| self.keys.rows[slice.key_ids[*g as usize] as usize].clone()).collect());
                }
            }
            if needs_compaction(&slice.frozen) {
                self.next_part += 1;
                let groups = slice.key_ids.len();
                let parts = slice.frozen.drain(..).map(|p| p.data).collect();
                let data = Arc::new(PartData {
                    end,
                    ctx: self.ctx.clone(),
                    states: OnceLock::new(),
                    keys: OnceLock::new(),
                    source: Mutex::new(Source::Compact { parts, groups }),
                });
                slice.frozen.push(Part { id: self.next_part, rows: groups, data });
            }
            for part in &slice.frozen {
                let data = part.data.clone();
                deferred.push(Deferred { id: Some(part.id), rows: part.rows, build: Arc::new(move || data.batch().map_err(StateError::from)) });
            }
        }
        let meta = watermark_meta(self.watermark);
        let key_columns = (self.plan.keys > 0).then(|| (0..self.plan.keys).collect());
        let mut entry = StateEntry::new("slices", self.ctx.schema.clone(), key_columns, Vec::new());
        entry.deferred = deferred;
        Ok(Some(OperatorSnapshot { meta, entries: vec![entry] }))
    }

    /// Each stored batch becomes a part of its slice as it is (no merging: windows merge parts
    /// when they fire, and the next checkpoint compacts them off the worker thread).
    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.watermark = restored_watermark(self.watermark, &parts);
        let schema = self.ctx.schema.clone();
        let nkeys = self.plan.keys;
        // Rows of a slice's later parts mostly repeat keys of its first: reserve for the
        // largest batch per slice (growing big hash tables costs more than the restore).
        let mut per_end: HashMap<i64, usize> = HashMap::new();
        // A stored part holds one slice: its first row's end (`None` for a batch that does not
        // fit the query, which the schema check below reports).
        let slice_end = |b: &RecordBatch| {
            b.columns().get(nkeys)?.as_primitive_opt::<TimestampMillisecondType>().filter(|a| !a.is_empty()).map(|a| a.value(0))
        };
        for e in parts.iter().flat_map(|p| p.entries.iter().filter(|e| e.name == "slices")) {
            for b in &e.batches {
                if let Some(end) = slice_end(b) {
                    let n = per_end.entry(end).or_default();
                    *n = (*n).max(b.num_rows());
                }
            }
        }
        self.keys.reserve(per_end.values().sum());
        for p in parts {
            for e in p.entries.iter().filter(|e| e.name == "slices") {
                for b in &e.batches {
                    if let Some(end) = slice_end(b)
                        && !self.slices.contains_key(&end)
                        && self.last_end(end) - 1 > self.watermark
                    {
                        let mut slice = Slice::default();
                        slice.group_of.reserve(per_end.get(&end).copied().unwrap_or(0));
                        slice.key_ids.reserve(per_end.get(&end).copied().unwrap_or(0));
                        self.open_slice(end, slice);
                    }
                    let b = RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                        .map_err(|err| RuntimeError::User(format!("window aggregation state does not fit the query: {err}")))?;
                    let per_slice = self.assign(&b, None)?;
                    let all = per_slice.len() == 1 && per_slice[0].1.len() == b.num_rows();
                    for (end, rows, groups) in per_slice {
                        let b = if all { b.clone() } else { take_record_batch(&b, &UInt32Array::from(rows)).map_err(internal)? };
                        let states = self.state_cols.iter().map(|c| b.columns()[c.clone()].to_vec()).collect();
                        let keys = b.columns()[..nkeys].to_vec();
                        self.next_part += 1;
                        let rows = groups.len();
                        let groups = groups.into_iter().map(|g| g as u32).collect();
                        let data = PartData::frozen(end, self.ctx.clone(), PartStates { groups, states });
                        let _ = data.keys.set(Ok(keys));
                        let Some(slice) = self.slices.get_mut(&end) else { return Err(internal("slice vanished")) };
                        slice.frozen.push(Part { id: self.next_part, rows, data });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;
    use rask_sql::window_tvf::{WindowKind, WindowSpec};

    /// HOP(size 6 s, slide 2 s) with SUM(v) per key: input is (key, slice end, v).
    fn hop_sum() -> (WindowAggregate, Arc<AtomicU64>) {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("slice_end", ts.clone(), false),
            Field::new("v", DataType::Int64, true),
        ]));
        let sum = datafusion_functions_aggregate::sum::sum_udaf();
        let agg = AggregateExprBuilder::new(sum, vec![Arc::new(Column::new("v", 2))]).schema(input.clone()).alias("s").build().unwrap();
        let plan = Plan {
            spec: WindowSpec { kind: WindowKind::Hop, size: 6000, step: 2000, offset: 0, clock: Default::default() },
            keys: 1,
            aggs: vec![Arc::new(agg)],
            filters: vec![None],
            groups: vec![GroupOutput::Key(0), GroupOutput::Window(WindowColumn::End)],
            proctime: false,
            merge: false,
            attached: false,
        };
        let out = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("we", ts, false), Field::new("s", DataType::Int64, true)]));
        let late = Arc::new(AtomicU64::new(0));
        (WindowAggregate::new(plan, input.clone(), out, late.clone(), Arc::new(AtomicU64::new(0))).unwrap(), late)
    }

    fn rows(k: &[&str], end: &[i64], v: &[i64]) -> StreamBatch {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("slice_end", ts, false),
            Field::new("v", DataType::Int64, true),
        ]));
        StreamBatch::inserts(
            RecordBatch::try_new(
                schema,
                vec![Arc::new(StringArray::from(k.to_vec())), Arc::new(TimestampMillisecondArray::from(end.to_vec())), Arc::new(Int64Array::from(v.to_vec()))],
            )
            .unwrap(),
        )
    }

    fn fired(out: &Emitter) -> Vec<(String, i64, i64)> {
        let mut v = Vec::new();
        for b in &out.batches {
            let k = b.data.column(0).as_string::<i32>();
            let e = b.data.column(1).as_primitive::<TimestampMillisecondType>();
            let s = b.data.column(2).as_primitive::<arrow::datatypes::Int64Type>();
            for i in 0..b.num_rows() {
                v.push((k.value(i).to_string(), e.value(i), s.value(i)));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn hop_windows_merge_slices_and_state_is_released() {
        let (mut op, late) = hop_sum();
        let mut out = Emitter::default();
        op.on_batch(0, rows(&["a", "a", "b"], &[2000, 4000, 4000], &[1, 10, 100]), &mut out).unwrap();
        op.on_watermark(3999, &mut out).unwrap();
        assert_eq!(fired(&out), vec![("a".into(), 2000, 1), ("a".into(), 4000, 11), ("b".into(), 4000, 100)]);
        // Slice 2000 is still needed by the window ending 6000: a row for it is not late.
        let mut out = Emitter::default();
        op.on_batch(0, rows(&["a"], &[2000], &[1000]), &mut out).unwrap();
        assert_eq!(late.load(Ordering::Relaxed), 0);
        op.on_watermark(7999, &mut out).unwrap();
        assert_eq!(
            fired(&out),
            vec![("a".into(), 6000, 1011), ("a".into(), 8000, 10), ("b".into(), 6000, 100), ("b".into(), 8000, 100)]
        );
        // Every window of slice 2000 has fired now: its rows are late.
        op.on_batch(0, rows(&["c"], &[2000], &[1]), &mut Emitter::default()).unwrap();
        assert_eq!(late.load(Ordering::Relaxed), 1);
        op.on_watermark(i64::MAX, &mut Emitter::default()).unwrap();
        assert!(op.slices.is_empty() && op.pending.is_empty());
        assert!(op.keys.index.is_empty(), "keys of expired slices are forgotten");
    }

    /// Build a snapshot's deferred batches as the checkpoint thread does (decoded form).
    fn built(snap: OperatorSnapshot) -> OperatorSnapshot {
        let mut snap = snap;
        for e in &mut snap.entries {
            for d in std::mem::take(&mut e.deferred) {
                e.batches.push((d.build)().unwrap());
            }
        }
        snap
    }

    #[test]
    fn snapshots_are_incremental_compacted_off_thread_and_restore() {
        let (mut op, _) = hop_sum();
        let mut out = Emitter::default();
        op.on_batch(0, rows(&["a", "b", "c"], &[2000, 2000, 4000], &[1, 10, 100]), &mut out).unwrap();
        let s1 = op.snapshot(1).unwrap().unwrap();
        let ids1: Vec<_> = s1.entries[0].deferred.iter().map(|d| d.id).collect();
        assert_eq!(s1.entries[0].num_rows(), 3);
        // Only "a" changes: the next snapshot adds a one-row part and keeps the others' ids.
        op.on_batch(0, rows(&["a"], &[2000], &[1000]), &mut out).unwrap();
        let s2 = op.snapshot(2).unwrap().unwrap();
        let ids2: Vec<_> = s2.entries[0].deferred.iter().map(|d| d.id).collect();
        assert_eq!(ids2.len(), 3);
        assert!(ids1.iter().all(|id| ids2.contains(id)));
        let _ = built(s2);
        // "a" and "b" change in slice 2000: its later parts outweigh the first, so the next
        // snapshot hands in one compaction, computed when built.
        op.on_batch(0, rows(&["a", "b"], &[2000, 2000], &[5, 5]), &mut out).unwrap();
        let s3 = op.snapshot(3).unwrap().unwrap();
        let slice_2000: Vec<_> = op.slices[&2000].frozen.iter().map(|p| p.id).collect();
        assert_eq!(slice_2000.len(), 1);
        assert!(!ids2.contains(&Some(slice_2000[0])), "a compaction gets a new id");
        let s3 = built(s3);
        assert_eq!(s3.entries[0].num_rows(), 3, "compacted: a and b in slice 2000, c in 4000");
        // The original fires what the restored copy fires.
        let (mut restored, _) = hop_sum();
        restored.restore(vec![s3]).unwrap();
        let (mut a, mut b) = (Emitter::default(), Emitter::default());
        op.on_watermark(i64::MAX - 1, &mut a).unwrap();
        restored.on_watermark(i64::MAX - 1, &mut b).unwrap();
        assert_eq!(fired(&a), fired(&b));
        assert!(fired(&a).contains(&("a".into(), 2000, 1006)));
    }
}
