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
    /// been delivered. Stateful operators snapshot here; sinks pre-commit.
    fn on_checkpoint(&mut self, _checkpoint: u64, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }

    /// The state to store for `checkpoint` (keyed state is organised by key group).
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Restore from a snapshot written by [`Operator::snapshot`].
    fn restore(&mut self, _state: &[u8]) -> Result<()> {
        Ok(())
    }

    /// Every input has ended (bounded job): flush and release resources.
    fn on_close(&mut self, _out: &mut Emitter) -> Result<()> {
        Ok(())
    }
}
