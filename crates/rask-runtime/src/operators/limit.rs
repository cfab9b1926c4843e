//! Streaming `LIMIT n OFFSET k`: passes on rows `k .. k + n` in arrival order and drops the rest
//! (Flink's streaming limit without ORDER BY). The planner puts it behind a single exchange, so
//! one instance sees every row.

use arrow::array::UInt32Array;
use rask_types::StreamBatch;

use rask_state::OperatorSnapshot;

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

pub struct Limit {
    skip: usize,
    fetch: Option<usize>,
    seen: usize,
}

impl Limit {
    pub fn new(skip: usize, fetch: Option<usize>) -> Self {
        Limit { skip, fetch, seen: 0 }
    }
}

impl Operator for Limit {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let n = batch.num_rows();
        let start = self.skip.saturating_sub(self.seen).min(n);
        let end = match self.fetch {
            Some(f) => (self.skip + f).saturating_sub(self.seen).min(n),
            None => n,
        };
        self.seen += n;
        if start >= end {
            return Ok(());
        }
        if start == 0 && end == n {
            out.emit(batch);
        } else {
            let idx: UInt32Array = (start as u32..end as u32).collect();
            out.emit(batch.take(&idx)?);
        }
        Ok(())
    }

    /// The state to keep across a restore is the number of rows seen.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        Ok(Some(OperatorSnapshot { meta: (self.seen as u64).to_le_bytes().to_vec(), entries: Vec::new() }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        for p in parts {
            let b = <[u8; 8]>::try_from(p.meta.as_slice()).map_err(|_| RuntimeError::User("corrupt LIMIT state in the checkpoint".into()))?;
            self.seen += u64::from_le_bytes(b) as usize;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(v: Vec<i32>) -> StreamBatch {
        let s = Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)]));
        StreamBatch::inserts(RecordBatch::try_new(s, vec![Arc::new(Int32Array::from(v))]).unwrap())
    }

    #[test]
    fn offset_and_fetch_span_batches() {
        let mut l = Limit::new(2, Some(3));
        let mut got = Vec::new();
        for b in [vec![1], vec![2, 3], vec![4, 5, 6], vec![7]] {
            let mut out = Emitter::default();
            l.on_batch(0, batch(b), &mut out).unwrap();
            for o in out.batches {
                let a = o.data.column(0).as_any().downcast_ref::<Int32Array>().unwrap().clone();
                got.extend(a.values().iter().copied());
            }
        }
        assert_eq!(got, vec![3, 4, 5]);
    }
}
