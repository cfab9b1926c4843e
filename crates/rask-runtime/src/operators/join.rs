//! Regular join (Flink's `StreamingJoinOperator`): both inputs are kept per join key; a row
//! arriving on one side joins the other side's rows with the same key that satisfy the
//! non-equi condition, and its row kind decides what is emitted, exactly as Flink does:
//!
//! - accumulate (+I/+U) on an inner side: emit `[row+other]` per match with the input's kind
//!   (`+I` if the other side is outer, which also deletes the other row's null-padded row,
//!   `-D[null+other]`, on its first match);
//! - accumulate on an outer side: `+I[row+null]` without matches, else `+I[row+other]` per
//!   match (again deleting the other side's null-padded rows on their first match);
//! - retract (-U/-D): the row leaves the state; emit `[row+other]` per match with the input's
//!   kind (`-D` on an outer side, and `-D[row+null]` if it had no match), and re-insert
//!   `+I[null+other]` for an outer other row that lost its last match.
//!
//! Rows of updating inputs are counted by value (a retraction finds its row by value), and an
//! outer side's rows remember how many rows of the other side match them. null keys match
//! nothing (unless the condition is `IS NOT DISTINCT FROM`). With `table.exec.state.ttl` rows
//! not written for the TTL are forgotten, without output (Flink's idle state retention).

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashMap;
use rask_sql::join::RegularJoin as Plan;
use rask_state::{OperatorSnapshot, StateEntry, StateTtl};
use rask_types::{RowKind, StreamBatch};

use super::buffer::{BatchStore, RowRef};
use super::keyed::{key_of, key_rows, slot};
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("join: {e}"))
}

/// Most rows per emitted batch.
const OUTPUT_BATCH_ROWS: usize = 8192;

struct Entry {
    at: RowRef,
    /// The row's value (updating inputs only): a retraction finds its row by it.
    value: Option<Box<[u8]>>,
    /// Identical rows held (updating inputs; an append-only input keeps one entry per row).
    count: u32,
    /// Rows of the other side matching this one (outer sides only).
    assoc: u32,
    /// Processing time of the last write (for `table.exec.state.ttl`).
    written: i64,
}

struct Side {
    batches: BatchStore,
    by_key: HashMap<Box<[u8]>, Vec<Entry>>,
    keys: Vec<usize>,
    /// Columns of this side in the output (further input columns are computed keys).
    width: usize,
    schema: SchemaRef,
    key_converter: RowConverter,
    /// Encodes whole rows of an updating input.
    value_converter: Option<RowConverter>,
    /// A one-row batch of nulls in `batches`, for null-padding.
    null_row: RowRef,
}

impl Side {
    fn new(schema: SchemaRef, keys: Vec<usize>, width: usize, updating: bool) -> Result<Side> {
        let key_converter = RowConverter::new(keys.iter().map(|k| SortField::new(schema.field(*k).data_type().clone())).collect()).map_err(internal)?;
        let value_converter = if updating {
            Some(RowConverter::new(schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect()).map_err(internal)?)
        } else {
            None
        };
        let nullable = Arc::new(Schema::new(schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>()));
        let nulls: Vec<ArrayRef> = schema.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect();
        let mut batches = BatchStore::default();
        let null_batch = RecordBatch::try_new(nullable, nulls).map_err(internal)?;
        let null_row = (batches.insert(null_batch, 1), 0);
        Ok(Side { batches, by_key: HashMap::new(), keys, width, schema, key_converter, value_converter, null_row })
    }

    /// The rows' join keys (`None` without keys: every row has the empty key).
    fn key_rows(&self, data: &RecordBatch) -> Result<Option<Rows>> {
        key_rows(&self.key_converter, &self.keys, data)
    }

