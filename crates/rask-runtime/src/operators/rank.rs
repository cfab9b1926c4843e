//! Top-N and deduplication without a window (Flink's `AppendOnlyTopNFunction`,
//! `RetractableTopNFunction` and the deduplicate functions): per partition key the rows in
//! sort order (ties in arrival order), and per input row the change of the partition's top N:
//!
//! - with the row number selected, per rank whose row changed: `-U[old, r]`, `+U[new, r]`, or
//!   `+I`/`-D` where the top N grew or shrank (Flink's order: increasing rank);
//! - without it: `-D` for the rows that left the top N, then `+I` for those that entered.
//!
//! Over an append-only input a row that cannot enter the top N is dropped at once and rows
//! pushed out are forgotten; over an updating input every row is kept, since a retraction may
//! promote one. Deduplication keeps one row per key: the first or last to arrive (processing
//! time: keep-last emits `-U`/`+U` per new row, skipping a row equal to the kept one unless a
//! state TTL is set), or the one with the highest event time (`-U`/`+U` when a row at least as
//! late arrives).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array, UInt8Array};
use arrow::compute::SortOptions;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashMap;
use rask_sql::rank::{Rank as Plan, RankKind};
use rask_state::{OperatorSnapshot, StateEntry, StateTtl};
use rask_types::{RowKind, StreamBatch};

use super::keyed::{key_of, key_rows, restored_batches, slot};
use super::window_tvf::to_millis;
use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("rank: {e}"))
}

#[derive(Default)]
struct Partition {
    /// (sort key, arrival number) → row; a deduplication holds one row under an empty key.
    rows: BTreeMap<(Box<[u8]>, u64), Box<[u8]>>,
    /// The kept row's event time (event-time deduplication).
    time: i64,
    /// Processing time of the last access (for `table.exec.state.ttl`).
    touched: i64,
}

/// Rows to emit: kind, row value, rank.
#[derive(Default)]
struct Output {
    rows: Vec<(RowKind, Box<[u8]>, u64)>,
}

pub struct Rank {
    plan: Plan,
    schema: SchemaRef,
    input: SchemaRef,
    partition_converter: RowConverter,
    sort_converter: RowConverter,
    row_converter: RowConverter,
    parts: HashMap<Box<[u8]>, Partition>,
    seq: u64,
    ttl: Option<StateTtl>,
    clock: fn() -> i64,
}

impl Rank {
    pub fn new(plan: Plan, input: SchemaRef, schema: SchemaRef, ttl: Option<StateTtl>) -> Result<Self> {
        let field = |c: usize| input.field(c).data_type().clone();
        let partition_converter = RowConverter::new(plan.partition.iter().map(|c| SortField::new(field(*c))).collect()).map_err(internal)?;
        let sort_converter = RowConverter::new(
            plan.order
                .iter()
                .map(|(c, desc, nulls_first)| SortField::new_with_options(field(*c), SortOptions { descending: *desc, nulls_first: *nulls_first }))
                .collect(),
        )
        .map_err(internal)?;
        let row_converter = RowConverter::new(input.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect()).map_err(internal)?;
        Ok(Rank { plan, schema, input, partition_converter, sort_converter, row_converter, parts: HashMap::new(), seq: 0, ttl, clock: rask_types::now_ms })
    }

    fn partition_keys(&self, data: &RecordBatch) -> Result<Option<Rows>> {
        key_rows(&self.partition_converter, &self.plan.partition, data)
    }

    fn sort_keys(&self, data: &RecordBatch) -> Result<Rows> {
        let cols: Vec<ArrayRef> = self.plan.order.iter().map(|(c, _, _)| data.column(*c).clone()).collect();
        self.sort_converter.convert_columns(&cols).map_err(internal)
    }

