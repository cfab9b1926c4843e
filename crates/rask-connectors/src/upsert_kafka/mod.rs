//! `upsert-kafka`: a Kafka topic as a table keyed by its PRIMARY KEY (Flink's upsert-kafka
//! connector). Reading: every record from the earliest offset is an upsert of its key's row,
//! a record with a null value (tombstone) deletes the key; the planner puts a
//! `ChangelogNormalize` behind the source to make that a full changelog. Writing: inserts and
//! update-afters are records keyed by the primary key, deletes are tombstones, update-befores
//! are dropped; rows are hash-partitioned by the key, so a key's changes stay in order. The
//! reading and writing are the `kafka` connector's (options, delivery guarantees, exactly-once).

pub mod options;

use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{Connector, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::{ChangelogMode, ConnectorCaps, TableDef};
use rask_types::options::{OptionSpec, Options};

use crate::kafka::options::StopAt;

pub struct UpsertKafka;

fn table_options(table: &TableDef) -> Result<crate::kafka::KafkaOptions> {
    options::from_options(&table.options, table.primary_key.as_deref().unwrap_or_default()).map_err(RuntimeError::User)
}

impl Connector for UpsertKafka {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: true, sink: true, lookup: false }
    }
    fn name(&self) -> &'static str {
        "upsert-kafka"
    }
    fn description(&self) -> &'static str {
        "A Kafka topic as a table keyed by its primary key: upserts and tombstones in, a changelog out (and the reverse as a sink)."
    }
    fn option_specs(&self, opts: &Options) -> Vec<OptionSpec> {
        options::specs(opts)
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        let o = options::from_options(opts, primary_key)?;
        o.layout(schema)?;
        options::buffer(opts)?;
        Ok(ConnectorCaps {
            source: true,
            sink: true,
            bounded: o.stop != StopAt::Unbounded,
            produces: ChangelogMode::Upsert,
            accepts_updates: true,
            lookup: false,
            partitioned: false,
        })
    }
    fn readable_metadata(&self, _opts: &Options) -> Vec<(String, rask_types::types::FlinkTypeN)> {
        crate::kafka::source::MetaKey::ALL.iter().map(|(k, m)| (k.to_string(), m.flink_type())).collect()
    }
    fn writable_metadata(&self, _opts: &Options) -> Vec<(String, rask_types::types::FlinkTypeN)> {
        crate::kafka::writable_metadata()
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        let o = table_options(table)?;
        Ok(Box::new(crate::kafka::source::KafkaReader::new(&o, ctx, ctx.restore_all.as_deref())?))
    }
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        let o = table_options(table)?;
        let buffer = options::buffer(&table.options).map_err(RuntimeError::User)?;
        Ok(Box::new(crate::kafka::sink::KafkaWriter::new(&o, ctx, table.physical_schema())?.with_buffer(buffer).with_metadata(table)))
    }
}
