//! Writing rows as part files, Flink's FileSink protocol: each subtask writes a hidden
//! `.part-<job>-<subtask>-<n>.inprogress` file in the directory, encoded by the format; the
//! file rolls on size or age (checked on the next write) and at every checkpoint barrier,
//! where it is synced and becomes *pending*; pending files are renamed to
//! `part-<job>-<subtask>-<n>` when the checkpoint completes (exactly-once: a file is visible
//! only if the checkpoint covering its rows is durable, and a restored job commits its
//! checkpoint's pending files again — renaming is idempotent). Without checkpoint storage,
//! rolled files are renamed at once. In-progress files of a failed attempt stay hidden.
//!
//! A `PARTITIONED BY` table: each row goes to the directory of its partition values
//! (`dt=2024-01-01/hm=00%3A00`, Hive's escaping; NULL or empty is `partition.default-name`),
//! one in-progress file per partition, and the partition columns are left out of the files,
//! as in Flink. With `sink.partition-commit.policy.kind` = 'success-file', a partition whose
//! files have been committed is itself committed — an empty `_SUCCESS` file written into it —
//! once its trigger fires: `process-time`, `sink.partition-commit.delay` after its first file
//! was committed; `partition-time`, when the watermark passes the time extracted from its
//! values (`partition.time-extractor.timestamp-pattern`) plus the delay. At the end of input
//! every partition is committed. Partitions waiting for their trigger are kept in the
//! checkpoint. Each subtask commits the partitions it wrote to (Flink collects them in one
//! committer), so with several writers a partition may be marked before another writer's
//! files of the same checkpoint are renamed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use rask_formats::RecordEncoder;
use rask_runtime::connector::{SinkContext, SinkWriter, FINAL_CHECKPOINT};
use rask_runtime::error::{Result, RuntimeError};
use rask_sql::catalog::TableDef;
use rask_types::StreamBatch;

use super::options::{CommitTrigger, FsOptions, PartitionCommit};

/// An open in-progress file.
struct InProgress {
    tmp: PathBuf,
    writer: BufWriter<File>,
    size: u64,
    fin: PathBuf,
    opened: std::time::Instant,
}

pub struct PartFileWriter {
    dir: PathBuf,
    job: String,
    subtask: usize,
    counter: u64,
    max_size: u64,
    rollover: std::time::Duration,
    encoder: Box<dyn RecordEncoder>,
    /// Partition columns (physical indices) and the columns written into the files.
    partition_cols: Vec<usize>,
    data_cols: Vec<usize>,
    data_schema: SchemaRef,
    default_partition: String,
    /// The open file per partition directory (relative; "" when not partitioned).
    open: BTreeMap<String, InProgress>,
    /// Rolled files waiting to be committed: (hidden path, final path).
    closed: Vec<(PathBuf, PathBuf)>,
    /// Commit on checkpoint completion (exactly-once) rather than at once.
    two_phase: bool,
    records: Vec<Vec<u8>>,
    commit: Option<PartitionCommit>,
    /// Partitions with committed files, not committed themselves yet: directory → when its
    /// first file was committed (epoch ms).
    pending: BTreeMap<String, i64>,
    watermark: i64,
    /// The end of input was prepared: the next commit commits every partition.
    ending: bool,
}

