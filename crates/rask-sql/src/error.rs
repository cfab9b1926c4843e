//! Errors of the SQL front end: every one says what went wrong and where (line:column).

use rask_types::{Fault, Pos};

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not valid Flink SQL.
    #[error("SQL parse error at {pos}: {message}")]
    Parse { pos: Pos, message: String },
    /// Valid syntax, but the statement cannot be planned (unknown table, bad option, type error).
    #[error("SQL validation error at {pos}: {message}")]
    Validation { pos: Pos, message: String },
    /// Valid Flink SQL that Rask does not run yet.
    #[error("not supported yet at {pos}: {message}")]
    Unsupported { pos: Pos, message: String },
    /// A bug in the planner.
    #[error("internal planner error: {0}")]
    Internal(String),
}

impl SqlError {
    pub fn fault(&self) -> Fault {
        match self {
            SqlError::Internal(_) => Fault::Internal,
            _ => Fault::User,
        }
    }
    pub fn parse(pos: Pos, message: impl Into<String>) -> Self {
        SqlError::Parse { pos, message: message.into() }
    }
    pub fn validation(pos: Pos, message: impl Into<String>) -> Self {
        SqlError::Validation { pos, message: message.into() }
    }
    pub fn unsupported(pos: Pos, message: impl Into<String>) -> Self {
        SqlError::Unsupported { pos, message: message.into() }
    }
    /// The message without kind and position.
    pub fn message(&self) -> String {
        match self {
            SqlError::Parse { message, .. } | SqlError::Validation { message, .. } | SqlError::Unsupported { message, .. } => message.clone(),
            SqlError::Internal(m) => m.clone(),
        }
    }

    /// Position of the error, if it has one.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            SqlError::Parse { pos, .. } | SqlError::Validation { pos, .. } | SqlError::Unsupported { pos, .. } => Some(*pos),
            SqlError::Internal(_) => None,
        }
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
