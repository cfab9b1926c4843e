//! `WatermarkAssigner`: the logical plan node that a table with `WATERMARK FOR col AS expr`
//! contributes on top of its scan, as in Flink's `LogicalWatermarkAssigner`. It passes rows
//! through unchanged and marks `col` as the rowtime attribute.

use std::cmp::Ordering;
use std::fmt;

use datafusion_common::{DFSchemaRef, Result as DfResult};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatermarkAssigner {
    pub input: LogicalPlan,
    /// Index of the rowtime column in the input schema.
    pub rowtime: usize,
    pub expr: Expr,
    /// The watermark expression as written, for EXPLAIN.
    pub text: String,
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
        self.input.schema()
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![self.expr.clone()]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (_, field) = self.input.schema().qualified_field(self.rowtime);
        write!(f, "WatermarkAssigner(rowtime=[{}], watermark=[{}])", field.name(), self.text)
    }
    fn with_exprs_and_inputs(&self, mut exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(WatermarkAssigner {
            input: inputs.swap_remove(0),
            rowtime: self.rowtime,
            expr: exprs.swap_remove(0),
            text: self.text.clone(),
        })
    }
}
