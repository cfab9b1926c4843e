//! A SQL session: the catalog, `SET` options and functions, and the statement executor that
//! turns DDL into catalog changes and DML into [`StreamPlan`]s.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion_common::{Column as DfColumn, DFSchema, DataFusionError, TableReference};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::logical_plan::{Extension, LogicalPlan, LogicalPlanBuilder};
use datafusion_expr::{cast, lit, Expr, ExprSchemable, TableSource};
use datafusion_optimizer::Analyzer;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_sql::planner::{PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::ast::{Query, Statement};
use rask_types::options::Options;
use rask_types::types::{FlinkType, FlinkTypeN};
use rask_types::Pos;

use crate::catalog::{Catalog, CatalogEntry, Column, ColumnSpec, ConnectorCatalog, FunctionDef, TableDef, ViewDef, Watermark};
use rask_functions::python::{PythonEnv, PythonScalarFunction};
use crate::context::{object_name, Ctx, InlinedSource, PhysicalScan};
use crate::error::{Result, SqlError};
use crate::functions::FunctionSet;
use crate::parser::{insert_parts, ColumnKind, CreateTable, FlinkStatement, Located};
use crate::plan::StreamPlan;
use crate::translate::Translator;
use crate::watermark_node::WatermarkAssigner;

/// What executing one statement produced.
#[derive(Debug)]
pub enum Outcome {
    /// DDL or SET: a message for the user.
    Done(String),
    /// SHOW / DESCRIBE / SET (list): a table.
    Rows { header: Vec<String>, rows: Vec<Vec<String>> },
    /// EXPLAIN: the plan text.
    Explain(String),
    /// INSERT, statement set or SELECT: a job to run.
    Job(StreamPlan),
}

/// Session options with their defaults (Flink's keys).
const KNOWN_OPTIONS: &[(&str, &str)] = &[
    ("parallelism.default", "1"),
    ("pipeline.max-parallelism", "32768"),
    ("pipeline.name", ""),
    ("table.local-time-zone", "UTC"),
    ("table.exec.source.idle-timeout", "0 ms"),
    ("table.exec.state.ttl", "0 ms"),
    ("table.exec.sink.keyed-shuffle", "AUTO"),
    ("execution.runtime-mode", "streaming"),
    ("execution.checkpointing.interval", ""),
    ("sql-client.execution.result-mode", "tableau"),
];

pub struct Session {
    pub catalog: Catalog,
    config: BTreeMap<String, String>,
    functions: FunctionSet,
    connectors: Arc<dyn ConnectorCatalog>,
    /// User-defined functions loaded so far, by definition and Python environment (a worker
    /// started to describe a function serves the job's first evaluations).
    loaded_functions: std::sync::Mutex<std::collections::HashMap<(FunctionDef, PythonEnv), Arc<datafusion_expr::ScalarUDF>>>,
}

/// The database of `[catalog.]db` (only Flink's `default_catalog` exists).
fn database_name(name: &str, pos: Pos) -> Result<String> {
    match name.split_once('.') {
        None => Ok(name.to_string()),
        Some((c, db)) if c == crate::catalog::DEFAULT_CATALOG && !db.contains('.') => Ok(db.to_string()),
        Some(_) => Err(SqlError::validation(pos, format!("'{name}': a database is [catalog.]name, and the only catalog is '{}'", crate::catalog::DEFAULT_CATALOG))),
    }
}

/// A user-defined function's planning error ("Python function f …", raised where DataFusion
/// keeps no position) moved to the first call of `f` in `stmts`.
fn at_function_call<V: datafusion_sql::sqlparser::ast::Visit>(e: SqlError, stmts: &[V]) -> SqlError {
    use datafusion_sql::sqlparser::ast::{visit_expressions, Expr as SqlExpr, Spanned};
    use std::ops::ControlFlow;
    let SqlError::Validation { message, .. } = &e else { return e };
    let Some(name) = message.strip_prefix("Python function ").and_then(|m| m.split(' ').next()) else { return e };
    for st in stmts {
        let found = visit_expressions(st, |x: &SqlExpr| match x {
            SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case(name) => ControlFlow::Break(f.name.span().start),
            _ => ControlFlow::Continue(()),
        });
        if let ControlFlow::Break(at) = found
            && at.line > 0
        {
            return SqlError::validation(Pos::new(at.line, at.column), message.clone());
        }
    }
    e
}

/// DataFusion error → our error, with the position DataFusion's diagnostic gives if any.
pub(crate) fn df_err(e: DataFusionError, fallback: Pos) -> SqlError {
    let pos = e
        .diagnostic()
        .and_then(|d| d.span)
        .map(|s| Pos::new(s.start.line, s.start.column))
        .filter(|p| !p.is_unknown())
        .unwrap_or(fallback);
    let msg = e.strip_backtrace();
    let msg = msg
        .strip_prefix("Error during planning: ")
        .or_else(|| msg.strip_prefix("Schema error: "))
        .or_else(|| msg.strip_prefix("This feature is not implemented: "))
        .unwrap_or(&msg)
        .to_string();
    match e {
        DataFusionError::NotImplemented(_) => SqlError::unsupported(pos, msg),
        DataFusionError::Internal(_) => SqlError::Internal(msg),
        _ => SqlError::validation(pos, msg),
    }
}

impl Session {
    pub fn new(connectors: Arc<dyn ConnectorCatalog>) -> Self {
        Session {
            catalog: Catalog::default(),
            config: BTreeMap::new(),
            functions: FunctionSet::flink(),
            connectors,
            loaded_functions: Default::default(),
        }
    }

    pub fn functions(&self) -> &FunctionSet {
        &self.functions
    }

    /// The scalar function `name` as a statement sees it, in Flink's order: temporary system
    /// functions, built-in functions, then the catalog's functions. A user-defined function
    /// is loaded here; if it cannot be, the result is a function whose planning fails with
    /// the reason (so that the statement using it reports it).
    pub fn scalar_function(&self, name: &str) -> Option<Arc<datafusion_expr::ScalarUDF>> {
        if let Some(def) = self.catalog.system_function(name) {
            return Some(self.load_function(def));
        }
        if let Some(f) = self.functions.scalar(name) {
            return Some(f);
        }
        self.catalog.function(name).map(|def| self.load_function(def))
    }

    fn load_function(&self, def: &FunctionDef) -> Arc<datafusion_expr::ScalarUDF> {
        let unresolved = |message: String| Arc::new(datafusion_expr::ScalarUDF::new_from_impl(crate::functions::Unresolved::new(&def.name, message)));
        let env = match PythonEnv::from_config(|k| self.option(k)) {
            Ok(env) => env,
            Err(e) => return unresolved(e),
        };
        let key = (def.clone(), env.clone());
        let mut loaded = self.loaded_functions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = loaded.get(&key) {
            return f.clone();
        }
        let types = |t: &str| crate::parser::parse_type_str(t).map(|t| (t.ty.to_arrow(), t.nullable)).map_err(|e| e.to_string());
        match PythonScalarFunction::load(&def.name, &def.identifier, env, types) {
            Ok(f) => {
                let f = Arc::new(datafusion_expr::ScalarUDF::new_from_impl(f));
                loaded.insert(key, f.clone());
                f
            }
            Err(e) => unresolved(format!("Python function {} ('{}') cannot be loaded: {e}", def.name, def.identifier)),
        }
    }

    /// The value of a session option (set or default).
    pub fn option(&self, key: &str) -> Option<String> {
        self.config
            .get(key)
            .cloned()
            .or_else(|| KNOWN_OPTIONS.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    pub fn set_option(&mut self, key: &str, value: &str) {
        self.config.insert(key.to_string(), value.to_string());
    }

    pub fn options(&self) -> Options {
        let mut m: BTreeMap<String, String> = KNOWN_OPTIONS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        m.extend(self.config.clone());
        Options::new(m)
    }

    /// Parse and execute a whole script, collecting every statement's outcome.
    pub fn execute_script(&mut self, sql: &str) -> Result<Vec<(Located, Outcome)>> {
        let stmts = crate::parser::parse_script(sql)?;
        let mut out = Vec::new();
        for s in stmts {
            let o = self.execute(&s)?;
            out.push((s, o));
        }
        Ok(out)
    }

    pub fn execute(&mut self, s: &Located) -> Result<Outcome> {
        match &s.stmt {
            FlinkStatement::CreateTable(ct) => self.create_table(ct),
            FlinkStatement::CreateView(v) => {
                if self.catalog.get(&v.name).is_some() {
                    if v.if_not_exists {
                        return Ok(Outcome::Done(format!("View '{}' already exists; skipped.", v.name)));
                    }
                    return Err(SqlError::validation(s.pos, format!("a table or view named '{}' already exists", v.name)));
                }
                self.catalog.database_of(&v.name).map_err(|m| SqlError::validation(s.pos, m))?;
                let view = ViewDef { name: v.name.clone(), columns: v.columns.clone(), query: (*v.query).clone() };
                // Plan it now so errors show at CREATE VIEW, not at first use.
                let ctx = Ctx::new(self);
                self.view_plan(&ctx, &view, s.pos)?;
                self.catalog.insert(v.name.clone(), CatalogEntry::View(Arc::new(view)));
                Ok(Outcome::Done(format!("View '{}' created.", v.name)))
            }
            FlinkStatement::Drop { name, if_exists, view } => {
                let kind = if *view { "view" } else { "table" };
                match self.catalog.get(name) {
                    Some(CatalogEntry::View(_)) if *view => {}
                    Some(CatalogEntry::Table(_)) if !*view => {}
                    Some(_) => return Err(SqlError::validation(s.pos, format!("'{name}' is not a {kind}"))),
                    None if *if_exists => return Ok(Outcome::Done(format!("{kind} '{name}' does not exist; skipped."))),
                    None => return Err(SqlError::validation(s.pos, format!("{kind} '{name}' does not exist"))),
                }
                self.catalog.remove(name);
                Ok(Outcome::Done(format!("Dropped {kind} '{name}'.")))
            }
            FlinkStatement::Insert(ins) => Ok(Outcome::Job(
                self.plan_job(&[(ins.as_ref().clone(), s.pos)]).map_err(|e| at_function_call(e, std::slice::from_ref(ins)))?,
            )),
            FlinkStatement::StatementSet(v) => {
                if v.is_empty() {
                    return Err(SqlError::validation(s.pos, "a STATEMENT SET needs at least one INSERT"));
                }
                let stmts: Vec<Statement> = v.iter().map(|(st, _)| st.as_ref().clone()).collect();
                let v: Vec<_> = v.iter().map(|(st, p)| (st.as_ref().clone(), *p)).collect();
                Ok(Outcome::Job(self.plan_job(&v).map_err(|e| at_function_call(e, &stmts))?))
            }
            FlinkStatement::Query(q) => Ok(Outcome::Job(self.plan_select(q, s.pos).map_err(|e| at_function_call(e, std::slice::from_ref(q)))?)),
            FlinkStatement::Set(None) => Ok(Outcome::Rows {
                header: vec!["key".into(), "value".into()],
                rows: self.options().raw().iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect(),
            }),
            FlinkStatement::Set(Some((k, v))) => {
                self.check_option(k, v, s.pos)?;
                self.set_option(k, v);
                Ok(Outcome::Done(format!("Session property has been set: '{k}' = '{v}'.")))
            }
            FlinkStatement::Reset(k) => {
                match k {
                    Some(k) => {
                        self.config.remove(k);
                    }
                    None => self.config.clear(),
                }
                Ok(Outcome::Done("Session properties have been reset.".into()))
            }
            FlinkStatement::CreateDatabase { name, if_not_exists } => {
                let db = database_name(name, s.pos)?;
                if self.catalog.create_database(&db) {
                    Ok(Outcome::Done(format!("Database '{db}' created.")))
                } else if *if_not_exists {
                    Ok(Outcome::Done(format!("Database '{db}' already exists; skipped.")))
                } else {
                    Err(SqlError::validation(s.pos, format!("database '{db}' already exists in catalog '{}'", crate::catalog::DEFAULT_CATALOG)))
                }
            }
            FlinkStatement::DropDatabase { name, if_exists, cascade } => {
                let db = database_name(name, s.pos)?;
                match self.catalog.drop_database(&db, *cascade) {
                    Ok(true) => Ok(Outcome::Done(format!("Dropped database '{db}'."))),
                    Ok(false) if *if_exists => Ok(Outcome::Done(format!("database '{db}' does not exist; skipped."))),
                    Ok(false) => Err(SqlError::validation(s.pos, format!("database '{db}' does not exist in catalog '{}'", crate::catalog::DEFAULT_CATALOG))),
                    Err(m) => Err(SqlError::validation(s.pos, m)),
                }
            }
            FlinkStatement::Use(name) => {
                let db = database_name(name, s.pos)?;
                self.catalog.use_database(&db).map_err(|m| SqlError::validation(s.pos, m))?;
                Ok(Outcome::Done(format!("Using database '{db}'.")))
            }
            FlinkStatement::UseCatalog(c) => {
                if c != crate::catalog::DEFAULT_CATALOG {
                    return Err(SqlError::validation(s.pos, format!("catalog '{c}' does not exist (Rask has one catalog, '{}')", crate::catalog::DEFAULT_CATALOG)));
                }
                Ok(Outcome::Done(format!("Using catalog '{c}'.")))
            }
            FlinkStatement::ShowDatabases => Ok(Outcome::Rows {
                header: vec!["database name".into()],
                rows: self.catalog.databases().into_iter().map(|d| vec![d]).collect(),
            }),
            FlinkStatement::ShowCurrentDatabase => Ok(Outcome::Rows { header: vec!["current database name".into()], rows: vec![vec![self.catalog.current_database().to_string()]] }),
            FlinkStatement::ShowCatalogs => Ok(Outcome::Rows { header: vec!["catalog name".into()], rows: vec![vec![crate::catalog::DEFAULT_CATALOG.to_string()]] }),
            FlinkStatement::ShowCurrentCatalog => Ok(Outcome::Rows { header: vec!["current catalog name".into()], rows: vec![vec![crate::catalog::DEFAULT_CATALOG.to_string()]] }),
            FlinkStatement::ShowTables => Ok(Outcome::Rows {
                header: vec!["table name".into()],
                rows: self.catalog.names().map(|n| vec![n.to_string()]).collect(),
            }),
            FlinkStatement::ShowViews => Ok(Outcome::Rows {
                header: vec!["view name".into()],
                rows: self.catalog.views().map(|n| vec![n.to_string()]).collect(),
            }),
            FlinkStatement::ShowFunctions { user } => {
                let mut names: Vec<String> = if *user {
                    Vec::new()
                } else {
                    self.functions.scalars.keys().chain(self.functions.aggregates.keys()).map(|n| n.to_ascii_uppercase()).collect()
                };
                names.extend(self.catalog.functions_in(self.catalog.current_database(), true).map(|f| f.name.clone()));
                names.sort();
                names.dedup();
                Ok(Outcome::Rows { header: vec!["function name".into()], rows: names.into_iter().map(|n| vec![n]).collect() })
            }
            FlinkStatement::CreateFunction(cf) => self.create_function(cf, s.pos),
            FlinkStatement::DropFunction { name, if_exists, temporary, system } => {
                let what = if *system { "temporary system function" } else if *temporary { "temporary function" } else { "function" };
                let existing = if *system { self.catalog.system_function(name) } else { self.catalog.function(name) };
                match existing {
                    None if *if_exists => return Ok(Outcome::Done(format!("{what} '{name}' does not exist; skipped."))),
                    None => return Err(SqlError::validation(s.pos, format!("{what} '{name}' does not exist"))),
                    Some(f) if !*system && f.temporary != *temporary => {
                        let hint = if f.temporary { "DROP TEMPORARY FUNCTION" } else { "DROP FUNCTION" };
                        return Err(SqlError::validation(s.pos, format!("'{name}' is {}: use {hint}", if f.temporary { "a temporary function" } else { "not a temporary function" })));
                    }
                    Some(_) => {}
                }
                self.catalog.remove_function(name, *system);
                Ok(Outcome::Done(format!("Dropped {what} '{name}'.")))
            }
            FlinkStatement::Describe(name) => self.describe(name, s.pos),
            FlinkStatement::Explain(inner) => {
                let plan = match &inner.stmt {
                    FlinkStatement::Insert(ins) => self.plan_job(&[(ins.as_ref().clone(), inner.pos)])?,
                    FlinkStatement::StatementSet(v) => {
                        let v: Vec<_> = v.iter().map(|(st, p)| (st.as_ref().clone(), *p)).collect();
                        self.plan_job(&v)?
                    }
                    FlinkStatement::Query(q) => self.plan_select(q, inner.pos)?,
                    _ => return Err(SqlError::validation(inner.pos, "EXPLAIN supports INSERT, SELECT and STATEMENT SET")),
                };
                let p: usize = self.option("parallelism.default").and_then(|v| v.parse().ok()).unwrap_or(1);
                Ok(Outcome::Explain(plan.explain(p)))
            }
        }
    }

    fn create_function(&mut self, cf: &crate::parser::CreateFunction, pos: Pos) -> Result<Outcome> {
        let lang_pos = cf.language_pos;
        match cf.language.as_str() {
            "PYTHON" => {}
            "JAVA" | "SCALA" => {
                return Err(SqlError::unsupported(
                    lang_pos,
                    format!(
                        "'{}' is a {} class (LANGUAGE {}{}): Rask runs no JVM; write the function in Python with PyFlink's @udf and CREATE FUNCTION {} AS 'module.function' LANGUAGE PYTHON",
                        cf.identifier,
                        cf.language.to_ascii_lowercase(),
                        cf.language,
                        if lang_pos == cf.identifier_pos { ", Flink's default" } else { "" },
                        cf.name
                    ),
                ));
            }
            other => return Err(SqlError::validation(lang_pos, format!("unknown function language '{other}': expected JAVA, SCALA or PYTHON"))),
        }
        if !cf.identifier.contains('.') || cf.identifier.starts_with('.') || cf.identifier.ends_with('.') {
            return Err(SqlError::validation(cf.identifier_pos, format!("'{}' is not a Python function name: use 'module.function'", cf.identifier)));
        }
        let existing = if cf.system { self.catalog.system_function(&cf.name) } else { self.catalog.function(&cf.name) };
        if existing.is_some() {
            if cf.if_not_exists {
                return Ok(Outcome::Done(format!("Function '{}' already exists; skipped.", cf.name)));
            }
            return Err(SqlError::validation(pos, format!("a function named '{}' already exists", cf.name)));
        }
        let def = self
            .catalog
            .insert_function(&cf.name, &cf.identifier, &cf.language, cf.temporary, cf.system)
            .map_err(|m| SqlError::validation(pos, m))?;
        let shadowed = !cf.system && (self.functions.scalar(&def.name).is_some() || self.functions.aggregate(&def.name).is_some());
        let note = if shadowed { format!(" (the built-in function {} takes precedence over it)", def.name.to_ascii_uppercase()) } else { String::new() };
        Ok(Outcome::Done(format!("Function '{}' created{note}.", cf.name)))
    }

    fn check_option(&self, k: &str, v: &str, pos: Pos) -> Result<()> {
        let int = |min: i64| -> Result<()> {
            match v.trim().parse::<i64>() {
                Ok(n) if n >= min => Ok(()),
                _ => Err(SqlError::validation(pos, format!("'{k}' must be a whole number >= {min}, got '{v}'"))),
            }
        };
        match k {
            "parallelism.default" => int(1),
            "pipeline.max-parallelism" => int(1),
            "execution.checkpointing.interval" => match rask_types::options::parse_duration(v) {
                Ok(d) if d.as_millis() >= 10 => Ok(()),
                Ok(_) => Err(SqlError::validation(pos, "checkpoint interval must be larger than or equal to 10 ms")),
                Err(e) => Err(SqlError::validation(pos, format!("'{k}': {e}"))),
            },
            "table.exec.source.idle-timeout" | "pipeline.auto-watermark-interval" | "table.exec.mini-batch.allow-latency" | "table.exec.state.ttl" => {
                rask_types::options::parse_duration(v).map(|_| ()).map_err(|e| SqlError::validation(pos, format!("'{k}': {e}")))
            }
            "table.exec.mini-batch.size" => int(1),
            "execution.checkpointing.num-retained" | "state.checkpoints.num-retained" => int(1),
            "execution.checkpointing.mode" if !["EXACTLY_ONCE", "AT_LEAST_ONCE"].contains(&v.to_ascii_uppercase().as_str()) => {
                Err(SqlError::validation(pos, format!("'{k}' must be EXACTLY_ONCE or AT_LEAST_ONCE, got '{v}'")))
            }
            "execution.checkpointing.dir" | "state.checkpoints.dir" | "execution.checkpointing.savepoint-dir" | "state.savepoints.dir"
                if v.trim().is_empty() =>
            {
                Err(SqlError::validation(pos, format!("'{k}' must not be empty")))
            }
            "restart-strategy.type" if !["none", "off", "disable", "fixed-delay", "fixeddelay", "exponential-delay", "exponentialdelay", "failure-rate", "failurerate"].contains(&v.to_ascii_lowercase().as_str()) => {
                Err(SqlError::validation(pos, format!("'{k}' must be none, fixed-delay, exponential-delay or failure-rate, got '{v}'")))
            }
            "restart-strategy.fixed-delay.attempts" | "restart-strategy.exponential-delay.attempts-before-reset-backoff" => int(0),
            "restart-strategy.fixed-delay.delay" | "restart-strategy.exponential-delay.initial-backoff" | "restart-strategy.exponential-delay.max-backoff" => {
                rask_types::options::parse_duration(v).map(|_| ()).map_err(|e| SqlError::validation(pos, format!("'{k}': {e}")))
            }
            "restart-strategy.exponential-delay.backoff-multiplier" => match v.trim().parse::<f64>() {
                Ok(x) if x >= 1.0 => Ok(()),
                _ => Err(SqlError::validation(pos, format!("'{k}' must be a number >= 1.0, got '{v}'"))),
            },
            "table.exec.mini-batch.enabled" | "table.optimizer.reuse-source-enabled" if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => {
                Err(SqlError::validation(pos, format!("'{k}' must be true or false, got '{v}'")))
            }
            "table.optimizer.agg-phase-strategy" if !["AUTO", "ONE_PHASE", "TWO_PHASE"].contains(&v.to_ascii_uppercase().as_str()) => {
                Err(SqlError::validation(pos, format!("'{k}' must be AUTO, ONE_PHASE or TWO_PHASE, got '{v}'")))
            }
            "table.local-time-zone" => rask_functions::zone::parse_zone(v).map(|_| ()).map_err(|m| SqlError::validation(pos, format!("'{k}': {m}"))),
            "execution.runtime-mode" if !v.eq_ignore_ascii_case("streaming") => {
                Err(SqlError::unsupported(pos, "only execution.runtime-mode 'streaming' is supported"))
            }
            _ => Ok(()),
        }
    }

    // ----------------------------------------------------------------------------------------
    // DDL
    // ----------------------------------------------------------------------------------------

    /// Merge `CREATE TABLE … LIKE src (…)` into a plain definition, with Flink's rules: the
    /// source's columns come first; per feature INCLUDING (merge, clashes are errors),
    /// EXCLUDING (drop) or OVERWRITING (the new definition wins); default INCLUDING ALL,
    /// OVERWRITING OPTIONS.
    fn merge_like(&self, ct: &CreateTable) -> Result<CreateTable> {
        let Some(like) = &ct.like else { return Ok(ct.clone()) };
        let src = match self.catalog.get(&like.source) {
            Some(CatalogEntry::Table(t)) => t.clone(),
            Some(CatalogEntry::View(_)) => return Err(SqlError::validation(like.pos, format!("LIKE needs a table, but '{}' is a view", like.source))),
            None => return Err(self.unknown_table(&like.source, like.pos)),
        };
        let features = ["CONSTRAINTS", "GENERATED", "METADATA", "OPTIONS", "PARTITIONS", "WATERMARKS"];
        let mut strategy: BTreeMap<&str, String> = features.iter().map(|f| (*f, "INCLUDING".to_string())).collect();
        strategy.insert("OPTIONS", "OVERWRITING".into());
        for (st, feat) in &like.options {
            if feat == "ALL" {
                for f in features {
                    strategy.insert(f, st.clone());
                }
            } else if let Some(f) = features.iter().find(|f| *f == feat) {
                strategy.insert(f, st.clone());
            }
        }
        let keep = |f: &str| strategy.get(f).is_some_and(|s| s != "EXCLUDING");
        let mut out = ct.clone();
        out.like = None;
        let mut columns = Vec::new();
        for c in &src.columns {
            let kind = match &c.spec {
                ColumnSpec::Physical => ColumnKind::Physical(c.ty.clone()),
                ColumnSpec::Computed(e) if keep("GENERATED") => ColumnKind::Computed(e.clone()),
                ColumnSpec::Metadata { key, is_virtual, .. } if keep("METADATA") => {
                    ColumnKind::Metadata { ty: c.ty.clone(), key: Some(key.clone()), is_virtual: *is_virtual }
                }
                _ => continue,
            };
            if ct.columns.iter().any(|n| n.name == c.name) {
                return Err(SqlError::validation(like.pos, format!("column '{}' is defined both in '{}' and in the new table", c.name, src.name)));
            }
            columns.push(crate::parser::ColumnDef { name: c.name.clone(), pos: c.pos, kind, comment: c.comment.clone() });
        }
        columns.extend(ct.columns.iter().cloned());
        out.columns = columns;
        if let Some(w) = &src.watermark {
            match (strategy["WATERMARKS"].as_str(), &ct.watermark) {
                ("EXCLUDING", _) | ("OVERWRITING", Some(_)) => {}
                ("INCLUDING", Some(_)) => {
                    return Err(SqlError::validation(like.pos, format!("both '{}' and the new table define a watermark; use OVERWRITING WATERMARKS", src.name)));
                }
                _ => out.watermark = Some(crate::parser::WatermarkDef { column: w.column.clone(), expr: w.expr.clone(), pos: w.pos }),
            }
        }
        if let Some(pk) = &src.primary_key {
            match (strategy["CONSTRAINTS"].as_str(), &ct.primary_key) {
                ("EXCLUDING", _) | ("OVERWRITING", Some(_)) => {}
                ("INCLUDING", Some(_)) => {
                    return Err(SqlError::validation(like.pos, format!("both '{}' and the new table define a primary key; use OVERWRITING CONSTRAINTS", src.name)));
                }
                _ => out.primary_key = Some(pk.clone()),
            }
        }
        if !src.partition_keys.is_empty() {
            match (strategy["PARTITIONS"].as_str(), ct.partitioned_by.is_empty()) {
                ("EXCLUDING", _) | ("OVERWRITING", false) => {}
                ("INCLUDING", false) => {
                    return Err(SqlError::validation(like.pos, format!("both '{}' and the new table define partition keys; use OVERWRITING PARTITIONS", src.name)));
                }
                _ => out.partitioned_by = src.partition_keys.clone(),
            }
        }
        match strategy["OPTIONS"].as_str() {
            "EXCLUDING" => {}
            mode => {
                let mut opts: Vec<(String, String, Pos)> = Vec::new();
                for (k, v) in src.options.raw() {
                    opts.push((k.clone(), v.clone(), like.pos));
                }
                for (k, v, p) in &ct.options {
                    match opts.iter_mut().find(|(ek, _, _)| ek == k) {
                        Some(_) if mode == "INCLUDING" => {
                            return Err(SqlError::validation(*p, format!("option '{k}' is defined both in '{}' and in the new table; use OVERWRITING OPTIONS", src.name)));
                        }
                        Some(e) => *e = (k.clone(), v.clone(), *p),
                        None => opts.push((k.clone(), v.clone(), *p)),
                    }
                }
                out.options = opts;
            }
        }
        Ok(out)
    }

    fn create_table(&mut self, ct: &CreateTable) -> Result<Outcome> {
        let merged = self.merge_like(ct)?;
        let ct = &merged;
        self.catalog.database_of(&ct.name).map_err(|m| SqlError::validation(ct.name_pos, m))?;
        if self.catalog.get(&ct.name).is_some() {
            if ct.if_not_exists {
                return Ok(Outcome::Done(format!("Table '{}' already exists; skipped.", ct.name)));
            }
            return Err(SqlError::validation(ct.name_pos, format!("a table or view named '{}' already exists", ct.name)));
        }
        let mut columns = Vec::new();
        for c in &ct.columns {
            if columns.iter().any(|x: &Column| x.name == c.name) {
                return Err(SqlError::validation(c.pos, format!("column '{}' is defined twice", c.name)));
            }
            let (ty, spec) = match &c.kind {
                ColumnKind::Physical(t) => (t.clone(), ColumnSpec::Physical),
                ColumnKind::Computed(e) => (FlinkTypeN { ty: FlinkType::Null, nullable: true }, ColumnSpec::Computed(e.clone())),
                ColumnKind::Metadata { ty, key, is_virtual } => (
                    ty.clone(),
                    ColumnSpec::Metadata { key: key.clone().unwrap_or_else(|| c.name.clone()), is_virtual: *is_virtual, produced: ty.clone() },
                ),
            };
            columns.push(Column { name: c.name.clone(), ty, spec, pos: c.pos, comment: c.comment.clone() });
        }
        if let Some(pk) = &ct.primary_key {
            for k in pk {
                match columns.iter_mut().find(|c| &c.name == k) {
                    Some(c) => c.ty.nullable = false, // primary key columns are NOT NULL in Flink
                    None => {
                        return Err(SqlError::validation(ct.name_pos, format!("primary key column '{k}' is not defined in table '{}'", ct.name)));
                    }
                }
            }
        }
        let mut opts: BTreeMap<String, String> = BTreeMap::new();
        for (k, v, _) in &ct.options {
            opts.insert(k.clone(), v.clone());
        }
        let Some(connector) = opts.get("connector").cloned() else {
            return Err(SqlError::validation(
                ct.name_pos,
                format!(
                    "table '{}' has no 'connector' option; add WITH ('connector' = '…') with one of: {}",
                    ct.name,
                    self.connectors.names().join(", ")
                ),
            ));
        };
        let watermark = ct.watermark.as_ref().map(|w| Watermark { column: w.column.clone(), expr: w.expr.clone(), pos: w.pos });
        let mut def = TableDef {
            name: ct.name.clone(),
            columns,
            watermark,
            primary_key: ct.primary_key.clone(),
            partition_keys: ct.partitioned_by.clone(),
            connector: connector.clone(),
            options: Options::new(opts),
            caps: crate::catalog::ConnectorCaps { source: true, sink: true, ..Default::default() },
            pos: ct.name_pos,
        };
        let readable = self.connectors.readable_metadata(&connector, &def.options);
        for c in def.columns.iter_mut() {
            let ColumnSpec::Metadata { key, produced, .. } = &mut c.spec else { continue };
            match readable.iter().find(|(k, _)| k == key) {
                Some((_, t)) => *produced = t.clone(),
                None if readable.is_empty() => {
                    return Err(SqlError::unsupported(c.pos, format!("metadata column '{}': connector '{connector}' exposes no metadata", c.name)));
                }
                None => {
                    let keys: Vec<String> = readable.iter().map(|(k, t)| format!("'{k}' {t}")).collect();
                    return Err(SqlError::validation(
                        c.pos,
                        format!("metadata column '{}': connector '{connector}' has no metadata key '{key}'; available: {}", c.name, keys.join(", ")),
                    ));
                }
            }
        }
        let caps = self.connectors.validate(&connector, &def.options, &def.physical_schema(), def.primary_key.as_deref().unwrap_or_default()).map_err(|msg| {
            // Point at the option the message names, if any.
            let pos = ct
                .options
                .iter()
                .find(|(k, _, _)| msg.contains(&format!("'{k}'")))
                .map(|(_, _, p)| *p)
                .unwrap_or(ct.name_pos);
            SqlError::validation(pos, msg)
        })?;
        for k in &def.partition_keys {
            if !def.physical_columns().any(|c| &c.name == k) {
                return Err(SqlError::validation(ct.name_pos, format!("partition column '{k}' of table '{}' is not a physical column", ct.name)));
            }
        }
        if !def.partition_keys.is_empty() && !caps.partitioned {
            return Err(SqlError::validation(
                ct.name_pos,
                format!("table '{}' is PARTITIONED BY ({}), but connector '{connector}' does not support partitioning", ct.name, def.partition_keys.join(", ")),
            ));
        }
        def.caps = caps;
        // Derive computed column types and check the watermark by planning the table once.
        let ctx = Ctx::new(self);
        let plan = self.table_plan(&ctx, &def)?;
        let analyzed = analyze(plan, &ctx, def.pos)?;
        let schema = analyzed.schema().clone();
        for (i, c) in def.columns.iter_mut().enumerate() {
            if let ColumnSpec::Computed(_) = c.spec {
                let f = schema.field(i);
                let ty = FlinkType::from_arrow(f.data_type()).ok_or_else(|| {
                    SqlError::unsupported(c.pos, format!("computed column '{}' has type {} which has no Flink equivalent", c.name, f.data_type()))
                })?;
                c.ty = FlinkTypeN { ty, nullable: f.is_nullable() };
            }
        }
        if let Some(w) = &def.watermark {
            let col = def.columns.iter().find(|c| c.name == w.column).ok_or_else(|| {
                SqlError::validation(w.pos, format!("watermark column '{}' is not defined in table '{}'", w.column, def.name))
            })?;
            match &col.ty.ty {
                FlinkType::Timestamp(p) | FlinkType::TimestampLtz(p) if *p <= 3 => {}
                other => {
                    return Err(SqlError::validation(
                        w.pos,
                        format!("the rowtime attribute '{}' must be TIMESTAMP(p) or TIMESTAMP_LTZ(p) with p <= 3, but is {other}", w.column),
                    ));
                }
            }
        }
        self.catalog.insert(def.name.clone(), CatalogEntry::Table(Arc::new(def)));
        Ok(Outcome::Done(format!("Table '{}' created.", ct.name)))
    }

    fn describe(&self, name: &str, pos: Pos) -> Result<Outcome> {
        let header = ["name", "type", "null", "key", "extras", "watermark"].iter().map(|s| s.to_string()).collect();
        match self.catalog.get(name) {
            Some(CatalogEntry::Table(t)) => {
                let rows = t
                    .columns
                    .iter()
                    .map(|c| {
                        let is_rowtime = t.watermark.as_ref().is_some_and(|w| w.column == c.name);
                        let mut ty = c.ty.ty.to_string();
                        if is_rowtime {
                            ty.push_str(" *ROWTIME*");
                        }
                        if matches!(&c.spec, ColumnSpec::Computed(e) if e.to_string().to_ascii_uppercase().starts_with("PROCTIME(")) {
                            ty.push_str(" *PROCTIME*");
                        }
                        let is_key = t.primary_key.as_ref().is_some_and(|k| k.contains(&c.name));
                        let extras = match &c.spec {
                            ColumnSpec::Physical => String::new(),
                            ColumnSpec::Computed(e) => format!("AS {e}"),
                            ColumnSpec::Metadata { key, is_virtual, .. } => {
                                format!("METADATA FROM '{key}'{}", if *is_virtual { " VIRTUAL" } else { "" })
                            }
                        };
                        let wm = t.watermark.as_ref().filter(|w| w.column == c.name).map(|w| w.expr.to_string()).unwrap_or_default();
                        vec![
                            c.name.clone(),
                            ty,
                            if c.ty.nullable { "TRUE".into() } else { "FALSE".into() },
                            if is_key { format!("PRI({})", t.primary_key.as_ref().map(|k| k.join(", ")).unwrap_or_default()) } else { String::new() },
                            extras,
                            wm,
                        ]
                    })
                    .collect();
                Ok(Outcome::Rows { header, rows })
            }
            Some(CatalogEntry::View(v)) => {
                let ctx = Ctx::new(self);
                let plan = self.view_plan(&ctx, v, pos)?;
                let rows = plan
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        let ty = FlinkType::from_arrow(f.data_type()).map(|t| t.to_string()).unwrap_or_else(|| f.data_type().to_string());
                        vec![f.name().clone(), ty, if f.is_nullable() { "TRUE".into() } else { "FALSE".into() }, String::new(), String::new(), String::new()]
                    })
                    .collect();
                Ok(Outcome::Rows { header, rows })
            }
            None => Err(self.unknown_table(name, pos)),
        }
    }

    fn unknown_table(&self, name: &str, pos: Pos) -> SqlError {
        let hint = self
            .catalog
            .names()
            .map(|n| (rask_types::options::edit_distance(n, name), n))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, n)| format!(" (did you mean '{n}'?)"))
            .unwrap_or_default();
        SqlError::validation(pos, format!("table or view '{name}' not found{hint}"))
    }

    // ----------------------------------------------------------------------------------------
    // Table and view plans (inlined by DataFusion where the name is used)
    // ----------------------------------------------------------------------------------------

    /// `Scan(physical) → Project(all columns incl. computed) → [WatermarkAssigner]`.
    pub(crate) fn table_plan(&self, ctx: &Ctx, def: &TableDef) -> Result<LogicalPlan> {
        let def_arc = Arc::new(def.clone());
        let phys = def.source_schema();
        let scan = Arc::new(PhysicalScan { table: def_arc, schema: phys.clone() });
        let tref = TableReference::bare(def.name.clone());
        let builder = LogicalPlanBuilder::scan(tref.clone(), scan, None).map_err(|e| df_err(e, def.pos))?;
        let df_schema = DFSchema::try_from_qualified_schema(tref.clone(), &phys).map_err(|e| df_err(e, def.pos))?;
        let sql_to_rel = SqlToRel::new(ctx);
        let mut exprs = Vec::new();
        for c in &def.columns {
            let e = match &c.spec {
                ColumnSpec::Physical => Expr::Column(DfColumn::new(Some(tref.clone()), c.name.clone())),
                ColumnSpec::Computed(ast_expr) => {
                    let mut pc = PlannerContext::new();
                    let mut ast_expr = ast_expr.clone();
                    crate::ast_rewrite::flink_expr(&mut ast_expr);
                    let e = sql_to_rel.sql_to_expr(ast_expr, &df_schema, &mut pc).map_err(|e| {
                        let err = df_err(e, c.pos);
                        match err {
                            SqlError::Validation { pos, message } => SqlError::validation(pos, format!("computed column '{}': {message}", c.name)),
                            other => other,
                        }
                    })?;
                    if ast_expr_is_proctime(&c.spec) {
                        let meta: std::collections::BTreeMap<String, String> =
                            [(crate::window_tvf::TIME_ATTRIBUTE.to_string(), "proctime".to_string())].into_iter().collect();
                        e.alias_with_metadata(c.name.clone(), Some(datafusion_common::metadata::FieldMetadata::from(meta)))
                    } else {
                        e.alias(c.name.clone())
                    }
                }
                ColumnSpec::Metadata { produced, .. } => {
                    let col = Expr::Column(DfColumn::new(Some(tref.clone()), c.name.clone()));
                    if produced.ty == c.ty.ty {
                        col
                    } else {
                        let target = c.ty.ty.to_arrow();
                        if !arrow::compute::can_cast_types(&produced.ty.to_arrow(), &target) {
                            return Err(SqlError::validation(
                                c.pos,
                                format!("metadata column '{}': the connector produces {} which cannot be cast to {}", c.name, produced.ty, c.ty.ty),
                            ));
                        }
                        cast(col, target).alias(c.name.clone())
                    }
                }
            };
            exprs.push(e);
        }
        let mut plan = builder.project(exprs).and_then(|b| b.build()).map_err(|e| df_err(e, def.pos))?;
        if let Some(w) = &def.watermark {
            let rowtime = def.columns.iter().position(|c| c.name == w.column).ok_or_else(|| {
                SqlError::validation(w.pos, format!("watermark column '{}' is not defined in table '{}'", w.column, def.name))
            })?;
            let mut pc = PlannerContext::new();
            let mut wast = w.expr.clone();
            crate::ast_rewrite::flink_expr(&mut wast);
            let wexpr = sql_to_rel
                .sql_to_expr(wast, plan.schema(), &mut pc)
                .map_err(|e| df_err(e, w.pos))?;
            let node = WatermarkAssigner::try_new(plan, rowtime, wexpr, w.expr.to_string()).map_err(|e| df_err(e, w.pos))?;
            plan = LogicalPlan::Extension(Extension { node: Arc::new(node) });
        }
        Ok(plan)
    }

    fn view_plan(&self, ctx: &Ctx, v: &ViewDef, pos: Pos) -> Result<LogicalPlan> {
        let sql_to_rel = SqlToRel::new(ctx);
        let mut q = v.query.clone();
        crate::ast_rewrite::flink_names(&mut q).map_err(|m| SqlError::validation(pos, m))?;
        let plan = sql_to_rel
            .sql_statement_to_plan(Statement::Query(Box::new(q)))
            .map_err(|e| df_err(e, pos))?;
        let plan = if v.columns.is_empty() {
            plan
        } else {
            if v.columns.len() != plan.schema().fields().len() {
                return Err(SqlError::validation(
                    pos,
                    format!("view '{}' names {} columns but its query has {}", v.name, v.columns.len(), plan.schema().fields().len()),
                ));
            }
            let exprs: Vec<Expr> = plan
                .schema()
                .columns()
                .into_iter()
                .zip(&v.columns)
                .map(|(c, n)| Expr::Column(c).alias(n.clone()))
                .collect();
            LogicalPlanBuilder::from(plan).project(exprs).and_then(|b| b.build()).map_err(|e| df_err(e, pos))?
        };
        // Re-qualify with the view name so `v.col` resolves.
        LogicalPlanBuilder::from(plan).alias(v.name.clone()).and_then(|b| b.build()).map_err(|e| df_err(e, pos))
    }

    /// `__rask_window_tumble('t', 'ts', size [, offset])` (and hop/cumulate): the window table
    /// function over table or view `t`, windowed on time attribute `ts`.
    pub(crate) fn window_tvf(&self, ctx: &Ctx, name: &str, args: &[Expr]) -> Result<LogicalPlan> {
        use crate::window_tvf::{WindowKind, WindowSpec, WindowTvf, TIME_ATTRIBUTE};
        let pos = Pos::default();
        let (kind, fname) = match name {
            "__rask_window_tumble" => (WindowKind::Tumble, "TUMBLE"),
            "__rask_window_hop" => (WindowKind::Hop, "HOP"),
            "__rask_window_cumulate" => (WindowKind::Cumulate, "CUMULATE"),
            "__rask_window_session" => (WindowKind::Session, "SESSION"),
            other => return Err(SqlError::validation(pos, format!("unknown table function '{other}'"))),
        };
        let text = |i: usize, what: &str| -> Result<String> {
            match args.get(i) {
                Some(Expr::Literal(datafusion_common::ScalarValue::Utf8(Some(s)), _)) => Ok(s.clone()),
                _ => Err(SqlError::validation(pos, format!("{fname}: the {what} argument must be {}", if i == 0 { "TABLE name" } else { "DESCRIPTOR(column)" }))),
            }
        };
        let millis = |i: usize, what: &str| -> Result<i64> {
            match args.get(i) {
                Some(e) => match e {
                    Expr::Literal(v, _) => crate::window_tvf::interval_millis(v),
                    _ => None,
                }
                .ok_or_else(|| SqlError::validation(pos, format!("{fname}: {what} must be a day-time INTERVAL literal, got {e}"))),
                None => Err(SqlError::validation(pos, format!("{fname}: missing {what}"))),
            }
        };
        let table = text(0, "first")?;
        let time_col = text(1, "second")?;
        let (size, step, off_at) = match kind {
            WindowKind::Tumble => {
                let s = millis(2, "size")?;
                (s, s, 3)
            }
            WindowKind::Hop => (millis(3, "size")?, millis(2, "slide")?, 4),
            WindowKind::Cumulate => (millis(3, "max size")?, millis(2, "step")?, 4),
            WindowKind::Session => {
                let g = millis(2, "gap")?;
                (g, g, usize::MAX)
            }
        };
        let offset = if off_at != usize::MAX && args.len() > off_at { millis(off_at, "offset")? } else { 0 };
        if size <= 0 || step <= 0 {
            return Err(SqlError::validation(pos, format!("{fname}: window size and slide/step must be positive")));
        }
        if matches!(kind, WindowKind::Hop | WindowKind::Cumulate) && size % step != 0 {
            let what = if kind == WindowKind::Hop { "slide" } else { "step" };
            return Err(SqlError::validation(pos, format!("{fname}: the window size must be an integral multiple of the {what}")));
        }
        let input = match self.catalog.get(&table) {
            Some(CatalogEntry::Table(t)) => self.table_plan(ctx, t)?,
            Some(CatalogEntry::View(v)) => self.view_plan(ctx, v, pos)?,
            None => return Err(self.unknown_table(&table, pos)),
        };
        let idx = input.schema().index_of_column_by_name(None, &time_col).ok_or_else(|| {
            SqlError::validation(pos, format!("{fname}: column '{time_col}' not found in '{table}'"))
        })?;
        let field = input.schema().field(idx);
        if !field.metadata().contains_key(TIME_ATTRIBUTE) {
            return Err(SqlError::validation(
                pos,
                format!(
                    "{fname}: the window function requires the time column to be a time attribute (a rowtime with a WATERMARK, or PROCTIME()), but '{time_col}' is {}",
                    flink_name(field.data_type())
                ),
            ));
        }
        // Windows on an instant (TIMESTAMP_LTZ, PROCTIME()) are aligned to the session zone.
        let clock = match (self.local_time_zone(), field.data_type()) {
            (Some(zone), DataType::Timestamp(_, Some(_))) => {
                crate::window_tvf::WindowClock::new(zone).map_err(|m| SqlError::validation(pos, format!("'table.local-time-zone': {m}")))?
            }
            _ => crate::window_tvf::WindowClock::Utc,
        };
        let mut partition = Vec::new();
        if kind == WindowKind::Session && args.len() > 3 {
            for k in text(3, "partition")?.split(',') {
                let i = input.schema().index_of_column_by_name(None, k).ok_or_else(|| {
                    SqlError::validation(pos, format!("{fname}: PARTITION BY column '{k}' not found in '{table}'"))
                })?;
                partition.push(i);
            }
        }
        let mut node = WindowTvf::try_new(input, idx, WindowSpec { kind, size, step, offset, clock }).map_err(|e| df_err(e, pos))?;
        node.partition = partition;
        Ok(LogicalPlan::Extension(Extension { node: Arc::new(node) }))
    }

    /// Table `name` with an OPTIONS hint's options (`json`) merged into its WITH options and
    /// checked by its connector, as Flink's dynamic table options.
    pub(crate) fn hinted_table(&self, name: &str, json: &str, pos: Pos) -> Result<TableDef> {
        let t = match self.catalog.get(name) {
            Some(CatalogEntry::Table(t)) => t,
            Some(CatalogEntry::View(_)) => {
                return Err(SqlError::validation(pos, format!("view '{name}' cannot be enriched with new options: OPTIONS hints apply to tables only")));
            }
            None => return Err(self.unknown_table(name, pos)),
        };
        let hint: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| SqlError::Internal(format!("OPTIONS hint: {e}")))?;
        let mut def = t.as_ref().clone();
        let mut merged = def.options.raw().clone();
        merged.extend(hint);
        def.options = Options::new(merged);
        let connector = def.connector.clone();
        def.caps = self
            .connectors
            .validate(&connector, &def.options, &def.physical_schema(), def.primary_key.as_deref().unwrap_or_default())
            .map_err(|m| SqlError::validation(pos, format!("OPTIONS hint on table '{name}': {m}")))?;
        Ok(def)
    }

    /// Called by the context provider for every table name in a query.
    pub(crate) fn table_source(&self, ctx: &Ctx, name: &str) -> Result<Arc<dyn TableSource>> {
        match self.catalog.get(name) {
            Some(CatalogEntry::Table(t)) => {
                let plan = self.table_plan(ctx, t)?;
                let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
                Ok(Arc::new(InlinedSource { schema, plan }))
            }
            Some(CatalogEntry::View(v)) => {
                let plan = self.view_plan(ctx, v, Pos::default())?;
                let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
                Ok(Arc::new(InlinedSource { schema, plan }))
            }
            None => Err(self.unknown_table(name, Pos::default())),
        }
    }

    // ----------------------------------------------------------------------------------------
    // DML
    // ----------------------------------------------------------------------------------------

    /// `table.local-time-zone` when it is not UTC (the zone TIMESTAMP_LTZ values are read in).
    pub fn local_time_zone(&self) -> Option<&str> {
        self.config.get("table.local-time-zone").map(|z| z.as_str()).filter(|z| !rask_functions::zone::is_utc(z))
    }

    /// Plan one or more INSERTs into one job.
    pub fn plan_job(&self, inserts: &[(Statement, Pos)]) -> Result<StreamPlan> {
        let ctx = Ctx::new(self);
        let mut tr = Translator::new(self.options());
        for (stmt, pos) in inserts {
            let (table, plan) = self.plan_insert(&ctx, stmt, *pos)?;
            let plan = analyze(plan, &ctx, *pos)?;
            let plan = prune_projections(plan, &ctx, *pos)?;
            let plan = rewrite_casts(plan, &self.functions, self.local_time_zone(), *pos)?;
            let plan = optimize(plan, &ctx, *pos)?;
            let plan = crate::split_distinct::split_distinct_aggregates(plan, &self.functions, &self.config, *pos)?;
            tr.add_sink(&plan, table, *pos)?;
        }
        Ok(tr.finish())
    }

    /// Plan a SELECT: results go to a `print` sink (as Flink's SQL client prints them).
    pub fn plan_select(&self, q: &Query, pos: Pos) -> Result<StreamPlan> {
        let ctx = Ctx::new(self);
        let mut q = q.clone();
        crate::ast_rewrite::flink_names(&mut q).map_err(|m| SqlError::validation(pos, m))?;
        let plan = SqlToRel::new(&ctx)
            .sql_statement_to_plan(Statement::Query(Box::new(q)))
            .map_err(|e| df_err(e, pos))?;
        let plan = analyze(plan, &ctx, pos)?;
        let plan = prune_projections(plan, &ctx, pos)?;
        let plan = rewrite_casts(plan, &self.functions, self.local_time_zone(), pos)?;
        let plan = optimize(plan, &ctx, pos)?;
        let plan = crate::split_distinct::split_distinct_aggregates(plan, &self.functions, &self.config, pos)?;
        let columns = plan
            .schema()
            .fields()
            .iter()
            .map(|f| Column {
                name: f.name().clone(),
                ty: FlinkTypeN {
                    ty: FlinkType::from_arrow(f.data_type()).unwrap_or(FlinkType::String),
                    nullable: true,
                },
                spec: ColumnSpec::Physical,
                pos,
                comment: None,
            })
            .collect();
        let table = TableDef {
            name: "__select".into(),
            columns,
            watermark: None,
            primary_key: None,
            partition_keys: Vec::new(),
            connector: "print".into(),
            // `SET 'rask.select.print-format' = 'json'`: rows as JSON lines (the server's preview).
            options: Options::new(
                [("connector".to_string(), "print".to_string())]
                    .into_iter()
                    .chain(self.options().get("rask.select.print-format").map(|f| ("print-format".to_string(), f.to_string())))
                    .collect(),
            ),
            caps: crate::catalog::ConnectorCaps { source: false, sink: true, accepts_updates: true, ..Default::default() },
            pos,
        };
        let mut tr = Translator::new(self.options());
        tr.add_sink(&plan, Arc::new(table), pos)?;
        Ok(tr.finish())
    }

    fn plan_insert(&self, ctx: &Ctx, stmt: &Statement, pos: Pos) -> Result<(Arc<TableDef>, LogicalPlan)> {
        let Statement::Insert(ins) = stmt else {
            return Err(SqlError::Internal("plan_insert on a non-INSERT".into()));
        };
        let Some((name, query)) = insert_parts(stmt) else {
            return Err(SqlError::unsupported(pos, "INSERT without a query (or into a table function) is not supported"));
        };
        if ins.overwrite {
            return Err(SqlError::unsupported(pos, "INSERT OVERWRITE is only supported in batch mode in Flink"));
        }
        let tname = object_name(name);
        // `INSERT INTO t /*+ OPTIONS(…) */`: the sink with those options.
        let (tname, table) = match tname.split_once(crate::parser::OPTIONS_MARKER) {
            Some((base, json)) => {
                let base = base.trim_matches('`').to_string();
                let def = Arc::new(self.hinted_table(&base, json.trim_end_matches('`'), pos)?);
                (base, def)
            }
            None => match self.catalog.get(&tname) {
                Some(CatalogEntry::Table(t)) => (tname.clone(), t.clone()),
                Some(CatalogEntry::View(_)) => return Err(SqlError::validation(pos, format!("cannot INSERT INTO view '{tname}'"))),
                None => return Err(self.unknown_table(&tname, pos)),
            },
        };
        if !table.caps.sink {
            return Err(SqlError::validation(pos, format!("connector '{}' of table '{tname}' cannot be used as a sink", table.connector)));
        }
        let mut query = query.clone();
        crate::ast_rewrite::flink_names(&mut query).map_err(|m| SqlError::validation(pos, m))?;
        let input = SqlToRel::new(ctx)
            .sql_statement_to_plan(Statement::Query(Box::new(query)))
            .map_err(|e| df_err(e, pos))?;
        let writable = self.connectors.writable_metadata(&table.connector, &table.options);
        for (c, key, _) in table.written_metadata() {
            if !writable.iter().any(|(k, _)| k == key) {
                let keys: Vec<String> = writable.iter().map(|(k, t)| format!("'{k}' {t}")).collect();
                let can = if keys.is_empty() { "writes no metadata".to_string() } else { format!("writes the metadata keys {}", keys.join(", ")) };
                return Err(SqlError::validation(
                    c.pos,
                    format!(
                        "metadata column '{}' (key '{key}') of table '{tname}' cannot be written: connector '{}' {can}; declare the column VIRTUAL to only read it",
                        c.name, table.connector
                    ),
                ));
            }
        }
        let sink_cols: Vec<&Column> = table.sink_columns().collect();
        let targets: Vec<usize> = if ins.columns.is_empty() {
            (0..sink_cols.len()).collect()
        } else {
            let mut v = Vec::new();
            for c in &ins.columns {
                let name = c.to_string();
                let name = name.trim_matches('`');
                match sink_cols.iter().position(|sc| sc.name == name) {
                    Some(i) => v.push(i),
                    None => return Err(SqlError::validation(pos, format!("unknown column '{name}' in INSERT INTO '{tname}'"))),
                }
            }
            v
        };
        let in_fields = input.schema().fields().clone();
        if in_fields.len() != targets.len() {
            let q: Vec<String> = in_fields.iter().map(|f| format!("{} {}", f.name(), flink_name(f.data_type()))).collect();
            let s: Vec<String> = targets.iter().map(|i| format!("{} {}", sink_cols[*i].name, sink_cols[*i].ty)).collect();
            return Err(SqlError::validation(
                pos,
                format!(
                    "column types of query result and sink for '{tname}' do not match: the query has {} columns, the sink {}.\nQuery schema: [{}]\nSink schema:  [{}]",
                    in_fields.len(),
                    targets.len(),
                    q.join(", "),
                    s.join(", ")
                ),
            ));
        }
        let in_cols = input.schema().columns();
        let mut exprs = Vec::new();
        let mut metadata = Vec::new();
        for (si, sc) in sink_cols.iter().enumerate() {
            let target = sc.ty.ty.to_arrow();
            // A metadata column goes to the connector in the type it takes for the key, after
            // the physical columns (the sink's schema, `TableDef::sink_schema`).
            let (target, out) = match &sc.spec {
                ColumnSpec::Metadata { produced, .. } => (target, Some(produced.ty.to_arrow())),
                _ => (target, None),
            };
            match targets.iter().position(|t| *t == si) {
                Some(k) => {
                    let from = in_fields[k].data_type();
                    if !insert_compatible(from, &target) {
                        return Err(SqlError::validation(
                            pos,
                            format!(
                                "column types of query result and sink for '{tname}' do not match: column '{}' is {} in the query but {} in the sink",
                                sc.name,
                                flink_name(from),
                                sc.ty.ty
                            ),
                        ));
                    }
                    let e = Expr::Column(in_cols[k].clone());
                    let mut e = coerce_to(e, from, &target, &self.functions);
                    if let Some(t) = out.as_ref().filter(|t| **t != target) {
                        e = cast(e, t.clone());
                    }
                    if out.is_some() { &mut metadata } else { &mut exprs }.push(e.alias(sc.name.clone()));
                }
                None => {
                    if !sc.ty.nullable {
                        return Err(SqlError::validation(pos, format!("column '{}' of '{tname}' is NOT NULL and must be given a value", sc.name)));
                    }
                    let e = cast(lit(datafusion_common::ScalarValue::Null), out.clone().unwrap_or(target)).alias(sc.name.clone());
                    if out.is_some() { &mut metadata } else { &mut exprs }.push(e);
                }
            }
        }
        exprs.extend(metadata);
        let plan = LogicalPlanBuilder::from(input).project(exprs).and_then(|b| b.build()).map_err(|e| df_err(e, pos))?;
        Ok((table, plan))
    }
}

