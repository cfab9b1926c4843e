//! Flink's row formats, `json`, `csv`, `raw`, `avro` and the changelog formats (`debezium-json`,
//! `canal-json`, `maxwell-json`): decoding text records (one line or message each) into
//! Arrow `RecordBatch`es of a table's schema, and encoding batches back into text, with Flink's
//! option keys and semantics (checked against Flink 2.3). Used by the filesystem connector and,
//! later, Kafka.

pub mod avro;
pub mod changelog;
pub mod csv;
pub mod error;
pub mod json;
pub mod raw;

mod columns;
mod values;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod testutil;

use arrow::array::{RecordBatch, UInt8Array};
use arrow::datatypes::SchemaRef;
use rask_types::options::{OptionSpec, Options};

use crate::error::FormatError;

/// Options each format accepts, for validation of a table's WITH clause (keys are the full Flink
/// keys, e.g. "json.ignore-parse-errors").
pub fn format_options(format: &str) -> Option<Vec<OptionSpec>> {
    match format {
        "json" => Some(json::options()),
        "csv" => Some(csv::options()),
        "raw" => Some(raw::options()),
        "avro" => Some(avro::options()),
        other => changelog::Flavor::of(other).map(changelog::options),
    }
}

/// A decoder turns records (one line of text each) into batches.
pub trait RecordDecoder: Send {
    /// Decode one record. Err = the record is malformed (the message says what and which field);
    /// the caller adds file/line or topic/partition/offset and decides (fail the job, or skip and
    /// count when ignore-parse-errors). When the format's `*.ignore-parse-errors` option is true
    /// the decoder does not error: it skips the bad record and returns Ok(false). Ok(true) = a row
    /// was appended. Ok(false) is also returned for records that hold no row in Flink either: an
    /// empty or `null` JSON record, a csv comment line with `csv.allow-comments`.
    fn decode(&mut self, record: &[u8]) -> Result<bool, FormatError>;
    /// Decode a null message (a Kafka tombstone): no row in json and csv (as in Flink), a
    /// row with a null value in raw.
    fn decode_null(&mut self) -> Result<bool, FormatError> {
        Ok(false)
    }
    /// The job reads only `read` of each column (projection push-down, nested fields
    /// included; see [`rask_types::ColumnUse`]): the decoder may leave the rest NULL instead of
    /// decoding it, as Flink's projectable formats do (a value never read is not converted,
    /// so it cannot fail either). Called before the first record; by default all is decoded.
    fn read_only(&mut self, _read: &[rask_types::ColumnUse]) {}
    /// Rows buffered so far.
    fn buffered(&self) -> usize;
    /// Take the buffered rows as a batch (schema = the decoder's schema).
    fn flush(&mut self) -> Result<RecordBatch, FormatError>;
    /// Right after [`RecordDecoder::flush`]: the row kinds of the flushed rows, for changelog
    /// formats (`None`: every row is an insert).
    fn take_kinds(&mut self) -> Option<UInt8Array> {
        None
    }
}

/// Does `format` carry changelogs (updates and deletes), not only inserts?
pub fn is_changelog(format: &str) -> bool {
    changelog::Flavor::of(format).is_some()
}

/// An encoder turns batches into records (one per row).
pub trait RecordEncoder: Send {
    /// Encode every row of the batch, appending one record per row to `out` (without trailing
    /// newline).
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError>;
    /// Encode rows with their row kinds (`None`: all inserts). Formats that are not changelog
    /// formats take only inserts.
    fn encode_changelog(&mut self, batch: &RecordBatch, kinds: Option<&UInt8Array>, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        if kinds.is_some_and(|k| k.values().iter().any(|v| *v != 0)) {
            return Err(FormatError::Unsupported("this format writes only inserts; updates and deletes need a changelog format (debezium-json, canal-json, maxwell-json)".into()));
        }
        self.encode(batch, out)
    }
}

fn unknown(format: &str) -> FormatError {
    FormatError::Unsupported(format!("unknown format '{format}' (supported: json, csv, raw, avro, debezium-json, canal-json, maxwell-json)"))
}

/// A decoder for `format` producing batches of `schema`.
pub fn decoder(format: &str, schema: SchemaRef, options: &Options) -> Result<Box<dyn RecordDecoder>, FormatError> {
    match format {
        "json" => Ok(Box::new(json::JsonDecoder::new(schema, options)?)),
        "csv" => Ok(Box::new(csv::CsvDecoder::new(schema, options)?)),
        "raw" => Ok(Box::new(raw::RawDecoder::new(schema, options)?)),
        "avro" => Ok(Box::new(avro::AvroDecoder::new(schema, options)?)),
        other => match changelog::Flavor::of(other) {
            Some(f) => Ok(Box::new(changelog::ChangelogDecoder::new(f, schema, options)?)),
            None => Err(unknown(format)),
        },
    }
}

/// An encoder for `format` writing batches of `schema`.
pub fn encoder(format: &str, schema: SchemaRef, options: &Options) -> Result<Box<dyn RecordEncoder>, FormatError> {
    match format {
        "json" => Ok(Box::new(json::JsonEncoder::new(schema, options)?)),
        "csv" => Ok(Box::new(csv::CsvEncoder::new(schema, options)?)),
        "raw" => Ok(Box::new(raw::RawEncoder::new(schema, options)?)),
        "avro" => Ok(Box::new(avro::AvroEncoder::new(schema, options)?)),
        other => match changelog::Flavor::of(other) {
            Some(f) => Ok(Box::new(changelog::ChangelogEncoder::new(f, schema, options)?)),
            None => Err(unknown(format)),
        },
    }
}
