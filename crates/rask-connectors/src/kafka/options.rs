//! Kafka connector options (Flink's keys): topics, `properties.*` handed to the client
//! (librdkafka accepts the Java client's common keys), startup and bounded modes, the key and
//! value formats and their layout, partition discovery and the sink's delivery guarantee.

use std::collections::BTreeMap;

use rask_types::options::{OptionKind, OptionSpec, Options};

pub const FORMATS: &[&str] = &["json", "csv", "raw", "avro"];
/// Value formats: the key formats and the changelog formats (rows with update/delete kinds).
pub const VALUE_FORMATS: &[&str] = &["json", "csv", "raw", "avro", "debezium-json", "canal-json", "maxwell-json"];
const STARTUP: &[&str] = &["earliest-offset", "latest-offset", "group-offsets", "timestamp", "specific-offsets"];
const BOUNDED: &[&str] = &["unbounded", "latest-offset", "group-offsets", "timestamp", "specific-offsets"];
const DELIVERY: &[&str] = &["none", "at-least-once", "exactly-once"];
const PARTITIONER: &[&str] = &["default", "fixed", "round-robin"];
const FIELDS_INCLUDE: &[&str] = &["ALL", "EXCEPT_KEY"];

pub(crate) fn own_specs() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("topic", OptionKind::String, "Topic name(s) to read from or write to (several separated by ';' for a source)."),
        OptionSpec::new("topic-pattern", OptionKind::String, "Regular expression of the topics to read (source only)."),
        OptionSpec::new("properties.bootstrap.servers", OptionKind::String, "Comma-separated list of Kafka brokers.").required(),
        OptionSpec::new("properties.group.id", OptionKind::String, "Consumer group id (needed for 'group-offsets')."),
        OptionSpec::new("properties.#", OptionKind::String, "Any Kafka client property (passed to librdkafka)."),
        OptionSpec::new("format", OptionKind::Enum(VALUE_FORMATS), "The format of the record values."),
        OptionSpec::new("value.format", OptionKind::Enum(VALUE_FORMATS), "The format of the record values (alternative key)."),
        OptionSpec::new("key.format", OptionKind::Enum(FORMATS), "The format of the record keys (needs 'key.fields')."),
        OptionSpec::new("key.fields", OptionKind::String, "Physical columns in the record key, separated by ';'."),
        OptionSpec::new("key.fields-prefix", OptionKind::String, "Prefix of the key columns' names, removed in the key format (needs value.fields-include = EXCEPT_KEY)."),
        OptionSpec::new("value.fields-include", OptionKind::Enum(FIELDS_INCLUDE), "Whether the value holds all physical columns or all except the key's.").default("ALL"),
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
        s.extend(prefixed_format_specs("value", f));
    }
    if let Some(f) = opts.get("key.format") {
        s.extend(prefixed_format_specs("key", f));
    }
    s
}

/// A format's options under `value.` or `key.` (built once per format: spec keys are static).
pub(crate) fn prefixed_format_specs(prefix: &str, format: &str) -> Vec<OptionSpec> {
    type Cache = Vec<(&'static str, &'static str, Vec<OptionSpec>)>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        ["value", "key"]
            .iter()
            .flat_map(|p| FORMATS.iter().map(move |f| (*p, *f)))
            .map(|(p, f)| {
                let specs = rask_formats::format_options(f).unwrap_or_default();
                let prefixed = specs
                    .into_iter()
                    .map(|mut o| {
                        o.key = Box::leak(format!("{p}.{}", o.key).into_boxed_str());
                        o
                    })
                    .collect();
                (p, f, prefixed)
            })
            .collect()
    });
    all.iter().find(|(p, f, _)| *p == prefix && *f == format).map(|(_, _, s)| s.clone()).unwrap_or_default()
}

/// The record key: its format and options, and the physical columns it holds.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub format: String,
    /// The format's options under their plain keys (`json.…`).
    pub format_options: Options,
    /// Key columns, in `key.fields` order.
    pub fields: Vec<String>,
    /// `key.fields-prefix`, removed from the names the key format sees.
    pub prefix: String,
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
    /// `key.format` / `key.fields` (records are values only without them).
    pub key: Option<KeySpec>,
    /// `value.fields-include` = 'EXCEPT_KEY': the value leaves the key columns out.
    pub value_except_key: bool,
    pub delivery: Delivery,
    /// `sink.transactional-id-prefix` (required for exactly-once).
    pub transactional_id_prefix: Option<String>,
    pub partitioner: Partitioner,
    /// `scan.topic-partition-discovery.interval` (`None`: disabled).
    pub discovery: Option<std::time::Duration>,
    /// `upsert-kafka`: records are upserts by key (a null value deletes the key) and the sink
    /// writes updates as upserts and deletes as tombstones.
    pub upsert: bool,
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

/// Where a row's physical columns go in a record: the key's columns (named as the key format
/// sees them) and the value's.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Physical column indices in the key, and the key format's schema.
    pub key: Option<(Vec<usize>, arrow::datatypes::SchemaRef)>,
    /// Physical column indices in the value, and the value format's schema.
    pub value: (Vec<usize>, arrow::datatypes::SchemaRef),
    /// Per physical column, where a reader takes it from (the value wins with ALL, as in Flink).
    pub columns: Vec<Side>,
    /// What the job reads of each of the value's columns (projection push-down; a reader sets
    /// it, all whole until then).
    pub value_read: Vec<rask_types::ColumnUse>,
}

