//! Writing rows as part files, Flink's FileSink protocol: each subtask writes a hidden
//! `.part-<job>-<subtask>-<n>.inprogress` file in the directory, encoded by the format; the
//! file rolls on size or age (checked on the next write) and at every checkpoint barrier,
//! where it is synced and becomes *pending*; pending files are renamed to
//! `part-<job>-<subtask>-<n>` when the checkpoint completes (exactly-once: a file is visible
//! only if the checkpoint covering its rows is durable, and a restored job commits its
//! checkpoint's pending files again — renaming is idempotent). Without checkpoint storage,
//! rolled files are renamed at once. In-progress files of a failed attempt stay hidden.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use rask_formats::RecordEncoder;
use rask_sql::catalog::TableDef;
use rask_runtime::connector::{SinkContext, SinkWriter};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::StreamBatch;

use super::options::FsOptions;

pub struct PartFileWriter {
    dir: PathBuf,
    job: String,
    subtask: usize,
    counter: u64,
    max_size: u64,
    rollover: std::time::Duration,
    opened: std::time::Instant,
    encoder: Box<dyn RecordEncoder>,
    /// The open in-progress file: (hidden path, writer, bytes, final path).
    current: Option<(PathBuf, BufWriter<File>, u64, PathBuf)>,
    /// Rolled files waiting to be committed: (hidden path, final path).
    closed: Vec<(PathBuf, PathBuf)>,
    /// Commit on checkpoint completion (exactly-once) rather than at once.
    two_phase: bool,
    records: Vec<Vec<u8>>,
}

impl PartFileWriter {
    pub fn new(opts: FsOptions, table: &TableDef, ctx: &SinkContext) -> Result<Self> {
        std::fs::create_dir_all(&opts.path)
            .map_err(|e| RuntimeError::External(format!("cannot create directory '{}': {e}", opts.path.display())))?;
        let encoder = rask_formats::encoder(&opts.format, table.physical_schema(), &opts.options).map_err(|e| RuntimeError::User(e.to_string()))?;
        let job = format!("{:x}", std::process::id() as u64 ^ (chrono::Utc::now().timestamp_micros() as u64));
        Ok(PartFileWriter {
            dir: opts.path,
            job,
            subtask: ctx.subtask,
            counter: 0,
            max_size: opts.file_size.max(1),
            rollover: opts.rollover,
            opened: std::time::Instant::now(),
            encoder,
            current: None,
            closed: Vec::new(),
            two_phase: ctx.two_phase,
            records: Vec::new(),
        })
    }

    /// Close the in-progress file (durably) and queue it for commit.
    fn roll(&mut self) -> Result<()> {
        if let Some((tmp, w, _, fin)) = self.current.take() {
            let f = w.into_inner().map_err(|e| RuntimeError::External(format!("writing '{}': {}", tmp.display(), e.error())))?;
            if self.two_phase {
                f.sync_data().map_err(|e| RuntimeError::External(format!("writing '{}': {e}", tmp.display())))?;
            }
            self.closed.push((tmp, fin));
            if !self.two_phase {
                let done = std::mem::take(&mut self.closed);
                commit_files(&done)?;
            }
        }
        Ok(())
    }
}

/// Rename each pending file to its final name; a file already renamed (a commit repeated
/// after a failure) is fine, a pending file that vanished is data loss and an error.
fn commit_files(files: &[(PathBuf, PathBuf)]) -> Result<()> {
    for (tmp, fin) in files {
        match std::fs::rename(tmp, fin) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && fin.exists() => {}
            Err(e) => return Err(RuntimeError::External(format!("committing '{}' as '{}': {e}", tmp.display(), fin.display()))),
        }
    }
    Ok(())
}

fn encode_committable(tmp: &std::path::Path, fin: &std::path::Path) -> Vec<u8> {
    format!("{}\n{}", tmp.display(), fin.display()).into_bytes()
}

fn decode_committable(b: &[u8]) -> Result<(PathBuf, PathBuf)> {
    let s = std::str::from_utf8(b).map_err(|_| RuntimeError::User("corrupt filesystem sink committable in the checkpoint".into()))?;
    let (t, f) = s.split_once('\n').ok_or_else(|| RuntimeError::User("corrupt filesystem sink committable in the checkpoint".into()))?;
    Ok((PathBuf::from(t), PathBuf::from(f)))
}

impl SinkWriter for PartFileWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        self.records.clear();
        self.encoder.encode_changelog(&batch.data, batch.kinds.as_deref(), &mut self.records).map_err(|e| RuntimeError::User(e.to_string()))?;
        for r in std::mem::take(&mut self.records) {
            if self.current.is_some() && self.opened.elapsed() >= self.rollover {
                self.roll()?;
            }
            if self.current.is_none() {
                self.opened = std::time::Instant::now();
                let n = self.counter;
                self.counter += 1;
                let tmp = self.dir.join(format!(".part-{}-{}-{n}.inprogress", self.job, self.subtask));
                let fin = self.dir.join(format!("part-{}-{}-{n}", self.job, self.subtask));
                let f = File::create(&tmp).map_err(|e| RuntimeError::External(format!("cannot create '{}': {e}", tmp.display())))?;
                self.current = Some((tmp, BufWriter::with_capacity(1 << 20, f), 0, fin));
            }
            if let Some((tmp, w, size, _)) = self.current.as_mut() {
                w.write_all(&r).and_then(|_| w.write_all(b"\n")).map_err(|e| RuntimeError::External(format!("writing '{}': {e}", tmp.display())))?;
                *size += r.len() as u64 + 1;
                if *size >= self.max_size {
                    self.roll()?;
                }
            }
        }
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        self.roll()?;
        Ok(std::mem::take(&mut self.closed).iter().map(|(t, f)| encode_committable(t, f)).collect())
    }

    fn commit(&mut self, committables: &[Vec<u8>]) -> Result<()> {
        let files = committables.iter().map(|c| decode_committable(c)).collect::<Result<Vec<_>>>()?;
        commit_files(&files)
    }

    fn exactly_once(&self) -> bool {
        self.two_phase
    }
}
