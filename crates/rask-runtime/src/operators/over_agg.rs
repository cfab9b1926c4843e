//! Over aggregation on event time (Flink's row-time OVER functions): rows wait per partition
//! key until the watermark passes them, then are processed in time order (ties in arrival
//! order); each is emitted once with the aggregates over its frame — `ROWS BETWEEN n PRECEDING`
//! (the row and the n before it), `RANGE BETWEEN INTERVAL … PRECEDING` (rows within the interval
//! before it, and all rows with its timestamp), or UNBOUNDED PRECEDING (running aggregates).
//! A row is late, dropped and counted, if its time is not after the watermark (unbounded frames)
//! or after the last time processed for its key (bounded frames), as in Flink.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use rask_sql::over_agg::{Frame, OverAggregate as Plan};
use rask_types::{StreamBatch, WATERMARK_MIN};

use super::window_agg::internal;
use super::window_tvf::to_millis;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

/// One buffered row: where it is, and its aggregate arguments (one-row arrays per aggregate).
struct Row {
    at: (u32, u32),
    args: Vec<Vec<ArrayRef>>,
}

#[derive(Default)]
struct KeyState {
    pending: BTreeMap<(i64, u64), Row>,
    /// Processed rows still inside some future frame: (time, arguments).
    history: VecDeque<(i64, Vec<Vec<ArrayRef>>)>,
    /// Running accumulators (UNBOUNDED PRECEDING frames).
    running: Option<Vec<Box<dyn Accumulator>>>,
    last_processed: i64,
}

pub struct OverAggregate {
    plan: Plan,
    schema: SchemaRef,
    input: SchemaRef,
    converter: RowConverter,
    keys: HashMap<Box<[u8]>, KeyState>,
    batches: HashMap<u32, (RecordBatch, usize)>,
    next_batch: u32,
    seq: u64,
    watermark: i64,
    late_dropped: Arc<AtomicU64>,
}

impl OverAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, late_dropped: Arc<AtomicU64>) -> Result<Self> {
        let converter = RowConverter::new(plan.partition.iter().map(|p| SortField::new(input.field(*p).data_type().clone())).collect()).map_err(internal)?;
        Ok(OverAggregate {
            plan,
            schema,
            input,
            converter,
            keys: HashMap::new(),
            batches: HashMap::new(),
            next_batch: 0,
            seq: 0,
            watermark: WATERMARK_MIN,
            late_dropped,
        })
    }

    fn accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.plan.aggs.iter().map(|a| a.create_accumulator().map_err(internal)).collect()
    }
}

fn evaluate(accs: &mut [Box<dyn Accumulator>]) -> Result<Vec<ScalarValue>> {
    accs.iter_mut().map(|a| a.evaluate().map_err(internal)).collect()
}

