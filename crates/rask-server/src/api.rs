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
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many of the last lines (default 200).
    pub lines: Option<usize>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rask server API", version = "1"),
    paths(health, statements, validate, catalog, connectors, list_secrets, put_secret, delete_secret, list_deployments, create_deployment, get_deployment, update_deployment, start_deployment, stop_deployment, savepoint_deployment, deployment_events, deployment_logs, deployment_metrics, deployment_plan, deployment_checkpoints, deployment_exceptions, create_preview, get_preview, delete_preview),
    components(schemas(StatementRequest, StatementResult, SecretValue, CreateDeployment, UpdateDeployment, StopRequest, StartRequest, Deployment, JobEvent, ErrorBody, DeploymentMetrics,
        crate::metrics::OperatorMetrics, crate::metrics::Sample, crate::metrics::LiveStatus, crate::metrics::CheckpointFigures, crate::catalog::Validation, crate::catalog::CatalogTree,
        crate::catalog::CatalogDatabase, crate::catalog::CatalogFunction, crate::catalog::CatalogTable, crate::catalog::CatalogColumn, ConnectorInfo, ConnectorOption, crate::jobs::CheckpointInfo, crate::jobs::JobException,
        crate::jobs::JobGraph, crate::jobs::GraphNode, crate::jobs::GraphEdge, crate::preview::PreviewRequest, crate::preview::Preview, crate::preview::PreviewRow))
)]
pub struct ApiDoc;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/statements", post(statements))
        .route("/api/v1/validate", post(validate))
        .route("/api/v1/catalog", get(catalog))
        .route("/api/v1/connectors", get(connectors))
        .route("/api/v1/previews", post(create_preview))
        .route("/api/v1/previews/{id}", get(get_preview).delete(delete_preview))
        .route("/api/v1/secrets", get(list_secrets))
        .route("/api/v1/secrets/{name}", axum::routing::put(put_secret).delete(delete_secret))
        .route("/api/v1/deployments", get(list_deployments).post(create_deployment))
        .route("/api/v1/deployments/{id}", get(get_deployment).patch(update_deployment))
        .route("/api/v1/deployments/{id}/start", post(start_deployment))
        .route("/api/v1/deployments/{id}/stop", post(stop_deployment))
        .route("/api/v1/deployments/{id}/events", get(deployment_events))
        .route("/api/v1/deployments/{id}/logs", get(deployment_logs))
        .route("/api/v1/deployments/{id}/metrics", get(deployment_metrics))
        .route("/api/v1/deployments/{id}/savepoint", post(savepoint_deployment))
        .route("/api/v1/deployments/{id}/plan", get(deployment_plan))
        .route("/api/v1/deployments/{id}/checkpoints", get(deployment_checkpoints))
        .route("/api/v1/deployments/{id}/exceptions", get(deployment_exceptions))
        .route("/api/{*rest}", axum::routing::any(|| async { ServerError::NotFound("no such API endpoint".into()) }))
        .fallback(crate::console::serve)
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

/// The OpenAPI document as pretty JSON (`rask openapi`; the console's types are generated from it).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
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
    let mut out = Vec::new();
    for d in s.store.deployments().await? {
        out.push(crate::metrics::with_live(&s, d).await?);
    }
    Ok(Json(out))
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
    let d = s.jobs.get(&id).await?;
    Ok(Json(crate::metrics::with_live(&s, d).await?))
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
    let running = matches!(d.state.as_str(), crate::jobs::RUNNING | crate::jobs::FAILING | crate::jobs::RESTARTING);
    let operators = if running {
        s.series.latest(&d.id).map(|j| j.operators).unwrap_or_else(|| crate::metrics::operators(&s.jobs.metrics(&d.id)))
    } else {
        Vec::new()
    };
    Ok(Json(DeploymentMetrics { operators, series: s.series.get(&d.id) }))
}

/// The last lines of the deployment's worker log.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", params(("id" = String, Path, description = "Deployment id or name"), LogQuery),
    responses((status = 200, body = String)))]
async fn deployment_logs(State(s): State<AppState>, Path(id): Path<String>, Query(q): Query<LogQuery>) -> Result<String> {
    s.jobs.logs(&id, q.lines.unwrap_or(200)).await
}

/// Check statements against the catalog without storing or running anything.
#[utoipa::path(post, path = "/api/v1/validate", request_body = StatementRequest,
    responses((status = 200, body = crate::catalog::Validation), (status = 400, body = ErrorBody)))]
