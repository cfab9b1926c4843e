//! Event-time temporal join (Flink's `TemporalRowTimeJoinOperator`): the right input is a
//! versioned table's changelog, kept per key as versions by row time (+I/+U add a version, -D a
//! deletion, -U is skipped: the +U that follows replaces the row). Left rows wait until the
//! watermark passes their time, then join the version of their key valid at that time (the
//! latest at or before it, unless that is a deletion); an INNER join drops a row without one,
//! a LEFT join pads it with NULLs. Then versions that no later left row can see are dropped.
//! The output is append-only and keeps the left rows' times. NULL keys match nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use rask_sql::lookup_join::TemporalJoin as Plan;
use rask_state::{OperatorSnapshot, StateEntry};
use rask_types::{RowKind, StreamBatch, WATERMARK_MIN};

use super::keyed::condition_mask;
use super::buffer::{require_append_only, restored_watermark, watermark_meta, BatchStore, RowRef};
use super::window_agg::internal;
use super::window_tvf::to_millis;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

/// A version of the right table's row: the row (a deletion keeps the deleted row, for the
/// snapshot) and whether it is a deletion.
#[derive(Clone, Copy)]
struct Version {
    at: RowRef,
    deleted: bool,
}

pub struct TemporalJoin {
    plan: Plan,
    schema: SchemaRef,
    inputs: [SchemaRef; 2],
    stores: [BatchStore; 2],
    converters: [RowConverter; 2],
    /// Left rows waiting for the watermark: (time, seq) → (key, row).
    waiting: BTreeMap<(i64, u64), (Box<[u8]>, RowRef)>,
    /// Per key: versions by (time, seq).
    versions: HashMap<Box<[u8]>, BTreeMap<(i64, u64), Version>>,
    /// Keys whose versions changed since the last cleanup.
    dirty: BTreeSet<Box<[u8]>>,
    watermark: i64,
    seq: u64,
}

