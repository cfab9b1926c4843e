//! The persistent catalog: the DDL statements that succeeded (CREATE/DROP DATABASE, TABLE and
//! VIEW; with a `USE db;` in front when run in another database than the default one), stored
//! in order and replayed into a fresh SQL session for every request — the session is
//! the catalog's single source of truth, so what the API accepts, the workers plan the same
//! way. SHOW/DESCRIBE/EXPLAIN are answered from it; jobs (INSERT/SELECT) are deployments.

use std::sync::Arc;

use rask_sql::parser::FlinkStatement;
use rask_sql::{Outcome, Session};
use serde::Serialize;

use crate::error::{Result, ServerError};
use crate::store::Store;

/// What one statement of a request did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatementResult {
    /// The statement's text.
    pub statement: String,
    /// `done` (DDL: `message`), `rows` (SHOW/DESCRIBE: `header` and `rows`) or `explain`
    /// (`plan`).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// How a statement refers to a secret: `${secret_values.NAME}`.
const SECRET_REF: &str = "${secret_values.";

/// `sql` with its secret references replaced by the values in `secrets`.
fn resolve_with(secrets: &std::collections::HashMap<String, String>, sql: &str) -> Result<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find(SECRET_REF) {
        out.push_str(&rest[..i]);
        let after = &rest[i + SECRET_REF.len()..];
        let end = after.find('}').ok_or_else(|| ServerError::BadRequest("an unterminated ${secret_values.…} reference".into()))?;
        let name = &after[..end];
        let value = secrets.get(name).ok_or_else(|| ServerError::BadRequest(format!("unknown secret '{name}' (create it with PUT /api/v1/secrets/{name})")))?;
        // The value sits inside a SQL string literal.
        out.push_str(&value.replace('\'', "''"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Clone)]
pub struct Catalog {
    store: Store,
    connectors: Arc<rask_runtime::connector::ConnectorRegistry>,
    /// Serialises catalog changes (a statement is replayed, checked and stored as one step).
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Catalog {
    pub fn new(store: Store) -> Catalog {
        Catalog { store, connectors: Arc::new(rask_connectors::builtin_registry()), lock: Arc::new(tokio::sync::Mutex::new(())) }
    }

    /// `sql` with its `${secret_values.NAME}` references replaced by the secrets' values.
    pub async fn resolve(&self, sql: &str) -> Result<String> {
        if !sql.contains(SECRET_REF) {
            return Ok(sql.to_string());
        }
        resolve_with(&self.store.secrets().await?, sql)
    }

    /// The stored catalog statements with their secrets resolved (the secrets read once).
    async fn resolved_statements(&self) -> Result<Vec<String>> {
        let stored = self.store.catalog_statements().await?;
        if !stored.iter().any(|s| s.contains(SECRET_REF)) {
            return Ok(stored);
        }
        let secrets = self.store.secrets().await?;
        stored.iter().map(|s| resolve_with(&secrets, s)).collect()
    }

    /// A session holding the stored catalog.
    pub async fn session(&self) -> Result<Session> {
        let mut s = Session::new(self.connectors.clone());
        for text in self.resolved_statements().await? {
            s.execute_script(&text).map_err(|e| ServerError::Internal(format!("replaying a stored catalog statement: {e}")))?;
            // A statement stored with its database (`USE db; CREATE …`) leaves the default one current.
            let _ = s.catalog.use_database(rask_sql::catalog::DEFAULT_DATABASE);
        }
        Ok(s)
    }

    /// Run the statements of `sql` against the catalog; DDL that succeeds is stored.
    pub async fn execute(&self, sql: &str) -> Result<Vec<StatementResult>> {
        let _guard = self.lock.lock().await;
        let mut session = self.session().await?;
        // Planned with the secrets' values; stored and answered with the references.
        let stmts = rask_sql::parser::parse_script(&self.resolve(sql).await?)?;
        let originals = rask_sql::parser::parse_script(sql)?;
        let mut out = Vec::new();
        for (s, original) in stmts.into_iter().zip(originals) {
            let ddl = matches!(
                s.stmt,
                FlinkStatement::CreateTable(_)
                    | FlinkStatement::CreateView(_)
                    | FlinkStatement::Drop { .. }
                    | FlinkStatement::CreateDatabase { .. }
                    | FlinkStatement::DropDatabase { .. }
                    | FlinkStatement::CreateFunction(_)
                    | FlinkStatement::DropFunction { .. }
            );
            match &s.stmt {
                FlinkStatement::Insert(_) | FlinkStatement::Query(_) | FlinkStatement::StatementSet(_) => {
                    return Err(ServerError::Sql {
                        code: "sql_validation",
                        message: "INSERT and SELECT statements run as deployments: POST them to /api/v1/deployments".into(),
                        pos: Some(s.pos),
                    });
                }
                FlinkStatement::Set(Some(_)) | FlinkStatement::Reset(_) => {
                    return Err(ServerError::Sql {
                        code: "sql_validation",
                        message: "SET and RESET configure a deployment: give them in its SQL or its config".into(),
                        pos: Some(s.pos),
                    });
                }
                _ => {}
            }
            let outcome = session.execute(&s)?;
            if ddl {
                // Stored with the database it ran in (`USE` holds for the request only).
                let db = session.catalog.current_database();
                let text = if db == rask_sql::catalog::DEFAULT_DATABASE { original.text.clone() } else { format!("USE {db};\n{}", original.text) };
                self.store.add_catalog_statement(&text).await?;
            }
            let text = original.text;
            out.push(match outcome {
                Outcome::Done(m) => StatementResult { statement: text, kind: "done".into(), message: Some(m), header: None, rows: None, plan: None },
                Outcome::Rows { header, rows } => StatementResult { statement: text, kind: "rows".into(), message: None, header: Some(header), rows: Some(rows), plan: None },
                Outcome::Explain(p) => StatementResult { statement: text, kind: "explain".into(), message: None, header: None, rows: None, plan: Some(p) },
                Outcome::Job(_) => return Err(ServerError::Internal("a catalog statement planned a job".into())),
            });
        }
        Ok(out)
    }

    /// Check a deployment's statements against the catalog: they must plan into one job.
    /// Returns the job's plan.
    pub async fn plan_job(&self, sql: &str, config: &std::collections::BTreeMap<String, String>) -> Result<rask_sql::StreamPlan> {
        let mut session = self.session().await?;
        for (k, v) in config {
            session.set_option(k, v);
        }
        let stmts = rask_sql::parser::parse_script(&self.resolve(sql).await?)?;
        let mut plan = None;
        for s in stmts {
            match &s.stmt {
                FlinkStatement::CreateTable(_) | FlinkStatement::CreateView(_) | FlinkStatement::Drop { .. } => {
                    return Err(ServerError::Sql {
                        code: "sql_validation",
                        message: "a deployment holds SET and INSERT statements; create tables and views in the catalog (/api/v1/statements)".into(),
                        pos: Some(s.pos),
                    });
                }
                FlinkStatement::CreateFunction(f) if !f.temporary => {
                    return Err(ServerError::Sql {
                        code: "sql_validation",
                        message: "a deployment's functions are temporary (CREATE TEMPORARY FUNCTION); create lasting ones in the catalog (/api/v1/statements)".into(),
                        pos: Some(s.pos),
                    });
                }
                _ => {}
            }
            if let Outcome::Job(p) = session.execute(&s)? {
                if plan.is_some() {
                    return Err(ServerError::Sql {
                        code: "sql_validation",
                        message: "a deployment is one job: put several INSERTs into one EXECUTE STATEMENT SET".into(),
                        pos: Some(s.pos),
                    });
                }
                plan = Some(p);
            }
        }
        plan.ok_or_else(|| ServerError::BadRequest("the deployment's SQL has no INSERT INTO (nothing to run)".into()))
    }

    /// The script a worker runs: the catalog, the job's configuration, the job.
    pub async fn job_script(&self, sql: &str, config: &std::collections::BTreeMap<String, String>) -> Result<String> {
        let mut script = String::new();
        for s in self.resolved_statements().await? {
            script.push_str(s.trim_end_matches(|c: char| c == ';' || c.is_whitespace()));
            script.push_str(";\n");
            if s.starts_with("USE ") {
                script.push_str(&format!("USE {};\n", rask_sql::catalog::DEFAULT_DATABASE));
            }
        }
        for (k, v) in config {
            script.push_str(&format!("SET '{}' = '{}';\n", k.replace('\'', "''"), v.replace('\'', "''")));
        }
        script.push_str(&self.resolve(sql).await?);
        script.push('\n');
        Ok(script)
    }
}

/// A column of a catalog table or view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// A table or view of the catalog, with the DDL that created it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogTable {
    pub name: String,
    /// TABLE or VIEW.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    pub columns: Vec<CatalogColumn>,
    pub ddl: String,
}

/// A user-defined function of the catalog (`CREATE FUNCTION … LANGUAGE PYTHON`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogFunction {
    pub name: String,
    /// The implementation (`module.function`).
    pub identifier: String,
    pub language: String,
    pub temporary: bool,
    pub ddl: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogDatabase {
    pub name: String,
    pub tables: Vec<CatalogTable>,
    pub functions: Vec<CatalogFunction>,
}

/// The catalog as a tree (Flink's default catalog and database).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogTree {
    pub catalog: String,
    pub databases: Vec<CatalogDatabase>,
    /// Temporary system functions (in no database).
    pub system_functions: Vec<CatalogFunction>,
}

