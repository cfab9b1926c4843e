//! DataFusion's view of a Rask session: resolves table names to (inlined) table plans,
//! function names to Flink's functions, and Flink type names (`TIMESTAMP_LTZ(3)`, `BYTES`, …)
//! in `CAST`s to Arrow types.

use std::cell::Cell;
use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{plan_err, DataFusionError, Result as DfResult, TableReference};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, TypePlanner};
use datafusion_expr::{
    AggregateUDF, HigherOrderUDF, LogicalPlan, ScalarUDF, TableProviderFilterPushDown, TableSource, WindowUDF,
};
use datafusion_expr::planner::ContextProvider;
use datafusion_sql::sqlparser::ast;
use datafusion_sql::sqlparser::ast::DataType as SqlType;
use std::borrow::Cow;

use crate::catalog::TableDef;
use crate::functions::FunctionSet;
use crate::session::Session;

/// The leaf of a table's plan: the connector's physical columns.
#[derive(Debug)]
pub struct PhysicalScan {
    pub table: Arc<TableDef>,
    pub schema: SchemaRef,
}

impl TableSource for PhysicalScan {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn supports_filters_pushdown(&self, filters: &[&datafusion_expr::Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Unsupported; filters.len()])
    }
}

/// A table or view as SQL sees it: its full schema and the plan that produces it, which
/// DataFusion's plan builder inlines where the name is used.
#[derive(Debug)]
pub struct InlinedSource {
    pub schema: SchemaRef,
    pub plan: LogicalPlan,
}

impl TableSource for InlinedSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        Some(Cow::Borrowed(&self.plan))
    }
}

/// SQL syntax forms that must resolve to Flink's functions (`SUBSTRING(s FROM a FOR b)`).
#[derive(Debug)]
pub struct FlinkExprPlanner {
    substr: Option<Arc<ScalarUDF>>,
}

impl ExprPlanner for FlinkExprPlanner {
    fn plan_substring(&self, args: Vec<datafusion_expr::Expr>) -> DfResult<PlannerResult<Vec<datafusion_expr::Expr>>> {
        match &self.substr {
            Some(f) => Ok(PlannerResult::Planned(datafusion_expr::Expr::ScalarFunction(ScalarFunction::new_udf(f.clone(), args)))),
            None => Ok(PlannerResult::Original(args)),
        }
    }
}

/// Flink type names in CAST targets.
#[derive(Debug)]
pub struct FlinkTypePlanner;

impl TypePlanner for FlinkTypePlanner {
    fn plan_type(&self, sql_type: &SqlType) -> DfResult<Option<DataType>> {
        // Flink types from CAST targets arrive as one back-quoted custom type name.
        if let SqlType::Custom(name, mods) = sql_type
            && mods.is_empty() && name.0.len() == 1
                && let Some(id) = name.0[0].as_ident().filter(|i| i.quote_style == Some('`')) {
                    return match crate::parser::parse_type_str(&id.value) {
                        Ok(t) => Ok(Some(t.ty.to_arrow())),
                        Err(e) => datafusion_common::plan_err!("invalid type {}: {e}", id.value),
                    };
                }
        let text = sql_type.to_string();
        let upper = text.to_ascii_uppercase();
        // Only the names DataFusion does not know, or maps differently from Flink.
        let is_flink_only = upper.starts_with("TIMESTAMP_LTZ")
            || upper.contains("WITH LOCAL TIME ZONE")
            || upper == "BYTES"
            || upper == "STRING"
            || upper.starts_with("ROW")
            || upper.starts_with("MAP")
            || upper.starts_with("ARRAY")
            || upper.starts_with("MULTISET")
            || matches!(sql_type, SqlType::Timestamp(_, _) | SqlType::Custom(_, _));
        if !is_flink_only {
            return Ok(None);
        }
        match crate::parser::parse_type_str(&text) {
            Ok(t) => Ok(Some(t.ty.to_arrow())),
            Err(_) => Ok(None),
        }
    }
}

pub struct Ctx<'a> {
    pub session: &'a Session,
    pub functions: &'a FunctionSet,
    pub options: ConfigOptions,
    pub type_planner: Arc<dyn TypePlanner>,
    /// Array/map literals, `arr[i]`, `m['k']`, `row.field`.
    pub expr_planners: Vec<Arc<dyn ExprPlanner>>,
    /// Guards against views that reference themselves.
    pub depth: Cell<usize>,
}

