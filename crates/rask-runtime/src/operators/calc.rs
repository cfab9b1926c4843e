//! Calc: a fused chain of filters and projections with compiled DataFusion physical
//! expressions, evaluated batch at a time (Flink's `StreamExecCalc`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::DataType;
use datafusion_physical_expr::expressions::{CaseExpr, Column, Literal};
use datafusion_physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use rask_sql::plan::CalcStep;
use rask_types::StreamBatch;

use crate::error::{Result, RuntimeError};
use crate::operator::{Emitter, Operator};

/// A `CASE` rewritten to read only the columns and ROW fields it uses, and those accesses (see
/// [`narrowed`]).
type Narrowed = (Vec<Arc<dyn PhysicalExpr>>, Arc<dyn PhysicalExpr>);

pub struct Calc {
    name: String,
    steps: Vec<CalcStep>,
    /// Per step: a projection of column and ROW-field accesses only (copies nothing, so it may
    /// run before a filter that precedes it).
    access_only: Vec<bool>,
    /// Per step, per projected expression: its narrowed form, if it has one.
    narrow: Vec<Vec<Option<Narrowed>>>,
}

impl Calc {
    /// `input_width`: columns of the operator's input (the first step's input).
    pub fn new(name: String, steps: Vec<CalcStep>, input_width: usize) -> Self {
        let mut width = input_width;
        let (mut access_only, mut narrow) = (Vec::new(), Vec::new());
        for step in &steps {
            match step {
                CalcStep::Project(exprs, schema) => {
                    access_only.push(exprs.iter().all(|e| is_access(e.as_ref())));
                    narrow.push(exprs.iter().map(|e| narrowed(e, width)).collect());
                    width = schema.fields().len();
                }
                CalcStep::Filter(_) => {
                    access_only.push(false);
                    narrow.push(Vec::new());
                }
            }
        }
        Calc { name, steps, access_only, narrow }
    }

    pub fn apply(&self, mut b: StreamBatch) -> Result<StreamBatch> {
        let mut i = 0;
        while i < self.steps.len() {
            if b.num_rows() == 0 {
                break;
            }
            match &self.steps[i] {
                CalcStep::Filter(e) => {
                    let mask = self.mask(e, &b)?;
                    // Projections after the filter that only pick columns and fields of ROW
                    // columns run first (they copy nothing), so that the filter copies only
                    // the columns that are kept.
                    while self.access_only.get(i + 1) == Some(&true) {
                        i += 1;
                        b = self.project(b, i)?;
                    }
                    if let Some(mask) = mask {
                        b = b.filter(&mask)?;
                    }
                }
                CalcStep::Project(..) => b = self.project(b, i)?,
            }
            i += 1;
        }
        Ok(b)
    }

    /// The rows a filter keeps (`None`: all of them).
    fn mask(&self, e: &Arc<dyn PhysicalExpr>, b: &StreamBatch) -> Result<Option<BooleanArray>> {
        let v = e.evaluate(&b.data).map_err(RuntimeError::from)?;
        let arr = v.into_array(b.num_rows()).map_err(RuntimeError::from)?;
        if arr.data_type() != &DataType::Boolean {
            return Err(RuntimeError::Internal(format!("{}: filter produced {}", self.name, arr.data_type())));
        }
        let mask = arr.as_boolean();
        if mask.null_count() == 0 && mask.true_count() == mask.len() {
            return Ok(None);
        }
        Ok(Some(mask.clone()))
    }

