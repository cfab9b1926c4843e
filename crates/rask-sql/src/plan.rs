//! The streaming plan: a DAG of operators with the exchange on each edge. This is the
//! planner's output and the runtime's only input; it holds compiled (physical) expressions,
//! so every process of a multi-process job plans the same script to the same plan.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use rask_types::options::Options;

use crate::catalog::TableDef;

pub type NodeId = usize;

/// How rows move from an input operator to this operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// Same worker, no copy (Flink's FORWARD).
    Forward,
    /// By key group of the hash of these input columns (Flink's HASH).
    Hash(Vec<usize>),
    /// Everything to worker 0 (Flink's SINGLETON / GLOBAL).
    Single,
}

#[derive(Debug, Clone)]
pub struct Input {
    pub node: NodeId,
    pub exchange: Exchange,
}

/// One step of a Calc (a fused chain of filters and projections).
#[derive(Debug, Clone)]
pub enum CalcStep {
    Filter(Arc<dyn PhysicalExpr>),
    Project(Vec<Arc<dyn PhysicalExpr>>, SchemaRef),
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Reads a table's physical columns through its connector. `read`: what the job reads of
    /// each column (see [`crate::source_reads`]; every column whole until the plan is complete).
    Source { table: Arc<TableDef>, read: Vec<rask_types::ColumnUse> },
    /// Literal rows (`VALUES`), emitted once by worker 0.
    Values { batch: RecordBatch },
    /// Stateless filter/projection chain.
    Calc { steps: Vec<CalcStep> },
    /// Generates watermarks from a rowtime column (`WATERMARK FOR col AS expr`).
    Watermark { rowtime: usize, expr: Arc<dyn PhysicalExpr> },
    /// `UNION ALL` of the inputs (same schema).
    Union,
    /// Every input row once per projection, in projection order (Flink's `Expand`; see
    /// [`crate::split_distinct`]).
    Expand { projections: Vec<Vec<Arc<dyn PhysicalExpr>>> },
    /// Window table function: appends window_start/window_end/window_time, one row per window
    /// (a window aggregation's slice assigner: one row per slice).
    WindowAssign { time_col: usize, spec: crate::window_tvf::WindowSpec },
    /// Local phase of a two-phase window aggregation: partial states per (key, slice),
    /// flushed when the watermark passes a slice end (see [`crate::window_agg`]).
    LocalWindowAggregate(Box<crate::window_agg::WindowAggregate>),
    /// The SESSION window table function on its own: rows held per session of their
    /// `partition` key until the watermark passes the session's end, then emitted with the
    /// window columns appended (Flink's `WindowTableFunction` with a session window).
    SessionWindow { time_col: usize, partition: Vec<usize>, gap: i64, proctime: bool, clock: crate::window_tvf::WindowClock },
    /// Window aggregation over slices (see [`crate::window_agg`]).
    WindowAggregate(Box<crate::window_agg::WindowAggregate>),
    /// Over aggregation (see [`crate::over_agg`]).
    OverAggregate(Box<crate::over_agg::OverAggregate>),
    /// Interval join on rowtime bounds (see [`crate::interval_join`]).
    IntervalJoin(Box<crate::interval_join::IntervalJoin>),
    /// Regular join of two (possibly updating) inputs, emitting a changelog (see
    /// [`crate::join`]).
    Join(Box<crate::join::RegularJoin>),
    /// Lookup join: each input row joined with the rows of an external table looked up by key
    /// (see [`crate::lookup_join`]).
    LookupJoin(Box<crate::lookup_join::LookupJoin>),
    /// Event-time temporal join against a versioned table (see [`crate::lookup_join`]).
    TemporalJoin(Box<crate::lookup_join::TemporalJoin>),
    /// Window join of two windowed inputs (see [`crate::window_join`]).
    WindowJoin(Box<crate::window_join::WindowJoin>),
    /// Window Top-N / deduplication (see [`crate::window_rank`]).
    WindowRank(Box<crate::window_rank::WindowRank>),
    /// Top-N or deduplication without a window, emitting a changelog (see [`crate::rank`]).
    Rank(Box<crate::rank::Rank>),
    /// Local phase of a two-phase group aggregation: partial states per key and mini-batch
    /// (see [`crate::group_agg`]).
    LocalGroupAggregate(Box<crate::group_agg::GroupAggregate>),
    /// Group aggregation without a window, emitting a changelog (see [`crate::group_agg`]).
    GroupAggregate(Box<crate::group_agg::GroupAggregate>),
    /// `LIMIT fetch OFFSET skip` on a stream: the first rows to arrive (one instance, fed by a
    /// single exchange), as Flink's streaming limit.
    Limit { skip: usize, fetch: Option<usize> },
    /// Turns an upsert source's rows (+I/+U by key, -D by key) into a full changelog by
    /// keeping the last row per key (`key`: input columns), as Flink's `ChangelogNormalize`.
    ChangelogNormalize { key: Vec<usize> },
    /// Writes rows to a table through its connector.
    Sink { table: Arc<TableDef> },
}