    /// Deduplication: one row per key.
    fn dedup(part: &mut Partition, keep_last: bool, time: Option<i64>, row: &[u8], ttl: bool, out: &mut Output) {
        let replace = match (part.rows.first_key_value(), time) {
            (None, _) => true,
            // Processing time: the first row stays, or each new row replaces the kept one.
            (Some((_, p)), None) => keep_last && (ttl || p.as_ref() != row),
            // Event time: the first row stays (Flink's insert-only keep-first), or a row at
            // least as late as the kept one replaces it.
            (Some(_), Some(t)) => keep_last && part.time <= t,
        };
        if !replace {
            return;
        }
        match part.rows.pop_first() {
            None => out.rows.push((RowKind::Insert, row.into(), 1)),
            Some((_, p)) => {
                out.rows.push((RowKind::UpdateBefore, p, 1));
                out.rows.push((RowKind::UpdateAfter, row.into(), 1));
            }
        }
        part.rows.insert((Box::from(&[][..]), 0), row.into());
        if let Some(t) = time {
            part.time = t;
        }
    }

    /// Top-N: apply one row and emit the change of the partition's top N.
    fn top_n(&mut self, key: &[u8], sort: &[u8], row: &[u8], accumulate: bool, now: i64, out: &mut Output) {
        let updating = matches!(self.plan.kind, RankKind::TopN { updating_input: true });
        let limit = self.plan.limit;
        let seq = self.seq;
        self.seq += 1;
        let part = slot(&mut self.parts, key);
        part.touched = now;
        if accumulate && !updating && part.rows.len() >= limit {
            // Would rank after the last of a full top N (ties rank by arrival): dropped.
            if let Some(((worst, _), _)) = part.rows.iter().nth(limit - 1)
                && sort >= worst.as_ref()
            {
                return;
            }
        }
        let before: Vec<(u64, Box<[u8]>)> = part.rows.iter().take(limit).map(|((_, s), r)| (*s, r.clone())).collect();
        if accumulate {
            part.rows.insert((sort.into(), seq), row.into());
        } else {
            let lo = (Box::<[u8]>::from(sort), 0u64);
            let hi = (Box::<[u8]>::from(sort), u64::MAX);
            let found = part.rows.range(lo..=hi).find(|(_, r)| r.as_ref() == row).map(|(k, _)| k.clone());
            match found {
                Some(k) => {
                    part.rows.remove(&k);
                }
                // Retracting a row never seen (or expired): nothing changes.
                None => return,
            }
        }
        let after: Vec<(u64, Box<[u8]>)> = part.rows.iter().take(limit).map(|((_, s), r)| (*s, r.clone())).collect();
        if !updating {
            // Rows pushed out of an append-only top N can never come back.
            while part.rows.len() > limit {
                part.rows.pop_last();
            }
        }
        if part.rows.is_empty() {
            self.parts.remove(key);
        }
        if self.plan.output_rank {
            for r in 0..before.len().max(after.len()) {
                let rank = r as u64 + 1;
                match (before.get(r), after.get(r)) {
                    (Some(b), Some(a)) if b.0 == a.0 => {}
                    (Some(b), Some(a)) => {
                        out.rows.push((RowKind::UpdateBefore, b.1.clone(), rank));
                        out.rows.push((RowKind::UpdateAfter, a.1.clone(), rank));
                    }
                    (Some(b), None) => out.rows.push((RowKind::Delete, b.1.clone(), rank)),
                    (None, Some(a)) => out.rows.push((RowKind::Insert, a.1.clone(), rank)),
                    (None, None) => {}
                }
            }
        } else {
            for (s, r) in &before {
                if !after.iter().any(|(a, _)| a == s) {
                    out.rows.push((RowKind::Delete, r.clone(), 1));
                }
            }
            for (s, r) in &after {
                if !before.iter().any(|(b, _)| b == s) {
                    out.rows.push((RowKind::Insert, r.clone(), 1));
                }
            }
        }
    }

    fn emit(&self, o: Output, out: &mut Emitter) -> Result<()> {
        if o.rows.is_empty() {
            return Ok(());
        }
        let parser = self.row_converter.parser();
        let mut cols = self.row_converter.convert_rows(o.rows.iter().map(|(_, r, _)| parser.parse(r))).map_err(internal)?;
        let ranks: ArrayRef = Arc::new(UInt64Array::from_iter_values(o.rows.iter().map(|(_, _, n)| *n)));
        let want = self.schema.field(self.schema.fields().len() - 1).data_type();
        cols.push(if ranks.data_type() == want { ranks } else { arrow::compute::cast(&ranks, want).map_err(internal)? });
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(internal)?;
        out.emit(if self.plan.append_only() {
            StreamBatch::inserts(batch)
        } else {
            StreamBatch::with_kinds(batch, UInt8Array::from_iter_values(o.rows.iter().map(|(k, _, _)| *k as u8)))
        });
        Ok(())
    }

