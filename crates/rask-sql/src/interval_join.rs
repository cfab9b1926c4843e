//! Interval join planning: `l JOIN r ON l.k = r.k AND l.ts BETWEEN r.ts - INTERVAL … AND r.ts +
//! INTERVAL …` (or the same bounds written with `>=`, `>`, `<=`, `<`), both `ts` being rowtime
//! attributes. The operator keeps each side's rows until the watermark shows no row of the
//! other side can match them any more, joining every arriving row against the other side's
//! buffer (INNER, LEFT, RIGHT, FULL; unmatched rows are emitted NULL-padded when they expire).

use datafusion_expr::logical_plan::{Join, LogicalPlan};
use datafusion_expr::{Expr, Operator};
use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind};
use crate::translate::{arrow_schema, show, Translator};
use crate::window_join::WindowJoinType;
use crate::window_tvf::{interval_millis, TIME_ATTRIBUTE};

/// The interval join operator's plan: a left row at `tl` and a right row at `tr` with equal
/// keys join when `lower <= tl - tr <= upper` (milliseconds). Output = left then right columns.
#[derive(Debug, Clone)]
pub struct IntervalJoin {
    pub join_type: WindowJoinType,
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    pub left_time: usize,
    pub right_time: usize,
    pub lower: i64,
    pub upper: i64,
}

/// `col`, `col + INTERVAL`, `col - INTERVAL` → (column, offset ms).
fn time_plus(e: &Expr) -> Option<(&datafusion_common::Column, i64)> {
    match e {
        Expr::Column(c) => Some((c, 0)),
        Expr::Cast(c) => time_plus(&c.expr),
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Plus | Operator::Minus) => {
            let (c, off) = time_plus(&b.left)?;
            let Expr::Literal(v, _) = b.right.as_ref() else { return None };
            let ms = interval_millis(v)?;
            Some((c, if b.op == Operator::Plus { off + ms } else { off - ms }))
        }
        _ => None,
    }
}

fn rowtime_index(plan: &LogicalPlan, c: &datafusion_common::Column) -> Option<usize> {
    let i = plan.schema().index_of_column(c).ok()?;
    let f = plan.schema().field(i);
    (f.metadata().get(TIME_ATTRIBUTE).map(String::as_str) == Some("rowtime")).then_some(i)
}

/// Bounds on `tl - tr` from one comparison conjunct, with the time columns it uses.
fn bound(e: &Expr, j: &Join) -> Option<(usize, usize, Option<i64>, Option<i64>)> {
    let Expr::BinaryExpr(b) = e else { return None };
    let (a, ao) = time_plus(&b.left)?;
    let (c, co) = time_plus(&b.right)?;
    // Normalise to: tl + x  OP  tr + y.
    let (l, lo, r, ro, op) = if let (Some(l), Some(r)) = (rowtime_index(&j.left, a), rowtime_index(&j.right, c)) {
        (l, ao, r, co, b.op)
    } else if let (Some(l), Some(r)) = (rowtime_index(&j.left, c), rowtime_index(&j.right, a)) {
        (l, co, r, ao, b.op.swap()?)
    } else {
        return None;
    };
    // tl - tr OP y - x
    let d = ro - lo;
    let (lower, upper) = match op {
        Operator::GtEq => (Some(d), None),
        Operator::Gt => (Some(d + 1), None),
        Operator::LtEq => (None, Some(d)),
        Operator::Lt => (None, Some(d - 1)),
        _ => return None,
    };
    Some((l, r, lower, upper))
}

impl Translator {
    /// Plan `j` as an interval join if its condition bounds the inputs' rowtimes; `Ok(None)` if
    /// it has no such bounds.
    pub(crate) fn interval_join(&mut self, j: &Join, join_type: WindowJoinType, on: &[(Expr, Expr)], residual: Vec<Expr>, pos: Pos) -> Result<Option<NodeId>> {
        let mut conjuncts = Vec::new();
        for c in residual {
            match c {
                Expr::Between(b) if !b.negated => {
                    conjuncts.push(Expr::BinaryExpr(datafusion_expr::BinaryExpr::new(b.expr.clone(), Operator::GtEq, b.low.clone())));
                    conjuncts.push(Expr::BinaryExpr(datafusion_expr::BinaryExpr::new(b.expr.clone(), Operator::LtEq, b.high.clone())));
                }
                other => conjuncts.push(other),
            }
        }
        let (mut lower, mut upper, mut times) = (None::<i64>, None::<i64>, None);
        let mut rest = Vec::new();
        for c in conjuncts {
            match bound(&c, j) {
                Some((l, r, lo, up)) if times.is_none_or(|t| t == (l, r)) => {
                    times = Some((l, r));
                    if let Some(v) = lo {
                        lower = Some(lower.map_or(v, |x: i64| x.max(v)));
                    }
                    if let Some(v) = up {
                        upper = Some(upper.map_or(v, |x: i64| x.min(v)));
                    }
                }
                _ => rest.push(c),
            }
        }
        let (Some((left_time, right_time)), Some(lower), Some(upper)) = (times, lower, upper) else { return Ok(None) };
        let filter = datafusion_expr::utils::conjunction(rest);
        if filter.is_some() && join_type != WindowJoinType::Inner {
            return Err(SqlError::unsupported(pos, "a further non-equi condition in an outer interval join is not supported yet"));
        }
        let (mut left_keys, mut right_keys) = (Vec::new(), Vec::new());
        for (l, r) in on {
            let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else {
                return Err(SqlError::unsupported(pos, format!("interval join keys must be columns of the same type, not {} = {}", show(l), show(r))));
            };
            let (Ok(li), Ok(ri)) = (j.left.schema().index_of_column(lc), j.right.schema().index_of_column(rc)) else {
                return Err(SqlError::Internal(format!("join key {lc} = {rc} not found")));
            };
            left_keys.push(li);
            right_keys.push(ri);
        }
        let left = self.node(&j.left, pos)?;
        let right = self.node(&j.right, pos)?;
        let exchange = |keys: &Vec<usize>| if keys.is_empty() { Exchange::Single } else { Exchange::Hash(keys.clone()) };
        let schema = arrow_schema(&j.schema);
        let name = format!(
            "IntervalJoin(joinType=[{:?}], leftKeys=[{}], rightKeys=[{}], where=[{} - {} BETWEEN {lower} ms AND {upper} ms])",
            join_type,
            left_keys.iter().map(|i| j.left.schema().field(*i).name().clone()).collect::<Vec<_>>().join(", "),
            right_keys.iter().map(|i| j.right.schema().field(*i).name().clone()).collect::<Vec<_>>().join(", "),
            j.left.schema().field(left_time).name(),
            j.right.schema().field(right_time).name(),
        );
        let inputs = vec![Input { node: left, exchange: exchange(&left_keys) }, Input { node: right, exchange: exchange(&right_keys) }];
        let plan = IntervalJoin { join_type, left_keys, right_keys, left_time, right_time, lower, upper };
        let id = self.push(name, NodeKind::IntervalJoin(Box::new(plan)), inputs, schema.clone());
        Ok(Some(match &filter {
            Some(f) => {
                let p = self.physical(f, &j.schema, pos)?;
                self.calc(id, CalcStep::Filter(p), format!("where=[{}]", show(f)), schema)
            }
            None => id,
        }))
    }
}
