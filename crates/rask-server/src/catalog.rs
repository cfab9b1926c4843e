//! The persistent catalog: the DDL statements that succeeded (CREATE/DROP TABLE and VIEW),
//! stored in order and replayed into a fresh SQL session for every request — the session is
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
            let ddl = matches!(s.stmt, FlinkStatement::CreateTable(_) | FlinkStatement::CreateView(_) | FlinkStatement::Drop { .. });
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
                self.store.add_catalog_statement(&original.text).await?;
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
    /// Returns the job's plan (EXPLAIN text).
    pub async fn check_job(&self, sql: &str, config: &std::collections::BTreeMap<String, String>) -> Result<String> {
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
                plan = Some(p.explain(1));
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
        }
        for (k, v) in config {
            script.push_str(&format!("SET '{}' = '{}';\n", k.replace('\'', "''"), v.replace('\'', "''")));
        }
        script.push_str(&self.resolve(sql).await?);
        script.push('\n');
        Ok(script)
    }
}
