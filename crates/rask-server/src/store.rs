//! The metadata store: SQLite (a file in the data directory, the default) or PostgreSQL (by
//! URL), through `sqlx`'s `Any` driver with the same schema and embedded migrations
//! (`migrations/`, run at start). Holds the catalog's DDL statements, deployments and their
//! state history.

use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use crate::error::Result;

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

/// A deployment as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    /// The job's statements (SET, INSERT INTO, EXECUTE STATEMENT SET).
    pub sql: String,
    pub parallelism: i64,
    /// Job configuration (Flink option keys), applied with SET before the statements.
    pub config: std::collections::BTreeMap<String, String>,
    /// CREATED, RUNNING, FAILING, RESTARTING, FINISHED, FAILED, CANCELLED, SUSPENDED.
    pub state: String,
    /// The worker process while it runs.
    pub pid: Option<i64>,
    pub restarts: i64,
    /// The savepoint a stop-with-savepoint took (where `resume` starts from).
    pub last_savepoint: Option<String>,
    /// Why the last run failed.
    pub failure: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The running job's figures now (while RUNNING, FAILING or RESTARTING; answered, not stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::metrics::LiveStatus>,
}

/// One state change of a deployment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobEvent {
    pub at: i64,
    pub state: String,
    pub message: String,
}

fn deployment(r: &sqlx::any::AnyRow) -> Result<Deployment> {
    let config: String = r.try_get("config")?;
    Ok(Deployment {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        sql: r.try_get("sql_text")?,
        parallelism: r.try_get("parallelism")?,
        config: serde_json::from_str(&config).map_err(|e| crate::error::ServerError::Internal(format!("stored config: {e}")))?,
        state: r.try_get("state")?,
        pid: r.try_get("pid")?,
        restarts: r.try_get("restarts")?,
        last_savepoint: r.try_get("last_savepoint")?,
        failure: r.try_get("failure")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        live: None,
    })
}

const DEPLOYMENT_COLUMNS: &str = "id, name, sql_text, parallelism, config, state, pid, restarts, last_savepoint, failure, created_at, updated_at";

impl Store {
    /// Connect (`sqlite://…?mode=rwc` or `postgres://…`) and bring the schema up to date.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let max = if url.starts_with("sqlite") { 1 } else { 8 };
        let pool = AnyPoolOptions::new().max_connections(max).connect(url).await.map_err(|e| {
            crate::error::ServerError::External(format!("cannot open the metadata store '{}': {e}", redact(url)))
        })?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| crate::error::ServerError::External(format!("migrating the metadata store: {e}")))?;
        Ok(Store { pool })
    }

    /// The catalog's DDL statements, in order.
    pub async fn catalog_statements(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT sql_text FROM catalog_statements ORDER BY seq").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>("sql_text")?)).collect()
    }

    pub async fn add_catalog_statement(&self, sql: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM catalog_statements").fetch_one(&mut *tx).await?.try_get("n")?;
        sqlx::query("INSERT INTO catalog_statements (seq, sql_text, created_at) VALUES ($1, $2, $3)")
            .bind(next)
            .bind(sql)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Set secret `name` (replacing its value).
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM secrets WHERE name = $1").bind(name).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO secrets (name, secret_value, created_at) VALUES ($1, $2, $3)").bind(name).bind(value).bind(now_ms()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether secret `name` existed.
    pub async fn delete_secret(&self, name: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM secrets WHERE name = $1").bind(name).execute(&self.pool).await?.rows_affected() > 0)
    }

    pub async fn secret_names(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM secrets ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>("name")?)).collect()
    }

    pub async fn secrets(&self) -> Result<std::collections::HashMap<String, String>> {
        let rows = sqlx::query("SELECT name, secret_value FROM secrets").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>("name")?, r.try_get::<String, _>("secret_value")?))).collect()
    }

    pub async fn insert_deployment(&self, d: &Deployment) -> Result<()> {
        let config = serde_json::to_string(&d.config).map_err(|e| crate::error::ServerError::Internal(e.to_string()))?;
        sqlx::query(&format!("INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.sql)
            .bind(d.parallelism)
            .bind(config)
            .bind(&d.state)
            .bind(d.pid)
            .bind(d.restarts)
            .bind(&d.last_savepoint)
            .bind(&d.failure)
            .bind(d.created_at)
            .bind(d.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replace a deployment's definition (SQL, parallelism, configuration).
    pub async fn update_definition(&self, d: &Deployment) -> Result<()> {
        let config = serde_json::to_string(&d.config).map_err(|e| crate::error::ServerError::Internal(e.to_string()))?;
        sqlx::query("UPDATE deployments SET sql_text = $1, parallelism = $2, config = $3, updated_at = $4 WHERE id = $5")
            .bind(&d.sql)
            .bind(d.parallelism)
            .bind(config)
            .bind(now_ms())
            .bind(&d.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn deployments(&self) -> Result<Vec<Deployment>> {
        let rows = sqlx::query(&format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments ORDER BY created_at, id")).fetch_all(&self.pool).await?;
        rows.iter().map(deployment).collect()
    }

    pub async fn deployment(&self, id_or_name: &str) -> Result<Option<Deployment>> {
        let row = sqlx::query(&format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1 OR name = $2"))
            .bind(id_or_name)
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(deployment).transpose()
    }

    /// Record a state change (and the run's details) and add it to the history.
    pub async fn set_state(&self, d: &Deployment, message: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE deployments SET state = $1, pid = $2, restarts = $3, last_savepoint = $4, failure = $5, updated_at = $6 WHERE id = $7")
            .bind(&d.state)
            .bind(d.pid)
            .bind(d.restarts)
            .bind(&d.last_savepoint)
            .bind(&d.failure)
            .bind(now_ms())
            .bind(&d.id)
            .execute(&mut *tx)
            .await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM job_events WHERE deployment_id = $1")
            .bind(&d.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        sqlx::query("INSERT INTO job_events (deployment_id, seq, at, state, message) VALUES ($1, $2, $3, $4, $5)")
            .bind(&d.id)
            .bind(next)
            .bind(now_ms())
            .bind(&d.state)
            .bind(message)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn events(&self, id: &str) -> Result<Vec<JobEvent>> {
        let rows = sqlx::query("SELECT at, state, message FROM job_events WHERE deployment_id = $1 ORDER BY seq").bind(id).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(JobEvent { at: r.try_get("at")?, state: r.try_get("state")?, message: r.try_get("message")? })).collect()
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
