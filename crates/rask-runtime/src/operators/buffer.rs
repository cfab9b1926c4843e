//! Row buffering shared by the stateful operators that keep input rows rather than
//! accumulators: a store of input batches whose rows are referenced as (batch, row) and
//! released one by one, and the split of a batch into per-window parts.

use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{interleave, take_record_batch};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use hashbrown::HashMap;

use super::window_agg::internal;
use crate::error::Result;

/// Operators of append-only streams (the windowed ones) reject a changelog input: the planner
/// never builds one, so receiving it is an internal error naming the operator.
pub(crate) fn require_append_only(batch: &rask_types::StreamBatch, operator: &str) -> Result<()> {
    if batch.kinds.is_some() {
        return Err(crate::error::RuntimeError::Internal(format!("{operator} received an updating (changelog) input")));
    }
    Ok(())
}

/// A buffered row: (batch id, row index).
pub(crate) type RowRef = (u32, u32);

/// Input batches kept while some of their rows are buffered, each with a count of the rows
/// still referenced; a batch is dropped when its last row is released.
#[derive(Default)]
pub(crate) struct BatchStore {
    batches: HashMap<u32, (RecordBatch, usize)>,
    next: u32,
}

impl BatchStore {
    /// Keep `batch` with `live` referenced rows; returns its id.
    pub(crate) fn insert(&mut self, batch: RecordBatch, live: usize) -> u32 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        if live > 0 {
            self.batches.insert(id, (batch, live));
        }
        id
    }

    /// One more row of batch `id` is referenced.
    pub(crate) fn retain(&mut self, id: u32) {
        if let Some((_, live)) = self.batches.get_mut(&id) {
            *live += 1;
        }
    }

    /// One row of batch `id` is no longer referenced.
    pub(crate) fn release(&mut self, id: u32) {
        if let Some((_, live)) = self.batches.get_mut(&id) {
            *live -= 1;
            if *live == 0 {
                self.batches.remove(&id);
            }
        }
    }

    /// The columns of the referenced rows, in the order of `refs` (`ncols` columns).
    pub(crate) fn gather(&self, refs: &[RowRef], ncols: usize) -> Result<Vec<ArrayRef>> {
        let (batches, idx) = self.locate(refs)?;
        interleave_columns(&batches.iter().collect::<Vec<_>>(), &idx, ncols)
    }

    /// The referenced batches (reference-counted copies) and (batch slot, row) per ref.
    fn locate(&self, refs: &[RowRef]) -> Result<(Vec<RecordBatch>, Vec<(usize, usize)>)> {
        let mut slots: HashMap<u32, usize> = HashMap::new();
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut idx = Vec::with_capacity(refs.len());
        for (b, r) in refs {
            let slot = match slots.get(b) {
                Some(s) => *s,
                None => {
                    let (batch, _) = self.batches.get(b).ok_or_else(|| internal(format!("buffered batch {b} is gone")))?;
                    batches.push(batch.clone());
                    slots.insert(*b, batches.len() - 1);
                    batches.len() - 1
                }
            };
            idx.push((slot, *r as usize));
        }
        Ok((batches, idx))
    }

    /// A snapshot batch of the referenced rows (schema `schema`: the first `ncols` columns
    /// come from the buffered batches, then `extra`), gathered on the checkpoint thread: here
    /// only the batch pointers and row positions are copied.
    pub(crate) fn deferred_gather(&self, refs: &[RowRef], ncols: usize, schema: SchemaRef, extra: Vec<ArrayRef>) -> Result<rask_state::Deferred> {
        let (batches, idx) = self.locate(refs)?;
        let rows = idx.len();
        let build = move || -> std::result::Result<RecordBatch, rask_state::StateError> {
            let mut cols = interleave_columns(&batches.iter().collect::<Vec<_>>(), &idx, ncols)?;
            cols.extend(extra.iter().cloned());
            Ok(RecordBatch::try_new(schema.clone(), cols).map_err(internal)?)
        };
        Ok(rask_state::Deferred { id: None, rows, build: std::sync::Arc::new(build) })
    }
}

fn interleave_columns(batches: &[&RecordBatch], idx: &[(usize, usize)], ncols: usize) -> Result<Vec<ArrayRef>> {
    (0..ncols)
        .map(|c| {
            let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            interleave(&arrays, idx).map_err(internal)
        })
        .collect()
}

