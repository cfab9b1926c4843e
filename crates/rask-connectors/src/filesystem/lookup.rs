//! The filesystem table as a lookup table (Flink 1.x's `FileSystemLookupFunction`, which
//! Nexmark's q13 uses): every file of the table is read into memory, indexed by the lookup
//! keys, and read again after `lookup.join.cache.ttl` (60 min by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use rask_runtime::connector::{LookupContext, LookupFunction, SourceContext, SourceEvent, SourceMetrics, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::TableDef;

use super::options::FsOptions;
use super::source::FileReader;

struct Loaded {
    at: Instant,
    rows: RecordBatch,
    /// Key (row format) → rows with it.
    index: HashMap<Box<[u8]>, Vec<u32>>,
}

pub struct FileLookup {
    table: TableDef,
    schema: SchemaRef,
    keys: Vec<usize>,
    ttl: Duration,
    converter: RowConverter,
    loaded: Option<Loaded>,
}

impl FileLookup {
    pub fn new(table: &TableDef, ctx: &LookupContext) -> Result<Self> {
        let ttl = table.options.duration("lookup.join.cache.ttl").map_err(RuntimeError::User)?.unwrap_or(Duration::from_secs(3600));
        let converter = RowConverter::new(ctx.keys.iter().map(|k| SortField::new(ctx.schema.field(*k).data_type().clone())).collect())?;
        Ok(FileLookup { table: table.clone(), schema: ctx.schema.clone(), keys: ctx.keys.clone(), ttl, converter, loaded: None })
    }

    /// Read every file of the table (as one subtask reading all of them).
    fn load(&self) -> Result<Loaded> {
        let opts = FsOptions::from_options(&self.table.options, &self.schema).map_err(RuntimeError::User)?;
        let ctx = SourceContext {
            subtask: 0,
            parallelism: 1,
            schema: self.schema.clone(),
            metadata: Vec::new(),
            read: vec![rask_types::ColumnUse::Whole; self.schema.fields().len()],
            batch_size: 8192,
            metrics: Arc::new(SourceMetrics::default()),
            job_start_ms: 0,
            checkpointing: false,
            restore: None,
            restore_all: None,
        };
        let mut reader = FileReader::new(opts, &self.table, &ctx)?;
        let mut parts = Vec::new();
        loop {
            match reader.next()? {
                SourceEvent::Batch(b) => parts.push(b.data),
                // A monitored directory: what is there now.
                SourceEvent::End | SourceEvent::Idle => break,
            }
        }
        let rows = arrow::compute::concat_batches(&self.schema, &parts)?;
        let cols: Vec<ArrayRef> = self.keys.iter().map(|k| rows.column(*k).clone()).collect();
        let encoded = self.converter.convert_columns(&cols)?;
        let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for i in 0..rows.num_rows() {
            if cols.iter().any(|c| c.is_null(i)) {
                continue;
            }
            index.entry(encoded.row(i).data().into()).or_default().push(i as u32);
        }
        tracing::debug!("lookup table '{}': {} rows loaded", self.table.name, rows.num_rows());
        Ok(Loaded { at: Instant::now(), rows, index })
    }
}

impl LookupFunction for FileLookup {
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>)> {
        if self.loaded.as_ref().is_none_or(|l| l.at.elapsed() >= self.ttl) {
            self.loaded = Some(self.load().map_err(|e| e.context(format!("loading lookup table '{}'", self.table.name)))?);
        }
        let loaded = self.loaded.as_ref().expect("loaded above");
        let wanted = self.converter.convert_columns(keys.columns())?;
        let (mut take, mut owner) = (Vec::new(), Vec::new());
        for k in 0..keys.num_rows() {
            if let Some(rows) = loaded.index.get(wanted.row(k).data()) {
                take.extend_from_slice(rows);
                owner.extend(std::iter::repeat_n(k as u32, rows.len()));
            }
        }
        Ok((arrow::compute::take_record_batch(&loaded.rows, &UInt32Array::from(take))?, owner))
    }
}