/// What a statement is, once checked against the catalog (nothing is stored or run).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Validation {
    /// `ddl`, `job` (INSERT / STATEMENT SET), `query` (SELECT) or `other` (SET, SHOW, …).
    pub kind: String,
    /// The streaming plan of a job or query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

impl Catalog {
    /// The catalog's tables and views with their columns and the DDL that created them.
    pub async fn tree(&self) -> Result<CatalogTree> {
        let mut session = self.session().await?;
        // The latest CREATE of each `db.name` (the stored statements hold the secret references).
        let mut ddl: std::collections::HashMap<(String, String), String> = Default::default();
        for text in self.store.catalog_statements().await? {
            let mut db = rask_sql::catalog::DEFAULT_DATABASE.to_string();
            for s in rask_sql::parser::parse_script(&text).unwrap_or_default() {
                let name = match &s.stmt {
                    FlinkStatement::Use(d) => {
                        db = d.rsplit('.').next().unwrap_or(d).to_string();
                        continue;
                    }
                    FlinkStatement::CreateTable(t) => t.name.clone(),
                    FlinkStatement::CreateView(v) => v.name.clone(),
                    FlinkStatement::CreateFunction(f) if f.system => format!("()system.{}", f.name.to_ascii_lowercase()),
                    FlinkStatement::CreateFunction(f) => match f.name.rsplit_once('.') {
                        Some((p, n)) => format!("{p}.(){}", n.to_ascii_lowercase()),
                        None => format!("(){}", f.name.to_ascii_lowercase()),
                    },
                    _ => continue,
                };
                let key = match name.rsplit_once('.') {
                    Some((prefix, n)) => (prefix.rsplit('.').next().unwrap_or(prefix).to_string(), n.to_string()),
                    None => (db.clone(), name),
                };
                ddl.insert(key, s.text.clone());
            }
        }
        let mut databases = Vec::new();
        for db in session.catalog.databases() {
            let names: Vec<String> = session.catalog.names_in(&db).map(str::to_string).collect();
            let mut tables = Vec::new();
            for name in names {
                let full = format!("{db}.{name}");
                let (kind, connector) = match session.catalog.get(&full) {
                    Some(rask_sql::catalog::CatalogEntry::Table(t)) => ("TABLE", Some(t.connector.clone())),
                    Some(rask_sql::catalog::CatalogEntry::View(_)) => ("VIEW", None),
                    None => continue,
                };
                let pos = rask_types::error::Pos::new(1, 1);
                let located = rask_sql::parser::Located { stmt: FlinkStatement::Describe(full.clone()), pos, text: format!("DESCRIBE {full}") };
                let columns = match session.execute(&located) {
                    Ok(Outcome::Rows { rows, .. }) => rows
                        .into_iter()
                        .map(|r| CatalogColumn { name: r.first().cloned().unwrap_or_default(), ty: r.get(1).cloned().unwrap_or_default() })
                        .collect(),
                    _ => Vec::new(),
                };
                let text = ddl.remove(&(db.clone(), name.clone())).unwrap_or_default();
                tables.push(CatalogTable { ddl: text, name, kind: kind.into(), connector, columns });
            }
            let functions = session
                .catalog
                .functions_in(&db, false)
                .map(|f| CatalogFunction {
                    ddl: ddl.remove(&(db.clone(), format!("(){}", f.name))).unwrap_or_default(),
                    name: f.name.clone(),
                    identifier: f.identifier.clone(),
                    language: f.language.clone(),
                    temporary: f.temporary,
                })
                .collect();
            databases.push(CatalogDatabase { name: db, tables, functions });
        }
        let system_functions = session
            .catalog
            .functions_in("", true)
            .map(|f| CatalogFunction {
                ddl: ddl.remove(&("()system".to_string(), f.name.clone())).unwrap_or_default(),
                name: f.name.clone(),
                identifier: f.identifier.clone(),
                language: f.language.clone(),
                temporary: f.temporary,
            })
            .collect();
        Ok(CatalogTree { catalog: rask_sql::catalog::DEFAULT_CATALOG.into(), databases, system_functions })
    }