    /// Add row `at` (value `value`) under `key`.
    fn add(&mut self, key: &[u8], at: RowRef, value: Option<&[u8]>, assoc: u32, now: i64) {
        let list = slot(&mut self.by_key, key);
        if let Some(v) = value
            && let Some(e) = list.iter_mut().find(|e| e.value.as_deref() == Some(v))
        {
            e.count += 1;
            e.assoc = assoc;
            e.written = now;
            return;
        }
        list.push(Entry { at, value: value.map(Box::from), count: 1, assoc, written: now });
        self.batches.retain(at.0);
    }

    /// Remove one row of value `value` under `key` (nothing if it is not held).
    fn retract(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Some(list) = self.by_key.get_mut(key) else { return };
        let Some(i) = list.iter().position(|e| value.is_none() || e.value.as_deref() == value) else { return };
        list[i].count -= 1;
        if list[i].count == 0 {
            let e = list.remove(i);
            self.batches.release(e.at.0);
            if list.is_empty() {
                self.by_key.remove(key);
            }
        }
    }
}

/// Output rows gathered while handling one batch: (kind, left row, right row).
#[derive(Default)]
struct Pending {
    kinds: Vec<u8>,
    left: Vec<RowRef>,
    right: Vec<RowRef>,
}

pub struct Join {
    plan: Plan,
    schema: SchemaRef,
    sides: [Side; 2],
    ttl: Option<StateTtl>,
    clock: fn() -> i64,
}

impl Join {
    pub fn new(plan: Plan, left: SchemaRef, right: SchemaRef, schema: SchemaRef, ttl: Option<StateTtl>) -> Result<Self> {
        let sides = [
            Side::new(left, plan.left_keys.clone(), plan.left_width, plan.left_updating)?,
            Side::new(right, plan.right_keys.clone(), plan.right_width, plan.right_updating)?,
        ];
        Ok(Join { plan, schema, sides, ttl, clock: rask_types::now_ms })
    }

    fn push(&self, p: &mut Pending, kind: RowKind, side: usize, mine: RowRef, other: RowRef, times: u32) {
        for _ in 0..times {
            p.kinds.push(kind as u8);
            let (l, r) = if side == 0 { (mine, other) } else { (other, mine) };
            p.left.push(l);
            p.right.push(r);
        }
    }

    /// Columns of the output rows `left` ++ `right`.
    fn gather(&self, left: &[RowRef], right: &[RowRef]) -> Result<Vec<ArrayRef>> {
        let mut cols = self.sides[0].batches.gather(left, self.sides[0].width)?;
        cols.extend(self.sides[1].batches.gather(right, self.sides[1].width)?);
        Ok(cols)
    }

    fn emit(&self, p: Pending, out: &mut Emitter) -> Result<()> {
        let append_only = !self.plan.left_updating && !self.plan.right_updating && !self.plan.outer(0) && !self.plan.outer(1);
        // A row may match many: emit in batches of bounded size (and string offsets).
        for start in (0..p.kinds.len()).step_by(OUTPUT_BATCH_ROWS) {
            let end = (start + OUTPUT_BATCH_ROWS).min(p.kinds.len());
            let cols = self.gather(&p.left[start..end], &p.right[start..end])?;
            let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
            out.emit(if append_only { StreamBatch::inserts(batch) } else { StreamBatch::with_kinds(batch, UInt8Array::from(p.kinds[start..end].to_vec())) });
        }
        Ok(())
    }

