//! Top-N and deduplication without a window (Flink's `Rank` and `Deduplicate`):
//! `ROW_NUMBER() OVER (PARTITION BY k ORDER BY …)` filtered by `rownum <= N` (or `< N`, `= 1`)
//! over any stream. The result is a changelog: rows enter and leave each partition's top N as
//! rows arrive (and, over an updating input, as rows are retracted).
//!
//! As in Flink, `rownum = 1` ordered by a time attribute alone, without selecting the row
//! number, is a deduplication. ASC keeps the first row to arrive per key (append-only output;
//! by event time too, as Flink 2.3's `Deduplicate(keep=[FirstRow], order=[ROWTIME],
//! outputInsertOnly=[true])`); DESC keeps the last row by processing time, or the row with the
//! highest event time (the later arrival on ties), updating the result (-U/+U).
//! Otherwise it is a Top-N; when the row number is not selected, rows shifting ranks inside
//! the top N cause no output.

use rask_types::Pos;

use crate::error::{Result, SqlError};
use crate::plan::{Exchange, Input, NodeId, NodeKind};
use crate::translate::{arrow_schema, Translator};
use crate::window_tvf::TIME_ATTRIBUTE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankKind {
    /// Deduplication ordered by a time attribute; `rowtime` is its column for event time
    /// (`None`: processing time, i.e. arrival order).
    Deduplicate { keep_last: bool, rowtime: Option<usize> },
    /// Top-N; over an updating input every row is kept (a retraction may promote one).
    TopN { updating_input: bool },
}

/// The rank operator's plan. Output: the input's columns and the row number.
#[derive(Debug, Clone)]
pub struct Rank {
    pub partition: Vec<usize>,
    /// Sort columns: (column, descending, nulls first).
    pub order: Vec<(usize, bool, bool)>,
    pub limit: usize,
    /// The query selects the row number: rows whose rank changes are updated (-U/+U per
    /// rank). Otherwise the row-number column holds 1 and is projected away above.
    pub output_rank: bool,
    pub kind: RankKind,
}

impl Rank {
    /// Whether the output is append-only (a deduplication keeping the first row).
    pub fn append_only(&self) -> bool {
        matches!(self.kind, RankKind::Deduplicate { keep_last: false, .. })
    }
}

impl Translator {
    /// Plan a Top-N or deduplication over a non-windowed input: `partition` and `order` are
    /// input columns, `limit` the bound of the enclosing filter.
    pub(crate) fn rank(
        &mut self,
        w: &datafusion_expr::logical_plan::Window,
        partition: Vec<usize>,
        order: Vec<(usize, bool, bool)>,
        limit: usize,
        output_rank: bool,
        pos: Pos,
    ) -> Result<NodeId> {
        let in_schema = w.input.schema();
        if order.is_empty() {
            return Err(SqlError::validation(pos, "a Top-N needs ORDER BY in its OVER clause"));
        }
        let input = self.node(&w.input, pos)?;
        let updating_input = self.updates_from(input).is_some();
        let time_kind = |c: usize| in_schema.field(c).metadata().get(TIME_ATTRIBUTE).cloned();
        let kind = match order.as_slice() {
            [(c, desc, _)] if limit == 1 && !output_rank && !updating_input => match time_kind(*c).as_deref() {
                Some("rowtime") => RankKind::Deduplicate { keep_last: *desc, rowtime: Some(*c) },
                Some("proctime") => RankKind::Deduplicate { keep_last: *desc, rowtime: None },
                _ => RankKind::TopN { updating_input },
            },
            _ => RankKind::TopN { updating_input },
        };
        let names = |cols: &[usize]| cols.iter().map(|i| in_schema.field(*i).name().clone()).collect::<Vec<_>>().join(", ");
        let order_desc: Vec<String> =
            order.iter().map(|(i, d, _)| format!("{} {}", in_schema.field(*i).name(), if *d { "DESC" } else { "ASC" })).collect();
        let name = match kind {
            RankKind::Deduplicate { keep_last, rowtime } => format!(
                "Deduplicate(keep=[{}], key=[{}], order=[{}], outputInsertOnly=[{}])",
                if keep_last { "LastRow" } else { "FirstRow" },
                names(&partition),
                if rowtime.is_some() { "ROWTIME" } else { "PROCTIME" },
                !keep_last
            ),
            RankKind::TopN { updating_input } => format!(
                "Rank(strategy=[{}], rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={limit}], partitionBy=[{}], orderBy=[{}], select=[{}])",
                if updating_input { "RetractStrategy" } else { "AppendFastStrategy" },
                names(&partition),
                order_desc.join(", "),
                if output_rank { "*, w0$o0" } else { "*" }
            ),
        };
        let exchange = if partition.is_empty() { Exchange::Single } else { Exchange::Hash(partition.clone()) };
        let schema = arrow_schema(&w.schema);
        let plan = Rank { partition, order, limit, output_rank, kind };
        Ok(self.push(name, NodeKind::Rank(Box::new(plan)), vec![Input { node: input, exchange }], schema))
    }
}