impl<'a> Ctx<'a> {
    pub fn new(session: &'a Session) -> Self {
        let mut options = ConfigOptions::new();
        options.sql_parser.enable_ident_normalization = false;
        options.sql_parser.parse_float_as_decimal = true;
        options.sql_parser.map_string_types_to_utf8view = false;
        // Column-level positions in planning errors (DataFusion diagnostics carry spans).
        options.sql_parser.collect_spans = true;
        // Flink orders NULLs as the smallest value: ASC NULLS FIRST, DESC NULLS LAST.
        options.sql_parser.default_null_ordering = "nulls_min".to_string();
        options.execution.time_zone = Some("+00:00".to_string());
        Ctx { session, functions: session.functions(), options, type_planner: Arc::new(FlinkTypePlanner), expr_planners: vec![
                Arc::new(FlinkExprPlanner { substr: session.functions().scalar("substr") }),
                Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
                Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
                Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
                Arc::new(datafusion_functions_nested::planner::NestedFunctionPlanner),
                Arc::new(datafusion_functions_nested::planner::FieldAccessPlanner),
                Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
            ],
            depth: Cell::new(0) }
    }
}

impl ContextProvider for Ctx<'_> {
    fn get_table_source(&self, name: TableReference) -> DfResult<Arc<dyn TableSource>> {
        // `dim FOR SYSTEM_TIME AS OF o.ts` (see `parser::rewrite_temporal_tables`): the table
        // (or versioned view), planned as usual; the join on the right of which it stands finds
        // the marker in the scan's alias.
        let name = match name.table().split_once(crate::parser::TEMPORAL_MARKER) {
            Some((table, _)) => crate::lookup_join::with_table(&name, table),
            None => name,
        };
        // A LOOKUP hint's marker is for the join (see `lookup_join::lookup_hint`).
        let name = match name.table().split_once(crate::parser::LOOKUP_MARKER) {
            Some((table, _)) => crate::lookup_join::with_table(&name, table),
            None => name,
        };
        // `t /*+ OPTIONS(…) */` (see `parser::rewrite_hints`): the table with those options.
        let (name, hint) = match name.table().split_once(crate::parser::OPTIONS_MARKER) {
            Some((table, json)) => (crate::lookup_join::with_table(&name, table), Some(json.to_string())),
            None => (name, None),
        };
        let key = name.to_string();
        if let Some(json) = hint {
            let def = self.session.hinted_table(&key, &json, rask_types::Pos::default()).map_err(|e| DataFusionError::Plan(e.message()))?;
            let plan = self.session.table_plan(self, &def).map_err(|e| DataFusionError::Plan(e.message()))?;
            let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
            return Ok(Arc::new(InlinedSource { schema, plan }));
        }
        if self.depth.get() > 32 {
            return plan_err!("view '{key}' references itself (directly or through other views)");
        }
        self.depth.set(self.depth.get() + 1);
        let r = self.session.table_source(self, &key);
        self.depth.set(self.depth.get() - 1);
        r.map_err(|e| DataFusionError::Plan(e.message()))
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.expr_planners
    }

    fn get_table_function_source(&self, name: &str, args: Vec<datafusion_expr::Expr>) -> DfResult<Arc<dyn TableSource>> {
        let plan = self.session.window_tvf(self, name, &args).map_err(|e| DataFusionError::Plan(e.message()))?;
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        Ok(Arc::new(InlinedSource { schema, plan }))
    }

    fn get_type_planner(&self) -> Option<Arc<dyn TypePlanner>> {
        Some(self.type_planner.clone())
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.session.scalar_function(name)
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.functions.aggregate(name)
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.functions.windows.get(&name.to_ascii_lowercase()).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn get_variable_field(&self, _variable_names: &[String]) -> Option<FieldRef> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        let db = self.session.catalog.current_database();
        self.functions.scalars.keys().cloned().chain(self.session.catalog.functions_in(db, true).map(|f| f.name.clone())).collect()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.functions.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.functions.windows.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        vec![]
    }
}

/// `ObjectName` → "a.b.c".
pub fn object_name(n: &ast::ObjectName) -> String {
    n.0.iter()
        .map(|p| match p.as_ident() {
            Some(i) => i.value.clone(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}
