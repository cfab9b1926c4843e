//! Runtime errors, each saying whose fault it is.

use rask_types::Fault;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    /// Bad input data or configuration (a record that does not parse, a value that does not fit).
    #[error("{0}")]
    User(String),
    /// An external system failed (I/O, network).
    #[error("{0}")]
    External(String),
    /// A bug in Rask.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RuntimeError {
    pub fn fault(&self) -> Fault {
        match self {
            RuntimeError::User(_) => Fault::User,
            RuntimeError::External(_) => Fault::External,
            RuntimeError::Internal(_) => Fault::Internal,
        }
    }
    /// Prefix the message with context (operator name, file, …).
    pub fn context(self, ctx: impl std::fmt::Display) -> Self {
        match self {
            RuntimeError::User(m) => RuntimeError::User(format!("{ctx}: {m}")),
            RuntimeError::External(m) => RuntimeError::External(format!("{ctx}: {m}")),
            RuntimeError::Internal(m) => RuntimeError::Internal(format!("{ctx}: {m}")),
        }
    }
}

/// A runtime error raised while the checkpoint thread builds an operator's deferred snapshot
/// batch: the fault stays the same.
impl From<RuntimeError> for rask_state::StateError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::User(m) => rask_state::StateError::User(m),
            RuntimeError::External(m) => rask_state::StateError::External(m),
            RuntimeError::Internal(m) => rask_state::StateError::Internal(m),
        }
    }
}

impl From<arrow::error::ArrowError> for RuntimeError {
    fn from(e: arrow::error::ArrowError) -> Self {
        RuntimeError::User(e.to_string())
    }
}

impl From<datafusion_common::DataFusionError> for RuntimeError {
    fn from(e: datafusion_common::DataFusionError) -> Self {
        RuntimeError::User(e.strip_backtrace())
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