impl Operator for OverAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, _out: &mut Emitter) -> Result<()> {
        if batch.kinds.is_some() {
            return Err(RuntimeError::Internal("over aggregation received an updating (changelog) input".into()));
        }
        let data = batch.data;
        let cols: Vec<ArrayRef> = self.plan.partition.iter().map(|p| data.column(*p).clone()).collect();
        let rows = self.converter.convert_columns(&cols).map_err(internal)?;
        let times = to_millis(data.column(self.plan.time_col))?;
        let args: Vec<Vec<ArrayRef>> = self
            .plan
            .aggs
            .iter()
            .map(|a| a.expressions().iter().map(|e| e.evaluate(&data).and_then(|v| v.into_array(data.num_rows()))).collect::<datafusion_common::Result<Vec<_>>>())
            .collect::<datafusion_common::Result<_>>()
            .map_err(internal)?;
        let bounded = matches!(self.plan.frame, Frame::Rows(Some(_)) | Frame::Range(Some(_)));
        let bid = self.next_batch;
        self.next_batch = bid.wrapping_add(1);
        let mut kept = 0;
        let mut late = 0u64;
        for (i, t) in times.iter().enumerate() {
            let Some(t) = *t else {
                late += 1;
                continue;
            };
            let key: &[u8] = if self.plan.partition.is_empty() { &[] } else { rows.row(i).data() };
            let state = self.keys.entry(key.into()).or_insert_with(|| KeyState { last_processed: WATERMARK_MIN, ..Default::default() });
            let behind = if bounded { t <= state.last_processed } else { t <= self.watermark };
            if behind {
                late += 1;
                continue;
            }
            let row_args = args.iter().map(|a| a.iter().map(|c| c.slice(i, 1)).collect()).collect();
            state.pending.insert((t, self.seq), Row { at: (bid, i as u32), args: row_args });
            self.seq += 1;
            kept += 1;
        }
        if late > 0 {
            self.late_dropped.fetch_add(late, Ordering::Relaxed);
        }
        if kept > 0 {
            self.batches.insert(bid, (data, kept));
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        self.watermark = watermark;
        let mut refs: Vec<(u32, u32)> = Vec::new();
        let mut results: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.plan.aggs.len()];
        let frame = self.plan.frame;
        let keys: Vec<Box<[u8]>> = self.keys.iter().filter(|(_, s)| s.pending.first_key_value().is_some_and(|((t, _), _)| *t <= watermark)).map(|(k, _)| k.clone()).collect();
        for k in keys {
            let fresh = if matches!(frame, Frame::Rows(None) | Frame::Range(None)) && self.keys[&k].running.is_none() { Some(self.accumulators()?) } else { None };
            let mut frame_accs = Vec::new();
            let state = self.keys.get_mut(&k).ok_or_else(|| internal("key vanished"))?;
            if let Some(f) = fresh {
                state.running = Some(f);
            }
            // Rows due now, in time order, grouped by timestamp (RANGE frames treat equal
            // timestamps as peers).
            let mut due: Vec<(i64, Row)> = Vec::new();
            while let Some(entry) = state.pending.first_entry() {
                if entry.key().0 > watermark {
                    break;
                }
                let ((t, _), row) = entry.remove_entry();
                due.push((t, row));
            }
            let mut i = 0;
            while i < due.len() {
                let t = due[i].0;
                let peers_end = if matches!(frame, Frame::Range(_)) { due[i..].iter().position(|(u, _)| *u != t).map_or(due.len(), |p| i + p) } else { i + 1 };
                // Add this step's rows (one row, or all peers for RANGE) to the frame.
                for (u, row) in &due[i..peers_end] {
                    state.history.push_back((*u, row.args.clone()));
                    if let Some(run) = state.running.as_mut() {
                        for (a, args) in run.iter_mut().zip(&row.args) {
                            a.update_batch(args).map_err(internal)?;
                        }
                    }
                }
                // Trim the history to what this frame (and later ones) can see.
                match frame {
                    Frame::Rows(Some(n)) => {
                        while state.history.len() > n as usize + 1 {
                            state.history.pop_front();
                        }
                    }
                    Frame::Range(Some(ms)) => {
                        while state.history.front().is_some_and(|(u, _)| *u < t - ms) {
                            state.history.pop_front();
                        }
                    }
                    _ => state.history.clear(),
                }
                for (_, row) in due[i..peers_end].iter() {
                    let values = match state.running.as_mut() {
                        Some(run) => evaluate(run)?,
                        None => {
                            // ROWS frames end at the current row; RANGE frames include all peers.
                            let upto = if matches!(frame, Frame::Rows(_)) {
                                let pos = state.history.iter().rposition(|(_, a)| std::ptr::eq(a.as_ptr(), row.args.as_ptr())).unwrap_or(state.history.len() - 1);
                                pos + 1
                            } else {
                                state.history.len()
                            };
                            frame_accs.clear();
                            for a in &self.plan.aggs {
                                frame_accs.push(a.create_accumulator().map_err(internal)?);
                            }
                            for (_, args) in state.history.iter().take(upto) {
                                for (acc, a) in frame_accs.iter_mut().zip(args) {
                                    acc.update_batch(a).map_err(internal)?;
                                }
                            }
                            evaluate(&mut frame_accs)?
                        }
                    };
                    for (r, v) in results.iter_mut().zip(values) {
                        r.push(v);
                    }
                    refs.push(row.at);
                }
                state.last_processed = t;
                i = peers_end;
            }
            if state.pending.is_empty() && matches!(frame, Frame::Rows(Some(_)) | Frame::Range(Some(_))) && state.history.is_empty() {
                self.keys.remove(&k);
            }
        }
        if !refs.is_empty() {
            let mut slot: HashMap<u32, usize> = HashMap::new();
            let mut batches: Vec<&RecordBatch> = Vec::new();
            let idx: Vec<(usize, usize)> = refs
                .iter()
                .map(|(b, r)| {
                    let k = *slot.entry(*b).or_insert_with(|| {
                        batches.push(&self.batches[b].0);
                        batches.len() - 1
                    });
                    (k, *r as usize)
                })
                .collect();
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
            for c in 0..self.input.fields().len() {
                let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
                cols.push(interleave(&arrays, &idx).map_err(internal)?);
            }
            for (i, vals) in results.into_iter().enumerate() {
                let a = ScalarValue::iter_to_array(vals).map_err(internal)?;
                let want = self.schema.field(self.input.fields().len() + i).data_type();
                cols.push(if a.data_type() == want { a } else { arrow::compute::cast(&a, want).map_err(internal)? });
            }
            let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
            out.emit(StreamBatch::inserts(rb));
            for (b, _) in refs {
                if let Some((_, live)) = self.batches.get_mut(&b) {
                    *live -= 1;
                    if *live == 0 {
                        self.batches.remove(&b);
                    }
                }
            }
        }
        out.watermark(watermark);
        Ok(())
    }
}
