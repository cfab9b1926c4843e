//! Window Top-N and window deduplication planning: `ROW_NUMBER() OVER (PARTITION BY
//! window_start, window_end, … ORDER BY …)` filtered by `rownum <= N` (or `< N`, `= 1`) over
//! the output of a window table function or a window aggregation. It becomes a
//! [`WindowRank`] operator that buffers each window's rows and, when the watermark passes the
//! window's end, emits the first N rows of every partition with their row number, once.

use datafusion_common::ScalarValue;
use datafusion_expr::expr::{WindowFunction, WindowFunctionDefinition};
use datafusion_expr::logical_plan::{LogicalPlan, Window};
use datafusion_expr::{Expr, Operator};
use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{Exchange, Input, NodeId, NodeKind};
use crate::translate::{arrow_schema, show, Translator};
use crate::window_agg::WindowColumn;
use crate::window_tvf::WindowTvf;

/// The window Top-N operator's plan. Output: the input's columns and the row number (the
/// window function's column).
#[derive(Debug, Clone)]
pub struct WindowRank {
    /// Input column holding `window_end` (the window fires when the watermark passes it).
    pub end_col: usize,
    /// The clock of the window bounds (see [`crate::window_tvf::WindowClock`]).
    pub clock: crate::window_tvf::WindowClock,
    /// Partition columns (the window columns included).
    pub partition: Vec<usize>,
    /// Sort columns: (column, descending, nulls first).
    pub order: Vec<(usize, bool, bool)>,
    /// Rows kept per partition.
    pub limit: usize,
    /// Among rows equal on the sort key, the last to arrive ranks first (Flink's window
    /// deduplication keeping the last row); otherwise the first to arrive.
    pub later_first_on_ties: bool,
}

/// Which output columns of `plan` are the window columns of a window TVF or window
/// aggregation below it (through projections, filters, aliases, aggregations and Top-N).
pub(crate) fn window_columns(plan: &LogicalPlan) -> Option<Vec<Option<WindowColumn>>> {
    match plan {
        LogicalPlan::Extension(ext) => {
            let tvf = ext.node.as_any().downcast_ref::<WindowTvf>()?;
            let mut cols = vec![None; tvf.input.schema().fields().len()];
            cols.extend([Some(WindowColumn::Start), Some(WindowColumn::End), Some(WindowColumn::Time)]);
            Some(cols)
        }
        LogicalPlan::SubqueryAlias(a) => window_columns(&a.input),
        LogicalPlan::Filter(f) => window_columns(&f.input),
        LogicalPlan::Window(w) => {
            let mut cols = window_columns(&w.input)?;
            cols.extend(std::iter::repeat_n(None, w.window_expr.len()));
            Some(cols)
        }
        LogicalPlan::Projection(p) => {
            let inner = window_columns(&p.input)?;
            Some(p.expr.iter().map(|e| bare_column(e, p.input.schema()).and_then(|i| inner[i])).collect())
        }
        LogicalPlan::Join(j) => {
            let mut cols = window_columns(&j.left)?;
            cols.extend(window_columns(&j.right)?);
            Some(cols)
        }
        LogicalPlan::Aggregate(a) => {
            let inner = window_columns(&a.input)?;
            let mut cols: Vec<Option<WindowColumn>> = a.group_expr.iter().map(|e| bare_column(e, a.input.schema()).and_then(|i| inner[i])).collect();
            cols.extend(std::iter::repeat_n(None, a.aggr_expr.len()));
            Some(cols)
        }
        _ => None,
    }
}

/// The window TVF under the window columns of `plan` (see [`window_columns`]).
pub(crate) fn window_source(plan: &LogicalPlan) -> Option<&WindowTvf> {
    match plan {
        LogicalPlan::Extension(ext) => ext.node.as_any().downcast_ref::<WindowTvf>(),
        LogicalPlan::SubqueryAlias(a) => window_source(&a.input),
        LogicalPlan::Filter(f) => window_source(&f.input),
        LogicalPlan::Window(w) => window_source(&w.input),
        LogicalPlan::Projection(p) => window_source(&p.input),
        LogicalPlan::Aggregate(a) => window_source(&a.input),
        LogicalPlan::Join(j) => window_source(&j.left),
        _ => None,
    }
}

/// The index of `e` in `schema` if it is a (possibly aliased) column.
pub(crate) fn bare_column(e: &Expr, schema: &datafusion_common::DFSchema) -> Option<usize> {
    match e.clone().unalias() {
        Expr::Column(c) => schema.index_of_column(&c).ok(),
        _ => None,
    }
}

/// The row-number column a Top-N filter bounds, and the bound: `rn <= N`, `rn < N`, `rn = 1`.
pub(crate) fn rank_bound(pred: &Expr) -> Option<(datafusion_common::Column, usize)> {
    let Expr::BinaryExpr(b) = pred else { return None };
    let (col, op, lit) = match (b.left.as_ref(), b.right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => (c, b.op, v),
        (Expr::Literal(v, _), Expr::Column(c)) => (c, b.op.swap()?, v),
        _ => return None,
    };
    let n = match lit {
        ScalarValue::Int8(Some(v)) => *v as i64,
        ScalarValue::Int16(Some(v)) => *v as i64,
        ScalarValue::Int32(Some(v)) => *v as i64,
        ScalarValue::Int64(Some(v)) => *v,
        ScalarValue::UInt64(Some(v)) => *v as i64,
        _ => return None,
    };
    let limit = match op {
        Operator::LtEq => n,
        Operator::Lt => n - 1,
        Operator::Eq if n == 1 => 1,
        _ => return None,
    };
    (limit >= 1).then(|| (col.clone(), limit as usize))
}

