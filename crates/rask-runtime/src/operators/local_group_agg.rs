//! Local phase of a two-phase group aggregation (Flink's `MiniBatchLocalGroupAggFunction`):
//! before the keyed exchange, the rows of a mini-batch are folded per key into DataFusion
//! groups accumulators, and their partial states — one row per key — are shipped to the global
//! phase when the mini-batch is full (`table.exec.mini-batch.size` rows), when it is older than
//! `table.exec.mini-batch.allow-latency`, when it holds many keys, at a checkpoint (so the
//! operator keeps no state) and at the end of input. Over an updating input (`plan.retract`,
//! COUNT/SUM/AVG/MIN/MAX/COUNT(DISTINCT), see `rask_sql::retracting::partial_accumulator`) each key folds its
//! rows into signed sums, counts and per-value counts instead (-U/-D subtract) and its partial state carries
//! `$rows`, the rows accumulated minus retracted, so that the global phase knows when a key's
//! last row is gone (Flink's local COUNT_RETRACT/$SUM0_RETRACT).

use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_expr::GroupsAccumulator;
use hashbrown::HashMap;
use rask_sql::group_agg::GroupAggregate as Plan;
use rask_types::StreamBatch;

use super::buffer::require_append_only;
use super::window_agg::{aggregate_args, internal, new_accumulator, partial_states};
use crate::error::Result;
use crate::operator::{Emitter, Operator};

/// Flush when this many keys are buffered.
const MAX_GROUPS: usize = 65_536;

pub struct LocalGroupAggregate {
    plan: Plan,
    schema: SchemaRef,
    converter: Option<RowConverter>,
    index: HashMap<Box<[u8]>, u32>,
    /// Group → key in row format.
    groups: Vec<Box<[u8]>>,
    accs: Option<Vec<Box<dyn GroupsAccumulator>>>,
    /// `table.exec.mini-batch.allow-latency`, `.size`.
    latency: Duration,
    size: usize,
    buffered_rows: usize,
    first_buffered: Option<Instant>,
    /// Over an updating input: per group (as `groups`), retracting accumulators and the rows
    /// accumulated minus retracted.
    retracting: Vec<(Vec<Box<dyn Accumulator>>, i64)>,
}

impl LocalGroupAggregate {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, (latency, size): (Duration, usize)) -> Result<Self> {
        let converter = if plan.keys == 0 {
            None
        } else {
            Some(RowConverter::new((0..plan.keys).map(|i| SortField::new(input.field(i).data_type().clone())).collect()).map_err(internal)?)
        };
        Ok(LocalGroupAggregate {
            plan,
            schema,
            converter,
            index: HashMap::new(),
            groups: Vec::new(),
            accs: None,
            latency,
            size,
            buffered_rows: 0,
            first_buffered: None,
            retracting: Vec::new(),
        })
    }

    /// Over an updating input: fold the batch's rows per key, in arrival order.
    fn fold_retracting(&mut self, batch: &StreamBatch) -> Result<()> {
        let keys = super::group_agg::key_bytes(self.converter.as_ref(), self.plan.keys, &batch.data)?;
        let (args, filters) = super::group_agg::arguments(&self.plan, &batch.data)?;
        for (first, runs) in super::group_agg::runs_per_key(&keys, batch) {
            let g = match self.index.get(&keys[first]) {
                Some(g) => *g as usize,
                None => {
                    let accs = self.plan.aggs.iter().map(|a| rask_sql::retracting::partial_accumulator(a).map_err(internal)).collect::<Result<Vec<_>>>()?;
                    self.index.insert(keys[first].clone(), self.groups.len() as u32);
                    self.groups.push(keys[first].clone());
                    self.retracting.push((accs, 0));
                    self.groups.len() - 1
                }
            };
            let (accs, count) = &mut self.retracting[g];
            for (accumulate, rows) in runs {
                super::group_agg::fold(accs, count, &args, &filters, &rows, accumulate, false, None)?;
            }
        }
        Ok(())
    }

    /// Over an updating input: the keys, each accumulator's state and `$rows`.
    fn retracting_states(&mut self, mut cols: Vec<ArrayRef>) -> Result<RecordBatch> {
        let groups = std::mem::take(&mut self.retracting);
        let nstates = self.schema.fields().len() - cols.len() - 1;
        let mut states: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(groups.len()); nstates];
        let mut counts = Vec::with_capacity(groups.len());
        for (mut accs, count) in groups {
            let mut c = 0;
            for a in accs.iter_mut() {
                for v in a.state().map_err(internal)? {
                    states[c].push(v);
                    c += 1;
                }
            }
            counts.push(count);
        }
        for vals in states {
            cols.push(ScalarValue::iter_to_array(vals).map_err(internal)?);
        }
        cols.push(std::sync::Arc::new(Int64Array::from(counts)));
        let cols = cols
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { arrow::compute::cast(&c, f.data_type()).map_err(internal) })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)
    }

    /// `rows` more rows are folded: flush when the mini-batch is full, else make sure a timer
    /// flushes it after the allowed latency.
    fn buffered(&mut self, rows: usize, out: &mut Emitter) -> Result<()> {
        self.buffered_rows += rows;
        if self.groups.len() >= MAX_GROUPS || self.buffered_rows >= self.size {
            self.flush(out)?;
        } else if self.first_buffered.is_none() {
            self.first_buffered = Some(Instant::now());
            out.wake_after(self.latency);
        }
        Ok(())
    }

    /// Ship every buffered key's partial state and start a new mini-batch.
    fn flush(&mut self, out: &mut Emitter) -> Result<()> {
        let accs = self.accs.take();
        let groups = std::mem::take(&mut self.groups);
        self.index.clear();
        self.buffered_rows = 0;
        self.first_buffered = None;
        if groups.is_empty() {
            return Ok(());
        }
        let cols: Vec<ArrayRef> = match &self.converter {
            Some(conv) => {
                let parser = conv.parser();
                conv.convert_rows(groups.iter().map(|k| parser.parse(k))).map_err(internal)?
            }
            None => Vec::new(),
        };
        let partial = match accs {
            _ if self.plan.retract => self.retracting_states(cols)?,
            Some(mut accs) => partial_states(&self.schema, cols, &mut accs)?,
            None => return Err(internal("no accumulators")),
        };
        out.emit(StreamBatch::inserts(partial));
        Ok(())
    }
}

