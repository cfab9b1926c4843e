//! Filesystem connector options (Flink's keys) plus the chosen format's options.

use std::path::PathBuf;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use rask_types::options::{OptionKind, OptionSpec, Options};

const FORMATS: &[&str] = &["json", "csv", "debezium-json", "canal-json", "maxwell-json"];

fn own_specs() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("path", OptionKind::String, "A file or directory path.").required(),
        OptionSpec::new("format", OptionKind::Enum(FORMATS), "The row format of the files.").required(),
        OptionSpec::new("source.monitor-interval", OptionKind::Duration, "Watch the path for new files at this interval (makes the source unbounded)."),
        OptionSpec::new("sink.rolling-policy.file-size", OptionKind::String, "Roll to a new part file after this size (e.g. 128MB).").default("128MB"),
        OptionSpec::new("sink.rolling-policy.rollover-interval", OptionKind::Duration, "Roll to a new part file after this time.").default("30 min"),
        OptionSpec::new("sink.rolling-policy.check-interval", OptionKind::Duration, "How often the rollover interval is checked.").default("1 min"),
        OptionSpec::new("sink.parallelism", OptionKind::Int { min: 1, max: 32768 }, "Sink parallelism (accepted; the job's parallelism is used)."),
        OptionSpec::new("lookup.join.cache.ttl", OptionKind::Duration, "As a lookup table: re-read the files after this long.").default("60 min"),
        OptionSpec::new("source.path.regex-pattern", OptionKind::String, "Only read files whose path matches this regular expression."),
        OptionSpec::new("partition.default-name", OptionKind::String, "The partition directory of a NULL or empty partition value.").default("__DEFAULT_PARTITION__"),
        OptionSpec::new("sink.partition-commit.trigger", OptionKind::Enum(&["process-time", "partition-time"]), "When a partition is committed: by the clock after its creation, or by the watermark after the time extracted from its values.").default("process-time"),
        OptionSpec::new("sink.partition-commit.delay", OptionKind::Duration, "How long after its creation (process-time) or its time (partition-time) a partition is committed.").default("0 s"),
        OptionSpec::new("sink.partition-commit.policy.kind", OptionKind::String, "How a partition is committed: 'success-file' writes an empty marker file into it."),
        OptionSpec::new("sink.partition-commit.success-file.name", OptionKind::String, "The success-file policy's file name.").default("_SUCCESS"),
        OptionSpec::new("sink.partition-commit.watermark-time-zone", OptionKind::String, "Time zone of partition times compared with the watermark (UTC).").default("UTC"),
        OptionSpec::new("partition.time-extractor.kind", OptionKind::Enum(&["default"]), "How a partition's time is extracted from its values.").default("default"),
        OptionSpec::new("partition.time-extractor.timestamp-pattern", OptionKind::String, "The partition time built from partition values, e.g. '$dt $hm:00' (default: the first partition value)."),
        OptionSpec::new("partition.time-extractor.timestamp-formatter", OptionKind::String, "The format of the extracted time (Java DateTimeFormatter letters).").default("yyyy-MM-dd HH:mm:ss"),
    ]
}

/// When partitions of a partitioned sink are committed (`sink.partition-commit.*`).
#[derive(Debug, Clone, PartialEq)]
pub enum CommitTrigger {
    /// `delay` after the partition was created, by the clock.
    ProcessTime,
    /// When the watermark passes the partition's time plus `delay`.
    PartitionTime { pattern: Option<String>, formatter: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionCommit {
    pub trigger: CommitTrigger,
    pub delay_ms: i64,
    /// The success-file policy's file name.
    pub success_file: String,
}

/// Own options plus the options of the format named in `opts` (if it is a known format).
pub fn specs(opts: &Options) -> Vec<OptionSpec> {
    let mut s = own_specs();
    if let Some(f) = opts.get("format").and_then(rask_formats::format_options) {
        s.extend(f);
    }
    s
}

#[derive(Debug, Clone)]
pub struct FsOptions {
    pub path: PathBuf,
    pub format: String,
    pub monitor_interval: Option<Duration>,
    pub file_size: u64,
    pub rollover: Duration,
    pub path_regex: Option<regex::Regex>,
    /// `partition.default-name`.
    pub default_partition: String,
    /// `sink.partition-commit.policy.kind` = success-file: when and how partitions commit.
    pub commit: Option<PartitionCommit>,
    pub options: Options,
}

pub fn parse_size(v: &str) -> Result<u64, String> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("expected a size like '128MB', got '{v}'"))?;
    let mul = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => return Err(format!("unknown size unit '{u}' in '{v}'")),
    };
    Ok(n * mul)
}

