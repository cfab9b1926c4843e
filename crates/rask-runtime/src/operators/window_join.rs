//! Window join: each side's rows are buffered per window (by `window_end`); when the watermark
//! (the minimum of both inputs) passes a window's end, the window's rows are hash-joined on the
//! keys (NULL keys never match) and the result is emitted once, with NULL-padded rows for the
//! unmatched side(s) of LEFT/RIGHT/FULL joins. Rows of a window that has already been joined
//! are late: dropped and counted.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rask_sql::window_join::{WindowJoin as Plan, WindowJoinType};
use rask_types::{StreamBatch, WATERMARK_MIN};

use rask_state::OperatorSnapshot;

use super::buffer::{replay_restore, replay_snapshot, require_append_only, restored_watermark, split_by_window};
use super::window_agg::internal;
use crate::error::Result;
use crate::operator::{Emitter, Operator};

pub struct WindowJoin {
    plan: Plan,
    schema: SchemaRef,
    /// Per window end: buffered (left, right) batches, each with its stable id.
    windows: BTreeMap<i64, [Vec<(RecordBatch, u64)>; 2]>,
    next_id: u64,
    /// Schemas of the two inputs (for windows where a side has no rows).
    inputs: [SchemaRef; 2],
    watermark: i64,
    late_dropped: Arc<AtomicU64>,
}

impl WindowJoin {
    pub fn new(plan: Plan, left: SchemaRef, right: SchemaRef, schema: SchemaRef, late_dropped: Arc<AtomicU64>) -> Self {
        WindowJoin { plan, schema, windows: BTreeMap::new(), next_id: 0, inputs: [left, right], watermark: WATERMARK_MIN, late_dropped }
    }

    fn join(&self, sides: [Vec<RecordBatch>; 2], out: &mut Emitter) -> Result<()> {
        let [l, r] = sides;
        let left = concat_batches(&self.inputs[0], &l).map_err(internal)?;
        let right = concat_batches(&self.inputs[1], &r).map_err(internal)?;
        let key_rows = |b: &RecordBatch, keys: &[usize]| -> Result<(arrow::row::Rows, Vec<bool>)> {
            let cols: Vec<ArrayRef> = keys.iter().map(|k| b.column(*k).clone()).collect();
            let conv = RowConverter::new(cols.iter().map(|c| SortField::new(c.data_type().clone())).collect()).map_err(internal)?;
            let rows = conv.convert_columns(&cols).map_err(internal)?;
            let valid = (0..b.num_rows()).map(|i| cols.iter().all(|c| c.is_valid(i))).collect();
            Ok((rows, valid))
        };
        let (lk, lvalid) = key_rows(&left, &self.plan.left_keys)?;
        let (rk, rvalid) = key_rows(&right, &self.plan.right_keys)?;
        let mut index: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for i in 0..right.num_rows() {
            if rvalid[i] {
                let k: &[u8] = if self.plan.right_keys.is_empty() { &[] } else { rk.row(i).data() };
                index.entry(k).or_default().push(i as u32);
            }
        }
        let (mut li, mut ri): (Vec<Option<u32>>, Vec<Option<u32>>) = (Vec::new(), Vec::new());
        let mut right_matched = vec![false; right.num_rows()];
        let outer_left = matches!(self.plan.join_type, WindowJoinType::Left | WindowJoinType::Full);
        let outer_right = matches!(self.plan.join_type, WindowJoinType::Right | WindowJoinType::Full);
        for i in 0..left.num_rows() {
            let k: &[u8] = if self.plan.left_keys.is_empty() { &[] } else { lk.row(i).data() };
            let matches = if lvalid[i] { index.get(k) } else { None };
            match matches {
                Some(m) => {
                    for r in m {
                        li.push(Some(i as u32));
                        ri.push(Some(*r));
                        right_matched[*r as usize] = true;
                    }
                }
                None if outer_left => {
                    li.push(Some(i as u32));
                    ri.push(None);
                }
                None => {}
            }
        }
        if outer_right {
            for (r, m) in right_matched.iter().enumerate() {
                if !m {
                    li.push(None);
                    ri.push(Some(r as u32));
                }
            }
        }
        if li.is_empty() {
            return Ok(());
        }
        let (li, ri) = (UInt32Array::from(li), UInt32Array::from(ri));
        let mut cols = Vec::with_capacity(self.schema.fields().len());
        for c in left.columns() {
            cols.push(take(c, &li, None).map_err(internal)?);
        }
        for c in right.columns() {
            cols.push(take(c, &ri, None).map_err(internal)?);
        }
        let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        out.emit(StreamBatch::inserts(rb));
        Ok(())
    }
}

impl Operator for WindowJoin {
    fn on_batch(&mut self, input: usize, batch: StreamBatch, _out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "window join")?;
        let side = input.min(1);
        let end_col = if side == 0 { self.plan.left_end } else { self.plan.right_end };
        let (parts, late) = split_by_window(&batch.data, end_col, self.watermark)?;
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        for (e, part) in parts {
            self.next_id += 1;
            self.windows.entry(e).or_default()[side].push((part, self.next_id));
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let side = |s: usize| self.windows.values().flat_map(|w| w[s].iter().map(|(b, id)| (b.clone(), Some(*id)))).collect::<Vec<_>>();
        Ok(Some(replay_snapshot(self.watermark, vec![(0, side(0)), (1, side(1))])))
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
            let sides = entry.remove().map(|side| side.into_iter().map(|(b, _)| b).collect());
            self.join(sides, out)?;
        }
        out.watermark(watermark);
        Ok(())
    }
}
