//! `blackhole`: a sink that discards every row (for benchmarks), as Flink's.

use arrow::datatypes::SchemaRef;
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_runtime::connector::{Connector, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::options::{OptionSpec, Options};
use rask_types::StreamBatch;

pub struct Blackhole;

struct Discard;

impl SinkWriter for Discard {
    fn write(&mut self, _batch: &StreamBatch) -> Result<()> {
        Ok(())
    }
    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

impl Connector for Blackhole {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: false, sink: true, lookup: false }
    }
    fn name(&self) -> &'static str {
        "blackhole"
    }
    fn description(&self) -> &'static str {
        "Sink that swallows all rows (for testing and benchmarks)."
    }
    fn option_specs(&self, _options: &Options) -> Vec<OptionSpec> {
        vec![]
    }
    fn validate(&self, options: &Options, _schema: &SchemaRef, _primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        crate::validate_specs("connector 'blackhole'", options, &[])?;
        Ok(ConnectorCaps { source: false, sink: true, accepts_updates: true, ..Default::default() })
    }
    fn create_source(&self, _table: &TableDef, _ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        Err(RuntimeError::User("the blackhole connector can only be used as a sink".into()))
    }
    fn create_sink(&self, _table: &TableDef, _ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        Ok(Box::new(Discard))
    }
}