/// Split `data` by the window its `window_end` column (`end_col`) names, dropping rows of
/// windows the watermark has passed. Returns the parts in window order and the number of
/// late rows; a batch of one window is returned whole.
pub(crate) fn split_by_window(data: &RecordBatch, end_col: usize, watermark: i64) -> Result<(Vec<(i64, RecordBatch)>, u64)> {
    let ends = data.column(end_col).as_primitive::<TimestampMillisecondType>();
    let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    let mut late = 0u64;
    for i in 0..data.num_rows() {
        let e = ends.value(i);
        if e - 1 <= watermark {
            late += 1;
        } else {
            groups.entry(e).or_default().push(i as u32);
        }
    }
    if groups.len() == 1 && late == 0 {
        return Ok((groups.into_keys().map(|e| (e, data.clone())).collect(), 0));
    }
    let parts = groups
        .into_iter()
        .map(|(e, rows)| Ok((e, take_record_batch(data, &UInt32Array::from(rows)).map_err(internal)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((parts, late))
}

/// The state of an operator that buffers input rows until the watermark releases them: its
/// watermark and the buffered rows of each input (entries `input:<i>`, in arrival order), each
/// batch with its stable id if it never changes (then a checkpoint writes it once and later
/// ones reference it: incremental). Restoring sets the watermark and feeds the rows to
/// `on_batch` again; at another parallelism the runtime re-partitions them by the input's
/// exchange keys.
pub(crate) fn replay_snapshot(watermark: i64, inputs: Vec<(usize, Vec<(RecordBatch, Option<u64>)>)>) -> rask_state::OperatorSnapshot {
    let entries = inputs
        .into_iter()
        .filter_map(|(i, batches)| {
            let schema = batches.first()?.0.schema();
            let (batches, ids): (Vec<RecordBatch>, Vec<Option<u64>>) = batches.into_iter().unzip();
            let mut entry = rask_state::StateEntry::new(format!("input:{i}"), schema, None, batches);
            entry.batch_ids = ids;
            Some(entry)
        })
        .collect();
    rask_state::OperatorSnapshot { meta: watermark_meta(watermark), entries }
}

/// The snapshot of an operator whose buffered rows of its one input are `refs` into `store`
/// (arrival order; rows of schema `input`): [`replay_snapshot`]'s layout, with the rows
/// gathered on the checkpoint thread.
pub(crate) fn deferred_replay_snapshot(watermark: i64, store: &BatchStore, refs: &[RowRef], input: &SchemaRef) -> Result<rask_state::OperatorSnapshot> {
    let mut snapshot = replay_snapshot(watermark, Vec::new());
    if !refs.is_empty() {
        let mut entry = rask_state::StateEntry::new("input:0", input.clone(), None, Vec::new());
        entry.deferred.push(store.deferred_gather(refs, input.fields().len(), input.clone(), Vec::new())?);
        snapshot.entries.push(entry);
    }
    Ok(snapshot)
}

/// An event-time operator's watermark as snapshot `meta` (read by [`restored_watermark`]).
pub(crate) fn watermark_meta(watermark: i64) -> Vec<u8> {
    watermark.to_le_bytes().to_vec()
}

/// The watermark to continue from: `current` or the highest one the parts stored with
/// [`watermark_meta`] (all instances of a keyed operator saw the same one at the barrier).
pub(crate) fn restored_watermark(current: i64, parts: &[rask_state::OperatorSnapshot]) -> i64 {
    parts.iter().filter_map(|p| <[u8; 8]>::try_from(p.meta.as_slice()).ok().map(i64::from_le_bytes)).fold(current, i64::max)
}

/// Restore the rows [`replay_snapshot`] stored: each handed to `feed(input, batch)` (after the
/// operator took back its watermark), which must emit nothing.
pub(crate) fn replay_restore(
    parts: Vec<rask_state::OperatorSnapshot>,
    mut feed: impl FnMut(usize, RecordBatch, &mut crate::operator::Emitter) -> Result<()>,
) -> Result<()> {
    for p in parts {
        for e in p.entries {
            let Some(i) = e.name.strip_prefix("input:").and_then(|i| i.parse::<usize>().ok()) else { continue };
            for b in e.batches {
                let mut out = crate::operator::Emitter::default();
                feed(i, b, &mut out)?;
                if !out.batches.is_empty() {
                    return Err(internal("restoring buffered rows emitted output"));
                }
            }
        }
    }
    Ok(())
}
