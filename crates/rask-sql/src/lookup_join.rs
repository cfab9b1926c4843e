//! Temporal joins: `l [LEFT] JOIN t FOR SYSTEM_TIME AS OF l.time [AS d] ON l.k = d.k [AND …]`.
//!
//! With `l.time` a processing-time attribute (`PROCTIME()`) and `t` a table whose connector can
//! look rows up by key (jdbc, redis), this is Flink's **lookup join**: each input row is joined
//! with the rows of `t` that match its key at the moment it is processed; nothing of `t` is kept
//! in state (the connector's `lookup.cache` options decide what is cached). The join keys are the
//! equalities between a column of `t` and an expression of the left input; the rest of the
//! condition is checked on the joined row. Filters and projections that the optimizer pushed to
//! `t`'s side are applied to the looked-up rows. The left input's changelog passes through (a
//! -U row joins the table as it is now, as in Flink).
//!
//! With `l.time` a rowtime attribute, `t` must be a versioned table (PRIMARY KEY and WATERMARK,
//! typically a changelog): this is Flink's **event-time temporal join** ([`TemporalJoin`]).
//!
//! The parser marks the table (see `parser::rewrite_temporal_tables`); [`temporal_marker`] finds
//! the mark on a join's right side.

use std::sync::Arc;

use datafusion_common::TableReference;
use datafusion_expr::logical_plan::{Join, LogicalPlan};
use datafusion_expr::{Expr, ExprSchemable};
use datafusion_physical_expr::PhysicalExpr;
use rask_types::Pos;

use crate::catalog::TableDef;
use crate::context::PhysicalScan;
use crate::error::{Result, SqlError};
use crate::parser::TEMPORAL_MARKER;
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind};
use crate::translate::{arrow_schema, show, Translator};
use crate::watermark_node::WatermarkAssigner;
use crate::window_join::WindowJoinType;
use crate::window_tvf::TIME_ATTRIBUTE;

/// The event-time temporal join's plan: each left row joins the version of the right
/// (versioned) table's row with the same key that was valid at the left row's time. Output =
/// the left input's first `left_width` columns, then the right's first `right_width`.
#[derive(Debug, Clone)]
pub struct TemporalJoin {
    pub left_outer: bool,
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    pub left_time: usize,
    pub right_time: usize,
    pub left_width: usize,
    pub right_width: usize,
    /// The rest of the join condition, over the output row.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

/// The LOOKUP hint attached to the table at the top of a join's right side, if any (its
/// options but `table`).
pub(crate) fn lookup_hint(plan: &LogicalPlan) -> Option<std::collections::BTreeMap<String, String>> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => match a.alias.table().split_once(crate::parser::LOOKUP_MARKER) {
            Some((_, rest)) => serde_json::from_str(rest.split(TEMPORAL_MARKER).next().unwrap_or(rest)).ok(),
            None => lookup_hint(&a.input),
        },
        LogicalPlan::Projection(p) => lookup_hint(&p.input),
        LogicalPlan::Filter(f) => lookup_hint(&f.input),
        _ => None,
    }
}

/// The lookup join operator's plan. Output = the input's first `left_width` columns, then the
/// looked-up row after `dim_steps`.
#[derive(Debug, Clone)]
pub struct LookupJoin {
    pub table: Arc<TableDef>,
    /// Inner or left outer.
    pub left_outer: bool,
    /// Lookup keys: (column of the table's physical schema, input column holding the value to
    /// look up, already of the table column's type).
    pub keys: Vec<(usize, usize)>,
    pub left_width: usize,
    /// Filters and projections over the looked-up rows (the table's physical schema).
    pub dim_steps: Vec<CalcStep>,
    /// The rest of the join condition, over the output row.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// LOOKUP hint retries: a key without rows is looked up again after the delay, at most
    /// this many times (`'retry-predicate'='lookup_miss'`, `'retry-strategy'='fixed_delay'`).
    pub retry: Option<(std::time::Duration, u32)>,
    /// LOOKUP hint `'timeout'`: a batch's lookup that takes longer fails the job (as Flink's
    /// async lookup timeout: the restart strategy then decides).
    pub timeout: Option<std::time::Duration>,
}