/// Does column `col` of `plan` come from the row number of a `Window` node below (through
/// aliases and projections)? Returns that node.
pub(crate) fn row_number_source<'a>(plan: &'a LogicalPlan, col: usize) -> Option<&'a Window> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => row_number_source(&a.input, col),
        LogicalPlan::Projection(p) => row_number_source(&p.input, bare_column(&p.expr[col], p.input.schema())?),
        LogicalPlan::Window(w) => {
            let n = w.input.schema().fields().len();
            (col >= n && w.window_expr.len() == 1).then_some(w)
        }
        _ => None,
    }
}

/// The `ROW_NUMBER()` window under a Top-N filter (through aliases), if `plan` is one.
pub(crate) fn rank_below(plan: &LogicalPlan) -> Option<&Window> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => rank_below(&a.input),
        LogicalPlan::Filter(f) => {
            let (col, _) = rank_bound(&f.predicate)?;
            let i = f.input.schema().index_of_column(&col).ok()?;
            row_number_source(&f.input, i)
        }
        _ => None,
    }
}

impl Translator {
    pub(crate) fn window_rank(&mut self, w: &Window, limit: Option<usize>, pos: Pos) -> Result<NodeId> {
        let unsupported = |m: &str| SqlError::unsupported(pos, m.to_string());
        let [expr] = w.window_expr.as_slice() else {
            return Err(unsupported("OVER windows are not supported by the streaming engine yet"));
        };
        let Expr::WindowFunction(wf) = expr.clone().unalias() else {
            return Err(SqlError::Internal(format!("unexpected window expression {expr}")));
        };
        let WindowFunction { fun, params } = wf.as_ref();
        let name = match fun {
            WindowFunctionDefinition::WindowUDF(f) => f.name().to_ascii_lowercase(),
            WindowFunctionDefinition::AggregateUDF(_) => {
                return Err(unsupported("OVER aggregations (SUM(…) OVER …) are not supported by the streaming engine yet"));
            }
        };
        if name != "row_number" {
            return Err(unsupported(&format!("{}() function is not supported on Window TopN currently, only ROW_NUMBER() is supported (as in Flink)", name.to_ascii_uppercase())));
        }
        let Some(limit) = limit else {
            return Err(unsupported(
                "ROW_NUMBER() OVER (…) is only supported as Top-N: filter it with `rownum <= N` (or `= 1` for deduplication) in the enclosing query",
            ));
        };
        let in_schema = w.input.schema();
        let wcols = window_columns(&w.input);
        let what = if wcols.is_some() { "a window Top-N" } else { "a Top-N" };
        let mut partition = Vec::new();
        for p in &params.partition_by {
            let Some(i) = bare_column(p, in_schema) else {
                return Err(unsupported(&format!("PARTITION BY of {what} must list columns, not {}", show(p))));
            };
            partition.push(i);
        }
        let order = || -> Result<Vec<(usize, bool, bool)>> {
            params
                .order_by
                .iter()
                .map(|s| match bare_column(&s.expr, in_schema) {
                    Some(i) => Ok((i, !s.asc, s.nulls_first)),
                    None => Err(unsupported(&format!("ORDER BY of {what} must be a column, not {}", show(&s.expr)))),
                })
                .collect()
        };
        let Some(wcols) = wcols else {
            let output_rank = !self.rank_number_unused(w);
            return self.rank(w, partition, order()?, limit, output_rank, pos);
        };
        let start = partition.iter().any(|i| wcols[*i] == Some(WindowColumn::Start));
        let Some(end_col) = partition.iter().copied().rfind(|i| wcols[*i] == Some(WindowColumn::End)).filter(|_| start) else {
            return Err(SqlError::validation(pos, "a window Top-N must PARTITION BY both window_start and window_end"));
        };
        let order = order()?;
        if order.is_empty() {
            return Err(SqlError::validation(pos, "a window Top-N needs ORDER BY in its OVER clause"));
        }
        // Deduplication keeping the last row: ORDER BY a time attribute DESC, rownum = 1.
        let later_first_on_ties = limit == 1 && order.len() == 1 && order[0].1;
        let input = self.node(&w.input, pos)?;
        let keys: Vec<usize> = partition.iter().copied().filter(|i| wcols[*i].is_none()).collect();
        let exchange = if keys.is_empty() { Exchange::Single } else { Exchange::Hash(keys) };
        let schema = arrow_schema(&w.schema);
        let names = |cols: &[usize]| cols.iter().map(|i| in_schema.field(*i).name().clone()).collect::<Vec<_>>().join(", ");
        let order_desc: Vec<String> =
            order.iter().map(|(i, d, _)| format!("{} {}", in_schema.field(*i).name(), if *d { "DESC" } else { "ASC" })).collect();
        let node_name = format!(
            "WindowRank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={limit}], partitionBy=[{}], orderBy=[{}])",
            names(&partition),
            order_desc.join(", ")
        );
        let clock = window_source(&w.input).map(|t| t.spec.clock).unwrap_or_default();
        let plan = WindowRank { end_col, clock, partition, order, limit, later_first_on_ties };
        Ok(self.push(node_name, NodeKind::WindowRank(Box::new(plan)), vec![Input { node: input, exchange }], schema))
    }
}
