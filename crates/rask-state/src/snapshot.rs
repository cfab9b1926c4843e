//! One operator instance's state for one checkpoint, and its byte format.
//!
//! A snapshot is a small opaque `meta` blob (scalars the operator keeps: counters, positions,
//! pending commits) plus named entries of Arrow record batches. An entry with `key_columns`
//! is **keyed state**: its rows carry the key in those columns, so on restore at another
//! parallelism the runtime re-partitions them by key group (the same hash as the keyed
//! exchange). Operators keep their state as Arrow arrays, so taking a snapshot is cloning
//! reference-counted buffers; encoding (Arrow IPC) happens later on the checkpoint thread.
//!
//! **Incremental snapshots**: a batch may carry a *stable id* — a promise by the operator that
//! the batch with this id never changes (a frozen part of its state). The coordinator writes
//! such a batch to its own file once and later snapshots only reference that file, so a
//! checkpoint writes what changed since the previous one; the operator compacts its parts
//! from time to time (a compacted part gets a new id).
//!
//! **Asynchronous snapshots**: an entry may also hold [`Deferred`] batches — a row count and a
//! function that builds the batch from immutable data the operator captured (reference-counted
//! arrays, key rows, row references). The checkpoint thread builds them while the operator goes
//! on processing, and builds a deferred batch with a stable id only if it has not written that
//! id before; so what a checkpoint costs the operator's thread is copying its index.
//!
//! Format (version 2, little-endian): `RASKSNAP` · u32 version · u64 meta length · meta ·
//! u32 entry count · per entry: u32 name length · name · u32 key column count (`u32::MAX` =
//! not keyed) · key column indices · u64 schema IPC length · Arrow IPC schema stream · u32 item
//! count · per item: u8 tag — 0: u64 length · Arrow IPC stream of inline batches; 1: u32 length ·
//! path of a file (relative to the checkpoint directory) holding an Arrow IPC stream.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use crate::error::{Result, StateError};

const MAGIC: &[u8; 8] = b"RASKSNAP";
/// The snapshot format version written; readers accept exactly this version.
pub const SNAPSHOT_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub struct StateEntry {
    pub name: String,
    pub schema: SchemaRef,
    /// Keyed state: the columns holding the key (re-partitioned by key group on rescale).
    pub key_columns: Option<Vec<usize>>,
    pub batches: Vec<RecordBatch>,
    /// Stable ids of the batches (empty: none has one; else one per batch).
    pub batch_ids: Vec<Option<u64>>,
    /// Batches built on the checkpoint thread, stored after `batches` (in this order).
    pub deferred: Vec<Deferred>,
}

/// Builds a batch of a snapshot entry.
pub type BuildBatch = Arc<dyn Fn() -> Result<RecordBatch> + Send + Sync>;

/// A batch of a snapshot entry that the checkpoint thread builds (see the module docs).
#[derive(Clone)]
pub struct Deferred {
    /// Stable id (as for [`StateEntry::batch_ids`]), if the batch never changes.
    pub id: Option<u64>,
    pub rows: usize,
    pub build: BuildBatch,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Deferred {{ id: {:?}, rows: {} }}", self.id, self.rows)
    }
}

impl StateEntry {
    pub fn new(name: impl Into<String>, schema: SchemaRef, key_columns: Option<Vec<usize>>, batches: Vec<RecordBatch>) -> Self {
        StateEntry { name: name.into(), schema, key_columns, batches, batch_ids: Vec::new(), deferred: Vec::new() }
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum::<usize>() + self.deferred.iter().map(|d| d.rows).sum::<usize>()
    }
}

#[derive(Debug, Clone, Default)]
pub struct OperatorSnapshot {
    pub meta: Vec<u8>,
    pub entries: Vec<StateEntry>,
}

