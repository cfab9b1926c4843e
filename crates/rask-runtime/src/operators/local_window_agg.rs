//! Local phase of a two-phase window aggregation (Flink's local slicing window aggregate):
//! before the keyed exchange, rows are pre-aggregated per (key, slice) into DataFusion
//! accumulators; their partial states are shipped to the global phase when the watermark passes
//! the end of a buffered slice (so they arrive before the windows fire), when the buffer holds
//! many groups, at a checkpoint and at the end of input. The exchange then carries one row per
//! key and slice instead of every input row.

use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, TimestampMillisecondArray};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::row::{RowConverter, SortField};
use datafusion_expr::GroupsAccumulator;
use rask_sql::window_agg::WindowAggregate as Plan;
use rask_types::StreamBatch;

use super::buffer::require_append_only;
use super::window_agg::{aggregate_args, internal, new_accumulator, partial_states};
use crate::error::Result;
use crate::operator::{Emitter, Operator};

/// Flush when this many (key, slice) groups are buffered.
const MAX_GROUPS: usize = 65_536;

pub struct LocalWindowAggregate {
    plan: Plan,
    schema: SchemaRef,
    converter: RowConverter,
    index: HashMap<Box<[u8]>, u32>,
    /// Group → (slice end, key in row format).
    groups: Vec<(i64, Box<[u8]>)>,
    accs: Option<Vec<Box<dyn GroupsAccumulator>>>,
    min_end: i64,
    dropped: Arc<AtomicU64>,
    /// Mini-batch bounds (`table.exec.mini-batch.allow-latency`, `.size`) when enabled.
    mini_batch: Option<(std::time::Duration, usize)>,
    buffered_rows: usize,
    first_buffered: Option<std::time::Instant>,
}

impl LocalWindowAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, dropped: Arc<AtomicU64>, mini_batch: Option<(std::time::Duration, usize)>) -> Result<Self> {
        let converter = RowConverter::new((0..plan.keys).map(|i| SortField::new(input.field(i).data_type().clone())).collect()).map_err(internal)?;
        Ok(LocalWindowAggregate { plan, schema, converter, index: HashMap::new(), groups: Vec::new(), accs: None, min_end: i64::MAX, dropped, mini_batch, buffered_rows: 0, first_buffered: None })
    }

    fn flush(&mut self, out: &mut Emitter) -> Result<()> {
        let Some(mut accs) = self.accs.take() else { return Ok(()) };
        let groups = std::mem::take(&mut self.groups);
        self.index.clear();
        self.buffered_rows = 0;
        self.first_buffered = None;
        self.min_end = i64::MAX;
        if groups.is_empty() {
            return Ok(());
        }
        let mut cols: Vec<ArrayRef> = if self.plan.keys == 0 {
            Vec::new()
        } else {
            let parser = self.converter.parser();
            self.converter.convert_rows(groups.iter().map(|(_, k)| parser.parse(k))).map_err(internal)?
        };
        cols.push(Arc::new(TimestampMillisecondArray::from(groups.iter().map(|(e, _)| *e).collect::<Vec<_>>())));
        out.emit(StreamBatch::inserts(partial_states(&self.schema, cols, &mut accs)?));
        Ok(())
    }
}

impl Operator for LocalWindowAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        require_append_only(&batch, "window aggregation")?;
        let data = &batch.data;
        let keys = self.plan.keys;
        let rows = self.converter.convert_columns(&data.columns()[..keys]).map_err(internal)?;
        let ends = data.column(keys).as_primitive::<TimestampMillisecondType>();
        if self.accs.is_none() {
            self.accs = Some(self.plan.aggs.iter().map(new_accumulator).collect::<Result<Vec<_>>>()?);
        }
        let mut group_idx = Vec::with_capacity(data.num_rows());
        let mut valid = Vec::with_capacity(data.num_rows());
        let mut key = Vec::new();
        for i in 0..data.num_rows() {
            if ends.is_null(i) {
                valid.push(false);
                group_idx.push(0);
                continue;
            }
            let end = ends.value(i);
            key.clear();
            key.extend_from_slice(&end.to_be_bytes());
            if keys > 0 {
                key.extend_from_slice(rows.row(i).as_ref());
            }
            let g = match self.index.get(key.as_slice()) {
                Some(g) => *g,
                None => {
                    let g = self.groups.len() as u32;
                    self.index.insert(key.as_slice().into(), g);
                    self.groups.push((end, if keys > 0 { rows.row(i).as_ref().into() } else { Box::from(&[][..]) }));
                    self.min_end = self.min_end.min(end);
                    g
                }
            };
            valid.push(true);
            group_idx.push(g as usize);
        }
        let skipped = valid.iter().filter(|v| !**v).count();
        if skipped > 0 {
            self.dropped.fetch_add(skipped as u64, Ordering::Relaxed);
        }
        let total = self.groups.len();
        let Some(accs) = self.accs.as_mut() else { return Err(internal("no accumulators")) };
        for (i, agg) in self.plan.aggs.iter().enumerate() {
            let args = aggregate_args(agg, data)?;
            // Rows without a slice are masked out, like rows failing FILTER (WHERE …).
            let mask: Option<BooleanArray> = match (self.plan.filters[i], skipped > 0) {
                (None, false) => None,
                (f, _) => {
                    let base = f.map(|c| data.column(c).as_boolean().clone());
                    Some(
                        (0..data.num_rows())
                            .map(|r| Some(valid[r] && base.as_ref().is_none_or(|b| b.is_valid(r) && b.value(r))))
                            .collect(),
                    )
                }
            };
            accs[i].update_batch(&args, &group_idx, mask.as_ref(), total).map_err(internal)?;
        }
        self.buffered_rows += data.num_rows();
        let full = self.mini_batch.is_some_and(|(_, size)| self.buffered_rows >= size);
        if self.groups.len() >= MAX_GROUPS || full {
            self.flush(out)?;
        } else if let Some((latency, _)) = self.mini_batch
            && self.first_buffered.is_none()
        {
            self.first_buffered = Some(std::time::Instant::now());
            out.wake_after(latency);
        }
        Ok(())
    }

    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if let (Some((latency, _)), Some(first)) = (self.mini_batch, self.first_buffered)
            && first.elapsed() >= latency
        {
            self.flush(out)?;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        if self.min_end != i64::MAX && self.min_end - 1 <= self.plan.spec.clock.progress(watermark) {
            self.flush(out)?;
        }
        out.watermark(watermark);
        Ok(())
    }

    fn on_checkpoint(&mut self, _checkpoint: u64, out: &mut Emitter) -> Result<()> {
        self.flush(out)
    }

    fn on_close(&mut self, out: &mut Emitter) -> Result<()> {
        self.flush(out)
    }
}
