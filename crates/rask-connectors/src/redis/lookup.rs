//! Redis as a lookup table: one pipeline of GET / HGET / HGETALL per batch of keys.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{LookupContext, LookupFunction};
use rask_runtime::error::{Result, RuntimeError};

use super::options::{Layout, RedisOptions};

pub struct RedisLookup {
    opts: RedisOptions,
    schema: SchemaRef,
    /// Key columns of the schema, in the order of the key batches' columns.
    keys: Vec<usize>,
    conn: Option<::redis::Connection>,
}

impl RedisLookup {
    pub fn new(opts: RedisOptions, ctx: &LookupContext) -> Result<Self> {
        // The lookup must be by the whole Redis key (the primary key).
        let pk: Vec<usize> = match opts.layout {
            Layout::Hash => vec![0, 1],
            _ => vec![0],
        };
        let mut sorted = ctx.keys.clone();
        sorted.sort_unstable();
        if sorted != pk {
            let names: Vec<&str> = pk.iter().map(|i| ctx.schema.field(*i).name().as_str()).collect();
            return Err(RuntimeError::User(format!(
                "a lookup join on a redis table must have an equality condition on each of its primary key columns ({}) and may not look up by other columns",
                names.join(", ")
            )));
        }
        Ok(RedisLookup { opts, schema: ctx.schema.clone(), keys: ctx.keys.clone(), conn: None })
    }

    fn run<T: ::redis::FromRedisValue>(&mut self, pipe: &::redis::Pipeline) -> Result<T> {
        // One reconnect: a server restart or an idle connection closed by the server.
        for attempt in 0..2 {
            if self.conn.is_none() {
                self.conn = Some(super::connect(&self.opts)?);
            }
            let conn = self.conn.as_mut().expect("connected above");
            match pipe.query::<T>(conn) {
                Ok(v) => return Ok(v),
                Err(e) if attempt == 0 && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout()) => {
                    tracing::warn!("redis lookup on {} failed ({e}); reconnecting", self.opts.address);
                    self.conn = None;
                }
                Err(e) => return Err(RuntimeError::External(format!("redis lookup on {}: {e}", self.opts.address))),
            }
        }
        unreachable!("the second attempt returns")
    }
}

impl LookupFunction for RedisLookup {
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>)> {
        let n = keys.num_rows();
        // The key batch's columns in schema order.
        let col = |schema_col: usize| -> Result<&arrow::array::StringArray> {
            let i = self.keys.iter().position(|k| *k == schema_col).ok_or_else(|| RuntimeError::Internal("lookup key missing".into()))?;
            keys.column(i).as_string_opt::<i32>().ok_or_else(|| RuntimeError::Internal("redis lookup keys must be strings".into()))
        };
        let first = col(0)?;
        let mut pipe = ::redis::pipe();
        let width = self.schema.fields().len();
        let mut builders: Vec<StringBuilder> = (0..width).map(|_| StringBuilder::new()).collect();
        let mut owner = Vec::new();
        match &self.opts.layout {
            Layout::String | Layout::NamedHash(_) => {
                for i in 0..n {
                    match &self.opts.layout {
                        Layout::NamedHash(h) => pipe.cmd("HGET").arg(h).arg(first.value(i)),
                        _ => pipe.cmd("GET").arg(first.value(i)),
                    };
                }
                let values: Vec<Option<String>> = self.run(&pipe)?;
                for (i, v) in values.into_iter().enumerate() {
                    if let Some(v) = v {
                        builders[0].append_value(first.value(i));
                        builders[1].append_value(v);
                        owner.push(i as u32);
                    }
                }
            }
            Layout::Hash => {
                let field = col(1)?;
                for i in 0..n {
                    pipe.cmd("HGET").arg(first.value(i)).arg(field.value(i));
                }
                let values: Vec<Option<String>> = self.run(&pipe)?;
                for (i, v) in values.into_iter().enumerate() {
                    if let Some(v) = v {
                        builders[0].append_value(first.value(i));
                        builders[1].append_value(field.value(i));
                        builders[2].append_value(v);
                        owner.push(i as u32);
                    }
                }
            }
            Layout::Flat => {
                for i in 0..n {
                    pipe.cmd("HGETALL").arg(first.value(i));
                }
                let values: Vec<std::collections::HashMap<String, String>> = self.run(&pipe)?;
                for (i, fields) in values.into_iter().enumerate() {
                    // A missing hash reads as an empty one: no row.
                    if fields.is_empty() {
                        continue;
                    }
                    builders[0].append_value(first.value(i));
                    for (c, b) in builders.iter_mut().enumerate().skip(1) {
                        b.append_option(fields.get(self.schema.field(c).name()));
                    }
                    owner.push(i as u32);
                }
            }
        }
        let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        Ok((RecordBatch::try_new(self.schema.clone(), arrays)?, owner))
    }
}