impl OperatorSnapshot {
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty() && self.entries.iter().all(|e| e.num_rows() == 0)
    }

    /// The entry called `name`, if any.
    pub fn entry(&self, name: &str) -> Option<&StateEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Move the entry called `name` out of the snapshot.
    pub fn take_entry(&mut self, name: &str) -> Option<StateEntry> {
        let i = self.entries.iter().position(|e| e.name == name)?;
        Some(self.entries.remove(i))
    }

    /// Encode without external files (every batch inline).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_with(&mut |_, _, _| Ok(None))
    }

    /// Encode (building deferred batches); `external(entry, id, build)` may store a batch with
    /// a stable id elsewhere — building it with `build()` only if it must write it — and return
    /// the path to reference instead of inlining it.
    pub fn encode_with(&self, external: &mut dyn FnMut(&str, u64, &dyn Fn() -> Result<RecordBatch>) -> Result<Option<String>>) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64 + self.meta.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.meta.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.meta);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&(e.name.len() as u32).to_le_bytes());
            out.extend_from_slice(e.name.as_bytes());
            match &e.key_columns {
                None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
                Some(k) => {
                    out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                    for c in k {
                        out.extend_from_slice(&(*c as u32).to_le_bytes());
                    }
                }
            }
            let schema = ipc_stream(&e.schema, &[])?;
            out.extend_from_slice(&(schema.len() as u64).to_le_bytes());
            out.extend_from_slice(&schema);
            // Items: runs of inline batches, and references.
            let mut items: Vec<(u8, Vec<u8>)> = Vec::new();
            let mut inline: Vec<RecordBatch> = Vec::new();
            let ready = e.batches.iter().enumerate().map(|(i, b)| (e.batch_ids.get(i).copied().flatten(), Item::Ready(b)));
            let deferred = e.deferred.iter().map(|d| (d.id, Item::Deferred(&d.build)));
            for (id, item) in ready.chain(deferred) {
                let build = || item.get();
                match id.map(|id| external(&e.name, id, &build)).transpose()?.flatten() {
                    Some(path) => {
                        if !inline.is_empty() {
                            items.push((0, ipc_stream(&e.schema, &std::mem::take(&mut inline))?));
                        }
                        items.push((1, path.into_bytes()));
                    }
                    None => inline.push(item.get()?),
                }
            }
            if !inline.is_empty() {
                items.push((0, ipc_stream(&e.schema, &inline)?));
            }
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for (tag, bytes) in items {
                out.push(tag);
                if tag == 0 {
                    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                } else {
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                }
                out.extend_from_slice(&bytes);
            }
        }
        Ok(out)
    }

    /// Decode bytes written by [`OperatorSnapshot::encode_with`]; `what` names them in errors,
    /// `load(path)` reads a referenced file.
    pub fn decode(bytes: &[u8], what: &str, load: &mut dyn FnMut(&str) -> Result<Vec<u8>>) -> Result<Self> {
        let mut r = Cursor { b: bytes, at: 0, what };
        if r.take(8)? != MAGIC {
            return Err(StateError::User(format!("{what} is not a Rask state snapshot")));
        }
        let version = r.u32()?;
        if version != SNAPSHOT_VERSION {
            return Err(StateError::User(format!(
                "{what} has snapshot format version {version}; this Rask reads version {SNAPSHOT_VERSION}"
            )));
        }
        let meta_len = r.u64()? as usize;
        let meta = r.take(meta_len)?.to_vec();
        let n = r.u32()?;
        let mut entries = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let name_len = r.u32()? as usize;
            let name = String::from_utf8(r.take(name_len)?.to_vec()).map_err(|_| r.corrupt())?;
            let k = r.u32()?;
            let key_columns = if k == u32::MAX {
                None
            } else {
                Some((0..k).map(|_| r.u32().map(|c| c as usize)).collect::<Result<Vec<_>>>()?)
            };
            let bad = |e: &dyn std::fmt::Display| StateError::User(format!("{what}: entry '{name}': {e}"));
            let schema_len = r.u64()? as usize;
            let schema = StreamReader::try_new(r.take(schema_len)?, None).map_err(|e| bad(&e))?.schema();
            let items = r.u32()?;
            let mut batches = Vec::new();
            for _ in 0..items {
                let tag = r.take(1)?[0];
                let data: Vec<u8> = match tag {
                    0 => {
                        let len = r.u64()? as usize;
                        r.take(len)?.to_vec()
                    }
                    1 => {
                        let len = r.u32()? as usize;
                        let path = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| r.corrupt())?;
                        load(&path)?
                    }
                    _ => return Err(r.corrupt()),
                };
                let reader = StreamReader::try_new(data.as_slice(), None).map_err(|e| bad(&e))?;
                for b in reader {
                    batches.push(b.map_err(|e| bad(&e))?);
                }
            }
            entries.push(StateEntry { name, schema, key_columns, batches, batch_ids: Vec::new(), deferred: Vec::new() });
        }
        Ok(OperatorSnapshot { meta, entries })
    }
}

