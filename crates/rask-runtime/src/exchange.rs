//! Exchanges between workers: keyed (by key group, as Flink) and single (all to worker 0).
//! Data batches are split with Arrow `take`; watermarks and idleness markers are broadcast to
//! every receiver, since each receiver combines the watermarks of all its senders.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use rask_types::keygroup::{hash_rows, key_group, operator_for_key_group};
use timely::communication::Push;
use timely::dataflow::channels::pushers::exchange::Distributor;
use timely::dataflow::channels::Message;
use timely::progress::Stamp;

use crate::container::{Batch, Msg};

fn broadcast<T: Clone, P: Push<Message<T, Batch>>>(msg: Msg, stamp: &Stamp<T>, pushers: &mut [P]) {
    for p in pushers.iter_mut() {
        let mut b = Batch(Some(msg.clone()));
        Message::push_at(&mut b, stamp.clone(), p);
    }
}

/// Routes each row to the worker owning its key group.
pub struct KeyGroupDistributor {
    pub keys: Arc<Vec<usize>>,
    pub max_parallelism: u32,
}

/// The key-group routing of one batch: target worker per row.
pub fn route(columns: &[ArrayRef], rows: usize, max_parallelism: u32, peers: usize) -> Result<Vec<u32>, String> {
    let hashes = hash_rows(columns, rows)?;
    Ok(hashes
        .into_iter()
        .map(|h| operator_for_key_group(key_group(h, max_parallelism), max_parallelism, peers as u32))
        .collect())
}

impl Distributor<Batch> for KeyGroupDistributor {
    fn partition<T: Clone, P: Push<Message<T, Batch>>>(&mut self, container: &mut Batch, stamp: &Stamp<T>, pushers: &mut [P]) {
        let Some(msg) = container.0.take() else { return };
        let b = match msg {
            Msg::Data(b) => b,
            other => return broadcast(other, stamp, pushers),
        };
        let peers = pushers.len();
        if peers == 1 {
            let mut out = Batch::data(b);
            Message::push_at(&mut out, stamp.clone(), &mut pushers[0]);
            return;
        }
        let cols: Vec<ArrayRef> = self.keys.iter().map(|k| b.data.column(*k).clone()).collect();
        // Key types that cannot be hashed are rejected at planning, so this cannot fail here;
        // if it ever did, the rows stay together on worker 0 rather than being lost.
        let targets = route(&cols, b.num_rows(), self.max_parallelism, peers).unwrap_or_else(|_| vec![0; b.num_rows()]);
        let mut idx: Vec<Vec<u32>> = vec![Vec::new(); peers];
        for (row, t) in targets.iter().enumerate() {
            idx[*t as usize].push(row as u32);
        }
        for (p, ix) in idx.into_iter().enumerate() {
            if ix.is_empty() {
                continue;
            }
            let sub = if ix.len() == b.num_rows() {
                b.clone()
            } else {
                match b.take(&UInt32Array::from(ix)) {
                    Ok(s) => s,
                    Err(_) => continue,
                }
            };
            let mut out = Batch::data(sub);
            Message::push_at(&mut out, stamp.clone(), &mut pushers[p]);
        }
    }
    fn flush<T: Clone, P: Push<Message<T, Batch>>>(&mut self, _stamp: &Stamp<T>, _pushers: &mut [P]) {}
}

/// Sends all data to worker 0 (Flink's SINGLETON distribution).
pub struct SingleDistributor;

impl Distributor<Batch> for SingleDistributor {
    fn partition<T: Clone, P: Push<Message<T, Batch>>>(&mut self, container: &mut Batch, stamp: &Stamp<T>, pushers: &mut [P]) {
        let Some(msg) = container.0.take() else { return };
        match msg {
            Msg::Data(b) => {
                let mut out = Batch::data(b);
                Message::push_at(&mut out, stamp.clone(), &mut pushers[0]);
            }
            other => broadcast(other, stamp, pushers),
        }
    }
    fn flush<T: Clone, P: Push<Message<T, Batch>>>(&mut self, _stamp: &Stamp<T>, _pushers: &mut [P]) {}
}
