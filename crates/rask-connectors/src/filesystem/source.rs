//! Reading files line by line into batches through the format's decoder. A record that does
//! not parse fails the job with the file and line, unless the format's ignore-parse-errors
//! option is set, in which case it is skipped and counted.
//!
//! Position in checkpoints: the files this subtask still has to read, each with the byte
//! offset and line number reached (a batch always ends at a line boundary), and every path
//! already listed (so that a monitored directory does not read a file twice). Files are the
//! splits: after a restore at another parallelism, subtasks continue the files they are given.
//!
//! A `PARTITIONED BY` table's files hold the other columns; the partition columns' values come
//! from the `name=value` directories of each file (the default partition name is NULL), so a
//! batch never mixes files of different partitions.
//!
//! The format decodes only what the job reads of the columns (projection push-down). When
//! the machine has more cores than the job has subtasks, each subtask's reader only cuts the
//! files into chunks of records and a small pool of threads decodes them, the batches coming
//! back in file order (checkpoints then hold the position after the last chunk returned).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_formats::RecordDecoder;
use rask_sql::catalog::TableDef;
use rask_runtime::connector::{SourceContext, SourceEvent, SourceMetrics, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::StreamBatch;

use super::options::FsOptions;

pub struct FileReader {
    opts: FsOptions,
    subtask: usize,
    parallelism: usize,
    decoder: Box<dyn RecordDecoder>,
    batch_size: usize,
    /// Files assigned to this subtask and not yet read: (path, byte offset, line), last first.
    queue: Vec<(PathBuf, u64, u64)>,
    seen: BTreeSet<PathBuf>,
    /// The file being read: (path, reader, line, byte offset).
    current: Option<(PathBuf, BufReader<File>, u64, u64)>,
    metrics: Arc<SourceMetrics>,
    next_scan: Option<Instant>,
    line: Vec<u8>,
    /// A partitioned table: the physical schema and where the partition columns are.
    partitioned: Option<Partitioned>,
    /// The file whose rows are buffered in the decoder.
    buffered_from: Option<PathBuf>,
    /// Threads decoding chunks of records (when there are cores to spare): the chunks sent
    /// and not returned yet, with the position after each, oldest first.
    pool: Option<DecodePool>,
    in_flight: std::collections::VecDeque<(std::sync::mpsc::Receiver<Decoded>, Position)>,
    /// What reading found after the chunks in flight (the end, or nothing new yet).
    pending_event: Option<SourceEvent>,
    /// The position after the last chunk returned.
    emitted: Option<Position>,
    spare: Vec<Chunk>,
}

struct Partitioned {
    schema: arrow::datatypes::SchemaRef,
    /// Physical index → partition column name (None: a column read from the files).
    columns: Vec<Option<String>>,
    default_name: String,
}

fn list_files(root: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        out.push(root.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Hidden and in-progress files are not data (Flink skips '.' and '_' prefixes).
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            list_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

impl FileReader {
    pub fn new(opts: FsOptions, table: &TableDef, ctx: &SourceContext) -> Result<Self> {
        // Cores beyond one per subtask decode in parallel (a few at most: each thread keeps
        // two chunks of a batch's records in flight).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_decode_threads(opts, table, ctx, (cores / ctx.parallelism.max(1)).min(MAX_DECODE_THREADS))
    }

    /// A reader decoding on `threads` threads of its own (fewer than two: on its thread; a
    /// partitioned table's batches hold one file each, so it always decodes on its thread).
    pub fn with_decode_threads(opts: FsOptions, table: &TableDef, ctx: &SourceContext, threads: usize) -> Result<Self> {
        let partitioned = (!table.partition_keys.is_empty()).then(|| Partitioned {
            schema: ctx.schema.clone(),
            columns: ctx.schema.fields().iter().map(|f| table.partition_keys.iter().find(|k| *k == f.name()).cloned()).collect(),
            default_name: opts.default_partition.clone(),
        });
        // The columns the files hold (all but the partition columns).
        let in_files: Vec<usize> = match &partitioned {
            Some(p) => (0..p.columns.len()).filter(|i| p.columns[*i].is_none()).collect(),
            None => (0..ctx.schema.fields().len()).collect(),
        };
        let file_schema = std::sync::Arc::new(ctx.schema.project(&in_files)?);
        let read: Option<Vec<rask_types::ColumnUse>> =
            (ctx.read.len() == ctx.schema.fields().len()).then(|| in_files.iter().map(|i| ctx.read[*i].clone()).collect());
        let new_decoder = || -> Result<Box<dyn RecordDecoder>> {
            let mut d = rask_formats::decoder(&opts.format, file_schema.clone(), &opts.options).map_err(|e| RuntimeError::User(e.to_string()))?;
            if let Some(read) = &read {
                d.read_only(read);
            }
            Ok(d)
        };
        let decoder = new_decoder()?;
        let pool = if threads >= 2 && partitioned.is_none() {
            Some(DecodePool::start((0..threads).map(|_| new_decoder()).collect::<Result<_>>()?, ctx.metrics.clone())?)
        } else {
            None
        };
        let mut r = FileReader {
            opts,
            subtask: ctx.subtask,
            parallelism: ctx.parallelism,
            decoder,
            batch_size: ctx.batch_size.max(1),
            queue: Vec::new(),
            seen: BTreeSet::new(),
            current: None,
            metrics: ctx.metrics.clone(),
            next_scan: None,
            line: Vec::new(),
            partitioned,
            buffered_from: None,
            pool,
            in_flight: Default::default(),
            pending_event: None,
            emitted: None,
            spare: Vec::new(),
        };
        match &ctx.restore {
            None => r.scan()?,
            Some(positions) => {
                for pos in crate::position::decode_all::<Position>("filesystem source", positions)? {
                    r.queue.extend(pos.files.into_iter().map(|f| (f.path, f.offset, f.line)));
                    r.seen.extend(pos.seen);
                }
                r.queue.sort();
                r.queue.reverse();
            }
        }
        Ok(r)
    }

    /// Find files not seen yet; assign them to subtasks by their sorted position.
    fn scan(&mut self) -> Result<()> {
        let mut files = Vec::new();
        if let Err(e) = list_files(&self.opts.path, &mut files) {
            if self.opts.monitor_interval.is_some() && e.kind() == std::io::ErrorKind::NotFound {
                return Ok(());
            }
            return Err(RuntimeError::User(format!("cannot read path '{}': {e}", self.opts.path.display())));
        }
        if let Some(re) = &self.opts.path_regex {
            // Flink matches the pattern against the whole path.
            files.retain(|f| re.is_match(&f.to_string_lossy()));
        }
        files.sort();
        let new: Vec<PathBuf> = files.into_iter().filter(|f| !self.seen.contains(f)).collect();
        for (i, f) in new.into_iter().enumerate() {
            // A one-off listing is the same on every subtask: deal files round-robin. A monitored
            // directory is listed by each subtask at its own moments, so the owner must depend
            // on the path alone.
            let owner = if self.opts.monitor_interval.is_some() {
                (rask_types::keygroup::hash_bytes(f.to_string_lossy().as_bytes()) % self.parallelism as u64) as usize
            } else {
                (self.seen.len() + i) % self.parallelism
            };
            if owner == self.subtask {
                self.queue.push((f.clone(), 0, 0));
            }
        }
        self.seen.extend(self.queue.iter().map(|(p, _, _)| p.clone()));
        let mut all = Vec::new();
        let _ = list_files(&self.opts.path, &mut all);
        if let Some(re) = &self.opts.path_regex {
            all.retain(|f| re.is_match(&f.to_string_lossy()));
        }
        self.seen.extend(all);
        self.queue.sort();
        self.queue.reverse(); // pop() takes the smallest
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<Option<StreamBatch>> {
        if self.decoder.buffered() == 0 {
            return Ok(None);
        }
        let mut rb = self.decoder.flush().map_err(|e| RuntimeError::User(e.to_string()))?;
        if let (Some(p), Some(file)) = (&self.partitioned, self.buffered_from.take()) {
            // The partition columns from the file's directories (NULL: the default partition).
            let rel = file.parent().and_then(|d| d.strip_prefix(&self.opts.path).ok()).map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
            let values = super::sink::partition_values(&rel);
            let n = rb.num_rows();
            let mut read = rb.columns().iter();
            let mut cols = Vec::with_capacity(p.columns.len());
            for (f, part) in p.schema.fields().iter().zip(&p.columns) {
                cols.push(match part {
                    None => read.next().cloned().ok_or_else(|| RuntimeError::Internal("partitioned file columns".into()))?,
                    Some(name) => {
                        let v = values.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| *v != p.default_name);
                        let s: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::StringArray::from(vec![v; n]));
                        arrow::compute::cast(&s, f.data_type()).map_err(|e| {
                            RuntimeError::User(format!("partition column '{name}' of file '{}': value {v:?} is not a {}: {e}", file.display(), f.data_type()))
                        })?
                    }
                });
            }
            rb = arrow::array::RecordBatch::try_new(p.schema.clone(), cols)?;
        }
        Ok(Some(with_kinds(self.decoder.as_mut(), rb)))
    }
}

/// Decode threads per subtask at most.
const MAX_DECODE_THREADS: usize = 4;

/// What [`FileReader::read_line`] found.
enum Line {
    /// A record is in `self.line` (line terminator stripped, not blank).
    Record,
    /// The current file ended (the next call opens the next one).
    FileEnd,
    /// Nothing more for now: `End` (bounded and done) or `Idle` (a monitored directory).
    Exhausted(SourceEvent),
}

impl FileReader {
    /// Read the next non-blank line of the files into `self.line`, opening the next file and
    /// listing a monitored directory again as needed.
    fn read_line(&mut self) -> Result<Line> {
        loop {
            if self.current.is_none() {
                match self.queue.pop() {
                    Some((p, offset, line)) => {
                        let mut f = File::open(&p).map_err(|e| RuntimeError::External(format!("cannot open '{}': {e}", p.display())))?;
                        if offset > 0 {
                            use std::io::Seek;
                            f.seek(std::io::SeekFrom::Start(offset))
                                .map_err(|e| RuntimeError::External(format!("cannot seek to byte {offset} of '{}': {e}", p.display())))?;
                        }
                        self.current = Some((p, BufReader::with_capacity(1 << 20, f), line, offset));
                    }
                    None => {
                        let Some(interval) = self.opts.monitor_interval else { return Ok(Line::Exhausted(SourceEvent::End)) };
                        let now = Instant::now();
                        match self.next_scan {
                            Some(t) if t > now => {
                                std::thread::sleep((t - now).min(Duration::from_millis(100)));
                                return Ok(Line::Exhausted(SourceEvent::Idle));
                            }
                            _ => {
                                self.next_scan = Some(now + interval);
                                self.scan()?;
                                if self.queue.is_empty() {
                                    return Ok(Line::Exhausted(SourceEvent::Idle));
                                }
                                continue;
                            }
                        }
                    }
                }
            }
            let Some((path, reader, line_no, offset)) = self.current.as_mut() else { continue };
            self.line.clear();
            let n = reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| RuntimeError::External(format!("reading '{}': {e}", path.display())))?;
            if n == 0 {
                self.current = None;
                return Ok(Line::FileEnd);
            }
            *line_no += 1;
            self.metrics.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            *offset += n as u64;
            while let Some(b'\n' | b'\r') = self.line.last() {
                self.line.pop();
            }
            if self.line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Line::Record);
        }
    }

    /// The current file and line (for messages).
    fn at(&self) -> (&Path, u64) {
        match &self.current {
            Some((p, _, line, _)) => (p.as_path(), *line),
            None => (Path::new(""), 0),
        }
    }

    /// Where the reader stands: the current file's offset and the files still to read.
    fn snapshot(&self) -> Position {
        let mut files: Vec<FilePos> = Vec::with_capacity(self.queue.len() + 1);
        if let Some((p, _, line, offset)) = &self.current {
            files.push(FilePos { path: p.clone(), offset: *offset, line: *line });
        }
        files.extend(self.queue.iter().rev().map(|(p, o, l)| FilePos { path: p.clone(), offset: *o, line: *l }));
        // Only a monitored directory lists again, so only it needs the paths already listed.
        let seen = if self.opts.monitor_interval.is_some() { self.seen.iter().cloned().collect() } else { Vec::new() };
        Position { files, seen }
    }

    /// Decode on this thread, record by record.
    fn next_sequential(&mut self) -> Result<SourceEvent> {
        loop {
            match self.read_line()? {
                Line::Exhausted(ev) => {
                    if let Some(b) = self.flush_batch()? {
                        return Ok(SourceEvent::Batch(b));
                    }
                    return Ok(ev);
                }
                Line::FileEnd => {
                    // A partitioned table's batch holds one file's rows.
                    if self.partitioned.is_some()
                        && let Some(b) = self.flush_batch()?
                    {
                        return Ok(SourceEvent::Batch(b));
                    }
                }
                Line::Record => {
                    if self.partitioned.is_some() && self.buffered_from.as_deref() != Some(self.at().0) {
                        self.buffered_from = Some(self.at().0.to_path_buf());
                    }
                    match self.decoder.decode(&self.line) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.metrics.skipped_records.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let (path, line) = self.at();
                            return Err(parse_error(&self.opts.format, path, line, &e));
                        }
                    }
                    if self.decoder.buffered() >= self.batch_size
                        && let Some(b) = self.flush_batch()?
                    {
                        return Ok(SourceEvent::Batch(b));
                    }
                }
            }
        }
    }

    /// Cut the next chunk of up to `batch_size` records for the decode pool; `Err(event)`
    /// when no record is left for now.
    fn read_chunk(&mut self) -> Result<std::result::Result<Chunk, SourceEvent>> {
        let mut chunk = self.spare.pop().unwrap_or_default();
        chunk.clear();
        // Whether the next record is the first of its file in this chunk.
        let mut new_file = true;
        loop {
            match self.read_line()? {
                Line::Exhausted(ev) => {
                    if chunk.records.is_empty() {
                        self.spare.push(chunk);
                        return Ok(Err(ev));
                    }
                    break;
                }
                Line::FileEnd => new_file = true,
                Line::Record => {
                    let (path, line) = self.at();
                    if std::mem::take(&mut new_file) {
                        chunk.files.push(Arc::new(path.to_path_buf()));
                    }
                    let start = chunk.bytes.len();
                    chunk.bytes.extend_from_slice(&self.line);
                    chunk.records.push(Rec { start, end: chunk.bytes.len(), file: chunk.files.len() - 1, line });
                    if chunk.records.len() >= self.batch_size {
                        break;
                    }
                }
            }
        }
        Ok(Ok(chunk))
    }

    /// Decode chunks on the pool's threads, keeping a few ahead, and return them in order.
    fn next_parallel(&mut self) -> Result<SourceEvent> {
        let ahead = self.pool.as_ref().map_or(1, |p| p.ahead);
        loop {
            while self.in_flight.len() < ahead && self.pending_event.is_none() {
                match self.read_chunk()? {
                    Ok(chunk) => {
                        let (tx, rx) = std::sync::mpsc::sync_channel(1);
                        let Some(pool) = self.pool.as_ref() else { break };
                        pool.work.send((chunk, tx)).map_err(|_| RuntimeError::Internal("the decode pool stopped".into()))?;
                        self.in_flight.push_back((rx, self.snapshot()));
                    }
                    Err(ev) => self.pending_event = Some(ev),
                }
            }
            let Some((rx, position)) = self.in_flight.pop_front() else {
                // Nothing in flight: the end, or nothing new in a monitored directory yet;
                // everything read has been returned.
                self.emitted = Some(self.snapshot());
                return Ok(self.pending_event.take().unwrap_or(SourceEvent::Idle));
            };
            let decoded = rx.recv().map_err(|_| RuntimeError::Internal("a decode thread stopped".into()))?;
            self.emitted = Some(position);
            let Decoded { chunk, result } = decoded;
            let files = chunk.files.clone();
            self.spare.push(chunk);
            match result {
                Ok(Some(b)) => return Ok(SourceEvent::Batch(b)),
                // Every record of the chunk was skipped.
                Ok(None) => {}
                Err((file, line, e)) => return Err(parse_error(&self.opts.format, &files[file], line, &e)),
            }
        }
    }
}

