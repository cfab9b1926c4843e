//! Over aggregation planning: `agg(…) OVER (PARTITION BY … ORDER BY rowtime ROWS|RANGE BETWEEN
//! … PRECEDING AND CURRENT ROW)` (all OVER calls of a SELECT on the same window, as Flink
//! requires). Rows are buffered until the watermark passes them and then processed in time
//! order per partition, each emitted once with the aggregates over its frame.
//!
//! Over an updating input (a group aggregation, a join with retractions) — which Flink refuses
//! ("OverAggregate doesn't support consuming update changes") — the window may be ordered by
//! any column and the operator is the updating one: every row's aggregates are kept and
//! re-emitted (`-U`/`+U`) whenever a change enters or leaves its frame, so that the changelog
//! materialises the OVER query evaluated on the input's current table (what a batch engine,
//! Flink's batch mode included, returns for that table).

use std::sync::Arc;

use datafusion_common::ScalarValue;
use datafusion_expr::expr::{WindowFunction, WindowFunctionDefinition};
use datafusion_expr::logical_plan::Window;
use datafusion_expr::{Expr, WindowFrameBound, WindowFrameUnits};
use datafusion_physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{Exchange, Input, NodeId, NodeKind};
use crate::session::df_err;
use crate::translate::{arrow_schema, show, Translator};
use crate::window_tvf::{interval_millis, TIME_ATTRIBUTE};

/// How far back a frame reaches from the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: UNBOUNDED PRECEDING).
    Rows(Option<u64>),
    /// `RANGE BETWEEN INTERVAL … PRECEDING AND CURRENT ROW`, in ms (`None`: UNBOUNDED).
    Range(Option<i64>),
}

/// The over aggregation operator's plan. Output: the input's columns, then one per aggregate.
#[derive(Debug, Clone)]
pub struct OverAggregate {
    pub partition: Vec<usize>,
    /// The column the window is ordered by: a rowtime attribute, ascending, unless `updating`.
    pub time_col: usize,
    /// ORDER BY … DESC (updating only).
    pub descending: bool,
    /// NULLS FIRST (updating only; Flink's default for ASC, NULLS LAST for DESC).
    pub nulls_first: bool,
    pub frame: Frame,
    pub aggs: Vec<Arc<AggregateFunctionExpr>>,
    /// The input is updating: rows are processed as they come and the output is a changelog.
    pub updating: bool,
}

