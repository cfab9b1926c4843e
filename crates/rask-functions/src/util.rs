//! Shared plumbing for the Flink functions: one generic [`ScalarUDFImpl`] ([`FlinkUdf`]) driven by
//! plain function pointers (argument coercion, return type, evaluation), typed accessors that read
//! an argument whether it is a scalar or an array, and test helpers that run a UDF the way the
//! planner would (coerce the arguments, then invoke).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, StringArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, FieldRef};
use datafusion_common::{DataFusionError, Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Maps the argument types as written to the types the function wants (DataFusion inserts casts).
pub(crate) type CoerceFn = fn(&[DataType]) -> Result<Vec<DataType>>;
/// Return type from the (coerced) argument types.
pub(crate) type ReturnFn = fn(&[DataType]) -> Result<DataType>;
/// Evaluates the function over a batch; returns an array of `args.rows` rows.
pub(crate) type InvokeFn = fn(&Args) -> Result<ArrayRef>;
/// Return type from the argument types and the literal arguments (e.g. ROUND's digits).
pub(crate) type ReturnArgsFn = fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>;

/// A Flink function as a DataFusion scalar UDF.
#[derive(Debug)]
pub(crate) struct FlinkUdf {
    name: &'static str,
    signature: Signature,
    min_args: usize,
    max_args: usize,
    coerce: CoerceFn,
    ret: ReturnFn,
    ret_args: Option<ReturnArgsFn>,
    invoke: InvokeFn,
}

impl PartialEq for FlinkUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}
impl Eq for FlinkUdf {}
impl Hash for FlinkUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.signature.hash(state);
    }
}

impl FlinkUdf {
    /// An immutable (deterministic) function taking `min_args..=max_args` arguments.
    pub(crate) fn new(
        name: &'static str,
        min_args: usize,
        max_args: usize,
        coerce: CoerceFn,
        ret: ReturnFn,
        invoke: InvokeFn,
    ) -> Self {
        Self {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
            min_args,
            max_args,
            coerce,
            ret,
            ret_args: None,
            invoke,
        }
    }

    /// Derives the return type from literal arguments too.
    pub(crate) fn with_return_from_args(mut self, f: ReturnArgsFn) -> Self {
        self.ret_args = Some(f);
        self
    }

    /// Marks the function volatile (RAND, UUID, UNIX_TIMESTAMP()).
    pub(crate) fn volatile(mut self) -> Self {
        self.signature = Signature::user_defined(Volatility::Volatile);
        self
    }

    pub(crate) fn udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

impl ScalarUDFImpl for FlinkUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.ret)(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let t = match self.ret_args {
            Some(f) => f(&types, args.scalar_arguments)?,
            None => (self.ret)(&types)?,
        };
        Ok(Arc::new(Field::new(self.name, t, true)))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let n = arg_types.len();
        if n < self.min_args || n > self.max_args {
            let want = if self.min_args == self.max_args {
                format!("{}", self.min_args)
            } else if self.max_args == usize::MAX {
                format!("at least {}", self.min_args)
            } else {
                format!("{} to {}", self.min_args, self.max_args)
            };
            return Err(DataFusionError::Plan(format!(
                "{}: expects {want} argument(s), got {n}",
                self.name.to_uppercase()
            )));
        }
        (self.coerce)(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_args(self.name, args, self.invoke)
    }
}

