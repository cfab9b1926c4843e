//! The timely container that flows between operators: an Arrow batch (with optional row kinds),
//! or an in-band watermark / idleness marker from one sender. Watermarks are in-band, as in
//! Flink, so that every operator combines the watermarks of all its input channels as the minimum
//! (idle channels excluded). Across processes a message is serialised as Arrow IPC.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, UInt8Array};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use rask_types::StreamBatch;
use timely::dataflow::channels::ContainerBytes;

const KIND_COLUMN: &str = "__rask_row_kind";

/// One message between operators.
#[derive(Debug, Clone)]
pub enum Msg {
    Data(StreamBatch),
    /// Event time up to `watermark` (exclusive of later) is complete on the channel from `sender`.
    Watermark { sender: u32, watermark: i64 },
    /// The channel from `sender` is idle: leave it out of the minimum until it speaks again.
    Idle { sender: u32 },
}

/// Timely container: `None` is the empty container timely needs for `Default`.
#[derive(Debug, Clone, Default)]
pub struct Batch(pub Option<Msg>);

impl Batch {
    pub fn data(b: StreamBatch) -> Self {
        Batch(Some(Msg::Data(b)))
    }
    pub fn watermark(sender: u32, watermark: i64) -> Self {
        Batch(Some(Msg::Watermark { sender, watermark }))
    }
    pub fn idle(sender: u32) -> Self {
        Batch(Some(Msg::Idle { sender }))
    }
}

impl timely::Accountable for Batch {
    fn record_count(&self) -> i64 {
        match &self.0 {
            None => 0,
            Some(Msg::Data(b)) => b.num_rows() as i64,
            Some(_) => 1,
        }
    }
}

fn encode(msg: &Option<Msg>) -> Vec<u8> {
    let mut out = Vec::new();
    match msg {
        None => out.push(0u8),
        Some(Msg::Data(b)) => {
            out.push(1u8);
            let rb = match &b.kinds {
                None => b.data.clone(),
                Some(k) => {
                    let mut fields: Vec<Arc<Field>> = b.data.schema().fields().iter().cloned().collect();
                    fields.push(Arc::new(Field::new(KIND_COLUMN, DataType::UInt8, false)));
                    let mut cols = b.data.columns().to_vec();
                    cols.push(k.clone() as Arc<dyn Array>);
                    match RecordBatch::try_new(Arc::new(Schema::new(fields)), cols) {
                        Ok(rb) => rb,
                        Err(e) => panic!("re-assembling a batch with row kinds failed: {e}"),
                    }
                }
            };
            let mut w = StreamWriter::try_new(&mut out, rb.schema_ref()).expect("IPC writer");
            w.write(&rb).expect("IPC write to memory");
            w.finish().expect("IPC finish");
        }
        Some(Msg::Watermark { sender, watermark }) => {
            out.push(2u8);
            out.extend_from_slice(&sender.to_le_bytes());
            out.extend_from_slice(&watermark.to_le_bytes());
        }
        Some(Msg::Idle { sender }) => {
            out.push(3u8);
            out.extend_from_slice(&sender.to_le_bytes());
        }
    }
    out
}

fn decode(bytes: &[u8]) -> Option<Msg> {
    match bytes.first()? {
        1 => {
            let mut buf = Buffer::from(&bytes[1..]);
            let mut dec = StreamDecoder::new();
            let mut rb = None;
            while !buf.is_empty() {
                match dec.decode(&mut buf) {
                    Ok(Some(b)) => rb = Some(b),
                    Ok(None) => {}
                    Err(e) => panic!("corrupt batch from another process: {e}"),
                }
            }
            let rb = rb?;
            let n = rb.num_columns();
            if n > 0 && rb.schema().field(n - 1).name() == KIND_COLUMN {
                let kinds = rb.column(n - 1).as_any().downcast_ref::<UInt8Array>()?.clone();
                let data = rb.project(&(0..n - 1).collect::<Vec<_>>()).ok()?;
                Some(Msg::Data(StreamBatch::with_kinds(data, kinds)))
            } else {
                Some(Msg::Data(StreamBatch::inserts(rb)))
            }
        }
        2 => {
            let sender = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?);
            let watermark = i64::from_le_bytes(bytes.get(5..13)?.try_into().ok()?);
            Some(Msg::Watermark { sender, watermark })
        }
        3 => Some(Msg::Idle { sender: u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) }),
        _ => None,
    }
}

/// Wire format: u64 LE payload length | payload (tag byte + body) | zero padding to 8 bytes.
impl ContainerBytes for Batch {
    fn from_bytes(bytes: timely::bytes::arc::Bytes) -> Self {
        let len = u64::from_le_bytes(bytes[0..8].try_into().expect("8-byte length prefix")) as usize;
        Batch(decode(&bytes[8..8 + len]))
    }
    fn length_in_bytes(&self) -> usize {
        (8 + encode(&self.0).len() + 7) & !7
    }
    fn into_bytes<W: Write>(&self, writer: &mut W) {
        let e = encode(&self.0);
        writer.write_all(&(e.len() as u64).to_le_bytes()).expect("write to timely buffer");
        writer.write_all(&e).expect("write to timely buffer");
        let pad = ((8 + e.len() + 7) & !7) - (8 + e.len());
        writer.write_all(&[0u8; 8][..pad]).expect("write to timely buffer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    #[test]
    fn messages_round_trip_through_bytes() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]));
        let rb = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![Some(1), None])), Arc::new(StringArray::from(vec!["x", "y"]))]).unwrap();
        let b = StreamBatch::with_kinds(rb.clone(), UInt8Array::from(vec![0, 3]));
        for m in [Msg::Data(b), Msg::Data(StreamBatch::inserts(rb)), Msg::Watermark { sender: 3, watermark: -5 }, Msg::Idle { sender: 1 }] {
            let enc = encode(&Some(m.clone()));
            let dec = decode(&enc).unwrap();
            match (m, dec) {
                (Msg::Data(a), Msg::Data(b)) => {
                    assert_eq!(a.data, b.data);
                    assert_eq!(a.kinds.map(|k| k.values().to_vec()), b.kinds.map(|k| k.values().to_vec()));
                }
                (Msg::Watermark { sender: s1, watermark: w1 }, Msg::Watermark { sender: s2, watermark: w2 }) => assert_eq!((s1, w1), (s2, w2)),
                (Msg::Idle { sender: s1 }, Msg::Idle { sender: s2 }) => assert_eq!(s1, s2),
                (a, b) => panic!("{a:?} decoded as {b:?}"),
            }
        }
    }
}
