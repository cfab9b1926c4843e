//! `jdbc`: Flink's JDBC connector for PostgreSQL and MySQL/MariaDB, spoken over the databases'
//! own wire protocols (`tokio-postgres`, `mysql_async`; no JVM, no TLS yet). The source is a
//! bounded scan of a table, split into ranges by `scan.partition.*`; the sink writes in upsert
//! mode when the Rask table declares a PRIMARY KEY (it then accepts updates and deletes) and in
//! append mode otherwise, buffering changes and flushing them in one transaction per flush.
//! As the right side of a lookup join it looks a batch's keys up in one query (`lookup.rs`),
//! cached per Flink's `lookup.cache` options.
//!
//! `options.rs` (Flink's keys and checks, the URL), `dialect.rs` (SQL text), `db.rs` (the
//! connection and its errors), `values.rs` (values between Arrow and the databases),
//! `source.rs`, `sink.rs`, `lookup.rs`.

mod db;
mod dialect;
mod lookup;
mod options;
mod sink;
mod source;
mod values;

use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{Connector, LookupCache, LookupContext, LookupFunction, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::{ChangelogMode, ConnectorCaps, TableDef};
use rask_types::options::{OptionSpec, Options};

pub use options::JdbcOptions;

pub struct Jdbc;

impl Connector for Jdbc {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: true, sink: true, lookup: true }
    }
    fn name(&self) -> &'static str {
        "jdbc"
    }
    fn description(&self) -> &'static str {
        "PostgreSQL and MySQL/MariaDB tables: a bounded (optionally partitioned) scan source, a lookup table for lookup joins (with lookup.cache), and a sink that upserts and deletes by PRIMARY KEY (or appends without one)."
    }
    fn option_specs(&self, _opts: &Options) -> Vec<OptionSpec> {
        options::specs()
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        let o = JdbcOptions::from_options(opts)?;
        o.check_schema(schema)?;
        crate::lookup_cache(opts)?;
        Ok(ConnectorCaps { source: true, sink: true, bounded: true, produces: ChangelogMode::InsertOnly, accepts_updates: !primary_key.is_empty(), lookup: true, partitioned: false })
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        let o = JdbcOptions::from_options(&table.options).map_err(RuntimeError::User)?;
        Ok(Box::new(source::JdbcReader::new(o, ctx)?))
    }
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        let o = JdbcOptions::from_options(&table.options).map_err(RuntimeError::User)?;
        Ok(Box::new(sink::JdbcWriter::new(o, table, ctx)?))
    }
    fn create_lookup(&self, table: &TableDef, ctx: &LookupContext) -> Result<(Box<dyn LookupFunction>, LookupCache)> {
        let o = JdbcOptions::from_options(&table.options).map_err(RuntimeError::User)?;
        let cache = crate::lookup_cache(&table.options).map_err(RuntimeError::User)?;
        let retries = table.options.int("lookup.max-retries").map_err(RuntimeError::User)?.unwrap_or(3) as u32;
        Ok((Box::new(lookup::JdbcLookup::new(o, retries, ctx)), cache))
    }
}
