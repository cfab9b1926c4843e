//! Kafka connector options (Flink's keys): topics, `properties.*` handed to the client
//! (librdkafka accepts the Java client's common keys), startup and bounded modes, the value
//! format and the sink's delivery guarantee.

use std::collections::BTreeMap;

use rask_types::options::{OptionKind, OptionSpec, Options};

pub const FORMATS: &[&str] = &["json", "csv", "raw"];
const STARTUP: &[&str] = &["earliest-offset", "latest-offset", "group-offsets", "timestamp", "specific-offsets"];
const BOUNDED: &[&str] = &["unbounded", "latest-offset", "group-offsets", "timestamp", "specific-offsets"];
const DELIVERY: &[&str] = &["none", "at-least-once", "exactly-once"];
const PARTITIONER: &[&str] = &["default", "fixed", "round-robin"];

fn own_specs() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("topic", OptionKind::String, "Topic name(s) to read from or write to (several separated by ';' for a source)."),
        OptionSpec::new("topic-pattern", OptionKind::String, "Regular expression of the topics to read (source only)."),
        OptionSpec::new("properties.bootstrap.servers", OptionKind::String, "Comma-separated list of Kafka brokers.").required(),
        OptionSpec::new("properties.group.id", OptionKind::String, "Consumer group id (needed for 'group-offsets')."),
        OptionSpec::new("properties.#", OptionKind::String, "Any Kafka client property (passed to librdkafka)."),
        OptionSpec::new("format", OptionKind::Enum(FORMATS), "The format of the record values."),
        OptionSpec::new("value.format", OptionKind::Enum(FORMATS), "The format of the record values (alternative key)."),
        OptionSpec::new("scan.startup.mode", OptionKind::Enum(STARTUP), "Where a source starts reading.").default("group-offsets"),
        OptionSpec::new("scan.startup.timestamp-millis", OptionKind::Int { min: 0, max: i64::MAX }, "Start timestamp for 'timestamp' startup mode."),
        OptionSpec::new("scan.startup.specific-offsets", OptionKind::String, "Offsets for 'specific-offsets' startup mode: 'partition:0,offset:42;partition:1,offset:300'."),
        OptionSpec::new("scan.bounded.mode", OptionKind::Enum(BOUNDED), "Where a bounded source stops.").default("unbounded"),
        OptionSpec::new("scan.bounded.timestamp-millis", OptionKind::Int { min: 0, max: i64::MAX }, "End timestamp for 'timestamp' bounded mode."),
        OptionSpec::new("scan.bounded.specific-offsets", OptionKind::String, "End offsets for 'specific-offsets' bounded mode."),
        OptionSpec::new("scan.topic-partition-discovery.interval", OptionKind::Duration, "How often new topics (pattern) and partitions are looked for; 0 disables (default 5 min; unbounded sources only)."),
        OptionSpec::new("sink.delivery-guarantee", OptionKind::Enum(DELIVERY), "The sink's delivery guarantee.").default("at-least-once"),
        OptionSpec::new("sink.transactional-id-prefix", OptionKind::String, "Prefix of the transactional ids (exactly-once)."),
        OptionSpec::new("sink.partitioner", OptionKind::Enum(PARTITIONER), "How rows go to partitions: Kafka's default, fixed (subtask → partition) or round-robin.").default("default"),
        OptionSpec::new("sink.parallelism", OptionKind::Int { min: 1, max: 32768 }, "Sink parallelism (accepted; the job's parallelism is used)."),
    ]
}

/// Own options plus the value format's (`json.*` with `format`, `value.json.*` with `value.format`).
pub fn specs(opts: &Options) -> Vec<OptionSpec> {
    let mut s = own_specs();
    if let Some(f) = opts.get("format").and_then(rask_formats::format_options) {
        s.extend(f);
    }
    if let Some(f) = opts.get("value.format") {
        s.extend(value_format_specs(f));
    }
    s
}

