//! Writing to a database table, as Flink's `JdbcOutputFormat`:
//!
//! - **Upsert mode** (the Rask table has a PRIMARY KEY): changes are buffered and reduced per
//!   key — the last change of a key in the buffer wins (+I/+U: upsert, -D: delete; -U is
//!   ignored, as Flink's upsert sink never receives it) — then written as multi-row upserts
//!   (PostgreSQL `INSERT … ON CONFLICT (key) DO UPDATE`, MySQL `INSERT … ON DUPLICATE KEY
//!   UPDATE`) and `DELETE … WHERE key IN (…)`.
//! - **Append mode** (no key): rows are buffered and written as multi-row INSERTs.
//!
//! A flush writes the whole buffer in one transaction; it happens when
//! `sink.buffer-flush.max-rows` changes were buffered, every `sink.buffer-flush.interval` (on a
//! background thread, as Flink's scheduled flush) and always at `prepare_commit`, i.e. at every
//! checkpoint barrier and at the end of input. Upserts and deletes by key are idempotent, so
//! after a failure the changes replayed since the last checkpoint leave the table as a run
//! without failures would (append mode is at-least-once).
//!
//! A flush that fails because the connection is gone (or on a deadlock) is retried up to
//! `sink.max-retries` times, reconnecting, with Flink's backoff (0 s, 1 s, 2 s, …); then the
//! job fails with an external error (the restart strategy takes over). An error of the data or
//! the schema (a constraint, a value the column's type cannot take, a missing table) is not
//! retried: the rows are tried one by one in a transaction that is rolled back, to name the
//! offending row, and the job fails with the table, that row and the database's message.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow::row::{OwnedRow, RowConverter, SortField};
use rask_runtime::connector::{SinkContext, SinkWriter};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::TableDef;
use rask_types::batch::RowKind;
use rask_types::StreamBatch;

use super::db::{Db, DbError, ErrorKind, Stmt};
use super::dialect::Statements;
use super::options::JdbcOptions;
use super::values::param;

/// One buffered change: a row of a buffered batch, written as upsert/insert or as delete.
#[derive(Debug, Clone, Copy)]
struct Change {
    batch: u32,
    row: u32,
    delete: bool,
}

/// The buffer and the connection (guarded together: the background flusher uses both).
struct Output {
    opts: JdbcOptions,
    sql: Statements,
    ncols: usize,
    /// Primary key column positions (empty: append mode).
    key: Vec<usize>,
    converter: Option<RowConverter>,
    batches: Vec<StreamBatch>,
    changes: Vec<Change>,
    /// Upsert mode: the change of each buffered key.
    by_key: HashMap<OwnedRow, usize>,
    /// Changes received since the last flush (Flink's batch count, duplicates included).
    received: usize,
    db: Option<Db>,
}

/// Why a flush attempt failed.
enum Failure {
    /// Retry after reconnecting (Connection) or on the same connection (Transient).
    Retry(ErrorKind, String),
    /// Fail the job: the message names the table, the row and the database's error.
    Fatal(RuntimeError),
}

struct State {
    out: Output,
    /// A background flush failed: reported by the next write or barrier.
    failure: Option<RuntimeError>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

pub struct JdbcWriter {
    shared: Arc<Shared>,
    max_rows: usize,
    flusher: Option<JoinHandle<()>>,
}

fn poisoned<T>(_: T) -> RuntimeError {
    RuntimeError::Internal("jdbc sink: a flush panicked".into())
}

impl JdbcWriter {
    pub fn new(opts: JdbcOptions, table: &TableDef, ctx: &SinkContext) -> Result<Self> {
        let schema = ctx.schema.clone();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let key = table
            .primary_key
            .iter()
            .flatten()
            .map(|k| schema.index_of(k).map_err(|_| RuntimeError::Internal(format!("jdbc sink: primary key column '{k}' is not a column of the sink"))))
            .collect::<Result<Vec<usize>>>()?;
        let converter = if key.is_empty() {
            None
        } else {
            Some(RowConverter::new(key.iter().map(|k| SortField::new(schema.field(*k).data_type().clone())).collect())?)
        };
        let sql = Statements::new(opts.endpoint.dialect, &opts.table, &columns, key.clone());
        // Connect now: a wrong address or password fails the job before any row is read.
        let db = Some(connect(&opts)?);
        let interval = opts.flush_interval;
        let max_rows = opts.flush_max_rows;
        let out = Output {
            opts,
            sql,
            ncols: columns.len(),
            key,
            converter,
            batches: Vec::new(),
            changes: Vec::new(),
            by_key: HashMap::new(),
            received: 0,
            db,
        };
        let shared = Arc::new(Shared { state: Mutex::new(State { out, failure: None, closed: false }), wake: Condvar::new() });
        let flusher = if interval.is_zero() {
            None
        } else {
            let s = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name(format!("jdbc-flush-{}", ctx.subtask))
                    .spawn(move || flush_periodically(&s, interval))
                    .map_err(|e| RuntimeError::Internal(format!("cannot start the jdbc flush thread: {e}")))?,
            )
        };
        Ok(JdbcWriter { shared, max_rows, flusher })
    }
}

