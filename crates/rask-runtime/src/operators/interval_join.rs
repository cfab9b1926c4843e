//! Interval join: every arriving row is joined at once with the buffered rows of the other side
//! that have the same key and whose time lies in the interval; a row stays buffered while a
//! future row of the other side (one not behind the watermark) could still match it, and is
//! dropped (NULL-padded and emitted if its side is outer and it never matched) when the
//! watermark passes that point. NULL keys never match.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rask_sql::interval_join::IntervalJoin as Plan;
use rask_sql::window_join::WindowJoinType;
use rask_types::{StreamBatch, WATERMARK_MIN};

use super::buffer::{require_append_only, restored_watermark, watermark_meta, BatchStore, RowRef};
use super::window_agg::internal;
use super::window_tvf::to_millis;
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use rask_state::{OperatorSnapshot, StateEntry};

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

struct Entry {
    seq: u64,
    at: RowRef,
    ts: i64,
    matched: bool,
}

#[derive(Default)]
struct Side {
    batches: BatchStore,
    by_key: HashMap<Box<[u8]>, Vec<Entry>>,
    /// (expiry time, seq) → key.
    expiry: BTreeMap<(i64, u64), Box<[u8]>>,
}

pub struct IntervalJoin {
    plan: Plan,
    schema: SchemaRef,
    inputs: [SchemaRef; 2],
    sides: [Side; 2],
    converters: [RowConverter; 2],
    watermark: i64,
    seq: u64,
}

/// Output rows gathered while handling one event.
#[derive(Default)]
struct Pending {
    pairs: Vec<(RowRef, RowRef)>,
    /// Unmatched rows of one side (0 = left, 1 = right), NULL-padded on the other.
    alone: [Vec<RowRef>; 2],
}

impl IntervalJoin {
    pub fn new(plan: Plan, left: SchemaRef, right: SchemaRef, schema: SchemaRef) -> Result<Self> {
        let conv = |s: &SchemaRef, keys: &[usize]| RowConverter::new(keys.iter().map(|k| SortField::new(s.field(*k).data_type().clone())).collect()).map_err(internal);
        let converters = [conv(&left, &plan.left_keys)?, conv(&right, &plan.right_keys)?];
        Ok(IntervalJoin { plan, schema, inputs: [left, right], sides: [Side::default(), Side::default()], converters, watermark: WATERMARK_MIN, seq: 0 })
    }

    fn outer(&self, side: usize) -> bool {
        match self.plan.join_type {
            WindowJoinType::Full => true,
            WindowJoinType::Left => side == 0,
            WindowJoinType::Right => side == 1,
            WindowJoinType::Inner => false,
        }
    }

    /// The time after which a row of `side` at `ts` can match no row that is not late.
    fn expires(&self, side: usize, ts: i64) -> i64 {
        if side == 0 { ts - self.plan.lower } else { ts + self.plan.upper }
    }

    fn gather(&self, side: usize, refs: &[RowRef]) -> Result<Vec<ArrayRef>> {
        self.sides[side].batches.gather(refs, self.inputs[side].fields().len())
    }

    fn emit(&self, p: Pending, out: &mut Emitter) -> Result<()> {
        let mut parts = Vec::new();
        if !p.pairs.is_empty() {
            let l: Vec<RowRef> = p.pairs.iter().map(|(l, _)| *l).collect();
            let r: Vec<RowRef> = p.pairs.iter().map(|(_, r)| *r).collect();
            let mut cols = self.gather(0, &l)?;
            cols.extend(self.gather(1, &r)?);
            parts.push(cols);
        }
        for side in 0..2 {
            let rows = &p.alone[side];
            if rows.is_empty() {
                continue;
            }
            let mine = self.gather(side, rows)?;
            let other: Vec<ArrayRef> = self.inputs[1 - side].fields().iter().map(|f| new_null_array(f.data_type(), rows.len())).collect();
            parts.push(if side == 0 { mine.into_iter().chain(other).collect() } else { other.into_iter().chain(mine).collect() });
        }
        for cols in parts {
            let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
            out.emit(StreamBatch::inserts(rb));
        }
        Ok(())
    }
}

impl IntervalJoin {
    /// Buffer restored rows of `side` (input columns plus a trailing `matched` flag) without
    /// joining them: they were joined before the checkpoint.
    fn buffer_restored(&mut self, side: usize, data: &RecordBatch) -> Result<()> {
        let width = self.inputs[side].fields().len();
        let matched = data.column(width).as_boolean().clone();
        let data = RecordBatch::try_new(self.inputs[side].clone(), data.columns()[..width].to_vec())
            .map_err(|e| RuntimeError::User(format!("interval join state does not fit the query: {e}")))?;
        let (keys, time_col) = if side == 0 { (&self.plan.left_keys, self.plan.left_time) } else { (&self.plan.right_keys, self.plan.right_time) };
        let key_cols: Vec<ArrayRef> = keys.iter().map(|k| data.column(*k).clone()).collect();
        let rows = self.converters[side].convert_columns(&key_cols).map_err(internal)?;
        let times = to_millis(data.column(time_col))?;
        let bid = self.sides[side].batches.insert(data.clone(), 1);
        for (i, t) in times.iter().enumerate() {
            let Some(t) = *t else { continue };
            let seq = self.seq;
            self.seq += 1;
            let key: Box<[u8]> = if keys.is_empty() { Box::from(&[][..]) } else { rows.row(i).as_ref().into() };
            let expires = self.expires(side, t);
            let s = &mut self.sides[side];
            s.by_key.entry(key.clone()).or_default().push(Entry { seq, at: (bid, i as u32), ts: t, matched: matched.value(i) });
            s.expiry.insert((expires, seq), key);
            s.batches.retain(bid);
        }
        self.sides[side].batches.release(bid);
        Ok(())
    }
}

