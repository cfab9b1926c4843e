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
}
