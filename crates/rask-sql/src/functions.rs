//! The function registry the planner resolves names against: DataFusion's built-ins, then
//! Flink's (from `rask-functions`) replacing same-named ones, then the streaming time functions
//! defined here (`PROCTIME()`, and `NOW()`/`CURRENT_TIMESTAMP`, which in a streaming job are
//! evaluated per record rather than once per query).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{Result as DfResult, ScalarValue};
use datafusion_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, WindowUDF,
};
use rask_types::types::LTZ_TZ;

/// Scalar and aggregate functions by lower-case name.
#[derive(Debug, Clone)]
pub struct FunctionSet {
    pub scalars: HashMap<String, Arc<ScalarUDF>>,
    pub aggregates: HashMap<String, Arc<AggregateUDF>>,
    /// Window functions (`ROW_NUMBER`, …), usable in Top-N and deduplication.
    pub windows: HashMap<String, Arc<WindowUDF>>,
    pub cast_to_string: Arc<ScalarUDF>,
}

impl FunctionSet {
    /// Flink's function library.
    pub fn flink() -> Self {
        let mut scalars = HashMap::new();
        let mut add = |f: Arc<ScalarUDF>| {
            scalars.insert(f.name().to_ascii_lowercase(), f.clone());
            for a in f.aliases() {
                scalars.insert(a.to_ascii_lowercase(), f.clone());
            }
        };
        for f in datafusion_functions::all_default_functions() {
            add(f);
        }
        for f in datafusion_functions_nested::all_default_nested_functions() {
            add(f);
        }
        for f in rask_functions::flink_scalar_functions() {
            add(f);
        }
        add(Arc::new(ScalarUDF::new_from_impl(IntervalMul::new())));
        add(Arc::new(ScalarUDF::new_from_impl(CurrentWatermark { signature: Signature::any(1, Volatility::Volatile) })));
        for f in [
            TimeFn::new("proctime", TimeKind::ProcTime),
            TimeFn::new("now", TimeKind::Now),
            TimeFn::new("current_timestamp", TimeKind::Now),
            TimeFn::new("localtimestamp", TimeKind::LocalTimestamp),
            TimeFn::new("current_row_timestamp", TimeKind::Now),
            TimeFn::new("current_date", TimeKind::CurrentDate),
        ] {
            add(Arc::new(ScalarUDF::new_from_impl(f)));
        }
        // Flink names for DataFusion functions that exist under another name.
        for (flink, df) in [("sign", "signum"), ("ceiling", "ceil"), ("lcase", "lower"), ("ucase", "upper")] {
            if let Some(f) = scalars.get(df).cloned() {
                scalars.entry(flink.to_string()).or_insert(f);
            }
        }
        let mut aggregates = HashMap::new();
        for f in datafusion_functions_aggregate::all_default_aggregate_functions() {
            aggregates.insert(f.name().to_ascii_lowercase(), f.clone());
            for a in f.aliases() {
                aggregates.insert(a.to_ascii_lowercase(), f.clone());
            }
        }
        crate::aggregates::flink_aggregates(&mut aggregates);
        let windows = datafusion_functions_window::all_default_window_functions()
            .into_iter()
            .map(|f| (f.name().to_ascii_lowercase(), f))
            .collect();
        FunctionSet { scalars, aggregates, windows, cast_to_string: rask_functions::cast_to_string() }
    }