impl Operator for IntervalJoin {
    fn on_batch(&mut self, input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "interval join")?;
        let side = input.min(1);
        let other = 1 - side;
        let data = batch.data;
        let (keys, time_col) = if side == 0 { (&self.plan.left_keys, self.plan.left_time) } else { (&self.plan.right_keys, self.plan.right_time) };
        let key_cols: Vec<ArrayRef> = keys.iter().map(|k| data.column(*k).clone()).collect();
        let rows = self.converters[side].convert_columns(&key_cols).map_err(internal)?;
        let times = to_millis(data.column(time_col))?;
        // One reference held while this batch is processed.
        let bid = self.sides[side].batches.insert(data.clone(), 1);
        let mut pending = Pending::default();
        for (i, t) in times.iter().enumerate() {
            let at = (bid, i as u32);
            let valid = key_cols.iter().all(|c| c.is_valid(i));
            let Some(t) = *t else { continue };
            let mut matched = false;
            if valid {
                let key: &[u8] = if keys.is_empty() { &[] } else { rows.row(i).data() };
                // Other side's times that match: left tl needs tr in [tl - upper, tl - lower];
                // right tr needs tl in [tr + lower, tr + upper].
                let (lo, hi) = if side == 0 { (t - self.plan.upper, t - self.plan.lower) } else { (t + self.plan.lower, t + self.plan.upper) };
                if let Some(entries) = self.sides[other].by_key.get_mut(key) {
                    for e in entries.iter_mut().filter(|e| e.ts >= lo && e.ts <= hi) {
                        e.matched = true;
                        matched = true;
                        pending.pairs.push(if side == 0 { (at, e.at) } else { (e.at, at) });
                    }
                }
            }
            let expires = self.expires(side, t);
            if valid && expires > self.watermark {
                let seq = self.seq;
                self.seq += 1;
                let key: Box<[u8]> = if keys.is_empty() { Box::from(&[][..]) } else { rows.row(i).as_ref().into() };
                let s = &mut self.sides[side];
                s.by_key.entry(key.clone()).or_default().push(Entry { seq, at, ts: t, matched });
                s.expiry.insert((expires, seq), key);
                s.batches.retain(bid);
            } else if !matched && self.outer(side) {
                pending.alone[side].push(at);
            }
        }
        self.emit(pending, out)?;
        self.sides[side].batches.release(bid);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        self.watermark = watermark;
        let mut pending = Pending::default();
        let mut released: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for side in 0..2 {
            let outer = self.outer(side);
            let s = &mut self.sides[side];
            while let Some((&(exp, seq), _)) = s.expiry.first_key_value() {
                if exp > watermark {
                    break;
                }
                let Some((_, key)) = s.expiry.pop_first() else { break };
                if let Some(list) = s.by_key.get_mut(&key)
                    && let Some(j) = list.iter().position(|e| e.seq == seq)
                {
                    let e = list.swap_remove(j);
                    if list.is_empty() {
                        s.by_key.remove(&key);
                    }
                    if outer && !e.matched {
                        pending.alone[side].push(e.at);
                    }
                    released[side].push(e.at.0);
                }
            }
        }
        self.emit(pending, out)?;
        for (side, ids) in released.iter().enumerate() {
            for b in ids {
                self.sides[side].batches.release(*b);
            }
        }
        out.watermark(watermark);
        Ok(())
    }

    /// Each side's buffered rows with their `matched` flags (keyed by the join keys), and the
    /// watermark.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let mut entries = Vec::new();
        for side in 0..2 {
            let mut all: Vec<&Entry> = self.sides[side].by_key.values().flatten().collect();
            all.sort_by_key(|e| e.seq);
            let refs: Vec<RowRef> = all.iter().map(|e| e.at).collect();
            let matched: BooleanArray = all.iter().map(|e| Some(e.matched)).collect();
            let mut fields: Vec<arrow::datatypes::FieldRef> = self.inputs[side].fields().iter().cloned().collect();
            fields.push(Arc::new(arrow::datatypes::Field::new("__matched", arrow::datatypes::DataType::Boolean, false)));
            let schema = Arc::new(arrow::datatypes::Schema::new(fields));
            let keys = if side == 0 { self.plan.left_keys.clone() } else { self.plan.right_keys.clone() };
            let mut entry = StateEntry::new(if side == 0 { "left" } else { "right" }, schema.clone(), Some(keys), Vec::new());
            if !refs.is_empty() {
                let ncols = self.inputs[side].fields().len();
                entry.deferred.push(self.sides[side].batches.deferred_gather(&refs, ncols, schema, vec![Arc::new(matched)])?);
            }
            entries.push(entry);
        }
        Ok(Some(OperatorSnapshot { meta: watermark_meta(self.watermark), entries }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.watermark = restored_watermark(self.watermark, &parts);
        for p in parts {
            for e in &p.entries {
                let side = if e.name == "left" { 0 } else { 1 };
                for b in &e.batches {
                    self.buffer_restored(side, b)?;
                }
            }
        }
        Ok(())
    }
}
