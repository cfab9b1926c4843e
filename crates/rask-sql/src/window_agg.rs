//! Window aggregation planning: `GROUP BY window_start, window_end, …` over a window table
//! function becomes a slice assigner (each row gets the one slice it falls in) → a projection
//! of keys, slice end and aggregate arguments → a hash exchange on the keys → a
//! [`WindowAggregate`] operator that aggregates per (key, slice) and merges slices into windows
//! when the watermark passes a window's end. Work per row does not depend on how many windows
//! overlap (HOP, CUMULATE), as in Flink's slicing window operators.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion_expr::expr::{AggregateFunction, NullTreatment};
use datafusion_expr::logical_plan::{Aggregate, LogicalPlan};
use datafusion_expr::{Expr, ExprSchemable};
use datafusion_physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
use datafusion_physical_expr::expressions::Column as PhysColumn;
use datafusion_physical_expr::PhysicalExpr;
use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind};
use crate::session::df_err;
use crate::translate::{arrow_schema, show, Translator};
use crate::window_tvf::{describe_window, WindowKind, WindowSpec, WindowTvf};

/// One of the three columns a window table function adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowColumn {
    Start,
    End,
    Time,
}

/// Where a group-by output column of a window aggregation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOutput {
    Window(WindowColumn),
    /// The n-th key column of the operator's input.
    Key(usize),
    /// A grouping-set column this set does not group by.
    Null,
    /// The grouping id of this grouping set (DataFusion's `__grouping_id`).
    GroupingId(u64),
}

/// The window aggregation operator's plan. Its input has the key columns first (`0..keys`),
/// then the slice end (TIMESTAMP(3)) at column `keys`, then the aggregates' arguments and
/// filter flags; its output is the group-by columns (`groups`) and then one column per aggregate.
#[derive(Debug, Clone)]
pub struct WindowAggregate {
    pub spec: WindowSpec,
    pub keys: usize,
    pub aggs: Vec<Arc<AggregateFunctionExpr>>,
    /// Per aggregate: the input column of its `FILTER (WHERE …)` flag.
    pub filters: Vec<Option<usize>>,
    pub groups: Vec<GroupOutput>,
    /// Windows on a `PROCTIME()` attribute fire by the wall clock, not by watermarks.
    pub proctime: bool,
    /// Two-phase aggregation, global side: the input carries, after the keys and the slice
    /// end, each aggregate's partial state columns (from the local phase) to merge.
    pub merge: bool,
    /// The input rows already carry their window (from an upstream window operator): each
    /// window is one "slice" ending at its `window_end`.
    pub attached: bool,
}

enum Arg {
    Column(usize),
    Literal(Expr),
}

/// One aggregate call of a GROUP BY, its arguments (columns of the pre-projection, or
/// literals) and the pre-projection column of its `FILTER (WHERE …)` flag.
pub(crate) struct Call {
    name: String,
    func: Arc<datafusion_expr::AggregateUDF>,
    args: Vec<Arg>,
    distinct: bool,
    ignore_nulls: bool,
    filter: Option<usize>,
}

