//! The Flink SQL front end. Text → [`parser`] (Flink dialect on sqlparser) → [`session`]
//! (catalog, DDL, `SET`) → DataFusion logical plan (via [`context`], analysed and type-coerced)
//! → [`translate`] → [`plan::StreamPlan`], the runtime's input. This crate never depends on
//! the runtime or on connector code: connectors are seen through [`catalog::ConnectorCatalog`].

pub mod aggregates;
pub mod ast_rewrite;
pub mod catalog;
pub mod context;
pub mod distinct_counts;
pub mod error;
pub mod functions;
pub mod group_agg;
pub mod interval_join;
pub mod join;
pub mod lookup_join;
pub mod over_agg;
pub mod parser;
pub mod plan;
pub mod rank;
pub mod retracting;
pub mod session;
pub mod source_reads;
pub mod split_distinct;
pub mod translate;
pub mod watermark_node;
pub mod window_agg;
pub mod window_join;
pub mod window_rank;
pub mod window_tvf;

pub use error::SqlError;
pub use plan::StreamPlan;
pub use session::{Outcome, Session};