    /// Run projection step `i` (a `CalcStep::Project`).
    fn project(&self, b: StreamBatch, i: usize) -> Result<StreamBatch> {
        let CalcStep::Project(exprs, schema) = &self.steps[i] else {
            return Err(RuntimeError::Internal(format!("{}: step {i} is not a projection", self.name)));
        };
        let n = b.num_rows();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(exprs.len());
        for ((e, f), narrow) in exprs.iter().zip(schema.fields()).zip(&self.narrow[i]) {
            let v = match narrow {
                Some((accesses, e)) => {
                    let sub = self.accessed(&b.data, accesses)?;
                    e.evaluate(&sub)
                }
                None => e.evaluate(&b.data),
            }
            .map_err(RuntimeError::from)?;
            let mut a = v.into_array(n).map_err(RuntimeError::from)?;
            if a.data_type() != f.data_type() {
                // Functions may return an equivalent physical type (e.g. Utf8View).
                a = arrow::compute::cast(&a, f.data_type())
                    .map_err(|e| RuntimeError::Internal(format!("{}: column '{}': {e}", self.name, f.name())))?;
            }
            cols.push(a);
        }
        let rb = RecordBatch::try_new_with_options(schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(n)))
            .map_err(|e| RuntimeError::Internal(format!("{}: {e}", self.name)))?;
        Ok(b.with_data(rb))
    }

    /// The batch a narrowed `CASE` reads: its column and ROW-field accesses evaluated on `data`
    /// (no copies: a field of a ROW column is its child array).
    fn accessed(&self, data: &RecordBatch, accesses: &[Arc<dyn PhysicalExpr>]) -> Result<RecordBatch> {
        let n = data.num_rows();
        let mut fields = Vec::with_capacity(accesses.len());
        let mut cols = Vec::with_capacity(accesses.len());
        for (i, a) in accesses.iter().enumerate() {
            let v = a.evaluate(data).and_then(|v| v.into_array(n)).map_err(RuntimeError::from)?;
            fields.push(arrow::datatypes::Field::new(format!("a{i}"), v.data_type().clone(), true));
            cols.push(v);
        }
        RecordBatch::try_new_with_options(Arc::new(arrow::datatypes::Schema::new(fields)), cols, &RecordBatchOptions::new().with_row_count(Some(n)))
            .map_err(|e| RuntimeError::Internal(format!("{}: {e}", self.name)))
    }
}

/// A `CASE` rewritten to read just the columns and ROW fields it uses (returned with it, the
/// accesses to evaluate first): DataFusion evaluates each `WHEN` branch on a filtered copy of
/// its whole input batch, which for a wide batch (Nexmark's three ROW columns, of which the
/// `dateTime` CASE reads one field each) costs more than the CASE itself.
fn narrowed(e: &Arc<dyn PhysicalExpr>, width: usize) -> Option<Narrowed> {
    use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
    e.downcast_ref::<CaseExpr>()?;
    let mut accesses: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    let rewritten = e
        .clone()
        .transform_down(|x| {
            if !is_access(x.as_ref()) {
                return Ok(Transformed::no(x));
            }
            let at = match accesses.iter().position(|a| a.as_ref() == x.as_ref()) {
                Some(at) => at,
                None => {
                    accesses.push(x.clone());
                    accesses.len() - 1
                }
            };
            Ok(Transformed::new(Arc::new(Column::new(&format!("a{at}"), at)) as Arc<dyn PhysicalExpr>, true, TreeNodeRecursion::Jump))
        })
        .ok()?
        .data;
    // Worth it when the CASE reads fewer columns than there are, or fields of ROW columns.
    let plain = accesses.iter().all(|a| a.downcast_ref::<Column>().is_some());
    if plain && accesses.len() >= width {
        return None;
    }
    Some((accesses, rewritten))
}

/// Is `e` a column or a field of a ROW column (`get_field(col, 'name')`, nested): evaluated
/// without computing or copying anything, so it may run before a filter on every row.
fn is_access(e: &dyn PhysicalExpr) -> bool {
    if e.downcast_ref::<Column>().is_some() {
        return true;
    }
    match e.downcast_ref::<ScalarFunctionExpr>() {
        Some(f) if f.name() == "get_field" => match f.args() {
            [inner, name] => is_access(inner.as_ref()) && name.downcast_ref::<Literal>().is_some(),
            _ => false,
        },
        _ => false,
    }
}

impl Operator for Calc {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        out.emit(self.apply(batch)?);
        Ok(())
    }
}