/// The time attribute text of a table marked `FOR SYSTEM_TIME AS OF …` at the top of `plan`
/// (under aliases, projections and filters the optimizer placed above the scan).
pub(crate) fn temporal_marker(plan: &LogicalPlan) -> Option<String> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => match a.alias.table().split_once(TEMPORAL_MARKER) {
            Some((_, time)) => Some(time.to_string()),
            None => temporal_marker(&a.input),
        },
        LogicalPlan::Projection(p) => temporal_marker(&p.input),
        LogicalPlan::Filter(f) => temporal_marker(&f.input),
        _ => None,
    }
}

/// Separates a marker's time attribute text from the kind [`mark_time_attributes`] found.
const KIND_SEPARATOR: char = '\u{1}';

/// Before projection pruning: for each join with a marked right side, resolve the time
/// attribute in the left input and append its kind to the marker (`o.pt` → `o.pt␁proctime`);
/// a rowtime column is kept in the plan by an `IS NOT NULL` conjunct in the join condition
/// (removed again by the translator: the temporal join reads the column itself).
pub fn mark_time_attributes(plan: LogicalPlan) -> datafusion_common::Result<LogicalPlan> {
    use datafusion_common::tree_node::{Transformed, TreeNode};
    plan.transform_up(|p| {
        let LogicalPlan::Join(mut j) = p else { return Ok(Transformed::no(p)) };
        let Some(time) = temporal_marker(&j.right).filter(|t| !t.contains(KIND_SEPARATOR)) else { return Ok(Transformed::no(LogicalPlan::Join(j))) };
        let Some(col) = time_column(&time, &j.left) else { return Ok(Transformed::no(LogicalPlan::Join(j))) };
        let kind = j.left.schema().field(col).metadata().get(TIME_ATTRIBUTE).cloned().unwrap_or_else(|| "none".into());
        if kind == "rowtime" {
            // Both sides' rowtimes (the versioned table's too: the join orders its versions).
            let mut keep = vec![Expr::Column(datafusion_common::Column::from(j.left.schema().qualified_field(col)))];
            if let Some(r) = rowtime_of(&j.right) {
                keep.push(Expr::Column(datafusion_common::Column::from(j.right.schema().qualified_field(r))));
            }
            for c in keep {
                let keep = Expr::IsNotNull(Box::new(c));
                j.filter = Some(match j.filter.take() {
                    Some(f) => f.and(keep),
                    None => keep,
                });
            }
        }
        j.right = Arc::new(rename_marker(j.right.as_ref().clone(), &format!("{time}{KIND_SEPARATOR}{kind}"))?);
        Ok(Transformed::yes(LogicalPlan::Join(j)))
    })
    .map(|t| t.data)
}

/// The first rowtime attribute of `plan`'s output.
fn rowtime_of(plan: &LogicalPlan) -> Option<usize> {
    let s = plan.schema();
    (0..s.fields().len()).find(|i| s.field(*i).metadata().get(TIME_ATTRIBUTE).map(String::as_str) == Some("rowtime"))
}

/// The name a temporal join's right side is known by (its alias, without the marker).
fn view_name(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::SubqueryAlias(a) => crate::parser::unmarked(a.alias.table()).to_string(),
        _ => "the view".to_string(),
    }
}

/// The key columns of a versioned view: a deduplication keeping each key's last row by row
/// time (`ROW_NUMBER() OVER (PARTITION BY k ORDER BY rowtime DESC) = 1`), through projections,
/// filters and aliases above it — Flink infers the primary key `k` of such a view.
fn versioned_view_key(plan: &LogicalPlan) -> Option<Vec<String>> {
    use datafusion_expr::expr::{WindowFunction, WindowFunctionDefinition};
    match plan {
        LogicalPlan::SubqueryAlias(a) => versioned_view_key(&a.input),
        LogicalPlan::Projection(p) => versioned_view_key(&p.input),
        LogicalPlan::Filter(f) => {
            let Some((col, 1)) = crate::window_rank::rank_bound(&f.predicate) else { return versioned_view_key(&f.input) };
            let i = f.input.schema().index_of_column(&col).ok()?;
            let w = crate::window_rank::row_number_source(&f.input, i)?;
            let exprs: Vec<Expr> = w.window_expr.iter().map(|e| e.clone().unalias()).collect();
            let [Expr::WindowFunction(wf)] = exprs.as_slice() else { return None };
            let WindowFunction { fun, params } = wf.as_ref();
            let WindowFunctionDefinition::WindowUDF(udf) = fun else { return None };
            let [order] = params.order_by.as_slice() else { return None };
            let in_schema = w.input.schema();
            let by_rowtime = crate::window_rank::bare_column(&order.expr, in_schema)
                .is_some_and(|c| in_schema.field(c).metadata().get(TIME_ATTRIBUTE).map(String::as_str) == Some("rowtime"));
            if !udf.name().eq_ignore_ascii_case("row_number") || order.asc || !by_rowtime || params.partition_by.is_empty() {
                return None;
            }
            params.partition_by.iter().map(|e| crate::window_rank::bare_column(e, in_schema).map(|c| in_schema.field(c).name().clone())).collect()
        }
        _ => None,
    }
}

