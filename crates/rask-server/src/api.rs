//! The REST API under `/api/v1` (axum handlers) and its OpenAPI document, generated from the
//! handlers' annotations (utoipa) and served at `/api/v1/openapi.json`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::OpenApi;

use crate::catalog::StatementResult;
use crate::error::{ErrorBody, Result, ServerError};
use crate::store::{Deployment, JobEvent};
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StatementRequest {
    /// One or more statements separated by ';'.
    pub sql: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateDeployment {
    pub name: String,
    /// SET and INSERT INTO statements (several INSERTs in one EXECUTE STATEMENT SET).
    pub sql: String,
    #[serde(default = "one")]
    pub parallelism: i64,
    /// Flink configuration keys, e.g. `execution.checkpointing.interval`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Start at once (default true).
    #[serde(default = "yes")]
    pub start: bool,
}

fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}

/// A change of a stopped deployment (upgrade: new SQL; rescale: new parallelism).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateDeployment {
    pub sql: Option<String>,
    pub parallelism: Option<i64>,
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
pub struct StopRequest {
    /// Take a savepoint and suspend (resumable), rather than cancel.
    #[serde(default)]
    pub savepoint: bool,
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
pub struct StartRequest {
    /// Resume from the last savepoint (default true when there is one).
    #[serde(default = "yes")]
    pub from_savepoint: bool,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LogQuery {
    /// How many of the last lines (default 200).
    pub lines: Option<usize>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rask server API", version = "1"),
    paths(health, statements, list_secrets, put_secret, delete_secret, list_deployments, create_deployment, get_deployment, update_deployment, start_deployment, stop_deployment, deployment_events, deployment_logs, deployment_metrics),
    components(schemas(StatementRequest, StatementResult, SecretValue, CreateDeployment, UpdateDeployment, StopRequest, StartRequest, Deployment, JobEvent, ErrorBody, DeploymentMetrics, crate::metrics::OperatorMetrics, crate::metrics::Sample))
)]
pub struct ApiDoc;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/statements", post(statements))
        .route("/api/v1/secrets", get(list_secrets))
        .route("/api/v1/secrets/{name}", axum::routing::put(put_secret).delete(delete_secret))
        .route("/api/v1/deployments", get(list_deployments).post(create_deployment))
        .route("/api/v1/deployments/{id}", get(get_deployment).patch(update_deployment))
        .route("/api/v1/deployments/{id}/start", post(start_deployment))
        .route("/api/v1/deployments/{id}/stop", post(stop_deployment))
        .route("/api/v1/deployments/{id}/events", get(deployment_events))
        .route("/api/v1/deployments/{id}/logs", get(deployment_logs))
        .route("/api/v1/deployments/{id}/metrics", get(deployment_metrics))
        .fallback(|| async { ServerError::NotFound("no such API endpoint".into()) })
        .with_state(state)
}

/// The request body as JSON, with a 400 in the error shape when it is not.
fn body<T: serde::de::DeserializeOwned>(b: std::result::Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T> {
    b.map(|Json(t)| t).map_err(|e| ServerError::BadRequest(format!("invalid request body: {}", e.body_text())))
}

/// Prometheus text exposition of the running jobs' per-operator metrics.
async fn metrics(State(s): State<AppState>) -> Result<([(axum::http::HeaderName, &'static str); 1], String)> {
    let text = crate::metrics::render(&s).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, description = "The server is up")))]
async fn health() -> &'static str {
    "ok"
}

/// Run catalog statements (CREATE/DROP TABLE and VIEW, SHOW, DESCRIBE, EXPLAIN).
#[utoipa::path(post, path = "/api/v1/statements", request_body = StatementRequest,
    responses((status = 200, body = Vec<StatementResult>), (status = 400, body = ErrorBody)))]
