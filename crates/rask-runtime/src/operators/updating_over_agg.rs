//! OVER aggregation over an updating input (Nexmark q6: an OVER window on a group
//! aggregation's changelog; Flink refuses such plans, RisingWave runs them as a "general over
//! window"): per partition key every current row of the input, in window order, with the
//! aggregates last emitted for it. Each input change is applied in arrival order; then every
//! row whose frame it entered or left is re-evaluated, and the output changes: a removed row
//! is retracted (`-U`/`-D`, as it was retracted) with its last aggregates, a new row is emitted
//! (`+I`/`+U`, as it came), a row whose aggregates changed gets `-U` old, `+U` new. The
//! changelog thus materialises the OVER query evaluated on the input's current table, which is
//! what a batch engine returns for that table.
//!
//! Rows are ordered by the window's ORDER BY column, ties by the whole row (Arrow's row format:
//! deterministic, whatever the arrival order), identical rows by arrival. A row's aggregate
//! arguments stay in the argument columns computed for its input batch (kept alive while any
//! of its rows is). Bounded frames (`ROWS n PRECEDING`, `RANGE INTERVAL … PRECEDING`): each
//! change records the frames it calls for, a batch's frames are evaluated together (one groups
//! accumulator per aggregate, a frame per group) and the batch's changes are then replayed in
//! order. Unbounded frames keep each row's running accumulator state, so that a change resumes
//! from the row before it: appending costs one row, a change in the middle the rows after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt8Array};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use hashbrown::HashMap;
use rask_sql::over_agg::{Frame, OverAggregate as Plan};
use rask_state::{OperatorSnapshot, StateEntry, StateTtl};
use rask_types::{RowKind, StreamBatch};

use super::keyed::{key_of, key_rows, restored_batches, slot};
use super::window_agg::aggregate_args;
use super::window_tvf::to_millis;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("updating OVER aggregation: {e}"))
}

/// A row's place in its partition: (ORDER BY value, whole row, number among identical rows),
/// each value in Arrow's row format.
type Key = (Box<[u8]>, Box<[u8]>, u32);

struct Entry {
    /// Every aggregate's argument values, aggregate after aggregate.
    args: Args,
    /// The ORDER BY value in ms (RANGE INTERVAL frames only; `None`: NULL or not needed).
    ms: Option<i64>,
    /// The aggregates last emitted with this row (`None`: not emitted yet).
    emitted: Option<Vec<ScalarValue>>,
    /// How the row arrived (`+I` or `+U`): the kind of its first output.
    kind: RowKind,
    /// Unbounded frames: every aggregate's accumulator state with this row (and, RANGE, its
    /// peers) added.
    running: Option<Vec<Vec<ScalarValue>>>,
}

/// Where a row's aggregate arguments are: a row of the argument columns computed for the
/// batch it came in (shared by that batch's rows, so that frames are gathered with Arrow's
/// `interleave`, not value by value).
#[derive(Clone)]
struct Args {
    cols: Arc<Vec<ArrayRef>>,
    row: usize,
}

/// Gathers rows of several batches' argument columns into arrays.
#[derive(Default)]
struct Gather {
    sources: Vec<Arc<Vec<ArrayRef>>>,
    /// Source index by the address of its columns.
    index: HashMap<usize, usize>,
    /// (source, row) per gathered row.
    rows: Vec<(usize, usize)>,
}

impl Gather {
    fn push(&mut self, a: &Args) {
        let sources = &mut self.sources;
        let s = *self.index.entry(Arc::as_ptr(&a.cols) as usize).or_insert_with(|| {
            sources.push(a.cols.clone());
            sources.len() - 1
        });
        self.rows.push((s, a.row));
    }

    /// The gathered rows, one array per argument column; then empty again.
    fn take(&mut self, width: usize) -> Result<Vec<ArrayRef>> {
        let cols = (0..width)
            .map(|j| {
                let arrays: Vec<&dyn arrow::array::Array> = self.sources.iter().map(|s| s[j].as_ref()).collect();
                arrow::compute::interleave(&arrays, &self.rows).map_err(internal)
            })
            .collect::<Result<Vec<_>>>();
        self.sources.clear();
        self.index.clear();
        self.rows.clear();
        cols
    }
}