/// The aggregate calls of `agg`, appending their non-literal arguments and filters to the
/// pre-projection `pre`; `check` vets every argument and filter expression.
pub(crate) fn aggregate_calls(agg: &Aggregate, pre: &mut Vec<Expr>, pos: Pos, check: impl Fn(&Expr) -> Result<()>) -> Result<Vec<Call>> {
    let mut calls = Vec::new();
    for e in &agg.aggr_expr {
        let (name, inner) = match e {
            Expr::Alias(a) => (a.name.clone(), a.expr.as_ref()),
            other => (other.schema_name().to_string(), other),
        };
        let Expr::AggregateFunction(AggregateFunction { func, params }) = inner else {
            return Err(SqlError::Internal(format!("unexpected aggregate expression {inner}")));
        };
        if !params.order_by.is_empty() {
            return Err(SqlError::unsupported(pos, format!("ORDER BY inside {} is not supported", func.name())));
        }
        for a in params.args.iter().chain(params.filter.as_deref()) {
            check(a)?;
        }
        // Literal arguments (LISTAGG's separator) stay literals; the others are computed
        // before the exchange.
        let mut args = Vec::with_capacity(params.args.len());
        for a in &params.args {
            if matches!(a, Expr::Literal(..)) {
                args.push(Arg::Literal(a.clone()));
            } else {
                args.push(Arg::Column(pre.len()));
                pre.push(a.clone());
            }
        }
        let filter = params.filter.as_ref().map(|f| {
            pre.push(f.as_ref().clone());
            pre.len() - 1
        });
        // Flink's FIRST_VALUE / LAST_VALUE skip NULLs.
        let ignore_nulls = matches!(params.null_treatment, Some(NullTreatment::IgnoreNulls))
            || (params.null_treatment.is_none() && matches!(func.name(), "first_value" | "last_value"));
        calls.push(Call { name, func: func.clone(), args, distinct: params.distinct, ignore_nulls, filter });
    }
    Ok(calls)
}

/// The exchange in front of an aggregation whose input starts with the key columns named
/// `keys`: by hash of the keys, or everything to one instance without keys. A key type the
/// key-group hash cannot take is a planning error naming the key.
pub(crate) fn key_exchange(pre_schema: &SchemaRef, keys: &[String], pos: Pos) -> Result<Exchange> {
    if keys.is_empty() {
        return Ok(Exchange::Single);
    }
    for (i, k) in keys.iter().enumerate() {
        let probe = arrow::array::new_empty_array(pre_schema.field(i).data_type());
        if let Err(e) = rask_types::keygroup::hash_rows(&[probe], 0) {
            return Err(SqlError::unsupported(pos, format!("grouping by {k}: {e}")));
        }
    }
    Ok(Exchange::Hash((0..keys.len()).collect()))
}

/// The window table function feeding a plan's output columns, and which output columns are
/// its window columns. `Ok(None)`: the plan is not (a projection/filter of) a window TVF.
pub(crate) struct Windowed<'a> {
    tvf: &'a WindowTvf,
    cols: Vec<Option<WindowColumn>>,
    /// The window columns come from an upstream window operator (a window aggregation, Top-N
    /// or join), not a TVF: every row already belongs to exactly one window.
    attached: bool,
}

fn references_window(e: &Expr, schema: &datafusion_common::DFSchema, cols: &[Option<WindowColumn>]) -> bool {
    e.column_refs().iter().any(|c| schema.index_of_column(c).ok().and_then(|i| cols.get(i).copied().flatten()).is_some())
}

pub(crate) fn trace(plan: &LogicalPlan) -> std::result::Result<Option<Windowed<'_>>, String> {
    match plan {
        LogicalPlan::Extension(ext) => {
            let Some(tvf) = ext.node.as_any().downcast_ref::<WindowTvf>() else { return Ok(None) };
            let n = tvf.input.schema().fields().len();
            let mut cols = vec![None; n];
            cols.extend([Some(WindowColumn::Start), Some(WindowColumn::End), Some(WindowColumn::Time)]);
            Ok(Some(Windowed { tvf, cols, attached: false }))
        }
        LogicalPlan::SubqueryAlias(a) => trace(&a.input),
        LogicalPlan::Aggregate(_) | LogicalPlan::Window(_) | LogicalPlan::Join(_) => {
            // The output of a window operator keeps its window columns (Flink's window
            // properties): a window aggregation over it groups each window's rows.
            let (Some(cols), Some(tvf)) = (crate::window_rank::window_columns(plan), crate::window_rank::window_source(plan)) else {
                return Ok(None);
            };
            if tvf.spec.kind == WindowKind::Session {
                return Err("a window aggregation over the result of a SESSION window operator is not supported yet".into());
            }
            Ok(Some(Windowed { tvf, cols, attached: true }))
        }
        LogicalPlan::Filter(f) => {
            let Some(w) = trace(&f.input)? else { return Ok(None) };
            if references_window(&f.predicate, f.input.schema(), &w.cols) {
                return Err(format!(
                    "a filter on window_start/window_end/window_time before a window aggregation is not supported ({})",
                    show(&f.predicate)
                ));
            }
            Ok(Some(w))
        }
        LogicalPlan::Projection(p) => {
            let Some(w) = trace(&p.input)? else { return Ok(None) };
            let schema = p.input.schema();
            let mut cols = Vec::with_capacity(p.expr.len());
            for e in &p.expr {
                match e.clone().unalias() {
                    Expr::Column(c) => cols.push(schema.index_of_column(&c).ok().and_then(|i| w.cols[i])),
                    other if references_window(&other, schema, &w.cols) => {
                        return Err(format!(
                            "an expression on window_start/window_end/window_time ({}) is only supported after the window aggregation",
                            show(&other)
                        ));
                    }
                    _ => cols.push(None),
                }
            }
            Ok(Some(Windowed { tvf: w.tvf, cols, attached: w.attached }))
        }
        _ => Ok(None),
    }
}

