//! `kafka`: Flink's Kafka connector over librdkafka (the `rdkafka` crate). The source reads
//! the partitions of one or more topics (or a topic pattern) with a startup mode and an optional
//! bounded mode, its offsets stored in checkpoints; the sink produces one record per row,
//! at-least-once, exactly-once (transactions) or without guarantee. Values in `json`, `csv`,
//! `raw` or `avro`, keys (`key.format`/`key.fields`) likewise; metadata columns on the source,
//! `headers` and `timestamp` on the sink.

pub(crate) mod options;
pub(crate) mod sink;
pub(crate) mod source;

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{Connector, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_types::options::{OptionSpec, Options};

pub use options::KafkaOptions;

pub struct Kafka;

/// What a sink can write (Flink's Kafka writable metadata): record headers and timestamp.
pub(crate) fn writable_metadata() -> Vec<(String, rask_types::types::FlinkTypeN)> {
    use rask_types::types::{FlinkType, FlinkTypeN};
    vec![
        ("headers".into(), FlinkTypeN { ty: FlinkType::Map(Box::new(FlinkType::String), Box::new(FlinkType::Bytes)), nullable: true }),
        ("timestamp".into(), FlinkTypeN { ty: FlinkType::TimestampLtz(3), nullable: true }),
    ]
}

/// A client error: a bad property is the user's, anything else the broker's side.
pub(crate) fn client_error(e: rdkafka::error::KafkaError) -> RuntimeError {
    match e {
        rdkafka::error::KafkaError::ClientConfig(_, ref msg, ref key, ref value) => {
            RuntimeError::User(format!("option 'properties.{key}' = '{value}' is not a valid Kafka client property: {msg}"))
        }
        e => RuntimeError::External(format!("Kafka client: {e}")),
    }
}

/// The brokers' metadata of `topic` (all topics: `None`), within the table's timeout.
pub(crate) fn fetch_metadata<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>, topic: Option<&str>, opts: &KafkaOptions) -> Result<rdkafka::metadata::Metadata> {
    let wait = timeout(opts);
    client.fetch_metadata(topic, wait).map_err(|e| {
        RuntimeError::External(format!("cannot read the metadata of Kafka brokers '{}' within {} s: {e}", servers(opts), wait.as_secs()))
    })
}

/// A topic missing from the brokers' metadata.
pub(crate) fn no_topic(topic: &str, opts: &KafkaOptions) -> RuntimeError {
    RuntimeError::User(format!("Kafka topic '{topic}' does not exist on brokers '{}'", servers(opts)))
}

/// `properties.bootstrap.servers` (required by validation).
fn servers(opts: &KafkaOptions) -> &str {
    opts.properties.get("bootstrap.servers").map_or("", String::as_str)
}

/// How long metadata and offset requests may take (`properties.default.api.timeout.ms`, the
/// Java client's key, else 30 s).
pub(crate) fn timeout(opts: &KafkaOptions) -> Duration {
    opts.properties.get("default.api.timeout.ms").and_then(|v| v.parse::<u64>().ok()).map_or(Duration::from_secs(30), Duration::from_millis)
}

impl Connector for Kafka {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: true, sink: true, lookup: false }
    }
    fn name(&self) -> &'static str {
        "kafka"
    }
    fn description(&self) -> &'static str {
        "Apache Kafka topics: a partitioned source (startup and bounded modes, offsets in checkpoints) and a sink (none, at-least-once or exactly-once)."
    }
    fn option_specs(&self, opts: &Options) -> Vec<OptionSpec> {
        options::specs(opts)
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, _primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        let o = KafkaOptions::from_options(opts)?;
        o.layout(schema)?;
        Ok(crate::format_caps(&o.format, o.stop != options::StopAt::Unbounded))
    }
    fn readable_metadata(&self, _opts: &Options) -> Vec<(String, rask_types::types::FlinkTypeN)> {
        source::MetaKey::ALL.iter().map(|(k, m)| (k.to_string(), m.flink_type())).collect()
    }
    fn writable_metadata(&self, _opts: &Options) -> Vec<(String, rask_types::types::FlinkTypeN)> {
        writable_metadata()
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        let o = KafkaOptions::from_options(&table.options).map_err(RuntimeError::User)?;
        Ok(Box::new(source::KafkaReader::new(&o, ctx, ctx.restore_all.as_deref())?))
    }
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        let o = KafkaOptions::from_options(&table.options).map_err(RuntimeError::User)?;
        Ok(Box::new(sink::KafkaWriter::new(&o, ctx, table.physical_schema())?.with_metadata(table)))
    }
}
