//! Sink operator: enforces NOT NULL sink columns (Flink's `table.exec.sink.not-null-enforcer`
//! = ERROR) and hands batches to the connector's writer, flushing it at checkpoints and at the
//! end of input.

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use rask_types::StreamBatch;

use crate::connector::SinkWriter;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct Sink {
    table: String,
    not_null: Vec<(usize, String)>,
    writer: Box<dyn SinkWriter>,
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
        Sink { table, not_null, writer }
    }
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

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }

    fn on_checkpoint(&mut self, _checkpoint: u64, _out: &mut Emitter) -> Result<()> {
        self.writer.flush()
    }

    fn on_close(&mut self, _out: &mut Emitter) -> Result<()> {
        self.writer.flush()
    }
}