impl Translator {
    /// The physical aggregate expressions of `calls` over the pre-projection `pre_schema`, and
    /// per aggregate the column of its filter flag.
    pub(crate) fn build_aggregates(
        &self,
        calls: Vec<Call>,
        pre_schema: &SchemaRef,
        pos: Pos,
    ) -> Result<(Vec<Arc<AggregateFunctionExpr>>, Vec<Option<usize>>)> {
        let mut aggs = Vec::new();
        let mut filters = Vec::new();
        for Call { name, func, args, distinct, ignore_nulls, filter } in calls {
            let mut arg_exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::with_capacity(args.len());
            for a in args {
                arg_exprs.push(match a {
                    Arg::Column(i) => Arc::new(PhysColumn::new(pre_schema.field(i).name(), i)),
                    Arg::Literal(e) => self.physical(&e, &datafusion_common::DFSchema::empty(), pos)?,
                });
            }
            let built = AggregateExprBuilder::new(func, arg_exprs)
                .schema(pre_schema.clone())
                .alias(name)
                .with_distinct(distinct)
                .with_ignore_nulls(ignore_nulls)
                .build()
                .map_err(|e| df_err(e, pos))?;
            aggs.push(Arc::new(built));
            filters.push(filter);
        }
        Ok((aggs, filters))
    }

    pub(crate) fn aggregate(&mut self, agg: &Aggregate, pos: Pos) -> Result<NodeId> {
        let windowed = trace(&agg.input).map_err(|m| SqlError::unsupported(pos, m))?;
        let Some(w) = windowed else {
            return self.group_aggregate(agg, pos);
        };
        if session_grouped_by_other_keys(agg, &w) {
            // As Flink: the SESSION table function on its own, then a group aggregation by the
            // window and the keys (an updating result).
            return self.group_aggregate(agg, pos);
        }
        let [Expr::GroupingSet(_)] = agg.group_expr.as_slice() else {
            return self.aggregate_set(agg, &w, &agg.group_expr, None, None, pos);
        };
        // GROUPING SETS / ROLLUP / CUBE: one window aggregation per set over the same slices,
        // each filling the columns its set does not group by with NULL, unioned.
        let expanded = datafusion_expr::utils::enumerate_grouping_sets(agg.group_expr.clone()).map_err(|e| df_err(e, pos))?;
        let [Expr::GroupingSet(gs)] = expanded.as_slice() else { return Err(SqlError::Internal("grouping sets did not expand".into())) };
        let distinct: Vec<Expr> = gs.distinct_expr().into_iter().cloned().collect();
        let sets: Vec<Vec<Expr>> = match gs {
            datafusion_expr::GroupingSet::GroupingSets(sets) => sets.clone(),
            _ => return Err(SqlError::Internal("grouping sets did not expand".into())),
        };
        if sets.iter().enumerate().any(|(i, s)| sets[..i].contains(s)) {
            return Err(SqlError::unsupported(pos, "a grouping set listed twice is not supported"));
        }
        self.slicing = !w.attached;
        let input = self.node(&agg.input, pos)?;
        self.slicing = false;
        let mut parts = Vec::new();
        for set in &sets {
            let n = distinct.len();
            let gid: u64 = distinct.iter().enumerate().filter(|(_, d)| !set.contains(d)).map(|(i, _)| 1u64 << (n - 1 - i)).sum();
            parts.push(self.aggregate_set(agg, &w, set, Some((&distinct, gid)), Some(input), pos)?);
        }
        let schema = arrow_schema(&agg.schema);
        let inputs = parts.into_iter().map(|node| Input { node, exchange: Exchange::Forward }).collect();
        Ok(self.push("Union(all=[true])".into(), NodeKind::Union, inputs, schema))
    }

