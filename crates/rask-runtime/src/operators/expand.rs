//! Expand: every input row once per projection, the copies of a row next to each other in
//! projection order (Flink's `StreamExecExpand`), keeping the row's kind. Used by distinct
//! aggregates over several columns when they are split (see `rask_sql::split_distinct`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use rask_types::StreamBatch;

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct Expand {
    projections: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    schema: SchemaRef,
}

impl Expand {
    pub fn new(projections: Vec<Vec<Arc<dyn PhysicalExpr>>>, schema: SchemaRef) -> Self {
        Expand { projections, schema }
    }
}

impl Operator for Expand {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let (rows, copies) = (batch.num_rows(), self.projections.len());
        // Each projection's columns for the whole batch, then interleaved row by row.
        let mut evaluated: Vec<Vec<ArrayRef>> = Vec::with_capacity(copies);
        for p in &self.projections {
            let cols = p
                .iter()
                .map(|e| e.evaluate(&batch.data).and_then(|v| v.into_array(rows)))
                .collect::<datafusion_common::Result<Vec<_>>>()
                .map_err(RuntimeError::from)?;
            evaluated.push(cols);
        }
        let order: Vec<(usize, usize)> = (0..rows).flat_map(|r| (0..copies).map(move |c| (c, r))).collect();
        let mut cols = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            let parts: Vec<ArrayRef> = evaluated
                .iter()
                .map(|p| if p[i].data_type() == field.data_type() { Ok(p[i].clone()) } else { arrow::compute::cast(&p[i], field.data_type()) })
                .collect::<std::result::Result<_, _>>()?;
            let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            cols.push(arrow::compute::interleave(&refs, &order)?);
        }
        let data = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| RuntimeError::Internal(format!("expand: {e}")))?;
        // The row kinds: each input row's, repeated per copy.
        let repeat: UInt32Array = (0..rows as u32).flat_map(|r| std::iter::repeat_n(r, copies)).collect();
        out.emit(batch.take(&repeat)?.with_data(data));
        Ok(())
    }
}
