//! Source positions in checkpoints, as the connectors store them: JSON of a reader-specific
//! type (the engine treats positions as opaque bytes).

use rask_runtime::error::{Result, RuntimeError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A reader's position as bytes for [`rask_runtime::connector::SourceReader::position`].
pub fn encode<T: Serialize>(source: &str, pos: &T) -> Result<Option<Vec<u8>>> {
    serde_json::to_vec(pos).map(Some).map_err(|e| RuntimeError::Internal(format!("{source} position: {e}")))
}

/// One position as [`encode`] wrote it.
pub fn decode<T: DeserializeOwned>(source: &str, position: &[u8]) -> Result<T> {
    serde_json::from_slice(position).map_err(|e| RuntimeError::User(format!("{source}: unreadable position in the checkpoint: {e}")))
}

/// The positions handed to a restored reader (one per old subtask assigned to it).
pub fn decode_all<T: DeserializeOwned>(source: &str, positions: &[Vec<u8>]) -> Result<Vec<T>> {
    positions.iter().map(|p| decode(source, p)).collect()
}
