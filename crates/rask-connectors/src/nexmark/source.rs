//! The nexmark reader: subtask `s` of `p` generates blocks `s, s + p, s + 2p, …` of the event
//! stream (so the union over subtasks is the same stream at any parallelism), in slices of the
//! job's batch size, paced to `first-event.rate` unless `max-emit-speed`.

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use rask_runtime::connector::{SourceContext, SourceEvent, SourceReader};
use rask_runtime::error::Result;
use rask_types::StreamBatch;

use super::model::{Generator, BLOCK};
use super::options::NexmarkConfig;

pub struct NexmarkReader {
    generator: Generator,
    base_time: i64,
    max_emit_speed: bool,
    keep_alive: bool,
    /// Next block this subtask generates.
    next_block: u64,
    step: u64,
    /// The current block and how many of its rows were emitted.
    current: Option<(u64, RecordBatch, usize)>,
    batch_size: usize,
    started: Instant,
}

impl NexmarkReader {
    pub fn new(cfg: NexmarkConfig, ctx: &SourceContext) -> Self {
        let base_time = cfg.base_time.unwrap_or(ctx.job_start_ms);
        let (max_emit_speed, keep_alive) = (cfg.max_emit_speed, cfg.keep_alive);
        NexmarkReader {
            generator: Generator::new(cfg, base_time, ctx.schema.clone()),
            base_time,
            max_emit_speed,
            keep_alive,
            next_block: ctx.subtask as u64,
            step: ctx.parallelism.max(1) as u64,
            current: None,
            batch_size: ctx.batch_size.clamp(1, BLOCK as usize),
            started: Instant::now(),
        }
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
        if self.current.is_none() {
            let b = self.next_block;
            let len = self.block_len(b);
            if len == 0 {
                if self.keep_alive {
                    return Ok(SourceEvent::Idle);
                }
                return Ok(SourceEvent::End);
            }
            self.next_block += self.step;
            self.current = Some((b, self.generator.block(b, len), 0));
        }
        let Some((b, block, done)) = self.current.as_mut() else { return Ok(SourceEvent::Idle) };
        let mut n = self.batch_size.min(block.num_rows() - *done);
        if !self.max_emit_speed {
            // Emit each event when the wall clock reaches its event time (relative to the
            // start): slices of at most ~10 ms of events.
            let first = *b * BLOCK + *done as u64;
            let t0 = self.generator.timestamp(first);
            let mut k = 1;
            while k < n && self.generator.timestamp(first + k as u64) < t0 + 10 {
                k += 1;
            }
            n = k;
            let due = self.started + Duration::from_millis((t0 - self.base_time).max(0) as u64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let out = block.slice(*done, n);
        *done += n;
        if *done == block.num_rows() {
            self.current = None;
        }
        Ok(SourceEvent::Batch(StreamBatch::inserts(out)))
    }
}
