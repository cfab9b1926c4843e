//! Union (`UNION ALL`): forwards batches from every input; the engine combines the inputs'
//! watermarks as their minimum.

use rask_types::StreamBatch;

use crate::error::Result;
use crate::operator::{Emitter, Operator};

pub struct Union;

impl Operator for Union {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        out.emit(batch);
        Ok(())
    }
}