fn connect(opts: &JdbcOptions) -> Result<Db> {
    Db::connect(&opts.endpoint, opts.connect_timeout, &format!("rask sink {}", opts.table)).map_err(|e| {
        let msg = format!("jdbc sink: cannot connect to {}: {}", opts.endpoint.describe(), e.message);
        if e.kind == ErrorKind::Data { RuntimeError::User(msg) } else { RuntimeError::External(msg) }
    })
}

/// The background flush every `interval` (Flink's scheduled flush).
fn flush_periodically(shared: &Shared, interval: Duration) {
    let Ok(mut st) = shared.state.lock() else { return };
    loop {
        // Checked before waiting too: the writer may have closed before this thread ran.
        if st.closed {
            return;
        }
        st = match shared.wake.wait_timeout(st, interval) {
            Ok((g, _)) => g,
            Err(_) => return,
        };
        if st.closed {
            return;
        }
        if st.failure.is_none()
            && let Err(e) = st.out.flush()
        {
            st.failure = Some(e);
        }
    }
}

impl Output {
    fn add(&mut self, batch: &StreamBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let b = self.batches.len() as u32;
        self.batches.push(batch.clone());
        match &self.converter {
            None => {
                for row in 0..n {
                    let kind = batch.kind(row);
                    if kind != RowKind::Insert {
                        return Err(RuntimeError::Internal(format!("jdbc sink in append mode (no primary key) received a {} row", kind.short())));
                    }
                    self.changes.push(Change { batch: b, row: row as u32, delete: false });
                }
                self.received += n;
            }
            Some(conv) => {
                let cols: Vec<_> = self.key.iter().map(|k| batch.data.column(*k).clone()).collect();
                let keys = conv.convert_columns(&cols)?;
                for row in 0..n {
                    let kind = batch.kind(row);
                    if kind == RowKind::UpdateBefore {
                        continue;
                    }
                    let c = Change { batch: b, row: row as u32, delete: kind == RowKind::Delete };
                    match self.by_key.entry(keys.row(row).owned()) {
                        Entry::Occupied(e) => self.changes[*e.get()] = c,
                        Entry::Vacant(e) => {
                            e.insert(self.changes.len());
                            self.changes.push(c);
                        }
                    }
                    self.received += 1;
                }
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.batches.clear();
        self.changes.clear();
        self.by_key.clear();
        self.received = 0;
    }

    /// Write the buffer in one transaction, retrying transient failures.
    fn flush(&mut self) -> Result<()> {
        if self.changes.is_empty() {
            self.clear();
            return Ok(());
        }
        let mut attempt: u32 = 0;
        loop {
            match self.attempt() {
                Ok(()) => {
                    self.clear();
                    return Ok(());
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(kind, msg)) => {
                    if kind == ErrorKind::Connection {
                        self.db = None;
                    }
                    if attempt >= self.opts.max_retries {
                        return Err(RuntimeError::External(format!(
                            "jdbc sink: writing {} changes to table '{}' ({}) failed after {} attempt(s): {msg}",
                            self.changes.len(),
                            self.opts.table,
                            self.opts.endpoint.describe(),
                            attempt + 1
                        )));
                    }
                    tracing::warn!("jdbc sink: writing to table '{}' failed (attempt {}), retrying: {msg}", self.opts.table, attempt + 1);
                    std::thread::sleep(Duration::from_secs(attempt as u64));
                    attempt += 1;
                }
            }
        }
    }

    /// One try at writing the buffer.
    fn attempt(&mut self) -> std::result::Result<(), Failure> {
        if self.db.is_none() {
            self.db = Some(connect(&self.opts).map_err(|e| match e {
                RuntimeError::External(m) => Failure::Retry(ErrorKind::Connection, m),
                e => Failure::Fatal(e),
            })?);
        }
        let Output { opts, sql, ncols, key, batches, changes, db, .. } = self;
        let Some(db) = db.as_mut() else { return Err(Failure::Retry(ErrorKind::Connection, "not connected".into())) };
        let view = View { opts, sql, ncols: *ncols, key, batches, changes };
        let all: Vec<usize> = (0..changes.len()).collect();
        let (stmts, rows) = view.statements(&all, false).map_err(Failure::Fatal)?;
        let (at, err) = match db.transaction(&stmts, true) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if err.kind != ErrorKind::Data {
            return Err(Failure::Retry(err.kind, err.message));
        }
        // Find the offending change: the statements before the failing one as they were,
        // then the failing one's rows one by one, all rolled back.
        let Some(at) = at else { return Err(Failure::Fatal(view.fatal(None, &err))) };
        let (singles, single_rows) = view.statements(&rows[at], true).map_err(Failure::Fatal)?;
        let mut probe: Vec<Stmt<'_>> = stmts[..at].to_vec();
        probe.extend(singles);
        match db.transaction(&probe, false) {
            Err((Some(j), e)) if j >= at && e.kind == ErrorKind::Data => Err(Failure::Fatal(view.fatal(single_rows[j - at].first().copied(), &e))),
            Err((_, e)) if e.kind != ErrorKind::Data => Err(Failure::Retry(e.kind, e.message)),
            _ => Err(Failure::Fatal(view.fatal(rows[at].first().copied(), &err))),
        }
    }
}

/// The buffer as the statements see it (borrowed apart from the connection).
struct View<'a> {
    opts: &'a JdbcOptions,
    sql: &'a Statements,
    ncols: usize,
    key: &'a [usize],
    batches: &'a [StreamBatch],
    changes: &'a [Change],
}

impl<'a> View<'a> {
    /// The statements writing `which` (indices into the changes), one row each if `single`,
    /// and for each statement the changes it writes.
    fn statements(&self, which: &[usize], single: bool) -> Result<(Vec<Stmt<'a>>, Vec<Vec<usize>>)> {
        let upsert = !self.key.is_empty();
        let (writes, deletes): (Vec<usize>, Vec<usize>) = which.iter().partition(|i| !self.changes[**i].delete);
        let mut stmts = Vec::new();
        let mut rows = Vec::new();
        let per_write = if single { 1 } else { self.sql.rows_per_statement(self.ncols) };
        for chunk in writes.chunks(per_write) {
            let sql = if upsert { self.sql.upsert(chunk.len()) } else { self.sql.insert(chunk.len()) };
            let mut params = Vec::with_capacity(chunk.len() * self.ncols);
            for i in chunk {
                let c = self.changes[*i];
                let data = &self.batches[c.batch as usize].data;
                for col in data.columns() {
                    params.push(param(col, c.row as usize).map_err(RuntimeError::User)?);
                }
            }
            stmts.push((sql, params));
            rows.push(chunk.to_vec());
        }
        let per_delete = if single { 1 } else { self.sql.rows_per_statement(self.key.len()) };
        for chunk in deletes.chunks(per_delete) {
            let mut params = Vec::with_capacity(chunk.len() * self.key.len());
            for i in chunk {
                let c = self.changes[*i];
                let data = &self.batches[c.batch as usize].data;
                for k in self.key {
                    params.push(param(data.column(*k), c.row as usize).map_err(RuntimeError::User)?);
                }
            }
            stmts.push((self.sql.delete(chunk.len()), params));
            rows.push(chunk.to_vec());
        }
        Ok((stmts, rows))
    }