impl Operator for LocalGroupAggregate {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.plan.retract {
            self.fold_retracting(&batch)?;
            return self.buffered(batch.num_rows(), out);
        }
        require_append_only(&batch, "local group aggregation")?;
        let data = &batch.data;
        if self.accs.is_none() {
            self.accs = Some(self.plan.aggs.iter().map(new_accumulator).collect::<Result<Vec<_>>>()?);
        }
        let mut group_idx = Vec::with_capacity(data.num_rows());
        match &self.converter {
            Some(conv) => {
                let rows = conv.convert_columns(&data.columns()[..self.plan.keys]).map_err(internal)?;
                for i in 0..data.num_rows() {
                    let key = rows.row(i);
                    let g = match self.index.get(key.as_ref()) {
                        Some(g) => *g,
                        None => {
                            let g = self.groups.len() as u32;
                            self.index.insert(key.as_ref().into(), g);
                            self.groups.push(key.as_ref().into());
                            g
                        }
                    };
                    group_idx.push(g as usize);
                }
            }
            None => {
                if self.groups.is_empty() {
                    self.groups.push(Box::from(&[][..]));
                }
                group_idx.resize(data.num_rows(), 0);
            }
        }
        let total = self.groups.len();
        let Some(accs) = self.accs.as_mut() else { return Err(internal("no accumulators")) };
        for (i, agg) in self.plan.aggs.iter().enumerate() {
            let args = aggregate_args(agg, data)?;
            let filter = self.plan.filters[i].map(|c| data.column(c).as_boolean().clone());
            accs[i].update_batch(&args, &group_idx, filter.as_ref(), total).map_err(internal)?;
        }
        self.buffered(data.num_rows(), out)
    }

    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        if let Some(first) = self.first_buffered {
            if first.elapsed() >= self.latency {
                self.flush(out)?;
            } else {
                out.wake_after(self.latency.saturating_sub(first.elapsed()));
            }
        }
        Ok(())
    }

    fn on_checkpoint(&mut self, _checkpoint: u64, out: &mut Emitter) -> Result<()> {
        self.flush(out)
    }

    fn on_close(&mut self, out: &mut Emitter) -> Result<()> {
        self.flush(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;
    use rask_types::value_fmt::format_row;

    use super::*;
    use crate::operators::group_agg::GroupAggregate;

    /// `SELECT k, COUNT(*) FILTER (WHERE f), SUM(v), MAX(v), COUNT(DISTINCT v) … GROUP BY k`,
    /// as the local and the global phase.
    fn phases(size: usize) -> (LocalGroupAggregate, GroupAggregate) {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new("f", DataType::Boolean, true),
        ]));
        let v = || -> Vec<Arc<dyn datafusion_physical_expr::PhysicalExpr>> { vec![Arc::new(Column::new("v", 1))] };
        let f = datafusion_functions_aggregate::count::count_udaf;
        let aggs = vec![
            AggregateExprBuilder::new(f(), vec![Arc::new(Column::new("k", 0))]).schema(input.clone()).alias("c").build().unwrap(),
            AggregateExprBuilder::new(datafusion_functions_aggregate::sum::sum_udaf(), v()).schema(input.clone()).alias("s").build().unwrap(),
            AggregateExprBuilder::new(datafusion_functions_aggregate::min_max::max_udaf(), v()).schema(input.clone()).alias("m").build().unwrap(),
            AggregateExprBuilder::new(f(), v()).schema(input.clone()).alias("d").distinct().build().unwrap(),
        ];
        let plan = Plan { keys: 1, aggs: aggs.into_iter().map(Arc::new).collect(), filters: vec![Some(2), None, None, None], outputs: (0..4).map(|j| vec![j]).collect(), retract: false, merge: false };
        let local_schema = plan.local_schema([input.field(0).clone()]).unwrap();
        let out = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("c", DataType::Int64, true),
            Field::new("s", DataType::Int64, true),
            Field::new("m", DataType::Int64, true),
            Field::new("d", DataType::Int64, true),
        ]));
        let local = LocalGroupAggregate::new(plan.clone(), input, local_schema.clone(), (Duration::from_secs(3600), size)).unwrap();
        let global = GroupAggregate::new(Plan { merge: true, ..plan }, local_schema, out, true, None).unwrap();
        (local, global)
    }

    fn batch(rows: &[(&str, i64, bool)]) -> StreamBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new("f", DataType::Boolean, true),
        ]));
        StreamBatch::inserts(
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                    Arc::new(BooleanArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
                ],
            )
            .unwrap(),
        )
    }

    /// Runs the local phase's output through the global phase; the global phase's changelog.
    fn through(global: &mut GroupAggregate, local_out: Emitter) -> Vec<String> {
        let mut out = Emitter::default();
        for b in local_out.batches {
            global.on_batch(0, b, &mut out).unwrap();
        }
        out.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| format_row(b, i))).collect()
    }

    #[test]
    fn partial_states_merge_into_the_one_phase_results() {
        let (mut local, mut global) = phases(4);
        // Three rows: below the mini-batch size, nothing leaves the local phase yet.
        let mut out = Emitter::default();
        local.on_batch(0, batch(&[("a", 5, true), ("b", 1, false), ("a", 9, false)]), &mut out).unwrap();
        assert!(out.batches.is_empty());
        assert!(out.wake_after.is_some(), "the allow-latency timer is armed");
        // The fourth row fills the mini-batch: one partial row per key.
        local.on_batch(0, batch(&[("a", 5, true)]), &mut out).unwrap();
        assert_eq!(out.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(through(&mut global, out), ["+I[a, 2, 19, 9, 2]", "+I[b, 0, 1, 1, 1]"]);
        // The next partial of `a` merges with the first: distinct values are not counted twice.
        let mut out = Emitter::default();
        local.on_batch(0, batch(&[("a", 9, true), ("a", 12, false)]), &mut out).unwrap();
        local.on_checkpoint(1, &mut out).unwrap();
        assert_eq!(through(&mut global, out), ["-U[a, 2, 19, 9, 2]", "+U[a, 3, 40, 12, 3]"]);
        // Nothing is buffered after a checkpoint, and closing flushes the rest.
        let mut out = Emitter::default();
        local.on_checkpoint(2, &mut out).unwrap();
        assert!(out.batches.is_empty());
        local.on_batch(0, batch(&[("c", 7, true)]), &mut out).unwrap();
        local.on_close(&mut out).unwrap();
        assert_eq!(through(&mut global, out), ["+I[c, 1, 7, 7, 1]"]);
    }

    #[test]
    fn refuses_updates() {
        let (mut local, _) = phases(4);
        let b = batch(&[("a", 1, true)]);
        let b = StreamBatch::with_kinds(b.data, arrow::array::UInt8Array::from(vec![rask_types::RowKind::Delete as u8]));
        assert!(local.on_batch(0, b, &mut Emitter::default()).is_err());
    }
}
