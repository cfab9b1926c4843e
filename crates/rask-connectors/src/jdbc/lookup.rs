//! The lookup side of a lookup join against a JDBC table: a batch's keys are asked in one
//! `SELECT … WHERE k IN (…)` per chunk of keys (instead of Flink's one query per key), on one
//! connection per subtask, reconnecting and retrying `lookup.max-retries` times when the
//! connection is lost. Rows are matched back to their keys by value.

use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use rask_runtime::connector::{LookupContext, LookupFunction};
use rask_runtime::error::{Result, RuntimeError};

use super::db::{Db, ErrorKind};
use super::dialect::Statements;
use super::options::JdbcOptions;
use super::values::{param, ColumnBuilder, Param};

pub struct JdbcLookup {
    opts: JdbcOptions,
    sql: Statements,
    schema: SchemaRef,
    keys: Vec<usize>,
    db: Option<Db>,
    max_retries: u32,
    subtask: usize,
}

impl JdbcLookup {
    pub fn new(opts: JdbcOptions, max_retries: u32, ctx: &LookupContext) -> Self {
        let columns: Vec<String> = ctx.schema.fields().iter().map(|f| f.name().clone()).collect();
        let sql = Statements::new(opts.endpoint.dialect, &opts.table, &columns, Vec::new());
        JdbcLookup { opts, sql, schema: ctx.schema.clone(), keys: ctx.keys.clone(), db: None, max_retries, subtask: ctx.subtask }
    }

    fn connection(&mut self) -> Result<&mut Db> {
        if self.db.is_none() {
            let db = Db::connect(&self.opts.endpoint, self.opts.connect_timeout, &format!("rask lookup {} #{}", self.opts.table, self.subtask))
                .map_err(|e| RuntimeError::External(format!("jdbc lookup: cannot connect to {}: {}", self.opts.endpoint.describe(), e.message)))?;
            self.db = Some(db);
        }
        Ok(self.db.as_mut().expect("connected above"))
    }

    fn builders(&self) -> Result<Vec<ColumnBuilder>> {
        self.schema.fields().iter().map(|f| ColumnBuilder::new(f.name(), f.data_type())).collect::<std::result::Result<Vec<_>, _>>().map_err(RuntimeError::User)
    }

    /// All rows of the keys `rows` of `keys`.
    fn query(&mut self, keys: &RecordBatch, rows: std::ops::Range<usize>) -> Result<RecordBatch> {
        let sql = self.sql.lookup(&self.keys, rows.len());
        let mut params: Vec<Param<'_>> = Vec::with_capacity(rows.len() * self.keys.len());
        for r in rows.clone() {
            for c in keys.columns() {
                params.push(param(c, r).map_err(RuntimeError::Internal)?);
            }
        }
        let mut attempt = 0;
        loop {
            let mut columns = self.builders()?;
            let result = self.connection()?.query(&sql, &params, &mut columns);
            match result {
                Ok(n) => {
                    let arrays = columns.iter_mut().map(|c| c.finish()).collect::<std::result::Result<Vec<_>, _>>().map_err(RuntimeError::Internal)?;
                    return Ok(RecordBatch::try_new_with_options(self.schema.clone(), arrays, &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)))?);
                }
                Err(e) if e.kind != ErrorKind::Data && attempt < self.max_retries => {
                    attempt += 1;
                    tracing::warn!("lookup in '{}' failed (attempt {attempt} of {}): {}; retrying", self.opts.table, self.max_retries + 1, e.message);
                    if e.kind == ErrorKind::Connection {
                        self.db = None;
                    }
                    std::thread::sleep(Duration::from_millis(200 * attempt as u64));
                }
                Err(e) => {
                    let what = if e.kind == ErrorKind::Data { RuntimeError::User } else { RuntimeError::External };
                    return Err(what(format!("lookup in table '{}' of {}: {}", self.opts.table, self.opts.endpoint.describe(), e.message)));
                }
            }
        }
    }
}

impl LookupFunction for JdbcLookup {
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>)> {
        let chunk = self.sql.rows_per_statement(self.keys.len());
        let mut parts = Vec::new();
        let mut start = 0;
        while start < keys.num_rows() {
            let end = (start + chunk).min(keys.num_rows());
            parts.push(self.query(keys, start..end)?);
            start = end;
        }
        let found = arrow::compute::concat_batches(&self.schema, &parts)?;
        let n = found.num_rows();
        // Each row's key, by value (the table's key columns have the key batch's types).
        let fields: Vec<SortField> = keys.columns().iter().map(|c| SortField::new(c.data_type().clone())).collect();
        let conv = RowConverter::new(fields)?;
        let wanted = conv.convert_columns(keys.columns())?;
        let index: HashMap<&[u8], u32> = (0..keys.num_rows()).map(|i| (wanted.row(i).data(), i as u32)).collect();
        let got_cols: Vec<ArrayRef> = self.keys.iter().map(|k| found.column(*k).clone()).collect();
        let got = conv.convert_columns(&got_cols)?;
        let mut keep = Vec::with_capacity(n);
        let mut owner = Vec::with_capacity(n);
        for r in 0..n {
            // A row the database matched by its own rules (e.g. a case-insensitive collation)
            // but that does not equal the key is not the key's row in Flink SQL either.
            if let Some(k) = index.get(got.row(r).data()) {
                keep.push(r as u32);
                owner.push(*k);
            }
        }
        let found = if keep.len() == n { found } else { arrow::compute::take_record_batch(&found, &arrow::array::UInt32Array::from(keep))? };
        Ok((found, owner))
    }
}