async fn validate(State(s): State<AppState>, b: std::result::Result<Json<StatementRequest>, axum::extract::rejection::JsonRejection>) -> Result<Json<crate::catalog::Validation>> {
    let req = body(b)?;
    Ok(Json(s.catalog.validate(&req.sql).await?))
}

/// The catalog's tables and views with their columns and DDL.
#[utoipa::path(get, path = "/api/v1/catalog", responses((status = 200, body = crate::catalog::CatalogTree)))]
async fn catalog(State(s): State<AppState>) -> Result<Json<crate::catalog::CatalogTree>> {
    Ok(Json(s.catalog.tree().await?))
}

/// A connector of the registry.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ConnectorInfo {
    pub name: String,
    pub description: String,
    pub source: bool,
    pub sink: bool,
    pub lookup: bool,
    pub options: Vec<ConnectorOption>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ConnectorOption {
    pub key: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    pub doc: String,
}

/// The connector registry: each connector's roles and options.
#[utoipa::path(get, path = "/api/v1/connectors", responses((status = 200, body = Vec<ConnectorInfo>)))]
async fn connectors() -> Json<Vec<ConnectorInfo>> {
    let reg = rask_connectors::builtin_registry();
    let mut out: Vec<ConnectorInfo> = reg
        .all()
        .map(|c| {
            let roles = c.roles();
            ConnectorInfo {
                name: c.name().to_string(),
                description: c.description().to_string(),
                source: roles.source,
                sink: roles.sink,
                lookup: roles.lookup,
                options: rask_connectors::listed_options(c.as_ref())
                    .into_iter()
                    .map(|o| ConnectorOption { key: o.key.to_string(), required: o.required, default: o.default.map(str::to_string), doc: o.doc.to_string() })
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Json(out)
}

/// Take a savepoint of a running deployment, which keeps running.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/savepoint", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = Deployment), (status = 409, body = ErrorBody)))]
async fn savepoint_deployment(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Deployment>> {
    Ok(Json(s.jobs.savepoint(&id).await?))
}

/// The deployment's operator graph.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/plan", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = crate::jobs::JobGraph), (status = 404, body = ErrorBody)))]
async fn deployment_plan(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<crate::jobs::JobGraph>> {
    Ok(Json(s.jobs.graph(&id).await?))
}

/// The deployment's retained checkpoints and savepoints, newest first.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/checkpoints", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = Vec<crate::jobs::CheckpointInfo>)))]
async fn deployment_checkpoints(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<crate::jobs::CheckpointInfo>>> {
    Ok(Json(s.jobs.checkpoints(&id).await?))
}

/// Failures inside the deployment's job, newest first.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/exceptions", params(("id" = String, Path, description = "Deployment id or name")),
    responses((status = 200, body = Vec<crate::jobs::JobException>)))]
async fn deployment_exceptions(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<crate::jobs::JobException>>> {
    Ok(Json(s.jobs.exceptions(&id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Rows from this index on (default 0).
    pub after: Option<usize>,
}

/// Run a SELECT against the catalog; its rows arrive while it runs (poll with `after`).
#[utoipa::path(post, path = "/api/v1/previews", request_body = crate::preview::PreviewRequest,
    responses((status = 201, body = crate::preview::Preview), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_preview(
    State(s): State<AppState>,
    b: std::result::Result<Json<crate::preview::PreviewRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<crate::preview::Preview>)> {
    let req = body(b)?;
    Ok((StatusCode::CREATED, Json(s.previews.start(req).await?)))
}

/// A preview's state and its rows from index `after` on.
#[utoipa::path(get, path = "/api/v1/previews/{id}", params(("id" = String, Path, description = "Preview id"), PreviewQuery),
    responses((status = 200, body = crate::preview::Preview), (status = 404, body = ErrorBody)))]
async fn get_preview(State(s): State<AppState>, Path(id): Path<String>, Query(q): Query<PreviewQuery>) -> Result<Json<crate::preview::Preview>> {
    Ok(Json(s.previews.get(&id, q.after.unwrap_or(0))?))
}

/// Stop a running preview, or forget a finished one.
#[utoipa::path(delete, path = "/api/v1/previews/{id}", params(("id" = String, Path, description = "Preview id")),
    responses((status = 204, description = "Stopped or forgotten"), (status = 404, body = ErrorBody)))]
async fn delete_preview(State(s): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    s.previews.cancel(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