    pub fn scalar(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.scalars.get(&name.to_ascii_lowercase()).cloned()
    }
    pub fn aggregate(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregates.get(&name.to_ascii_lowercase()).cloned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TimeKind {
    ProcTime,
    Now,
    LocalTimestamp,
    CurrentDate,
}

/// Wall-clock functions, evaluated for every batch (Flink streaming semantics).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimeFn {
    name: &'static str,
    kind: TimeKind,
    signature: Signature,
}

impl TimeFn {
    fn new(name: &'static str, kind: TimeKind) -> Self {
        TimeFn { name, kind, signature: Signature::nullary(Volatility::Volatile) }
    }
}

impl ScalarUDFImpl for TimeFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            // PROCTIME() is TIMESTAMP_LTZ(3) *PROCTIME*; NOW()/CURRENT_TIMESTAMP are TIMESTAMP_LTZ(3).
            TimeKind::ProcTime | TimeKind::Now => DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from(LTZ_TZ))),
            TimeKind::LocalTimestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            TimeKind::CurrentDate => DataType::Date32,
        })
    }
    /// `PROCTIME()` is a processing-time attribute wherever it appears (computed column or a
    /// query's select list, as in Flink): its field carries the time-attribute marker.
    fn return_field_from_args(&self, _args: datafusion_expr::ReturnFieldArgs) -> DfResult<arrow::datatypes::FieldRef> {
        let field = arrow::datatypes::Field::new(self.name, self.return_type(&[])?, true);
        Ok(Arc::new(match self.kind {
            TimeKind::ProcTime => field.with_metadata(
                [(crate::window_tvf::TIME_ATTRIBUTE.to_string(), "proctime".to_string())].into_iter().collect(),
            ),
            _ => field,
        }))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let now = chrono::Utc::now();
        let ms = now.timestamp_millis();
        let n = args.number_rows;
        let arr: ArrayRef = match self.kind {
            TimeKind::ProcTime | TimeKind::Now => {
                Arc::new(TimestampMillisecondArray::from(vec![ms; n]).with_timezone(LTZ_TZ))
            }
            TimeKind::LocalTimestamp => Arc::new(TimestampMillisecondArray::from(vec![ms; n])),
            TimeKind::CurrentDate => Arc::new(Date32Array::from(vec![(ms.div_euclid(86_400_000)) as i32; n])),
        };
        if n == 1 {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&arr, 0)?));
        }
        Ok(ColumnarValue::Array(arr))
    }
}

/// A user-defined function that could not be loaded: planning a call fails with the reason.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Unresolved {
    name: String,
    message: String,
    signature: Signature,
}

impl Unresolved {
    pub fn new(name: &str, message: String) -> Self {
        Unresolved { name: name.to_string(), message, signature: Signature::variadic_any(Volatility::Volatile) }
    }
}

impl ScalarUDFImpl for Unresolved {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        datafusion_common::plan_err!("{}", self.message)
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::exec_err!("{}", self.message)
    }
}

/// `CURRENT_WATERMARK(ts)`: the watermark at the operator evaluating it, in the type of `ts`,
/// NULL while there is none (or at the end of input, as Flink's MAX watermark is not a time).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentWatermark {
    signature: Signature,
}

impl ScalarUDFImpl for CurrentWatermark {
    fn name(&self) -> &str {
        "current_watermark"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        match args.first() {
            Some(DataType::Timestamp(_, tz)) => Ok(DataType::Timestamp(TimeUnit::Millisecond, tz.clone())),
            other => datafusion_common::plan_err!(
                "CURRENT_WATERMARK expects a rowtime attribute (TIMESTAMP(3) or TIMESTAMP_LTZ(3)), got {}",
                other.map(|t| t.to_string()).unwrap_or_default()
            ),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let wm = rask_types::current_watermark();
        let tz = match args.return_field.data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        let v = (wm != rask_types::WATERMARK_MIN && wm != rask_types::WATERMARK_MAX).then_some(wm);
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(v, tz)))
    }
}

/// `n * INTERVAL '1' SECOND` (Flink allows multiplying intervals by numbers; DataFusion does
/// not): the AST rewrite turns the product into `__rask_interval_mul(interval, n)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntervalMul {
    signature: Signature,
}