/// Runs `f` over a call's arguments as [`Args`] (one row when every argument is a scalar, and
/// then a scalar result) and checks it produced one value per row.
pub(crate) fn invoke_on_args(name: &str, args: ScalarFunctionArgs, f: impl FnOnce(&Args) -> Result<ArrayRef>) -> Result<ColumnarValue> {
    let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { args.number_rows };
    let a = Args { cols: args.args, rows, ret: args.return_field.data_type().clone() };
    let out = f(&a)?;
    if out.len() != rows {
        return Err(DataFusionError::Internal(format!("{name}: produced {} rows, expected {rows}", out.len())));
    }
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

/// The evaluated arguments of one call.
pub(crate) struct Args {
    pub cols: Vec<ColumnarValue>,
    /// Rows to produce (1 when every argument is a scalar).
    pub rows: usize,
    /// The return type chosen at planning time.
    pub ret: DataType,
}

fn type_err(i: usize, want: &str, got: &DataType) -> DataFusionError {
    DataFusionError::Internal(format!("argument {i}: expected {want}, got {got}"))
}

impl Args {
    pub(crate) fn len(&self) -> usize {
        self.cols.len()
    }

    pub(crate) fn data_type(&self, i: usize) -> DataType {
        self.cols[i].data_type()
    }

    /// A `Utf8` argument.
    pub(crate) fn str(&self, i: usize) -> Result<Str<'_>> {
        match &self.cols[i] {
            ColumnarValue::Scalar(ScalarValue::Utf8(v)) => Ok(Str::Scalar(v.as_deref())),
            ColumnarValue::Scalar(s) if s.is_null() => Ok(Str::Scalar(None)),
            ColumnarValue::Array(a) => {
                a.as_string_opt::<i32>().map(Str::Array).ok_or_else(|| type_err(i, "Utf8", a.data_type()))
            }
            ColumnarValue::Scalar(s) => Err(type_err(i, "Utf8", &s.data_type())),
        }
    }

    /// A primitive (numeric / temporal) argument of Arrow type `T`.
    pub(crate) fn prim<T: ArrowPrimitiveType>(&self, i: usize) -> Result<Prim<'_, T>> {
        match &self.cols[i] {
            ColumnarValue::Array(a) => a
                .as_primitive_opt::<T>()
                .map(Prim::Array)
                .ok_or_else(|| type_err(i, &T::DATA_TYPE.to_string(), a.data_type())),
            ColumnarValue::Scalar(s) if s.is_null() => Ok(Prim::Scalar(None)),
            ColumnarValue::Scalar(s) => {
                let arr = s.to_array_of_size(1)?;
                let p = arr
                    .as_primitive_opt::<T>()
                    .ok_or_else(|| type_err(i, &T::DATA_TYPE.to_string(), arr.data_type()))?;
                Ok(Prim::Scalar(if p.is_null(0) { None } else { Some(p.value(0)) }))
            }
        }
    }

    /// The argument as an array of `self.rows` rows.
    pub(crate) fn array(&self, i: usize) -> Result<ArrayRef> {
        self.cols[i].to_array(self.rows)
    }

    /// A string argument that must be a literal (e.g. a time unit); `None` if NULL.
    pub(crate) fn literal_str(&self, i: usize, func: &str) -> Result<Option<String>> {
        match &self.cols[i] {
            ColumnarValue::Scalar(ScalarValue::Utf8(v)) => Ok(v.clone()),
            ColumnarValue::Scalar(s) if s.is_null() => Ok(None),
            _ => Err(DataFusionError::Execution(format!(
                "{func}: argument {} must be a string literal",
                i + 1
            ))),
        }
    }
}

