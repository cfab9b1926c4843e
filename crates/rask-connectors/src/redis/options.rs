//! The `redis` connector's options (named as in Alibaba Cloud's Realtime Compute Redis
//! connector, which Flink users of Redis know) and the table layouts they allow.

use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use rask_runtime::connector::LookupCache;
use rask_types::options::{OptionKind, OptionSpec, Options};

pub fn specs() -> Vec<OptionSpec> {
    const INT: OptionKind = OptionKind::Int { min: 0, max: i64::MAX };
    vec![
        OptionSpec::new("host", OptionKind::String, "Redis server host.").required(),
        OptionSpec::new("port", OptionKind::Int { min: 1, max: 65535 }, "Redis server port.").default("6379"),
        OptionSpec::new("password", OptionKind::String, "Password (AUTH); empty: none.").default(""),
        OptionSpec::new("dbNum", INT, "The database number (SELECT).").default("0"),
        OptionSpec::new("mode", OptionKind::Enum(&["STRING", "HASHMAP"]), "How rows map to Redis data: STRING (key → value) or HASHMAP (hash fields).").default("STRING"),
        OptionSpec::new("hashName", OptionKind::String, "HASHMAP mode with two columns: the hash holding field (first column) → value (second)."),
        OptionSpec::new("ignoreDelete", OptionKind::Bool, "Sink: ignore deletes (keep the key).").default("false"),
        OptionSpec::new("expiration", INT, "Sink: time to live of written keys in milliseconds (0: none).").default("0"),
        OptionSpec::new("connection.timeout", OptionKind::Duration, "Time to connect and for each command.").default("10 s"),
        OptionSpec::new("cache", OptionKind::Enum(&["None", "LRU"]), "Lookup cache: None, or LRU (cacheSize keys, entries expire after cacheTTLMs).").default("None"),
        OptionSpec::new("cacheSize", INT, "Keys the LRU lookup cache holds.").default("10000"),
        OptionSpec::new("cacheTTLMs", INT, "Milliseconds after which a cached lookup expires (default: never)."),
        OptionSpec::new("cacheEmpty", OptionKind::Bool, "Cache lookups that found nothing.").default("true"),
    ]
}

/// Where a row lives in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// STRING: `SET key value` (columns: key, value).
    String,
    /// HASHMAP with `hashName`: `HSET hashName field value` (columns: field, value).
    NamedHash(String),
    /// HASHMAP with PRIMARY KEY (key, field): `HSET key field value` (columns: key, field, value).
    Hash,
    /// HASHMAP with PRIMARY KEY (key) and further columns: each column a field of the hash `key`.
    Flat,
}

#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub url: String,
    /// `host:port/db` for messages.
    pub address: String,
    pub layout: Layout,
    pub ignore_delete: bool,
    pub expiration_ms: u64,
    pub timeout: Duration,
}

