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
        let partitioned = (!table.partition_keys.is_empty()).then(|| Partitioned {
            schema: ctx.schema.clone(),
            columns: ctx.schema.fields().iter().map(|f| table.partition_keys.iter().find(|k| *k == f.name()).cloned()).collect(),
            default_name: opts.default_partition.clone(),
        });
        let file_schema = match &partitioned {
            Some(p) => {
                let keep: Vec<usize> = (0..p.columns.len()).filter(|i| p.columns[*i].is_none()).collect();
                std::sync::Arc::new(ctx.schema.project(&keep)?)
            }
            None => ctx.schema.clone(),
        };
        let decoder = rask_formats::decoder(&opts.format, file_schema, &opts.options).map_err(|e| RuntimeError::User(e.to_string()))?;
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
        Ok(Some(match self.decoder.take_kinds() {
            Some(kinds) => StreamBatch::with_kinds(rb, kinds),
            None => StreamBatch::inserts(rb),
        }))
    }
}

impl SourceReader for FileReader {
    fn next(&mut self) -> Result<SourceEvent> {
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
                        if let Some(b) = self.flush_batch()? {
                            return Ok(SourceEvent::Batch(b));
                        }
                        let Some(interval) = self.opts.monitor_interval else { return Ok(SourceEvent::End) };
                        let now = Instant::now();
                        match self.next_scan {
                            Some(t) if t > now => {
                                std::thread::sleep((t - now).min(Duration::from_millis(100)));
                                return Ok(SourceEvent::Idle);
                            }
                            _ => {
                                self.next_scan = Some(now + interval);
                                self.scan()?;
                                if self.queue.is_empty() {
                                    return Ok(SourceEvent::Idle);
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
                // A partitioned table's batch holds one file's rows.
                if self.partitioned.is_some()
                    && let Some(b) = self.flush_batch()?
                {
                    return Ok(SourceEvent::Batch(b));
                }
                continue;
            }
            *line_no += 1;
            self.metrics.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            *offset += n as u64;
            let mut rec: &[u8] = &self.line;
            while let Some((b'\n' | b'\r', rest)) = rec.split_last() {
                rec = rest;
            }
            if rec.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if self.partitioned.is_some() && self.buffered_from.as_ref() != Some(path) {
                self.buffered_from = Some(path.clone());
            }
            match self.decoder.decode(rec) {
                Ok(true) => {}
                Ok(false) => {
                    self.metrics.skipped_records.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    return Err(RuntimeError::User(format!(
                        "cannot parse record at file '{}', line {}: {e} (set '{}.ignore-parse-errors' = 'true' to skip bad records)",
                        path.display(),
                        line_no,
                        self.opts.format
                    )));
                }
            }
            if self.decoder.buffered() >= self.batch_size
                && let Some(b) = self.flush_batch()? {
                    return Ok(SourceEvent::Batch(b));
                }
        }
    }

    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        let mut files: Vec<FilePos> = Vec::with_capacity(self.queue.len() + 1);
        if let Some((p, _, line, offset)) = &self.current {
            files.push(FilePos { path: p.clone(), offset: *offset, line: *line });
        }
        files.extend(self.queue.iter().rev().map(|(p, o, l)| FilePos { path: p.clone(), offset: *o, line: *l }));
        // Only a monitored directory lists again, so only it needs the paths already listed.
        let seen = if self.opts.monitor_interval.is_some() { self.seen.iter().cloned().collect() } else { Vec::new() };
        let pos = Position { files, seen };
        crate::position::encode("filesystem source", &pos)
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
