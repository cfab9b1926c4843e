//! `upsert-kafka` options (Flink's keys): the record key is the table's PRIMARY KEY in
//! `key.format`, the value in `value.format` (an insert-only format); reading always starts at
//! the earliest offsets (the topic is the table's whole history), optionally bounded.

use rask_types::options::{OptionKind, OptionSpec, Options};

use crate::kafka::options::{own_specs, prefixed_format_specs, KafkaOptions, FORMATS};

/// Kafka's option keys that upsert-kafka does not have: the key is the primary key and
/// reading starts at the earliest offsets.
const NOT_UPSERT: &[&str] = &[
    "topic-pattern",
    "format",
    "key.fields",
    "scan.startup.mode",
    "scan.startup.timestamp-millis",
    "scan.startup.specific-offsets",
    "sink.partitioner",
];

pub fn specs(opts: &Options) -> Vec<OptionSpec> {
    let mut s: Vec<OptionSpec> = own_specs().into_iter().filter(|o| !NOT_UPSERT.contains(&o.key)).collect();
    for o in &mut s {
        if o.key == "key.format" || o.key == "value.format" {
            o.kind = OptionKind::Enum(FORMATS);
            o.required = true;
        }
    }
    s.push(OptionSpec::new(
        "sink.buffer-flush.max-rows",
        OptionKind::Int { min: 0, max: i64::MAX },
        "Rows buffered (the last per key) before the sink flushes; 0 disables buffering (with 'sink.buffer-flush.interval').",
    ));
    s.push(OptionSpec::new("sink.buffer-flush.interval", OptionKind::Duration, "Longest time the sink buffers rows; 0 disables buffering (with 'sink.buffer-flush.max-rows')."));
    if let Some(f) = opts.get("value.format") {
        s.extend(prefixed_format_specs("value", f));
    }
    if let Some(f) = opts.get("key.format") {
        s.extend(prefixed_format_specs("key", f));
    }
    s
}

/// The options as the Kafka source and sink take them: the key columns are the primary key,
/// reading starts at the earliest offsets, rows are upserts.
pub fn from_options(opts: &Options, primary_key: &[String]) -> Result<KafkaOptions, String> {
    crate::validate_specs("connector 'upsert-kafka'", opts, &specs(opts))?;
    if primary_key.is_empty() {
        return Err("'upsert-kafka' tables require to define a PRIMARY KEY constraint. The PRIMARY KEY specifies which columns should be read from or write to the Kafka message key. The PRIMARY KEY also defines records in the 'upsert-kafka' table should update or delete on which keys.".into());
    }
    let mut raw = opts.raw().clone();
    raw.insert("key.fields".into(), primary_key.join(";"));
    raw.insert("scan.startup.mode".into(), "earliest-offset".into());
    let mut o = KafkaOptions::parse(&Options::new(raw))?;
    o.upsert = true;
    Ok(o)
}

/// `sink.buffer-flush.max-rows` and `sink.buffer-flush.interval`: both above zero, or buffering
/// is off.
pub fn buffer(opts: &Options) -> Result<Option<(usize, std::time::Duration)>, String> {
    let rows = opts.int("sink.buffer-flush.max-rows")?.unwrap_or(0);
    let interval = opts.duration("sink.buffer-flush.interval")?.unwrap_or_default();
    match (rows > 0, !interval.is_zero()) {
        (true, true) => Ok(Some((rows as usize, interval))),
        (false, false) => Ok(None),
        _ => Err("'sink.buffer-flush.max-rows' and 'sink.buffer-flush.interval' must be set to be greater than zero together to enable sink buffer flushing.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> Options {
        Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn key_is_the_primary_key_and_mistakes_are_named() {
        let base = [("topic", "t"), ("properties.bootstrap.servers", "b:1"), ("key.format", "json"), ("value.format", "json")];
        let o = from_options(&opts(&base), &["id".into(), "region".into()]).unwrap();
        assert!(o.upsert);
        assert_eq!(o.key.as_ref().map(|k| k.fields.clone()), Some(vec!["id".to_string(), "region".to_string()]));
        assert_eq!(o.start, crate::kafka::options::StartFrom::Earliest);
        let e = from_options(&opts(&base), &[]).unwrap_err();
        assert!(e.contains("require to define a PRIMARY KEY"), "{e}");
        let e = from_options(&opts(&[base[0], base[1], base[2], ("value.format", "debezium-json")]), &["id".into()]).unwrap_err();
        assert!(e.contains("value.format") && e.contains("debezium-json"), "{e}");
        let e = from_options(&opts(&[base[0], base[1], base[2], base[3], ("scan.startup.mode", "latest-offset")]), &["id".into()]).unwrap_err();
        assert!(e.contains("scan.startup.mode"), "{e}");
        let e = from_options(&opts(&[base[0], base[1], base[3]]), &["id".into()]).unwrap_err();
        assert!(e.contains("key.format"), "{e}");
        assert!(buffer(&opts(&[("sink.buffer-flush.max-rows", "10")])).unwrap_err().contains("together"));
        assert_eq!(buffer(&opts(&[("sink.buffer-flush.max-rows", "10"), ("sink.buffer-flush.interval", "1 s")])).unwrap(), Some((10, std::time::Duration::from_secs(1))));
    }
}
