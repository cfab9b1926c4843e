//! Helpers for the format tests: schemas from Flink types and rows rendered like Flink's
//! `print` connector, so expectations can be pasted from real Flink output.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use rask_types::FlinkType;
use rask_types::options::Options;

pub(crate) fn schema(cols: &[(&str, FlinkType)]) -> SchemaRef {
    Arc::new(Schema::new(cols.iter().map(|(n, t)| Field::new(*n, t.to_arrow(), true)).collect::<Vec<_>>()))
}

pub(crate) fn opts(kv: &[(&str, &str)]) -> Options {
    Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
}

/// Rows as Flink's print connector shows them: `+I[1, a, null]`.
pub(crate) fn rows(batch: &RecordBatch) -> Vec<String> {
    (0..batch.num_rows())
        .map(|r| {
            let mut s = String::from("+I[");
            for (i, c) in batch.columns().iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                rask_types::value_fmt::write_value(&mut s, c, r);
            }
            s.push(']');
            s
        })
        .collect()
}

pub(crate) fn arr(t: FlinkType) -> FlinkType {
    FlinkType::Array(Box::new(t))
}

pub(crate) fn row(fields: &[(&str, FlinkType)]) -> FlinkType {
    FlinkType::Row(fields.iter().map(|(n, t)| (n.to_string(), t.clone())).collect())
}

/// Tiny deterministic generator for garbage inputs.
pub(crate) struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}
