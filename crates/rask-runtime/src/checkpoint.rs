//! Checkpointing seen from the engine: which plan node has which state signature, and how a
//! restored checkpoint hands each operator instance its state — at the same parallelism its
//! own part; at another one, keyed entries re-partitioned by key group (the hash of the keyed
//! exchange), `meta` (small operator-wide values such as the watermark) given to every new
//! instance, and unkeyed entries (lists such as a sink's pending commits) and source positions
//! given to exactly one new instance (`old % new`), as Flink's union and split list state.

use std::sync::{Arc, Mutex};

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use rask_sql::plan::{NodeKind, PlanNode, StreamPlan};
use rask_state::manifest::load_part;
use rask_state::{CheckpointStore, Manifest, NodeInfo, OperatorSnapshot, StateEntry};
use rask_types::keygroup::{hash_rows, key_group, operator_for_key_group};

use crate::error::{Result, RuntimeError};

/// What a node's state looks like: its kind and output schema. Restoring a checkpoint into a
/// node with another signature is refused (the query changed in a way that changes state).
pub fn signature(node: &PlanNode) -> String {
    let kind = match &node.kind {
        NodeKind::Source { table, .. } => format!("Source[{}:{}]", table.connector, table.name),
        NodeKind::Values { .. } => "Values".into(),
        NodeKind::Calc { .. } => "Calc".into(),
        NodeKind::Watermark { .. } => "Watermark".into(),
        NodeKind::Union => "Union".into(),
        NodeKind::Expand { .. } => "Expand".into(),
        NodeKind::WindowAssign { .. } => "WindowAssign".into(),
        NodeKind::SessionWindow { .. } => "SessionWindow".into(),
        NodeKind::LocalWindowAggregate(_) => "LocalWindowAggregate".into(),
        NodeKind::WindowAggregate(_) => "WindowAggregate".into(),
        NodeKind::OverAggregate(o) if o.updating => "UpdatingOverAggregate".into(),
        NodeKind::OverAggregate(_) => "OverAggregate".into(),
        NodeKind::IntervalJoin(_) => "IntervalJoin".into(),
        NodeKind::Join(_) => "Join".into(),
        NodeKind::LookupJoin(j) => format!("LookupJoin[{}:{}]", j.table.connector, j.table.name),
        NodeKind::TemporalJoin(_) => "TemporalJoin".into(),
        NodeKind::Rank(_) => "Rank".into(),
        NodeKind::WindowJoin(_) => "WindowJoin".into(),
        NodeKind::WindowRank(_) => "WindowRank".into(),
        NodeKind::LocalGroupAggregate(_) => "LocalGroupAggregate".into(),
        NodeKind::GroupAggregate(_) => "GroupAggregate".into(),
        NodeKind::Limit { .. } => "Limit".into(),
        NodeKind::ChangelogNormalize { .. } => "ChangelogNormalize".into(),
        NodeKind::Sink { table } => format!("Sink[{}:{}]", table.connector, table.name),
    };
    let fields: Vec<String> = node.schema.fields().iter().map(|f| format!("{}:{}", f.name(), f.data_type())).collect();
    format!("{kind}({})", fields.join(","))
}

pub fn node_infos(plan: &StreamPlan) -> Vec<NodeInfo> {
    plan.nodes.iter().map(|n| NodeInfo { id: n.id, name: n.name.clone(), signature: signature(n) }).collect()
}

/// A checkpoint or savepoint being restored.
pub struct Restore {
    pub store: Arc<CheckpointStore>,
    pub manifest: Manifest,
    /// Decoded parts, loaded once per process (rescaling reads every old part per instance).
    cache: Mutex<std::collections::HashMap<(usize, usize), Option<Arc<OperatorSnapshot>>>>,
}

impl Restore {
    /// Check that `manifest` fits `plan`: every node with state must exist with the same
    /// signature, unless `allow_non_restored` (Flink's `--allowNonRestoredState`) lets state of
    /// vanished nodes be dropped.
    pub fn new(store: Arc<CheckpointStore>, manifest: Manifest, plan: &StreamPlan, allow_non_restored: bool) -> Result<Restore> {
        let what = format!("{}/chk-{}", store.location(), manifest.checkpoint);
        for n in &manifest.nodes {
            let has_state = n.parts.iter().any(|p| p.file.is_some() || p.finished);
            let here = plan.nodes.get(n.id).map(signature);
            match here {
                Some(s) if s == n.signature => {}
                _ if !has_state || allow_non_restored => {}
                Some(s) => {
                    return Err(RuntimeError::User(format!(
                        "cannot restore {what}: operator {} '{}' kept state of shape {} but the job's operator {} is {}; \
                         the query changed in a way that changes its state (start without the checkpoint, or pass \
                         --allow-non-restored-state to drop that state)",
                        n.id, n.name, n.signature, n.id, s
                    )));
                }
                None => {
                    return Err(RuntimeError::User(format!(
                        "cannot restore {what}: it has state for operator {} '{}', which the job no longer has \
                         (pass --allow-non-restored-state to drop it)",
                        n.id, n.name
                    )));
                }
            }
        }
        Ok(Restore { store, manifest, cache: Mutex::new(Default::default()) })
    }

