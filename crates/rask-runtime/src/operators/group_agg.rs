//! Group aggregation without a window (Flink's `GroupAggFunction`): accumulators per key,
//! a changelog out. Per input row, in arrival order: a new key emits `+I`, a changed result
//! `-U` (the previous row) then `+U`, an unchanged one nothing (unless a state TTL is set, as
//! in Flink), and retracting a key's last row emits `-D` and forgets the key. A retraction for
//! a key without state is ignored. With `table.exec.mini-batch.enabled` the rows of a batch
//! are folded per key first and each key emits at most one change per batch (Flink's
//! `MiniBatchGroupAggFunction`). As the global phase of a two-phase aggregation (`plan.merge`)
//! the input rows are partial accumulator states from `LocalGroupAggregate`, merged per key
//! (Flink's `MiniBatchGlobalGroupAggFunction`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use hashbrown::HashMap;
use rask_sql::group_agg::GroupAggregate as Plan;
use rask_state::{OperatorSnapshot, StateEntry, StateTtl};
use rask_types::{RowKind, StreamBatch};

use super::window_agg::aggregate_args;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("group aggregation: {e}"))
}

struct KeyState {
    accs: Vec<Box<dyn Accumulator>>,
    /// Accumulated minus retracted rows (Flink's record counter): at zero the key is deleted.
    rows: i64,
    /// The result last emitted for the key.
    last: Vec<ScalarValue>,
    /// Processing time of the key's last row (for `table.exec.state.ttl`).
    last_access: i64,
}

/// Rows to emit: the input row holding the key, the aggregate values, the row kind.
#[derive(Default)]
struct Output {
    key_rows: Vec<u32>,
    values: Vec<Vec<ScalarValue>>,
    kinds: Vec<u8>,
}

impl Output {
    fn push(&mut self, row: u32, values: &[ScalarValue], kind: RowKind) {
        self.key_rows.push(row);
        for (c, v) in self.values.iter_mut().zip(values) {
            c.push(v.clone());
        }
        self.kinds.push(kind as u8);
    }

    /// [`Output::push`] of values no longer needed.
    fn push_owned(&mut self, row: u32, values: Vec<ScalarValue>, kind: RowKind) {
        self.key_rows.push(row);
        for (c, v) in self.values.iter_mut().zip(values) {
            c.push(v);
        }
        self.kinds.push(kind as u8);
    }
}

pub struct GroupAggregate {
    plan: Plan,
    schema: SchemaRef,
    converter: Option<RowConverter>,
    keys: HashMap<Box<[u8]>, KeyState>,
    mini_batch: bool,
    ttl: Option<StateTtl>,
    clock: fn() -> i64,
    /// How many state columns each aggregate's accumulator has.
    state_widths: Vec<usize>,
}

impl GroupAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, mini_batch: bool, ttl: Option<StateTtl>) -> Result<Self> {
        let converter = if plan.keys == 0 {
            None
        } else {
            let fields = (0..plan.keys).map(|i| SortField::new(input.field(i).data_type().clone())).collect();
            Some(RowConverter::new(fields).map_err(internal)?)
        };
        let mut op = GroupAggregate { plan, schema, converter, keys: HashMap::new(), mini_batch, ttl, clock: rask_types::now_ms, state_widths: Vec::new() };
        op.state_widths = op.accumulators()?.iter_mut().map(|a| a.state().map(|s| s.len()).map_err(internal)).collect::<Result<_>>()?;
        if op.plan.merge && input.fields().len() != op.plan.keys + op.state_widths.iter().sum::<usize>() + usize::from(op.plan.retract) {
            return Err(internal("the partial states do not match the aggregates"));
        }
        Ok(op)
    }

    fn accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.plan
            .aggs
            .iter()
            .map(|a| {
                if self.plan.retract && self.plan.merge {
                    // The global phase over an updating input merges signed partial states.
                    rask_sql::retracting::partial_accumulator(a).map_err(internal)
                } else if self.plan.retract {
                    rask_sql::retracting::retracting_accumulator(a).map_err(internal)
                } else {
                    a.create_accumulator().map_err(internal)
                }
            })
            .collect()
    }

    fn key_bytes(&self, data: &RecordBatch) -> Result<Vec<Box<[u8]>>> {
        key_bytes(self.converter.as_ref(), self.plan.keys, data)
    }
}

