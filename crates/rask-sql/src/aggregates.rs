//! Flink's result types for the built-in aggregate functions. DataFusion's accumulators do the
//! work, but Flink types results differently: `SUM(INT)` is an INT that wraps on overflow (not a
//! BIGINT), `AVG(INT)` is an INT (integer division), `SUM(DECIMAL(p, s))` is `DECIMAL(38, s)`,
//! `AVG(DECIMAL(p, s))` is `DECIMAL(38, max(6, s))`, the STDDEV/VAR family returns the argument
//! type. [`FlinkAggregate`] wraps a DataFusion aggregate: its arguments are not widened by the
//! planner (so the declared type is Flink's), the wrapped accumulator gets them widened, and its
//! result is narrowed back to Flink's type the way Java narrows (`(int) long`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::CastOptions;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, FieldRef, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
};
use datafusion_common::{Result as DfResult, ScalarValue};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::AggregateOrderSensitivity;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature};

/// How a wrapped aggregate's result type follows from its argument type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultRule {
    /// `SUM`: numeric types keep their type; DECIMAL(p, s) becomes DECIMAL(38, s).
    Sum,
    /// `AVG`: numeric types keep their type; DECIMAL(p, s) becomes DECIMAL(38, max(6, s)).
    Avg,
    /// `STDDEV_*`, `VAR_*`: the argument's type (DECIMAL keeps its scale, precision 38).
    SameAsArgument,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkAggregate {
    inner: Arc<AggregateUDF>,
    rule: ResultRule,
    signature: Signature,
    coerced: Coerced,
}

/// The argument types [`FlinkAggregate::inner_types`] worked out, per argument types: coercion
/// walks the wrapped aggregate's signatures (formatting an error for each that does not fit),
/// too slow to repeat for every accumulator an OVER window creates. Not part of the
/// aggregate's identity.
#[derive(Default)]
struct Coerced(std::sync::Mutex<Vec<(Vec<DataType>, Vec<DataType>)>>);

impl PartialEq for Coerced {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Coerced {}
impl std::hash::Hash for Coerced {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl std::fmt::Debug for Coerced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Coerced")
    }
}

impl FlinkAggregate {
    pub fn wrap(inner: Arc<AggregateUDF>, rule: ResultRule) -> AggregateUDF {
        let signature = Signature::user_defined(inner.signature().volatility);
        AggregateUDF::new_from_impl(FlinkAggregate { inner, rule, signature, coerced: Coerced::default() })
    }

    /// The argument types the wrapped DataFusion aggregate is given.
    fn inner_types(&self, args: &[DataType]) -> DfResult<Vec<DataType>> {
        if let Some(t) = self.coerced.0.lock().ok().and_then(|m| m.iter().find(|(a, _)| a.as_slice() == args).map(|(_, t)| t.clone())) {
            return Ok(t);
        }
        let fields: Vec<FieldRef> = args.iter().enumerate().map(|(i, t)| Arc::new(Field::new(format!("a{i}"), t.clone(), true))).collect();
        let coerced = datafusion_expr::type_coercion::functions::fields_with_udf(&fields, self.inner.as_ref())?;
        let types: Vec<DataType> = coerced.iter().map(|f| f.data_type().clone()).collect();
        if let Ok(mut m) = self.coerced.0.lock() {
            m.push((args.to_vec(), types.clone()));
        }
        Ok(types)
    }

    fn inner_fields(&self, fields: &[FieldRef]) -> DfResult<Vec<FieldRef>> {
        let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
        let inner = self.inner_types(&types)?;
        Ok(fields.iter().zip(inner).map(|(f, t)| Arc::new(f.as_ref().clone().with_data_type(t))).collect())
    }

