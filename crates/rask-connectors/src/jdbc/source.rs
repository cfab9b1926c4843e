//! The bounded scan: `SELECT <columns> FROM <table>`, split by `scan.partition.*` into
//! Flink's BETWEEN ranges dealt round-robin to the subtasks (without partitioning subtask 0
//! reads the whole table). A fetcher thread per reader owns the connection, turns rows into
//! Arrow batches of the table's types and hands them over a small bounded channel, so the
//! database round trips overlap with the job's processing.
//!
//! Position in checkpoints: every split this reader has not finished, with the number of its
//! rows already emitted. A restored reader runs those splits' queries again and skips that many
//! rows (as Flink's `JdbcSource` does): this relies on the database returning an unchanged
//! table in the same order, which holds in practice but is not promised without an ORDER BY.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use rask_runtime::connector::{SourceContext, SourceEvent, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::StreamBatch;

use super::db::{Db, ErrorKind};
use super::dialect::Statements;
use super::options::JdbcOptions;
use super::values::ColumnBuilder;

/// One range of the scan: the whole table (`range` None) or a partition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Split {
    index: usize,
    range: Option<(i64, i64)>,
    /// Rows of the split already emitted.
    offset: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    splits: Vec<Split>,
}

enum Msg {
    /// A batch of split `index`, whose rows bring it to `offset` rows emitted.
    Batch { index: usize, offset: u64, batch: RecordBatch },
    Done(usize),
    Failed(RuntimeError),
    End,
}

pub struct JdbcReader {
    rx: Receiver<Msg>,
    /// Splits not finished, with their emitted rows.
    splits: Vec<Split>,
    fetcher: Option<JoinHandle<()>>,
}

/// The splits subtask `subtask` of `parallelism` reads when starting afresh.
fn own_splits(opts: &JdbcOptions, subtask: usize, parallelism: usize) -> Vec<Split> {
    match &opts.partition {
        None if subtask == 0 => vec![Split { index: 0, range: None, offset: 0 }],
        None => Vec::new(),
        Some(p) => p
            .ranges()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % parallelism.max(1) == subtask)
            .map(|(index, r)| Split { index, range: Some(r), offset: 0 })
            .collect(),
    }
}

impl JdbcReader {
    pub fn new(opts: JdbcOptions, ctx: &SourceContext) -> Result<Self> {
        let mut splits = match &ctx.restore {
            None => own_splits(&opts, ctx.subtask, ctx.parallelism),
            Some(positions) => crate::position::decode_all::<Position>("jdbc source", positions)?.into_iter().flat_map(|p| p.splits).collect(),
        };
        splits.sort_by_key(|s| s.index);
        let (tx, rx) = sync_channel(2);
        let columns: Vec<String> = ctx.schema.fields().iter().map(|f| f.name().clone()).collect();
        let sql = Statements::new(opts.endpoint.dialect, &opts.table, &columns, Vec::new());
        let work = splits.clone();
        let schema = ctx.schema.clone();
        let batch_size = ctx.batch_size.max(1);
        let fetcher = std::thread::Builder::new()
            .name(format!("jdbc-scan-{}", ctx.subtask))
            .spawn(move || {
                let msg = match fetch(&opts, &sql, &schema, batch_size, work, &tx) {
                    Ok(()) => Msg::End,
                    Err(e) => Msg::Failed(e),
                };
                let _ = tx.send(msg);
            })
            .map_err(|e| RuntimeError::Internal(format!("cannot start the jdbc scan thread: {e}")))?;
        Ok(JdbcReader { rx, splits, fetcher: Some(fetcher) })
    }
}