    fn arm_ttl(&self, out: &mut Emitter) {
        super::keyed::arm_ttl(self.ttl, !self.parts.is_empty(), out);
    }

    /// Keep `data`'s rows as state without output (restore).
    fn load(&mut self, data: &RecordBatch) -> Result<()> {
        let keys = self.partition_keys(data)?;
        let rows = self.row_converter.convert_columns(data.columns()).map_err(internal)?;
        let now = (self.clock)();
        match self.plan.kind {
            RankKind::Deduplicate { rowtime, .. } => {
                let times = match rowtime {
                    Some(c) => Some(to_millis(data.column(c))?),
                    None => None,
                };
                for i in 0..data.num_rows() {
                    let part = slot(&mut self.parts, key_of(&keys, i));
                    part.rows.clear();
                    part.rows.insert((Box::from(&[][..]), 0), rows.row(i).data().into());
                    part.time = times.as_ref().and_then(|t| t[i]).unwrap_or(i64::MIN);
                    part.touched = now;
                }
            }
            RankKind::TopN { .. } => {
                let sorts = self.sort_keys(data)?;
                for i in 0..data.num_rows() {
                    let seq = self.seq;
                    self.seq += 1;
                    let part = slot(&mut self.parts, key_of(&keys, i));
                    part.rows.insert((sorts.row(i).data().into(), seq), rows.row(i).data().into());
                    part.touched = now;
                }
            }
        }
        Ok(())
    }
}