/// The result of every call: each aggregate's value in its call's place, a shared
/// COUNT(DISTINCT)'s counts spread over its calls (`outputs`: see the plan; `calls` in all).
fn results(accs: &mut [Box<dyn Accumulator>], outputs: &[Vec<usize>], calls: usize) -> Result<Vec<ScalarValue>> {
    let mut out = vec![ScalarValue::Null; calls];
    for (a, to) in accs.iter_mut().zip(outputs) {
        let v = a.evaluate().map_err(internal)?;
        match (to.as_slice(), v) {
            ([c], v) => out[*c] = v,
            (many, ScalarValue::Binary(Some(packed))) => {
                for (c, n) in many.iter().zip(rask_sql::distinct_counts::unpack(&packed)) {
                    out[*c] = ScalarValue::Int64(Some(n));
                }
            }
            _ => return Err(internal("a shared COUNT(DISTINCT) without its counts")),
        }
    }
    Ok(out)
}

/// Each row's key (the first `nkeys` columns) in row format; empty without keys.
pub(crate) fn key_bytes(converter: Option<&RowConverter>, nkeys: usize, data: &RecordBatch) -> Result<Vec<Box<[u8]>>> {
    let Some(conv) = converter else { return Ok(vec![Box::from(&[][..]); data.num_rows()]) };
    let rows = conv.convert_columns(&data.columns()[..nkeys]).map_err(internal)?;
    Ok((0..data.num_rows()).map(|i| Box::from(rows.row(i).as_ref())).collect())
}

/// Each key's rows (`keys` per row of `batch`) in arrival order, as runs of one direction
/// (accumulating or retracting): (the key's first row, its runs), keys in order of arrival.
pub(crate) fn runs_per_key(keys: &[Box<[u8]>], batch: &StreamBatch) -> Vec<(usize, Vec<(bool, Vec<u32>)>)> {
    let mut slots: HashMap<&[u8], usize> = HashMap::new();
    let mut out: Vec<(usize, Vec<(bool, Vec<u32>)>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let slot = *slots.entry(k.as_ref()).or_insert_with(|| {
            out.push((i, Vec::new()));
            out.len() - 1
        });
        let acc = batch.kind(i).is_accumulate();
        match out[slot].1.last_mut() {
            Some((a, rows)) if *a == acc => rows.push(i as u32),
            _ => out[slot].1.push((acc, vec![i as u32])),
        }
    }
    out
}

/// Each aggregate's argument columns and `FILTER (WHERE …)` flags for `data`.
pub(crate) fn arguments(plan: &Plan, data: &RecordBatch) -> Result<(Vec<Vec<ArrayRef>>, Vec<Option<BooleanArray>>)> {
    let args = plan.aggs.iter().map(|a| aggregate_args(a, data)).collect::<Result<_>>()?;
    Ok((args, plan.filters.iter().map(|f| f.map(|c| data.column(c).as_boolean().clone())).collect()))
}

/// Apply `rows` (all accumulating or all retracting) of one key to its accumulators `accs`
/// and its row count `count`; `merge`: the rows are partial states, each counting as one row
/// or, with `weights` (a two-phase aggregation over an updating input), as its weight.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold(
    accs: &mut [Box<dyn Accumulator>],
    count: &mut i64,
    args: &[Vec<ArrayRef>],
    filters: &[Option<BooleanArray>],
    rows: &[u32],
    accumulate: bool,
    merge: bool,
    weights: Option<&Int64Array>,
) -> Result<()> {
    for (j, acc) in accs.iter_mut().enumerate() {
        let picked: std::borrow::Cow<'_, [u32]> = match &filters[j] {
            Some(f) => rows.iter().copied().filter(|r| f.is_valid(*r as usize) && f.value(*r as usize)).collect(),
            None => rows.into(),
        };
        if picked.is_empty() {
            continue;
        }
        let cols: Vec<ArrayRef> = if let [r] = picked.as_ref() {
            args[j].iter().map(|c| c.slice(*r as usize, 1)).collect()
        } else {
            let idx = UInt32Array::from(picked.into_owned());
            args[j].iter().map(|c| arrow::compute::take(c.as_ref(), &idx, None)).collect::<std::result::Result<_, _>>().map_err(internal)?
        };
        if merge {
            acc.merge_batch(&cols)
        } else if accumulate {
            acc.update_batch(&cols)
        } else {
            acc.retract_batch(&cols)
        }
        .map_err(internal)?;
    }
    *count += match weights {
        Some(w) => rows.iter().map(|r| w.value(*r as usize)).sum::<i64>(),
        None if accumulate => rows.len() as i64,
        None => -(rows.len() as i64),
    };
    Ok(())
}

impl GroupAggregate {