/// The fetcher thread: connect, run every split's query, send batches.
fn fetch(opts: &JdbcOptions, sql: &Statements, schema: &SchemaRef, batch_size: usize, splits: Vec<Split>, tx: &SyncSender<Msg>) -> Result<()> {
    if splits.is_empty() {
        return Ok(());
    }
    let ep = &opts.endpoint;
    let table = &opts.table;
    let mut db = Db::connect(ep, opts.connect_timeout, &format!("rask scan {table}")).map_err(|e| match e.kind {
        ErrorKind::Data => RuntimeError::User(format!("jdbc source: cannot connect to {}: {}", ep.describe(), e.message)),
        _ => RuntimeError::External(format!("jdbc source: cannot connect to {}: {}", ep.describe(), e.message)),
    })?;
    let mut columns = schema.fields().iter().map(|f| ColumnBuilder::new(f.name(), f.data_type())).collect::<std::result::Result<Vec<_>, _>>().map_err(RuntimeError::User)?;
    let fetch_size = if opts.fetch_size > 0 { opts.fetch_size } else { batch_size };
    let select = sql.select(opts.partition.as_ref().map(|p| p.column.as_str()));
    for split in splits {
        let mut offset = split.offset;
        let mut rows = 0usize;
        // Set when the scan stopped early: Ok = the reader is gone (job cancelled), Err = failed.
        let mut stop: Option<Result<()>> = None;
        let res = db.scan(&select, split.range, fetch_size, split.offset, &mut columns, &mut |cols| {
            rows += 1;
            offset += 1;
            if rows < batch_size {
                return true;
            }
            rows = 0;
            match send_batch(tx, schema, cols, batch_size, split.index, offset) {
                Ok(true) => true,
                Ok(false) => {
                    stop = Some(Ok(()));
                    false
                }
                Err(e) => {
                    stop = Some(Err(e));
                    false
                }
            }
        });
        if let Err(e) = res {
            let what = match split.range {
                Some((a, b)) => format!("jdbc source: reading table '{table}' ({}, rows with {} between {a} and {b})", ep.describe(), opts.partition.as_ref().map_or("", |p| p.column.as_str())),
                None => format!("jdbc source: reading table '{table}' ({})", ep.describe()),
            };
            return Err(match e.kind {
                ErrorKind::Data => RuntimeError::User(format!("{what}: {}", e.message)),
                _ => RuntimeError::External(format!("{what}: {}", e.message)),
            });
        }
        if let Some(s) = stop {
            return s;
        }
        if rows > 0 && !send_batch(tx, schema, &mut columns, rows, split.index, offset)? {
            return Ok(());
        }
        if tx.send(Msg::Done(split.index)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Send the built rows as a batch; false: the reader is gone.
fn send_batch(tx: &SyncSender<Msg>, schema: &SchemaRef, columns: &mut [ColumnBuilder], rows: usize, index: usize, offset: u64) -> Result<bool> {
    let batch = finish(schema, columns, rows)?;
    Ok(tx.send(Msg::Batch { index, offset, batch }).is_ok())
}

fn finish(schema: &SchemaRef, columns: &mut [ColumnBuilder], rows: usize) -> Result<RecordBatch> {
    let arrays = columns.iter_mut().map(|c| c.finish()).collect::<std::result::Result<Vec<_>, _>>().map_err(RuntimeError::Internal)?;
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(Arc::clone(schema), arrays, &opts)?)
}

impl SourceReader for JdbcReader {
    fn next(&mut self) -> Result<SourceEvent> {
        loop {
            match self.rx.recv() {
                Ok(Msg::Batch { index, offset, batch }) => {
                    if let Some(s) = self.splits.iter_mut().find(|s| s.index == index) {
                        s.offset = offset;
                    }
                    return Ok(SourceEvent::Batch(StreamBatch::inserts(batch)));
                }
                Ok(Msg::Done(index)) => self.splits.retain(|s| s.index != index),
                Ok(Msg::Failed(e)) => return Err(e),
                Ok(Msg::End) => return Ok(SourceEvent::End),
                Err(_) => return Err(RuntimeError::Internal("the jdbc scan thread ended without a result".into())),
            }
        }
    }

    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        crate::position::encode("jdbc source", &Position { splits: self.splits.clone() })
    }
}

impl Drop for JdbcReader {
    fn drop(&mut self) {
        // Not joined: a fetcher still reading (a cancelled job) stops at its next batch, when
        // sending to the dropped channel fails; one still connecting gives up at its timeout.
        drop(self.fetcher.take());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn splits_are_dealt_round_robin() {
        let mut m = BTreeMap::new();
        for (k, v) in [("url", "jdbc:postgresql://localhost/test"), ("table-name", "t")] {
            m.insert(k.to_string(), v.to_string());
        }
        let plain = JdbcOptions::from_options(&rask_types::options::Options::new(m.clone())).unwrap();
        assert_eq!(own_splits(&plain, 0, 2), vec![Split { index: 0, range: None, offset: 0 }]);
        assert!(own_splits(&plain, 1, 2).is_empty());
        for (k, v) in [("scan.partition.column", "id"), ("scan.partition.num", "3"), ("scan.partition.lower-bound", "1"), ("scan.partition.upper-bound", "9")] {
            m.insert(k.to_string(), v.to_string());
        }
        let part = JdbcOptions::from_options(&rask_types::options::Options::new(m)).unwrap();
        let ranges = |s| own_splits(&part, s, 2).into_iter().map(|s| s.range.unwrap()).collect::<Vec<_>>();
        assert_eq!(ranges(0), vec![(1, 3), (7, 9)]);
        assert_eq!(ranges(1), vec![(4, 6)]);
    }
}
