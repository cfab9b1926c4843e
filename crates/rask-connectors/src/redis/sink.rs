//! Redis as an upsert sink: each batch becomes one pipeline of SET / HSET / DEL / HDEL
//! commands (one round trip), sent when the batch is written; a failure fails the job with
//! the server's message (the restart replays from the last checkpoint; writes are idempotent).

use arrow::array::{Array, AsArray, StringArray};
use rask_runtime::connector::{SinkContext, SinkWriter};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::{RowKind, StreamBatch};

use super::options::{Layout, RedisOptions};

pub struct RedisWriter {
    opts: RedisOptions,
    conn: Option<::redis::Connection>,
    names: Vec<String>,
}

impl RedisWriter {
    pub fn new(opts: RedisOptions, ctx: &SinkContext) -> Result<Self> {
        let names = ctx.schema.fields().iter().map(|f| f.name().clone()).collect();
        Ok(RedisWriter { conn: Some(super::connect(&opts)?), opts, names })
    }

    /// Row `r`'s value of key column `c` (a Redis key or field cannot be NULL).
    fn key<'a>(&self, cols: &[&'a StringArray], c: usize, r: usize) -> std::result::Result<&'a str, String> {
        if cols[c].is_null(r) {
            return Err(format!("NULL in key column '{}'", self.names[c]));
        }
        Ok(cols[c].value(r))
    }

    /// SET/HSET a row's value(s), with the key's time to live.
    fn put(&self, pipe: &mut ::redis::Pipeline, cols: &[&StringArray], r: usize) -> std::result::Result<(), String> {
        let key = |c: usize| self.key(cols, c, r);
        let ttl = self.opts.expiration_ms;
        match &self.opts.layout {
            Layout::String => {
                let k = key(0)?;
                if cols[1].is_null(r) {
                    pipe.cmd("DEL").arg(k).ignore();
                } else if ttl > 0 {
                    pipe.cmd("SET").arg(k).arg(cols[1].value(r)).arg("PX").arg(ttl).ignore();
                } else {
                    pipe.cmd("SET").arg(k).arg(cols[1].value(r)).ignore();
                }
            }
            Layout::NamedHash(h) => {
                let f = key(0)?;
                if cols[1].is_null(r) {
                    pipe.cmd("HDEL").arg(h).arg(f).ignore();
                } else {
                    pipe.cmd("HSET").arg(h).arg(f).arg(cols[1].value(r)).ignore();
                }
                if ttl > 0 {
                    pipe.cmd("PEXPIRE").arg(h).arg(ttl).ignore();
                }
            }
            Layout::Hash => {
                let (k, f) = (key(0)?, key(1)?);
                if cols[2].is_null(r) {
                    pipe.cmd("HDEL").arg(k).arg(f).ignore();
                } else {
                    pipe.cmd("HSET").arg(k).arg(f).arg(cols[2].value(r)).ignore();
                }
                if ttl > 0 {
                    pipe.cmd("PEXPIRE").arg(k).arg(ttl).ignore();
                }
            }
            Layout::Flat => {
                let k = key(0)?;
                // The row replaces the hash: fields of NULL columns are removed.
                let nulls: Vec<&str> = (1..cols.len()).filter(|c| cols[*c].is_null(r)).map(|c| self.names[c].as_str()).collect();
                if !nulls.is_empty() {
                    pipe.cmd("HDEL").arg(k).arg(nulls).ignore();
                }
                let mut set = ::redis::cmd("HSET");
                set.arg(k);
                let mut any = false;
                for c in 1..cols.len() {
                    if !cols[c].is_null(r) {
                        set.arg(&self.names[c]).arg(cols[c].value(r));
                        any = true;
                    }
                }
                if any {
                    pipe.add_command(set).ignore();
                }
                if ttl > 0 {
                    pipe.cmd("PEXPIRE").arg(k).arg(ttl).ignore();
                }
            }
        }
        Ok(())
    }

    fn delete(&self, pipe: &mut ::redis::Pipeline, cols: &[&StringArray], r: usize) -> std::result::Result<(), String> {
        let key = |c: usize| self.key(cols, c, r);
        match &self.opts.layout {
            Layout::String | Layout::Flat => pipe.cmd("DEL").arg(key(0)?).ignore(),
            Layout::NamedHash(h) => pipe.cmd("HDEL").arg(h).arg(key(0)?).ignore(),
            Layout::Hash => pipe.cmd("HDEL").arg(key(0)?).arg(key(1)?).ignore(),
        };
        Ok(())
    }
}

fn row_text(cols: &[&StringArray], r: usize) -> String {
    let vals: Vec<String> = cols.iter().map(|c| if c.is_null(r) { "NULL".into() } else { c.value(r).to_string() }).collect();
    format!("[{}]", vals.join(", "))
}

impl SinkWriter for RedisWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        let cols: Vec<&StringArray> = batch
            .data
            .columns()
            .iter()
            .map(|c| c.as_string_opt::<i32>().ok_or_else(|| RuntimeError::Internal("redis sink columns must be strings".into())))
            .collect::<Result<_>>()?;
        let mut pipe = ::redis::pipe();
        for r in 0..batch.num_rows() {
            let kind = batch.kind(r);
            let res = match kind {
                RowKind::Insert | RowKind::UpdateAfter => self.put(&mut pipe, &cols, r),
                RowKind::Delete if !self.opts.ignore_delete => self.delete(&mut pipe, &cols, r),
                _ => Ok(()),
            };
            res.map_err(|e| RuntimeError::User(format!("redis sink: {e} in row {}{}", kind.short(), row_text(&cols, r))))?;
        }
        if pipe.is_empty() {
            return Ok(());
        }
        let conn = match self.conn.as_mut() {
            Some(c) => c,
            None => self.conn.insert(super::connect(&self.opts)?),
        };
        if let Err(e) = pipe.exec(conn) {
            self.conn = None;
            return Err(RuntimeError::External(format!("redis sink: writing to {}: {e}", self.opts.address)));
        }
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        // Every batch was written when it arrived.
        Ok(Vec::new())
    }
}
