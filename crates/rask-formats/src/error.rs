//! The error type of the json and csv formats, with its fault classification.

use rask_types::Fault;

/// What went wrong while building a format, decoding a record or encoding a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// The user's data is malformed: the message names the field and says why.
    #[error("{0}")]
    Malformed(String),
    /// A type or option combination the format does not support (user fault at DDL time).
    #[error("{0}")]
    Unsupported(String),
    /// A bug in Rask.
    #[error("internal error in format: {0}")]
    Internal(String),
}

impl FormatError {
    /// Whose fault the error is.
    pub fn fault(&self) -> Fault {
        match self {
            FormatError::Malformed(_) | FormatError::Unsupported(_) => Fault::User,
            FormatError::Internal(_) => Fault::Internal,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn faults() {
        assert_eq!(FormatError::Malformed("x".into()).fault(), Fault::User);
        assert_eq!(FormatError::Unsupported("x".into()).fault(), Fault::User);
        assert_eq!(FormatError::Internal("x".into()).fault(), Fault::Internal);
        assert_eq!(FormatError::Malformed("field 'a': bad".into()).to_string(), "field 'a': bad");
    }
}
