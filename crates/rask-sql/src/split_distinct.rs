//! Distinct-aggregate splitting (`table.optimizer.distinct-agg.split.enabled`, off by default,
//! as in Flink): a group aggregation with DISTINCT aggregates runs in two levels, as Flink's
//! `SplitAggregateRule` plans it, so that a hot key's distinct values are spread over
//! `table.optimizer.distinct-agg.split.bucket-num` (1024) partial aggregations:
//!
//! ```text
//! SELECT k, COUNT(DISTINCT u), SUM(v) FROM t GROUP BY k
//! → SELECT k, SUM(c), SUM(s) FROM (
//!       SELECT k, COUNT(DISTINCT u) AS c, SUM(v) AS s FROM t GROUP BY k, MOD(HASH_CODE(u), 1024)
//!   ) GROUP BY k
//! ```
//!
//! With DISTINCT aggregates over several columns, each row is first copied once per column
//! (an [`Expand`] node: that copy has its column's bucket, the others NULL, and a copy id
//! `$e`), plus once for the other aggregates, and each partial aggregate only counts its copy
//! (`FILTER (WHERE $e = …)`). The partial level emits a changelog (a bucket's result changes),
//! which the final level (SUM for counts and sums, MIN/MAX, AVG as SUM / COUNT) retracts.
//! Only COUNT, SUM, MIN, MAX and AVG (of integer and floating types) split, and a DISTINCT over
//! one argument; other aggregations, and window aggregations, are left as they are.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, DFSchema, DFSchemaRef, ScalarValue};
use datafusion_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion_expr::logical_plan::{Aggregate, Extension, LogicalPlan, Projection};
use datafusion_expr::{cast, lit, when, AggregateUDF, BinaryExpr, Expr, ExprSchemable, Operator, UserDefinedLogicalNodeCore};
use rask_types::Pos;

use crate::error::Result;
use crate::functions::FunctionSet;
use crate::session::df_err;

/// Alias prefix of a partial level's aggregates (the plan shows `partialFinalType=[PARTIAL]`).
pub const PARTIAL: &str = "$partial_";
/// Alias prefix of a final level's aggregates (`partialFinalType=[FINAL]`).
pub const FINAL: &str = "$final_";

/// The level of a split aggregation, from its aggregates' aliases.
pub fn split_role(agg: &Aggregate) -> Option<&'static str> {
    let prefixed = |p: &str| !agg.aggr_expr.is_empty() && agg.aggr_expr.iter().all(|e| matches!(e, Expr::Alias(a) if a.name.starts_with(p)));
    if prefixed(PARTIAL) {
        Some("PARTIAL")
    } else if prefixed(FINAL) {
        Some("FINAL")
    } else {
        None
    }
}

/// Every input row once per projection, in projection order (Flink's `Expand`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expand {
    pub input: LogicalPlan,
    pub projections: Vec<Vec<Expr>>,
    pub schema: DFSchemaRef,
}

impl PartialOrd for Expand {
    fn partial_cmp(&self, _other: &Self) -> Option<Ordering> {
        None
    }
}

impl Expand {
    pub fn try_new(input: LogicalPlan, projections: Vec<Vec<Expr>>) -> datafusion_common::Result<Self> {
        let first = projections.first().ok_or_else(|| datafusion_common::DataFusionError::Plan("Expand without projections".into()))?;
        let mut fields = Vec::with_capacity(first.len());
        for e in first {
            let (q, f) = e.to_field(input.schema())?;
            fields.push((q, Arc::new(f.as_ref().clone().with_nullable(true))));
        }
        let schema = Arc::new(DFSchema::new_with_metadata(fields, input.schema().metadata().clone())?);
        Ok(Expand { input, projections, schema })
    }
}

impl UserDefinedLogicalNodeCore for Expand {
    fn name(&self) -> &str {
        "Expand"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        self.projections.iter().flatten().cloned().collect()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", describe(&self.projections))
    }
    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> datafusion_common::Result<Self> {
        let width = self.schema.fields().len();
        let projections = exprs.chunks(width).map(|c| c.to_vec()).collect();
        Expand::try_new(inputs.swap_remove(0), projections)
    }
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        None
    }
}

