//! Rask's connectors, one folder each (`options.rs` with the Flink option specs and
//! validation, `source.rs`, `sink.rs`), registered in [`builtin_registry`].

pub mod blackhole;
pub mod datagen;
pub mod filesystem;
pub mod kafka;
pub mod nexmark;
pub mod position;
pub mod print;

use std::sync::Arc;

use rask_runtime::connector::ConnectorRegistry;

/// Every built-in connector.
pub fn builtin_registry() -> ConnectorRegistry {
    let mut r = ConnectorRegistry::new();
    r.register(Arc::new(datagen::Datagen));
    r.register(Arc::new(print::Print));
    r.register(Arc::new(blackhole::Blackhole));
    r.register(Arc::new(filesystem::Filesystem));
    r.register(Arc::new(nexmark::Nexmark));
    r.register(Arc::new(kafka::Kafka));
    r
}

/// Validate options against specs; the `connector` key itself is always allowed.
pub(crate) fn validate_specs(
    owner: &str,
    options: &rask_types::options::Options,
    specs: &[rask_types::options::OptionSpec],
) -> Result<(), String> {
    rask_types::options::validate(owner, options.raw(), specs, &|k| k == "connector")
}