fn parse_error(format: &str, path: &Path, line: u64, e: &rask_formats::error::FormatError) -> RuntimeError {
    RuntimeError::User(format!(
        "cannot parse record at file '{}', line {line}: {e} (set '{format}.ignore-parse-errors' = 'true' to skip bad records)",
        path.display()
    ))
}

/// One record of a chunk: its bytes in `Chunk::bytes`, its file and line.
struct Rec {
    start: usize,
    end: usize,
    file: usize,
    line: u64,
}

/// Records cut from the files for a decode thread (buffers are reused).
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    records: Vec<Rec>,
    files: Vec<Arc<PathBuf>>,
}

impl Chunk {
    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.files.clear();
    }
}

/// A decoded chunk: its batch (None: every record was skipped), or the first bad record's
/// file (index into `chunk.files`), line and error.
struct Decoded {
    chunk: Chunk,
    result: std::result::Result<Option<StreamBatch>, (usize, u64, rask_formats::error::FormatError)>,
}

type Work = (Chunk, std::sync::mpsc::SyncSender<Decoded>);

/// Threads decoding chunks, each with its own decoder, when the machine has cores to spare
/// for this subtask: the source's thread only reads and cuts lines, and the batches come
/// back in file order (the same batches as decoding on one thread, but for records skipped
/// as bad or empty, which leave a batch short instead of being made up by later records).
struct DecodePool {
    work: std::sync::mpsc::Sender<Work>,
    /// Chunks read ahead of the one being returned.
    ahead: usize,
}

