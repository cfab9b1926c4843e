//! The connector extension point: one trait a connector implements, a registry that maps
//! `'connector' = 'name'` to it, and the source/sink interfaces the engine drives.
//!
//! A source reader runs on its own thread and may block; the engine pulls its batches through
//! a bounded channel (flow control). A sink writer runs on the worker thread.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use rask_sql::catalog::{ConnectorCaps, ConnectorCatalog, TableDef};
use rask_types::options::{OptionSpec, Options};
use rask_types::types::FlinkTypeN;
use rask_types::StreamBatch;

use crate::error::Result;

/// What a source reader produced.
pub enum SourceEvent {
    Batch(StreamBatch),
    /// Nothing available right now (an unbounded source waiting for data); poll again.
    Idle,
    /// The source is exhausted (bounded sources only).
    End,
}

/// Reads one subtask's share of a table. Runs on a dedicated thread; may block.
pub trait SourceReader: Send {
    fn next(&mut self) -> Result<SourceEvent>;
    /// The position after the last batch returned, stored in checkpoints and handed back in
    /// [`SourceContext::restore`] (called after every batch when checkpoints are stored, so
    /// keep it cheap). `None`: the source cannot resume (it starts over after a failure).
    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// A checkpoint holding `position` (one this reader returned) completed; e.g. Kafka commits
    /// the offsets to its consumer group for monitoring. Called on the reader's thread.
    fn on_checkpoint_complete(&mut self, _position: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// Writes rows to an external system. Runs on the worker thread.
pub trait SinkWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()>;
    /// A checkpoint barrier or the end of input: make everything written so far durable. An
    /// at-least-once writer makes it visible and returns nothing; an exactly-once writer
    /// returns what must be committed once the checkpoint completes (stored in the checkpoint).
    /// `checkpoint` is the barrier's id (ids grow, also across restores; the end of input is
    /// `rask_state::FINAL_CHECKPOINT`).
    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<Vec<u8>>>;
    /// The checkpoint covering `committables` completed (or was restored after a failure):
    /// make them visible. Must be idempotent: after a failure it runs again.
    fn commit(&mut self, _committables: &[Vec<u8>]) -> Result<()> {
        Ok(())
    }
    /// Whether `prepare_commit` defers visibility to `commit` (two-phase commit).
    fn exactly_once(&self) -> bool {
        false
    }
    /// The sink's input watermark advanced (a partitioned file sink commits partitions by it).
    fn on_watermark(&mut self, _watermark: i64) {}
    /// A writer that buffers rows: how often [`SinkWriter::on_timer`] should flush them even
    /// when no rows arrive.
    fn flush_interval(&self) -> Option<std::time::Duration> {
        None
    }
    /// The flush interval passed: hand buffered rows on.
    fn on_timer(&mut self) -> Result<()> {
        Ok(())
    }
}

pub use rask_state::FINAL_CHECKPOINT;

/// Where `print` output goes (stdout by default; a buffer in tests).
pub trait PrintTarget: Send + Sync {
    fn print_lines(&self, lines: &[String]);
}

pub struct Stdout;

impl PrintTarget for Stdout {
    fn print_lines(&self, lines: &[String]) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for l in lines {
            // A closed stdout (`rask run … | head`) must not crash the job.
            if writeln!(out, "{l}").is_err() {
                return;
            }
        }
        let _ = out.flush();
    }
}

/// Collects `print` output in memory (tests, result previews).
#[derive(Debug, Default)]
pub struct MemoryPrint {
    lines: std::sync::Mutex<Vec<String>>,
}

impl MemoryPrint {
    /// Everything printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl PrintTarget for MemoryPrint {
    fn print_lines(&self, lines: &[String]) {
        if let Ok(mut l) = self.lines.lock() {
            l.extend(lines.iter().cloned());
        }
    }
}

