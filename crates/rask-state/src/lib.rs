//! Checkpoint storage for Rask: operator snapshots ([`snapshot`]), the checkpoint directory
//! layout and manifests ([`manifest`]), the object-store facade ([`store`]), the per-process
//! checkpoint coordinator ([`coordinator`]) and state time-to-live ([`ttl`]). Independent of
//! timely: the runtime feeds it snapshots and reads back which checkpoints completed.

pub mod coordinator;
pub mod error;
pub mod manifest;
pub mod snapshot;
pub mod store;
pub mod ttl;

pub use coordinator::{CheckpointStats, Coordinator, CoordinatorConfig, NodeInfo};
pub use error::StateError;
pub use manifest::{Manifest, PartRef, FINAL_CHECKPOINT};
pub use snapshot::{BuildBatch, Deferred, OperatorSnapshot, StateEntry};
pub use store::CheckpointStore;
pub use ttl::StateTtl;
