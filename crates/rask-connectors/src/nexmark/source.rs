//! The nexmark reader: subtask `s` of `p` generates blocks `s, s + p, s + 2p, …` of the event
//! stream (so the union over subtasks is the same stream at any parallelism), in slices of the
//! job's batch size, paced to `first-event.rate` unless `max-emit-speed`.
//!
//! Position in checkpoints: the base time and the subtask's *splits* — a strided sequence of
//! blocks (next block, stride, rows of it already emitted). Generation is deterministic, so a
//! restored reader continues the exact same events; after a restore at another parallelism a
//! subtask interleaves the splits it is given block by block, lowest block first.

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use rask_runtime::connector::{SourceContext, SourceEvent, SourceReader};
use rask_runtime::error::Result;
use rask_types::StreamBatch;

use super::model::{Generator, BLOCK};
use super::options::NexmarkConfig;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Split {
    next_block: u64,
    stride: u64,
    /// Rows of `next_block` already emitted.
    done: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    base_time: i64,
    splits: Vec<Split>,
}

pub struct NexmarkReader {
    generator: Generator,
    base_time: i64,
    max_emit_speed: bool,
    keep_alive: bool,
    /// The splits left; the first one is read.
    splits: Vec<Split>,
    /// The block being emitted (of the first split).
    current: Option<(u64, RecordBatch)>,
    batch_size: usize,
    /// Wall-clock instant of event time `base_time` (pacing); set at the first batch.
    started: Option<Instant>,
}

impl NexmarkReader {
    pub fn new(cfg: NexmarkConfig, ctx: &SourceContext) -> Result<Self> {
        let mut base_time = cfg.base_time.unwrap_or(ctx.job_start_ms);
        let splits = match &ctx.restore {
            None => vec![Split { next_block: ctx.subtask as u64, stride: ctx.parallelism.max(1) as u64, done: 0 }],
            Some(positions) => {
                let mut all = Vec::new();
                for pos in crate::position::decode_all::<Position>("nexmark", positions)? {
                    base_time = pos.base_time;
                    all.extend(pos.splits);
                }
                all
            }
        };
        let (max_emit_speed, keep_alive) = (cfg.max_emit_speed, cfg.keep_alive);
        Ok(NexmarkReader {
            generator: Generator::new(cfg, base_time, ctx.schema.clone()),
            base_time,
            max_emit_speed,
            keep_alive,
            splits,
            current: None,
            batch_size: ctx.batch_size.clamp(1, BLOCK as usize),
            started: None,
        })
    }

    /// Rows of block `b` (0 past the end of a bounded stream).
    fn block_len(&self, b: u64) -> usize {
        match self.generator.events() {
            None => BLOCK as usize,
            Some(n) => n.saturating_sub(b * BLOCK).min(BLOCK) as usize,
        }
    }
}

impl SourceReader for NexmarkReader {
    fn next(&mut self) -> Result<SourceEvent> {
        while self.current.is_none() {
            // Several splits (a restore at a lower parallelism): the lowest block first, so
            // that events come in the order of the original stream.
            if let Some(i) = (0..self.splits.len()).min_by_key(|i| self.splits[*i].next_block)
                && i != 0
            {
                self.splits.swap(0, i);
            }
            let Some(sp) = self.splits.first() else {
                return Ok(if self.keep_alive { SourceEvent::Idle } else { SourceEvent::End });
            };
            let b = sp.next_block;
            let len = self.block_len(b);
            if len == 0 || sp.done >= len {
                self.splits.remove(0);
                continue;
            }
            self.current = Some((b, self.generator.block(b, len)));
        }
        let Some((b, block)) = self.current.as_ref() else { return Ok(SourceEvent::Idle) };
        let b = *b;
        let done = self.splits[0].done;
        let mut n = self.batch_size.min(block.num_rows() - done);
        if !self.max_emit_speed {
            // Emit each event when the wall clock reaches its event time (relative to the
            // first event emitted): slices of at most ~10 ms of events.
            let first = b * BLOCK + done as u64;
            let t0 = self.generator.timestamp(first);
            let mut k = 1;
            while k < n && self.generator.timestamp(first + k as u64) < t0 + 10 {
                k += 1;
            }
            n = k;
            let offset = Duration::from_millis((t0 - self.base_time).max(0) as u64);
            let started = *self.started.get_or_insert_with(|| Instant::now().checked_sub(offset).unwrap_or_else(Instant::now));
            let due = started + offset;
            let now = Instant::now();
            // Waiting is not work: a longer wait is reported as idle (busy-time metrics).
            if due > now + Duration::from_millis(2) {
                return Ok(SourceEvent::Idle);
            } else if due > now {
                std::thread::sleep(due - now);
            }
        }
        let out = block.slice(done, n);
        let rows = block.num_rows();
        let sp = &mut self.splits[0];
        sp.done += n;
        if sp.done == rows {
            sp.next_block += sp.stride;
            sp.done = 0;
            self.current = None;
        }
        Ok(SourceEvent::Batch(StreamBatch::inserts(out)))
    }

    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        let pos = Position { base_time: self.base_time, splits: self.splits.clone() };
        crate::position::encode("nexmark", &pos)
    }
}
