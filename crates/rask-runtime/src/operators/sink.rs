//! Sink operator: enforces NOT NULL sink columns (Flink's `table.exec.sink.not-null-enforcer`
//! = ERROR) and hands batches to the connector's writer. At a checkpoint barrier it asks the
//! writer to pre-commit and keeps the committables, per checkpoint, in its state; when the
//! checkpoint completes it commits them (two-phase commit, as Flink's sink committer). A
//! restored sink commits what its checkpoint had pre-committed (that checkpoint is complete,
//! the commit may not have happened before the failure; commits are idempotent).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rask_state::{OperatorSnapshot, StateEntry, FINAL_CHECKPOINT};
use rask_types::StreamBatch;

use crate::connector::SinkWriter;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct Sink {
    table: String,
    not_null: Vec<(usize, String)>,
    writer: Box<dyn SinkWriter>,
    /// Pre-committed, not yet committed: (checkpoint, committable).
    pending: Vec<(u64, Vec<u8>)>,
}

impl Sink {
    pub fn new(table: String, sink_schema: &SchemaRef, writer: Box<dyn SinkWriter>) -> Self {
        let not_null = sink_schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_nullable())
            .map(|(i, f)| (i, f.name().clone()))
            .collect();
        Sink { table, not_null, writer, pending: Vec::new() }
    }

    fn prepare(&mut self, checkpoint: u64) -> Result<()> {
        let c = self.writer.prepare_commit(checkpoint).map_err(|e| e.context(format!("sink '{}'", self.table)))?;
        self.pending.extend(c.into_iter().map(|x| (checkpoint, x)));
        Ok(())
    }
}

/// Pending committables as an unkeyed state entry (checkpoint, committable): after a rescale
/// each old instance's list goes to exactly one new instance, which commits it.
fn pending_entry(p: &[(u64, Vec<u8>)]) -> Result<StateEntry> {
    let schema = Arc::new(Schema::new(vec![Field::new("checkpoint", DataType::UInt64, false), Field::new("committable", DataType::Binary, false)]));
    let c: ArrayRef = Arc::new(UInt64Array::from_iter_values(p.iter().map(|(c, _)| *c)));
    let b: ArrayRef = Arc::new(BinaryArray::from_iter_values(p.iter().map(|(_, b)| b.as_slice())));
    let batch = RecordBatch::try_new(schema.clone(), vec![c, b])?;
    Ok(StateEntry::new("committables", schema, None, vec![batch]))
}

fn committables(e: &StateEntry) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for b in &e.batches {
        let col = b
            .column_by_name("committable")
            .and_then(|c| c.as_binary_opt::<i32>())
            .ok_or_else(|| RuntimeError::User("corrupt sink state in the checkpoint".into()))?;
        out.extend(col.iter().flatten().map(|v| v.to_vec()));
    }
    Ok(out)
}

impl Operator for Sink {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, _out: &mut Emitter) -> Result<()> {
        for (i, name) in &self.not_null {
            if batch.data.column(*i).null_count() > 0 {
                return Err(RuntimeError::User(format!(
                    "column '{name}' is NOT NULL, however, a null value is being written into it (sink table '{}'); \
                     filter the nulls or use COALESCE",
                    self.table
                )));
            }
        }
        self.writer.write(&batch).map_err(|e| e.context(format!("sink '{}'", self.table)))
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Emitter) -> Result<()> {
        self.writer.on_watermark(watermark);
        Ok(())
    }

    fn on_open(&mut self, out: &mut Emitter) -> Result<()> {
        if let Some(d) = self.writer.flush_interval() {
            out.wake_after(d);
        }
        Ok(())
    }

    /// A buffering writer's flush interval passed.
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if let Some(d) = self.writer.flush_interval() {
            self.writer.on_timer().map_err(|e| e.context(format!("sink '{}'", self.table)))?;
            out.wake_after(d);
        }
        Ok(())
    }

    fn on_checkpoint(&mut self, checkpoint: u64, _out: &mut Emitter) -> Result<()> {
        self.prepare(checkpoint)
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        Ok(Some(OperatorSnapshot { meta: Vec::new(), entries: vec![pending_entry(&self.pending)?] }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        let mut restored = Vec::new();
        for p in parts {
            for e in p.entries.iter().filter(|e| e.name == "committables") {
                restored.extend(committables(e)?);
            }
        }
        if !restored.is_empty() {
            self.writer.commit(&restored).map_err(|e| e.context(format!("sink '{}': committing restored data", self.table)))?;
        }
        Ok(())
    }

    fn on_checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        let n = self.pending.iter().take_while(|(c, _)| *c <= checkpoint).count();
        if n == 0 {
            return Ok(());
        }
        let done: Vec<Vec<u8>> = self.pending.drain(..n).map(|(_, b)| b).collect();
        self.writer.commit(&done).map_err(|e| e.context(format!("sink '{}'", self.table)))
    }

    fn commits_on_completion(&self) -> bool {
        self.writer.exactly_once()
    }

    fn on_close(&mut self, _out: &mut Emitter) -> Result<()> {
        self.prepare(FINAL_CHECKPOINT)
    }
}
