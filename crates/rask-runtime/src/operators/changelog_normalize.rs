//! Changelog normalisation (Flink's `ChangelogNormalize`, its
//! `ProcTimeDeduplicateKeepLastRowFunction` over a changelog): the last row per primary key,
//! so that an upsert source (+I/+U: "this is the key's row now", -D by key) becomes a full
//! changelog. Per input row:
//!
//! - an upsert of a new key: `+I[row]`;
//! - an upsert of a known key: `-U[old]`, `+U[new]` — nothing when the row equals the kept one
//!   (unless a state TTL is set: then downstream state must see the key again);
//! - a delete (or `-U`) of a known key: `-D[old]` (the whole kept row, not just the key the
//!   tombstone carried), and the key is forgotten; of an unknown key: nothing.
//!
//! State: the kept row per key, checkpointed keyed by the key columns (re-partitionable).

use arrow::array::{RecordBatch, UInt8Array};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use rask_state::{OperatorSnapshot, StateEntry, StateTtl};
use rask_types::{RowKind, StreamBatch};

use super::keyed::{key_of, key_rows, restored_batches};
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("changelog normalize: {e}"))
}

struct Kept {
    row: Box<[u8]>,
    /// Processing time of the last access (for `table.exec.state.ttl`).
    touched: i64,
}

pub struct ChangelogNormalize {
    key: Vec<usize>,
    schema: SchemaRef,
    key_converter: RowConverter,
    row_converter: RowConverter,
    rows: HashMap<Box<[u8]>, Kept>,
    ttl: Option<StateTtl>,
    clock: fn() -> i64,
}

impl ChangelogNormalize {
    pub fn new(key: Vec<usize>, schema: SchemaRef, ttl: Option<StateTtl>) -> Result<Self> {
        let key_converter = RowConverter::new(key.iter().map(|c| SortField::new(schema.field(*c).data_type().clone())).collect()).map_err(internal)?;
        let row_converter = RowConverter::new(schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect()).map_err(internal)?;
        Ok(ChangelogNormalize { key, schema, key_converter, row_converter, rows: HashMap::new(), ttl, clock: rask_types::now_ms })
    }

    fn arm_ttl(&self, out: &mut Emitter) {
        super::keyed::arm_ttl(self.ttl, !self.rows.is_empty(), out);
    }
}

