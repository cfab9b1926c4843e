//! The layout of a checkpoint directory and its manifest.
//!
//! ```text
//! <checkpoint dir>/chk-<id>/_metadata          the manifest: written last, so it exists only
//!                                              for a complete checkpoint
//! <checkpoint dir>/chk-<id>/n<node>-s<sub>.state  one operator instance's snapshot
//! <checkpoint dir>/chk-<id>/_process-<p>       process p has written all its parts
//! <checkpoint dir>/shared/<name>.state         parts referenced by several checkpoints (the
//!                                              final state of an instance that finished)
//! ```
//!
//! Checkpoint ids grow (they are wall-clock slots of the checkpoint interval); the id
//! [`FINAL_CHECKPOINT`] marks the checkpoint taken when every operator has finished: a job
//! whose latest checkpoint is final has completed, and restoring it only finishes commits.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StateError};
use crate::snapshot::OperatorSnapshot;
use crate::store::CheckpointStore;

pub const MANIFEST_FORMAT: &str = "rask-checkpoint";
/// The manifest version written; see ARCHITECTURE.md for the compatibility rules.
pub const MANIFEST_VERSION: u32 = 1;
/// The id of the checkpoint taken when every operator instance has finished.
pub const FINAL_CHECKPOINT: u64 = (1 << 40) - 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartRef {
    pub subtask: usize,
    /// The snapshot file, relative to the checkpoint directory; `None` for an empty state.
    pub file: Option<String>,
    /// Bytes written for this checkpoint (the part file and new shared files).
    pub bytes: u64,
    /// The instance had finished (its input ended) when this part was taken.
    pub finished: bool,
    /// Shared files the part references (stable batches written by an earlier checkpoint or
    /// this one); in a savepoint they live under the savepoint's directory.
    #[serde(default)]
    pub shared: Vec<String>,
    /// The part's whole size: `bytes` plus the shared files written earlier.
    #[serde(default)]
    pub full_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    pub id: usize,
    pub name: String,
    /// What the node's state looks like (operator kind and schema): a restore into a plan whose
    /// node has another signature would misread the state, so it is refused.
    pub signature: String,
    pub parts: Vec<PartRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub checkpoint: u64,
    pub savepoint: bool,
    /// Every operator instance had finished: the job completed.
    pub finished: bool,
    pub created_ms: i64,
    pub parallelism: usize,
    pub max_parallelism: u32,
    pub nodes: Vec<NodeState>,
    /// Bytes written for this checkpoint (the incremental size: files shared with earlier
    /// checkpoints are not counted).
    pub bytes: u64,
    /// The checkpoint's whole size, shared files included.
    #[serde(default)]
    pub full_bytes: u64,
    /// From its first part received to its manifest written (ms; absent in manifests of
    /// earlier versions).
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

impl Manifest {
    pub fn node(&self, id: usize) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn decode(bytes: &[u8], what: &str) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| StateError::User(format!("{what} is not a valid checkpoint manifest: {e}")))?;
        if m.format != MANIFEST_FORMAT {
            return Err(StateError::User(format!("{what} is not a Rask checkpoint manifest (format '{}')", m.format)));
        }
        if m.version != MANIFEST_VERSION {
            return Err(StateError::User(format!(
                "{what} has manifest version {}; this Rask reads version {MANIFEST_VERSION}",
                m.version
            )));
        }
        Ok(m)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Every file this checkpoint references.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().flat_map(|n| n.parts.iter().flat_map(|p| p.file.as_deref().into_iter().chain(p.shared.iter().map(|s| s.as_str()))))
    }
}

/// What one process wrote for one checkpoint (process 0 merges these into the manifest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessMarker {
    pub process: usize,
    pub checkpoint: u64,
    /// (node id, part) for every local operator instance.
    pub parts: Vec<(usize, PartRef)>,
}

pub fn checkpoint_dir(id: u64) -> String {
    format!("chk-{id}")
}

