//! Connector and format option specifications, and validation of a table's `WITH (...)` map.
//!
//! Each connector and format declares its options (Flink's keys, types, defaults, docs); the
//! planner validates a `CREATE TABLE` against them so that a typo gets an error naming the
//! option and listing the valid ones, before any job starts.

use std::collections::BTreeMap;
use std::time::Duration;

/// The value type of an option.
#[derive(Debug, Clone)]
pub enum OptionKind {
    String,
    /// A whole number in `[min, max]`.
    Int { min: i64, max: i64 },
    Bool,
    /// A Flink duration: `100ms`, `5 s`, `1 min`, `2h`, or a plain number of milliseconds.
    Duration,
    Float,
    Enum(&'static [&'static str]),
}

/// One option a connector or format accepts. A `#` in the key matches a column name
/// (`fields.#.kind`).
#[derive(Debug, Clone)]
pub struct OptionSpec {
    pub key: &'static str,
    pub kind: OptionKind,
    pub required: bool,
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

impl OptionSpec {
    pub const fn new(key: &'static str, kind: OptionKind, doc: &'static str) -> Self {
        OptionSpec { key, kind, required: false, default: None, doc }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn default(mut self, d: &'static str) -> Self {
        self.default = Some(d);
        self
    }

    /// Does a concrete key match this spec (with `#` standing for one identifier)?
    pub fn matches(&self, key: &str) -> bool {
        match self.key.split_once('#') {
            None => self.key == key,
            Some((pre, post)) => {
                key.len() > pre.len() + post.len()
                    && key.starts_with(pre)
                    && key.ends_with(post)
                    && !key[pre.len()..key.len() - post.len()].is_empty()
            }
        }
    }
}

/// A table's options after validation, with typed accessors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    map: BTreeMap<String, String>,
}

impl Options {
    pub fn new(map: BTreeMap<String, String>) -> Self {
        Options { map }
    }
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.map
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|s| s.as_str())
    }
    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| format!("option '{key}': expected true or false, got '{v}'")),
        }
    }
    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("option '{key}': expected a whole number, got '{v}'")),
        }
    }
    pub fn float(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("option '{key}': expected a number, got '{v}'")),
        }
    }
    pub fn duration(&self, key: &str) -> Result<Option<Duration>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_duration(v).map(Some).map_err(|e| format!("option '{key}': {e}")),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Parse a Flink duration (`TimeUtils.parseDuration`): number + optional unit.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("expected a duration like '10 s' or '500ms', got '{v}'"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let ms = match unit.as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => n,
        "s" | "sec" | "secs" | "second" | "seconds" => n * 1000,
        "min" | "m" | "minute" | "minutes" => n * 60_000,
        "h" | "hour" | "hours" => n * 3_600_000,
        "d" | "day" | "days" => n * 86_400_000,
        "us" | "micro" | "micros" | "microsecond" | "microseconds" => return Ok(Duration::from_micros(n)),
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => return Ok(Duration::from_nanos(n)),
        _ => return Err(format!("unknown time unit '{unit}' in '{v}' (use ms, s, min, h, d)")),
    };
    Ok(Duration::from_millis(ms))
}

/// Check one value against its spec.
pub fn check_value(spec: &OptionSpec, key: &str, value: &str) -> Result<(), String> {
    match &spec.kind {
        OptionKind::String => Ok(()),
        OptionKind::Int { min, max } => match value.trim().parse::<i64>() {
            Ok(n) if n >= *min && n <= *max => Ok(()),
            Ok(n) => Err(format!("option '{key}' = {n} is out of range [{min}, {max}]")),
            Err(_) => Err(format!("option '{key}' expects a whole number, got '{value}'")),
        },
        OptionKind::Float => value
            .trim()
            .parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("option '{key}' expects a number, got '{value}'")),
        OptionKind::Bool => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| format!("option '{key}' expects true or false, got '{value}'")),
        OptionKind::Duration => parse_duration(value).map(|_| ()).map_err(|e| format!("option '{key}': {e}")),
        OptionKind::Enum(vals) => {
            if vals.iter().any(|v| v.eq_ignore_ascii_case(value.trim())) {
                Ok(())
            } else {
                Err(format!("option '{key}' = '{value}' is not one of: {}", vals.join(", ")))
            }
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != *cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Validate `options` against `specs`; `owner` names the connector/format in messages.
/// Keys for which `is_foreign(key)` is true are skipped (e.g. another format's options).
/// ` (did you mean 'x'?)` for the candidate nearest to `word` within `max_distance` edits,
/// else empty.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>, max_distance: usize) -> String {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max_distance)
        .min()
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

pub fn validate(
    owner: &str,
    options: &BTreeMap<String, String>,
    specs: &[OptionSpec],
    is_foreign: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    for (k, v) in options {
        if is_foreign(k) {
            continue;
        }
        match specs.iter().find(|s| s.matches(k)) {
            Some(spec) => check_value(spec, k, v)?,
            None => {
                let mut valid: Vec<&str> = specs.iter().map(|s| s.key).collect();
                valid.sort();
                let hint = did_you_mean(k, specs.iter().map(|s| s.key), 3);
                return Err(format!(
                    "unsupported option '{k}' for {owner}{hint}; supported options: {}",
                    valid.join(", ")
                ));
            }
        }
    }
    for s in specs.iter().filter(|s| s.required && !s.key.contains('#')) {
        if !options.contains_key(s.key) {
            return Err(format!("{owner} requires option '{}' ({})", s.key, s.doc));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10 s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("ten").is_err());
    }

    #[test]
    fn unknown_option_lists_valid_ones_and_suggests() {
        let specs = [
            OptionSpec::new("rows-per-second", OptionKind::Int { min: 0, max: i64::MAX }, "rate"),
            OptionSpec::new("fields.#.kind", OptionKind::Enum(&["random", "sequence"]), "kind"),
        ];
        let mut m = BTreeMap::new();
        m.insert("rows-per-secnd".to_string(), "5".to_string());
        let e = validate("connector 'datagen'", &m, &specs, &|_| false).unwrap_err();
        assert!(e.contains("did you mean 'rows-per-second'"), "{e}");
        assert!(e.contains("supported options: fields.#.kind, rows-per-second"), "{e}");
        let mut m = BTreeMap::new();
        m.insert("fields.id.kind".to_string(), "sequense".to_string());
        let e = validate("connector 'datagen'", &m, &specs, &|_| false).unwrap_err();
        assert!(e.contains("not one of: random, sequence"), "{e}");
    }
}
