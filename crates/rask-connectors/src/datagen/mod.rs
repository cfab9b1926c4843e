//! `datagen`: generates random or sequential rows, with Flink's options
//! (`rows-per-second`, `number-of-rows`, `fields.#.kind|min|max|length|start|end|max-past|null-rate|var-len`).

mod options;
mod source;

use arrow::datatypes::SchemaRef;
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_runtime::connector::{Connector, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::options::{OptionSpec, Options};

pub struct Datagen;

impl Connector for Datagen {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: true, sink: false, lookup: false }
    }
    fn name(&self) -> &'static str {
        "datagen"
    }
    fn description(&self) -> &'static str {
        "Source that generates random or sequential rows at a given rate, bounded by number-of-rows or by a sequence."
    }
    fn option_specs(&self, _options: &Options) -> Vec<OptionSpec> {
        options::specs()
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, _primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        let plan = options::DatagenPlan::from_options(opts, schema)?;
        Ok(ConnectorCaps { source: true, sink: false, bounded: plan.is_bounded(), ..Default::default() })
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        let plan = options::DatagenPlan::from_options(&table.options, &ctx.schema).map_err(RuntimeError::User)?;
        Ok(Box::new(source::DatagenReader::new(plan, ctx)?))
    }
    fn create_sink(&self, _table: &TableDef, _ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        Err(RuntimeError::User("the datagen connector can only be used as a source".into()))
    }
}
