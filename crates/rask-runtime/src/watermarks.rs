//! Combining watermarks: per input, the minimum over its senders (idle senders excluded,
//! senders that have not spoken count as "no watermark yet"); per operator, the minimum over
//! its inputs. Exactly Flink's `StatusWatermarkValve` rule.

use rask_types::WATERMARK_MIN;

/// Watermark state of one input of one operator instance.
#[derive(Debug, Clone)]
pub struct InputWatermarks {
    /// Worker index of each sender we expect (1 for a forward edge, all workers for an exchange).
    senders: Vec<u32>,
    marks: Vec<i64>,
    idle: Vec<bool>,
    done: bool,
}

impl InputWatermarks {
    pub fn new(senders: Vec<u32>) -> Self {
        let n = senders.len();
        InputWatermarks { senders, marks: vec![WATERMARK_MIN; n], idle: vec![false; n], done: false }
    }

    fn slot(&self, sender: u32) -> Option<usize> {
        self.senders.iter().position(|s| *s == sender)
    }

    pub fn on_watermark(&mut self, sender: u32, wm: i64) {
        if let Some(i) = self.slot(sender) {
            // Watermarks never go backwards on a channel.
            self.marks[i] = self.marks[i].max(wm);
            self.idle[i] = false;
        }
    }

    pub fn on_idle(&mut self, sender: u32) {
        if let Some(i) = self.slot(sender) {
            self.idle[i] = true;
        }
    }

    /// A data record arrived from `sender`: it is active again.
    pub fn on_data(&mut self, sender: Option<u32>) {
        if let Some(i) = sender.and_then(|s| self.slot(s)) {
            self.idle[i] = false;
        }
    }

    /// The input has ended: it no longer holds the watermark back.
    pub fn finish(&mut self) {
        self.done = true;
    }

    /// Combined watermark of the input, or `None` if every sender is idle (or it ended).
    pub fn current(&self) -> Option<i64> {
        if self.done {
            return None;
        }
        self.marks.iter().zip(&self.idle).filter(|(_, idle)| !**idle).map(|(m, _)| *m).min()
    }
}

impl InputWatermarks {
    /// The highest watermark any sender has sent (`None` if none, or the input ended): where
    /// the input's watermark goes once every sender is idle.
    pub fn highest(&self) -> Option<i64> {
        if self.done {
            return None;
        }
        self.marks.iter().copied().filter(|m| *m != WATERMARK_MIN).max()
    }
}

/// When every input is idle: the minimum over inputs of their highest watermark (Flink's
/// valve flushes the maximum across its channels when the last one goes idle).
pub fn combine_idle(inputs: &[InputWatermarks]) -> Option<i64> {
    inputs.iter().filter_map(|i| i.highest()).min()
}

/// Minimum over inputs; `None` when every input is idle or finished.
pub fn combine(inputs: &[InputWatermarks]) -> Option<i64> {
    inputs.iter().filter_map(|i| i.current()).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_over_active_senders() {
        let mut w = InputWatermarks::new(vec![0, 1]);
        assert_eq!(w.current(), Some(WATERMARK_MIN));
        w.on_watermark(0, 10);
        assert_eq!(w.current(), Some(WATERMARK_MIN));
        w.on_watermark(1, 5);
        assert_eq!(w.current(), Some(5));
        w.on_idle(1);
        assert_eq!(w.current(), Some(10));
        w.on_watermark(1, 3); // back from idle: holds the watermark again, never regresses its own
        assert_eq!(w.current(), Some(5));
        w.on_idle(0);
        w.on_idle(1);
        assert_eq!(w.current(), None);
        // Once all are idle, the highest watermark seen is where the input stands.
        assert_eq!(combine_idle(&[w]), Some(10));
    }
}