async fn statements(State(s): State<AppState>, b: std::result::Result<Json<StatementRequest>, axum::extract::rejection::JsonRejection>) -> Result<Json<Vec<StatementResult>>> {
    let req = body(b)?;
    Ok(Json(s.catalog.execute(&req.sql).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SecretValue {
    pub value: String,
}

/// The secrets' names (values are never answered).
#[utoipa::path(get, path = "/api/v1/secrets", responses((status = 200, body = Vec<String>)))]
async fn list_secrets(State(s): State<AppState>) -> Result<Json<Vec<String>>> {
    Ok(Json(s.store.secret_names().await?))
}

/// Set a secret, referenced in DDL as `${secret_values.NAME}`.
#[utoipa::path(put, path = "/api/v1/secrets/{name}", params(("name" = String, Path, description = "Secret name")), request_body = SecretValue,
    responses((status = 204, description = "Stored"), (status = 400, body = ErrorBody)))]
async fn put_secret(
    State(s): State<AppState>,
    Path(name): Path<String>,
    b: std::result::Result<Json<SecretValue>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode> {
    let req = body(b)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ServerError::BadRequest(format!("invalid secret name '{name}' (letters, digits, '_' and '-')")));
    }
    s.store.put_secret(&name, &req.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/secrets/{name}", params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
async fn delete_secret(State(s): State<AppState>, Path(name): Path<String>) -> Result<StatusCode> {
    if s.store.delete_secret(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ServerError::NotFound(format!("no secret '{name}'")))
    }
}

#[utoipa::path(get, path = "/api/v1/deployments", responses((status = 200, body = Vec<Deployment>)))]
async fn list_deployments(State(s): State<AppState>) -> Result<Json<Vec<Deployment>>> {
    Ok(Json(s.store.deployments().await?))
}

/// Create a deployment from SQL (checked against the catalog) and, by default, start it.
#[utoipa::path(post, path = "/api/v1/deployments", request_body = CreateDeployment,
    responses((status = 201, body = Deployment), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_deployment(
    State(s): State<AppState>,
    b: std::result::Result<Json<CreateDeployment>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Deployment>)> {
    let req = body(b)?;
    let d = s.jobs.create(req.name, req.sql, req.parallelism, req.config).await?;
    let d = if req.start { s.jobs.start(&d.id, false).await? } else { d };
    Ok((StatusCode::CREATED, Json(d)))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn get_deployment(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Deployment>> {
    Ok(Json(s.jobs.get(&id).await?))
}

/// Change a stopped deployment: new SQL (upgrade), parallelism (rescale) or configuration;
/// resuming restores its savepoint into the changed job.
#[utoipa::path(patch, path = "/api/v1/deployments/{id}", params(("id" = String, Path, description = "Deployment id or name")),
    request_body = UpdateDeployment, responses((status = 200, body = Deployment), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_deployment(
    State(s): State<AppState>,
    Path(id): Path<String>,
    b: std::result::Result<Json<UpdateDeployment>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Deployment>> {
    let req = body(b)?;
    Ok(Json(s.jobs.update(&id, req.sql, req.parallelism, req.config).await?))
}

/// Start a deployment, or resume it from its last savepoint.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/start", params(("id" = String, Path, description = "Deployment id or name")),
    request_body = StartRequest, responses((status = 200, body = Deployment), (status = 409, body = ErrorBody)))]
async fn start_deployment(
    State(s): State<AppState>,
    Path(id): Path<String>,
    b: std::result::Result<Json<StartRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Deployment>> {
    let req = b.map(|Json(r)| r).unwrap_or(StartRequest { from_savepoint: true });
    Ok(Json(s.jobs.start(&id, req.from_savepoint).await?))
}

/// Stop a running deployment: with a savepoint (suspended) or cancelled.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/stop", params(("id" = String, Path, description = "Deployment id or name")),
    request_body = StopRequest, responses((status = 200, body = Deployment), (status = 409, body = ErrorBody)))]
async fn stop_deployment(
    State(s): State<AppState>,
    Path(id): Path<String>,
    b: std::result::Result<Json<StopRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Deployment>> {
    let req = b.map(|Json(r)| r).unwrap_or_default();
    Ok(Json(s.jobs.stop(&id, req.savepoint).await?))
}

/// The deployment's state history.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/events", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = Vec<JobEvent>)))]
async fn deployment_events(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<JobEvent>>> {
    let d = s.jobs.get(&id).await?;
    Ok(Json(s.store.events(&d.id).await?))
}

/// A deployment's metrics: its running job's operators now, and the last hour as one sample a
/// second.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeploymentMetrics {
    pub operators: Vec<crate::metrics::OperatorMetrics>,
    pub series: Vec<crate::metrics::Sample>,
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/metrics", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = DeploymentMetrics), (status = 404, body = ErrorBody)))]
async fn deployment_metrics(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<DeploymentMetrics>> {
    let d = s.jobs.get(&id).await?;
    let running = matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::RESTARTING);
    let operators = if running { crate::metrics::operators(&s.jobs.metrics(&d.id)) } else { Vec::new() };
    Ok(Json(DeploymentMetrics { operators, series: s.series.get(&d.id) }))
}

/// The last lines of the deployment's worker log.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", params(("id" = String, Path, description = "Deployment id or name"), LogQuery),
    responses((status = 200, body = String)))]
async fn deployment_logs(State(s): State<AppState>, Path(id): Path<String>, Query(q): Query<LogQuery>) -> Result<String> {
    s.jobs.logs(&id, q.lines.unwrap_or(200)).await
}