/// Convert `e` of type `from` to `to` for a sink column: rows are matched by position (Flink),
/// not by field name (Arrow), everything else is a cast.
fn coerce_to(e: Expr, from: &DataType, to: &DataType, functions: &FunctionSet) -> Expr {
    if from == to {
        return e;
    }
    if let (DataType::Struct(ff), DataType::Struct(tf)) = (from, to)
        && ff.len() == tf.len()
            && let (Some(get_field), Some(named_struct)) = (functions.scalar("get_field"), functions.scalar("named_struct")) {
                let mut args = Vec::new();
                for (f, t) in ff.iter().zip(tf.iter()) {
                    let inner = Expr::ScalarFunction(ScalarFunction::new_udf(get_field.clone(), vec![e.clone(), lit(f.name().clone())]));
                    args.push(lit(t.name().clone()));
                    args.push(coerce_to(inner, f.data_type(), t.data_type(), functions));
                }
                return Expr::ScalarFunction(ScalarFunction::new_udf(named_struct, args));
            }
    cast(e, to.clone())
}

fn ast_expr_is_proctime(spec: &ColumnSpec) -> bool {
    matches!(spec, ColumnSpec::Computed(e) if e.to_string().to_ascii_uppercase().replace(' ', "") == "PROCTIME()")
}

