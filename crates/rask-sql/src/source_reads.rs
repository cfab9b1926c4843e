//! Projection push-down into sources, nested fields included (Flink's
//! `SupportsProjectionPushDown` with a projectable format): which columns of each source, and
//! which fields of its ROW columns, the operators above it read. Computed once the plan is
//! complete, from the sinks back to the sources: a Calc, a watermark assigner, a UNION and a
//! window assigner pass on exactly what their expressions read; every other operator reads its
//! whole input. A format may then skip decoding the rest (it reads as NULL, which nothing sees).

use std::sync::Arc;

use arrow::datatypes::Schema;
use datafusion_common::ScalarValue;
use datafusion_physical_expr::expressions::{Column, Literal};
use datafusion_physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use rask_types::ColumnUse;

use crate::plan::{CalcStep, NodeKind, PlanNode};

/// Set each source node's `read` to what the plan reads of it.
pub(crate) fn push_down(nodes: &mut [PlanNode]) {
    let mut uses: Vec<Vec<ColumnUse>> = nodes.iter().map(|n| vec![ColumnUse::Unused; n.schema.fields().len()]).collect();
    // Nodes are in topological order: every user of a node comes after it.
    for id in (0..nodes.len()).rev() {
        let n = &nodes[id];
        let reads = input_reads(n, &uses[id], nodes);
        for (input, read) in n.inputs.iter().zip(reads) {
            for (acc, r) in uses[input.node].iter_mut().zip(&read) {
                acc.merge(r);
            }
        }
    }
    for (n, used) in nodes.iter_mut().zip(uses) {
        if let NodeKind::Source { read, .. } = &mut n.kind {
            *read = used;
        }
    }
}

/// What node `n` reads of each of its inputs when `out` of its output is read.
fn input_reads(n: &PlanNode, out: &[ColumnUse], nodes: &[PlanNode]) -> Vec<Vec<ColumnUse>> {
    let schema_of = |i: usize| nodes[n.inputs[i].node].schema.clone();
    let whole = |i: usize| vec![ColumnUse::Whole; schema_of(i).fields().len()];
    match &n.kind {
        NodeKind::Calc { steps } if n.inputs.len() == 1 => {
            // The schema before each step.
            let mut schemas = vec![schema_of(0)];
            for s in steps {
                let next = match s {
                    CalcStep::Project(_, schema) => schema.clone(),
                    CalcStep::Filter(_) => schemas[schemas.len() - 1].clone(),
                };
                schemas.push(next);
            }
            let mut cur = out.to_vec();
            for (step, before) in steps.iter().zip(&schemas).rev() {
                match step {
                    CalcStep::Filter(e) => expr_reads(e, &ColumnUse::Whole, &mut cur, before),
                    CalcStep::Project(exprs, _) => {
                        let mut prev = vec![ColumnUse::Unused; before.fields().len()];
                        for (e, u) in exprs.iter().zip(&cur) {
                            expr_reads(e, u, &mut prev, before);
                        }
                        cur = prev;
                    }
                }
            }
            vec![cur]
        }
        NodeKind::Watermark { rowtime, expr } if n.inputs.len() == 1 => {
            let mut cur = out.to_vec();
            if let Some(r) = cur.get_mut(*rowtime) {
                *r = ColumnUse::Whole;
            }
            expr_reads(expr, &ColumnUse::Whole, &mut cur, &schema_of(0));
            vec![cur]
        }
        NodeKind::Union => (0..n.inputs.len()).map(|_| out.to_vec()).collect(),
        NodeKind::WindowAssign { time_col, .. } if n.inputs.len() == 1 => {
            // The window columns are appended to the input's.
            let width = schema_of(0).fields().len();
            let mut cur: Vec<ColumnUse> = out.iter().take(width).cloned().collect();
            cur.resize(width, ColumnUse::Unused);
            if let Some(t) = cur.get_mut(*time_col) {
                *t = ColumnUse::Whole;
            }
            vec![cur]
        }
        _ => (0..n.inputs.len()).map(whole).collect(),
    }
}

/// Add to `acc` (one entry per column of `schema`) what evaluating `e` reads when `u` of its
/// value is read.
fn expr_reads(e: &Arc<dyn PhysicalExpr>, u: &ColumnUse, acc: &mut [ColumnUse], schema: &Schema) {
    if !u.is_used() {
        return;
    }
    let mut path = Vec::new();
    if let Some(col) = access(e.as_ref(), &mut path) {
        if let Some(slot) = acc.get_mut(col) {
            slot.merge(&ColumnUse::of_path(schema.field(col).data_type(), &path, u));
        }
        return;
    }
    for child in e.children() {
        expr_reads(child, &ColumnUse::Whole, acc, schema);
    }
}

/// `e` as a column or a chain of ROW field accesses on one (`get_field(get_field(c, 'a'),
/// 'b')`): the column, with the field names pushed onto `path` outermost first.
fn access<'e>(e: &'e dyn PhysicalExpr, path: &mut Vec<&'e str>) -> Option<usize> {
    if let Some(c) = e.downcast_ref::<Column>() {
        return Some(c.index());
    }
    let f = e.downcast_ref::<ScalarFunctionExpr>().filter(|f| f.name() == "get_field")?;
    let [inner, name] = f.args() else { return None };
    let name = match name.downcast_ref::<Literal>()?.value() {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.as_str(),
        _ => return None,
    };
    let col = access(inner.as_ref(), path)?;
    path.push(name);
    Some(col)
}
