//! Group aggregation planning: `GROUP BY k` without a window (and `SELECT DISTINCT`) becomes a
//! projection of keys and aggregate arguments → a hash exchange on the keys (a single one
//! without keys) → a [`GroupAggregate`] operator that keeps accumulators per key and emits a
//! changelog: `+I` for a new key, `-U`/`+U` when its result changes, `-D` when its last row is
//! retracted (Flink's `GroupAggFunction`). On an updating input the accumulators retract.
//!
//! With `table.exec.mini-batch.enabled` and the `table.optimizer.agg-phase-strategy` not
//! `ONE_PHASE`, an aggregation of an insert-only input runs in two phases as Flink plans it:
//! a `LocalGroupAggregate` before the exchange folds each mini-batch per key into partial
//! accumulator states, and the `GlobalGroupAggregate` after it merges them per key and emits
//! the changelog — the exchange carries one row per key and mini-batch instead of every row.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion_expr::logical_plan::{Aggregate, LogicalPlan};
use datafusion_expr::{Expr, ExprSchemable};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind};
use crate::session::df_err;
use crate::translate::{arrow_schema, show, Translator};
use crate::window_agg::{aggregate_calls, key_exchange};

/// The group aggregation operator's plan. Its input has the key columns first (`0..keys`),
/// then the aggregates' arguments and filter flags; its output is the keys, then one column
/// per aggregate.
#[derive(Debug, Clone)]
pub struct GroupAggregate {
    pub keys: usize,
    pub aggs: Vec<Arc<AggregateFunctionExpr>>,
    /// Per aggregate: the input column of its `FILTER (WHERE …)` flag.
    pub filters: Vec<Option<usize>>,
    /// Per aggregate: the calls of the query whose results it gives, as result columns
    /// counted from the first after the keys: one, or for a shared `COUNT(DISTINCT)` (see
    /// [`crate::distinct_counts`]) each field of its ROW result in turn.
    pub outputs: Vec<Vec<usize>>,
    /// The input carries updates: accumulators must retract (see
    /// [`crate::retracting::retracting_accumulator`]).
    pub retract: bool,
    /// The global phase of a two-phase aggregation: the input rows are the keys followed by
    /// each aggregate's partial state columns (see [`GroupAggregate::local_schema`]), merged
    /// instead of accumulated.
    pub merge: bool,
}

impl GroupAggregate {
    /// The local phase's output: the `keys` fields, then each aggregate's state fields
    /// (`$s{i}_{name}`). Over an updating input (`retract`) the states are those of the
    /// retracting accumulators, followed by `$rows`, the rows accumulated minus retracted.
    pub fn local_schema(&self, keys: impl IntoIterator<Item = Field>) -> datafusion_common::Result<SchemaRef> {
        let mut fields: Vec<Field> = keys.into_iter().collect();
        for (i, a) in self.aggs.iter().enumerate() {
            if self.retract {
                let mut acc = crate::retracting::partial_accumulator(a).map_err(datafusion_common::DataFusionError::Plan)?;
                for (j, v) in acc.state()?.iter().enumerate() {
                    fields.push(Field::new(format!("$s{i}_{j}"), v.data_type(), true));
                }
            } else {
                for f in a.state_fields()? {
                    fields.push(f.as_ref().clone().with_name(format!("$s{i}_{}", f.name())).with_nullable(true));
                }
            }
        }
        if self.retract {
            fields.push(Field::new("$rows", arrow::datatypes::DataType::Int64, false));
        }
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// An expression as Flink's plans show it: columns without their table.
fn bare(e: &Expr) -> String {
    match e {
        Expr::Column(c) => c.name.clone(),
        other => show(other),
    }
}

/// An aggregate call as Flink's plans show it: `COUNT(*)`, `SUM(v)`, `COUNT(DISTINCT s)`.
fn describe_call(e: &Expr) -> String {
    let inner = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    };
    match inner {
        Expr::AggregateFunction(f) => {
            let args: Vec<String> = f
                .params
                .args
                .iter()
                .map(|a| match a {
                    Expr::Literal(datafusion_common::ScalarValue::Int64(Some(1)), _) if f.func.name() == "count" => "*".to_string(),
                    other => bare(other),
                })
                .collect();
            let distinct = if f.params.distinct { "DISTINCT " } else { "" };
            let filter = f.params.filter.as_ref().map(|x| format!(" FILTER (WHERE {})", bare(x))).unwrap_or_default();
            format!("{}({distinct}{}){filter}", f.func.name().to_ascii_uppercase(), args.join(", "))
        }
        other => bare(other),
    }
}

impl Translator {
    pub(crate) fn group_aggregate(&mut self, agg: &Aggregate, pos: Pos) -> Result<NodeId> {
        if agg.group_expr.iter().any(|g| matches!(g, Expr::GroupingSet(_))) {
            return Err(SqlError::unsupported(pos, "GROUPING SETS / ROLLUP / CUBE without a window are not supported yet"));
        }
        let mut pre: Vec<Expr> = agg.group_expr.clone();
        let calls = aggregate_calls(agg, &mut pre, pos, |_| Ok(()))?;
        let group_names: Vec<String> = agg.group_expr.iter().map(bare).collect();
        let selected: Vec<String> = group_names.iter().cloned().chain(agg.aggr_expr.iter().map(describe_call)).collect();
        let role = crate::split_distinct::split_role(agg);
        self.group_aggregate_over(&agg.input, pre, agg.group_expr.len(), calls, &group_names, &selected, role, arrow_schema(&agg.schema), pos)
    }