/// Flink's name for an Arrow type, for messages.
pub(crate) fn flink_name(dt: &DataType) -> String {
    FlinkType::from_arrow(dt).map(|t| t.to_string()).unwrap_or_else(|| dt.to_string())
}

/// Flink's implicit cast rules for INSERT: within the same family only.
fn insert_compatible(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let family = |t: &DataType| -> u8 {
        match t {
            Null => 0,
            Boolean => 1,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32 | Float64 | Decimal128(_, _) | Decimal256(_, _) => 2,
            Utf8 | LargeUtf8 | Utf8View => 3,
            Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => 4,
            Date32 | Date64 => 5,
            Time32(_) | Time64(_) => 6,
            Timestamp(_, _) => 7,
            Interval(_) | Duration(_) => 8,
            List(_) | LargeList(_) | FixedSizeList(_, _) => 9,
            Map(_, _) => 10,
            Struct(_) => 11,
            _ => 12,
        }
    };
    let (a, b) = (family(from), family(to));
    a == 0 || a == b
}

/// Run DataFusion's analyzer (type coercion) over a plan.
pub(crate) fn analyze(plan: LogicalPlan, ctx: &Ctx, pos: Pos) -> Result<LogicalPlan> {
    Analyzer::new().execute_and_check(plan, &ctx.options, |_, _| {}).map_err(|e| df_err(e, pos))
}