enum Item<'a> {
    Ready(&'a RecordBatch),
    Deferred(&'a BuildBatch),
}

impl Item<'_> {
    fn get(&self) -> Result<RecordBatch> {
        match self {
            Item::Ready(b) => Ok((*b).clone()),
            Item::Deferred(build) => build(),
        }
    }
}

/// An Arrow IPC stream of `batches` (just the schema when empty).
pub fn ipc_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut ipc = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut ipc, schema).map_err(internal)?;
        for b in batches {
            w.write(b).map_err(internal)?;
        }
        w.finish().map_err(internal)?;
    }
    Ok(ipc)
}

fn internal(e: arrow::error::ArrowError) -> StateError {
    StateError::Internal(format!("encoding a state snapshot: {e}"))
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    what: &'a str,
}

impl<'a> Cursor<'a> {
    fn corrupt(&self) -> StateError {
        StateError::User(format!("{} is truncated or corrupt (at byte {})", self.what, self.at))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len()).ok_or_else(|| self.corrupt())?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, false)]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![Some("a"), None])), Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .expect("batch");
        let s = OperatorSnapshot {
            meta: b"{\"n\":3}".to_vec(),
            entries: vec![
                StateEntry {
                    name: "rows".into(),
                    schema: schema.clone(),
                    key_columns: Some(vec![0]),
                    batches: vec![b.clone(), b.clone(), b.clone()],
                    batch_ids: vec![None, Some(7), None],
                    deferred: vec![
                        Deferred { id: None, rows: 2, build: Arc::new({ let b = b.clone(); move || Ok(b.clone()) }) },
                        Deferred { id: Some(8), rows: 2, build: Arc::new(move || Ok(b.clone())) },
                    ],
                },
                StateEntry::new("empty", schema, None, vec![]),
            ],
        };
        // The batch with a stable id goes to a file of its own.
        let mut files: std::collections::HashMap<String, Vec<u8>> = Default::default();
        let bytes = s
            .encode_with(&mut |entry, id, build| {
                let path = format!("shared/{entry}-{id}");
                let b = build()?;
                files.insert(path.clone(), ipc_stream(&b.schema(), std::slice::from_ref(&b))?);
                Ok(Some(path))
            })
            .expect("encode");
        assert_eq!(files.len(), 2);
        let d = OperatorSnapshot::decode(&bytes, "part", &mut |p| files.get(p).cloned().ok_or_else(|| StateError::User(p.into()))).expect("decode");
        assert_eq!(d.meta, s.meta);
        assert_eq!(d.entries.len(), 2);
        assert_eq!(d.entries[0].key_columns, Some(vec![0]));
        assert_eq!(s.entries[0].num_rows(), 10);
        assert_eq!(d.entries[0].num_rows(), 10);
        assert_eq!(d.entries[0].batches.len(), 5);
        let none = &mut |p: &str| -> Result<Vec<u8>> { Err(StateError::User(p.into())) };
        assert_eq!(d.entries[1].key_columns, None);
        assert_eq!(d.entries[1].schema.fields().len(), 2);
        let bytes = s.encode().expect("encode inline");
        assert_eq!(OperatorSnapshot::decode(&bytes, "part", none).expect("inline").entries[0].num_rows(), 10);
        let e = OperatorSnapshot::decode(&bytes[..bytes.len() - 3], "chk-1/n0-s0.state", none).err().expect("truncated");
        assert!(e.to_string().starts_with("chk-1/n0-s0.state"), "{e}");
        let mut v9 = bytes.clone();
        v9[8] = 9;
        let e = OperatorSnapshot::decode(&v9, "part", none).err().expect("version");
        assert!(e.to_string().contains("format version 9"), "{e}");
    }
}