#[derive(Default)]
struct Partition {
    rows: BTreeMap<Key, Entry>,
    /// Processing time of the last change (for `table.exec.state.ttl`).
    touched: i64,
}

/// Rows to emit: kind, row (row format), aggregates.
type Output = Vec<(RowKind, Box<[u8]>, Vec<ScalarValue>)>;

/// A batch's changes under bounded frames, replayed in order once the frames they call for
/// have been evaluated together (vectorised: one groups accumulator per aggregate and batch,
/// each frame a group) — the output is as if each change were evaluated on arrival.
#[derive(Default)]
struct Deferred {
    /// The frame rows' arguments, frame after frame.
    args: Gather,
    /// Per frame row, the evaluation (frame) it belongs to.
    group: Vec<usize>,
    evaluations: usize,
    events: Vec<Event>,
}

enum Event {
    /// Row `key` of the batch's `part`-th partition was removed: retract what it last showed
    /// (`emitted` when removed, unless settled again earlier in the batch).
    Retract { part: usize, key: Key, kind: RowKind, emitted: Option<Vec<ScalarValue>> },
    /// Evaluation `eval` gives row `key`'s aggregates (`kind`: how the row arrived; `emitted`:
    /// its aggregates before the batch, unless settled earlier in it).
    Settle { part: usize, key: Key, eval: usize, kind: RowKind, emitted: Option<Vec<ScalarValue>> },
}

pub struct UpdatingOverAggregate {
    plan: Plan,
    schema: SchemaRef,
    input: SchemaRef,
    /// The snapshot's rows: the input's columns, then the aggregates last emitted.
    state_schema: SchemaRef,
    partition_converter: RowConverter,
    order_converter: RowConverter,
    row_converter: RowConverter,
    parts: HashMap<Box<[u8]>, Partition>,
    /// Bounded frames' buffers, kept between batches (their capacity is reused).
    deferred: Deferred,
    ttl: Option<StateTtl>,
    clock: fn() -> i64,
}