    /// The error that fails the job: the table, the change (if known) and the database's words.
    fn fatal(&self, change: Option<usize>, err: &DbError) -> RuntimeError {
        let row = match change {
            Some(i) => {
                let c = self.changes[i];
                let b = &self.batches[c.batch as usize];
                let mut r = rask_types::value_fmt::format_row(&b.slice(c.row as usize, 1), 0);
                if r.len() > 1000 {
                    let cut = (0..=1000).rev().find(|i| r.is_char_boundary(*i)).unwrap_or(0);
                    r.truncate(cut);
                    r.push('…');
                }
                format!(" row {r}:")
            }
            None => format!(" {} changes:", self.changes.len()),
        };
        RuntimeError::User(format!("jdbc sink: cannot write to table '{}' ({}):{row} {}", self.opts.table, self.opts.endpoint.describe(), err.message))
    }
}

impl SinkWriter for JdbcWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        let mut st = self.shared.state.lock().map_err(poisoned)?;
        if let Some(e) = st.failure.take() {
            return Err(e);
        }
        if self.max_rows == 0 {
            return st.out.add(batch);
        }
        // Row by row as Flink's writeRecord: flush as soon as max-rows changes are buffered,
        // also in the middle of a batch.
        let mut start = 0;
        while start < batch.num_rows() {
            let take = self.max_rows.saturating_sub(st.out.received).max(1).min(batch.num_rows() - start);
            st.out.add(&batch.slice(start, take))?;
            start += take;
            if st.out.received >= self.max_rows {
                st.out.flush()?;
            }
        }
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        let mut st = self.shared.state.lock().map_err(poisoned)?;
        if let Some(e) = st.failure.take() {
            return Err(e);
        }
        st.out.flush()?;
        Ok(Vec::new())
    }
}

impl Drop for JdbcWriter {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.closed = true;
        }
        self.shared.wake.notify_all();
        if let Some(f) = self.flusher.take() {
            let _ = f.join();
        }
    }
}
