//! Regular join planning (Flink's `StreamingJoin`): `l [LEFT|RIGHT|FULL] JOIN r ON l.k = r.k
//! [AND cond]` with no window and no time bounds. Both inputs are kept in state per join key
//! (all of it: a regular join never forgets a row unless `table.exec.state.ttl` is set), each
//! arriving row joins the other side's rows at once, and a retraction retracts its joined rows.
//! Inputs may be changelogs; an outer join produces one even over append-only inputs (a
//! NULL-padded row is deleted when its first match arrives).
//!
//! Join keys that are expressions (DataFusion casts `INT = BIGINT` to a common type) are
//! computed by a Calc appended to the input, so that both sides hash equal keys alike.

use std::sync::Arc;

use datafusion_common::NullEquality;
use datafusion_expr::logical_plan::{Join, LogicalPlan};
use datafusion_expr::{Expr, ExprSchemable};
use datafusion_physical_expr::PhysicalExpr;
use rask_types::Pos;

use crate::error::Result;
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind};
use crate::translate::{arrow_schema, show, Translator};
use crate::window_join::WindowJoinType;

/// The join operator's plan. Output = the left input's first `left_width` columns, then the
/// right's first `right_width` (further input columns are computed join keys).
#[derive(Debug, Clone)]
pub struct RegularJoin {
    pub join_type: WindowJoinType,
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    pub left_width: usize,
    pub right_width: usize,
    /// NULL keys match each other (`IS NOT DISTINCT FROM`); with `=` they match nothing.
    pub nulls_equal: bool,
    /// The non-equi part of the condition, over the output row.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Which inputs carry updates (their rows are retracted by value).
    pub left_updating: bool,
    pub right_updating: bool,
}

impl RegularJoin {
    /// Whether unmatched rows of input `side` (0 = left) are emitted NULL-padded.
    pub fn outer(&self, side: usize) -> bool {
        match self.join_type {
            WindowJoinType::Full => true,
            WindowJoinType::Left => side == 0,
            WindowJoinType::Right => side == 1,
            WindowJoinType::Inner => false,
        }
    }
}

/// A join key as text; casts (DataFusion's type coercion of the two sides) are shown.
fn show_key(e: &Expr) -> String {
    match e {
        Expr::Cast(c) => format!("CAST({} AS {})", show_key(&c.expr), c.field.data_type()),
        Expr::TryCast(c) => format!("TRY_CAST({} AS {})", show_key(&c.expr), c.field.data_type()),
        _ => show(e),
    }
}

/// Whether `e` reads columns, all of them from `plan`'s output.
fn only_from(e: &Expr, plan: &LogicalPlan) -> bool {
    let cols = e.column_refs();
    !cols.is_empty() && cols.iter().all(|c| plan.schema().index_of_column(c).is_ok())
}

/// The equalities `on` (left expression, right expression) plus those among `residual`
/// between a left-only and a right-only expression (`CAST(l.k AS BIGINT) = r.k`), and what
/// is left of `residual`. With `constants`, `right column = literal` is a key too (a lookup
/// join looks constants up like any other key).
pub(crate) fn key_equalities(j: &Join, on: &[(Expr, Expr)], residual: Vec<Expr>, constants: bool) -> (Vec<(Expr, Expr)>, Vec<Expr>) {
    let mut on = on.to_vec();
    let mut rest = Vec::new();
    let literal = |e: &Expr| constants && matches!(e, Expr::Literal(..));
    for c in residual {
        if let Expr::BinaryExpr(b) = &c
            && b.op == datafusion_expr::Operator::Eq
        {
            let (l, r) = (b.left.as_ref(), b.right.as_ref());
            if (only_from(l, &j.left) || literal(l)) && only_from(r, &j.right) {
                on.push((l.clone(), r.clone()));
                continue;
            }
            if (only_from(r, &j.left) || literal(r)) && only_from(l, &j.right) {
                on.push((r.clone(), l.clone()));
                continue;
            }
        }
        rest.push(c);
    }
    (on, rest)
}

/// `schema` as Arrow, without time attributes from column `from` on: rows of a regular join,
/// or the looked-up side of a temporal join, are not ordered by them and no watermark
/// describes them (Flink materialises them).
pub(crate) fn without_time_attributes(schema: &datafusion_common::DFSchema, from: usize) -> arrow::datatypes::SchemaRef {
    let full = arrow_schema(schema);
    Arc::new(arrow::datatypes::Schema::new(
        full.fields()
            .iter()
            .enumerate()
            .map(|(i, f)| if i < from { f.clone() } else { Arc::new(crate::window_tvf::with_time_attribute(f, None)) })
            .collect::<Vec<_>>(),
    ))
}