/// A format's options under `value.` (built once per format: spec keys are static).
fn value_format_specs(format: &str) -> Vec<OptionSpec> {
    static CACHE: std::sync::OnceLock<Vec<(&'static str, Vec<OptionSpec>)>> = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        FORMATS
            .iter()
            .map(|f| {
                let specs = rask_formats::format_options(f).unwrap_or_default();
                let prefixed = specs
                    .into_iter()
                    .map(|mut o| {
                        o.key = Box::leak(format!("value.{}", o.key).into_boxed_str());
                        o
                    })
                    .collect();
                (*f, prefixed)
            })
            .collect()
    });
    all.iter().find(|(f, _)| *f == format).map(|(_, s)| s.clone()).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub enum StartFrom {
    Earliest,
    Latest,
    Group,
    Timestamp(i64),
    /// Offsets per partition; partitions not listed start at the earliest offset.
    Specific(BTreeMap<i32, i64>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StopAt {
    Unbounded,
    Latest,
    Group,
    Timestamp(i64),
    Specific(BTreeMap<i32, i64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    None,
    AtLeastOnce,
    ExactlyOnce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    Default,
    Fixed,
    RoundRobin,
}

#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub topics: Vec<String>,
    pub topic_pattern: Option<regex::Regex>,
    /// Client properties (keys without the `properties.` prefix).
    pub properties: BTreeMap<String, String>,
    pub start: StartFrom,
    pub stop: StopAt,
    pub format: String,
    /// The format's options under their plain keys (`json.…`).
    pub format_options: Options,
    pub delivery: Delivery,
    /// `sink.transactional-id-prefix` (required for exactly-once).
    pub transactional_id_prefix: Option<String>,
    pub partitioner: Partitioner,
    /// `scan.topic-partition-discovery.interval` (`None`: disabled).
    pub discovery: Option<std::time::Duration>,
}

/// `partition:0,offset:42;partition:1,offset:300` → {0: 42, 1: 300}.
fn parse_offsets(key: &str, v: &str) -> Result<BTreeMap<i32, i64>, String> {
    let mut out = BTreeMap::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut partition = None;
        let mut offset = None;
        for kv in part.split(',') {
            match kv.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("partition", p)) => partition = p.parse::<i32>().ok(),
                Some(("offset", o)) => offset = o.parse::<i64>().ok(),
                _ => {}
            }
        }
        match (partition, offset) {
            (Some(p), Some(o)) if p >= 0 && o >= 0 => {
                out.insert(p, o);
            }
            _ => return Err(format!("option '{key}': invalid entry '{part}'; expected 'partition:<n>,offset:<n>' entries separated by ';'")),
        }
    }
    if out.is_empty() {
        return Err(format!("option '{key}' must list at least one 'partition:<n>,offset:<n>'"));
    }
    Ok(out)
}

impl KafkaOptions {
    pub fn from_options(opts: &Options) -> Result<Self, String> {
        crate::validate_specs("connector 'kafka'", opts, &specs(opts))?;
        let format = match (opts.get("format"), opts.get("value.format")) {
            (Some(_), Some(_)) => return Err("options 'format' and 'value.format' are alternatives; set one".into()),
            (Some(f), None) | (None, Some(f)) => f.to_string(),
            (None, None) => return Err("connector 'kafka' requires option 'format' or 'value.format' (one of: json, csv, raw)".into()),
        };
        for k in opts.raw().keys() {
            if k.starts_with("key.") {
                return Err(format!("option '{k}': record keys are not supported yet by the kafka connector (values only)"));
            }
        }
        // The decoder/encoder see `json.x` whether the table said `json.x` or `value.json.x`.
        let mut fmt = BTreeMap::new();
        for (k, v) in opts.raw() {
            let k = k.strip_prefix("value.").unwrap_or(k);
            if k.starts_with(&format!("{format}.")) {
                fmt.insert(k.to_string(), v.clone());
            }
        }
        let topics: Vec<String> = opts.get("topic").map(|t| t.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        let topic_pattern = match opts.get("topic-pattern") {
            None => None,
            Some(p) => Some(regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("option 'topic-pattern': invalid regular expression '{p}': {e}"))?),
        };
        match (topics.is_empty(), topic_pattern.is_some()) {
            (true, false) => return Err("connector 'kafka' requires option 'topic' or 'topic-pattern'".into()),
            (false, true) => return Err("options 'topic' and 'topic-pattern' are alternatives; set one".into()),
            _ => {}
        }
        let properties: BTreeMap<String, String> =
            opts.raw().iter().filter_map(|(k, v)| k.strip_prefix("properties.").map(|k| (k.to_string(), v.clone()))).collect();
        let ts = |key: &str, mode: &str| -> Result<i64, String> {
            opts.int(key)?.ok_or_else(|| format!("'{mode}' mode requires option '{key}'"))
        };
        let start = match opts.string("scan.startup.mode", "group-offsets").as_str() {
            "earliest-offset" => StartFrom::Earliest,
            "latest-offset" => StartFrom::Latest,
            "timestamp" => StartFrom::Timestamp(ts("scan.startup.timestamp-millis", "timestamp")?),
            "specific-offsets" => StartFrom::Specific(parse_offsets(
                "scan.startup.specific-offsets",
                opts.get("scan.startup.specific-offsets").ok_or("'specific-offsets' startup mode requires option 'scan.startup.specific-offsets'")?,
            )?),
            _ => StartFrom::Group,
        };
        let stop = match opts.string("scan.bounded.mode", "unbounded").as_str() {
            "latest-offset" => StopAt::Latest,
            "group-offsets" => StopAt::Group,
            "timestamp" => StopAt::Timestamp(ts("scan.bounded.timestamp-millis", "timestamp")?),
            "specific-offsets" => StopAt::Specific(parse_offsets(
                "scan.bounded.specific-offsets",
                opts.get("scan.bounded.specific-offsets").ok_or("'specific-offsets' bounded mode requires option 'scan.bounded.specific-offsets'")?,
            )?),
            _ => StopAt::Unbounded,
        };
        let delivery = match opts.string("sink.delivery-guarantee", "at-least-once").as_str() {
            "none" => Delivery::None,
            "exactly-once" => Delivery::ExactlyOnce,
            _ => Delivery::AtLeastOnce,
        };
        let partitioner = match opts.string("sink.partitioner", "default").as_str() {
            "fixed" => Partitioner::Fixed,
            "round-robin" => Partitioner::RoundRobin,
            _ => Partitioner::Default,
        };
        Ok(KafkaOptions { topics, topic_pattern, properties, start, stop, format, format_options: Options::new(fmt),
            delivery,
            transactional_id_prefix: opts.get("sink.transactional-id-prefix").map(str::to_string),
            partitioner,
            discovery: opts
                .duration("scan.topic-partition-discovery.interval")?
                .map_or(Some(std::time::Duration::from_secs(300)), |d| (!d.is_zero()).then_some(d)),
        })
    }