impl Translator {
    pub(crate) fn over_aggregate(&mut self, w: &Window, pos: Pos) -> Result<NodeId> {
        let unsupported = |m: String| SqlError::unsupported(pos, m);
        let in_schema = w.input.schema();
        let mut spec: Option<(Vec<Expr>, Vec<datafusion_expr::SortExpr>, datafusion_expr::WindowFrame)> = None;
        let mut aggs = Vec::new();
        for e in &w.window_expr {
            let (name, inner) = match e {
                Expr::Alias(a) => (a.name.clone(), a.expr.as_ref().clone()),
                other => (other.schema_name().to_string(), other.clone()),
            };
            let Expr::WindowFunction(wf) = inner else { return Err(SqlError::Internal(format!("unexpected window expression {e}"))) };
            let WindowFunction { fun, params } = wf.as_ref();
            let WindowFunctionDefinition::AggregateUDF(func) = fun else {
                return Err(unsupported(format!("{} OVER (…) is only supported as a window Top-N (ROW_NUMBER with rownum <= N)", fun.name().to_ascii_uppercase())));
            };
            let this = (params.partition_by.clone(), params.order_by.clone(), params.window_frame.clone());
            match &spec {
                None => spec = Some(this),
                Some(s) if *s == this => {}
                Some(_) => return Err(unsupported("all OVER aggregations of a SELECT must use the same window (Flink's rule)".into())),
            }
            if params.filter.is_some() {
                // Flink (Calcite) refuses it too.
                return Err(SqlError::validation(pos, "OVER must be applied to aggregate function: FILTER (WHERE …) cannot be used with OVER"));
            }
            // COUNT(*) keeps a wildcard argument in window calls: count a constant instead.
            #[allow(deprecated)]
            let args: Vec<Expr> = params
                .args
                .iter()
                .map(|a| if matches!(a, Expr::Wildcard { .. }) { Expr::Literal(ScalarValue::Int64(Some(1)), None) } else { a.clone() })
                .collect();
            let args = args.iter().map(|a| self.physical(a, in_schema, pos)).collect::<Result<Vec<_>>>()?;
            let built = AggregateExprBuilder::new(func.clone(), args)
                .schema(Arc::new(in_schema.as_arrow().clone()))
                .alias(name)
                .with_distinct(params.distinct)
                .with_ignore_nulls(matches!(func.name(), "first_value" | "last_value"))
                .build()
                .map_err(|e| df_err(e, pos))?;
            aggs.push(Arc::new(built));
        }
        let Some((partition_by, order_by, frame)) = spec else { return Err(SqlError::Internal("OVER without window expressions".into())) };
        let input = self.node(&w.input, pos)?;
        let updating = self.updates_from(input).is_some();
        let [order] = order_by.as_slice() else {
            let what = if updating { "column" } else { "time attribute" };
            return Err(SqlError::validation(pos, format!("an OVER window must be ORDER BY exactly one {what}")));
        };
        let column = crate::window_rank::bare_column(&order.expr, in_schema);
        let time_col = if updating {
            column.ok_or_else(|| SqlError::validation(pos, format!("the ORDER BY of an OVER window must be a column, not {}", show(&order.expr))))?
        } else {
            let rowtime = column.filter(|i| in_schema.field(*i).metadata().get(TIME_ATTRIBUTE).map(String::as_str) == Some("rowtime"));
            let (Some(c), true) = (rowtime, order.asc) else {
                return Err(SqlError::validation(
                    pos,
                    format!("an OVER window must be ORDER BY a rowtime attribute ascending, not {}", show(&order.expr)),
                ));
            };
            c
        };
        if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
            return Err(unsupported("an OVER window must end at CURRENT ROW".into()));
        }
        let frame = match (&frame.units, &frame.start_bound) {
            (WindowFrameUnits::Rows, WindowFrameBound::Preceding(v)) => Frame::Rows(match v {
                v if v.is_null() => None,
                ScalarValue::UInt64(Some(n)) => Some(*n),
                other => return Err(unsupported(format!("ROWS frame bound {other}"))),
            }),
            (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) => Frame::Range(match v {
                v if v.is_null() => None,
                v => {
                    let ms = interval_millis(v).ok_or_else(|| unsupported(format!("RANGE frame bound {v}: use an INTERVAL")))?;
                    let timestamp = matches!(in_schema.field(time_col).data_type(), arrow::datatypes::DataType::Timestamp(..));
                    if !(timestamp && order.asc) {
                        return Err(unsupported(format!(
                            "a RANGE INTERVAL frame needs an OVER window ORDER BY a TIMESTAMP column ascending, not {}",
                            show(&order.expr)
                        )));
                    }
                    Some(ms)
                }
            }),
            (WindowFrameUnits::Rows, WindowFrameBound::CurrentRow) => Frame::Rows(Some(0)),
            (WindowFrameUnits::Range, WindowFrameBound::CurrentRow) => Frame::Range(Some(0)),
            _ => return Err(unsupported("an OVER window frame must be ROWS/RANGE BETWEEN … PRECEDING AND CURRENT ROW".into())),
        };
        let mut partition = Vec::new();
        for p in &partition_by {
            match p {
                Expr::Column(c) => partition.push(in_schema.index_of_column(c).map_err(|e| df_err(e, pos))?),
                other => return Err(unsupported(format!("PARTITION BY of an OVER window must list columns, not {}", show(other)))),
            }
        }
        let exchange = if partition.is_empty() { Exchange::Single } else { Exchange::Hash(partition.clone()) };
        let schema = arrow_schema(&w.schema);
        let name = format!(
            "{}(partitionBy=[{}], orderBy=[{} {}{}], window=[{}], select=[{}])",
            if updating { "UpdatingOverAggregate" } else { "OverAggregate" },
            partition.iter().map(|i| in_schema.field(*i).name().clone()).collect::<Vec<_>>().join(", "),
            in_schema.field(time_col).name(),
            if order.asc { "ASC" } else { "DESC" },
            match (updating, order.nulls_first) {
                (false, _) => "",
                (true, true) => " NULLS FIRST",
                (true, false) => " NULLS LAST",
            },
            match frame {
                Frame::Rows(Some(n)) => format!("ROWS BETWEEN {n} PRECEDING AND CURRENT ROW"),
                Frame::Rows(None) => "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".into(),
                Frame::Range(Some(ms)) => format!("RANGE BETWEEN {ms} ms PRECEDING AND CURRENT ROW"),
                Frame::Range(None) => "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".into(),
            },
            aggs.iter().map(|a| a.name().to_string()).collect::<Vec<_>>().join(", ")
        );
        let plan = OverAggregate { partition, time_col, descending: !order.asc, nulls_first: order.nulls_first, frame, aggs, updating };
        Ok(self.push(name, NodeKind::OverAggregate(Box::new(plan)), vec![Input { node: input, exchange }], schema))
    }
}