/// Counters a source updates (shared by all subtasks of the source in this process).
#[derive(Debug, Default)]
pub struct SourceMetrics {
    /// Records skipped because they failed to parse and `*.ignore-parse-errors` is set.
    pub skipped_records: AtomicU64,
    /// Bytes read from the external system (a Kafka record's key and value, a file's lines),
    /// where the connector counts them (Flink's source numBytesIn).
    pub bytes_read: AtomicU64,
    /// Records in the external system not read yet (Flink's `pendingRecords`: for Kafka the
    /// consumer lag, end offset minus position), summed over the subtasks that report it
    /// through [`PendingRecords`].
    pub pending_records: std::sync::atomic::AtomicI64,
    /// Subtasks that reported `pending_records` (0: the source does not know it).
    pub pending_reporters: AtomicU64,
}

/// One subtask's share of [`SourceMetrics::pending_records`]: it adds the change of its own
/// figure, so the shared value is the sum over subtasks.
#[derive(Debug, Default)]
pub struct PendingRecords {
    last: Option<i64>,
}

impl PendingRecords {
    pub fn report(&mut self, m: &SourceMetrics, pending: i64) {
        use std::sync::atomic::Ordering;
        match self.last {
            None => {
                m.pending_reporters.fetch_add(1, Ordering::Relaxed);
                m.pending_records.fetch_add(pending, Ordering::Relaxed);
            }
            Some(prev) => {
                m.pending_records.fetch_add(pending - prev, Ordering::Relaxed);
            }
        }
        self.last = Some(pending);
    }
}

pub struct SourceContext {
    pub subtask: usize,
    pub parallelism: usize,
    /// The table's physical columns: every batch produced has them, followed by `metadata`.
    pub schema: SchemaRef,
    /// Metadata columns the table declares (`METADATA FROM 'key'`): key and the field to
    /// append, with the type the connector listed in [`Connector::readable_metadata`].
    pub metadata: Vec<(String, arrow::datatypes::FieldRef)>,
    /// What the job reads of each column of `schema` (projection push-down, nested fields
    /// included): a connector may leave what is not read NULL instead of decoding it.
    pub read: Vec<rask_types::ColumnUse>,
    /// Preferred rows per batch.
    pub batch_size: usize,
    pub metrics: Arc<SourceMetrics>,
    /// Wall-clock time the job started (epoch ms), the same in every subtask and process.
    pub job_start_ms: i64,
    /// Checkpoints are stored: the engine asks [`SourceReader::position`] after every batch.
    pub checkpointing: bool,
    /// Restored positions this subtask resumes from (one per old subtask assigned to it; at
    /// the same parallelism, its own). `None`: start from the table's options.
    pub restore: Option<Vec<Vec<u8>>>,
    /// Every old subtask's restored position, for sources whose splits are assigned by the
    /// reader itself (Kafka partitions): each picks the positions of the splits it now owns.
    pub restore_all: Option<Vec<Vec<u8>>>,
}

pub struct SinkContext {
    pub subtask: usize,
    pub parallelism: usize,
    pub schema: SchemaRef,
    pub print: Arc<dyn PrintTarget>,
    /// Checkpoints are stored and their completion is known: an exactly-once writer may defer
    /// visibility to [`SinkWriter::commit`]. Without it, commits follow `prepare_commit` at once.
    pub two_phase: bool,
}

/// How a lookup join caches looked-up rows (Flink's `lookup.cache`), as the table's options say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupCache {
    /// Every row is looked up when it arrives (rows of one batch with the same key share one
    /// lookup).
    None,
    /// Up to `max_rows` keys, least recently used evicted first; an entry is looked up again
    /// `expire_after_write` after it was loaded or `expire_after_access` after it was last used;
    /// keys without rows are cached too if `cache_missing`.
    Partial { max_rows: usize, expire_after_write: Option<std::time::Duration>, expire_after_access: Option<std::time::Duration>, cache_missing: bool },
}

pub struct LookupContext {
    pub subtask: usize,
    pub parallelism: usize,
    /// The rows to return: the table's physical columns.
    pub schema: SchemaRef,
    /// The columns of `schema` looked up by (in the order of the key batches' columns).
    pub keys: Vec<usize>,
}

