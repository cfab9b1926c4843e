//! The built-in operators, one per file, each implementing [`crate::operator::Operator`].

mod buffer;
pub mod calc;
pub mod changelog_normalize;
pub mod expand;
pub mod group_agg;
pub mod interval_join;
pub mod join;
mod keyed;
pub mod limit;
pub mod local_group_agg;
pub mod local_window_agg;
pub mod lookup_join;
pub mod sink;
pub mod over_agg;
pub mod updating_over_agg;
pub mod rank;
pub mod session_agg;
pub mod session_tvf;
pub mod temporal_join;
pub mod union;
pub mod window_agg;
pub mod watermark;
pub mod window_join;
pub mod window_rank;
pub mod window_tvf;