    /// Apply runs of rows (each all accumulating or all retracting, in arrival order) to `key`
    /// and emit the change of its result.
    fn apply(
        &mut self,
        key: &[u8],
        runs: &[(bool, &[u32])],
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
        weights: Option<&Int64Array>,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        let Some(first_row) = runs.first().and_then(|(_, r)| r.first().copied()) else { return Ok(()) };
        let mut runs = runs;
        let fresh = !self.keys.contains_key(key);
        if fresh {
            // A retraction for a key without state (never seen, or expired) is ignored.
            while let Some(((false, _), rest)) = runs.split_first() {
                runs = rest;
            }
            if runs.is_empty() {
                return Ok(());
            }
            let accs = self.accumulators()?;
            self.keys.insert(key.into(), KeyState { accs, rows: 0, last: Vec::new(), last_access: now });
        }
        let state = self.keys.get_mut(key).ok_or_else(|| internal("key vanished"))?;
        state.last_access = now;
        for (accumulate, rows) in runs {
            fold(&mut state.accs, &mut state.rows, args, filters, rows, *accumulate, self.plan.merge, weights)?;
        }
        if state.rows <= 0 {
            if !fresh {
                out.push(first_row, &state.last, RowKind::Delete);
            }
            self.keys.remove(key);
            return Ok(());
        }
        let new = results(&mut state.accs, &self.plan.outputs, self.schema.fields().len() - self.plan.keys)?;
        if fresh {
            out.push(first_row, &new, RowKind::Insert);
        } else if self.ttl.is_some() || new != state.last {
            // The previous result is replaced: moved out, not copied.
            out.push_owned(first_row, std::mem::take(&mut state.last), RowKind::UpdateBefore);
            out.push(first_row, &new, RowKind::UpdateAfter);
        }
        state.last = new;
        Ok(())
    }