/// Looks rows of an external table up by key: the right side of a lookup join. Runs on the
/// worker thread; may block (a batch's keys are looked up together, so a remote store is asked
/// once per batch, not once per row).
pub trait LookupFunction: Send {
    /// The rows whose key columns equal one of `keys`' rows (its columns: [`LookupContext::keys`]'
    /// types, in that order; distinct and without NULLs). Returns the rows
    /// ([`LookupContext::schema`]) and, for each, the index of its key row; a key may match no
    /// row or several.
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>)>;
}

/// What a connector's tables can be used as (for listings: `rask connectors`, the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub source: bool,
    pub sink: bool,
    /// The table side of a lookup join.
    pub lookup: bool,
}

/// A connector: validates options and creates readers and writers.
pub trait Connector: Send + Sync {
    fn name(&self) -> &'static str;
    /// One-line description for `rask connectors` and the console.
    fn description(&self) -> &'static str;
    /// What its tables can be used as.
    fn roles(&self) -> Roles;
    /// The options it accepts (format options are included when `options` names a format).
    fn option_specs(&self, options: &Options) -> Vec<OptionSpec>;
    /// Validate a table's options; returns what the table can be used for. `primary_key` is
    /// the table's `PRIMARY KEY (…) NOT ENFORCED` columns (empty without one): upsert sinks
    /// (jdbc, upsert-kafka) accept updates only with one.
    fn validate(&self, options: &Options, schema: &SchemaRef, primary_key: &[String]) -> Result<ConnectorCaps, String>;
    /// Metadata the source can append to its rows (key, type); none by default.
    fn readable_metadata(&self, _options: &Options) -> Vec<(String, FlinkTypeN)> {
        Vec::new()
    }
    /// Metadata the sink can write (key, type); none by default. The sink receives these
    /// columns after the physical ones (`TableDef::sink_schema`).
    fn writable_metadata(&self, _options: &Options) -> Vec<(String, FlinkTypeN)> {
        Vec::new()
    }
    fn create_source(&self, table: &TableDef, ctx: &SourceContext) -> Result<Box<dyn SourceReader>>;
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>>;
    /// A lookup function over the table and its cache policy (for tables whose
    /// [`ConnectorCaps::lookup`] is set).
    fn create_lookup(&self, table: &TableDef, _ctx: &LookupContext) -> Result<(Box<dyn LookupFunction>, LookupCache)> {
        Err(crate::error::RuntimeError::User(format!("connector '{}' of table '{}' cannot look rows up", self.name(), table.name)))
    }
}

/// The explicit registry of connectors by name.
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
}

impl ConnectorRegistry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, c: Arc<dyn Connector>) {
        self.connectors.insert(c.name(), c);
    }
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(name)
    }
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.connectors.values()
    }
}

impl ConnectorCatalog for ConnectorRegistry {
    fn names(&self) -> Vec<String> {
        self.connectors.keys().map(|k| k.to_string()).collect()
    }
    fn readable_metadata(&self, connector: &str, options: &Options) -> Vec<(String, FlinkTypeN)> {
        self.connectors.get(connector).map(|c| c.readable_metadata(options)).unwrap_or_default()
    }
    fn writable_metadata(&self, connector: &str, options: &Options) -> Vec<(String, FlinkTypeN)> {
        self.connectors.get(connector).map(|c| c.writable_metadata(options)).unwrap_or_default()
    }
    fn validate(&self, connector: &str, options: &Options, schema: &SchemaRef, primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        match self.connectors.get(connector) {
            Some(c) => c.validate(options, schema, primary_key),
            None => {
                let hint = rask_types::options::did_you_mean(connector, self.connectors.keys().copied(), 2);
                Err(format!("unknown connector '{connector}' in option 'connector'{hint}; available connectors: {}", self.names().join(", ")))
            }
        }
    }
}
