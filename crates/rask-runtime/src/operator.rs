//! The operator trait: one method per stream event. An operator is a small file implementing
//! this trait; all timely plumbing (capabilities, frontiers, exchanges, epoch alignment,
//! watermark combining) lives in [`crate::engine`].
//!
//! Event order guarantees for one operator instance:
//! - `on_batch` and `on_watermark` calls of epoch `e` all happen before `on_checkpoint(c)` for
//!   the checkpoint `c` ending at `e`, and events of later epochs after it;
//! - `on_watermark` receives the combined watermark (minimum over inputs and senders), only
//!   when it advances;
//! - `on_close` is called once, after the last event, when every input has ended.

use std::time::Duration;

use rask_state::OperatorSnapshot;
use rask_types::StreamBatch;

use crate::error::Result;

/// What an operator emits while handling an event.
#[derive(Default)]
pub struct Emitter {
    pub(crate) batches: Vec<StreamBatch>,
    /// Watermarks in emission order, each with the number of batches emitted before it.
    pub(crate) marks: Vec<(usize, i64)>,
    pub(crate) idle: bool,
    pub(crate) wake_after: Option<Duration>,
}

impl Emitter {
    /// Send a batch downstream (empty batches are dropped).
    pub fn emit(&mut self, b: StreamBatch) {
        if b.num_rows() > 0 {
            self.batches.push(b);
        }
    }
    /// Advance this operator's output watermark (after the batches emitted so far).
    pub fn watermark(&mut self, wm: i64) {
        let n = self.batches.len();
        match self.marks.last_mut() {
            Some((at, w)) if *at == n => *w = (*w).max(wm),
            Some((_, w)) if *w >= wm => {}
            _ => self.marks.push((n, wm)),
        }
        self.idle = false;
    }

    /// The last watermark emitted, if any.
    pub fn last_watermark(&self) -> Option<i64> {
        self.marks.last().map(|(_, w)| *w)
    }
    /// Declare this operator's output idle (it holds no watermark back downstream).
    pub fn idle(&mut self) {
        self.idle = true;
    }
    /// Ask for an `on_timer` call after `d` (processing time).
    pub fn wake_after(&mut self, d: Duration) {
        self.wake_after = Some(self.wake_after.map_or(d, |w| w.min(d)));
    }
}

pub trait Operator {
    /// The operator starts, before any input: arm processing-time timers here.
    fn on_open(&mut self, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }

    /// A batch arrived on input `input`.
    fn on_batch(&mut self, input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()>;

    /// The combined input watermark advanced. Default: forward it.
    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter) -> Result<()> {
        out.watermark(watermark);
        Ok(())
    }

    /// Every input is idle. Default: become idle downstream too.
    fn on_idle(&mut self, out: &mut Emitter) -> Result<()> {
        out.idle();
        Ok(())
    }

    /// A processing-time wake-up requested with [`Emitter::wake_after`] is due.
    fn on_timer(&mut self, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }

    /// The input has passed checkpoint `checkpoint`'s barrier: every event before the cut has
    /// been delivered. Output emitted here still belongs before the cut (a local aggregation
    /// flushes, a sink pre-commits).
    fn on_checkpoint(&mut self, _checkpoint: u64, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }

    /// The state to store for `checkpoint`, called right after [`Operator::on_checkpoint`]
    /// (and with [`rask_state::FINAL_CHECKPOINT`] after `on_close`). Keep this cheap: clone the
    /// Arrow arrays that hold the state; encoding and writing happen on the checkpoint thread.
    /// Keyed state goes in entries with `key_columns` so that it can be re-partitioned.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<OperatorSnapshot>> {
        Ok(None)
    }

    /// Before `on_open`: the state of a restored checkpoint. At the same parallelism `parts` is
    /// this instance's snapshot; after rescaling, one snapshot per old instance that
    /// contributes (keyed entries already filtered to this instance's key groups).
    fn restore(&mut self, _parts: Vec<OperatorSnapshot>) -> Result<()> {
        Ok(())
    }

    /// Checkpoint `checkpoint` is complete (durable everywhere): commit what was pre-committed
    /// for it and earlier ones (two-phase commit). Without checkpoint storage this follows
    /// `on_checkpoint` at once.
    fn on_checkpoint_complete(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }

    /// The operator commits on checkpoint completion (an exactly-once sink): at the end of
    /// input it waits for the final checkpoint to complete before it finishes.
    fn commits_on_completion(&self) -> bool {
        false
    }

    /// Every input has ended (bounded job): flush and release resources.
    fn on_close(&mut self, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }
}
