//! Accumulators that retract in any order, for aggregations over updating (changelog) input:
//! a `-U`/`-D` row takes its values back out of the aggregate. COUNT, SUM and AVG use
//! DataFusion's sliding accumulators (they subtract); MIN/MAX and COUNT(DISTINCT) keep a count
//! per value (Flink's `MaxWithRetractAggFunction` and distinct map views). DataFusion's own
//! sliding MIN/MAX assume first-in-first-out retraction (window frames) and its sliding
//! distinct count checkpoints only the values, not their counts, so neither fits here.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::DataType;
use datafusion_common::{Result as DfResult, ScalarValue};
use datafusion_expr::Accumulator;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;

/// An accumulator for `agg` that supports `retract_batch` in any order, or why there is none.
pub fn retracting_accumulator(agg: &AggregateFunctionExpr) -> Result<Box<dyn Accumulator>, String> {
    let name = agg.fun().name().to_ascii_lowercase();
    let shown = name.to_ascii_uppercase();
    let ty = agg.field().data_type().clone();
    if agg.expressions().len() > 1 && (agg.is_distinct() || matches!(name.as_str(), "min" | "max")) {
        return Err(format!("{shown}(DISTINCT …) over several columns cannot retract yet"));
    }
    match (name.as_str(), agg.is_distinct()) {
        ("min", _) => Ok(Box::new(ValueCounts::new(Report::Min, ty))),
        ("max", _) => Ok(Box::new(ValueCounts::new(Report::Max, ty))),
        ("count", true) => Ok(Box::new(ValueCounts::new(Report::DistinctCount, DataType::Null))),
        (_, true) => Err(format!("{shown}(DISTINCT …) cannot retract yet")),
        _ => agg.create_sliding_accumulator().map_err(|_| format!("{shown} cannot retract yet")),
    }
}

/// Whether `agg` can run in two phases over an updating input ([`partial_accumulator`]).
pub fn retract_state_merges(agg: &AggregateFunctionExpr) -> bool {
    partial_accumulator(agg).is_ok()
}

