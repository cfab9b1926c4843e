//! Window Top-N and window deduplication: rows are buffered per window (by `window_end`) until
//! the watermark passes the window's end; then each partition's rows are sorted and the first
//! N are emitted with their row number, once (append-only). Ties on the sort key keep arrival
//! order (the deduplication that keeps the last row prefers the later arrival). Rows of a
//! window that has already fired are late: dropped and counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array, UInt64Array, UInt64Builder};
use arrow::compute::{concat_batches, lexsort_to_indices, take, SortColumn, SortOptions};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rask_sql::window_rank::WindowRank as Plan;
use rask_types::{StreamBatch, WATERMARK_MIN};

use rask_state::OperatorSnapshot;

use super::buffer::{replay_restore, replay_snapshot, require_append_only, restored_watermark, split_by_window};
use super::window_agg::internal;
use crate::error::Result;
use crate::operator::{Emitter, Operator};

pub struct WindowRank {
    plan: Plan,
    schema: SchemaRef,
    /// Buffered rows per window end, with their arrival sequence numbers.
    windows: BTreeMap<i64, Vec<(RecordBatch, u64)>>,
    arrivals: u64,
    watermark: i64,
    late_dropped: Arc<AtomicU64>,
}

impl WindowRank {
    pub fn new(plan: Plan, schema: SchemaRef, late_dropped: Arc<AtomicU64>) -> Self {
        WindowRank { plan, schema, windows: BTreeMap::new(), arrivals: 0, watermark: WATERMARK_MIN, late_dropped }
    }

    fn fire(&mut self, rows: Vec<(RecordBatch, u64)>, out: &mut Emitter) -> Result<()> {
        let Some(first) = rows.first() else { return Ok(()) };
        let input_schema = first.0.schema();
        let batches: Vec<RecordBatch> = rows.iter().map(|(b, _)| b.clone()).collect();
        let data = concat_batches(&input_schema, &batches).map_err(internal)?;
        // Arrival order: each batch's first sequence number plus the row offset.
        let mut seq = Vec::with_capacity(data.num_rows());
        for (b, s) in &rows {
            seq.extend((0..b.num_rows() as u64).map(|i| s + i));
        }
        let seq: ArrayRef = Arc::new(UInt64Array::from(seq));
        let mut sort = Vec::new();
        for p in &self.plan.partition {
            sort.push(SortColumn { values: data.column(*p).clone(), options: Some(SortOptions { descending: false, nulls_first: true }) });
        }
        for (c, desc, nulls_first) in &self.plan.order {
            sort.push(SortColumn { values: data.column(*c).clone(), options: Some(SortOptions { descending: *desc, nulls_first: *nulls_first }) });
        }
        sort.push(SortColumn { values: seq, options: Some(SortOptions { descending: self.plan.later_first_on_ties, nulls_first: false }) });
        let order = lexsort_to_indices(&sort, None).map_err(internal)?;
        // Walk partitions in sorted order, keeping the first `limit` rows of each.
        let part_cols: Vec<ArrayRef> = self.plan.partition.iter().map(|p| data.column(*p).clone()).collect();
        let fields = part_cols.iter().map(|c| SortField::new(c.data_type().clone())).collect();
        let conv = RowConverter::new(fields).map_err(internal)?;
        let keys = conv.convert_columns(&part_cols).map_err(internal)?;
        let mut keep = Vec::new();
        let mut numbers = UInt64Builder::new();
        let mut prev: Option<usize> = None;
        let mut n = 0u64;
        for &i in order.values() {
            let i = i as usize;
            if prev.is_none_or(|p| keys.row(p) != keys.row(i)) {
                n = 0;
            }
            prev = Some(i);
            n += 1;
            if n as usize <= self.plan.limit {
                keep.push(i as u32);
                numbers.append_value(n);
            }
        }
        let idx = UInt32Array::from(keep);
        let mut cols: Vec<ArrayRef> = data.columns().iter().map(|c| take(c, &idx, None)).collect::<std::result::Result<_, _>>().map_err(internal)?;
        cols.push(Arc::new(numbers.finish()));
        let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        out.emit(StreamBatch::inserts(rb));
        Ok(())
    }
}

impl Operator for WindowRank {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, _out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "window Top-N")?;
        let (parts, late) = split_by_window(&batch.data, self.plan.end_col, self.watermark)?;
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        for (e, part) in parts {
            let seq = self.arrivals;
            self.arrivals += part.num_rows() as u64;
            self.windows.entry(e).or_default().push((part, seq));
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let mut rows: Vec<&(RecordBatch, u64)> = self.windows.values().flatten().collect();
        rows.sort_by_key(|(_, seq)| *seq);
        // A part's arrival number is unique and it never changes: its stable id.
        Ok(Some(replay_snapshot(self.watermark, vec![(0, rows.into_iter().map(|(b, seq)| (b.clone(), Some(*seq))).collect())])))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        self.watermark = restored_watermark(self.watermark, &parts);
        replay_restore(parts, |i, b, out| self.on_batch(i, StreamBatch::inserts(b), out))
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        // Window bounds are on the window's clock (the session zone for TIMESTAMP_LTZ).
        let local = self.plan.clock.progress(watermark);
        self.watermark = local;
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() - 1 > local {
                break;
            }
            let rows = entry.remove();
            self.fire(rows, out)?;
        }
        out.watermark(watermark);
        Ok(())
    }
}