/// Hive's escaping of a partition value in a path (`FileUtils.escapePathName`).
fn escape(v: &str, out: &mut String) {
    for c in v.chars() {
        if (c as u32) < 0x20 || matches!(c, '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\u{7F}' | '{' | '[' | ']' | '^') {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
}

fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A partition directory's `name=value` pairs (values unescaped).
pub(crate) fn partition_values(dir: &str) -> Vec<(String, String)> {
    dir.split('/').filter_map(|seg| seg.split_once('=')).map(|(k, v)| (k.to_string(), unescape(v))).collect()
}

/// A Java `DateTimeFormatter` pattern of the usual letters as a chrono format.
fn chrono_format(java: &str) -> String {
    java.replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d").replace("HH", "%H").replace("mm", "%M").replace("ss", "%S")
}

/// The time of a partition (epoch ms, UTC) by Flink's default extractor: the pattern with
/// `$name` replaced by the partition's values (default: the first value), parsed with the
/// formatter; a date alone is its midnight.
fn partition_time(dir: &str, pattern: Option<&str>, formatter: &str) -> Option<i64> {
    let values = partition_values(dir);
    let text = match pattern {
        Some(p) => {
            let mut t = p.to_string();
            // Longest names first, so that `$dt` does not eat `$dth`.
            let mut sorted = values.clone();
            sorted.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
            for (k, v) in &sorted {
                t = t.replace(&format!("${k}"), v);
            }
            t
        }
        None => values.first()?.1.clone(),
    };
    let f = chrono_format(formatter);
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&text, &f) {
        return Some(t.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis())
}

impl PartFileWriter {
    pub fn new(opts: FsOptions, table: &TableDef, ctx: &SinkContext) -> Result<Self> {
        std::fs::create_dir_all(&opts.path)
            .map_err(|e| RuntimeError::External(format!("cannot create directory '{}': {e}", opts.path.display())))?;
        let physical = table.physical_schema();
        let partition_cols: Vec<usize> = table.partition_keys.iter().filter_map(|k| physical.index_of(k).ok()).collect();
        let data_cols: Vec<usize> = (0..physical.fields().len()).filter(|i| !partition_cols.contains(i)).collect();
        let data_schema: SchemaRef = Arc::new(physical.project(&data_cols)?);
        let encoder = rask_formats::encoder(&opts.format, data_schema.clone(), &opts.options).map_err(|e| RuntimeError::User(e.to_string()))?;
        let job = format!("{:x}", std::process::id() as u64 ^ (chrono::Utc::now().timestamp_micros() as u64));
        Ok(PartFileWriter {
            dir: opts.path,
            job,
            subtask: ctx.subtask,
            counter: 0,
            max_size: opts.file_size.max(1),
            rollover: opts.rollover,
            encoder,
            commit: opts.commit.filter(|_| !partition_cols.is_empty()),
            partition_cols,
            data_cols,
            data_schema,
            default_partition: opts.default_partition,
            open: BTreeMap::new(),
            closed: Vec::new(),
            two_phase: ctx.two_phase,
            records: Vec::new(),
            pending: BTreeMap::new(),
            watermark: i64::MIN,
            ending: false,
        })
    }

    /// Each row's partition directory.
    fn partitions(&self, data: &RecordBatch) -> Result<Vec<String>> {
        let cols = self
            .partition_cols
            .iter()
            .map(|c| arrow::compute::cast(data.column(*c), &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let names: Vec<&String> = self.partition_cols.iter().map(|c| data.schema_ref().field(*c).name()).collect();
        Ok((0..data.num_rows())
            .map(|i| {
                let mut dir = String::new();
                for (n, c) in names.iter().zip(&cols) {
                    if !dir.is_empty() {
                        dir.push('/');
                    }
                    dir.push_str(n);
                    dir.push('=');
                    let v = c.as_string::<i32>();
                    if c.is_null(i) || v.value(i).is_empty() {
                        dir.push_str(&self.default_partition);
                    } else {
                        escape(v.value(i), &mut dir);
                    }
                }
                dir
            })
            .collect())
    }

    /// Append encoded records to the open file of partition `part` (rolling on size, and on age
    /// as it was when the call began).
    fn append(&mut self, part: &str, records: Vec<Vec<u8>>) -> Result<()> {
        if self.open.get(part).is_some_and(|f| f.opened.elapsed() >= self.rollover) {
            self.roll(part)?;
        }
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            if !self.open.contains_key(part) {
                let n = self.counter;
                self.counter += 1;
                let dir = if part.is_empty() { self.dir.clone() } else { self.dir.join(part) };
                std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::External(format!("cannot create directory '{}': {e}", dir.display())))?;
                let tmp = dir.join(format!(".part-{}-{}-{n}.inprogress", self.job, self.subtask));
                let fin = dir.join(format!("part-{}-{}-{n}", self.job, self.subtask));
                let f = File::create(&tmp).map_err(|e| RuntimeError::External(format!("cannot create '{}': {e}", tmp.display())))?;
                self.open.insert(part.to_string(), InProgress { tmp, writer: BufWriter::with_capacity(1 << 20, f), size: 0, fin, opened: std::time::Instant::now() });
            }
            let Some(f) = self.open.get_mut(part) else { break };
            let mut full = false;
            for r in records.by_ref() {
                f.writer.write_all(&r).and_then(|_| f.writer.write_all(b"\n")).map_err(|e| RuntimeError::External(format!("writing '{}': {e}", f.tmp.display())))?;
                f.size += r.len() as u64 + 1;
                if f.size >= self.max_size {
                    full = true;
                    break;
                }
            }
            if full {
                self.roll(part)?;
            }
        }
        Ok(())
    }

    /// Close partition `part`'s in-progress file (durably) and queue it for commit.
    fn roll(&mut self, part: &str) -> Result<()> {
        if let Some(f) = self.open.remove(part) {
            let file = f.writer.into_inner().map_err(|e| RuntimeError::External(format!("writing '{}': {}", f.tmp.display(), e.error())))?;
            if self.two_phase {
                file.sync_data().map_err(|e| RuntimeError::External(format!("writing '{}': {e}", f.tmp.display())))?;
            }
            self.closed.push((f.tmp, f.fin));
            if !self.two_phase {
                let done = std::mem::take(&mut self.closed);
                self.commit_files(&done)?;
            }
        }
        Ok(())
    }

    fn roll_all(&mut self) -> Result<()> {
        let parts: Vec<String> = self.open.keys().cloned().collect();
        parts.iter().try_for_each(|p| self.roll(p))
    }

    /// Rename each pending file to its final name; a file already renamed (a commit repeated
    /// after a failure) is fine, a pending file that vanished is data loss and an error. The
    /// files' partitions wait for their commit.
    fn commit_files(&mut self, files: &[(PathBuf, PathBuf)]) -> Result<()> {
        for (tmp, fin) in files {
            match std::fs::rename(tmp, fin) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && fin.exists() => {}
                Err(e) => return Err(RuntimeError::External(format!("committing '{}' as '{}': {e}", tmp.display(), fin.display()))),
            }
            if self.commit.is_some()
                && let Some(part) = fin.parent().and_then(|p| p.strip_prefix(&self.dir).ok()).map(|p| p.to_string_lossy().into_owned())
            {
                self.pending.entry(part).or_insert_with(rask_types::now_ms);
            }
        }
        Ok(())
    }

    /// Commit the partitions whose trigger fired (all of them at the end of input).
    fn commit_partitions(&mut self) -> Result<()> {
        let Some(policy) = self.commit.clone() else { return Ok(()) };
        let now = rask_types::now_ms();
        let ready: Vec<String> = self
            .pending
            .iter()
            .filter(|(part, seen)| {
                self.ending
                    || match &policy.trigger {
                        CommitTrigger::ProcessTime => now >= seen.saturating_add(policy.delay_ms),
                        CommitTrigger::PartitionTime { pattern, formatter } => {
                            partition_time(part, pattern.as_deref(), formatter).is_some_and(|t| t.saturating_add(policy.delay_ms) < self.watermark)
                        }
                    }
            })
            .map(|(p, _)| p.clone())
            .collect();
        for part in ready {
            let marker = self.dir.join(&part).join(&policy.success_file);
            File::create(&marker).map_err(|e| RuntimeError::External(format!("committing partition '{part}': cannot write '{}': {e}", marker.display())))?;
            tracing::debug!(partition = %part, "partition committed");
            self.pending.remove(&part);
        }
        Ok(())
    }
}

/// A pending file (`F`) or a partition waiting for its commit (`P`) in the checkpoint.
fn encode_committable(kind: char, a: &Path, b: &str) -> Vec<u8> {
    format!("{kind}\n{}\n{b}", a.display()).into_bytes()
}

enum Committable {
    File(PathBuf, PathBuf),
    Partition(String, i64),
}

fn decode_committable(b: &[u8]) -> Result<Committable> {
    let corrupt = || RuntimeError::User("corrupt filesystem sink committable in the checkpoint".into());
    let s = std::str::from_utf8(b).map_err(|_| corrupt())?;
    let mut it = s.splitn(3, '\n');
    match (it.next(), it.next(), it.next()) {
        (Some("F"), Some(t), Some(f)) => Ok(Committable::File(PathBuf::from(t), PathBuf::from(f))),
        (Some("P"), Some(p), Some(seen)) => Ok(Committable::Partition(p.to_string(), seen.parse().map_err(|_| corrupt())?)),
        // Before partitions: "<hidden path>\n<final path>".
        (Some(t), Some(f), None) => Ok(Committable::File(PathBuf::from(t), PathBuf::from(f))),
        _ => Err(corrupt()),
    }
}

impl SinkWriter for PartFileWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        if self.partition_cols.is_empty() {
            self.records.clear();
            self.encoder.encode_changelog(&batch.data, batch.kinds.as_deref(), &mut self.records).map_err(|e| RuntimeError::User(e.to_string()))?;
            let records = std::mem::take(&mut self.records);
            return self.append("", records);
        }
        // Rows grouped by partition, in order of first appearance, each group in row order.
        let parts = self.partitions(&batch.data)?;
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            let g = *index.entry(p.as_str()).or_insert_with(|| {
                groups.push((p.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i as u32);
        }
        let data = RecordBatch::try_new(self.data_schema.clone(), self.data_cols.iter().map(|c| batch.data.column(*c).clone()).collect())?;
        for (part, rows) in groups {
            let idx = UInt32Array::from(rows);
            let cols = data.columns().iter().map(|c| arrow::compute::take(c, &idx, None)).collect::<std::result::Result<Vec<_>, _>>()?;
            let rb = RecordBatch::try_new(self.data_schema.clone(), cols)?;
            let kinds = match batch.kinds.as_deref() {
                Some(k) => Some(arrow::compute::take(k, &idx, None)?.as_primitive::<arrow::datatypes::UInt8Type>().clone()),
                None => None,
            };
            let mut records = Vec::new();
            self.encoder.encode_changelog(&rb, kinds.as_ref(), &mut records).map_err(|e| RuntimeError::User(e.to_string()))?;
            self.append(&part, records)?;
        }
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        if checkpoint == FINAL_CHECKPOINT {
            self.ending = true;
        }
        self.roll_all()?;
        if !self.two_phase {
            // Files were committed when they rolled.
            self.commit_partitions()?;
            return Ok(Vec::new());
        }
        let mut out: Vec<Vec<u8>> = std::mem::take(&mut self.closed).iter().map(|(t, f)| encode_committable('F', t, &f.display().to_string())).collect();
        out.extend(self.pending.iter().map(|(p, seen)| encode_committable('P', Path::new(p), &seen.to_string())));
        Ok(out)
    }

    fn commit(&mut self, committables: &[Vec<u8>]) -> Result<()> {
        let mut files = Vec::new();
        for c in committables {
            match decode_committable(c)? {
                Committable::File(t, f) => files.push((t, f)),
                Committable::Partition(p, seen) => {
                    self.pending.entry(p).or_insert(seen);
                }
            }
        }
        self.commit_files(&files)?;
        self.commit_partitions()
    }

    fn on_watermark(&mut self, watermark: i64) {
        self.watermark = self.watermark.max(watermark);
    }

    fn exactly_once(&self) -> bool {
        self.two_phase
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_escape_like_hive_and_times_extract() {
        let mut s = String::new();
        escape("00:00 a/b=c%", &mut s);
        assert_eq!(s, "00%3A00 a%2Fb%3Dc%25");
        assert_eq!(partition_values("dt=2024-01-01/hm=00%3A00"), vec![("dt".to_string(), "2024-01-01".to_string()), ("hm".to_string(), "00:00".to_string())]);
        let t = partition_time("dt=2024-01-01/hm=00%3A01", Some("$dt $hm:00"), "yyyy-MM-dd HH:mm:ss");
        assert_eq!(t, Some(1_704_067_260_000));
        assert_eq!(partition_time("dt=2024-01-02", None, "yyyy-MM-dd HH:mm:ss"), Some(1_704_153_600_000));
        assert_eq!(partition_time("dt=__DEFAULT_PARTITION__", None, "yyyy-MM-dd HH:mm:ss"), None);
        assert!(matches!(decode_committable(b"/a/.x\n/a/x").unwrap(), Committable::File(..)));
        assert!(matches!(decode_committable(&encode_committable('P', Path::new("dt=1"), "5")).unwrap(), Committable::Partition(p, 5) if p == "dt=1"));
        assert!(decode_committable(b"garbage").is_err());
    }
}