/// The accumulator of both phases of a two-phase aggregation over an updating input, whose
/// partial states — possibly of rows retracted before they were accumulated — merge by
/// addition: COUNT and SUM/AVG of numbers as a signed sum and count ([`SignedSum`]), MIN/MAX and
/// COUNT(DISTINCT) as signed counts per value (Flink's distinct map view with counts); or why
/// `agg` has none (then the aggregation keeps one phase).
pub fn partial_accumulator(agg: &AggregateFunctionExpr) -> Result<Box<dyn Accumulator>, String> {
    let name = agg.fun().name().to_ascii_lowercase();
    if matches!(name.as_str(), "min" | "max") && !agg.is_distinct() && agg.expressions().len() == 1 {
        return retracting_accumulator(agg);
    }
    if name == "count" && agg.is_distinct() && agg.expressions().len() == 1 {
        // The values' type, so that an empty partial state has the planned columns.
        let state = agg.state_fields().map_err(|e| e.to_string())?;
        let Some(DataType::List(item)) = state.first().map(|f| f.data_type()) else {
            return Err("COUNT(DISTINCT …) without a list state has no partial state".into());
        };
        return Ok(Box::new(ValueCounts::new(Report::DistinctCount, item.data_type().clone())));
    }
    signed_accumulator(agg)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SignedKind {
    Count,
    Sum,
    Avg,
}

/// COUNT/SUM/AVG as a signed sum and a signed count of the non-NULL values: rows retracted
/// before their accumulation (in another mini-batch) leave negative partial states, which merge
/// by addition — the local and global phases of a two-phase aggregation over an updating input
/// (Flink's COUNT_RETRACT/$SUM0_RETRACT partial accumulators). State: [sum, count].
#[derive(Debug)]
pub struct SignedSum {
    kind: SignedKind,
    float: bool,
    sum_i: i64,
    sum_f: f64,
    count: i64,
    out: DataType,
}

/// The [`SignedSum`] accumulator for `agg`, or why it has none.
pub fn signed_accumulator(agg: &AggregateFunctionExpr) -> Result<Box<dyn Accumulator>, String> {
    let name = agg.fun().name().to_ascii_lowercase();
    let kind = match name.as_str() {
        "count" => SignedKind::Count,
        "sum" => SignedKind::Sum,
        "avg" => SignedKind::Avg,
        _ => return Err(format!("{name} has no signed partial state")),
    };
    if agg.is_distinct() || agg.expressions().len() != 1 {
        return Err(format!("{name}(DISTINCT …) has no signed partial state"));
    }
    let out = agg.field().data_type().clone();
    let float = match kind {
        SignedKind::Count => false,
        _ => match &out {
            t if t.is_integer() => false,
            t if t.is_floating() => true,
            _ => return Err(format!("{name} of {out} has no signed partial state")),
        },
    };
    Ok(Box::new(SignedSum { kind, float, sum_i: 0, sum_f: 0.0, count: 0, out }))
}

impl SignedSum {
    /// Accumulate (`sign` 1) or retract (-1) argument values.
    fn add(&mut self, values: &ArrayRef, sign: i64) -> DfResult<()> {
        self.count += sign * (values.len() - values.null_count()) as i64;
        if self.kind == SignedKind::Count {
            return Ok(());
        }
        self.add_to_sum(values, sign)
    }

    /// Add (`sign` 1) or subtract (-1) the non-NULL `values` to the sum.
    fn add_to_sum(&mut self, values: &ArrayRef, sign: i64) -> DfResult<()> {
        if self.float {
            let v = arrow::compute::cast(values, &DataType::Float64)?;
            let s: f64 = v.as_primitive::<arrow::datatypes::Float64Type>().iter().flatten().sum();
            self.sum_f += sign as f64 * s;
        } else {
            let v = arrow::compute::cast(values, &DataType::Int64)?;
            for x in v.as_primitive::<arrow::datatypes::Int64Type>().iter().flatten() {
                self.sum_i = self.sum_i.wrapping_add(sign.wrapping_mul(x));
            }
        }
        Ok(())
    }
}

/// An integer result in Flink's type, wrapping as Java narrows (`(int) sum`).
fn narrow(v: i64, out: &DataType) -> ScalarValue {
    match out {
        DataType::Int8 => ScalarValue::Int8(Some(v as i8)),
        DataType::Int16 => ScalarValue::Int16(Some(v as i16)),
        DataType::Int32 => ScalarValue::Int32(Some(v as i32)),
        _ => ScalarValue::Int64(Some(v)),
    }
}

impl Accumulator for SignedSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(&values[0], 1)
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add(&values[0], -1)
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let sum = if self.float { ScalarValue::Float64(Some(self.sum_f)) } else { ScalarValue::Int64(Some(self.sum_i)) };
        Ok(vec![sum, ScalarValue::Int64(Some(self.count))])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.add_to_sum(&states[0], 1)?;
        let c = arrow::compute::cast(&states[1], &DataType::Int64)?;
        self.count += c.as_primitive::<arrow::datatypes::Int64Type>().iter().flatten().sum::<i64>();
        Ok(())
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let v = match (self.kind, self.count) {
            (SignedKind::Count, n) => ScalarValue::Int64(Some(n)),
            (_, 0) => return ScalarValue::try_from(&self.out),
            (SignedKind::Sum, _) if self.float => ScalarValue::Float64(Some(self.sum_f)),
            (SignedKind::Sum, _) => return Ok(narrow(self.sum_i, &self.out)),
            // AVG of integers divides as Java does (truncating), of floats as floats.
            (SignedKind::Avg, n) if self.float => ScalarValue::Float64(Some(self.sum_f / n as f64)),
            (SignedKind::Avg, n) => return Ok(narrow(self.sum_i.wrapping_div(n), &self.out)),
        };
        v.cast_to(&self.out)
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// A `ScalarValue` ordered for a `BTreeMap` (values of one column, so they compare).
#[derive(Debug, Clone, PartialEq)]
struct Ordered(ScalarValue);

impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// Counts per value in `values[0]`, added (`sign` 1) or taken back (-1); NULLs are ignored.
fn count_values(values: &ArrayRef, sign: i64, mut add: impl FnMut(ScalarValue, i64)) -> DfResult<()> {
    for i in 0..values.len() {
        if values.is_valid(i) {
            add(ScalarValue::try_from_array(values, i)?, sign);
        }
    }
    Ok(())
}

/// State as two lists: the values and their counts.
fn counts_state(data_type: &DataType, entries: Vec<(ScalarValue, i64)>) -> DfResult<Vec<ScalarValue>> {
    let (values, counts): (Vec<ScalarValue>, Vec<ScalarValue>) = entries.into_iter().map(|(v, c)| (v, ScalarValue::Int64(Some(c)))).unzip();
    Ok(vec![
        ScalarValue::List(ScalarValue::new_list_nullable(&values, data_type)),
        ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Int64)),
    ])
}

