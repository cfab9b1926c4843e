//! Rask's connectors, one folder each (`options.rs` with the Flink option specs and
//! validation, `source.rs`, `sink.rs`), registered in [`builtin_registry`].

pub mod blackhole;
pub mod datagen;
pub mod filesystem;
pub mod jdbc;
pub mod kafka;
pub mod nexmark;
pub mod position;
pub mod print;
pub mod redis;
pub mod upsert_kafka;

use std::sync::Arc;

use rask_runtime::connector::ConnectorRegistry;
use rask_sql::catalog::{ChangelogMode, ConnectorCaps};

/// Every built-in connector.
pub fn builtin_registry() -> ConnectorRegistry {
    let mut r = ConnectorRegistry::new();
    r.register(Arc::new(datagen::Datagen));
    r.register(Arc::new(print::Print));
    r.register(Arc::new(blackhole::Blackhole));
    r.register(Arc::new(filesystem::Filesystem));
    r.register(Arc::new(nexmark::Nexmark));
    r.register(Arc::new(kafka::Kafka));
    r.register(Arc::new(upsert_kafka::UpsertKafka));
    r.register(Arc::new(jdbc::Jdbc));
    r.register(Arc::new(redis::Redis));
    r
}

/// The options to list for a connector (`rask connectors`, the server's registry): its own,
/// and for `filesystem` those of its default listing format, JSON.
pub fn listed_options(c: &dyn rask_runtime::connector::Connector) -> Vec<rask_types::options::OptionSpec> {
    let mut opts = std::collections::BTreeMap::new();
    if c.name() == "filesystem" {
        opts.insert("format".to_string(), "json".to_string());
    }
    c.option_specs(&rask_types::options::Options::new(opts))
}

/// The capabilities of a source-and-sink connector whose records are in row format `format`:
/// with a changelog format (debezium-json, …) its source produces, and its sink accepts,
/// updates and deletes.
pub(crate) fn format_caps(format: &str, bounded: bool) -> ConnectorCaps {
    let changelog = rask_formats::is_changelog(format);
    ConnectorCaps {
        source: true,
        sink: true,
        bounded,
        produces: if changelog { ChangelogMode::All } else { ChangelogMode::InsertOnly },
        accepts_updates: changelog,
        lookup: false,
        partitioned: false,
    }
}

/// Flink's lookup cache options (`lookup.cache` = NONE | PARTIAL with `lookup.partial-cache.*`,
/// and the JDBC connector's deprecated `lookup.cache.max-rows` / `lookup.cache.ttl` /
/// `lookup.cache.caching-missing-key`, used when `lookup.cache` is not set).
pub(crate) fn lookup_cache(opts: &rask_types::options::Options) -> Result<rask_runtime::connector::LookupCache, String> {
    use rask_runtime::connector::LookupCache;
    let mode = opts.get("lookup.cache").map(str::to_ascii_uppercase);
    match mode.as_deref() {
        Some("PARTIAL") => {
            let max_rows = opts.int("lookup.partial-cache.max-rows")?.map(|n| n as usize);
            let expire_after_write = opts.duration("lookup.partial-cache.expire-after-write")?;
            let expire_after_access = opts.duration("lookup.partial-cache.expire-after-access")?;
            if max_rows.is_none() && expire_after_write.is_none() && expire_after_access.is_none() {
                return Err("'lookup.cache' = 'PARTIAL' needs at least one of 'lookup.partial-cache.max-rows', 'lookup.partial-cache.expire-after-write', 'lookup.partial-cache.expire-after-access'".into());
            }
            Ok(LookupCache::Partial {
                max_rows: max_rows.unwrap_or(usize::MAX),
                expire_after_write,
                expire_after_access,
                cache_missing: opts.bool("lookup.partial-cache.cache-missing-key", true)?,
            })
        }
        Some("NONE") => Ok(LookupCache::None),
        Some(other) => Err(format!("unsupported value '{other}' of option 'lookup.cache' (NONE or PARTIAL)")),
        None => match opts.int("lookup.cache.max-rows")? {
            Some(n) if n > 0 => Ok(LookupCache::Partial {
                max_rows: n as usize,
                expire_after_write: opts.duration("lookup.cache.ttl")?,
                expire_after_access: None,
                cache_missing: opts.bool("lookup.cache.caching-missing-key", true)?,
            }),
            _ => Ok(LookupCache::None),
        },
    }
}

/// Validate options against specs; the `connector` key itself is always allowed.
pub(crate) fn validate_specs(
    owner: &str,
    options: &rask_types::options::Options,
    specs: &[rask_types::options::OptionSpec],
) -> Result<(), String> {
    rask_types::options::validate(owner, options.raw(), specs, &|k| k == "connector")
}
