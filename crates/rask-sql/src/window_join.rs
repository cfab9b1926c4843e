//! Window join planning: two inputs windowed the same way (window TVFs or window aggregations)
//! joined `ON l.window_start = r.window_start AND l.window_end = r.window_end AND l.k = r.k`
//! (INNER, LEFT, RIGHT, FULL). The operator buffers each window's rows of both sides and joins
//! them when the watermark passes the window's end, emitting each result once.

use datafusion_expr::logical_plan::{Join, JoinType, LogicalPlan};
use datafusion_expr::Expr;
use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind};
use crate::translate::{arrow_schema, show, Translator};
use crate::window_agg::WindowColumn;
use crate::window_rank::{bare_column, window_columns};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowJoinType {
    Inner,
    Left,
    Right,
    Full,
}

/// The window join operator's plan; output = left columns then right columns.
#[derive(Debug, Clone)]
pub struct WindowJoin {
    pub join_type: WindowJoinType,
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    /// The `window_end` column of each side.
    pub left_end: usize,
    pub right_end: usize,
    /// The clock of both sides' window bounds (see [`crate::window_tvf::WindowClock`]).
    pub clock: crate::window_tvf::WindowClock,
}

fn column_index(e: &Expr, plan: &LogicalPlan) -> Option<usize> {
    bare_column(e, plan.schema())
}

impl Translator {
    pub(crate) fn join(&mut self, j: &Join, pos: Pos) -> Result<NodeId> {
        let join_type = match j.join_type {
            JoinType::Inner => WindowJoinType::Inner,
            JoinType::Left => WindowJoinType::Left,
            JoinType::Right => WindowJoinType::Right,
            JoinType::Full => WindowJoinType::Full,
            other => return Err(SqlError::unsupported(pos, format!("{other} joins are not supported in a streaming job"))),
        };
        // Equalities between a left and a right column in the filter are join keys too (the
        // SQL planner leaves `ON a = b AND …` in the filter).
        let mut on: Vec<(Expr, Expr)> = j.on.clone();
        let mut residual: Vec<Expr> = Vec::new();
        if let Some(f) = &j.filter {
            for c in datafusion_expr::utils::split_conjunction(f) {
                if let Expr::BinaryExpr(b) = c
                    && b.op == datafusion_expr::Operator::Eq
                {
                    match (column_index(&b.left, &j.left), column_index(&b.right, &j.right), column_index(&b.left, &j.right), column_index(&b.right, &j.left)) {
                        (Some(_), Some(_), _, _) => {
                            on.push((b.left.as_ref().clone(), b.right.as_ref().clone()));
                            continue;
                        }
                        (_, _, Some(_), Some(_)) => {
                            on.push((b.right.as_ref().clone(), b.left.as_ref().clone()));
                            continue;
                        }
                        _ => {}
                    }
                }
                residual.push(c.clone());
            }
        }
        if let Some(time) = crate::lookup_join::temporal_marker(&j.right) {
            return self.temporal_join(j, join_type, &on, residual, &time, pos);
        }
        if crate::lookup_join::temporal_marker(&j.left).is_some() {
            return Err(SqlError::validation(pos, "FOR SYSTEM_TIME AS OF: the temporal table must be the right side of the join"));
        }
        let (Some(lw), Some(rw)) = (window_columns(&j.left), window_columns(&j.right)) else {
            if let Some(id) = self.interval_join(j, join_type, &on, residual.clone(), pos)? {
                return Ok(id);
            }
            return self.regular_join(j, join_type, &on, residual, pos);
        };
        let filter = datafusion_expr::utils::conjunction(residual);
        let (mut start, mut end) = (false, None);
        let (mut left_keys, mut right_keys) = (Vec::new(), Vec::new());
        for (l, r) in &on {
            let (Some(li), Some(ri)) = (column_index(l, &j.left), column_index(r, &j.right)) else {
                return Err(SqlError::unsupported(pos, format!("window join keys must be columns of the same type, not {} = {}", show(l), show(r))));
            };
            match (lw[li], rw[ri]) {
                (Some(WindowColumn::Start), Some(WindowColumn::Start)) => start = true,
                (Some(WindowColumn::End), Some(WindowColumn::End)) => end = Some((li, ri)),
                (None, None) => {
                    left_keys.push(li);
                    right_keys.push(ri);
                }
                _ => {
                    return Err(SqlError::unsupported(pos, format!("a window join compares window_start with window_start and window_end with window_end, not {} = {}", show(l), show(r))));
                }
            }
        }
        let (true, Some((left_end, right_end))) = (start, end) else {
            return Err(SqlError::validation(
                pos,
                "a window join's ON clause must contain l.window_start = r.window_start AND l.window_end = r.window_end",
            ));
        };
        if filter.is_some() && join_type != WindowJoinType::Inner {
            return Err(SqlError::unsupported(pos, "a non-equi condition in an outer window join is not supported yet"));
        }
        let clock_of = |p: &LogicalPlan| crate::window_rank::window_source(p).map(|t| t.spec.clock).unwrap_or_default();
        let clock = clock_of(&j.left);
        if clock != clock_of(&j.right) {
            return Err(SqlError::validation(pos, "a window join's inputs must be windows in the same time zone: both on TIMESTAMP or both on TIMESTAMP_LTZ time attributes"));
        }
        let left = self.node(&j.left, pos)?;
        let right = self.node(&j.right, pos)?;
        let exchange = |keys: &Vec<usize>| if keys.is_empty() { Exchange::Single } else { Exchange::Hash(keys.clone()) };
        let schema = arrow_schema(&j.schema);
        let names = |p: &LogicalPlan, k: &[usize]| k.iter().map(|i| p.schema().field(*i).name().clone()).collect::<Vec<_>>().join(", ");
        let name = format!(
            "WindowJoin(joinType=[{}], leftKeys=[{}], rightKeys=[{}])",
            match join_type {
                WindowJoinType::Inner => "InnerJoin",
                WindowJoinType::Left => "LeftOuterJoin",
                WindowJoinType::Right => "RightOuterJoin",
                WindowJoinType::Full => "FullOuterJoin",
            },
            names(&j.left, &left_keys),
            names(&j.right, &right_keys)
        );
        let inputs = vec![Input { node: left, exchange: exchange(&left_keys) }, Input { node: right, exchange: exchange(&right_keys) }];
        let plan = WindowJoin { join_type, left_keys, right_keys, left_end, right_end, clock };
        let id = self.push(name, NodeKind::WindowJoin(Box::new(plan)), inputs, schema.clone());
        match &filter {
            Some(f) => {
                let p = self.physical(f, &j.schema, pos)?;
                Ok(self.calc(id, CalcStep::Filter(p), format!("where=[{}]", show(f)), schema))
            }
            None => Ok(id),
        }
    }
}
