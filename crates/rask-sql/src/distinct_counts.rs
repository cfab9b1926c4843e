//! `COUNT(DISTINCT x)` calls of one group aggregation on the same integer expression, with
//! different `FILTER`s, share one set of x's values, as Flink shares a distinct view among
//! them (its `DistinctInfo` with filter arguments): each value keeps a bit per call whose
//! filter it has passed, and each call counts the values holding its bit. One hash lookup
//! per row instead of one per call, and one set per key in the state instead of one per call
//! (Nexmark q16 has two groups of four). Planned over an append-only input; the shared
//! aggregate's result, internal to the aggregation operator, is the calls' counts packed in a
//! BINARY (little-endian BIGINTs: one allocation per evaluation, where a ROW takes one per
//! field), which the operator spreads over the calls' result columns
//! ([`crate::group_agg::GroupAggregate::outputs`], [`unpack`]).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, ListArray, UInt64Array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, SchemaRef, UInt64Type};
use datafusion_common::{Result as DfResult, ScalarValue};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};
use datafusion_physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
use datafusion_physical_expr::expressions::{Column, Literal};
use datafusion_physical_expr::PhysicalExpr;
use hashbrown::HashMap;

/// At most this many calls share one set (a bit each).
const MAX_SHARED: usize = 64;

/// `distinct_counts(x, f1, …, fn)`: per call i, the number of distinct non-NULL x among the
/// rows whose flag fi is true.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistinctCounts {
    signature: Signature,
}

impl DistinctCounts {
    pub fn udaf() -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(DistinctCounts { signature: Signature::variadic_any(Volatility::Immutable) }))
    }
}

/// The counts as the shared aggregate's result.
fn pack(counts: &[i64]) -> Vec<u8> {
    counts.iter().flat_map(|c| c.to_le_bytes()).collect()
}

/// The counts of a shared aggregate's result.
pub fn unpack(result: &[u8]) -> impl Iterator<Item = i64> + '_ {
    result.chunks_exact(8).map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

impl AggregateUDFImpl for DistinctCounts {
    fn name(&self) -> &str {
        "distinct_counts"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Binary)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(SharedDistinct::new(args.exprs.len().saturating_sub(1))))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(format!("{}[values]", args.name), DataType::new_list(DataType::Int64, true), true)),
            Arc::new(Field::new(format!("{}[calls]", args.name), DataType::new_list(DataType::UInt64, true), true)),
        ])
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SharedDistinctGroups { calls: args.exprs.len().saturating_sub(1), seen: HashMap::new(), groups: 0 }))
    }
}

/// The values seen with the calls (bits) whose filter they passed, and each call's count.
#[derive(Debug)]
struct SharedDistinct {
    seen: HashMap<i64, u64>,
    counts: Vec<i64>,
}

impl SharedDistinct {
    fn new(calls: usize) -> SharedDistinct {
        SharedDistinct { seen: HashMap::new(), counts: vec![0; calls] }
    }

    fn add(&mut self, value: i64, calls: u64) {
        let bits = self.seen.entry(value).or_insert(0);
        count_calls(&mut self.counts, calls & !*bits);
        *bits |= calls;
    }
}

/// One more value for each call in `calls` (bits).
fn count_calls(counts: &mut [i64], mut calls: u64) {
    while calls != 0 {
        counts[calls.trailing_zeros() as usize] += 1;
        calls &= calls - 1;
    }
}

/// Lists of exactly these lengths over `values`.
fn lists(values: ArrayRef, lengths: impl Iterator<Item = usize>) -> ListArray {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ListArray::new(field, OffsetBuffer::from_lengths(lengths), values, None)
}

/// The calls whose flag is true in row `r`, as bits.
fn calls_of(flags: &[&BooleanArray], r: usize) -> u64 {
    let mut calls = 0u64;
    for (i, f) in flags.iter().enumerate() {
        if f.is_valid(r) && f.value(r) {
            calls |= 1 << i;
        }
    }
    calls
}

/// Each row's value (as i64) and the calls its flags pass: `(x, flags…)` arguments.
fn rows(values: &[ArrayRef], mut each: impl FnMut(usize, i64, u64)) -> DfResult<()> {
    let Some((x, flags)) = values.split_first() else { return Ok(()) };
    let x = arrow::compute::cast(x, &DataType::Int64)?;
    let x = x.as_primitive::<Int64Type>();
    let flags: Vec<&BooleanArray> = flags.iter().map(|f| f.as_boolean()).collect();
    for r in 0..x.len() {
        if x.is_null(r) {
            continue;
        }
        let calls = calls_of(&flags, r);
        if calls != 0 {
            each(r, x.value(r), calls);
        }
    }
    Ok(())
}