/// A string argument, scalar or array.
#[derive(Clone, Copy)]
pub(crate) enum Str<'a> {
    Scalar(Option<&'a str>),
    Array(&'a StringArray),
}

impl<'a> Str<'a> {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match *self {
            Str::Scalar(s) => s,
            Str::Array(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// A primitive argument, scalar or array.
pub(crate) enum Prim<'a, T: ArrowPrimitiveType> {
    Scalar(Option<T::Native>),
    Array(&'a PrimitiveArray<T>),
}

impl<T: ArrowPrimitiveType> Prim<'_, T> {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<T::Native> {
        match self {
            Prim::Scalar(s) => *s,
            Prim::Array(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

// ---- coercion helpers ----

pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub(crate) fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

/// Every argument as `Utf8`.
pub(crate) fn all_str(types: &[DataType]) -> Result<Vec<DataType>> {
    Ok(vec![DataType::Utf8; types.len()])
}

/// Per position: 'S' = Utf8, 'I' = Int64, 'F' = Float64, 'B' = Boolean.
pub(crate) fn by_pattern(types: &[DataType], pattern: &str) -> Vec<DataType> {
    let p: Vec<char> = pattern.chars().collect();
    types
        .iter()
        .enumerate()
        .map(|(i, _)| match p.get(i).or(p.last()).copied().unwrap_or('S') {
            'I' => DataType::Int64,
            'F' => DataType::Float64,
            'B' => DataType::Boolean,
            _ => DataType::Utf8,
        })
        .collect()
}

pub(crate) fn exec_err(msg: String) -> DataFusionError {
    DataFusionError::Execution(msg)
}

/// Builds a string array of `rows` rows from a per-row function.
pub(crate) fn map_str<F>(rows: usize, mut f: F) -> ArrayRef
where
    F: FnMut(usize) -> Option<String>,
{
    Arc::new((0..rows).map(&mut f).collect::<StringArray>())
}

#[cfg(test)]
pub(crate) mod test {
    //! Run a UDF as the planner would: coerce arguments, compute the return type, invoke.
    use super::*;
    use datafusion_common::config::ConfigOptions;

    pub(crate) fn run(udf: &ScalarUDF, args: Vec<ColumnarValue>, rows: usize) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
        let target = if matches!(udf.signature().type_signature, datafusion_expr::TypeSignature::UserDefined) {
            udf.coerce_types(&types)?
        } else {
            types.clone()
        };
        let opts = ConfigOptions::default();
        let args: Vec<ColumnarValue> = args
            .into_iter()
            .zip(&target)
            .map(|(a, t)| if &a.data_type() == t { Ok(a) } else { a.cast_to(t, None) })
            .collect::<Result<_>>()?;
        let fields: Vec<_> =
            target.iter().map(|t| Arc::new(Field::new("a", t.clone(), true))).collect();
        let scalars: Vec<Option<&ScalarValue>> = args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => Some(s),
                _ => None,
            })
            .collect();
        let ret = udf.return_field_from_args(ReturnFieldArgs {
            arg_fields: &fields,
            scalar_arguments: &scalars,
        })?;
        let _ = &opts;
        udf.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields: fields,
            number_rows: rows,
            return_field: ret,
            config_options: Arc::new(ConfigOptions::default()),
        })
    }

    /// Runs with array arguments and returns the result array.
    pub(crate) fn run_arrays(udf: &ScalarUDF, args: Vec<ArrayRef>) -> Result<ArrayRef> {
        let rows = args.first().map(|a| a.len()).unwrap_or(1);
        match run(udf, args.into_iter().map(ColumnarValue::Array).collect(), rows)? {
            ColumnarValue::Array(a) => Ok(a),
            ColumnarValue::Scalar(s) => s.to_array_of_size(rows),
        }
    }

    /// Runs with scalar arguments and returns the scalar result.
    pub(crate) fn run_scalars(udf: &ScalarUDF, args: Vec<ScalarValue>) -> Result<ScalarValue> {
        match run(udf, args.into_iter().map(ColumnarValue::Scalar).collect(), 1)? {
            ColumnarValue::Scalar(s) => Ok(s),
            ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0),
        }
    }

    pub(crate) fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.to_string()))
    }
    pub(crate) fn null_str() -> ScalarValue {
        ScalarValue::Utf8(None)
    }
    pub(crate) fn i(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }
    pub(crate) fn f(v: f64) -> ScalarValue {
        ScalarValue::Float64(Some(v))
    }
    pub(crate) fn strs(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }
    /// The string values of a result array (`None` for NULL).
    pub(crate) fn as_strs(a: &ArrayRef) -> Vec<Option<String>> {
        let a = arrow::compute::cast(a, &DataType::Utf8).expect("castable to Utf8");
        a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }
    /// A scalar result rendered via `ScalarValue`'s Display-free accessor (Utf8 only).
    pub(crate) fn scalar_str(v: &ScalarValue) -> Option<String> {
        match v {
            ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
            other => panic!("not a string scalar: {other:?}"),
        }
    }
}
