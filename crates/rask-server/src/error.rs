//! The server's error type: whose fault (the request's, the environment's, Rask's) and how it
//! is answered — an HTTP status and a JSON body of a stable shape:
//! `{"error": {"code": "...", "message": "...", "line": 1, "column": 8}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// SQL that does not parse or plan; `pos` is where (1-based line and column).
    #[error("{message}")]
    Sql { code: &'static str, message: String, pos: Option<rask_types::Pos> },
    /// A request that cannot be served as asked (bad parameter, wrong state).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a name taken, a job already running).
    #[error("{0}")]
    Conflict(String),
    /// The metadata store or the file system failed.
    #[error("{0}")]
    External(String),
    /// A bug in Rask.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, ServerError>;

impl From<rask_sql::SqlError> for ServerError {
    fn from(e: rask_sql::SqlError) -> Self {
        use rask_sql::SqlError as E;
        match &e {
            E::Parse { pos, message } => ServerError::Sql { code: "sql_parse", message: message.clone(), pos: Some(*pos) },
            E::Validation { pos, message } => ServerError::Sql { code: "sql_validation", message: message.clone(), pos: Some(*pos) },
            E::Unsupported { pos, message } => ServerError::Sql { code: "sql_unsupported", message: message.clone(), pos: Some(*pos) },
            E::Internal(m) => ServerError::Internal(m.clone()),
        }
    }
}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        ServerError::External(format!("metadata store: {e}"))
    }
}

impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError::External(format!("file system: {e}"))
    }
}

/// The JSON body of an error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: sql_parse, sql_validation, sql_unsupported, bad_request,
    /// not_found, conflict, external, internal.
    pub code: String,
    pub message: String,
    /// For SQL errors: 1-based line and column in the submitted text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

impl ServerError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ServerError::Sql { code, .. } => (StatusCode::BAD_REQUEST, code),
            ServerError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ServerError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ServerError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ServerError::External(_) => (StatusCode::SERVICE_UNAVAILABLE, "external"),
            ServerError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let pos = match &self {
            ServerError::Sql { pos, .. } => *pos,
            _ => None,
        };
        let message = match &self {
            ServerError::Sql { message, .. } => message.clone(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::warn!(%message, "request failed");
        }
        let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message, line: pos.map(|p| p.line), column: pos.map(|p| p.column) } };
        (status, axum::Json(body)).into_response()
    }
}