impl UpdatingOverAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, ttl: Option<StateTtl>) -> Result<Self> {
        let field = |c: usize| input.field(c).data_type().clone();
        let partition_converter = RowConverter::new(plan.partition.iter().map(|c| SortField::new(field(*c))).collect()).map_err(internal)?;
        let options = SortOptions { descending: plan.descending, nulls_first: plan.nulls_first };
        let order_converter = RowConverter::new(vec![SortField::new_with_options(field(plan.time_col), options)]).map_err(internal)?;
        let row_converter = RowConverter::new(input.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect()).map_err(internal)?;
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for i in 0..plan.aggs.len() {
            fields.push(Field::new(format!("__agg{i}"), schema.field(input.fields().len() + i).data_type().clone(), true));
        }
        let state_schema = Arc::new(Schema::new(fields));
        Ok(UpdatingOverAggregate {
            plan,
            schema,
            input,
            state_schema,
            partition_converter,
            order_converter,
            row_converter,
            parts: HashMap::new(),
            deferred: Deferred::default(),
            ttl,
            clock: rask_types::now_ms,
        })
    }

    /// The output type of aggregate `i`.
    fn agg_type(&self, i: usize) -> &DataType {
        self.schema.field(self.input.fields().len() + i).data_type()
    }

    fn accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.plan.aggs.iter().map(|a| a.create_accumulator().map_err(internal)).collect()
    }

    /// The aggregates' values, in their output types.
    fn evaluate(&self, accs: &mut [Box<dyn Accumulator>]) -> Result<Vec<ScalarValue>> {
        let mut out = Vec::with_capacity(accs.len());
        for (i, a) in accs.iter_mut().enumerate() {
            let v = a.evaluate().map_err(internal)?;
            let want = self.agg_type(i);
            out.push(if v.data_type() == *want { v } else { v.cast_to(want).map_err(internal)? });
        }
        Ok(out)
    }

    /// Add `rows`' arguments to `accs`.
    fn update(&self, accs: &mut [Box<dyn Accumulator>], rows: &[&Entry]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut gather = Gather::default();
        rows.iter().for_each(|e| gather.push(&e.args));
        let cols = gather.take(self.width())?;
        let mut at = 0;
        for (acc, a) in accs.iter_mut().zip(&self.plan.aggs) {
            let n = a.expressions().len();
            acc.update_batch(&cols[at..at + n]).map_err(internal)?;
            at += n;
        }
        Ok(())
    }

    /// The number of argument columns (of all aggregates).
    fn width(&self) -> usize {
        self.plan.aggs.iter().map(|a| a.expressions().len()).sum()
    }

    /// Per row of `data`: (ORDER BY value, whole row, aggregate arguments, ORDER BY ms).
    #[allow(clippy::type_complexity)]
    fn encode(&self, data: &RecordBatch) -> Result<(arrow::row::Rows, arrow::row::Rows, Arc<Vec<ArrayRef>>, Option<Vec<Option<i64>>>)> {
        let orders = self.order_converter.convert_columns(&[data.column(self.plan.time_col).clone()]).map_err(internal)?;
        let rows = self.row_converter.convert_columns(data.columns()).map_err(internal)?;
        let mut args = Vec::new();
        for a in &self.plan.aggs {
            args.extend(aggregate_args(a, data)?);
        }
        let ms = match self.plan.frame {
            Frame::Range(Some(_)) => Some(to_millis(data.column(self.plan.time_col))?),
            _ => None,
        };
        Ok((orders, rows, Arc::new(args), ms))
    }

    /// Apply `idx`'s changes to the partition `key` (the batch's `part_no`-th) and emit how its
    /// rows' aggregates changed (bounded frames: record it in `deferred`).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        key: &[u8],
        part_no: usize,
        idx: &[usize],
        batch: &StreamBatch,
        encoded: &(arrow::row::Rows, arrow::row::Rows, Arc<Vec<ArrayRef>>, Option<Vec<Option<i64>>>),
        now: i64,
        deferred: &mut Deferred,
        out: &mut Output,
    ) -> Result<()> {
        let (orders, rows, args, ms) = encoded;
        // Taken out while its changes are applied (no key allocation for a known partition).
        let mut part = std::mem::take(slot(&mut self.parts, key));
        part.touched = now;
        for &i in idx {
            let (o, r) = (orders.row(i).data(), rows.row(i).data());
            let mut k: Key = (o.into(), r.into(), 0);
            let kind = batch.kind(i);
            // The last of the identical rows held (usually the only one).
            let last = part.rows.range(&k..).take_while(|(x, _)| x.0 == k.0 && x.1 == k.1).last().map(|(x, _)| x.2);
            // The changed place, with its ORDER BY ms (RANGE INTERVAL frames).
            let changed = if kind.is_accumulate() {
                k.2 = last.map_or(0, |d| d + 1);
                let entry = Entry {
                    args: Args { cols: args.clone(), row: i },
                    ms: ms.as_ref().and_then(|m| m[i]),
                    emitted: None,
                    kind,
                    running: None,
                };
                let c_ms = entry.ms;
                part.rows.insert(k.clone(), entry);
                (k, c_ms)
            } else {
                // (A retraction of a row not held — expired by the TTL — changes nothing.)
                let Some(d) = last else { continue };
                k.2 = d;
                let Some(e) = part.rows.remove(&k) else { continue };
                match self.plan.frame {
                    Frame::Rows(None) | Frame::Range(None) => {
                        if let Some(values) = e.emitted {
                            out.push((kind, k.1.clone(), values));
                        }
                    }
                    _ => deferred.events.push(Event::Retract { part: part_no, key: k.clone(), kind, emitted: e.emitted }),
                }
                (k, e.ms)
            };
            match self.plan.frame {
                Frame::Rows(None) | Frame::Range(None) => self.reevaluate_unbounded(&mut part, &changed.0, out)?,
                Frame::Rows(Some(_)) | Frame::Range(Some(_)) => self.frames(&part, part_no, &changed, deferred),
            }
        }
        if part.rows.is_empty() {
            self.parts.remove(key);
        } else if let Some(p) = self.parts.get_mut(key) {
            *p = part;
        }
        Ok(())
    }

    /// Emit row `k`'s new aggregates if they differ from those last emitted.
    fn settle(entry: &mut Entry, k: &Key, values: Vec<ScalarValue>, out: &mut Output) {
        emit_change(entry.emitted.take(), entry.kind, &k.1, &values, out);
        entry.emitted = Some(values);
    }

    /// Bounded frames: the rows whose frame holds the changed place, each with its frame's
    /// arguments recorded for evaluation.
    fn frames(&self, part: &Partition, part_no: usize, (c, c_ms): &(Key, Option<i64>), deferred: &mut Deferred) {
        let affected = match self.plan.frame {
            // The row itself (if still there) and the n after it: their frames reach back n
            // rows (after a removal the n-th one now reaches a row before it).
            Frame::Rows(Some(n)) => part.rows.range(c..).take(n as usize + 1).collect::<Vec<_>>(),
            // Rows from the changed value's first peer up to the value + the interval (NULL:
            // its peers only).
            Frame::Range(Some(ms)) => part
                .rows
                .range((c.0.clone(), Box::from(&[][..]), 0)..)
                .take_while(|(_, e)| match (c_ms, e.ms) {
                    (Some(v), Some(u)) => u <= v.saturating_add(ms),
                    (None, None) => true,
                    _ => false,
                })
                .collect(),
            _ => Vec::new(),
        };
        for (k, entry) in affected {
            let eval = deferred.evaluations;
            deferred.evaluations += 1;
            let mut add = |e: &Entry| {
                deferred.args.push(&e.args);
                deferred.group.push(eval);
            };
            match self.plan.frame {
                Frame::Rows(Some(n)) => {
                    let mut f: Vec<&Entry> = part.rows.range(..=k).rev().take(n as usize + 1).map(|(_, e)| e).collect();
                    f.reverse();
                    f.into_iter().for_each(&mut add);
                }
                Frame::Range(Some(ms)) => {
                    // Up to the row's last peer, back to the value − the interval.
                    let v = entry.ms;
                    let last_peer = part.rows.range(k..).take_while(|(p, _)| p.0 == k.0).last().map(|(p, _)| p).unwrap_or(k);
                    let mut f: Vec<&Entry> = part
                        .rows
                        .range(..=last_peer)
                        .rev()
                        .take_while(|(_, e)| match (v, e.ms) {
                            (Some(v), Some(u)) => u >= v.saturating_sub(ms),
                            (None, None) => true,
                            _ => false,
                        })
                        .map(|(_, e)| e)
                        .collect();
                    f.reverse();
                    f.into_iter().for_each(&mut add);
                }
                _ => {}
            }
            deferred.events.push(Event::Settle { part: part_no, key: k.clone(), eval, kind: entry.kind, emitted: entry.emitted.clone() });
        }
    }

    /// Every deferred frame's aggregates, per aggregate an array of the output type with one
    /// value per evaluation.
    fn evaluate_frames(&self, deferred: &mut Deferred) -> Result<Vec<ArrayRef>> {
        let n = deferred.evaluations;
        let cols = deferred.args.take(self.width())?;
        let mut results = Vec::with_capacity(self.plan.aggs.len());
        let mut at = 0;
        for (i, agg) in self.plan.aggs.iter().enumerate() {
            let args = &cols[at..at + agg.expressions().len()];
            at += agg.expressions().len();
            let values = if agg.groups_accumulator_supported() {
                let mut g = agg.create_groups_accumulator().map_err(internal)?;
                g.update_batch(args, &deferred.group, None, n).map_err(internal)?;
                g.evaluate(datafusion_expr::EmitTo::All).map_err(internal)?
            } else {
                // (DISTINCT aggregates.) An accumulator per frame; a frame's rows are adjacent.
                let mut out = Vec::with_capacity(n);
                let mut start = 0;
                while start < deferred.group.len() {
                    let len = deferred.group[start..].iter().take_while(|g| **g == deferred.group[start]).count();
                    let mut acc = agg.create_accumulator().map_err(internal)?;
                    acc.update_batch(&args.iter().map(|a| a.slice(start, len)).collect::<Vec<_>>()).map_err(internal)?;
                    out.push(acc.evaluate().map_err(internal)?);
                    start += len;
                }
                ScalarValue::iter_to_array(out).map_err(internal)?
            };
            let want = self.agg_type(i);
            results.push(if values.data_type() == want { values } else { arrow::compute::cast(&values, want).map_err(internal)? });
        }
        Ok(results)
    }

    /// Replay the batch's deferred events in order with the evaluated frames: retractions of
    /// removed rows, and each re-evaluated row's change of aggregates.
    fn replay(&mut self, deferred: &mut Deferred, parts: &[&[u8]], out: &mut Output) -> Result<()> {
        let results = if deferred.evaluations > 0 { self.evaluate_frames(deferred)? } else { Vec::new() };
        deferred.evaluations = 0;
        deferred.group.clear();
        // What each touched row shows at this point of the replay (`None`: removed).
        let mut shown: HashMap<(usize, Key), Option<Vec<ScalarValue>>> = HashMap::new();
        for ev in deferred.events.drain(..) {
            match ev {
                Event::Retract { part, key, kind, emitted } => {
                    let before = shown.insert((part, key.clone()), None).unwrap_or(emitted);
                    if let Some(values) = before {
                        out.push((kind, key.1, values));
                    }
                }
                Event::Settle { part, key, eval, kind, emitted } => {
                    let values = results.iter().map(|a| ScalarValue::try_from_array(a, eval).map_err(internal)).collect::<Result<Vec<_>>>()?;
                    let slot = (part, key);
                    let before = match shown.get(&slot) {
                        Some(v) => v.clone(),
                        None => emitted,
                    };
                    emit_change(before, kind, &slot.1.1, &values, out);
                    shown.insert(slot, Some(values));
                }
            }
        }
        for ((part, key), values) in shown {
            if let Some(values) = values
                && let Some(e) = self.parts.get_mut(parts[part]).and_then(|p| p.rows.get_mut(&key))
            {
                e.emitted = Some(values);
            }
        }
        Ok(())
    }

    /// Unbounded frames: the rows from the changed place on (RANGE: from its first peer; a
    /// row's frame ends at its last peer), resuming from the running state of the row before.
    fn reevaluate_unbounded(&self, part: &mut Partition, c: &Key, out: &mut Output) -> Result<()> {
        let peers = matches!(self.plan.frame, Frame::Range(_));
        let from: Key = if peers { (c.0.clone(), Box::from(&[][..]), 0) } else { c.clone() };
        let mut accs = self.accumulators()?;
        if let Some((_, prev)) = part.rows.range(..from.clone()).next_back() {
            let states = prev.running.as_ref().ok_or_else(|| internal("a row without its running state"))?;
            for (acc, st) in accs.iter_mut().zip(states) {
                let cols = st.iter().map(|v| v.to_array().map_err(internal)).collect::<Result<Vec<_>>>()?;
                acc.merge_batch(&cols).map_err(internal)?;
            }
        }
        let keys: Vec<Key> = part.rows.range(from..).map(|(k, _)| k.clone()).collect();
        let mut i = 0;
        while i < keys.len() {
            let end = if peers { keys[i..].iter().position(|k| k.0 != keys[i].0).map_or(keys.len(), |p| i + p) } else { i + 1 };
            let group: Vec<&Entry> = keys[i..end].iter().filter_map(|k| part.rows.get(k)).collect();
            self.update(&mut accs, &group)?;
            let values = self.evaluate(&mut accs)?;
            let states = accs.iter_mut().map(|a| a.state().map_err(internal)).collect::<Result<Vec<_>>>()?;
            for k in &keys[i..end] {
                if let Some(e) = part.rows.get_mut(k) {
                    e.running = Some(states.clone());
                    Self::settle(e, k, values.clone(), out);
                }
            }
            i = end;
        }
        Ok(())
    }

    fn emit(&self, o: Output, out: &mut Emitter) -> Result<()> {
        if o.is_empty() {
            return Ok(());
        }
        let parser = self.row_converter.parser();
        let mut cols = self.row_converter.convert_rows(o.iter().map(|(_, r, _)| parser.parse(r))).map_err(internal)?;
        for i in 0..self.plan.aggs.len() {
            cols.push(scalars_to_array(o.iter().map(|(_, _, v)| v[i].clone()), self.agg_type(i))?);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        out.emit(StreamBatch::with_kinds(batch, UInt8Array::from_iter_values(o.iter().map(|(k, _, _)| *k as u8))));
        Ok(())
    }

    fn arm_ttl(&self, out: &mut Emitter) {
        super::keyed::arm_ttl(self.ttl, !self.parts.is_empty(), out);
    }
}

