//! Rewrites of the parsed query before DataFusion plans it, so that it follows Flink's rules:
//! an unaliased select expression that is not a plain column is named `EXPR$<position>`, as
//! Calcite does (DataFusion would otherwise derive clashing names such as `CAST(ts AS DATE)` → `ts`).

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query, SelectItem, SetExpr, Value, VisitMut,
    VisitorMut,
};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::parser::Parser;

#[derive(Default)]
struct FlinkNames {
    /// The first rewrite that failed (the query cannot be planned as written).
    error: Option<String>,
}

fn name_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(sel) => {
            for (i, item) in sel.projection.iter_mut().enumerate() {
                // `row_col.field` (and `t.col`) is named after its last part, as in Calcite.
                if let SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) = item
                    && parts.len() >= 2
                    && let Some(last) = parts.last().cloned()
                {
                    let expr = Expr::CompoundIdentifier(std::mem::take(parts));
                    *item = SelectItem::ExprWithAlias { expr, alias: last };
                    continue;
                }
                if let SelectItem::UnnamedExpr(e) = item
                    && !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                        let expr = std::mem::replace(e, Expr::Identifier(Ident::new("")));
                        *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('`', format!("EXPR${i}")) };
                    }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_set_expr(left);
            name_set_expr(right);
        }
        SetExpr::Query(q) => name_set_expr(&mut q.body),
        _ => {}
    }
}

fn unit_name(f: &DateTimeField) -> Option<&'static str> {
    Some(match f {
        DateTimeField::Year | DateTimeField::Years => "year",
        DateTimeField::Quarter => "quarter",
        DateTimeField::Month | DateTimeField::Months => "month",
        DateTimeField::Week(_) | DateTimeField::Weeks => "week",
        DateTimeField::Day | DateTimeField::Days => "day",
        DateTimeField::Hour | DateTimeField::Hours => "hour",
        DateTimeField::Minute | DateTimeField::Minutes => "minute",
        DateTimeField::Second | DateTimeField::Seconds => "second",
        DateTimeField::Millisecond | DateTimeField::Milliseconds => "millisecond",
        _ => return None,
    })
}

fn parse_expr(text: &str) -> Option<Expr> {
    Parser::new(&GenericDialect {}).try_with_sql(text).ok()?.parse_expr().ok()
}

impl VisitorMut for FlinkNames {
    type Break = ();
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        name_set_expr(&mut q.body);
        if let Err(e) = legacy_windows(&mut q.body) {
            self.error.get_or_insert(e);
        }
        ControlFlow::Continue(())
    }

    /// `FLOOR(ts TO unit)` → `date_trunc`; `CEIL(ts TO unit)` → the next unit boundary.
    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let replacement = match e {
            Expr::Floor { expr, field: CeilFloorKind::DateTimeField(f) } => unit_name(f).and_then(|u| parse_expr(&format!("date_trunc('{u}', {expr})"))),
            Expr::Ceil { expr, field: CeilFloorKind::DateTimeField(f) } => unit_name(f).and_then(|u| {
                let unit = if u == "quarter" { "3 month".to_string() } else { format!("1 {u}") };
                parse_expr(&format!(
                    "CASE WHEN date_trunc('{u}', {expr}) = {expr} THEN {expr} ELSE date_trunc('{u}', {expr}) + INTERVAL '{unit}' END"
                ))
            }),
            // An approximate literal (with an exponent, `1.5e10`) is a DOUBLE in Flink, while
            // exact literals (`12.5`) are DECIMAL.
            Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.contains(['e', 'E'])) => match &v.value {
                Value::Number(n, _) => parse_expr(&format!("CAST('{n}' AS DOUBLE)")),
                _ => None,
            },
            // n * INTERVAL '1' SECOND → __rask_interval_mul(INTERVAL '1' SECOND, n)
            Expr::BinaryOp { left, op: BinaryOperator::Multiply, right }
                if matches!(**left, Expr::Interval(_)) || matches!(**right, Expr::Interval(_)) =>
            {
                let (iv, k) = if matches!(**left, Expr::Interval(_)) { (left, right) } else { (right, left) };
                parse_expr(&format!("__rask_interval_mul({iv}, {k})"))
            }
            // IF(c, a, b) → CASE WHEN c THEN a ELSE b END: only the chosen branch is evaluated
            // (IF(x <> 0, 1 / x, 0) must not fail on x = 0).
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("if") => match &f.args {
                FunctionArguments::List(list) if list.args.len() == 3 => {
                    let a: Vec<String> = list.args.iter().map(|a| a.to_string()).collect();
                    parse_expr(&format!("CASE WHEN {} THEN {} ELSE {} END", a[0], a[1], a[2]))
                }
                _ => None,
            },
            // TIMESTAMPADD(SECOND, n, ts) / TIMESTAMPDIFF(DAY, a, b): the unit keyword becomes a literal.
            Expr::Function(f)
                if f.name.to_string().eq_ignore_ascii_case("timestampadd") || f.name.to_string().eq_ignore_ascii_case("timestampdiff") =>
            {
                if let FunctionArguments::List(list) = &mut f.args
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(id)))) = list.args.first_mut() {
                        let unit = id.value.to_ascii_uppercase();
                        list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(Value::SingleQuotedString(unit).into())));
                    }
                None
            }
            // LISTAGG(x [, sep]) → STRING_AGG(x, sep), Flink's default separator being ','.
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("listagg") => {
                if let FunctionArguments::List(list) = &mut f.args {
                    if list.args.len() == 1 {
                        list.args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(Value::SingleQuotedString(",".into()).into()))));
                    }
                    f.name = datafusion_sql::sqlparser::ast::ObjectName::from(vec![Ident::new("string_agg")]);
                }
                None
            }
            _ => None,
        };
        if let Some(r) = replacement {
            *e = r;
        }
        ControlFlow::Continue(())
    }
}