pub(crate) fn join_type_name(t: WindowJoinType) -> &'static str {
    match t {
        WindowJoinType::Inner => "InnerJoin",
        WindowJoinType::Left => "LeftOuterJoin",
        WindowJoinType::Right => "RightOuterJoin",
        WindowJoinType::Full => "FullOuterJoin",
    }
}

impl Translator {
    /// Plan `j` as a regular join on the equalities `on` (left expression, right expression)
    /// and the further conditions `residual`.
    pub(crate) fn regular_join(&mut self, j: &Join, join_type: WindowJoinType, on: &[(Expr, Expr)], residual: Vec<Expr>, pos: Pos) -> Result<NodeId> {
        let (on, residual) = key_equalities(j, on, residual, false);
        let on = on.as_slice();
        let left = self.node(&j.left, pos)?;
        let right = self.node(&j.right, pos)?;
        let (left, left_keys, left_width) = self.key_columns(left, &j.left, on.iter().map(|(l, _)| l), pos)?;
        let (right, right_keys, right_width) = self.key_columns(right, &j.right, on.iter().map(|(_, r)| r), pos)?;
        let filter_expr = datafusion_expr::utils::conjunction(residual);
        let filter = filter_expr.as_ref().map(|f| self.physical(f, &j.schema, pos)).transpose()?;
        // A regular join's output has no time attributes (Flink materialises them): its rows
        // are not ordered by them and no watermark describes them.
        let schema = without_time_attributes(&j.schema, 0);
        let exchange = |keys: &Vec<usize>| if keys.is_empty() { Exchange::Single } else { Exchange::Hash(keys.clone()) };
        let mut cond: Vec<String> = on.iter().map(|(l, r)| format!("({} = {})", show_key(l), show_key(r))).collect();
        if let Some(f) = &filter_expr {
            cond.push(show(f));
        }
        let spec = |updating: bool| if updating { "Changelog" } else { "AppendOnly" };
        let (left_updating, right_updating) = (self.updates_from(left).is_some(), self.updates_from(right).is_some());
        let name = format!(
            "Join(joinType=[{}], where=[{}], leftInputSpec=[{}], rightInputSpec=[{}])",
            join_type_name(join_type),
            cond.join(" AND "),
            spec(left_updating),
            spec(right_updating)
        );
        let inputs = vec![Input { node: left, exchange: exchange(&left_keys) }, Input { node: right, exchange: exchange(&right_keys) }];
        let plan = RegularJoin {
            join_type,
            left_keys,
            right_keys,
            left_width,
            right_width,
            nulls_equal: j.null_equality == NullEquality::NullEqualsNull,
            filter,
            left_updating,
            right_updating,
        };
        Ok(self.push(name, NodeKind::Join(Box::new(plan)), inputs, schema))
    }

    /// The input columns holding the join keys `exprs` of one side: plain columns are used as
    /// they are; otherwise a Calc appends the computed keys to the input's columns. Returns
    /// the (possibly new) input, the key columns and the input's own width.
    pub(crate) fn key_columns<'a>(&mut self, node: NodeId, plan: &LogicalPlan, exprs: impl Iterator<Item = &'a Expr>, pos: Pos) -> Result<(NodeId, Vec<usize>, usize)> {
        let schema = plan.schema();
        let width = schema.fields().len();
        let exprs: Vec<&Expr> = exprs.collect();
        let direct: Option<Vec<usize>> = exprs
            .iter()
            .map(|e| match e {
                Expr::Column(c) => schema.index_of_column(c).ok(),
                _ => None,
            })
            .collect();
        if let Some(keys) = direct {
            return Ok((node, keys, width));
        }
        let mut physical: Vec<Arc<dyn PhysicalExpr>> = Vec::with_capacity(width + exprs.len());
        let mut fields: Vec<arrow::datatypes::FieldRef> = schema.fields().iter().cloned().collect();
        for i in 0..width {
            physical.push(Arc::new(datafusion_physical_expr::expressions::Column::new(schema.field(i).name(), i)));
        }
        let mut keys = Vec::with_capacity(exprs.len());
        for (k, e) in exprs.iter().enumerate() {
            physical.push(self.physical(e, schema, pos)?);
            let (_, field) = e.to_field(schema.as_ref()).map_err(|err| crate::session::df_err(err, pos))?;
            fields.push(Arc::new(arrow::datatypes::Field::new(format!("$join_key{k}"), field.data_type().clone(), field.is_nullable())));
            keys.push(width + k);
        }
        let out = Arc::new(arrow::datatypes::Schema::new(fields));
        let desc = format!("select=[*, {}]", exprs.iter().map(|e| show_key(e)).collect::<Vec<_>>().join(", "));
        Ok((self.calc(node, CalcStep::Project(physical, out.clone()), desc, out), keys, width))
    }
}