/// Each (value, calls) pair of row `r` of a partial state's two list columns.
fn state_pairs(states: &[ArrayRef], mut each: impl FnMut(usize, i64, u64)) {
    let [values, calls] = states else { return };
    let (values, calls) = (values.as_list::<i32>(), calls.as_list::<i32>());
    for r in 0..values.len() {
        if values.is_null(r) || calls.is_null(r) {
            continue;
        }
        let (v, c) = (values.value(r), calls.value(r));
        for (v, c) in v.as_primitive::<Int64Type>().values().iter().zip(c.as_primitive::<UInt64Type>().values().iter()) {
            each(r, *v, *c);
        }
    }
}

impl Accumulator for SharedDistinct {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        rows(values, |_, v, c| self.add(v, c))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        state_pairs(states, |_, v, c| self.add(v, c));
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let n = self.seen.len();
        let values: Int64Array = self.seen.keys().copied().collect();
        let calls: UInt64Array = self.seen.values().copied().collect();
        Ok(vec![
            ScalarValue::List(Arc::new(lists(Arc::new(values), [n].into_iter()))),
            ScalarValue::List(Arc::new(lists(Arc::new(calls), [n].into_iter()))),
        ])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(ScalarValue::Binary(Some(pack(&self.counts))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.seen.capacity() * (std::mem::size_of::<(i64, u64)>() + 1) + self.counts.capacity() * 8
    }
}

/// The local phase's [`GroupsAccumulator`]: one set of (group, value) for all groups of a
/// mini-batch, emitted as partial states.
#[derive(Debug)]
struct SharedDistinctGroups {
    calls: usize,
    seen: HashMap<(u32, i64), u64>,
    groups: usize,
}

impl SharedDistinctGroups {
    /// Every group's (value, calls) pairs, groups in order; the counts per call.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<usize>, Vec<(i64, u64)>, Vec<Vec<i64>>) {
        let n = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let mut lengths = vec![0usize; n];
        let mut counts = vec![vec![0i64; self.calls]; n];
        let mut kept = HashMap::new();
        let mut emitted: Vec<(u32, i64, u64)> = Vec::new();
        for ((g, v), c) in self.seen.drain() {
            if (g as usize) < n {
                emitted.push((g, v, c));
            } else {
                kept.insert((g - n as u32, v), c);
            }
        }
        emitted.sort_unstable_by_key(|(g, _, _)| *g);
        let mut pairs = Vec::with_capacity(emitted.len());
        for (g, v, c) in emitted {
            lengths[g as usize] += 1;
            count_calls(&mut counts[g as usize], c);
            pairs.push((v, c));
        }
        // The drained set keeps its capacity for the next mini-batch.
        if !kept.is_empty() {
            self.seen = kept;
        }
        self.groups -= n;
        (lengths, pairs, counts)
    }
}