    /// The client configuration: the table's properties, except the Java client's and
    /// Flink's own keys that librdkafka does not have (it rejects unknown keys).
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        const NOT_LIBRDKAFKA: &[&str] = &[
            "default.api.timeout.ms",
            "key.deserializer",
            "value.deserializer",
            "key.serializer",
            "value.serializer",
            "partition.discovery.interval.ms",
            "commit.offsets.on.checkpoint",
            "client.id.prefix",
            "register.consumer.metrics",
            "flink.partition-discovery.interval-millis",
        ];
        let mut c = rdkafka::ClientConfig::new();
        for (k, v) in self.properties.iter().filter(|(k, _)| !NOT_LIBRDKAFKA.contains(&k.as_str())) {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> Options {
        Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn parses_flink_options_and_reports_mistakes() {
        let o = KafkaOptions::from_options(&opts(&[
            ("topic", "a;b"),
            ("properties.bootstrap.servers", "localhost:9092"),
            ("properties.fetch.min.bytes", "1"),
            ("value.format", "json"),
            ("value.json.ignore-parse-errors", "true"),
            ("scan.startup.mode", "specific-offsets"),
            ("scan.startup.specific-offsets", "partition:0,offset:42;partition:1,offset:300"),
            ("scan.bounded.mode", "latest-offset"),
        ]))
        .unwrap();
        assert_eq!(o.topics, vec!["a", "b"]);
        assert_eq!(o.start, StartFrom::Specific([(0, 42), (1, 300)].into_iter().collect()));
        assert_eq!(o.stop, StopAt::Latest);
        assert_eq!(o.format_options.get("json.ignore-parse-errors"), Some("true"));
        assert_eq!(o.properties.get("fetch.min.bytes").map(String::as_str), Some("1"));
        let err = |kv: &[(&str, &str)]| KafkaOptions::from_options(&opts(kv)).unwrap_err();
        let base = [("properties.bootstrap.servers", "b:1"), ("format", "json")];
        assert!(err(&base).contains("requires option 'topic' or 'topic-pattern'"));
        let e = err(&[base[0], base[1], ("topic", "t"), ("scan.startup.mode", "specific-offsets"), ("scan.startup.specific-offsets", "partition:x")]);
        assert!(e.contains("invalid entry 'partition:x'"), "{e}");
        let e = err(&[base[0], base[1], ("topic", "t"), ("scan.startup.mode", "latest"), ("properties.group.id", "g")]);
        assert!(e.contains("latest-offset"), "{e}");
    }
}
