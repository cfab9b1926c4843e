//! `redis`: a lookup table for lookup joins and an upsert sink, over the `redis` crate's
//! synchronous client. Rows map to Redis data by `mode` (see [`options::Layout`]): STRING
//! (`key → value`), HASHMAP with `hashName` (`field → value` in one hash), HASHMAP keyed by
//! (key, field), or HASHMAP keyed by key with one hash field per further column. Both sides
//! send a batch's commands in one pipeline (one round trip per batch). The sink writes +I/+U
//! rows and deletes on -D (unless `ignoreDelete`); -U rows are skipped, as in an upsert sink.
//! Writes are idempotent per key, so replay after a failure converges (at least once, as
//! Alibaba's connector).
//!
//! `options.rs` (options, layouts), `lookup.rs`, `sink.rs`.

mod lookup;
mod options;
mod sink;

use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{Connector, LookupCache, LookupContext, LookupFunction, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_types::options::{OptionSpec, Options};

pub use options::RedisOptions;

pub struct Redis;

fn options(table: &TableDef) -> Result<RedisOptions> {
    let pk = table.primary_key.clone().unwrap_or_default();
    RedisOptions::from_options(&table.options, &table.physical_schema(), &pk).map_err(RuntimeError::User)
}

/// A connection within the options' timeout, with the timeout on every command too.
fn connect(o: &RedisOptions) -> Result<::redis::Connection> {
    let fail = |e: ::redis::RedisError| RuntimeError::External(format!("redis: cannot connect to {}: {e}", o.address));
    let client = ::redis::Client::open(o.url.as_str()).map_err(fail)?;
    let conn = client.get_connection_with_timeout(o.timeout).map_err(fail)?;
    conn.set_read_timeout(Some(o.timeout)).map_err(fail)?;
    conn.set_write_timeout(Some(o.timeout)).map_err(fail)?;
    Ok(conn)
}

impl Connector for Redis {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: false, sink: true, lookup: true }
    }
    fn name(&self) -> &'static str {
        "redis"
    }
    fn description(&self) -> &'static str {
        "Redis: a lookup table for lookup joins (optional LRU cache) and an upsert sink (STRING or HASHMAP data)."
    }
    fn option_specs(&self, _opts: &Options) -> Vec<OptionSpec> {
        options::specs()
    }
    fn validate(&self, opts: &Options, schema: &SchemaRef, primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        RedisOptions::from_options(opts, schema, primary_key)?;
        RedisOptions::cache(opts)?;
        Ok(ConnectorCaps { source: false, sink: true, accepts_updates: true, lookup: true, ..Default::default() })
    }
    fn create_source(&self, table: &TableDef, _ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        Err(RuntimeError::User(format!("table '{}': connector 'redis' cannot be scanned; use it as a lookup table or a sink", table.name)))
    }
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        Ok(Box::new(sink::RedisWriter::new(options(table)?, ctx)?))
    }
    fn create_lookup(&self, table: &TableDef, ctx: &LookupContext) -> Result<(Box<dyn LookupFunction>, LookupCache)> {
        let cache = RedisOptions::cache(&table.options).map_err(RuntimeError::User)?;
        Ok((Box::new(lookup::RedisLookup::new(options(table)?, ctx)?), cache))
    }
}
