//! Epochs: the timely timestamp of every message.
//!
//! An epoch is a `u64` = `checkpoint << TICK_BITS | tick`. Sources advance the tick for flow
//! control (a bounded amount of data per epoch, a bounded number of epochs in flight) and jump
//! to the next checkpoint number when a checkpoint is due; an operator whose input frontier
//! passes a checkpoint boundary has seen exactly the data before that consistent cut
//! (Chandy–Lamport alignment expressed with timely frontiers).

pub type Epoch = u64;

pub const TICK_BITS: u32 = 24;

/// The checkpoint an epoch belongs to.
pub fn checkpoint_of(e: Epoch) -> u64 {
    e >> TICK_BITS
}

/// The first epoch of a checkpoint.
pub fn first_epoch_of(checkpoint: u64) -> Epoch {
    checkpoint << TICK_BITS
}

/// The next epoch after `e` within the same checkpoint (or the next checkpoint if the ticks
/// run out).
pub fn next_tick(e: Epoch) -> Epoch {
    e + 1
}

/// Maximum number of epochs a source may run ahead of the slowest sink (flow control).
pub const IN_FLIGHT_EPOCHS: u64 = 2;