/// Run DataFusion optimizer `rules` over a plan.
fn run_rules(plan: LogicalPlan, rules: Vec<Arc<dyn datafusion_optimizer::OptimizerRule + Send + Sync>>, ctx: &Ctx, pos: Pos) -> Result<LogicalPlan> {
    let config = datafusion_optimizer::OptimizerContext::new_with_config_options(Arc::new(ctx.options.clone()))
        .without_query_execution_start_time();
    datafusion_optimizer::Optimizer::with_rules(rules).optimize(plan, &config, |_, _| {}).map_err(|e| df_err(e, pos))
}

/// TIMESTAMP(p) for a TIMESTAMP_LTZ(p).
fn wall_clock_type(ltz: &DataType) -> DataType {
    match ltz {
        DataType::Timestamp(unit, _) => DataType::Timestamp(*unit, None),
        other => other.clone(),
    }
}

fn is_ltz(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, Some(_)))
}

/// The session time zone where Flink applies it (`zone` is not UTC): a TIMESTAMP_LTZ cast to
/// TIMESTAMP / STRING / DATE / TIME, or passed to a date-time function (DATE_FORMAT, YEAR …
/// SECOND, EXTRACT, FLOOR/CEIL TO unit), is first turned into the wall-clock time it shows in the
/// zone; a TIMESTAMP / STRING / DATE cast to TIMESTAMP_LTZ is taken as a wall-clock time in the
/// zone; UNIX_TIMESTAMP parses and FROM_UNIXTIME prints in it; LOCALTIMESTAMP and CURRENT_DATE
/// are the zone's. Checked against Flink 2.3 with `Asia/Shanghai`.
fn zone_rewrite(plan: LogicalPlan, functions: &FunctionSet, zone: &str, pos: Pos) -> Result<LogicalPlan> {
    use rask_functions::zone::{ZoneFn, Zoned};
    let udf = |k| Zoned::udf(k, zone).map_err(|m| SqlError::validation(pos, format!("'table.local-time-zone': {m}")));
    let (to_local, to_ltz, unix_ts, from_unix) = (udf(ZoneFn::LtzToLocal)?, udf(ZoneFn::LocalToLtz)?, udf(ZoneFn::UnixTimestamp)?, udf(ZoneFn::FromUnixtime)?);
    let now = functions.scalar("now").ok_or_else(|| SqlError::validation(pos, "no NOW() function"))?;
    let call = |f: &Arc<datafusion_expr::ScalarUDF>, args: Vec<Expr>| Expr::ScalarFunction(ScalarFunction::new_udf(f.clone(), args));
    const WALL_CLOCK_FUNCTIONS: &[&str] = &[
        "date_format", "year", "quarter", "month", "week", "dayofyear", "dayofmonth", "dayofweek", "hour", "minute", "second", "date_part",
    ];
    plan.transform_up(|p| {
        let schema = match p.inputs().as_slice() {
            [one] => one.schema().clone(),
            _ => p.schema().clone(),
        };
        p.map_expressions(|e| {
            e.transform_up(|e| {
                let type_of = |x: &Expr| x.get_type(&schema).ok();
                match e {
                    Expr::Cast(_) | Expr::TryCast(_) => {
                        let (inner, target) = match &e {
                            Expr::Cast(c) => (&c.expr, c.field.data_type()),
                            Expr::TryCast(c) => (&c.expr, c.field.data_type()),
                            _ => return Ok(Transformed::no(e)),
                        };
                        let (from_ltz, to_ltz_type) = match type_of(inner) {
                            Some(t) => (is_ltz(&t) && !is_ltz(target), is_ltz(target) && !is_ltz(&t) && t != DataType::Null),
                            None => (false, false),
                        };
                        let target = target.clone();
                        let (inner, is_try) = match e {
                            Expr::Cast(c) if from_ltz || to_ltz_type => (*c.expr, false),
                            Expr::TryCast(c) if from_ltz || to_ltz_type => (*c.expr, true),
                            other => return Ok(Transformed::no(other)),
                        };
                        let recast = |x: Expr, t: DataType| {
                            if is_try {
                                Expr::TryCast(datafusion_expr::expr::TryCast::new(Box::new(x), t))
                            } else {
                                Expr::Cast(datafusion_expr::expr::Cast::new(Box::new(x), t))
                            }
                        };
                        Ok(Transformed::yes(if from_ltz {
                            // The wall-clock time in the zone, then the cast asked for.
                            recast(call(&to_local, vec![inner]), target)
                        } else {
                            // The cast to the wall-clock TIMESTAMP, then its instant in the zone.
                            let wall = wall_clock_type(&target);
                            call(&to_ltz, vec![recast(inner, wall)])
                        }))
                    }
                    Expr::ScalarFunction(f) => {
                        let name = f.func.name().to_string();
                        match name.as_str() {
                            n if WALL_CLOCK_FUNCTIONS.contains(&n) && f.args.iter().any(|a| type_of(a).is_some_and(|t| is_ltz(&t))) => {
                                let args = f.args.into_iter().map(|a| if type_of(&a).is_some_and(|t| is_ltz(&t)) { call(&to_local, vec![a]) } else { a }).collect();
                                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(f.func, args))))
                            }
                            // FLOOR/CEIL(ltz TO unit): truncated in the zone, still an instant.
                            "date_trunc" if f.args.get(1).and_then(|a| type_of(a)).is_some_and(|t| is_ltz(&t)) => {
                                let mut args = f.args;
                                let x = args.remove(1);
                                args.insert(1, call(&to_local, vec![x]));
                                Ok(Transformed::yes(call(&to_ltz, vec![Expr::ScalarFunction(ScalarFunction::new_udf(f.func, args))])))
                            }
                            "unix_timestamp" if !f.args.is_empty() => Ok(Transformed::yes(call(&unix_ts, f.args))),
                            "from_unixtime" => Ok(Transformed::yes(call(&from_unix, f.args))),
                            "localtimestamp" => Ok(Transformed::yes(call(&to_local, vec![call(&now, vec![])]))),
                            "current_date" => Ok(Transformed::yes(Expr::Cast(datafusion_expr::expr::Cast::new(
                                Box::new(call(&to_local, vec![call(&now, vec![])])),
                                DataType::Date32,
                            )))),
                            _ => Ok(Transformed::no(Expr::ScalarFunction(f))),
                        }
                    }
                    other => Ok(Transformed::no(other)),
                }
            })
        })
    })
    .map(|t| t.data)
    .map_err(|e| df_err(e, pos))
}