    fn build_output(&self, data: &RecordBatch, out: Output) -> Result<Option<StreamBatch>> {
        if out.kinds.is_empty() {
            return Ok(None);
        }
        let idx = UInt32Array::from(out.key_rows);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for c in &data.columns()[..self.plan.keys] {
            cols.push(arrow::compute::take(c.as_ref(), &idx, None).map_err(internal)?);
        }
        for (j, vals) in out.values.into_iter().enumerate() {
            let want = self.schema.field(self.plan.keys + j).data_type();
            let a = ScalarValue::iter_to_array(vals).map_err(internal)?;
            cols.push(if a.data_type() == want { a } else { arrow::compute::cast(&a, want).map_err(internal)? });
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        Ok(Some(StreamBatch::with_kinds(batch, UInt8Array::from(out.kinds))))
    }

    fn arm_ttl(&self, out: &mut Emitter) {
        super::keyed::arm_ttl(self.ttl, !self.keys.is_empty(), out);
    }

}

impl Operator for GroupAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let data = &batch.data;
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        let keys = self.key_bytes(data)?;
        let (args, filters): (Vec<Vec<ArrayRef>>, Vec<Option<BooleanArray>>) = if self.plan.merge {
            // Partial states: each aggregate's state columns in turn after the keys; their
            // FILTERs were applied by the local phase.
            let mut at = self.plan.keys;
            let args = self
                .state_widths
                .iter()
                .map(|n| {
                    at += n;
                    data.columns()[at - n..at].to_vec()
                })
                .collect();
            (args, vec![None; self.plan.aggs.len()])
        } else {
            arguments(&self.plan, data)?
        };
        // Over an updating input the local phase counts each partial state's rows (`$rows`).
        let weights = (self.plan.merge && self.plan.retract).then(|| data.column(data.num_columns() - 1).as_primitive::<arrow::datatypes::Int64Type>());
        let mut output = Output { values: vec![Vec::new(); self.schema.fields().len() - self.plan.keys], ..Default::default() };
        if self.mini_batch {
            for (first, runs) in runs_per_key(&keys, &batch) {
                let key_runs: Vec<(bool, &[u32])> = runs.iter().map(|(a, r)| (*a, r.as_slice())).collect();
                self.apply(&keys[first], &key_runs, &args, &filters, weights, now, &mut output)?;
            }
        } else {
            for (i, k) in keys.iter().enumerate() {
                let row = [i as u32];
                self.apply(k, &[(batch.kind(i).is_accumulate(), &row[..])], &args, &filters, weights, now, &mut output)?;
            }
        }
        if let Some(b) = self.build_output(data, output)? {
            out.emit(b);
        }
        self.arm_ttl(out);
        Ok(())
    }

    /// Drop keys idle for the TTL (Flink's idle state retention: no output; a later row of
    /// the key starts it again with `+I`).
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        super::keyed::expire_idle(self.ttl, self.clock, &mut self.keys, |s| s.last_access, out);
        Ok(())
    }

    /// One row per key: the key columns, the row count, each accumulator's state.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let nk = self.plan.keys;
        if self.keys.is_empty() {
            return Ok(Some(OperatorSnapshot::default()));
        }
        let keys: Vec<Box<[u8]>> = self.keys.keys().cloned().collect();
        let mut cols: Vec<ArrayRef> = match &self.converter {
            Some(conv) => {
                let parser = conv.parser();
                conv.convert_rows(keys.iter().map(|k| parser.parse(k))).map_err(internal)?
            }
            None => Vec::new(),
        };
        let mut fields: Vec<Field> = cols.iter().enumerate().map(|(i, c)| Field::new(format!("k{i}"), c.data_type().clone(), true)).collect();
        fields.push(Field::new("__rows", DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from_iter_values(keys.iter().map(|k| self.keys[k].rows))));
        let mut per_col: Vec<Vec<ScalarValue>> = Vec::new();
        for k in &keys {
            let st = self.keys.get_mut(k).ok_or_else(|| internal("key vanished"))?;
            let mut c = 0;
            for acc in st.accs.iter_mut() {
                for v in acc.state().map_err(internal)? {
                    if per_col.len() <= c {
                        per_col.push(Vec::with_capacity(keys.len()));
                    }
                    per_col[c].push(v);
                    c += 1;
                }
            }
        }
        for (i, vals) in per_col.into_iter().enumerate() {
            let a = ScalarValue::iter_to_array(vals).map_err(internal)?;
            fields.push(Field::new(format!("s{i}"), a.data_type().clone(), true));
            cols.push(a);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(internal)?;
        let key_cols = (nk > 0).then(|| (0..nk).collect());
        Ok(Some(OperatorSnapshot { meta: Vec::new(), entries: vec![StateEntry::new("groups", schema, key_cols, vec![batch])] }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        let nk = self.plan.keys;
        let widths = self.state_widths.clone();
        let width: usize = widths.iter().sum();
        let now = (self.clock)();
        for part in parts {
            let Some(entry) = part.entry("groups") else { continue };
            for b in &entry.batches {
                if b.num_columns() != nk + 1 + width {
                    return Err(RuntimeError::User(format!(
                        "group aggregation state does not fit the query: {} state columns, expected {}",
                        b.num_columns(),
                        nk + 1 + width
                    )));
                }
                let keys = self.key_bytes(b)?;
                let rows = b.column(nk).as_primitive::<arrow::datatypes::Int64Type>();
                for (i, k) in keys.into_iter().enumerate() {
                    let mut accs = self.accumulators()?;
                    let mut c = nk + 1;
                    for (acc, &n) in accs.iter_mut().zip(&widths) {
                        let st: Vec<ArrayRef> = b.columns()[c..c + n].iter().map(|a| a.slice(i, 1)).collect();
                        acc.merge_batch(&st).map_err(internal)?;
                        c += n;
                    }
                    let last = results(&mut accs, &self.plan.outputs, self.schema.fields().len() - self.plan.keys)?;
                    self.keys.insert(k, KeyState { accs, rows: rows.value(i), last, last_access: now });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;
    use rask_types::value_fmt::format_row;

    /// `SELECT k, MAX(v), COUNT(*) FROM (an updating input) GROUP BY k`.
    fn max_count(mini_batch: bool) -> GroupAggregate {
        let input = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true)]));
        let max = datafusion_functions_aggregate::min_max::max_udaf();
        let count = datafusion_functions_aggregate::count::count_udaf();
        let a = AggregateExprBuilder::new(max, vec![Arc::new(Column::new("v", 1))]).schema(input.clone()).alias("m").build().unwrap();
        let c = AggregateExprBuilder::new(count, vec![Arc::new(Column::new("k", 0))]).schema(input.clone()).alias("c").build().unwrap();
        let plan = Plan { keys: 1, aggs: vec![Arc::new(a), Arc::new(c)], filters: vec![None, None], outputs: vec![vec![0], vec![1]], retract: true, merge: false };
        let out = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("m", DataType::Int64, true),
            Field::new("c", DataType::Int64, true),
        ]));
        GroupAggregate::new(plan, input, out, mini_batch, None).unwrap()
    }

    fn feed(op: &mut GroupAggregate, rows: &[(&str, i64, RowKind)]) -> Vec<String> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true)]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from(rows.iter().map(|r| r.2 as u8).collect::<Vec<_>>());
        let mut out = Emitter::default();
        op.on_batch(0, StreamBatch::with_kinds(b, kinds), &mut out).unwrap();
        out.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| format_row(b, i))).collect()
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    #[test]
    fn emits_flinks_changelog_and_retracts_max_in_any_order() {
        let mut op = max_count(false);
        assert_eq!(feed(&mut op, &[("a", 5, I), ("a", 9, I)]), ["+I[a, 5, 1]", "-U[a, 5, 1]", "+U[a, 9, 2]"]);
        // A retraction of a key never seen is ignored; retracting 5 leaves MAX at 9.
        assert_eq!(feed(&mut op, &[("b", 1, UB), ("a", 5, D)]), ["-U[a, 9, 2]", "+U[a, 9, 1]"]);
        assert_eq!(feed(&mut op, &[("a", 9, D)]), ["-D[a, 9, 1]"]);
        assert!(op.keys.is_empty());
    }

    #[test]
    fn restored_state_continues_the_changelog() {
        let mut op = max_count(false);
        feed(&mut op, &[("a", 5, I), ("a", 9, I), ("b", 3, I), ("a", 7, I)]);
        let snap = op.snapshot(1).unwrap().unwrap();
        let mut restored = max_count(false);
        restored.restore(vec![snap]).unwrap();
        for o in [&mut op, &mut restored] {
            assert_eq!(feed(o, &[("a", 9, D)]), ["-U[a, 9, 3]", "+U[a, 7, 2]"]);
            assert_eq!(feed(o, &[("b", 3, D), ("b", 4, I)]), ["-D[b, 3, 1]", "+I[b, 4, 1]"]);
        }
    }

    /// `SELECT k, COUNT(DISTINCT v), COUNT(DISTINCT v) FILTER (WHERE v < 5) FROM (append-only)
    /// GROUP BY k`, the two calls sharing one set.
    fn shared_distinct() -> GroupAggregate {
        let input = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true), Field::new("low", DataType::Boolean, true)]));
        let shared = rask_sql::distinct_counts::DistinctCounts::udaf();
        let args: Vec<Arc<dyn datafusion_physical_expr::PhysicalExpr>> = vec![
            Arc::new(Column::new("v", 1)),
            Arc::new(datafusion_physical_expr::expressions::Literal::new(ScalarValue::Boolean(Some(true)))),
            Arc::new(Column::new("low", 2)),
        ];
        let d = AggregateExprBuilder::new(shared, args).schema(input.clone()).alias("d").build().unwrap();
        let plan = Plan { keys: 1, aggs: vec![Arc::new(d)], filters: vec![None], outputs: vec![vec![0, 1]], retract: false, merge: false };
        let out = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("d", DataType::Int64, true), Field::new("dl", DataType::Int64, true)]));
        GroupAggregate::new(plan, input, out, false, None).unwrap()
    }

    fn feed_low(op: &mut GroupAggregate, rows: &[(&str, i64)]) -> Vec<String> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true), Field::new("low", DataType::Boolean, true)]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(arrow::array::BooleanArray::from(rows.iter().map(|r| r.1 < 5).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        let mut out = Emitter::default();
        op.on_batch(0, StreamBatch::inserts(b), &mut out).unwrap();
        out.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| format_row(b, i))).collect()
    }

    #[test]
    fn shared_distinct_counts_spread_over_their_calls_and_survive_a_restore() {
        let mut op = shared_distinct();
        assert_eq!(feed_low(&mut op, &[("a", 7), ("a", 3)]), ["+I[a, 1, 0]", "-U[a, 1, 0]", "+U[a, 2, 1]"]);
        // A value seen again changes nothing.
        assert_eq!(feed_low(&mut op, &[("a", 7), ("a", 3)]), Vec::<String>::new());
        let snap = op.snapshot(1).unwrap().unwrap();
        let mut restored = shared_distinct();
        restored.restore(vec![snap]).unwrap();
        for o in [&mut op, &mut restored] {
            assert_eq!(feed_low(o, &[("a", 3), ("a", 1), ("b", 9)]), ["-U[a, 2, 1]", "+U[a, 3, 2]", "+I[b, 1, 0]"]);
        }
    }

    #[test]
    fn mini_batch_emits_one_change_per_key_and_batch() {
        let mut op = max_count(true);
        assert_eq!(feed(&mut op, &[("a", 5, I), ("b", 1, I), ("a", 9, I)]), ["+I[a, 9, 2]", "+I[b, 1, 1]"]);
        assert_eq!(feed(&mut op, &[("a", 9, UB), ("a", 4, UA), ("b", 1, D)]), ["-U[a, 9, 2]", "+U[a, 5, 2]", "-D[b, 1, 1]"]);
        // Unchanged results emit nothing.
        assert_eq!(feed(&mut op, &[("a", 4, D), ("a", 4, I)]), Vec::<String>::new());
    }
}