impl Operator for Rank {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let data = &batch.data;
        let keys = self.partition_keys(data)?;
        let rows = self.row_converter.convert_columns(data.columns()).map_err(internal)?;
        let now = if self.ttl.is_some() { (self.clock)() } else { 0 };
        let mut o = Output::default();
        match self.plan.kind {
            RankKind::Deduplicate { keep_last, rowtime } => {
                let times = match rowtime {
                    Some(c) => Some(to_millis(data.column(c))?),
                    None => None,
                };
                for i in 0..data.num_rows() {
                    let time = match &times {
                        Some(t) => match t[i] {
                            Some(v) => Some(v),
                            None => continue, // no event time: cannot be ordered
                        },
                        None => None,
                    };
                    let part = slot(&mut self.parts, key_of(&keys, i));
                    part.touched = now;
                    Self::dedup(part, keep_last, time, rows.row(i).data(), self.ttl.is_some(), &mut o);
                }
            }
            RankKind::TopN { .. } => {
                let sorts = self.sort_keys(data)?;
                for i in 0..data.num_rows() {
                    let accumulate = batch.kind(i).is_accumulate();
                    self.top_n(key_of(&keys, i), sorts.row(i).data(), rows.row(i).data(), accumulate, now, &mut o);
                }
            }
        }
        self.emit(o, out)?;
        self.arm_ttl(out);
        Ok(())
    }

    /// Forget partitions idle for the TTL (no output, as Flink).
    fn on_timer(&mut self, out: &mut Emitter) -> Result<()> {
        super::keyed::expire_idle(self.ttl, self.clock, &mut self.parts, |p| p.touched, out);
        Ok(())
    }

    /// The kept rows of every partition, in rank order, keyed by the partition columns.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        let key_cols = (!self.plan.partition.is_empty()).then(|| self.plan.partition.clone());
        let mut entry = StateEntry::new("rows", self.input.clone(), key_cols, Vec::new());
        let all: Vec<&Box<[u8]>> = self.parts.values().flat_map(|p| p.rows.values()).collect();
        if !all.is_empty() {
            let parser = self.row_converter.parser();
            let cols = self.row_converter.convert_rows(all.iter().map(|r| parser.parse(r))).map_err(internal)?;
            entry.batches.push(RecordBatch::try_new(self.input.clone(), cols).map_err(internal)?);
        }
        Ok(Some(OperatorSnapshot { meta: Vec::new(), entries: vec![entry] }))
    }

    fn restore(&mut self, parts: Vec<OperatorSnapshot>) -> Result<()> {
        for data in restored_batches(parts, &self.input, "Top-N")? {
            self.load(&data)?;
        }
        Ok(())
    }

    fn on_open(&mut self, out: &mut Emitter) -> Result<()> {
        self.arm_ttl(out);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use rask_types::value_fmt::format_row;

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true)]))
    }

    /// `ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) <= n`.
    fn top(n: usize, output_rank: bool, updating_input: bool) -> Rank {
        let out = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true), Field::new("rn", DataType::UInt64, false)]));
        let plan = Plan { partition: vec![0], order: vec![(1, true, false)], limit: n, output_rank, kind: RankKind::TopN { updating_input } };
        Rank::new(plan, input(), out, None).unwrap()
    }

    fn feed(op: &mut Rank, rows: &[(&str, i64, RowKind)]) -> Vec<String> {
        let b = RecordBatch::try_new(
            input(),
            vec![Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())), Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()))],
        )
        .unwrap();
        let kinds = UInt8Array::from(rows.iter().map(|r| r.2 as u8).collect::<Vec<_>>());
        let mut out = Emitter::default();
        op.on_batch(0, StreamBatch::with_kinds(b, kinds), &mut out).unwrap();
        out.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| format_row(b, i))).collect()
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    #[test]
    fn append_only_top_n_with_row_numbers_shifts_ranks() {
        let mut op = top(2, true, false);
        assert_eq!(feed(&mut op, &[("a", 5, I)]), ["+I[a, 5, 1]"]);
        assert_eq!(feed(&mut op, &[("a", 9, I)]), ["-U[a, 5, 1]", "+U[a, 9, 1]", "+I[a, 5, 2]"]);
        assert_eq!(feed(&mut op, &[("a", 7, I)]), ["-U[a, 5, 2]", "+U[a, 7, 2]"]);
        // Ties rank by arrival: a second 7 would be third.
        assert!(feed(&mut op, &[("a", 7, I), ("a", 1, I)]).is_empty());
    }

    #[test]
    fn top_n_without_row_numbers_emits_entering_and_leaving_rows() {
        let mut op = top(2, false, false);
        assert_eq!(feed(&mut op, &[("a", 5, I), ("a", 9, I)]), ["+I[a, 5, 1]", "+I[a, 9, 1]"]);
        assert_eq!(feed(&mut op, &[("a", 7, I), ("b", 1, I)]), ["-D[a, 5, 1]", "+I[a, 7, 1]", "+I[b, 1, 1]"]);
    }

    #[test]
    fn retraction_promotes_the_next_row() {
        let mut op = top(2, true, true);
        feed(&mut op, &[("a", 5, I), ("a", 9, I), ("a", 7, I)]);
        assert_eq!(feed(&mut op, &[("a", 9, D)]), ["-U[a, 9, 1]", "+U[a, 7, 1]", "-U[a, 7, 2]", "+U[a, 5, 2]"]);
        assert_eq!(feed(&mut op, &[("a", 7, UB), ("a", 8, UA)]), ["-U[a, 7, 1]", "+U[a, 5, 1]", "-D[a, 5, 2]", "-U[a, 5, 1]", "+U[a, 8, 1]", "+I[a, 5, 2]"]);
        let mut op = top(1, false, true);
        feed(&mut op, &[("a", 5, I), ("a", 9, I)]);
        assert_eq!(feed(&mut op, &[("a", 9, D)]), ["-D[a, 9, 1]", "+I[a, 5, 1]"]);
    }

    #[test]
    fn restored_state_continues() {
        let mut op = top(2, true, true);
        feed(&mut op, &[("a", 5, I), ("a", 9, I), ("a", 7, I)]);
        let snap = op.snapshot(1).unwrap().unwrap();
        let mut restored = top(2, true, true);
        restored.restore(vec![snap]).unwrap();
        for o in [&mut op, &mut restored] {
            assert_eq!(feed(o, &[("a", 9, D)]), ["-U[a, 9, 1]", "+U[a, 7, 1]", "-U[a, 7, 2]", "+U[a, 5, 2]"]);
        }
    }
}