impl NodeKind {
    /// Whether this operator can consume a changelog input (-U/+U/-D rows); the planner
    /// rejects a plan that feeds updates to one that cannot. Sinks decide by their connector.
    pub fn consumes_updates(&self) -> bool {
        match self {
            NodeKind::Calc { .. } | NodeKind::Watermark { .. } | NodeKind::Union | NodeKind::Expand { .. } | NodeKind::GroupAggregate(_) | NodeKind::Join(_) | NodeKind::LookupJoin(_) => true,
            // The versioned side is a changelog; the left side must be append-only.
            NodeKind::TemporalJoin(_) | NodeKind::ChangelogNormalize { .. } => true,
            NodeKind::Rank(r) => matches!(r.kind, crate::rank::RankKind::TopN { .. }),
            // Over an updating input it folds retractions into its partial states.
            NodeKind::LocalGroupAggregate(a) => a.retract,
            NodeKind::OverAggregate(o) => o.updating,
            NodeKind::Sink { table } => table.caps.accepts_updates,
            _ => false,
        }
    }

    /// Whether this operator produces updates whatever its input (a source reading a
    /// changelog, an updating aggregation); otherwise it passes on its inputs' mode.
    pub fn produces_updates(&self) -> bool {
        match self {
            NodeKind::Source { table, .. } => table.caps.produces != crate::catalog::ChangelogMode::InsertOnly,
            NodeKind::GroupAggregate(_) | NodeKind::ChangelogNormalize { .. } => true,
            // A NULL-padded row is deleted when its first match arrives.
            NodeKind::Join(j) => j.join_type != crate::window_join::WindowJoinType::Inner,
            NodeKind::Rank(r) => !r.append_only(),
            NodeKind::OverAggregate(o) => o.updating,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlanNode {
    pub id: NodeId,
    /// Flink-style description: `Calc(select=[a, b], where=[a > 10])`.
    pub name: String,
    pub kind: NodeKind,
    pub inputs: Vec<Input>,
    pub schema: SchemaRef,
    /// `None`: the node's output is append-only (+I only). `Some(n)`: it carries updates and
    /// deletes, first produced by node `n` (Flink's changelog mode inference; see
    /// [`NodeKind::consumes_updates`]).
    pub updates_from: Option<NodeId>,
}

/// A job: operators in topological order (inputs before users), plus the session options
/// in force when it was planned (`SET` statements).
#[derive(Debug, Clone)]
pub struct StreamPlan {
    pub nodes: Vec<PlanNode>,
    pub config: Options,
}

impl StreamPlan {
    pub fn sinks(&self) -> impl Iterator<Item = &PlanNode> {
        self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Sink { .. }))
    }

    /// Are all sources bounded (the job ends by itself)?
    pub fn is_bounded(&self) -> bool {
        self.nodes.iter().all(|n| match &n.kind {
            NodeKind::Source { table, .. } => table.caps.bounded,
            _ => true,
        })
    }

    /// Does any expression of the job call `CURRENT_WATERMARK`? (Then watermark assigners
    /// must emit exactly where Flink does, row by row.)
    pub fn uses_current_watermark(&self) -> bool {
        fn calls(e: &Arc<dyn PhysicalExpr>) -> bool {
            e.downcast_ref::<datafusion_physical_expr::ScalarFunctionExpr>()
                .is_some_and(|f| f.name() == "current_watermark")
                || e.children().into_iter().any(calls)
        }
        self.nodes.iter().any(|n| match &n.kind {
            NodeKind::Calc { steps } => steps.iter().any(|s| match s {
                CalcStep::Filter(e) => calls(e),
                CalcStep::Project(es, _) => es.iter().any(calls),
            }),
            _ => false,
        })
    }

    /// The plan as a tree per sink, Flink `EXPLAIN` style, with parallelism and exchanges.
    pub fn explain(&self, parallelism: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== Streaming Plan (parallelism {parallelism}) ==");
        for sink in self.sinks() {
            self.explain_node(sink.id, 0, parallelism, &mut out);
        }
        out
    }

    fn explain_node(&self, id: NodeId, depth: usize, p: usize, out: &mut String) {
        let n = &self.nodes[id];
        let par = match &n.kind {
            NodeKind::Values { .. } | NodeKind::Limit { .. } => 1,
            _ => p,
        };
        let _ = writeln!(out, "{}{} [parallelism={par}]", indent(depth), n.name);
        for i in &n.inputs {
            let child = &self.nodes[i.node];
            match &i.exchange {
                Exchange::Forward => self.explain_node(i.node, depth + 1, p, out),
                ex => {
                    let dist = match ex {
                        Exchange::Hash(cols) => {
                            let names: Vec<_> = cols.iter().map(|c| child.schema.field(*c).name().clone()).collect();
                            format!("hash[{}]", names.join(", "))
                        }
                        _ => "single".to_string(),
                    };
                    let _ = writeln!(out, "{}Exchange(distribution=[{dist}])", indent(depth + 1));
                    self.explain_node(i.node, depth + 2, p, out);
                }
            }
        }
    }
}

fn indent(depth: usize) -> String {
    if depth == 0 { String::new() } else { format!("{}+- ", "   ".repeat(depth - 1)) }
}