impl DecodePool {
    fn start(decoders: Vec<Box<dyn RecordDecoder>>, metrics: Arc<SourceMetrics>) -> Result<DecodePool> {
        let (tx, rx) = std::sync::mpsc::channel::<Work>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let ahead = decoders.len() * 2;
        for (i, mut decoder) in decoders.into_iter().enumerate() {
            let rx = rx.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name(format!("rask-decode-{i}"))
                .spawn(move || {
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok((chunk, reply)) = next else { return };
                        let result = decode_chunk(decoder.as_mut(), &chunk, &metrics);
                        if reply.send(Decoded { chunk, result }).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| RuntimeError::External(format!("cannot start a decode thread: {e}")))?;
        }
        Ok(DecodePool { work: tx, ahead })
    }
}

fn decode_chunk(
    decoder: &mut dyn RecordDecoder,
    chunk: &Chunk,
    metrics: &SourceMetrics,
) -> std::result::Result<Option<StreamBatch>, (usize, u64, rask_formats::error::FormatError)> {
    for r in &chunk.records {
        match decoder.decode(&chunk.bytes[r.start..r.end]) {
            Ok(true) => {}
            Ok(false) => {
                metrics.skipped_records.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Drop the rows of this chunk decoded so far: the job fails at this record.
                let _ = decoder.flush();
                let _ = decoder.take_kinds();
                return Err((r.file, r.line, e));
            }
        }
    }
    if decoder.buffered() == 0 {
        return Ok(None);
    }
    let rb = decoder.flush().map_err(|e| (0, 0, e))?;
    Ok(Some(with_kinds(decoder, rb)))
}

/// The batch `decoder` just flushed, with the row kinds of a changelog format.
fn with_kinds(decoder: &mut dyn RecordDecoder, rb: arrow::array::RecordBatch) -> StreamBatch {
    match decoder.take_kinds() {
        Some(kinds) => StreamBatch::with_kinds(rb, kinds),
        None => StreamBatch::inserts(rb),
    }
}

impl SourceReader for FileReader {
    fn next(&mut self) -> Result<SourceEvent> {
        if self.pool.is_some() { self.next_parallel() } else { self.next_sequential() }
    }

    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        // With the decode pool the reader is ahead of what was returned.
        match (&self.pool, &self.emitted) {
            (Some(_), Some(p)) => crate::position::encode("filesystem source", p),
            _ => crate::position::encode("filesystem source", &self.snapshot()),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FilePos {
    path: PathBuf,
    offset: u64,
    line: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    files: Vec<FilePos>,
    seen: Vec<PathBuf>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use rask_sql::plan::NodeKind;

    fn table(dir: &Path) -> Arc<TableDef> {
        let sql = format!(
            "CREATE TABLE t (a INT, s STRING) WITH ('connector'='filesystem','path'='{}','format'='json');
             CREATE TABLE o (a INT, s STRING) WITH ('connector'='blackhole');
             INSERT INTO o SELECT * FROM t;",
            dir.display()
        );
        let mut session = rask_sql::Session::new(Arc::new(crate::builtin_registry()));
        let mut plan = None;
        for st in rask_sql::parser::parse_script(&sql).unwrap() {
            if let rask_sql::Outcome::Job(p) = session.execute(&st).unwrap() {
                plan = Some(p);
            }
        }
        plan.unwrap().nodes.iter().find_map(|n| match &n.kind { NodeKind::Source { table, .. } => Some(table.clone()), _ => None }).unwrap()
    }

    /// Every batch's rows and the position after it, then the position at the end (or the error).
    fn read(t: &TableDef, threads: usize, restore: Option<Vec<u8>>) -> (Vec<(Vec<String>, Vec<u8>)>, std::result::Result<Vec<u8>, String>) {
        let schema = t.physical_schema();
        let ctx = SourceContext {
            subtask: 0,
            parallelism: 1,
            read: vec![rask_types::ColumnUse::Whole; schema.fields().len()],
            schema: schema.clone(),
            metadata: Vec::new(),
            batch_size: 4,
            metrics: Arc::new(SourceMetrics::default()),
            job_start_ms: 0,
            checkpointing: true,
            restore: restore.map(|r| vec![r]),
            restore_all: None,
        };
        let opts = FsOptions::from_options(&t.options, &schema).unwrap();
        let mut r = FileReader::with_decode_threads(opts, t, &ctx, threads).unwrap();
        assert_eq!(r.pool.is_some(), threads >= 2);
        let mut out = Vec::new();
        loop {
            match r.next() {
                Ok(SourceEvent::Batch(b)) => {
                    let a = b.data.column(0).as_primitive::<arrow::datatypes::Int32Type>();
                    let rows = (0..b.data.num_rows()).map(|i| if a.is_null(i) { "null".to_string() } else { a.value(i).to_string() }).collect();
                    out.push((rows, r.position().unwrap().unwrap()));
                }
                Ok(SourceEvent::End) => return (out, Ok(r.position().unwrap().unwrap())),
                Ok(SourceEvent::Idle) => panic!("a bounded source is never idle"),
                Err(e) => return (out, Err(e.to_string())),
            }
        }
    }

    #[test]
    fn decoding_on_a_pool_gives_the_same_batches_positions_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let line = |a: i32| format!("{{\"a\":{a},\"s\":\"r{a}\"}}\n");
        let file = |name: &str, rows: &[i32], extra: &str| {
            let text: String = rows.iter().map(|a| line(*a)).collect::<String>() + extra;
            std::fs::write(dir.path().join(name), text).unwrap();
        };
        file("a.json", &[1, 2, 3, 4], "\n  \r\n");
        file("b.json", &[5, 6, 7], "");
        file("c.json", &[8, 9, 10, 11, 12, 13, 14], "{\"a\":15}");
        let t = table(dir.path());
        let (seq, seq_end) = read(&t, 0, None);
        let all: Vec<String> = seq.iter().flat_map(|(rows, _)| rows.clone()).collect();
        assert_eq!(all, (1..=15).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(seq.iter().map(|(r, _)| r.len()).collect::<Vec<_>>(), vec![4, 4, 4, 3]);
        for threads in [2, 3] {
            let (par, par_end) = read(&t, threads, None);
            assert_eq!(par, seq, "threads={threads}");
            assert_eq!(par_end, seq_end);
            // Restored from the position after the second batch, the rest follows.
            let (rest, _) = read(&t, threads, Some(par[1].1.clone()));
            let rest: Vec<String> = rest.into_iter().flat_map(|(rows, _)| rows).collect();
            assert_eq!(rest, all[8..].to_vec());
        }
        // A bad record fails with its file and line, after the batches before it.
        std::fs::write(dir.path().join("b.json"), line(5) + "{\"a\":\"x\"}\n" + &line(7)).unwrap();
        let (seq, seq_err) = read(&t, 0, None);
        let (par, par_err) = read(&t, 3, None);
        assert_eq!(seq.len(), 1);
        assert_eq!(par, seq);
        assert_eq!(par_err, seq_err);
        let msg = seq_err.unwrap_err();
        assert!(msg.contains("b.json', line 2") && msg.contains("field 'a'"), "{msg}");
    }
}