impl Operator for ChangelogNormalize {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let data = &batch.data;
        let keys = key_rows(&self.key_converter, &self.key, data)?;
        let rows = self.row_converter.convert_columns(data.columns()).map_err(internal)?;
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        let mut emitted: Vec<(RowKind, Box<[u8]>)> = Vec::new();
        for i in 0..data.num_rows() {
            let key = key_of(&keys, i);
            let row = rows.row(i).data();
            if batch.kind(i).is_accumulate() {
                match self.rows.get_mut(key) {
                    None => {
                        emitted.push((RowKind::Insert, row.into()));
                        self.rows.insert(key.into(), Kept { row: row.into(), touched: now });
                    }
                    Some(kept) => {
                        kept.touched = now;
                        if self.ttl.is_none() && kept.row.as_ref() == row {
                            continue;
                        }
                        let old = std::mem::replace(&mut kept.row, row.into());
                        emitted.push((RowKind::UpdateBefore, old));
                        emitted.push((RowKind::UpdateAfter, row.into()));
                    }
                }
            } else if let Some(kept) = self.rows.remove(key) {
                emitted.push((RowKind::Delete, kept.row));
            }
        }
        if !emitted.is_empty() {
            let parser = self.row_converter.parser();
            let cols = self.row_converter.convert_rows(emitted.iter().map(|(_, r)| parser.parse(r))).map_err(internal)?;
            let data = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
            out.emit(StreamBatch::with_kinds(data, UInt8Array::from_iter_values(emitted.iter().map(|(k, _)| *k as u8))));
        }
        self.arm_ttl(out);
        Ok(())
    }

    /// Forget keys idle for the TTL (no output, as Flink).
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        super::keyed::expire_idle(self.ttl, self.clock, &mut self.rows, |k| k.touched, out);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let mut entry = StateEntry::new("rows", self.schema.clone(), Some(self.key.clone()), Vec::new());
        if !self.rows.is_empty() {
            let parser = self.row_converter.parser();
            let cols = self.row_converter.convert_rows(self.rows.values().map(|k| parser.parse(&k.row))).map_err(internal)?;
            entry.batches.push(RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?);
        }
        Ok(Some(OperatorSnapshot { meta: Vec::new(), entries: vec![entry] }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        let now = (self.clock)();
        for data in restored_batches(parts, &self.schema, "ChangelogNormalize")? {
            let keys = key_rows(&self.key_converter, &self.key, &data)?;
            let rows = self.row_converter.convert_columns(data.columns()).map_err(internal)?;
            for i in 0..data.num_rows() {
                self.rows.insert(key_of(&keys, i).into(), Kept { row: rows.row(i).data().into(), touched: now });
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
    use std::sync::Arc;
    use arrow::array::{Array, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, false), Field::new("v", DataType::Int64, true)]))
    }

    fn feed(op: &mut ChangelogNormalize, rows: &[(&str, Option<i64>, RowKind)]) -> Vec<String> {
        let data = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from_iter_values(rows.iter().map(|r| r.2 as u8));
        let mut out = Emitter::default();
        op.on_batch(0, StreamBatch::with_kinds(data, kinds), &mut out).unwrap();
        let mut lines = Vec::new();
        for b in &out.batches {
            let k = b.data.column(0).as_string::<i32>();
            let v = b.data.column(1).as_primitive::<Int64Type>();
            for i in 0..b.data.num_rows() {
                let v = if v.is_null(i) { "null".to_string() } else { v.value(i).to_string() };
                lines.push(format!("{}[{}, {v}]", b.kind(i).short(), k.value(i)));
            }
        }
        lines
    }

    #[test]
    fn upserts_become_a_changelog_and_deletes_carry_the_kept_row() {
        let mut op = ChangelogNormalize::new(vec![0], schema(), None).unwrap();
        use RowKind::*;
        let out = feed(&mut op, &[("a", Some(1), Insert), ("b", Some(2), UpdateAfter), ("a", Some(3), UpdateAfter), ("a", Some(3), Insert)]);
        assert_eq!(out, ["+I[a, 1]", "+I[b, 2]", "-U[a, 1]", "+U[a, 3]"]);
        // A tombstone carries only the key; the delete carries the kept row. Unknown keys: nothing.
        let out = feed(&mut op, &[("a", None, Delete), ("zz", None, Delete), ("a", None, Delete), ("a", Some(5), Insert)]);
        assert_eq!(out, ["-D[a, 3]", "+I[a, 5]"]);
        // Snapshot → restore continues the changelog.
        let snap = op.snapshot(1).unwrap().unwrap();
        let mut restored = ChangelogNormalize::new(vec![0], schema(), None).unwrap();
        restored.restore(vec![snap]).unwrap();
        let out = feed(&mut restored, &[("b", Some(2), Insert), ("b", None, Delete), ("a", Some(6), Insert)]);
        assert_eq!(out, ["-D[b, 2]", "-U[a, 5]", "+U[a, 6]"]);
    }

    #[test]
    fn with_a_state_ttl_an_equal_row_is_emitted_again() {
        let ttl = StateTtl::new(std::time::Duration::from_secs(60));
        let mut op = ChangelogNormalize::new(vec![0], schema(), ttl).unwrap();
        let out = feed(&mut op, &[("a", Some(1), RowKind::Insert), ("a", Some(1), RowKind::Insert)]);
        assert_eq!(out, ["+I[a, 1]", "-U[a, 1]", "+U[a, 1]"]);
    }
}
