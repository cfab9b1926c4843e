//! Flink's IF(cond, a, b): `a` when `cond` is TRUE, otherwise (FALSE or NULL) `b`, both coerced to
//! a common type. Note: as a function all arguments are evaluated for every row; a planner that
//! needs lazy evaluation (e.g. `IF(x <> 0, 1 / x, 0)`) should rewrite IF into CASE WHEN.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::{prep_null_mask_filter, kernels::zip::zip};
use arrow::datatypes::DataType;
use datafusion_common::{DataFusionError, Result};
use datafusion_expr::ScalarUDF;
use datafusion_expr::type_coercion::binary::type_union_resolution;

use crate::util::{Args, FlinkUdf, exec_err};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![FlinkUdf::new("if", 3, 3, coerce_if, |t| Ok(t[1].clone()), if_fn).udf()]
}

fn coerce_if(t: &[DataType]) -> Result<Vec<DataType>> {
    let common = type_union_resolution(&t[1..]).ok_or_else(|| {
        DataFusionError::Plan(format!("IF: branches of types {} and {} have no common type", t[1], t[2]))
    })?;
    Ok(vec![DataType::Boolean, common.clone(), common])
}

fn if_fn(a: &Args) -> Result<ArrayRef> {
    let cond = a.array(0)?;
    let cond = arrow::array::AsArray::as_boolean_opt(cond.as_ref())
        .ok_or_else(|| exec_err(format!("IF: condition must be BOOLEAN, got {}", cond.data_type())))?;
    // NULL conditions select the ELSE branch.
    let mask = if cond.null_count() > 0 { prep_null_mask_filter(cond) } else { cond.clone() };
    let (x, y) = (a.array(1)?, a.array(2)?);
    Ok(zip(&mask, &x, &y)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test::*;
    use arrow::array::{AsArray, BooleanArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use datafusion_common::ScalarValue;
    use datafusion_expr::ColumnarValue;

    #[test]
    fn if_cases() {
        let udf = &functions()[0];
        let cond: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
        let out = run(
            udf,
            vec![
                ColumnarValue::Array(cond),
                ColumnarValue::Array(Arc::new(Int64Array::from(vec![1, 2, 3]))),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(9))),
            ],
            3,
        )
        .expect("runs")
        .to_array(3)
        .expect("array");
        assert_eq!(out.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), vec![Some(1), Some(9), Some(9)]);
        let v = run_scalars(udf, vec![ScalarValue::Boolean(None), i(1), i(2)]).expect("runs");
        assert_eq!(v, i(2));
        let v = run_scalars(udf, vec![ScalarValue::Boolean(Some(true)), s("a"), s("bcd")]).expect("runs");
        assert_eq!(scalar_str(&v), Some("a".into()));
        let v = run_scalars(udf, vec![ScalarValue::Boolean(Some(true)), ScalarValue::Int32(Some(1)), f(2.5)]).expect("runs");
        assert_eq!(v, ScalarValue::Float64(Some(1.0)));
        let v = run_scalars(udf, vec![ScalarValue::Boolean(Some(false)), ScalarValue::Null, i(5)]).expect("runs");
        assert_eq!(v, i(5));
    }
}