    /// Check statements against the catalog without storing or running anything: DDL is
    /// applied to a scratch copy, jobs and queries are planned. Errors carry line and column.
    pub async fn validate(&self, sql: &str) -> Result<Validation> {
        let mut session = self.session().await?;
        let stmts = rask_sql::parser::parse_script(&self.resolve(sql).await?)?;
        if stmts.is_empty() {
            return Err(ServerError::BadRequest("no statement to validate".into()));
        }
        let mut kind = "other";
        let mut plan = None;
        for s in stmts {
            let this = match &s.stmt {
                FlinkStatement::CreateTable(_) | FlinkStatement::CreateView(_) | FlinkStatement::Drop { .. } => "ddl",
                FlinkStatement::Insert(_) | FlinkStatement::StatementSet(_) => "job",
                FlinkStatement::Query(_) => "query",
                _ => "other",
            };
            let p: usize = session.option("parallelism.default").and_then(|v| v.parse().ok()).unwrap_or(1);
            if let Outcome::Job(j) = session.execute(&s)? {
                plan = Some(j.explain(p));
            }
            if this != "other" {
                kind = this;
            }
        }
        Ok(Validation { kind: kind.into(), plan })
    }

    /// Check that `sql` is one SELECT and return its column names and the script that runs
    /// it for a preview (rows printed as JSON lines).
    pub async fn preview_script(&self, sql: &str) -> Result<(Vec<String>, String)> {
        let mut session = self.session().await?;
        let stmts = rask_sql::parser::parse_script(&self.resolve(sql).await?)?;
        // `SET 'k' = 'v'` statements (e.g. 'python.files' for Python functions), then one SELECT.
        let Some((s, sets)) = stmts.split_last() else {
            return Err(ServerError::BadRequest("a preview runs one SELECT statement, got none".into()));
        };
        for set in sets {
            if !matches!(set.stmt, FlinkStatement::Set(Some(_))) {
                return Err(ServerError::Sql {
                    code: "sql_validation",
                    message: "a preview runs one SELECT statement, after SET statements if any".into(),
                    pos: Some(set.pos),
                });
            }
            session.execute(set)?;
        }
        if !matches!(s.stmt, FlinkStatement::Query(_)) {
            return Err(ServerError::Sql { code: "sql_validation", message: "a preview runs a SELECT statement".into(), pos: Some(s.pos) });
        }
        let Outcome::Job(plan) = session.execute(s)? else {
            return Err(ServerError::Internal("a SELECT did not plan into a job".into()));
        };
        let columns = plan.sinks().next().map(|n| n.schema.fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
        let mut config = std::collections::BTreeMap::new();
        config.insert("rask.select.print-format".to_string(), "json".to_string());
        Ok((columns, self.job_script(sql, &config).await?))
    }
}