/// A column of the right side as a join key: the column itself or cast (type coercion).
fn key_column(e: &Expr) -> Option<&datafusion_common::Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => match c.expr.as_ref() {
            Expr::Column(c) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

/// `r` with its table part replaced by `table` (catalog and schema kept).
pub(crate) fn with_table(r: &TableReference, table: &str) -> TableReference {
    match r {
        TableReference::Bare { .. } => TableReference::bare(table),
        TableReference::Partial { schema, .. } => TableReference::partial(schema.as_ref(), table),
        TableReference::Full { catalog, schema, .. } => TableReference::full(catalog.as_ref(), schema.as_ref(), table),
    }
}

/// The plan under the marker alias (through the aliases above it), which translates as the
/// table's plan.
fn below_marker(plan: &LogicalPlan) -> &LogicalPlan {
    match plan {
        LogicalPlan::SubqueryAlias(a) if a.alias.table().contains(TEMPORAL_MARKER) => &a.input,
        LogicalPlan::SubqueryAlias(a) => below_marker(&a.input),
        other => other,
    }
}

/// `plan` with its temporal marker's time text replaced by `time`.
fn rename_marker(plan: LogicalPlan, time: &str) -> datafusion_common::Result<LogicalPlan> {
    let LogicalPlan::SubqueryAlias(a) = plan else { return Ok(plan) };
    match a.alias.table().split_once(TEMPORAL_MARKER) {
        Some((table, _)) => {
            let name = format!("{table}{TEMPORAL_MARKER}{time}");
            let alias = with_table(&a.alias, &name);
            Ok(LogicalPlan::SubqueryAlias(datafusion_expr::logical_plan::SubqueryAlias::try_new(a.input, alias)?))
        }
        None => {
            let input = rename_marker(a.input.as_ref().clone(), time)?;
            Ok(LogicalPlan::SubqueryAlias(datafusion_expr::logical_plan::SubqueryAlias::try_new(Arc::new(input), a.alias)?))
        }
    }
}

/// The left input's column named by `text` (`o.ts` or `ts`).
fn time_column(text: &str, plan: &LogicalPlan) -> Option<usize> {
    let schema = plan.schema();
    match text.rsplit_once('.') {
        Some((q, name)) => schema.index_of_column_by_name(Some(&TableReference::parse_str(q)), name),
        None => schema.index_of_column_by_name(None, text),
    }
}

impl Translator {
    /// Plan a join whose right side is marked `FOR SYSTEM_TIME AS OF time`.
    pub(crate) fn temporal_join(&mut self, j: &Join, join_type: WindowJoinType, on: &[(Expr, Expr)], residual: Vec<Expr>, time: &str, pos: Pos) -> Result<NodeId> {
        // Equalities of a left expression (or a constant) and a right column in the condition
        // are keys too.
        let (on, residual) = crate::join::key_equalities(j, on, residual, true);
        let on = on.as_slice();
        let (time, kind) = time.split_once(KIND_SEPARATOR).unwrap_or((time, ""));
        match kind {
            "proctime" => {}
            "rowtime" => {
                let Some(tcol) = time_column(time, &j.left) else {
                    return Err(SqlError::Internal(format!("the rowtime {time} of a temporal join was pruned")));
                };
                // The conjunct that kept the column (see `mark_time_attributes`).
                let mut keep = vec![Expr::IsNotNull(Box::new(Expr::Column(datafusion_common::Column::from(j.left.schema().qualified_field(tcol)))))];
                if let Some(r) = rowtime_of(&j.right) {
                    keep.push(Expr::IsNotNull(Box::new(Expr::Column(datafusion_common::Column::from(j.right.schema().qualified_field(r))))));
                }
                let residual = residual.into_iter().filter(|e| !keep.contains(e)).collect();
                return self.versioned_join(j, join_type, on, residual, tcol, pos);
            }
            "" => return Err(SqlError::validation(pos, format!("FOR SYSTEM_TIME AS OF {time}: no such column in the left input of the join"))),
            _ => {
                return Err(SqlError::validation(
                    pos,
                    format!("FOR SYSTEM_TIME AS OF {time}: temporal table join currently only supports 'FOR SYSTEM_TIME AS OF' the left table's time attribute field (a PROCTIME() column or a rowtime with a WATERMARK)"),
                ))
            }
        }
        let left_outer = left_outer(join_type, "a lookup join", pos)?;
        let (table, dim_steps) = self.dimension(&j.right, pos).map_err(|e| {
            SqlError::validation(pos, format!("{}; a processing-time temporal join needs a lookup table (connector jdbc or redis), not a view or query", e.message()))
        })?;
        if !table.caps.lookup {
            return Err(SqlError::unsupported(
                pos,
                format!(
                    "table '{}' (connector '{}') cannot be looked up: a processing-time temporal join needs a lookup table (connector jdbc or redis)",
                    table.name, table.connector
                ),
            ));
        }
        // Lookup keys: `left expression = table column`, the left side cast to the column's type
        // (a value that does not fit the column's type matches nothing).
        let phys = table.source_schema();
        let right_schema = j.right.schema();
        let mut keys: Vec<(usize, Expr)> = Vec::new();
        let mut rest = residual;
        for (l, r) in on {
            let target = key_column(r)
                .filter(|c| right_schema.index_of_column(c).is_ok())
                .and_then(|c| phys.index_of(&c.name).ok().map(|i| (i, c)));
            match target {
                Some((i, _)) => {
                    let ty = phys.field(i).data_type().clone();
                    let (_, lf) = l.to_field(j.left.schema()).map_err(|e| crate::session::df_err(e, pos))?;
                    let l = if *lf.data_type() == ty { l.clone() } else { Expr::TryCast(datafusion_expr::TryCast::new(Box::new(l.clone()), ty)) };
                    keys.push((i, l));
                }
                _ => rest.push(l.clone().eq(r.clone())),
            }
        }
        if keys.is_empty() {
            return Err(SqlError::validation(
                pos,
                format!("temporal table join requires an equality condition on fields of table [{}] (e.g. ON o.id = d.id)", table.name),
            ));
        }
        let left = self.node(&j.left, pos)?;
        let (left, left_cols, left_width) = self.key_columns(left, &j.left, keys.iter().map(|(_, e)| e), pos)?;
        let filter_expr = datafusion_expr::utils::conjunction(rest);
        let filter = filter_expr.as_ref().map(|f| self.physical(f, &j.schema, pos)).transpose()?;
        // The looked-up (versioned) side has no time attributes.
        let schema = crate::join::without_time_attributes(&j.schema, left_width);
        let lookup: Vec<String> = keys.iter().map(|(i, e)| format!("{}={}", phys.field(*i).name(), show(e))).collect();
        let mut name = format!(
            "LookupJoin(table=[{}], joinType=[{}], lookup=[{}]",
            table.name,
            crate::join::join_type_name(join_type),
            lookup.join(", ")
        );
        if let Some(f) = &filter_expr {
            name.push_str(&format!(", where=[{}]", show(f)));
        }
        name.push(')');
        let mut plan = LookupJoin {
            table,
            left_outer,
            keys: keys.iter().zip(&left_cols).map(|((i, _), c)| (*i, *c)).collect(),
            left_width,
            dim_steps,
            filter,
            retry: None,
            timeout: None,
        };
        if let Some(h) = lookup_hint(&j.right) {
            // Validated by the parser.
            if let (Some(delay), Some(attempts)) = (h.get("fixed-delay"), h.get("max-attempts")) {
                let delay = rask_types::options::parse_duration(delay).map_err(|m| SqlError::validation(pos, format!("LOOKUP hint 'fixed-delay': {m}")))?;
                let attempts = attempts.parse().map_err(|_| SqlError::validation(pos, "LOOKUP hint 'max-attempts' must be a positive integer"))?;
                plan.retry = Some((delay, attempts));
            }
            if let Some(t) = h.get("timeout") {
                plan.timeout = Some(rask_types::options::parse_duration(t).map_err(|m| SqlError::validation(pos, format!("LOOKUP hint 'timeout': {m}")))?);
            }
        }
        Ok(self.push(name, NodeKind::LookupJoin(Box::new(plan)), vec![Input { node: left, exchange: Exchange::Forward }], schema))
    }

    /// `l [LEFT] JOIN v FOR SYSTEM_TIME AS OF l.rowtime ON l.k = v.pk`: an event-time temporal
    /// join against a versioned table (a changelog or upsert source with PRIMARY KEY and
    /// WATERMARK). Left rows wait for the watermark to pass their time, then join the version
    /// valid then (Flink's `TemporalRowTimeJoinOperator`); the output is append-only.
    fn versioned_join(&mut self, j: &Join, join_type: WindowJoinType, on: &[(Expr, Expr)], residual: Vec<Expr>, left_time: usize, pos: Pos) -> Result<NodeId> {
        let left_outer = left_outer(join_type, "an event-time temporal join", pos)?;
        if lookup_hint(&j.right).is_some() {
            return Err(SqlError::validation(pos, "the LOOKUP hint applies to lookup joins (FOR SYSTEM_TIME AS OF a PROCTIME() attribute), not to an event-time temporal join"));
        }
        // A table with PRIMARY KEY and WATERMARK, or a versioned view (a deduplication by row
        // time, keyed by its PARTITION BY columns).
        let (name, pk) = match self.dimension(&j.right, pos) {
            Ok((table, _)) => (table.name.clone(), table.primary_key.clone().filter(|k| !k.is_empty())),
            Err(e) => match versioned_view_key(below_marker(&j.right)) {
                Some(keys) => (view_name(&j.right), Some(keys)),
                None => {
                    return Err(SqlError::validation(
                        pos,
                        format!(
                            "{e}; an event-time temporal join needs a versioned table: a table with PRIMARY KEY and WATERMARK, or a view keeping each key's last row by its rowtime (ROW_NUMBER() OVER (PARTITION BY key ORDER BY rowtime DESC) = 1)"
                        ),
                    ))
                }
            },
        };
        let Some(pk) = pk else {
            return Err(SqlError::validation(
                pos,
                format!("temporal table join requires primary key in versioned table '{name}', but no primary key can be found (declare PRIMARY KEY (…) NOT ENFORCED, or join a view keeping each key's last row by its rowtime: ROW_NUMBER() OVER (PARTITION BY key ORDER BY rowtime DESC) = 1)"),
            ));
        };
        let right_schema = j.right.schema();
        let Some(right_time) = rowtime_of(&j.right) else {
            return Err(SqlError::validation(
                pos,
                format!("event-time temporal table join requires both primary key and row time attribute in versioned table '{name}', but no row time attribute can be found"),
            ));
        };
        // Keys: the equalities; they must cover the versioned table's primary key.
        let mut rest = residual;
        let mut keys: Vec<(Expr, Expr)> = Vec::new();
        for (l, r) in on {
            if l.column_refs().is_empty() || r.column_refs().is_empty() {
                rest.push(l.clone().eq(r.clone()));
            } else {
                keys.push((l.clone(), r.clone()));
            }
        }
        let key_names: Vec<String> = keys
            .iter()
            .filter_map(|(_, r)| key_column(r).map(|c| c.name.clone()))
            .collect();
        if let Some(missing) = pk.iter().find(|k| !key_names.contains(k)) {
            return Err(SqlError::validation(
                pos,
                format!(
                    "event-time temporal table join: the join condition must contain an equality on each primary key column of versioned table '{name}' ({}); '{missing}' has none",
                    pk.join(", ")
                ),
            ));
        }
        let left = self.node(&j.left, pos)?;
        if self.updates_from(left).is_some() {
            return Err(SqlError::unsupported(pos, "an event-time temporal join needs an append-only left input (its changelog is not supported yet)"));
        }
        // The versioned table's own plan (under the aliases, one of them the marker).
        let right = self.node(below_marker(&j.right), pos)?;
        let (left, left_keys, left_width) = self.key_columns(left, &j.left, keys.iter().map(|(l, _)| l), pos)?;
        let (right, right_keys, right_width) = self.key_columns(right, &j.right, keys.iter().map(|(_, r)| r), pos)?;
        let filter_expr = datafusion_expr::utils::conjunction(rest);
        let filter = filter_expr.as_ref().map(|f| self.physical(f, &j.schema, pos)).transpose()?;
        // The looked-up (versioned) side has no time attributes.
        let schema = crate::join::without_time_attributes(&j.schema, left_width);
        let mut cond: Vec<String> = keys.iter().map(|(l, r)| format!("({} = {})", show(l), show(r))).collect();
        if let Some(f) = &filter_expr {
            cond.push(show(f));
        }
        let name = format!(
            "TemporalJoin(joinType=[{}], where=[{}], leftTime=[{}], rightTime=[{}])",
            crate::join::join_type_name(join_type),
            cond.join(" AND "),
            j.left.schema().field(left_time).name(),
            right_schema.field(right_time).name()
        );
        let exchange = |k: &Vec<usize>| Exchange::Hash(k.clone());
        let inputs = vec![Input { node: left, exchange: exchange(&left_keys) }, Input { node: right, exchange: exchange(&right_keys) }];
        let plan = TemporalJoin { left_outer, left_keys, right_keys, left_time, right_time, left_width, right_width, filter };
        Ok(self.push(name, NodeKind::TemporalJoin(Box::new(plan)), inputs, schema))
    }

    /// The table under a temporal join's right side and the filters/projections above its scan.
    fn dimension(&self, plan: &LogicalPlan, pos: Pos) -> Result<(Arc<TableDef>, Vec<CalcStep>)> {
        match plan {
            LogicalPlan::SubqueryAlias(a) => self.dimension(&a.input, pos),
            LogicalPlan::Extension(ext) if ext.node.as_any().downcast_ref::<WatermarkAssigner>().is_some() => {
                let Some(w) = ext.node.as_any().downcast_ref::<WatermarkAssigner>() else { unreachable!() };
                self.dimension(&w.input, pos)
            }
            LogicalPlan::Projection(p) => {
                let (t, mut steps) = self.dimension(&p.input, pos)?;
                let phys = p.expr.iter().map(|e| self.physical(e, p.input.schema(), pos)).collect::<Result<Vec<_>>>()?;
                steps.push(CalcStep::Project(phys, arrow_schema(&p.schema)));
                Ok((t, steps))
            }
            LogicalPlan::Filter(f) => {
                let (t, mut steps) = self.dimension(&f.input, pos)?;
                steps.push(CalcStep::Filter(self.physical(&f.predicate, f.input.schema(), pos)?));
                Ok((t, steps))
            }
            LogicalPlan::TableScan(scan) => {
                let Some(src) = scan.source.downcast_ref::<PhysicalScan>() else {
                    return Err(SqlError::Internal(format!("scan of unknown source {}", scan.table_name)));
                };
                let steps = self.scan_steps(scan, &src.schema, pos)?.into_iter().map(|(s, _)| s).collect();
                Ok((src.table.clone(), steps))
            }
            other => Err(SqlError::unsupported(
                pos,
                format!("FOR SYSTEM_TIME AS OF must name a table, found {}", other.display().to_string().split('\n').next().unwrap_or("")),
            )),
        }
    }
}

/// Whether a temporal join (`what`) is LEFT (true) or INNER (false); other types are refused.
fn left_outer(join_type: WindowJoinType, what: &str, pos: Pos) -> Result<bool> {
    match join_type {
        WindowJoinType::Inner => Ok(false),
        WindowJoinType::Left => Ok(true),
        other => Err(SqlError::unsupported(pos, format!("FOR SYSTEM_TIME AS OF: {what} is INNER or LEFT, not {}", crate::join::join_type_name(other)))),
    }
}