    fn part(&self, node: usize, subtask: usize) -> Result<Option<Arc<OperatorSnapshot>>> {
        if let Ok(c) = self.cache.lock()
            && let Some(p) = c.get(&(node, subtask))
        {
            return Ok(p.clone());
        }
        let n = self.manifest.node(node);
        let part = n.and_then(|n| n.parts.iter().find(|p| p.subtask == subtask));
        let snap = match part {
            Some(p) => load_part(&self.store, p).map_err(state_err)?.map(Arc::new),
            None => None,
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert((node, subtask), snap.clone());
        }
        Ok(snap)
    }

    /// Whether instance `subtask` of `node` had finished in the checkpoint (same parallelism),
    /// or every instance had (any parallelism).
    pub fn finished(&self, node: &PlanNode, subtask: usize, parallelism: usize) -> bool {
        let Some(n) = self.manifest.node(node.id).filter(|n| signature(node) == n.signature) else { return false };
        if self.manifest.parallelism == parallelism {
            n.parts.iter().any(|p| p.subtask == subtask && p.finished)
        } else {
            !n.parts.is_empty() && n.parts.iter().all(|p| p.finished)
        }
    }

    /// The state of instance `subtask` of `node` at `parallelism`: one snapshot per old
    /// subtask that contributes (see the module doc). Empty: start without state.
    pub fn state_for(&self, node: &PlanNode, subtask: usize, parallelism: usize, max_parallelism: u32) -> Result<Vec<OperatorSnapshot>> {
        let Some(n) = self.manifest.node(node.id) else { return Ok(Vec::new()) };
        if n.signature != signature(node) {
            return Ok(Vec::new()); // allowed by allow_non_restored (checked in `new`)
        }
        if self.manifest.max_parallelism != max_parallelism {
            return Err(RuntimeError::User(format!(
                "cannot restore chk-{}: it was taken with pipeline.max-parallelism {}, the job has {max_parallelism} \
                 (the number of key groups cannot change)",
                self.manifest.checkpoint, self.manifest.max_parallelism
            )));
        }
        let old_p = self.manifest.parallelism;
        if old_p == parallelism {
            return Ok(self.part(node.id, subtask)?.map(|s| (*s).clone()).into_iter().collect());
        }
        let mut out = Vec::new();
        for old in 0..old_p {
            let Some(s) = self.part(node.id, old)? else { continue };
            let mine = old % parallelism == subtask;
            let mut snap = OperatorSnapshot { meta: s.meta.clone(), entries: Vec::new() };
            for e in &s.entries {
                match e.key_columns.as_ref().or(input_keys(node, &e.name)) {
                    Some(keys) => snap.entries.push(filter_keyed(e, keys, subtask, parallelism, max_parallelism)?),
                    None if mine => snap.entries.push(e.clone()),
                    None => {}
                }
            }
            out.push(snap);
        }
        Ok(out)
    }

    /// A source's positions for instance `subtask` at `parallelism` (old instance `i`'s goes
    /// to `i % parallelism`); `None` if the checkpoint has no positions for it (the source
    /// cannot resume and starts over).
    pub fn source_positions(&self, node: &PlanNode, subtask: usize, parallelism: usize) -> Result<Option<Vec<Vec<u8>>>> {
        let Some(n) = self.manifest.node(node.id).filter(|n| n.signature == signature(node)) else { return Ok(None) };
        if !n.parts.iter().any(|p| p.file.is_some()) {
            return Ok(None);
        }
        let mut out = Vec::new();
        for p in &n.parts {
            if p.subtask % parallelism == subtask
                && let Some(s) = self.part(node.id, p.subtask)?
            {
                out.push(s.meta.clone());
            }
        }
        Ok(Some(out))
    }
}

/// Buffered input rows (entries `input:<i>`) are keyed by their input's exchange keys.
fn input_keys<'a>(node: &'a PlanNode, entry: &str) -> Option<&'a Vec<usize>> {
    let i: usize = entry.strip_prefix("input:")?.parse().ok()?;
    match &node.inputs.get(i)?.exchange {
        rask_sql::plan::Exchange::Hash(keys) => Some(keys),
        _ => None,
    }
}

/// The rows of a keyed entry whose key group belongs to `subtask` at `parallelism`.
fn filter_keyed(e: &StateEntry, keys: &[usize], subtask: usize, parallelism: usize, max_parallelism: u32) -> Result<StateEntry> {
    let mut batches: Vec<RecordBatch> = Vec::with_capacity(e.batches.len());
    for b in &e.batches {
        let cols: Vec<_> = keys.iter().map(|k| b.column(*k).clone()).collect();
        let hashes = hash_rows(&cols, b.num_rows()).map_err(RuntimeError::Internal)?;
        let keep: BooleanArray = hashes
            .iter()
            .map(|h| Some(operator_for_key_group(key_group(*h, max_parallelism), max_parallelism, parallelism as u32) as usize == subtask))
            .collect();
        let f = filter_record_batch(b, &keep)?;
        if f.num_rows() > 0 {
            batches.push(f);
        }
    }
    Ok(StateEntry::new(e.name.clone(), e.schema.clone(), e.key_columns.clone(), batches))
}

pub fn state_err(e: rask_state::StateError) -> RuntimeError {
    match e {
        rask_state::StateError::User(m) => RuntimeError::User(m),
        rask_state::StateError::External(m) => RuntimeError::External(m),
        rask_state::StateError::Internal(m) => RuntimeError::Internal(m),
    }
}
