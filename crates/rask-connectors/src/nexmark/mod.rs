//! `nexmark`: the Nexmark benchmark's event generator as a source (Person / Auction / Bid events
//! in the 1:3:46 proportion, hot auctions/bidders/sellers, event time advancing at a fixed rate),
//! with the options of Flink's nexmark connector. The table has the nested layout of Flink's
//! nexmark DDL (`event_type`, `person ROW<…>`, `auction ROW<…>`, `bid ROW<…>`); the `person`,
//! `auction` and `bid` views are plain SQL over it (`nexmark/ddl.sql`).

mod model;
mod options;
mod source;

use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{Connector, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_types::options::{OptionSpec, Options};

use options::NexmarkConfig;

pub struct Nexmark;

impl Connector for Nexmark {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: true, sink: false, lookup: false }
    }
    fn name(&self) -> &'static str {
        "nexmark"
    }
    fn description(&self) -> &'static str {
        "Source of Nexmark benchmark events (persons, auctions, bids), deterministic for a seed, bounded by events.num."
    }
    fn option_specs(&self, _options: &Options) -> Vec<OptionSpec> {
        options::specs()
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, _primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        let cfg = NexmarkConfig::from_options(opts)?;
        model::check_schema(schema)?;
        Ok(ConnectorCaps { source: true, sink: false, bounded: cfg.events.is_some() && !cfg.keep_alive, ..Default::default() })
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        let cfg = NexmarkConfig::from_options(&table.options).map_err(RuntimeError::User)?;
        model::check_schema(&ctx.schema).map_err(RuntimeError::User)?;
        Ok(Box::new(source::NexmarkReader::new(cfg, ctx)?))
    }
    fn create_sink(&self, _table: &TableDef, _ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        Err(RuntimeError::User("the nexmark connector can only be used as a source".into()))
    }
}