/// Projection pruning, right after analysis (before Rask's own expression rewrites): a view's
/// columns that the query does not use are never computed or copied, e.g. Nexmark's `bid` view
/// feeding a query that reads two of its seven columns.
pub(crate) fn prune_projections(plan: LogicalPlan, ctx: &Ctx, pos: Pos) -> Result<LogicalPlan> {
    // A temporal join's time attribute is named by the marker, not by an expression: record
    // its kind (and keep a rowtime column) before unused columns go.
    let plan = crate::lookup_join::mark_time_attributes(plan).map_err(|e| df_err(e, pos))?;
    run_rules(plan, vec![Arc::new(datafusion_optimizer::optimize_projections::OptimizeProjections::new())], ctx, pos)
}

/// The logical optimizations a streaming plan gets: expression simplification (constant
/// folding, COALESCE/IN rewrites; time functions are volatile here, so they are never folded).
pub(crate) fn optimize(plan: LogicalPlan, ctx: &Ctx, pos: Pos) -> Result<LogicalPlan> {
    run_rules(plan, vec![Arc::new(datafusion_optimizer::simplify_expressions::SimplifyExpressions::new())], ctx, pos)
}

/// `CAST(x AS STRING)` renders values as Flink does, not as Arrow's cast kernel does; numeric
/// casts to integer types narrow as Java does (wrap / saturate) instead of failing on overflow.
/// With a session time zone other than UTC, TIMESTAMP_LTZ values are read in it where Flink
/// reads them so (see [`zone_rewrite`]).
fn rewrite_casts(plan: LogicalPlan, functions: &FunctionSet, zone: Option<&str>, pos: Pos) -> Result<LogicalPlan> {
    let plan = match zone {
        Some(z) => zone_rewrite(plan, functions, z, pos)?,
        None => plan,
    };
    let to_string = functions.cast_to_string.clone();
    let narrow_udfs: Vec<(DataType, Arc<datafusion_expr::ScalarUDF>)> = [DataType::Int8, DataType::Int16, DataType::Int32, DataType::Int64]
        .into_iter()
        .map(|t| (t.clone(), Arc::new(datafusion_expr::ScalarUDF::new_from_impl(crate::functions::JavaNarrow::new(t)))))
        .collect();
    // Only conversions that can lose range: floats and decimals to integers, and integers to
    // narrower integers. Widening casts (often inserted by type coercion) stay native casts.
    let width = |t: &DataType| -> u32 {
        match t {
            DataType::Int8 | DataType::UInt8 => 8,
            DataType::Int16 | DataType::UInt16 => 16,
            DataType::Int32 | DataType::UInt32 => 32,
            DataType::Int64 => 64,
            _ => 128,
        }
    };
    let narrowing = |src: &DataType, dst: &DataType| -> bool {
        if !src.is_numeric() || matches!(src, DataType::Decimal256(_, _)) {
            return false;
        }
        !src.is_integer() || width(src) > width(dst) || (src.is_unsigned_integer() && width(src) == width(dst))
    };
    plan.transform_up(|p| {
        // Expressions of single-input nodes (projections, filters) are typed by that input.
        let input_schema = match p.inputs().as_slice() {
            [one] => Some(one.schema().clone()),
            _ => None,
        };
        p.map_expressions(|e| {
            e.transform_up(|e| {
                let (inner, target) = match &e {
                    Expr::Cast(c) => (&c.expr, c.field.data_type()),
                    Expr::TryCast(c) => (&c.expr, c.field.data_type()),
                    _ => return Ok(Transformed::no(e)),
                };
                let udf = if target == &DataType::Utf8 {
                    Some(to_string.clone())
                } else {
                    narrow_udfs.iter().find(|(t, _)| t == target).map(|(_, u)| u.clone()).filter(|_| {
                        input_schema.as_ref().and_then(|s| inner.get_type(s).ok()).is_some_and(|src| narrowing(&src, target))
                    })
                };
                let Some(udf) = udf else { return Ok(Transformed::no(e)) };
                let inner = match e {
                    Expr::Cast(c) => *c.expr,
                    Expr::TryCast(c) => *c.expr,
                    other => return Ok(Transformed::no(other)),
                };
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![inner]))))
            })
        })
    })
    .map(|t| t.data)
    .map_err(|e| df_err(e, pos))
}