/// Read [`counts_state`] lists back.
fn merge_counts(states: &[ArrayRef], mut add: impl FnMut(ScalarValue, i64)) -> DfResult<()> {
    let (values, counts) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
    for row in 0..values.len() {
        if values.is_null(row) {
            continue;
        }
        let (v, c) = (values.value(row), counts.value(row));
        let c = c.as_any().downcast_ref::<Int64Array>().ok_or_else(|| datafusion_common::DataFusionError::Internal("count list is not BIGINT".into()))?;
        for i in 0..v.len() {
            add(ScalarValue::try_from_array(&v, i)?, c.value(i));
        }
    }
    Ok(())
}

/// What a [`ValueCounts`] accumulator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Min,
    Max,
    DistinctCount,
}

/// MIN, MAX or COUNT(DISTINCT) with retraction: a count per distinct value (values retracted
/// before they were added have negative counts and are not reported).
#[derive(Debug)]
struct ValueCounts {
    report: Report,
    /// The result type (MIN/MAX); for COUNT(DISTINCT) the values' type, learnt from the first.
    data_type: DataType,
    values: BTreeMap<Ordered, i64>,
}

impl ValueCounts {
    fn new(report: Report, data_type: DataType) -> Self {
        ValueCounts { report, data_type, values: BTreeMap::new() }
    }

    fn add(&mut self, v: ScalarValue, n: i64) {
        if self.data_type == DataType::Null {
            self.data_type = v.data_type();
        }
        let k = Ordered(v);
        let e = self.values.entry(k.clone()).or_insert(0);
        *e += n;
        if *e == 0 {
            self.values.remove(&k);
        }
    }
}