impl GroupsAccumulator for SharedDistinctGroups {
    fn update_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], opt_filter: Option<&BooleanArray>, total_num_groups: usize) -> DfResult<()> {
        self.groups = self.groups.max(total_num_groups);
        let seen = &mut self.seen;
        rows(values, |r, v, c| {
            if opt_filter.is_none_or(|f| f.is_valid(r) && f.value(r)) {
                *seen.entry((group_indices[r] as u32, v)).or_insert(0) |= c;
            }
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let (_, _, counts) = self.take(emit_to);
        Ok(Arc::new(counts.iter().map(|c| Some(pack(c))).collect::<BinaryArray>()))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let (lengths, pairs, _) = self.take(emit_to);
        let values: Int64Array = pairs.iter().map(|(v, _)| *v).collect();
        let calls: UInt64Array = pairs.iter().map(|(_, c)| *c).collect();
        Ok(vec![Arc::new(lists(Arc::new(values), lengths.iter().copied())), Arc::new(lists(Arc::new(calls), lengths.into_iter()))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DfResult<()> {
        self.groups = self.groups.max(total_num_groups);
        let seen = &mut self.seen;
        state_pairs(values, |r, v, c| *seen.entry((group_indices[r] as u32, v)).or_insert(0) |= c);
        Ok(())
    }

    /// Each row as a partial state of its own (its value with the calls it passed).
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        let mut one = SharedDistinctGroups { calls: self.calls, seen: HashMap::new(), groups: 0 };
        let n = values.first().map_or(0, |v| v.len());
        one.update_batch(values, &(0..n).collect::<Vec<_>>(), opt_filter, n)?;
        one.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.seen.capacity() * (std::mem::size_of::<((u32, i64), u64)>() + 1)
    }
}

/// Replace the `COUNT(DISTINCT x)` calls among `aggs` that can share a set (two or more on
/// the same integer expression: columns of `schema` computed by equal `exprs`) by one
/// `distinct_counts` aggregate each. Returns the aggregates, their filter columns, and per
/// aggregate the calls whose results it gives (in the order of its ROW's fields).
#[allow(clippy::type_complexity)]
pub(crate) fn share(
    aggs: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<usize>>,
    schema: &SchemaRef,
    exprs: &[datafusion_expr::Expr],
) -> DfResult<(Vec<Arc<AggregateFunctionExpr>>, Vec<Option<usize>>, Vec<Vec<usize>>)> {
    // The column each shareable call counts.
    let column = |a: &AggregateFunctionExpr| -> Option<usize> {
        if a.fun().name() != "count" || !a.is_distinct() {
            return None;
        }
        let args = a.expressions();
        let [arg] = args.as_slice() else { return None };
        let c = arg.downcast_ref::<Column>()?;
        let integer = matches!(schema.field(c.index()).data_type(), DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64);
        // The first column computed by the same expression stands for all.
        let same = exprs.get(c.index()).and_then(|e| exprs.iter().position(|o| o == e)).unwrap_or(c.index());
        integer.then_some(same)
    };
    let columns: Vec<Option<usize>> = aggs.iter().map(|a| column(a)).collect();
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    let mut done = vec![false; aggs.len()];
    for j in 0..aggs.len() {
        if done[j] {
            continue;
        }
        let group: Vec<usize> = match columns[j] {
            Some(c) => (j..aggs.len()).filter(|k| !done[*k] && columns[*k] == Some(c)).take(MAX_SHARED).collect(),
            None => vec![j],
        };
        for k in &group {
            done[*k] = true;
        }
        let Some(c) = columns[j].filter(|_| group.len() >= 2) else {
            out.0.push(aggs[j].clone());
            out.1.push(filters[j]);
            out.2.push(vec![j]);
            continue;
        };
        let mut args: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(Column::new(schema.field(c).name(), c))];
        for k in &group {
            args.push(match filters[*k] {
                Some(f) => Arc::new(Column::new(schema.field(f).name(), f)),
                None => Arc::new(Literal::new(ScalarValue::Boolean(Some(true)))),
            });
        }
        let shared = AggregateExprBuilder::new(DistinctCounts::udaf(), args).schema(schema.clone()).alias(format!("$distinct{j}")).build()?;
        out.0.push(Arc::new(shared));
        out.1.push(None);
        out.2.push(group);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn counts(s: &ScalarValue) -> Vec<i64> {
        let ScalarValue::Binary(Some(b)) = s else { panic!("packed counts") };
        unpack(b).collect()
    }

    #[test]
    fn each_call_counts_the_distinct_values_its_filter_passed_and_states_merge() {
        let x: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(1), Some(2), None, Some(3), Some(2), Some(1)]));
        let all: ArrayRef = Arc::new(BooleanArray::from(vec![true; 7]));
        let low: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), Some(false), Some(true), None, Some(true), Some(true)]));
        let none: ArrayRef = Arc::new(BooleanArray::from(vec![false; 7]));
        let args = |from: usize, len: usize| vec![x.slice(from, len), all.slice(from, len), low.slice(from, len), none.slice(from, len)];
        let mut one = SharedDistinct::new(3);
        one.update_batch(&args(0, 7)).unwrap();
        // all: {1, 2, 3}; low: rows 0, 5, 6 → {1, 2}; none: {}.
        assert_eq!(counts(&one.evaluate().unwrap()), vec![3, 2, 0]);
        // Partial states of two halves, from the row and the groups accumulators (rows of
        // group 1 in between, which must not mix in), merge into the same counts.
        let mut global = SharedDistinct::new(3);
        let mut p = SharedDistinct::new(3);
        p.update_batch(&args(0, 3)).unwrap();
        let arrays: Vec<ArrayRef> = p.state().unwrap().iter().map(|s| s.to_array().unwrap()).collect();
        global.merge_batch(&arrays).unwrap();
        let mut groups = SharedDistinctGroups { calls: 3, seen: HashMap::new(), groups: 0 };
        groups.update_batch(&args(3, 4), &[0, 1, 0, 0], None, 2).unwrap();
        let other = groups.state(EmitTo::First(1)).unwrap();
        global.merge_batch(&other).unwrap();
        assert_eq!(counts(&global.evaluate().unwrap()), vec![2, 2, 0]);
        // Group 1 (row 4: value 3, no low flag) is what is left.
        let rest = groups.evaluate(EmitTo::All).unwrap();
        let rest = rest.as_binary::<i32>();
        assert_eq!((rest.len(), unpack(rest.value(0)).collect::<Vec<_>>()), (1, vec![1, 0, 0]));
    }
}