    /// `SELECT DISTINCT`: a group aggregation by every column without aggregates.
    pub(crate) fn distinct(&mut self, input: &LogicalPlan, pos: Pos) -> Result<NodeId> {
        let pre: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
        let names: Vec<String> = input.schema().fields().iter().map(|f| f.name().clone()).collect();
        let n = pre.len();
        self.group_aggregate_over(input, pre, n, Vec::new(), &names, &names, None, arrow_schema(input.schema()), pos)
    }

    #[allow(clippy::too_many_arguments)]
    fn group_aggregate_over(
        &mut self,
        input_plan: &LogicalPlan,
        pre: Vec<Expr>,
        keys: usize,
        calls: Vec<crate::window_agg::Call>,
        group_names: &[String],
        selected: &[String],
        role: Option<&str>,
        schema: SchemaRef,
        pos: Pos,
    ) -> Result<NodeId> {
        let in_schema = input_plan.schema();
        let input = self.node(input_plan, pos)?;
        let mut fields = Vec::with_capacity(pre.len());
        for (i, e) in pre.iter().enumerate() {
            let (_, f) = e.to_field(in_schema).map_err(|e| df_err(e, pos))?;
            let name = if i < keys { format!("$k{i}") } else { format!("$a{i}") };
            fields.push(Field::new(name, f.data_type().clone(), f.is_nullable()));
        }
        let pre_schema: SchemaRef = Arc::new(Schema::new(fields));
        let phys = pre.iter().map(|e| self.physical(e, in_schema, pos)).collect::<Result<Vec<_>>>()?;
        let identity = pre.len() == in_schema.fields().len()
            && pre.iter().enumerate().all(|(i, e)| matches!(e, Expr::Column(c) if in_schema.index_of_column(c).ok() == Some(i)));
        let input = if identity {
            input
        } else {
            let desc = format!("select=[{}]", pre.iter().map(show).collect::<Vec<_>>().join(", "));
            self.calc(input, CalcStep::Project(phys, pre_schema.clone()), desc, pre_schema.clone())
        };
        let (aggs, filters) = self.build_aggregates(calls, &pre_schema, pos)?;
        let retract = self.updates_from(input).is_some();
        // Over an append-only input, COUNT(DISTINCT) calls on one column share their set.
        let (aggs, filters, outputs) = if retract {
            let n = aggs.len();
            (aggs, filters, (0..n).map(|j| vec![j]).collect())
        } else {
            crate::distinct_counts::share(aggs, filters, &pre_schema, &pre).map_err(|e| df_err(e, pos))?
        };
        if retract {
            for a in &aggs {
                if let Err(m) = crate::retracting::retracting_accumulator(a) {
                    return Err(SqlError::unsupported(pos, format!("{m} (its input is an updating stream, so the aggregate must retract)")));
                }
            }
        }
        let exchange = key_exchange(&pre_schema, group_names, pos)?;
        // The levels of a split distinct aggregation are named as Flink names them.
        let role = role.map(|r| format!("partialFinalType=[{r}], ")).unwrap_or_default();
        let name = format!("GroupAggregate(groupBy=[{}], {role}select=[{}])", group_names.join(", "), selected.join(", "));
        let plan = GroupAggregate { keys, aggs, filters, outputs, retract, merge: false };
        // Two phases as Flink's TwoStageOptimizedAggregateRule: mini-batch on, strategy not
        // ONE_PHASE, and over an updating input only when every aggregate has a partial state
        // that merges (COUNT, SUM, AVG, MIN, MAX, COUNT(DISTINCT): Flink's *_RETRACT local phase).
        let mini_batch = self.config_value("table.exec.mini-batch.enabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let strategy = self.config_value("table.optimizer.agg-phase-strategy").unwrap_or_else(|| "AUTO".into()).to_ascii_uppercase();
        if !mini_batch || strategy == "ONE_PHASE" || (retract && !plan.aggs.iter().all(|a| crate::retracting::retract_state_merges(a))) {
            return Ok(self.push(name, NodeKind::GroupAggregate(Box::new(plan)), vec![Input { node: input, exchange }], schema));
        }
        // Keys named as grouped (the exchange shows them).
        let key_fields = pre_schema.fields().iter().zip(group_names).map(|(f, n)| f.as_ref().clone().with_name(n.clone()));
        let local_schema = plan.local_schema(key_fields).map_err(|e| df_err(e, pos))?;
        let local_name = name.replacen("GroupAggregate(", "LocalGroupAggregate(", 1);
        let local = self.push(local_name, NodeKind::LocalGroupAggregate(Box::new(plan.clone())), vec![Input { node: input, exchange: Exchange::Forward }], local_schema);
        let global = GroupAggregate { merge: true, ..plan };
        let name = name.replacen("GroupAggregate(", "GlobalGroupAggregate(", 1);
        Ok(self.push(name, NodeKind::GroupAggregate(Box::new(global)), vec![Input { node: local, exchange }], schema))
    }
}