pub fn manifest_path(id: u64) -> String {
    format!("chk-{id}/_metadata")
}

pub fn marker_path(id: u64, process: usize) -> String {
    format!("chk-{id}/_process-{process}")
}

pub fn part_path(id: u64, node: usize, subtask: usize) -> String {
    format!("chk-{id}/n{node}-s{subtask}.state")
}

/// The checkpoint ids that have a directory, ascending.
pub fn checkpoint_ids(store: &CheckpointStore) -> Result<Vec<u64>> {
    let mut ids: Vec<u64> = store.list_dirs("")?.iter().filter_map(|d| d.strip_prefix("chk-").and_then(|n| n.parse().ok())).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The latest complete checkpoint (the highest id whose manifest exists and reads).
pub fn latest_complete(store: &CheckpointStore) -> Result<Option<Manifest>> {
    for id in checkpoint_ids(store)?.into_iter().rev() {
        if let Some(b) = store.get(&manifest_path(id))? {
            return Manifest::decode(&b, &format!("{}/{}", store.location(), manifest_path(id))).map(Some);
        }
    }
    Ok(None)
}

/// Read one part's snapshot (and the shared files it references).
pub fn load_part(store: &CheckpointStore, part: &PartRef) -> Result<Option<OperatorSnapshot>> {
    let Some(f) = &part.file else { return Ok(None) };
    let what = format!("{}/{f}", store.location());
    let b = store.get(f)?.ok_or_else(|| StateError::User(format!("{what} is missing: the checkpoint is damaged")))?;
    // A savepoint is self-contained: its shared files are under its own directory.
    let base = f.split('/').next().filter(|d| d.starts_with("savepoint-")).map(|d| format!("{d}/")).unwrap_or_default();
    let mut load = |path: &str| -> Result<Vec<u8>> {
        let p = format!("{base}{path}");
        store.get(&p)?.ok_or_else(|| StateError::User(format!("{}/{p} is missing: the checkpoint is damaged", store.location())))
    };
    OperatorSnapshot::decode(&b, &what, &mut load).map(Some)
}

/// Delete what no complete checkpoint needs: complete checkpoints beyond the newest `retain`,
/// and (when `at_start`, i.e. no job is writing) incomplete checkpoint directories and shared
/// files no retained manifest references. While a job runs, only directories older than the
/// newest complete checkpoint and the shared files of deleted manifests are removed.
/// `pinned`: a checkpoint to keep whatever retention says (a savepoint being copied).
pub fn collect_garbage(store: &CheckpointStore, retain: usize, at_start: bool, pinned: Option<u64>) -> Result<()> {
    let ids = checkpoint_ids(store)?;
    let mut complete: Vec<(u64, Manifest)> = Vec::new();
    let mut incomplete = Vec::new();
    for id in ids {
        match store.get(&manifest_path(id))? {
            Some(b) => complete.push((id, Manifest::decode(&b, &manifest_path(id))?)),
            None => incomplete.push(id),
        }
    }
    let newest = complete.last().map(|(id, _)| *id).unwrap_or(0);
    let keep_from = complete.len().saturating_sub(retain.max(1));
    let (dropped, kept) = complete.split_at(keep_from);
    let referenced: std::collections::HashSet<&str> =
        kept.iter().chain(dropped.iter().filter(|(id, _)| Some(*id) == pinned)).flat_map(|(_, m)| m.files()).collect();
    for (id, m) in dropped.iter().filter(|(id, _)| Some(*id) != pinned) {
        for f in m.files().filter(|f| f.starts_with("shared/") && !referenced.contains(f)) {
            store.delete(f)?;
        }
        store.delete_dir(&checkpoint_dir(*id))?;
    }
    for id in incomplete {
        if at_start || id < newest {
            store.delete_dir(&checkpoint_dir(id))?;
        }
    }
    if at_start {
        for f in store.list_files("shared")? {
            if !referenced.contains(f.as_str()) {
                store.delete(&f)?;
            }
        }
    }
    Ok(())
}