/// `%XX`-escape what a URL's user-info cannot hold.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RedisOptions {
    /// Check the options, and the schema and primary key against the mode.
    pub fn from_options(opts: &Options, schema: &SchemaRef, primary_key: &[String]) -> Result<Self, String> {
        crate::validate_specs("connector 'redis'", opts, &specs())?;
        let host = opts.string("host", "");
        let port = opts.int("port")?.unwrap_or(6379);
        let db = opts.int("dbNum")?.unwrap_or(0);
        let password = opts.string("password", "");
        let auth = if password.is_empty() { String::new() } else { format!(":{}@", escape(&password)) };
        let url = format!("redis://{auth}{host}:{port}/{db}");
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for f in schema.fields() {
            if !matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
                return Err(format!("column '{}' of a redis table must be STRING (Redis keeps strings), not {}", f.name(), rask_types::types::FlinkType::from_arrow(f.data_type()).map(|t| t.to_string()).unwrap_or_else(|| f.data_type().to_string())));
            }
        }
        let pk: Vec<&str> = primary_key.iter().map(String::as_str).collect();
        if pk.is_empty() {
            return Err("a redis table needs a PRIMARY KEY (…) NOT ENFORCED: the column(s) that make the Redis key".into());
        }
        let mode = opts.string("mode", "STRING").to_ascii_uppercase();
        let layout = match (mode.as_str(), opts.get("hashName")) {
            ("STRING", Some(_)) => return Err("option 'hashName' needs 'mode' = 'HASHMAP'".into()),
            ("STRING", None) => {
                if names.len() != 2 || pk != names[..1] {
                    return Err(format!("'mode' = 'STRING' needs two columns, the first the PRIMARY KEY (key, value); the table has columns ({}) and PRIMARY KEY ({})", names.join(", "), pk.join(", ")));
                }
                Layout::String
            }
            (_, Some(hash)) => {
                if names.len() != 2 || pk != names[..1] {
                    return Err(format!("'mode' = 'HASHMAP' with 'hashName' needs two columns, the first the PRIMARY KEY (field, value); the table has columns ({}) and PRIMARY KEY ({})", names.join(", "), pk.join(", ")));
                }
                Layout::NamedHash(hash.to_string())
            }
            _ if names.len() == 3 && pk == names[..2] => Layout::Hash,
            _ if names.len() >= 2 && pk == names[..1] => Layout::Flat,
            _ => {
                return Err(format!(
                    "'mode' = 'HASHMAP' needs PRIMARY KEY (key, field) on three columns (key, field, value), or PRIMARY KEY (key) on the first column with each further column a field of the hash; the table has columns ({}) and PRIMARY KEY ({})",
                    names.join(", "),
                    pk.join(", ")
                ))
            }
        };
        let timeout = opts.duration("connection.timeout")?.unwrap_or(Duration::from_secs(10)).max(Duration::from_millis(1));
        Ok(RedisOptions {
            url,
            address: format!("{host}:{port}/{db}"),
            layout,
            ignore_delete: opts.bool("ignoreDelete", false)?,
            expiration_ms: opts.int("expiration")?.unwrap_or(0) as u64,
            timeout,
        })
    }

    pub fn cache(opts: &Options) -> Result<LookupCache, String> {
        Ok(match opts.string("cache", "None").to_ascii_uppercase().as_str() {
            "LRU" => LookupCache::Partial {
                max_rows: opts.int("cacheSize")?.unwrap_or(10_000).max(1) as usize,
                expire_after_write: opts.int("cacheTTLMs")?.map(|ms| Duration::from_millis(ms as u64)),
                expire_after_access: None,
                cache_missing: opts.bool("cacheEmpty", true)?,
            },
            _ => LookupCache::None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn check(cols: &[&str], pk: &[&str], extra: &[(&str, &str)]) -> Result<RedisOptions, String> {
        let mut m: BTreeMap<String, String> = [("connector", "redis"), ("host", "127.0.0.1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let schema: SchemaRef = Arc::new(Schema::new(cols.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>()));
        RedisOptions::from_options(&Options::new(m), &schema, &pk.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn layouts_follow_mode_columns_and_key() {
        assert_eq!(check(&["k", "v"], &["k"], &[]).unwrap().layout, Layout::String);
        assert_eq!(check(&["f", "v"], &["f"], &[("mode", "HASHMAP"), ("hashName", "h")]).unwrap().layout, Layout::NamedHash("h".into()));
        assert_eq!(check(&["k", "f", "v"], &["k", "f"], &[("mode", "HASHMAP")]).unwrap().layout, Layout::Hash);
        assert_eq!(check(&["k", "a", "b"], &["k"], &[("mode", "HASHMAP")]).unwrap().layout, Layout::Flat);
        assert!(check(&["k", "v", "w"], &["k"], &[]).unwrap_err().contains("'mode' = 'STRING' needs two columns"));
        assert!(check(&["k", "v"], &[], &[]).unwrap_err().contains("needs a PRIMARY KEY"));
        assert!(check(&["k", "v"], &["k"], &[("hashName", "h")]).unwrap_err().contains("needs 'mode' = 'HASHMAP'"));
        assert!(check(&["k", "v"], &["k"], &[("dbnum", "1")]).unwrap_err().contains("did you mean 'dbNum'"));
        let o = check(&["k", "v"], &["k"], &[("password", "p@ss:w"), ("dbNum", "3")]).unwrap();
        assert_eq!(o.url, "redis://:p%40ss%3Aw@127.0.0.1:6379/3");
    }
}