/// A physical column's place in a record: its index among the value's or the key's columns.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    Value(usize),
    Key(usize),
}

impl KafkaOptions {
    /// The record layout of a table with these physical columns; `Err` names a key field
    /// that is not one of them.
    pub fn layout(&self, physical: &arrow::datatypes::Schema) -> Result<Layout, String> {
        use arrow::datatypes::{Field, Schema};
        let key = match &self.key {
            None => None,
            Some(k) => {
                let mut idx = Vec::new();
                let mut fields = Vec::new();
                for name in &k.fields {
                    let i = physical.index_of(name).map_err(|_| {
                        let cols: Vec<&str> = physical.fields().iter().map(|f| f.name().as_str()).collect();
                        format!("option 'key.fields': '{name}' is not a physical column of the table ({})", cols.join(", "))
                    })?;
                    let f = physical.field(i);
                    idx.push(i);
                    fields.push(Field::new(name.strip_prefix(&k.prefix).unwrap_or(name), f.data_type().clone(), f.is_nullable()));
                }
                Some((idx, std::sync::Arc::new(Schema::new(fields))))
            }
        };
        let value_idx: Vec<usize> = (0..physical.fields().len())
            .filter(|i| !self.value_except_key || !key.as_ref().is_some_and(|(k, _)| k.contains(i)))
            .collect();
        let value_schema = std::sync::Arc::new(physical.project(&value_idx).map_err(|e| e.to_string())?);
        let key_idx = key.as_ref().map(|(k, _)| k.as_slice()).unwrap_or_default();
        let columns = (0..physical.fields().len())
            .map(|j| match value_idx.iter().position(|v| *v == j) {
                Some(v) => Ok(Side::Value(v)),
                None => key_idx.iter().position(|k| *k == j).map(Side::Key).ok_or_else(|| format!("column {j} is in neither the key nor the value")),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let value_read = vec![rask_types::ColumnUse::Whole; value_idx.len()];
        Ok(Layout { key, value: (value_idx, value_schema), columns, value_read })
    }

    pub fn from_options(opts: &Options) -> Result<Self, String> {
        crate::validate_specs("connector 'kafka'", opts, &specs(opts))?;
        Self::parse(opts)
    }

    /// The options of a table whose keys have been validated (by `kafka`'s specs or another
    /// connector's, e.g. `upsert-kafka`).
    pub(crate) fn parse(opts: &Options) -> Result<Self, String> {
        let format = match (opts.get("format"), opts.get("value.format")) {
            (Some(_), Some(_)) => return Err("options 'format' and 'value.format' are alternatives; set one".into()),
            (Some(f), None) | (None, Some(f)) => f.to_string(),
            (None, None) => return Err("connector 'kafka' requires option 'format' or 'value.format' (one of: json, csv, raw)".into()),
        };
        // The decoder/encoder see `json.x` whether the table said `json.x` or `value.json.x`.
        let mut fmt = BTreeMap::new();
        for (k, v) in opts.raw() {
            let k = k.strip_prefix("value.").unwrap_or(k);
            if k.starts_with(&format!("{format}.")) {
                fmt.insert(k.to_string(), v.clone());
            }
        }
        let except_key = opts.string("value.fields-include", "ALL").eq_ignore_ascii_case("EXCEPT_KEY");
        let key = match (opts.get("key.format"), opts.get("key.fields")) {
            (None, None) => None,
            (Some(_), None) => return Err("a key format 'key.format' requires the declaration of one or more key fields using 'key.fields'".into()),
            (None, Some(_)) => return Err("'key.fields' needs a key format: set 'key.format'".into()),
            (Some(f), Some(fields)) => {
                let key_fmt: BTreeMap<String, String> = opts
                    .raw()
                    .iter()
                    .filter_map(|(k, v)| k.strip_prefix("key.").filter(|k| k.starts_with(&format!("{f}."))).map(|k| (k.to_string(), v.clone())))
                    .collect();
                let prefix = opts.get("key.fields-prefix").unwrap_or("").to_string();
                if !prefix.is_empty() && !except_key {
                    return Err("'key.fields-prefix' needs option 'value.fields-include' = 'EXCEPT_KEY'".into());
                }
                let fields: Vec<String> = fields.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                if fields.is_empty() {
                    return Err("option 'key.fields' lists no column".into());
                }
                if let Some(f) = fields.iter().find(|f| !f.starts_with(&prefix)) {
                    return Err(format!("key field '{f}' does not start with 'key.fields-prefix' '{prefix}'"));
                }
                Some(KeySpec { format: f.to_string(), format_options: Options::new(key_fmt), fields, prefix })
            }
        };
        if except_key && key.is_none() {
            return Err("'value.fields-include' = 'EXCEPT_KEY' needs key fields ('key.format' and 'key.fields')".into());
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
            key,
            value_except_key: except_key,
            delivery,
            transactional_id_prefix: opts.get("sink.transactional-id-prefix").map(str::to_string),
            partitioner,
            discovery: opts
                .duration("scan.topic-partition-discovery.interval")?
                .map_or(Some(std::time::Duration::from_secs(300)), |d| (!d.is_zero()).then_some(d)),
            upsert: false,
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
