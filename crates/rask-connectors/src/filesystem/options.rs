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
    ]
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
        Ok(FsOptions {
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
