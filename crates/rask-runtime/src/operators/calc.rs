//! Calc: a fused chain of filters and projections with compiled DataFusion physical
//! expressions, evaluated batch at a time (Flink's `StreamExecCalc`).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::DataType;
use rask_sql::plan::CalcStep;
use rask_types::StreamBatch;

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct Calc {
    name: String,
    steps: Vec<CalcStep>,
}

impl Calc {
    pub fn new(name: String, steps: Vec<CalcStep>) -> Self {
        Calc { name, steps }
    }

    pub fn apply(&self, mut b: StreamBatch) -> Result<StreamBatch> {
        for step in &self.steps {
            if b.num_rows() == 0 {
                break;
            }
            match step {
                CalcStep::Filter(e) => {
                    let v = e.evaluate(&b.data).map_err(RuntimeError::from)?;
                    let arr = v.into_array(b.num_rows()).map_err(RuntimeError::from)?;
                    if arr.data_type() != &DataType::Boolean {
                        return Err(RuntimeError::Internal(format!("{}: filter produced {}", self.name, arr.data_type())));
                    }
                    let mask = arr.as_boolean();
                    if mask.null_count() == 0 && mask.true_count() == mask.len() {
                        continue;
                    }
                    b = b.filter(mask)?;
                }
                CalcStep::Project(exprs, schema) => {
                    let n = b.num_rows();
                    let mut cols: Vec<ArrayRef> = Vec::with_capacity(exprs.len());
                    for (e, f) in exprs.iter().zip(schema.fields()) {
                        let v = e.evaluate(&b.data).map_err(RuntimeError::from)?;
                        let mut a = v.into_array(n).map_err(RuntimeError::from)?;
                        if a.data_type() != f.data_type() {
                            // Functions may return an equivalent physical type (e.g. Utf8View).
                            a = arrow::compute::cast(&a, f.data_type())
                                .map_err(|e| RuntimeError::Internal(format!("{}: column '{}': {e}", self.name, f.name())))?;
                        }
                        cols.push(a);
                    }
                    let rb = RecordBatch::try_new_with_options(schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(n)))
                        .map_err(|e| RuntimeError::Internal(format!("{}: {e}", self.name)))?;
                    b = b.with_data(rb);
                }
            }
        }
        Ok(b)
    }
}

impl Operator for Calc {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        out.emit(self.apply(batch)?);
        Ok(())
    }
}