impl TemporalJoin {
    pub fn new(plan: Plan, left: SchemaRef, right: SchemaRef, schema: SchemaRef) -> Result<Self> {
        let conv = |s: &SchemaRef, keys: &[usize]| RowConverter::new(keys.iter().map(|k| SortField::new(s.field(*k).data_type().clone())).collect()).map_err(internal);
        let converters = [conv(&left, &plan.left_keys)?, conv(&right, &plan.right_keys)?];
        Ok(TemporalJoin {
            plan,
            schema,
            inputs: [left, right],
            stores: [BatchStore::default(), BatchStore::default()],
            converters,
            waiting: BTreeMap::new(),
            versions: HashMap::new(),
            dirty: BTreeSet::new(),
            watermark: WATERMARK_MIN,
            seq: 0,
        })
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Buffer the rows of `data` arriving on `side` (`deleted`: per row, for restored versions).
    fn buffer(&mut self, side: usize, data: RecordBatch, kinds: Option<&arrow::array::UInt8Array>, deleted: Option<&BooleanArray>, out: &mut Vec<RowRef>) -> Result<()> {
        let (keys, time_col) = if side == 0 { (&self.plan.left_keys, self.plan.left_time) } else { (&self.plan.right_keys, self.plan.right_time) };
        let key_cols: Vec<ArrayRef> = keys.iter().map(|k| data.column(*k).clone()).collect();
        let rows = self.converters[side].convert_columns(&key_cols).map_err(internal)?;
        let times = to_millis(data.column(time_col))?;
        let bid = self.stores[side].insert(data, 1);
        for (i, t) in times.iter().enumerate() {
            let at = (bid, i as u32);
            let valid = key_cols.iter().all(|c| c.is_valid(i));
            let key: Box<[u8]> = rows.row(i).data().into();
            if side == 0 {
                match (*t, valid) {
                    (Some(t), true) => {
                        let seq = self.next_seq();
                        self.waiting.insert((t, seq), (key, at));
                        self.stores[0].retain(bid);
                    }
                    // No time or a NULL key: it can match nothing (the caller emits it and
                    // releases the reference).
                    _ => {
                        self.stores[0].retain(bid);
                        out.push(at);
                    }
                }
                continue;
            }
            let kind = kinds.and_then(|k| RowKind::from_u8(k.value(i))).unwrap_or(RowKind::Insert);
            let (Some(t), true) = (*t, valid) else { continue };
            let deleted = match deleted {
                Some(d) => d.value(i),
                None => match kind {
                    RowKind::Insert | RowKind::UpdateAfter => false,
                    RowKind::Delete => true,
                    RowKind::UpdateBefore => continue,
                },
            };
            let seq = self.next_seq();
            self.versions.entry(key.clone()).or_default().insert((t, seq), Version { at, deleted });
            self.dirty.insert(key);
            self.stores[1].retain(bid);
        }
        self.stores[side].release(bid);
        Ok(())
    }

    /// Drop the versions of `key` that no left row after the watermark can see: all but the
    /// latest at or before it (and that one too if it is a deletion).
    fn clean(&mut self, key: &[u8]) {
        let Some(v) = self.versions.get_mut(key) else { return };
        let w = self.watermark;
        let old: Vec<(i64, u64)> = v.range(..=(w, u64::MAX)).map(|(k, _)| *k).collect();
        let keep_last = old.last().filter(|k| !v[*k].deleted).copied();
        for k in old {
            if Some(k) != keep_last
                && let Some(ver) = v.remove(&k)
            {
                self.stores[1].release(ver.at.0);
            }
        }
        if v.is_empty() {
            self.versions.remove(key);
        }
    }

    /// Join rows `pairs` (left, right) and NULL-pad `alone` (left rows without a version).
    fn emit(&self, pairs: Vec<(RowRef, RowRef)>, mut alone: Vec<RowRef>, out: &mut Emitter) -> Result<()> {
        let lw = self.plan.left_width;
        let rw = self.plan.right_width;
        if !pairs.is_empty() {
            let l: Vec<RowRef> = pairs.iter().map(|(l, _)| *l).collect();
            let r: Vec<RowRef> = pairs.iter().map(|(_, r)| *r).collect();
            let mut cols = self.stores[0].gather(&l, self.inputs[0].fields().len())?;
            cols.truncate(lw);
            let mut right = self.stores[1].gather(&r, self.inputs[1].fields().len())?;
            right.truncate(rw);
            cols.extend(right);
            let joined = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
            let joined = match &self.plan.filter {
                None => joined,
                Some(f) => {
                    let mask = condition_mask(f, &joined, "temporal join")?;
                    if self.plan.left_outer {
                        alone.extend(l.iter().zip(mask.iter()).filter(|(_, m)| *m != Some(true)).map(|(l, _)| *l));
                    }
                    arrow::compute::filter_record_batch(&joined, &mask).map_err(internal)?
                }
            };
            out.emit(StreamBatch::inserts(joined));
        }
        if self.plan.left_outer && !alone.is_empty() {
            let mut cols = self.stores[0].gather(&alone, self.inputs[0].fields().len())?;
            cols.truncate(lw);
            for f in &self.schema.fields()[lw..] {
                cols.push(new_null_array(f.data_type(), alone.len()));
            }
            out.emit(StreamBatch::inserts(RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?));
        }
        Ok(())
    }
}

impl Operator for TemporalJoin {
    fn on_batch(&mut self, input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let side = input.min(1);
        if side == 0 {
            require_append_only(&batch, "temporal join (left input)")?;
        }
        let mut unmatched = Vec::new();
        let kinds = batch.kinds.clone();
        self.buffer(side, batch.data, kinds.as_deref(), None, &mut unmatched)?;
        if !unmatched.is_empty() {
            self.emit(Vec::new(), unmatched.clone(), out)?;
            for at in unmatched {
                self.stores[0].release(at.0);
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        self.watermark = watermark;
        let mut pairs = Vec::new();
        let mut alone = Vec::new();
        let mut done = Vec::new();
        let mut touched = BTreeSet::new();
        while let Some((&(t, _), _)) = self.waiting.first_key_value() {
            if t > watermark {
                break;
            }
            let Some((_, (key, at))) = self.waiting.pop_first() else { break };
            let version = self.versions.get(&key).and_then(|v| v.range(..=(t, u64::MAX)).next_back()).map(|(_, v)| *v);
            match version {
                Some(v) if !v.deleted => pairs.push((at, v.at)),
                _ => alone.push(at),
            }
            done.push(at.0);
            touched.insert(key);
        }
        self.emit(pairs, alone, out)?;
        for b in done {
            self.stores[0].release(b);
        }
        let dirty = std::mem::take(&mut self.dirty);
        for key in dirty.iter().chain(touched.iter()) {
            self.clean(key);
        }
        out.watermark(watermark);
        Ok(())
    }

    /// The waiting left rows and the right versions (with a deletion flag), keyed by the join
    /// keys, and the watermark.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let mut entries = Vec::new();
        let left: Vec<RowRef> = self.waiting.values().map(|(_, at)| *at).collect();
        let mut e = StateEntry::new("left", self.inputs[0].clone(), Some(self.plan.left_keys.clone()), Vec::new());
        if !left.is_empty() {
            e.deferred.push(self.stores[0].deferred_gather(&left, self.inputs[0].fields().len(), self.inputs[0].clone(), Vec::new())?);
        }
        entries.push(e);
        let mut all: Vec<(u64, Version)> = self.versions.values().flat_map(|v| v.iter().map(|((_, s), v)| (*s, *v))).collect();
        all.sort_by_key(|(s, _)| *s);
        let refs: Vec<RowRef> = all.iter().map(|(_, v)| v.at).collect();
        let deleted: BooleanArray = all.iter().map(|(_, v)| Some(v.deleted)).collect();
        let mut fields: Vec<FieldRef> = self.inputs[1].fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new("__deleted", DataType::Boolean, false)));
        let schema = Arc::new(Schema::new(fields));
        let mut e = StateEntry::new("right", schema.clone(), Some(self.plan.right_keys.clone()), Vec::new());
        if !refs.is_empty() {
            e.deferred.push(self.stores[1].deferred_gather(&refs, self.inputs[1].fields().len(), schema, vec![Arc::new(deleted)])?);
        }
        entries.push(e);
        Ok(Some(OperatorSnapshot { meta: watermark_meta(self.watermark), entries }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.watermark = restored_watermark(self.watermark, &parts);
        let mut none = Vec::new();
        for p in parts {
            for e in &p.entries {
                for b in &e.batches {
                    if e.name == "left" {
                        self.buffer(0, b.clone(), None, None, &mut none)?;
                    } else {
                        let width = self.inputs[1].fields().len();
                        let deleted = b.column(width).as_boolean().clone();
                        let data = RecordBatch::try_new(self.inputs[1].clone(), b.columns()[..width].to_vec())
                            .map_err(|e| RuntimeError::User(format!("temporal join state does not fit the query: {e}")))?;
                        self.buffer(1, data, None, Some(&deleted), &mut none)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray, UInt8Array};
    use arrow::datatypes::TimeUnit;
    use rask_types::value_fmt::format_row;

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    fn op(left_outer: bool) -> TemporalJoin {
        let out: Vec<FieldRef> = input().fields().iter().chain(input().fields().iter()).cloned().collect();
        let plan = Plan { left_outer, left_keys: vec![0], right_keys: vec![0], left_time: 2, right_time: 2, left_width: 3, right_width: 3, filter: None };
        TemporalJoin::new(plan, input(), input(), Arc::new(Schema::new(out))).unwrap()
    }

    fn feed(op: &mut TemporalJoin, side: usize, rows: &[(Option<&str>, i64, i64, RowKind)]) -> Vec<String> {
        let b = RecordBatch::try_new(
            input(),
            vec![
                Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from(rows.iter().map(|r| r.3 as u8).collect::<Vec<_>>());
        let mut out = Emitter::default();
        let batch = if side == 0 { StreamBatch::inserts(b) } else { StreamBatch::with_kinds(b, kinds) };
        op.on_batch(side, batch, &mut out).unwrap();
        rows_of(&out)
    }

    fn rows_of(out: &Emitter) -> Vec<String> {
        let mut v: Vec<String> = out.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| format_row(b, i))).collect();
        v.sort();
        v
    }

    fn advance(op: &mut TemporalJoin, wm: i64) -> Vec<String> {
        let mut out = Emitter::default();
        op.on_watermark(wm, &mut out).unwrap();
        rows_of(&out)
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    /// Versions by time, deletes ending a key, -U skipped, NULL keys padded at once; a
    /// snapshot taken with rows waiting and versions buffered restores to the same results.
    #[test]
    fn rows_join_the_version_valid_at_their_time_also_after_restore() {
        let mut a = op(true);
        feed(&mut a, 1, &[(Some("x"), 1, 10, I), (Some("y"), 5, 10, I), (Some("x"), 1, 10, UB), (Some("x"), 2, 20, UA), (Some("y"), 5, 30, D)]);
        assert_eq!(feed(&mut a, 0, &[(None, 0, 12, I)]), ["+I[null, 0, 1970-01-01T00:00:00.012, null, null, null]"]);
        feed(&mut a, 0, &[(Some("x"), 100, 5, I), (Some("x"), 101, 15, I), (Some("y"), 102, 25, I), (Some("x"), 103, 25, I), (Some("y"), 104, 35, I)]);
        assert_eq!(
            advance(&mut a, 15),
            ["+I[x, 100, 1970-01-01T00:00:00.005, null, null, null]", "+I[x, 101, 1970-01-01T00:00:00.015, x, 1, 1970-01-01T00:00:00.010]"]
        );
        let mut snap = a.snapshot(1).unwrap().unwrap();
        for e in &mut snap.entries {
            for d in std::mem::take(&mut e.deferred) {
                e.batches.push((d.build)().unwrap());
            }
        }
        let mut b = op(true);
        b.restore(vec![snap]).unwrap();
        for o in [&mut a, &mut b] {
            assert_eq!(
                advance(o, 40),
                [
                    "+I[x, 103, 1970-01-01T00:00:00.025, x, 2, 1970-01-01T00:00:00.020]",
                    "+I[y, 102, 1970-01-01T00:00:00.025, y, 5, 1970-01-01T00:00:00.010]",
                    "+I[y, 104, 1970-01-01T00:00:00.035, null, null, null]",
                ]
            );
            // Only the version valid at the watermark is left for key x; y's delete ended it.
            assert_eq!(o.versions.len(), 1);
            assert_eq!(o.versions.values().next().unwrap().len(), 1);
        }
    }
}
