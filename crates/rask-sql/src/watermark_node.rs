//! `WatermarkAssigner`: the logical plan node that a table with `WATERMARK FOR col AS expr`
//! contributes on top of its scan, as in Flink's `LogicalWatermarkAssigner`. It passes rows
//! through unchanged and marks `col` as the rowtime attribute.

use std::cmp::Ordering;
use std::fmt;

use std::sync::Arc;

use datafusion_common::{DFSchema, DFSchemaRef, Result as DfResult};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatermarkAssigner {
    pub input: LogicalPlan,
    /// Index of the rowtime column in the input schema.
    pub rowtime: usize,
    pub expr: Expr,
    /// The watermark expression as written, for EXPLAIN.
    pub text: String,
    /// The input's schema with the rowtime column marked as a time attribute.
    pub schema: DFSchemaRef,
}

impl WatermarkAssigner {
    pub fn try_new(input: LogicalPlan, rowtime: usize, expr: Expr, text: String) -> DfResult<Self> {
        let in_schema = input.schema();
        let fields = in_schema
            .iter()
            .enumerate()
            .map(|(i, (q, f))| {
                let f = if i == rowtime {
                    Arc::new(crate::window_tvf::with_time_attribute(f, Some("rowtime")))
                } else {
                    f.clone()
                };
                (q.cloned(), f)
            })
            .collect();
        let schema = Arc::new(DFSchema::new_with_metadata(fields, in_schema.metadata().clone())?);
        Ok(WatermarkAssigner { input, rowtime, expr, text, schema })
    }
}

impl PartialOrd for WatermarkAssigner {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.rowtime.partial_cmp(&other.rowtime)
    }
}

impl UserDefinedLogicalNodeCore for WatermarkAssigner {
    fn name(&self) -> &str {
        "WatermarkAssigner"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![self.expr.clone()]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (_, field) = self.input.schema().qualified_field(self.rowtime);
        write!(f, "WatermarkAssigner(rowtime=[{}], watermark=[{}])", field.name(), self.text)
    }
    fn with_exprs_and_inputs(&self, mut exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        WatermarkAssigner::try_new(inputs.swap_remove(0), self.rowtime, exprs.swap_remove(0), self.text.clone())
    }
}
