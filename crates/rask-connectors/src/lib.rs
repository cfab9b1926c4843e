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
    r.register(Arc::new(jdbc::Jdbc));
    r
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