    /// For each row of `data` (arriving on `side`, stored as batch `bid`): the positions of the
    /// other side's rows under its key that satisfy the condition.
    fn matches(&self, side: usize, bid: u32, keys: &Option<Rows>, valid: &[bool]) -> Result<Vec<Vec<usize>>> {
        let other = &self.sides[1 - side];
        let mut found: Vec<Vec<usize>> = vec![Vec::new(); valid.len()];
        let Some(filter) = &self.plan.filter else {
            for (i, f) in found.iter_mut().enumerate() {
                if valid[i]
                    && let Some(list) = other.by_key.get(key_of(keys, i))
                {
                    f.extend(0..list.len());
                }
            }
            return Ok(found);
        };
        // Evaluate the condition on every candidate pair at once.
        let (mut mine, mut theirs, mut at) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..valid.len() {
            if valid[i]
                && let Some(list) = other.by_key.get(key_of(keys, i))
            {
                for (j, e) in list.iter().enumerate() {
                    mine.push((bid, i as u32));
                    theirs.push(e.at);
                    at.push((i, j));
                }
            }
        }
        if at.is_empty() {
            return Ok(found);
        }
        let cols = if side == 0 { self.gather(&mine, &theirs)? } else { self.gather(&theirs, &mine)? };
        let pairs = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        let keep = super::keyed::condition_mask(filter, &pairs, "join")?;
        for (k, (i, j)) in at.into_iter().enumerate() {
            if keep.value(k) {
                found[i].push(j);
            }
        }
        Ok(found)
    }

    fn arm_ttl(&self, out: &mut Emitter) {
        super::keyed::arm_ttl(self.ttl, self.sides.iter().any(|s| !s.by_key.is_empty()), out);
    }
}

impl Operator for Join {
    fn on_batch(&mut self, input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let side = input.min(1);
        let other = 1 - side;
        let (mine_outer, other_outer) = (self.plan.outer(side), self.plan.outer(other));
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        let data = &batch.data;
        let keys = self.sides[side].key_rows(data)?;
        let valid: Vec<bool> = (0..data.num_rows())
            .map(|i| self.plan.nulls_equal || self.sides[side].keys.iter().all(|k| data.column(*k).is_valid(i)))
            .collect();
        let values = match &self.sides[side].value_converter {
            Some(c) => Some(c.convert_columns(data.columns()).map_err(internal)?),
            None => None,
        };
        // Held while the batch is processed; each stored row retains it once more.
        let bid = self.sides[side].batches.insert(data.clone(), 1);
        let found = self.matches(side, bid, &keys, &valid)?;
        let null_mine = self.sides[side].null_row;
        let null_other = self.sides[other].null_row;
        let mut p = Pending::default();
        for (i, matched) in found.iter().enumerate() {
            let kind = batch.kind(i);
            let row = (bid, i as u32);
            let key = key_of(&keys, i);
            let value = values.as_ref().map(|v| v.row(i));
            let value = value.as_ref().map(|v| v.data());
            if !valid[i] {
                // Matches nothing, now or later: only an outer side shows it.
                if mine_outer {
                    let k = if kind.is_accumulate() { RowKind::Insert } else { RowKind::Delete };
                    self.push(&mut p, k, side, row, null_other, 1);
                }
                continue;
            }
            let list_len = matched.len();
            let total: u32 = match self.sides[other].by_key.get(key) {
                Some(list) => matched.iter().map(|j| list[*j].count).sum(),
                None => 0,
            };
            if kind.is_accumulate() {
                if list_len > 0 && other_outer {
                    // The other rows' null-padded rows go on their first match.
                    let list = self.sides[other].by_key.get_mut(key).ok_or_else(|| internal("matched key vanished"))?;
                    let mut gone = Vec::new();
                    for j in matched {
                        let e = &mut list[*j];
                        if e.assoc == 0 {
                            gone.push((e.at, e.count));
                        }
                        e.assoc += 1;
                    }
                    for (at, n) in gone {
                        self.push(&mut p, RowKind::Delete, other, at, null_mine, n);
                    }
                }
                if list_len == 0 {
                    if mine_outer {
                        self.push(&mut p, RowKind::Insert, side, row, null_other, 1);
                    }
                } else {
                    let k = if mine_outer || other_outer { RowKind::Insert } else { kind };
                    let list = &self.sides[other].by_key[key];
                    let rows: Vec<(RowRef, u32)> = matched.iter().map(|j| (list[*j].at, list[*j].count)).collect();
                    for (at, n) in rows {
                        self.push(&mut p, k, side, row, at, n);
                    }
                }
                self.sides[side].add(key, row, value, total, now);
            } else {
                self.sides[side].retract(key, value);
                if list_len == 0 {
                    if mine_outer {
                        self.push(&mut p, RowKind::Delete, side, row, null_other, 1);
                    }
                    continue;
                }
                let k = if mine_outer { RowKind::Delete } else { kind };
                let list = self.sides[other].by_key.get_mut(key).ok_or_else(|| internal("matched key vanished"))?;
                let rows: Vec<(RowRef, u32)> = matched.iter().map(|j| (list[*j].at, list[*j].count)).collect();
                let mut back = Vec::new();
                if other_outer {
                    for j in matched {
                        let e = &mut list[*j];
                        if e.assoc == 1 {
                            back.push((e.at, e.count));
                        }
                        e.assoc = e.assoc.saturating_sub(1);
                    }
                }
                for (at, n) in rows {
                    self.push(&mut p, k, side, row, at, n);
                }
                for (at, n) in back {
                    self.push(&mut p, RowKind::Insert, other, at, null_mine, n);
                }
            }
        }
        self.emit(p, out)?;
        self.sides[side].batches.release(bid);
        self.arm_ttl(out);
        Ok(())
    }

