//! `filesystem`: reads and writes files of a row format (`json`, `csv`) under a path, with
//! Flink's options. A source reads a file or every file under a directory (files are split
//! among subtasks; a file is read by one subtask, as in Flink, since these formats are not
//! splittable); with `source.monitor-interval` it keeps watching for new files (unbounded).
//! A sink writes part files into the directory, rolling by size. As a lookup table it is read
//! whole into memory and re-read after `lookup.join.cache.ttl`.

mod lookup;
mod options;
mod sink;
mod source;

use arrow::datatypes::SchemaRef;
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_runtime::connector::{Connector, LookupCache, LookupContext, LookupFunction, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::options::{OptionSpec, Options};

pub struct Filesystem;

impl Connector for Filesystem {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: true, sink: true, lookup: true }
    }
    fn name(&self) -> &'static str {
        "filesystem"
    }
    fn description(&self) -> &'static str {
        "Files in a local directory, in a row format (json, csv, changelog json): bounded or monitored source, and rolling part-file sink, optionally partitioned into directories."
    }
    fn option_specs(&self, opts: &Options) -> Vec<OptionSpec> {
        options::specs(opts)
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, _primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        let o = options::FsOptions::from_options(opts, schema)?;
        let caps = crate::format_caps(&o.format, o.monitor_interval.is_none());
        // An insert-only table can be looked up (read whole, see `lookup.rs`).
        Ok(ConnectorCaps { lookup: !rask_formats::is_changelog(&o.format), partitioned: true, ..caps })
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        let o = options::FsOptions::from_options(&table.options, &ctx.schema).map_err(RuntimeError::User)?;
        Ok(Box::new(source::FileReader::new(o, table, ctx)?))
    }
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        let o = options::FsOptions::from_options(&table.options, &table.physical_schema()).map_err(RuntimeError::User)?;
        Ok(Box::new(sink::PartFileWriter::new(o, table, ctx)?))
    }
    fn create_lookup(&self, table: &TableDef, ctx: &LookupContext) -> Result<(Box<dyn LookupFunction>, LookupCache)> {
        if !table.partition_keys.is_empty() {
            return Err(RuntimeError::User(format!("table '{}': a PARTITIONED BY filesystem table cannot be a lookup table", table.name)));
        }
        // The function holds the whole table: no further cache.
        Ok((Box::new(lookup::FileLookup::new(table, ctx)?), LookupCache::None))
    }
}