/// Apply Flink's naming and rewrites to every (sub)query.
pub fn flink_names(q: &mut Query) -> Result<(), String> {
    let mut v = FlinkNames::default();
    let _ = q.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

/// Apply the expression rewrites to a standalone expression (computed columns, watermarks).
pub fn flink_expr(e: &mut Expr) {
    let _ = e.visit(&mut FlinkNames::default());
}

/// The legacy group window functions: `GROUP BY TUMBLE(ts, size)`, `HOP(ts, slide, size)`,
/// `SESSION(ts, gap)`, with `TUMBLE_START(…)`/`_END`/`_ROWTIME` (and the HOP_/SESSION_
/// equivalents) in the select list.
fn legacy_kind(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_uppercase().as_str() {
        "TUMBLE" => "tumble",
        "HOP" => "hop",
        "SESSION" => "session",
        _ => return None,
    })
}

fn function_args(f: &datafusion_sql::sqlparser::ast::Function) -> Vec<String> {
    match &f.args {
        FunctionArguments::List(l) => l.args.iter().map(|a| a.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// `SELECT … FROM t GROUP BY TUMBLE(ts, i), k` → `SELECT … FROM TABLE(TUMBLE(TABLE t,
/// DESCRIPTOR(ts), i)) GROUP BY window_start, window_end, k`, the auxiliary functions becoming
/// `window_start`, `window_end` and `window_time` (as Flink's planner does).
fn legacy_windows(body: &mut SetExpr) -> Result<(), String> {
    use datafusion_sql::sqlparser::ast::{GroupByExpr, TableFactor};
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            legacy_windows(left)?;
            return legacy_windows(right);
        }
        SetExpr::Query(q) => return legacy_windows(&mut q.body),
        _ => {}
    }
    let SetExpr::Select(sel) = body else { return Ok(()) };
    let GroupByExpr::Expressions(groups, _) = &mut sel.group_by else { return Ok(()) };
    let Some(at) = groups.iter().position(|g| matches!(g, Expr::Function(f) if legacy_kind(&f.name.to_string()).is_some())) else {
        return Ok(());
    };
    let Expr::Function(f) = &groups[at] else { return Ok(()) };
    let fname = f.name.to_string().to_ascii_uppercase();
    let kind = legacy_kind(&fname).unwrap_or("tumble");
    let args = function_args(f);
    if args.len() < 2 {
        return Err(format!("{fname}(time_attr, interval…) in GROUP BY needs a time attribute and its intervals"));
    }
    // `ts` or `alias.ts`: the column name (the window reads the one table in FROM).
    let column_name = |e: &Expr| match e {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()).unwrap_or_default(),
        other => other.to_string(),
    };
    let time_col = match &f.args {
        FunctionArguments::List(l) => match l.args.first() {
            Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) => Some(column_name(e)),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| args[0].trim_matches('`').to_string());
    let [from] = sel.from.as_mut_slice() else {
        return Err(format!("a GROUP BY {fname}(…) window needs exactly one table in FROM"));
    };
    if !from.joins.is_empty() {
        return Err(format!("a GROUP BY {fname}(…) window over a join is not supported; window each input first"));
    }
    let TableFactor::Table { name, alias, args: None, .. } = &from.relation else {
        return Err(format!("a GROUP BY {fname}(…) window needs a table or view name in FROM (not a subquery)"));
    };
    let table = name.to_string();
    let mut call = format!("__rask_window_{kind}('{table}', '{time_col}', {}", args[1..].join(", "));
    groups.remove(at);
    if kind == "session" {
        let keys: Vec<String> = groups.iter().map(column_name).collect();
        call.push_str(&format!(", '{}'", keys.join(",")));
    }
    call.push(')');
    let alias_text = alias.as_ref().map(|a| format!(" AS {}", a.name)).unwrap_or_default();
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(&format!("SELECT * FROM {call}{alias_text}"))
        .and_then(|mut p| p.parse_query())
        .map_err(|e| format!("{fname}: {e}"))?;
    let SetExpr::Select(tvf) = *parsed.body else { return Err(format!("{fname}: internal rewrite error")) };
    let Some(rel) = tvf.from.into_iter().next() else { return Err(format!("{fname}: internal rewrite error")) };
    from.relation = rel.relation;
    groups.insert(at, Expr::Identifier(Ident::new("window_time")));
    groups.insert(at, Expr::Identifier(Ident::new("window_end")));
    groups.insert(at, Expr::Identifier(Ident::new("window_start")));
    // Auxiliary functions → window columns.
    struct Aux;
    impl VisitorMut for Aux {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                let n = f.name.to_string().to_ascii_uppercase();
                let col = ["TUMBLE_", "HOP_", "SESSION_"].iter().find_map(|p| n.strip_prefix(p)).and_then(|rest| match rest {
                    "START" => Some("window_start"),
                    "END" => Some("window_end"),
                    "ROWTIME" | "PROCTIME" => Some("window_time"),
                    _ => None,
                });
                if let Some(c) = col {
                    *e = Expr::Identifier(Ident::new(c));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = sel.projection.visit(&mut Aux);
    if let Some(h) = sel.having.as_mut() {
        let _ = h.visit(&mut Aux);
    }
    Ok(())
}