impl Accumulator for ValueCounts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        count_values(&values[0], 1, |v, n| self.add(v, n))
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        count_values(&values[0], -1, |v, n| self.add(v, n))
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let mut present = self.values.iter().filter(|(_, c)| **c > 0).map(|(v, _)| &v.0);
        let found = match self.report {
            Report::DistinctCount => return Ok(ScalarValue::Int64(Some(present.count() as i64))),
            Report::Max => present.next_back(),
            Report::Min => present.next(),
        };
        match found {
            Some(v) => v.cast_to(&self.data_type),
            None => ScalarValue::try_from(&self.data_type),
        }
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.keys().map(|k| k.0.size()).sum::<usize>()
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let dt = self.values.keys().next().map(|k| k.0.data_type()).unwrap_or_else(|| self.data_type.clone());
        counts_state(&dt, self.values.iter().map(|(k, c)| (k.0.clone(), *c)).collect())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let mut all = Vec::new();
        merge_counts(states, |v, n| all.push((v, n)))?;
        for (v, n) in all {
            self.add(v, n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use arrow::array::Int32Array;

    fn col(v: &[Option<i32>]) -> Vec<ArrayRef> {
        vec![Arc::new(Int32Array::from(v.to_vec()))]
    }

    #[test]
    fn max_retracts_in_any_order_and_survives_a_checkpoint() {
        let mut m = ValueCounts::new(Report::Max, DataType::Int32);
        m.update_batch(&col(&[Some(3), Some(7), Some(7), None, Some(5)])).unwrap();
        assert_eq!(m.evaluate().unwrap(), ScalarValue::Int32(Some(7)));
        m.retract_batch(&col(&[Some(7)])).unwrap();
        assert_eq!(m.evaluate().unwrap(), ScalarValue::Int32(Some(7)));
        m.retract_batch(&col(&[Some(7), Some(3)])).unwrap();
        assert_eq!(m.evaluate().unwrap(), ScalarValue::Int32(Some(5)));
        let state: Vec<ArrayRef> = m.state().unwrap().into_iter().map(|s| s.to_array().unwrap()).collect();
        let mut r = ValueCounts::new(Report::Max, DataType::Int32);
        r.merge_batch(&state).unwrap();
        assert_eq!(r.evaluate().unwrap(), ScalarValue::Int32(Some(5)));
        r.retract_batch(&col(&[Some(5)])).unwrap();
        assert_eq!(r.evaluate().unwrap(), ScalarValue::Int32(None));
        let mut min = ValueCounts::new(Report::Min, DataType::Int32);
        min.update_batch(&col(&[Some(3), Some(1)])).unwrap();
        min.retract_batch(&col(&[Some(1)])).unwrap();
        assert_eq!(min.evaluate().unwrap(), ScalarValue::Int32(Some(3)));
    }

    #[test]
    fn distinct_count_keeps_counts_through_a_checkpoint() {
        let mut d = ValueCounts::new(Report::DistinctCount, DataType::Null);
        d.update_batch(&col(&[Some(1), Some(1), Some(2), None])).unwrap();
        assert_eq!(d.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
        let state: Vec<ArrayRef> = d.state().unwrap().into_iter().map(|s| s.to_array().unwrap()).collect();
        let mut r = ValueCounts::new(Report::DistinctCount, DataType::Null);
        r.merge_batch(&state).unwrap();
        r.retract_batch(&col(&[Some(1)])).unwrap();
        assert_eq!(r.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
        r.retract_batch(&col(&[Some(1)])).unwrap();
        assert_eq!(r.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
    }

    #[test]
    fn signed_partial_states_merge_with_retractions_from_other_mini_batches() {
        let sum = |kind, out: DataType, float| SignedSum { kind, float, sum_i: 0, sum_f: 0.0, count: 0, out };
        let state = |a: &mut SignedSum| -> Vec<ArrayRef> { a.state().unwrap().into_iter().map(|s| s.to_array().unwrap()).collect() };
        // Mini-batch 1 accumulates 5 and 3; mini-batch 2 only retracts 3 and adds 4: its partial
        // state has a net count of 0 but a sum of +1, which must not be lost.
        let (mut local1, mut local2) = (sum(SignedKind::Sum, DataType::Int32, false), sum(SignedKind::Sum, DataType::Int32, false));
        local1.update_batch(&col(&[Some(5), Some(3), None])).unwrap();
        local2.retract_batch(&col(&[Some(3)])).unwrap();
        local2.update_batch(&col(&[Some(4)])).unwrap();
        let mut global = sum(SignedKind::Sum, DataType::Int32, false);
        global.merge_batch(&state(&mut local1)).unwrap();
        global.merge_batch(&state(&mut local2)).unwrap();
        assert_eq!(global.evaluate().unwrap(), ScalarValue::Int32(Some(9)));
        // AVG of integers truncates as Java; everything retracted is NULL; COUNT is never NULL.
        let mut avg = sum(SignedKind::Avg, DataType::Int32, false);
        avg.merge_batch(&state(&mut local1)).unwrap();
        assert_eq!(avg.evaluate().unwrap(), ScalarValue::Int32(Some(4)));
        let mut gone = sum(SignedKind::Sum, DataType::Int32, false);
        gone.update_batch(&col(&[Some(2)])).unwrap();
        gone.retract_batch(&col(&[Some(2)])).unwrap();
        assert_eq!(gone.evaluate().unwrap(), ScalarValue::Int32(None));
        let mut count = sum(SignedKind::Count, DataType::Int64, false);
        count.retract_batch(&col(&[Some(1), None])).unwrap();
        let mut total = sum(SignedKind::Count, DataType::Int64, false);
        total.update_batch(&col(&[Some(1), Some(2)])).unwrap();
        total.merge_batch(&state(&mut count)).unwrap();
        assert_eq!(total.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
    }
}
