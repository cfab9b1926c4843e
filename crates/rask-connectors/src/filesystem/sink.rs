//! Writing rows as part files: each subtask writes `.part-<job>-<subtask>-<n>.inprogress`
//! files in the directory, encoded by the format, and renames them to `part-<job>-<subtask>-<n>`
//! when they roll (size, or age checked on the next write) or when the input ends. (Committing on checkpoints, Flink's
//! exactly-once FileSink protocol, builds on this with the checkpoint coordinator.)

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
    current: Option<(PathBuf, BufWriter<File>, u64)>,
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
            records: Vec::new(),
        })
    }

    fn final_name(&self, n: u64) -> PathBuf {
        self.dir.join(format!("part-{}-{}-{}", self.job, self.subtask, n))
    }

    fn roll(&mut self) -> Result<()> {
        if let Some((tmp, mut w, _)) = self.current.take() {
            w.flush().map_err(|e| RuntimeError::External(format!("writing '{}': {e}", tmp.display())))?;
            drop(w);
            let fin = self.final_name(self.counter - 1);
            std::fs::rename(&tmp, &fin).map_err(|e| RuntimeError::External(format!("committing '{}': {e}", fin.display())))?;
        }
        Ok(())
    }
}

impl SinkWriter for PartFileWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        if batch.kinds.as_ref().is_some_and(|k| k.values().iter().any(|v| *v != 0)) {
            return Err(RuntimeError::User(
                "the filesystem sink with this format accepts only inserts, but the query produces updates; use a changelog format".into(),
            ));
        }
        self.records.clear();
        self.encoder.encode(&batch.data, &mut self.records).map_err(|e| RuntimeError::User(e.to_string()))?;
        for r in std::mem::take(&mut self.records) {
            if self.current.is_some() && self.opened.elapsed() >= self.rollover {
                self.roll()?;
            }
            if self.current.is_none() {
                self.opened = std::time::Instant::now();
                let tmp = self.dir.join(format!(".part-{}-{}-{}.inprogress", self.job, self.subtask, self.counter));
                self.counter += 1;
                let f = File::create(&tmp).map_err(|e| RuntimeError::External(format!("cannot create '{}': {e}", tmp.display())))?;
                self.current = Some((tmp, BufWriter::with_capacity(1 << 20, f), 0));
            }
            if let Some((tmp, w, size)) = self.current.as_mut() {
                w.write_all(&r).and_then(|_| w.write_all(b"\n")).map_err(|e| RuntimeError::External(format!("writing '{}': {e}", tmp.display())))?;
                *size += r.len() as u64 + 1;
                if *size >= self.max_size {
                    self.roll()?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.roll()
    }
}