impl IntervalMul {
    pub fn new() -> Self {
        IntervalMul { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl Default for IntervalMul {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for IntervalMul {
    fn name(&self) -> &str {
        "__rask_interval_mul"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() != 2 || !arg_types[1].is_numeric() && arg_types[1] != DataType::Null {
            return datafusion_common::plan_err!("an interval can only be multiplied by a number, not by {:?}", arg_types.get(1));
        }
        Ok(vec![DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano), DataType::Float64])
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        use arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
        use arrow::datatypes::{Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType};
        let n = args.number_rows;
        let iv = args.args[0].to_array(n)?;
        let k = args.args[1].to_array(n)?;
        let iv = iv.as_primitive::<IntervalMonthDayNanoType>();
        let k = k.as_primitive::<Float64Type>();
        let out: IntervalMonthDayNanoArray = (0..n)
            .map(|i| {
                if iv.is_null(i) || k.is_null(i) {
                    return None;
                }
                let (v, f) = (iv.value(i), k.value(i));
                // Whole months and days scale exactly; a fractional factor spills into nanoseconds.
                let months = v.months as f64 * f;
                let days = v.days as f64 * f;
                let nanos = v.nanoseconds as f64 * f + days.fract() * 86_400e9;
                Some(IntervalMonthDayNano::new(months.trunc() as i32, days.trunc() as i32, nanos.round() as i64))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Java's numeric narrowing, used for `CAST(x AS TINYINT|SMALLINT|INT|BIGINT)` from a number:
/// integers wrap (two's complement), floating point saturates and NaN becomes 0, decimals
/// truncate toward zero then wrap — Flink's cast semantics (Rust's `as` is exactly Java's).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JavaNarrow {
    name: String,
    target: DataType,
    signature: Signature,
}

impl JavaNarrow {
    pub fn new(target: DataType) -> Self {
        JavaNarrow { name: format!("__rask_java_cast_{}", target).to_ascii_lowercase(), target, signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for JavaNarrow {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.target.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        use arrow::array::{Array, AsArray, Int16Array, Int32Array, Int64Array, Int8Array};
        use arrow::datatypes as adt;
        let a = args.args[0].to_array(args.number_rows)?;
        // Every source value as i64 (wrapping) or as f64 (saturating on the final cast).
        enum V {
            I(Vec<Option<i64>>),
            F(Vec<Option<f64>>),
        }
        let v = match a.data_type() {
            DataType::Int8 => V::I(a.as_primitive::<adt::Int8Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::Int16 => V::I(a.as_primitive::<adt::Int16Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::Int32 => V::I(a.as_primitive::<adt::Int32Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::Int64 => V::I(a.as_primitive::<adt::Int64Type>().iter().collect()),
            DataType::UInt8 => V::I(a.as_primitive::<adt::UInt8Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::UInt16 => V::I(a.as_primitive::<adt::UInt16Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::UInt32 => V::I(a.as_primitive::<adt::UInt32Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::UInt64 => V::I(a.as_primitive::<adt::UInt64Type>().iter().map(|x| x.map(|x| x as i64)).collect()),
            DataType::Float32 => V::F(a.as_primitive::<adt::Float32Type>().iter().map(|x| x.map(|x| x as f64)).collect()),
            DataType::Float64 => V::F(a.as_primitive::<adt::Float64Type>().iter().collect()),
            DataType::Decimal128(_, s) => {
                // Scale s: value = x / 10^s (a negative scale multiplies).
                let p = 10i128.checked_pow(s.unsigned_abs() as u32).unwrap_or(i128::MAX);
                let neg = *s < 0;
                V::I(a
                    .as_primitive::<adt::Decimal128Type>()
                    .iter()
                    .map(|x| x.map(|x| if neg { x.wrapping_mul(p) as i64 } else { (x / p) as i64 }))
                    .collect())
            }
            DataType::Null => V::I(vec![None; a.len()]),
            other => return datafusion_common::exec_err!("cannot narrow {other} to {}", self.target),
        };
        let out: ArrayRef = match (&self.target, v) {
            (DataType::Int8, V::I(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i8)).collect::<Int8Array>()),
            (DataType::Int16, V::I(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i16)).collect::<Int16Array>()),
            (DataType::Int32, V::I(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i32)).collect::<Int32Array>()),
            (DataType::Int64, V::I(v)) => Arc::new(v.into_iter().collect::<Int64Array>()),
            // Java: (byte)/(short) of a double goes through int.
            (DataType::Int8, V::F(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i32 as i8)).collect::<Int8Array>()),
            (DataType::Int16, V::F(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i32 as i16)).collect::<Int16Array>()),
            (DataType::Int32, V::F(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i32)).collect::<Int32Array>()),
            (DataType::Int64, V::F(v)) => Arc::new(v.into_iter().map(|x| x.map(|x| x as i64)).collect::<Int64Array>()),
            (t, _) => return datafusion_common::exec_err!("cannot narrow to {t}"),
        };
        Ok(ColumnarValue::Array(out))
    }
}