/// How a row's aggregates changed from `before` (`None`: not shown yet, emitted as `kind`) to
/// `values`: nothing when equal, else `-U` old, `+U` new.
fn emit_change(before: Option<Vec<ScalarValue>>, kind: RowKind, row: &[u8], values: &[ScalarValue], out: &mut Output) {
    match before {
        None => out.push((kind, row.into(), values.to_vec())),
        Some(old) if old == values => {}
        Some(old) => {
            out.push((RowKind::UpdateBefore, row.into(), old));
            out.push((RowKind::UpdateAfter, row.into(), values.to_vec()));
        }
    }
}

/// `values` as an array of type `want`.
fn scalars_to_array(values: impl Iterator<Item = ScalarValue>, want: &DataType) -> Result<ArrayRef> {
    let a = ScalarValue::iter_to_array(values).map_err(internal)?;
    Ok(if a.data_type() == want { a } else { arrow::compute::cast(&a, want).map_err(internal)? })
}

impl Operator for UpdatingOverAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let data = &batch.data;
        let keys = key_rows(&self.partition_converter, &self.plan.partition, data)?;
        let encoded = self.encode(data)?;
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        // The batch's rows per partition, partitions in order of first appearance.
        let mut groups: HashMap<&[u8], Vec<usize>> = HashMap::new();
        let mut order: Vec<&[u8]> = Vec::new();
        for i in 0..data.num_rows() {
            let k = key_of(&keys, i);
            groups
                .entry(k)
                .or_insert_with(|| {
                    order.push(k);
                    Vec::new()
                })
                .push(i);
        }
        let mut o = Output::new();
        let mut deferred = std::mem::take(&mut self.deferred);
        for (part_no, k) in order.iter().enumerate() {
            self.apply(k, part_no, &groups[k], &batch, &encoded, now, &mut deferred, &mut o)?;
        }
        if !deferred.events.is_empty() {
            self.replay(&mut deferred, &order, &mut o)?;
        }
        self.deferred = deferred;
        self.emit(o, out)?;
        self.arm_ttl(out);
        Ok(())
    }

    /// Forget partitions idle for the TTL (no output, as Flink's state TTL).
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        super::keyed::expire_idle(self.ttl, self.clock, &mut self.parts, |p| p.touched, out);
        Ok(())
    }

    fn on_open(&mut self, out: &mut Emitter) -> Result<()> {
        self.arm_ttl(out);
        Ok(())
    }

    /// Every partition's rows in window order with the aggregates last emitted for them,
    /// keyed by the partition columns.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let key_cols = (!self.plan.partition.is_empty()).then(|| self.plan.partition.clone());
        let mut entry = StateEntry::new("rows", self.state_schema.clone(), key_cols, Vec::new());
        let all: Vec<(&Key, &Entry)> = self.parts.values().flat_map(|p| p.rows.iter()).collect();
        if !all.is_empty() {
            let parser = self.row_converter.parser();
            let mut cols = self.row_converter.convert_rows(all.iter().map(|(k, _)| parser.parse(&k.1))).map_err(internal)?;
            for i in 0..self.plan.aggs.len() {
                let values = all.iter().map(|(_, e)| e.emitted.as_ref().map_or(ScalarValue::Null, |v| v[i].clone()));
                cols.push(scalars_to_array(values, self.agg_type(i))?);
            }
            entry.batches.push(RecordBatch::try_new(self.state_schema.clone(), cols).map_err(internal)?);
        }
        Ok(Some(OperatorSnapshot { meta: Vec::new(), entries: vec![entry] }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        let now = (self.clock)();
        let n = self.input.fields().len();
        for b in restored_batches(parts, &self.state_schema, "updating OVER aggregation")? {
            let data = RecordBatch::try_new(self.input.clone(), b.columns()[..n].to_vec()).map_err(internal)?;
            let keys = key_rows(&self.partition_converter, &self.plan.partition, &data)?;
            let (orders, rows, args, ms) = self.encode(&data)?;
            for i in 0..data.num_rows() {
                let emitted = (0..self.plan.aggs.len())
                    .map(|a| ScalarValue::try_from_array(b.column(n + a), i).map_err(internal))
                    .collect::<Result<Vec<_>>>()?;
                let entry = Entry {
                    args: Args { cols: args.clone(), row: i },
                    ms: ms.as_ref().and_then(|m| m[i]),
                    emitted: Some(emitted),
                    kind: RowKind::Insert,
                    running: None,
                };
                let part = slot(&mut self.parts, key_of(&keys, i));
                part.touched = now;
                let (o, r) = (orders.row(i).data(), rows.row(i).data());
                let hi: Key = (o.into(), r.into(), u32::MAX);
                let dup = part.rows.range((Box::from(o), Box::from(r), 0)..=hi).next_back().map_or(0, |(k, _)| k.2 + 1);
                part.rows.insert((o.into(), r.into(), dup), entry);
            }
        }
        if matches!(self.plan.frame, Frame::Rows(None) | Frame::Range(None)) {
            // The running states again (the aggregates come out as restored: nothing to emit).
            let mut parts = std::mem::take(&mut self.parts);
            for part in parts.values_mut() {
                if let Some(first) = part.rows.keys().next().cloned() {
                    self.reevaluate_unbounded(part, &first, &mut Output::new())?;
                }
            }
            self.parts = parts;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{Int64Type, TimeUnit, TimestampMillisecondType};
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;

    type Row = (String, Option<i64>, i64);

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    /// SUM(v), COUNT(v) OVER (PARTITION BY k ORDER BY ts <frame>).
    fn operator(frame: Frame) -> UpdatingOverAggregate {
        let input = input();
        let agg = |f: Arc<datafusion_expr::AggregateUDF>, name: &str| {
            Arc::new(AggregateExprBuilder::new(f, vec![Arc::new(Column::new("v", 1))]).schema(input.clone()).alias(name).build().unwrap())
        };
        let aggs = vec![agg(datafusion_functions_aggregate::sum::sum_udaf(), "s"), agg(datafusion_functions_aggregate::count::count_udaf(), "c")];
        let plan = Plan { partition: vec![0], time_col: 2, descending: false, nulls_first: true, frame, aggs, updating: true };
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("s", DataType::Int64, true));
        fields.push(Field::new("c", DataType::Int64, false));
        UpdatingOverAggregate::new(plan, input, Arc::new(Schema::new(fields)), None).unwrap()
    }

    fn batch(rows: &[(RowKind, Row)]) -> StreamBatch {
        let data = RecordBatch::try_new(
            input(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, r)| r.0.clone()))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|(_, r)| r.1))),
                Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|(_, r)| r.2))),
            ],
        )
        .unwrap();
        StreamBatch::with_kinds(data, UInt8Array::from_iter_values(rows.iter().map(|(k, _)| *k as u8)))
    }

    /// What the query returns for `table` (a multiset of rows), computed directly: rows of a
    /// partition sorted by (ts, v), NULL v first, as the operator orders ties.
    fn expected(table: &[Row], frame: Frame) -> Vec<(Row, Option<i64>, i64)> {
        let mut out = Vec::new();
        let mut keys: Vec<&String> = table.iter().map(|r| &r.0).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let mut rows: Vec<&Row> = table.iter().filter(|r| &r.0 == k).collect();
            rows.sort_by_key(|r| (r.2, r.1));
            for (p, r) in rows.iter().enumerate() {
                let in_frame: Vec<&&Row> = match frame {
                    Frame::Rows(Some(n)) => rows[p.saturating_sub(n as usize)..=p].iter().collect(),
                    Frame::Rows(None) => rows[..=p].iter().collect(),
                    Frame::Range(Some(ms)) => rows.iter().filter(|x| x.2 >= r.2 - ms && x.2 <= r.2).collect(),
                    Frame::Range(None) => rows.iter().filter(|x| x.2 <= r.2).collect(),
                };
                let vals: Vec<i64> = in_frame.iter().filter_map(|x| x.1).collect();
                let sum = (!vals.is_empty()).then(|| vals.iter().sum());
                out.push(((*r).clone(), sum, vals.len() as i64));
            }
        }
        out.sort();
        out
    }

    /// Apply the operator's output to `table`, failing on a retraction of a row not there.
    fn materialise(out: &Emitter, table: &mut Vec<(Row, Option<i64>, i64)>) {
        for b in &out.batches {
            let d = &b.data;
            let (k, v, ts) = (d.column(0).as_string::<i32>(), d.column(1).as_primitive::<Int64Type>(), d.column(2).as_primitive::<TimestampMillisecondType>());
            let (s, c) = (d.column(3).as_primitive::<Int64Type>(), d.column(4).as_primitive::<Int64Type>());
            for i in 0..d.num_rows() {
                let row = ((k.value(i).to_string(), v.is_valid(i).then(|| v.value(i)), ts.value(i)), s.is_valid(i).then(|| s.value(i)), c.value(i));
                if b.kind(i).is_accumulate() {
                    table.push(row);
                } else {
                    let at = table.iter().position(|r| *r == row).unwrap_or_else(|| panic!("{:?} retracts {row:?}, which is not in the output", b.kind(i)));
                    table.swap_remove(at);
                }
            }
        }
    }

    /// Random inserts, updates and deletes (identical rows and equal timestamps included), in
    /// random batches, with a checkpoint and restore half-way: the materialised output is the
    /// query evaluated on the input's final table, for every frame kind.
    #[test]
    fn the_changelog_materialises_the_over_aggregation_of_the_current_table() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for frame in [Frame::Rows(Some(2)), Frame::Rows(None), Frame::Range(Some(1000)), Frame::Range(None), Frame::Rows(Some(0))] {
            let mut op = operator(frame);
            let mut table: Vec<Row> = Vec::new();
            let mut output = Vec::new();
            for step in 0..60 {
                let mut changes = Vec::new();
                for _ in 0..1 + next(6) {
                    let row: Row = (["a", "b", "c"][next(3) as usize].to_string(), (next(8) > 0).then(|| next(20) as i64), next(10) as i64 * 500);
                    match (next(4), table.is_empty()) {
                        (0, false) => {
                            let old = table.swap_remove(next(table.len() as u64) as usize);
                            changes.push((RowKind::Delete, old));
                        }
                        (1, false) => {
                            let at = next(table.len() as u64) as usize;
                            let old = std::mem::replace(&mut table[at], row.clone());
                            changes.push((RowKind::UpdateBefore, old));
                            changes.push((RowKind::UpdateAfter, row));
                        }
                        (2, false) => {
                            // An identical row.
                            let same = table[next(table.len() as u64) as usize].clone();
                            table.push(same.clone());
                            changes.push((RowKind::Insert, same));
                        }
                        _ => {
                            table.push(row.clone());
                            changes.push((RowKind::Insert, row));
                        }
                    }
                }
                let mut out = Emitter::default();
                op.on_batch(0, batch(&changes), &mut out).unwrap();
                materialise(&out, &mut output);
                if step == 30 {
                    let snap = op.snapshot(1).unwrap().unwrap();
                    op = operator(frame);
                    op.restore(vec![snap]).unwrap();
                }
                output.sort();
                assert_eq!(output, expected(&table, frame), "{frame:?} after step {step}");
            }
        }
    }
}
