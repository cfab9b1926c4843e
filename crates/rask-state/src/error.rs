//! Errors of checkpoint storage, each saying whose fault it is.

use rask_types::Fault;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// A bad location, an incompatible or corrupt snapshot the user asked to restore.
    #[error("{0}")]
    User(String),
    /// The storage failed (I/O, network, permissions).
    #[error("{0}")]
    External(String),
    /// A bug in Rask.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StateError {
    pub fn fault(&self) -> Fault {
        match self {
            StateError::User(_) => Fault::User,
            StateError::External(_) => Fault::External,
            StateError::Internal(_) => Fault::Internal,
        }
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;