    fn with_inner_args<T>(&self, args: &AccumulatorArgs, f: impl FnOnce(AccumulatorArgs) -> DfResult<T>) -> DfResult<(T, Vec<DataType>)> {
        let fields = self.inner_fields(args.expr_fields)?;
        let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
        let ret = self.inner.return_type(&types)?;
        let inner_args = AccumulatorArgs {
            return_field: Arc::new(Field::new(args.return_field.name(), ret, true)),
            schema: args.schema,
            ignore_nulls: args.ignore_nulls,
            order_bys: args.order_bys,
            is_reversed: args.is_reversed,
            name: args.name,
            is_distinct: args.is_distinct,
            exprs: args.exprs,
            expr_fields: &fields,
        };
        Ok((f(inner_args)?, types))
    }
}

fn is_integer(t: &DataType) -> bool {
    matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64)
}

impl AggregateUDFImpl for FlinkAggregate {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> DfResult<Vec<DataType>> {
        // Check the argument is acceptable, but keep its type: Flink's result type depends on it.
        let inner = self.inner_types(args).map_err(|_| {
            let name = self.inner.name().to_ascii_uppercase();
            let shown: Vec<String> = args.iter().map(|t| format!("<{}>", crate::session::flink_name(t))).collect();
            datafusion_common::DataFusionError::Plan(format!(
                "Cannot apply '{name}' to arguments of type '{name}({})'. Supported form(s): '{name}(<NUMERIC>)'",
                shown.join(", ")
            ))
        })?;
        Ok(args
            .iter()
            .zip(inner)
            .map(|(a, i)| if a.is_numeric() || matches!(a, DataType::Decimal128(..)) { a.clone() } else { i })
            .collect())
    }
    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        let arg = args.first().cloned().unwrap_or(DataType::Null);
        Ok(match (&arg, self.rule) {
            (DataType::Decimal128(_, s), ResultRule::Sum | ResultRule::SameAsArgument) => DataType::Decimal128(38, *s),
            (DataType::Decimal128(_, s), ResultRule::Avg) => DataType::Decimal128(38, (*s).max(6)),
            (t, _) if t.is_numeric() => t.clone(),
            _ => self.inner.return_type(&self.inner_types(args)?)?,
        })
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let target = args.return_field.data_type().clone();
        let (inner, types) = self.with_inner_args(&args, |a| self.inner.accumulator(a))?;
        Ok(Box::new(NarrowingAccumulator { inner, inputs: types, target }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let fields = self.inner_fields(args.input_fields)?;
        let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
        let ret = Arc::new(Field::new(args.return_field.name(), self.inner.return_type(&types)?, true));
        self.inner.state_fields(StateFieldsArgs {
            name: args.name,
            input_fields: &fields,
            return_field: ret,
            ordering_fields: args.ordering_fields,
            is_distinct: args.is_distinct,
        })
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let target = args.return_field.data_type().clone();
        let (inner, types) = self.with_inner_args(&args, |a| self.inner.create_sliding_accumulator(a))?;
        Ok(Box::new(NarrowingAccumulator { inner, inputs: types, target }))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.with_inner_args(&args, |a| Ok(self.inner.groups_accumulator_supported(a))).map(|(b, _)| b).unwrap_or(false)
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        let target = args.return_field.data_type().clone();
        let (inner, types) = self.with_inner_args(&args, |a| self.inner.create_groups_accumulator(a))?;
        Ok(Box::new(NarrowingGroupsAccumulator { inner, inputs: types, target }))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// Widen argument arrays to the types the wrapped accumulator expects.
fn widen(values: &[ArrayRef], types: &[DataType]) -> DfResult<Vec<ArrayRef>> {
    values
        .iter()
        .zip(types)
        .map(|(v, t)| if v.data_type() == t { Ok(v.clone()) } else { Ok(arrow::compute::cast(v, t)?) })
        .collect()
}

/// A result of the wrapped accumulator in Flink's type. Integer results narrow as Java does:
/// a wider integer wraps (`(int) 3000000000L`), a floating average truncates toward zero.
fn narrow(a: ArrayRef, target: &DataType) -> DfResult<ArrayRef> {
    fn to<T: ArrowPrimitiveType>(a: &ArrayRef, from_i64: impl Fn(i64) -> T::Native) -> DfResult<ArrayRef> {
        Ok(match a.data_type() {
            DataType::Int64 => Arc::new(a.as_primitive::<Int64Type>().unary::<_, T>(from_i64)),
            DataType::Float64 => Arc::new(a.as_primitive::<Float64Type>().unary::<_, T>(|v| from_i64(v as i64))),
            other => return Err(datafusion_common::DataFusionError::Internal(format!("cannot narrow {other}"))),
        })
    }
    if a.data_type() == target {
        return Ok(a);
    }
    if is_integer(target) && matches!(a.data_type(), DataType::Int64 | DataType::Float64) {
        return match target {
            DataType::Int8 => to::<Int8Type>(&a, |v| v as i8),
            DataType::Int16 => to::<Int16Type>(&a, |v| v as i16),
            DataType::Int32 => to::<Int32Type>(&a, |v| v as i32),
            _ => to::<Int64Type>(&a, |v| v),
        };
    }
    if target == &DataType::Float32 && a.data_type() == &DataType::Float64 {
        return Ok(Arc::new(a.as_primitive::<Float64Type>().unary::<_, Float32Type>(|v| v as f32)));
    }
    Ok(arrow::compute::cast_with_options(&a, target, &CastOptions { safe: false, ..Default::default() })?)
}

#[derive(Debug)]
struct NarrowingAccumulator {
    inner: Box<dyn Accumulator>,
    inputs: Vec<DataType>,
    target: DataType,
}

impl Accumulator for NarrowingAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.inner.update_batch(&widen(values, &self.inputs)?)
    }
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let v = self.inner.evaluate()?;
        let a = narrow(v.to_array()?, &self.target)?;
        ScalarValue::try_from_array(&a, 0)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        self.inner.state()
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.inner.merge_batch(states)
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.inner.retract_batch(&widen(values, &self.inputs)?)
    }
    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

struct NarrowingGroupsAccumulator {
    inner: Box<dyn GroupsAccumulator>,
    inputs: Vec<DataType>,
    target: DataType,
}

impl GroupsAccumulator for NarrowingGroupsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> DfResult<()> {
        self.inner.update_batch(&widen(values, &self.inputs)?, groups, filter, total)
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        narrow(self.inner.evaluate(emit_to)?, &self.target)
    }
    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }
    fn merge_batch(&mut self, values: &[ArrayRef], groups: &[usize], total: usize) -> DfResult<()> {
        self.inner.merge_batch(values, groups, total)
    }
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        self.inner.convert_to_state(&widen(values, &self.inputs)?, filter)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
}

/// Replace DataFusion's aggregates whose result type differs from Flink's by wrapped ones.
pub fn flink_aggregates(aggs: &mut std::collections::HashMap<String, Arc<AggregateUDF>>) {
    let rules = [
        ("sum", ResultRule::Sum),
        ("avg", ResultRule::Avg),
        ("stddev", ResultRule::SameAsArgument),
        ("stddev_pop", ResultRule::SameAsArgument),
        ("var", ResultRule::SameAsArgument),
        ("var_pop", ResultRule::SameAsArgument),
    ];
    for (name, rule) in rules {
        let Some(inner) = aggs.get(name).cloned() else { continue };
        let wrapped = Arc::new(FlinkAggregate::wrap(inner.clone(), rule));
        let keys: Vec<String> = aggs.iter().filter(|(_, f)| Arc::ptr_eq(f, &inner)).map(|(k, _)| k.clone()).collect();
        for k in keys {
            aggs.insert(k, wrapped.clone());
        }
    }
    // Flink names.
    for (flink, df) in [("stddev_samp", "stddev"), ("var_samp", "var"), ("variance", "var")] {
        if let Some(f) = aggs.get(df).cloned() {
            aggs.insert(flink.to_string(), f);
        }
    }
}