/// `Expand(projects=[{a, $b0, null AS $b1, 0 AS $e}, …])`.
pub fn describe(projections: &[Vec<Expr>]) -> String {
    let shown: Vec<String> = projections
        .iter()
        .map(|p| format!("{{{}}}", p.iter().map(crate::translate::show).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("Expand(projects=[{}])", shown.join(", "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

/// Split every eligible group aggregation of `plan` when the option is on.
pub(crate) fn split_distinct_aggregates(plan: LogicalPlan, functions: &FunctionSet, config: &std::collections::BTreeMap<String, String>, pos: Pos) -> Result<LogicalPlan> {
    let on = config.get("table.optimizer.distinct-agg.split.enabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !on {
        return Ok(plan);
    }
    let buckets: i32 = match config.get("table.optimizer.distinct-agg.split.bucket-num") {
        Some(v) => v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            crate::error::SqlError::validation(pos, format!("'table.optimizer.distinct-agg.split.bucket-num' must be a positive integer, not '{v}'"))
        })?,
        None => 1024,
    };
    let (Some(sum), Some(count)) = (functions.aggregate("sum"), functions.aggregate("count")) else {
        return Err(crate::error::SqlError::Internal("SUM/COUNT aggregates are not registered".into()));
    };
    let hash = rask_functions::hash_code();
    plan.transform_up(|node| {
        let LogicalPlan::Aggregate(agg) = &node else { return Ok(Transformed::no(node)) };
        match split(agg, buckets, &sum, &count, &hash)? {
            Some(p) => Ok(Transformed::yes(p)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
    .map_err(|e| df_err(e, pos))
}

fn call(e: &Expr) -> Option<&AggregateFunction> {
    match e {
        Expr::AggregateFunction(f) => Some(f),
        Expr::Alias(a) => call(&a.expr),
        _ => None,
    }
}

fn col_of(schema: &DFSchema, i: usize) -> Expr {
    let (q, f) = schema.qualified_field(i);
    Expr::Column(Column::new(q.cloned(), f.name()))
}

fn aggregate(func: &Arc<AggregateUDF>, args: Vec<Expr>, distinct: bool, filter: Option<Expr>, alias: String) -> Expr {
    Expr::AggregateFunction(AggregateFunction::new_udf(func.clone(), args, distinct, filter.map(Box::new), Vec::new(), None)).alias(alias)
}

fn split(agg: &Aggregate, buckets: i32, sum: &Arc<AggregateUDF>, count: &Arc<AggregateUDF>, hash: &Arc<datafusion_expr::ScalarUDF>) -> datafusion_common::Result<Option<LogicalPlan>> {
    if agg.group_expr.iter().any(|g| matches!(g, Expr::GroupingSet(_))) || !matches!(crate::window_agg::trace(&agg.input), Ok(None)) {
        return Ok(None);
    }
    let in_schema = agg.input.schema();
    let mut calls = Vec::new();
    for e in &agg.aggr_expr {
        let Some(f) = call(e) else { return Ok(None) };
        let kind = match f.func.name().to_ascii_lowercase().as_str() {
            "count" => Kind::Count,
            "sum" => Kind::Sum,
            "min" => Kind::Min,
            "max" => Kind::Max,
            "avg" => Kind::Avg,
            _ => return Ok(None),
        };
        if !f.params.order_by.is_empty() || (f.params.distinct && f.params.args.len() != 1) {
            return Ok(None);
        }
        if kind == Kind::Avg {
            let t = f.params.args[0].get_type(in_schema)?;
            if !(t.is_integer() || t.is_floating()) {
                return Ok(None);
            }
        }
        calls.push((kind, f));
    }
    if !calls.iter().any(|(_, f)| f.params.distinct) {
        return Ok(None);
    }
    // The distinct argument sets, and the copy each aggregate reads: its DISTINCT argument's,
    // a MIN/MAX of such an argument that one too (as Flink), the others a copy of their own.
    let mut sets: Vec<Expr> = Vec::new();
    for (_, f) in &calls {
        if f.params.distinct && !sets.contains(&f.params.args[0]) {
            sets.push(f.params.args[0].clone());
        }
    }
    let copy_of: Vec<Option<usize>> = calls
        .iter()
        .map(|(kind, f)| {
            let by_arg = || sets.iter().position(|s| Some(s) == f.params.args.first());
            if f.params.distinct || matches!(kind, Kind::Min | Kind::Max) { by_arg() } else { None }
        })
        .collect();
    let expand = sets.len() > 1;
    let others = expand && copy_of.iter().any(Option::is_none);

    // Input columns, computed keys and buckets.
    let mut pre: Vec<Expr> = (0..in_schema.fields().len()).map(|i| col_of(in_schema, i)).collect();
    let mut keys = Vec::new();
    for (i, g) in agg.group_expr.iter().enumerate() {
        match g {
            Expr::Column(c) => keys.push(Expr::Column(c.clone())),
            other => {
                pre.push(other.clone().alias(format!("$k{i}")));
                keys.push(Expr::Column(Column::from_name(format!("$k{i}"))));
            }
        }
    }
    let bucket_names: Vec<String> = (0..sets.len()).map(|j| format!("$b{j}")).collect();
    for (j, s) in sets.iter().enumerate() {
        let h = Expr::ScalarFunction(ScalarFunction::new_udf(hash.clone(), vec![s.clone()]));
        pre.push(Expr::BinaryExpr(BinaryExpr::new(Box::new(h), Operator::Modulo, Box::new(lit(buckets)))).alias(bucket_names[j].clone()));
    }
    let mut input = LogicalPlan::Projection(Projection::try_new(pre, agg.input.clone())?);
    let copy_filter = |c: Option<usize>| -> Option<Expr> {
        expand.then(|| Expr::Column(Column::from_name("$e")).eq(lit(c.unwrap_or(sets.len()) as i32)))
    };
    if expand {
        let s = input.schema().clone();
        let width = s.fields().len() - sets.len();
        let copies = sets.len() + usize::from(others);
        let projections = (0..copies)
            .map(|c| {
                let mut p: Vec<Expr> = (0..width).map(|i| col_of(&s, i)).collect();
                for (j, name) in bucket_names.iter().enumerate() {
                    p.push(if j == c { col_of(&s, width + j) } else { Expr::Literal(ScalarValue::Int32(None), None).alias(name.clone()) });
                }
                p.push(lit(c as i32).alias("$e"));
                p
            })
            .collect();
        input = LogicalPlan::Extension(Extension { node: Arc::new(Expand::try_new(input, projections)?) });
    }

    // Partial level: by keys and buckets.
    let mut partial_aggs = Vec::new();
    // Per original aggregate: its partial aliases.
    let mut parts: Vec<Vec<String>> = Vec::new();
    for (i, ((kind, f), copy)) in calls.iter().zip(&copy_of).enumerate() {
        let filter = match (f.params.filter.as_deref().cloned(), copy_filter(*copy)) {
            (Some(a), Some(b)) => Some(b.and(a)),
            (a, b) => a.or(b),
        };
        let mut names = Vec::new();
        let mut push = |func: &Arc<AggregateUDF>, args: Vec<Expr>| {
            let name = format!("{PARTIAL}{i}_{}", names.len());
            partial_aggs.push(aggregate(func, args, f.params.distinct, filter.clone(), name.clone()));
            names.push(name);
        };
        match kind {
            Kind::Avg => {
                let t = f.params.args[0].get_type(in_schema)?;
                let wide = if t.is_integer() { DataType::Int64 } else { DataType::Float64 };
                push(sum, vec![cast(f.params.args[0].clone(), wide)]);
                push(count, f.params.args.clone());
            }
            _ => push(&f.func, f.params.args.clone()),
        }
        parts.push(names);
    }
    let partial_keys: Vec<Expr> = keys.iter().cloned().chain(bucket_names.iter().map(|b| Expr::Column(Column::from_name(b.clone())))).collect();
    let partial = LogicalPlan::Aggregate(Aggregate::try_new(Arc::new(input), partial_keys, partial_aggs)?);

    // Final level: by keys, merging the partial results (which retract).
    let mut final_aggs = Vec::new();
    for (i, ((kind, f), names)) in calls.iter().zip(&parts).enumerate() {
        for (c, name) in names.iter().enumerate() {
            let func = match kind {
                Kind::Min | Kind::Max => &f.func,
                _ => sum,
            };
            final_aggs.push(aggregate(func, vec![Expr::Column(Column::from_name(name.clone()))], false, None, format!("{FINAL}{i}_{c}")));
        }
    }
    let fin = LogicalPlan::Aggregate(Aggregate::try_new(Arc::new(partial), keys.clone(), final_aggs)?);

    // The original output: keys, then each aggregate's result in its type.
    let out = agg.schema.clone();
    let mut exprs = Vec::with_capacity(out.fields().len());
    let named = |e: Expr, i: usize| {
        let (q, f) = out.qualified_field(i);
        e.alias_qualified(q.cloned(), f.name())
    };
    for (i, k) in keys.iter().enumerate() {
        exprs.push(named(k.clone(), i));
    }
    let nk = keys.len();
    for (i, (kind, _)) in calls.iter().enumerate() {
        let t = out.field(nk + i).data_type().clone();
        let fin_col = |c: usize| Expr::Column(Column::from_name(format!("{FINAL}{i}_{c}")));
        let e = match kind {
            // Flink's $SUM0: a count is never NULL.
            Kind::Count => cast(when(fin_col(0).is_null(), lit(0i64)).otherwise(fin_col(0))?, t),
            Kind::Sum | Kind::Min | Kind::Max => cast(fin_col(0), t),
            Kind::Avg => {
                let (s, n) = (fin_col(0), fin_col(1));
                let n_as = if s.get_type(fin.schema())?.is_floating() { cast(n.clone(), DataType::Float64) } else { n.clone() };
                let div = Expr::BinaryExpr(BinaryExpr::new(Box::new(s), Operator::Divide, Box::new(n_as)));
                when(n.clone().is_null().or(n.eq(lit(0i64))), Expr::Literal(ScalarValue::try_from(&t)?, None)).otherwise(cast(div, t))?
            }
        };
        exprs.push(named(e, nk + i));
    }
    Ok(Some(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(fin))?)))
}