    /// Forget rows not written for the TTL (no output, as Flink).
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if let Some(ttl) = self.ttl {
            let now = (self.clock)();
            for s in &mut self.sides {
                let mut released = Vec::new();
                s.by_key.retain(|_, list| {
                    list.retain(|e| {
                        let keep = !ttl.expired(e.written, now);
                        if !keep {
                            released.push(e.at.0);
                        }
                        keep
                    });
                    !list.is_empty()
                });
                for b in released {
                    s.batches.release(b);
                }
            }
            self.arm_ttl(out);
        }
        Ok(())
    }

    /// Each side's rows (all input columns) with their count and number of matches, keyed by
    /// the join key.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let mut entries = Vec::new();
        for (i, s) in self.sides.iter().enumerate() {
            let all: Vec<&Entry> = s.by_key.values().flatten().collect();
            let mut fields: Vec<arrow::datatypes::FieldRef> = s.schema.fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new("__count", DataType::Int64, false)));
            fields.push(Arc::new(Field::new("__assoc", DataType::Int64, false)));
            let schema = Arc::new(Schema::new(fields));
            let key_cols = (!s.keys.is_empty()).then(|| s.keys.clone());
            let mut entry = StateEntry::new(if i == 0 { "left" } else { "right" }, schema.clone(), key_cols, Vec::new());
            if !all.is_empty() {
                let refs: Vec<RowRef> = all.iter().map(|e| e.at).collect();
                let extra: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from_iter_values(all.iter().map(|e| e.count as i64))),
                    Arc::new(Int64Array::from_iter_values(all.iter().map(|e| e.assoc as i64))),
                ];
                entry.deferred.push(s.batches.deferred_gather(&refs, s.schema.fields().len(), schema, extra)?);
            }
            entries.push(entry);
        }
        Ok(Some(OperatorSnapshot { meta: Vec::new(), entries }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        let now = (self.clock)();
        for part in parts {
            for e in &part.entries {
                let i = if e.name == "left" { 0 } else { 1 };
                let s = &mut self.sides[i];
                let width = s.schema.fields().len();
                for b in &e.batches {
                    if b.num_columns() != width + 2 {
                        return Err(RuntimeError::User(format!("join state does not fit the query: {} state columns, expected {}", b.num_columns(), width + 2)));
                    }
                    let data = RecordBatch::try_new(s.schema.clone(), b.columns()[..width].to_vec())
                        .map_err(|e| RuntimeError::User(format!("join state does not fit the query: {e}")))?;
                    let counts = b.column(width).as_primitive::<arrow::datatypes::Int64Type>();
                    let assocs = b.column(width + 1).as_primitive::<arrow::datatypes::Int64Type>();
                    let keys = s.key_rows(&data)?;
                    let values = match &s.value_converter {
                        Some(c) => Some(c.convert_columns(data.columns()).map_err(internal)?),
                        None => None,
                    };
                    let bid = s.batches.insert(data.clone(), 1);
                    for r in 0..data.num_rows() {
                        let entry = Entry {
                            at: (bid, r as u32),
                            value: values.as_ref().map(|v| Box::from(v.row(r).data())),
                            count: counts.value(r) as u32,
                            assoc: assocs.value(r) as u32,
                            written: now,
                        };
                        slot(&mut s.by_key, key_of(&keys, r)).push(entry);
                        s.batches.retain(bid);
                    }
                    s.batches.release(bid);
                }
            }
        }
        Ok(())
    }

    fn on_open(&mut self, out: &mut Emitter) -> Result<()> {
        self.arm_ttl(out);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use rask_sql::window_join::WindowJoinType;
    use rask_types::value_fmt::format_row;

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true), Field::new("v", DataType::Utf8, true)]))
    }

    fn join(t: WindowJoinType, updating: bool) -> Join {
        let out = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
            Field::new("k0", DataType::Int64, true),
            Field::new("v0", DataType::Utf8, true),
        ]));
        let plan = Plan {
            join_type: t,
            left_keys: vec![0],
            right_keys: vec![0],
            left_width: 2,
            right_width: 2,
            nulls_equal: false,
            filter: None,
            left_updating: updating,
            right_updating: updating,
        };
        Join::new(plan, input(), input(), out, None).unwrap()
    }

    fn feed(op: &mut Join, side: usize, rows: &[(Option<i64>, &str, RowKind)]) -> Vec<String> {
        let b = RecordBatch::try_new(
            input(),
            vec![
                Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from(rows.iter().map(|r| r.2 as u8).collect::<Vec<_>>());
        let mut out = Emitter::default();
        op.on_batch(side, StreamBatch::with_kinds(b, kinds), &mut out).unwrap();
        out.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| format_row(b, i))).collect()
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    #[test]
    fn inner_join_forwards_row_kinds() {
        let mut op = join(WindowJoinType::Inner, true);
        assert!(feed(&mut op, 0, &[(Some(1), "a", I)]).is_empty());
        assert_eq!(feed(&mut op, 1, &[(Some(1), "x", I), (Some(2), "y", I), (None, "n", I)]), ["+I[1, a, 1, x]"]);
        assert_eq!(feed(&mut op, 0, &[(Some(1), "a", UB), (Some(1), "b", UA)]), ["-U[1, a, 1, x]", "+U[1, b, 1, x]"]);
        assert_eq!(feed(&mut op, 1, &[(Some(1), "x", D)]), ["-D[1, b, 1, x]"]);
        assert!(feed(&mut op, 0, &[(Some(1), "b", D)]).is_empty());
        assert!(op.sides[0].by_key.is_empty());
    }

    #[test]
    fn full_outer_join_pads_and_unpads_like_flink() {
        let mut op = join(WindowJoinType::Full, true);
        assert_eq!(feed(&mut op, 0, &[(Some(1), "a", I)]), ["+I[1, a, null, null]"]);
        assert_eq!(feed(&mut op, 1, &[(Some(1), "x", I)]), ["-D[1, a, null, null]", "+I[1, a, 1, x]"]);
        // A duplicate left row matches too; the right row is already matched.
        assert_eq!(feed(&mut op, 0, &[(Some(1), "a", I)]), ["+I[1, a, 1, x]"]);
        assert_eq!(feed(&mut op, 1, &[(Some(1), "x", D)]), ["-D[1, a, 1, x]", "-D[1, a, 1, x]", "+I[1, a, null, null]", "+I[1, a, null, null]"]);
        assert_eq!(feed(&mut op, 1, &[(Some(2), "y", I), (None, "n", I)]), ["+I[null, null, 2, y]", "+I[null, null, null, n]"]);
        assert_eq!(feed(&mut op, 0, &[(Some(1), "a", D)]), ["-D[1, a, null, null]"]);
    }

    #[test]
    fn left_join_retraction_of_the_last_match_restores_the_padded_row() {
        let mut op = join(WindowJoinType::Left, false);
        assert_eq!(feed(&mut op, 0, &[(Some(1), "a", I), (Some(1), "b", I)]), ["+I[1, a, null, null]", "+I[1, b, null, null]"]);
        assert_eq!(feed(&mut op, 1, &[(Some(1), "x", I)]), ["-D[1, a, null, null]", "-D[1, b, null, null]", "+I[1, a, 1, x]", "+I[1, b, 1, x]"]);
        assert_eq!(feed(&mut op, 1, &[(Some(1), "y", I)]), ["+I[1, a, 1, y]", "+I[1, b, 1, y]"]);
    }

    /// tests/golden/join.slt's q6 (a FULL JOIN of two group aggregations) as Flink 2.3 emitted
    /// it, having read the right input first.
    #[test]
    fn full_join_of_two_changelogs_is_flinks_sequence() {
        let mut op = join(WindowJoinType::Full, true);
        let right = feed(&mut op, 1, &[(Some(1), "1", I), (Some(2), "1", I), (Some(3), "1", I), (Some(5), "1", I), (Some(2), "1", UB), (Some(2), "2", UA), (None, "1", I)]);
        let left = feed(
            &mut op,
            0,
            &[
                (Some(1), "10", I),
                (Some(2), "25", I),
                (Some(1), "10", UB),
                (Some(1), "17", UA),
                (Some(4), "30", I),
                (None, "3", I),
                (Some(3), "12", I),
                (Some(2), "25", UB),
                (Some(2), "26", UA),
                (Some(1), "17", UB),
                (Some(1), "57", UA),
            ],
        );
        let flink = "+I[null, null, 1, 1] +I[null, null, 2, 1] +I[null, null, 3, 1] +I[null, null, 5, 1] -D[null, null, 2, 1] +I[null, null, 2, 2] \
            +I[null, null, null, 1] -D[null, null, 1, 1] +I[1, 10, 1, 1] -D[null, null, 2, 2] +I[2, 25, 2, 2] -D[1, 10, 1, 1] +I[null, null, 1, 1] \
            -D[null, null, 1, 1] +I[1, 17, 1, 1] +I[4, 30, null, null] +I[null, 3, null, null] -D[null, null, 3, 1] +I[3, 12, 3, 1] -D[2, 25, 2, 2] \
            +I[null, null, 2, 2] -D[null, null, 2, 2] +I[2, 26, 2, 2] -D[1, 17, 1, 1] +I[null, null, 1, 1] -D[null, null, 1, 1] +I[1, 57, 1, 1]";
        let want: Vec<String> = flink.split("] ").map(|r| r.trim().trim_end_matches(']').to_string() + "]").collect();
        assert_eq!([right, left].concat(), want);
    }

    #[test]
    fn restored_state_continues_the_changelog() {
        let mut op = join(WindowJoinType::Left, true);
        feed(&mut op, 0, &[(Some(1), "a", I), (Some(2), "b", I)]);
        feed(&mut op, 1, &[(Some(1), "x", I)]);
        let mut snap = op.snapshot(1).unwrap().unwrap();
        for e in &mut snap.entries {
            for d in std::mem::take(&mut e.deferred) {
                e.batches.push((d.build)().unwrap());
            }
        }
        let mut restored = join(WindowJoinType::Left, true);
        restored.restore(vec![snap]).unwrap();
        for o in [&mut op, &mut restored] {
            assert_eq!(feed(o, 1, &[(Some(1), "x", D)]), ["-D[1, a, 1, x]", "+I[1, a, null, null]"]);
            assert_eq!(feed(o, 0, &[(Some(2), "b", D)]), ["-D[2, b, null, null]"]);
        }
    }
}
