//! The streaming engine: runs a [`rask_sql::StreamPlan`] on timely dataflow, with Arrow
//! record batches as the data, key-group exchanges, in-band watermarks and epoch-aligned
//! checkpoint boundaries. Connectors plug in through [`connector::Connector`].

pub mod checkpoint;
pub mod connector;
pub mod container;
pub mod engine;
pub mod epoch;
pub mod error;
pub mod exchange;
pub mod job;
pub mod metrics;
pub mod operator;
pub mod operators;
pub mod watermarks;

pub use error::RuntimeError;
pub use job::{run_job, Checkpointing, Cluster, JobOptions, JobSummary};
