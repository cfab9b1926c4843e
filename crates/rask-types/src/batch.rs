//! The unit of data between operators: an Arrow `RecordBatch` plus, for changelog streams,
//! one row kind per row (+I, -U, +U, -D as in Flink). Append-only streams carry no kinds.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, UInt8Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::array::{BooleanArray, UInt32Array};
use arrow::error::ArrowError;

/// Flink's `RowKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RowKind {
    Insert = 0,
    UpdateBefore = 1,
    UpdateAfter = 2,
    Delete = 3,
}

impl RowKind {
    /// Flink's short string: `+I`, `-U`, `+U`, `-D`.
    pub fn short(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }
    pub fn from_u8(v: u8) -> Option<RowKind> {
        Some(match v {
            0 => RowKind::Insert,
            1 => RowKind::UpdateBefore,
            2 => RowKind::UpdateAfter,
            3 => RowKind::Delete,
            _ => return None,
        })
    }
    /// Whether the row adds to (true) or retracts from (false) the result.
    pub fn is_accumulate(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// Which source split (a Kafka partition, …) a batch comes from, with every split its reader
/// owns: the watermark assigner right after the source keeps one watermark per split and
/// combines them (Flink's per-split watermarks). Lost on exchanges, where it no longer matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTag {
    pub split: u32,
    pub splits: Arc<[u32]>,
}

/// A batch of rows with optional row kinds (`None` = every row is an insert).
#[derive(Debug, Clone)]
pub struct StreamBatch {
    pub data: RecordBatch,
    pub kinds: Option<Arc<UInt8Array>>,
    pub split: Option<SplitTag>,
}

impl StreamBatch {
    /// An append-only batch.
    pub fn inserts(data: RecordBatch) -> Self {
        StreamBatch { data, kinds: None, split: None }
    }

    pub fn with_kinds(data: RecordBatch, kinds: UInt8Array) -> Self {
        debug_assert_eq!(data.num_rows(), kinds.len());
        StreamBatch { data, kinds: Some(Arc::new(kinds)), split: None }
    }

    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.data.num_rows() == 0
    }

    /// Row kind of row `i`.
    pub fn kind(&self, i: usize) -> RowKind {
        match &self.kinds {
            None => RowKind::Insert,
            Some(k) => RowKind::from_u8(k.value(i)).unwrap_or(RowKind::Insert),
        }
    }

    /// Keep rows where `mask` is true (nulls drop the row, as SQL WHERE does).
    pub fn filter(&self, mask: &BooleanArray) -> Result<StreamBatch, ArrowError> {
        let data = filter_record_batch(&self.data, mask)?;
        let kinds = match &self.kinds {
            None => None,
            Some(k) => {
                let f = arrow::compute::filter(k.as_ref(), mask)?;
                let f = f.as_any().downcast_ref::<UInt8Array>().cloned();
                f.map(Arc::new)
            }
        };
        Ok(StreamBatch { data, kinds, split: self.split.clone() })
    }

    /// Gather rows by index.
    pub fn take(&self, indices: &UInt32Array) -> Result<StreamBatch, ArrowError> {
        let data = take_record_batch(&self.data, indices)?;
        let kinds = match &self.kinds {
            None => None,
            Some(k) => {
                let t = arrow::compute::take(k.as_ref(), indices, None)?;
                t.as_any().downcast_ref::<UInt8Array>().cloned().map(Arc::new)
            }
        };
        Ok(StreamBatch { data, kinds, split: self.split.clone() })
    }

    /// Rows `offset..offset + len` (zero-copy).
    pub fn slice(&self, offset: usize, len: usize) -> StreamBatch {
        StreamBatch { data: self.data.slice(offset, len), kinds: self.kinds.as_ref().map(|k| Arc::new(k.slice(offset, len))), split: self.split.clone() }
    }

    /// Replace the columns, keeping the row kinds (projection).
    pub fn with_data(&self, data: RecordBatch) -> StreamBatch {
        StreamBatch { data, kinds: self.kinds.clone(), split: self.split.clone() }
    }
}