    /// One window aggregation grouped by `set`. With `layout` (a grouping set of `distinct`
    /// expressions and its grouping id), the output has every distinct expression (NULL where
    /// the set does not group by it) and the grouping id; `input` is the shared slice assigner.
    fn aggregate_set(
        &mut self,
        agg: &Aggregate,
        w: &Windowed<'_>,
        set: &[Expr],
        layout: Option<(&[Expr], u64)>,
        input: Option<NodeId>,
        pos: Pos,
    ) -> Result<NodeId> {
        let in_schema = agg.input.schema();
        let mut groups = Vec::new();
        let mut keys: Vec<Expr> = Vec::new();
        let mut end_col = None;
        let mut has_start = false;
        for g in set {
            let wc = match g {
                Expr::Column(c) => in_schema.index_of_column(c).ok().and_then(|i| w.cols[i].map(|wc| (wc, i))),
                _ => None,
            };
            match wc {
                Some((wc, i)) => {
                    if wc == WindowColumn::End {
                        end_col = Some(i);
                    }
                    has_start |= wc == WindowColumn::Start;
                    groups.push(GroupOutput::Window(wc));
                }
                None => {
                    if references_window(g, in_schema, &w.cols) {
                        return Err(SqlError::unsupported(pos, format!("grouping by an expression on a window column ({}) is not supported", show(g))));
                    }
                    groups.push(GroupOutput::Key(keys.len()));
                    keys.push(g.clone());
                }
            }
        }
        let (Some(end_col), true) = (end_col, has_start) else {
            return Err(SqlError::validation(
                pos,
                "a window aggregation must group by both window_start and window_end of the window table function",
            ));
        };

        if w.tvf.spec.kind == WindowKind::Session {
            // Sessions are per PARTITION BY key; grouping by other keys would need Flink's
            // updating session semantics.
            let part: std::collections::BTreeSet<String> =
                w.tvf.partition.iter().map(|i| w.tvf.input.schema().field(*i).name().clone()).collect();
            let grouped: std::collections::BTreeSet<String> = keys
                .iter()
                .map(|k| match k {
                    Expr::Column(c) => c.name.clone(),
                    other => show(other),
                })
                .collect();
            if part != grouped {
                return Err(SqlError::unsupported(
                    pos,
                    format!(
                        "a SESSION window aggregation must group by exactly its PARTITION BY columns ([{}]), but groups by [{}]",
                        part.into_iter().collect::<Vec<_>>().join(", "),
                        grouped.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }

        // The aggregate calls, their arguments and filters.
        let mut pre: Vec<Expr> = keys.clone();
        pre.push(Expr::Column(in_schema.columns()[end_col].clone()));
        let calls = aggregate_calls(agg, &mut pre, pos, |a| {
            if references_window(a, in_schema, &w.cols) {
                return Err(SqlError::unsupported(pos, format!("an aggregate over window columns ({}) is not supported", show(a))));
            }
            Ok(())
        })?;

        if let Some((distinct, gid)) = layout {
            let mut out = Vec::with_capacity(distinct.len() + 1);
            for d in distinct {
                out.push(match set.iter().position(|g| g == d) {
                    Some(p) => groups[p],
                    None => GroupOutput::Null,
                });
            }
            out.push(GroupOutput::GroupingId(gid));
            groups = out;
        }
        // Slice assignment happens where the TVF is; then the pre-projection.
        let shared = input.is_some();
        let input = match input {
            Some(i) => i,
            None => {
                self.slicing = !w.attached;
                let i = self.node(&agg.input, pos)?;
                self.slicing = false;
                i
            }
        };
        let mut fields = Vec::with_capacity(pre.len());
        for (i, e) in pre.iter().enumerate() {
            let (_, f) = e.to_field(in_schema).map_err(|e| df_err(e, pos))?;
            let (dt, nullable) = (f.data_type().clone(), f.is_nullable());
            let name = if i < keys.len() { format!("$k{i}") } else if i == keys.len() { "$slice_end".into() } else { format!("$a{i}") };
            fields.push(Field::new(name, dt, nullable));
        }
        let pre_schema: SchemaRef = Arc::new(Schema::new(fields));
        let phys = pre.iter().map(|e| self.physical(e, in_schema, pos)).collect::<Result<Vec<_>>>()?;
        let desc = format!(
            "select=[{}]",
            pre.iter().map(show).collect::<Vec<_>>().join(", ")
        );
        let input = if shared {
            let step = CalcStep::Project(phys, pre_schema.clone());
            self.push(format!("Calc({desc})"), NodeKind::Calc { steps: vec![step] }, vec![Input { node: input, exchange: Exchange::Forward }], pre_schema.clone())
        } else {
            self.calc(input, CalcStep::Project(phys, pre_schema.clone()), desc, pre_schema.clone())
        };

        let (aggs, filters) = self.build_aggregates(calls, &pre_schema, pos)?;

        let group_names: Vec<String> = keys.iter().map(show).collect();
        let exchange = key_exchange(&pre_schema, &group_names, pos)?;
        let schema = arrow_schema(&agg.schema);
        let time_name = w.tvf.input.schema().field(w.tvf.time_col).name().clone();
        let out_names: Vec<String> = schema.fields().iter().map(|f| crate::translate::strip_tvf_names(f.name())).collect();
        let name = format!(
            "WindowAggregate(groupBy=[{}], window=[{}], select=[{}])",
            group_names.join(", "),
            describe_window(&w.tvf.spec, &time_name),
            out_names.join(", ")
        );
        let time_field = w.tvf.input.schema().field(w.tvf.time_col);
        let proctime = time_field.metadata().get(crate::window_tvf::TIME_ATTRIBUTE).is_some_and(|k| k == "proctime");
        let plan = WindowAggregate { spec: w.tvf.spec, keys: keys.len(), aggs, filters, groups, proctime, merge: false, attached: w.attached };
        // Two-phase (local-global) aggregation for sliced event-time windows, as Flink's AUTO
        // agg-phase strategy: a local aggregation per (key, slice) before the exchange ships
        // partial states, which the global aggregation merges.
        let strategy = self.config_value("table.optimizer.agg-phase-strategy").unwrap_or_else(|| "AUTO".into()).to_ascii_uppercase();
        let two_phase = strategy != "ONE_PHASE" && w.tvf.spec.kind != WindowKind::Session && !proctime;
        if !two_phase {
            return Ok(self.push(name, NodeKind::WindowAggregate(Box::new(plan)), vec![Input { node: input, exchange }], schema));
        }
        let mut fields: Vec<Field> = pre_schema.fields().iter().take(keys.len() + 1).map(|f| f.as_ref().clone()).collect();
        for (i, a) in plan.aggs.iter().enumerate() {
            for f in a.state_fields().map_err(|e| df_err(e, pos))? {
                fields.push(f.as_ref().clone().with_name(format!("$s{i}_{}", f.name())).with_nullable(true));
            }
        }
        let local_schema: SchemaRef = Arc::new(Schema::new(fields));
        let local_name = format!("LocalWindowAggregate(groupBy=[{}], window=[{}])", group_names.join(", "), describe_window(&w.tvf.spec, &time_name));
        let local = self.push(
            local_name,
            NodeKind::LocalWindowAggregate(Box::new(plan.clone())),
            vec![Input { node: input, exchange: Exchange::Forward }],
            local_schema,
        );
        let global = WindowAggregate { merge: true, ..plan };
        let name = name.replacen("WindowAggregate(", "GlobalWindowAggregate(", 1);
        Ok(self.push(name, NodeKind::WindowAggregate(Box::new(global)), vec![Input { node: local, exchange }], schema))
    }
}

/// The slice assigner a window aggregation reads: a tumbling assignment by the slice width.
pub(crate) fn slicing_spec(spec: &WindowSpec) -> WindowSpec {
    if spec.kind == WindowKind::Session {
        // Session windows are not sliced: each row's "slice" is its own millisecond, so the
        // slice end is the row's time + 1 ms.
        return WindowSpec { kind: WindowKind::Tumble, size: 1, step: 1, offset: 0, clock: spec.clock };
    }
    let slice = spec.slice();
    WindowSpec { kind: WindowKind::Tumble, size: slice, step: slice, offset: spec.offset, clock: spec.clock }
}

/// A window aggregation over a SESSION table function that groups by other keys than the
/// function's PARTITION BY columns (sessions are per partition key; Flink then runs the
/// function on its own and a group aggregation over its rows).
fn session_grouped_by_other_keys(agg: &Aggregate, w: &Windowed<'_>) -> bool {
    if w.attached || w.tvf.spec.kind != WindowKind::Session || matches!(agg.group_expr.as_slice(), [Expr::GroupingSet(_)]) {
        return false;
    }
    let in_schema = agg.input.schema();
    let part: std::collections::BTreeSet<String> = w.tvf.partition.iter().map(|i| w.tvf.input.schema().field(*i).name().clone()).collect();
    let grouped: std::collections::BTreeSet<String> = agg
        .group_expr
        .iter()
        .filter(|g| !matches!(g, Expr::Column(c) if in_schema.index_of_column(c).ok().and_then(|i| w.cols[i]).is_some()))
        .map(|g| match g {
            Expr::Column(c) => c.name.clone(),
            other => show(other),
        })
        .collect();
    part != grouped
}

impl Translator {
    /// The SESSION table function on its own: rows per session of their partition key, emitted
    /// with the window columns when the watermark passes the session's end.
    pub(crate) fn session_window(&mut self, w: &WindowTvf, pos: Pos) -> Result<NodeId> {
        let time_field = w.input.schema().field(w.time_col);
        let proctime = time_field.metadata().get(crate::window_tvf::TIME_ATTRIBUTE).is_some_and(|k| k == "proctime");
        let input = self.node(&w.input, pos)?;
        let in_schema = w.input.schema();
        let names: Vec<String> = w.partition.iter().map(|i| in_schema.field(*i).name().clone()).collect();
        let mut desc = describe_window(&w.spec, time_field.name());
        if !names.is_empty() {
            desc.pop();
            desc.push_str(&format!(", partition keys=[{}])", names.join(", ")));
        }
        let exchange = if w.partition.is_empty() { Exchange::Single } else { Exchange::Hash(w.partition.clone()) };
        Ok(self.push(
            format!("WindowTableFunction(window=[{desc}])"),
            NodeKind::SessionWindow { time_col: w.time_col, partition: w.partition.clone(), gap: w.spec.size, proctime, clock: w.spec.clock },
            vec![Input { node: input, exchange }],
            arrow_schema(&w.schema),
        ))
    }
}