impl FsOptions {
    pub fn from_options(opts: &Options, _schema: &SchemaRef) -> Result<Self, String> {
        if let Some(f) = opts.get("format")
            && !FORMATS.contains(&f) {
                return Err(format!("option 'format' = '{f}' is not supported by the filesystem connector; use one of: {}", FORMATS.join(", ")));
            }
        let format = opts.string("format", "");
        // Options of another format are a mistake worth reporting as such.
        for k in opts.raw().keys() {
            if let Some((prefix, _)) = k.split_once('.')
                && FORMATS.contains(&prefix) && prefix != format {
                    return Err(format!("option '{k}' is for format '{prefix}' but the table's format is '{format}'"));
                }
        }
        crate::validate_specs("connector 'filesystem'", opts, &specs(opts))?;
        let commit = match opts.get("sink.partition-commit.policy.kind") {
            None => None,
            Some(kinds) => {
                for k in kinds.split(',').map(str::trim) {
                    match k {
                        "success-file" => {}
                        "metastore" => return Err("'sink.partition-commit.policy.kind' = 'metastore' needs a Hive metastore; the filesystem connector commits with 'success-file'".into()),
                        other => return Err(format!("'sink.partition-commit.policy.kind': unsupported policy '{other}' (use 'success-file')")),
                    }
                }
                let trigger = match opts.string("sink.partition-commit.trigger", "process-time").as_str() {
                    "partition-time" => CommitTrigger::PartitionTime {
                        pattern: opts.get("partition.time-extractor.timestamp-pattern").map(str::to_string),
                        formatter: opts.string("partition.time-extractor.timestamp-formatter", "yyyy-MM-dd HH:mm:ss"),
                    },
                    _ => CommitTrigger::ProcessTime,
                };
                let zone = opts.string("sink.partition-commit.watermark-time-zone", "UTC");
                if !zone.eq_ignore_ascii_case("UTC") {
                    return Err(format!("'sink.partition-commit.watermark-time-zone' = '{zone}': only UTC is supported so far"));
                }
                let delay = opts.duration("sink.partition-commit.delay")?.unwrap_or_default();
                Some(PartitionCommit {
                    trigger,
                    delay_ms: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                    success_file: opts.string("sink.partition-commit.success-file.name", "_SUCCESS"),
                })
            }
        };
        Ok(FsOptions {
            default_partition: opts.string("partition.default-name", "__DEFAULT_PARTITION__"),
            commit,
            path: PathBuf::from(opts.string("path", "")),
            format,
            monitor_interval: opts.duration("source.monitor-interval")?.filter(|d| !d.is_zero()),
            file_size: parse_size(&opts.string("sink.rolling-policy.file-size", "128MB")).map_err(|e| format!("option 'sink.rolling-policy.file-size': {e}"))?,
            rollover: opts.duration("sink.rolling-policy.rollover-interval")?.unwrap_or(Duration::from_secs(1800)),
            path_regex: match opts.get("source.path.regex-pattern") {
                None => None,
                Some(p) => Some(
                    regex::Regex::new(&format!("^(?:{p})$"))
                        .map_err(|e| format!("option 'source.path.regex-pattern': invalid regular expression '{p}': {e}"))?,
                ),
            },
            options: opts.clone(),
        })
    }
}
