//! Translation of an analysed DataFusion `LogicalPlan` into Rask's [`StreamPlan`]: scans become
//! sources, filters and projections fuse into Calc operators with compiled physical
//! expressions, the watermark node becomes a watermark assigner, INSERT targets become sinks.
//! Plan shapes the streaming engine cannot run yet are rejected with a message naming them.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Schema, SchemaRef};
use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::logical_plan::LogicalPlan;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::{ColumnarValue, Expr};
use datafusion_physical_expr::{create_physical_expr, PhysicalExpr};
use rask_types::options::Options;
use rask_types::Pos;

use crate::catalog::TableDef;
use crate::context::PhysicalScan;
use crate::error::{Result, SqlError};
use crate::plan::{CalcStep, Exchange, Input, NodeId, NodeKind, PlanNode, StreamPlan};
use crate::session::df_err;
use crate::watermark_node::WatermarkAssigner;

pub struct Translator {
    nodes: Vec<PlanNode>,
    /// Source node per table: a table read by several statements of a job is read once and
    /// its rows feed every reader (Flink's `table.optimizer.reuse-source-enabled`, on by default).
    sources: std::collections::HashMap<String, NodeId>,
    props: ExecutionProps,
    config: Options,
    /// Set while translating a window aggregation's input: its window table function becomes
    /// a slice assigner (see [`crate::window_agg`]).
    pub(crate) slicing: bool,
    /// Window nodes under a Top-N filter (`rownum <= N`), with N.
    rank_limits: Vec<(*const datafusion_expr::logical_plan::Window, usize)>,
    /// Window nodes of Top-Ns whose row number the query does not select.
    rank_unused: Vec<*const datafusion_expr::logical_plan::Window>,
}

pub(crate) fn arrow_schema(s: &DFSchema) -> SchemaRef {
    Arc::new(s.as_arrow().clone())
}

/// Flink-style expression text without table qualifiers.
pub(crate) fn show(e: &Expr) -> String {
    strip_tvf_names(&show_raw(e))
}

/// Window TVFs are planned as generated table functions; their name is noise in a plan.
pub(crate) fn strip_tvf_names(s: &str) -> String {
    let mut s = s.to_string();
    for f in ["__rask_window_tumble().", "__rask_window_hop().", "__rask_window_cumulate()."] {
        s = s.replace(f, "");
    }
    s
}

fn show_raw(e: &Expr) -> String {
    match e {
        Expr::Alias(a) => {
            let inner = a.expr.human_display().to_string();
            let bare = inner.rsplit('.').next().unwrap_or(&inner);
            if bare == a.name { inner } else { format!("{inner} AS {}", a.name) }
        }
        _ => e.human_display().to_string(),
    }
}

impl Translator {
    pub fn new(config: Options) -> Self {
        Translator { nodes: Vec::new(), sources: std::collections::HashMap::new(), props: ExecutionProps::new(), config, slicing: false, rank_limits: Vec::new(), rank_unused: Vec::new() }
    }

    pub fn finish(mut self) -> StreamPlan {
        crate::source_reads::push_down(&mut self.nodes);
        StreamPlan { nodes: self.nodes, config: self.config }
    }

    /// Whether the query leaves the row number of Top-N `w` unselected.
    pub(crate) fn rank_number_unused(&self, w: &datafusion_expr::logical_plan::Window) -> bool {
        self.rank_unused.iter().any(|p| std::ptr::eq(*p, w))
    }

    /// A session option (`SET 'k' = 'v'`) in force for this job.
    pub(crate) fn config_value(&self, key: &str) -> Option<String> {
        self.config.get(key).map(|v| v.to_string())
    }

    pub(crate) fn push(&mut self, name: String, kind: NodeKind, inputs: Vec<Input>, schema: SchemaRef) -> NodeId {
        let id = self.nodes.len();
        // A temporal join consumes its versioned side's changelog: only the left side's mode
        // passes on.
        let passing = if matches!(kind, NodeKind::TemporalJoin(_)) { &inputs[..1] } else { &inputs[..] };
        let updates_from = if kind.produces_updates() { Some(id) } else { passing.iter().find_map(|i| self.nodes[i.node].updates_from) };
        self.nodes.push(PlanNode { id, name, kind, inputs, schema, updates_from });
        id
    }

    pub(crate) fn physical(&self, e: &Expr, schema: &DFSchema, pos: Pos) -> Result<Arc<dyn PhysicalExpr>> {
        create_physical_expr(e, schema, &self.props, &PhysicalPlanningContext::default()).map_err(|err| df_err(err, pos))
    }

    /// Where `node`'s updates come from (`None`: it is append-only).
    pub(crate) fn updates_from(&self, node: NodeId) -> Option<NodeId> {
        self.nodes[node].updates_from
    }

    /// Flink's changelog check: every operator fed by an updating node must consume updates.
    fn check_changelog(&self, pos: Pos) -> Result<()> {
        for n in &self.nodes {
            if n.kind.consumes_updates() {
                continue;
            }
            let Some(from) = n.inputs.iter().find_map(|i| self.nodes[i.node].updates_from) else { continue };
            let producer = &self.nodes[from].name;
            let msg = match &n.kind {
                NodeKind::Sink { table } => {
                    // Upsert connectors take updates only with a key to upsert by.
                    let hint = if table.primary_key.is_none() && matches!(table.connector.as_str(), "jdbc" | "upsert-kafka") {
                        format!("connector '{}' writes updates and deletes only in upsert mode: declare the table's PRIMARY KEY (…) NOT ENFORCED", table.connector)
                    } else {
                        "write to a connector that accepts updates (print, blackhole, upsert-kafka, jdbc) or use an append-only query".to_string()
                    };
                    format!(
                        "table sink '{}' (connector '{}') doesn't support consuming update changes which is produced by node {producer}; {hint}",
                        table.name, table.connector
                    )
                }
                _ => format!("{} doesn't support consuming update and delete changes which is produced by node {producer}", n.name.split('(').next().unwrap_or(&n.name)),
            };
            return Err(SqlError::unsupported(pos, msg));
        }
        Ok(())
    }

    /// Append a step to `input` if it is a Calc nobody else uses; otherwise start a new Calc.
    pub(crate) fn calc(&mut self, input: NodeId, step: CalcStep, desc: String, schema: SchemaRef) -> NodeId {
        let fusable = matches!(self.nodes[input].kind, NodeKind::Calc { .. })
            && self.nodes.iter().all(|n| n.inputs.iter().all(|i| i.node != input));
        if fusable {
            let n = &mut self.nodes[input];
            if let NodeKind::Calc { steps } = &mut n.kind {
                steps.push(step);
            }
            n.name = format!("{}, {desc})", n.name.trim_end_matches(')'));
            n.schema = schema;
            return input;
        }
        self.push(format!("Calc({desc})"), NodeKind::Calc { steps: vec![step] }, vec![Input { node: input, exchange: Exchange::Forward }], schema)
    }

    /// Add one INSERT (its plan ends in the projection onto the sink's columns).
    pub fn add_sink(&mut self, plan: &LogicalPlan, table: Arc<TableDef>, pos: Pos) -> Result<()> {
        let input = self.node(plan, pos)?;
        let schema = arrow_schema(plan.schema());
        let parallel_keyed = table.primary_key.is_some()
            && self.config.get("table.exec.sink.keyed-shuffle").map(|v| !v.eq_ignore_ascii_case("NONE")).unwrap_or(true);
        let exchange = match (&table.primary_key, parallel_keyed) {
            (Some(pk), true) => {
                let cols: Vec<usize> = pk.iter().filter_map(|k| schema.index_of(k).ok()).collect();
                for c in &cols {
                    let f = schema.field(*c);
                    let probe = arrow::array::new_empty_array(f.data_type());
                    if let Err(e) = rask_types::keygroup::hash_rows(&[probe], 0) {
                        return Err(SqlError::validation(pos, format!("primary key column '{}' of '{}': {e}", f.name(), table.name)));
                    }
                }
                if cols.len() == pk.len() { Exchange::Hash(cols) } else { Exchange::Forward }
            }
            _ => Exchange::Forward,
        };
        let fields: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let name = if table.name == "__select" {
            format!("Sink(print, fields=[{}])", fields.join(", "))
        } else {
            format!("Sink(table=[{}], fields=[{}])", table.name, fields.join(", "))
        };
        self.push(name, NodeKind::Sink { table }, vec![Input { node: input, exchange }], schema);
        self.check_changelog(pos)
    }

    /// The scan's projection (unless it keeps every column in order) and filters, as Calc
    /// steps over the table's columns `physical`, with their descriptions.
    pub(crate) fn scan_steps(&self, scan: &datafusion_expr::logical_plan::TableScan, physical: &SchemaRef, pos: Pos) -> Result<Vec<(CalcStep, String)>> {
        let mut steps = Vec::new();
        if let Some(proj) = scan.projection.as_ref().filter(|p| !p.iter().copied().eq(0..physical.fields().len())) {
            let full = DFSchema::try_from_qualified_schema(scan.table_name.clone(), physical).map_err(|e| df_err(e, pos))?;
            let exprs: Vec<Expr> = proj.iter().map(|i| Expr::Column(full.columns()[*i].clone())).collect();
            let phys = exprs.iter().map(|e| self.physical(e, &full, pos)).collect::<Result<Vec<_>>>()?;
            let desc = format!("select=[{}]", exprs.iter().map(show).collect::<Vec<_>>().join(", "));
            steps.push((CalcStep::Project(phys, arrow_schema(&scan.projected_schema)), desc));
        }
        for f in &scan.filters {
            steps.push((CalcStep::Filter(self.physical(f, &scan.projected_schema, pos)?), format!("where=[{}]", show(f))));
        }
        Ok(steps)
    }

    pub(crate) fn node(&mut self, plan: &LogicalPlan, pos: Pos) -> Result<NodeId> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some(src) = scan.source.downcast_ref::<PhysicalScan>() else {
                    return Err(SqlError::Internal(format!("scan of unknown source {}", scan.table_name)));
                };
                let table = src.table.clone();
                if !table.caps.source {
                    return Err(SqlError::validation(
                        pos,
                        format!("connector '{}' of table '{}' cannot be used as a source", table.connector, table.name),
                    ));
                }
                let cols: Vec<String> = src.schema.fields().iter().map(|f| f.name().clone()).collect();
                let reuse = self.config.get("table.optimizer.reuse-source-enabled").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
                // Reused per table and options (an OPTIONS hint makes another source).
                let source_key = format!("{}{:?}", table.name, table.options.raw());
                let mut id = match self.sources.get(&source_key) {
                    Some(id) if reuse => *id,
                    _ => {
                        let upsert = table.caps.produces == crate::catalog::ChangelogMode::Upsert;
                        let key: Vec<usize> = table.primary_key.iter().flatten().filter_map(|k| src.schema.index_of(k).ok()).collect();
                        if upsert && (key.is_empty() || Some(key.len()) != table.primary_key.as_ref().map(Vec::len)) {
                            return Err(SqlError::validation(
                                pos,
                                format!("table '{}' (connector '{}') holds upserts by key: it needs a PRIMARY KEY (…) NOT ENFORCED", table.name, table.connector),
                            ));
                        }
                        let mut id = self.push(
                            format!("TableSourceScan(table=[{}], connector=[{}], fields=[{}])", table.name, table.connector, cols.join(", ")),
                            NodeKind::Source { read: vec![rask_types::ColumnUse::Whole; src.schema.fields().len()], table },
                            vec![],
                            src.schema.clone(),
                        );
                        if upsert {
                            // The last row per key makes the upserts a changelog (-U/+U, and
                            // deletes carrying the whole row).
                            let names: Vec<&str> = key.iter().map(|k| cols[*k].as_str()).collect();
                            id = self.push(
                                format!("ChangelogNormalize(key=[{}])", names.join(", ")),
                                NodeKind::ChangelogNormalize { key: key.clone() },
                                vec![Input { node: id, exchange: Exchange::Hash(key) }],
                                src.schema.clone(),
                            );
                        }
                        self.sources.insert(source_key, id);
                        id
                    }
                };
                for (step, desc) in self.scan_steps(scan, &src.schema, pos)? {
                    id = self.calc(id, step, desc, arrow_schema(&scan.projected_schema));
                }
                Ok(id)
            }
            LogicalPlan::Projection(p) => {
                if let Some(w) = crate::window_rank::rank_below(&p.input) {
                    // The row number is the window's (and so the filter's) last column.
                    let rn = p.input.schema().columns().pop();
                    let used = p.expr.iter().any(|e| e.column_refs().iter().any(|c| Some(*c) == rn.as_ref()));
                    if !used {
                        self.rank_unused.push(w as *const _);
                    }
                }
                let input = self.node(&p.input, pos)?;
                let in_schema = p.input.schema();
                // A projection that only renames/reorders nothing is free: skip it.
                let identity = p.expr.len() == in_schema.fields().len()
                    && p.expr.iter().enumerate().all(|(i, e)| match e.clone().unalias() {
                        Expr::Column(c) => in_schema.index_of_column(&c).ok() == Some(i),
                        _ => false,
                    })
                    && p.schema.fields().iter().zip(in_schema.fields()).all(|(a, b)| a.name() == b.name());
                if identity {
                    return Ok(input);
                }
                let phys = p.expr.iter().map(|e| self.physical(e, in_schema, pos)).collect::<Result<Vec<_>>>()?;
                let desc = format!("select=[{}]", p.expr.iter().map(show).collect::<Vec<_>>().join(", "));
                let schema = arrow_schema(&p.schema);
                Ok(self.calc(input, CalcStep::Project(phys, schema.clone()), desc, schema))
            }
            // `FROM a, b WHERE a.k = b.k AND …`: the WHERE clause is the join's condition (a
            // cross join is never materialised).
            LogicalPlan::Filter(f)
                if matches!(f.input.as_ref(), LogicalPlan::Join(j) if j.join_type == datafusion_expr::JoinType::Inner) =>
            {
                let LogicalPlan::Join(j) = f.input.as_ref() else { unreachable!() };
                let mut j = j.clone();
                j.filter = Some(match j.filter.take() {
                    Some(old) => old.and(f.predicate.clone()),
                    None => f.predicate.clone(),
                });
                self.join(&j, pos)
            }
            LogicalPlan::Filter(f) => {
                if let Some((col, limit)) = crate::window_rank::rank_bound(&f.predicate)
                    && let Ok(i) = f.input.schema().index_of_column(&col)
                    && let Some(w) = crate::window_rank::row_number_source(&f.input, i)
                {
                    self.rank_limits.push((w as *const _, limit));
                }
                let input = self.node(&f.input, pos)?;
                let phys = self.physical(&f.predicate, f.input.schema(), pos)?;
                let schema = arrow_schema(f.input.schema());
                Ok(self.calc(input, CalcStep::Filter(phys), format!("where=[{}]", show(&f.predicate)), schema))
            }
            LogicalPlan::SubqueryAlias(a) => {
                if a.alias.table().contains(crate::parser::TEMPORAL_MARKER) {
                    return Err(SqlError::validation(
                        pos,
                        "FOR SYSTEM_TIME AS OF is only supported on the right side of a join (a temporal or lookup join)",
                    ));
                }
                self.node(&a.input, pos)
            }
            LogicalPlan::Extension(ext) if ext.node.as_any().downcast_ref::<crate::window_tvf::WindowTvf>().is_some() => {
                let Some(w) = ext.node.as_any().downcast_ref::<crate::window_tvf::WindowTvf>() else { unreachable!() };
                let slicing = std::mem::replace(&mut self.slicing, false);
                if w.spec.kind == crate::window_tvf::WindowKind::Session && !slicing {
                    return self.session_window(w, pos);
                }
                let input = self.node(&w.input, pos)?;
                let schema = arrow_schema(&w.schema);
                let time_name = w.input.schema().field(w.time_col).name();
                let (name, spec) = if slicing {
                    let spec = crate::window_agg::slicing_spec(&w.spec);
                    let name = if w.spec.kind == crate::window_tvf::WindowKind::Session {
                        format!("WindowSlicer(window=[{}], rows=[by event time])", crate::window_tvf::describe_window(&w.spec, time_name))
                    } else {
                        format!(
                            "WindowSlicer(window=[{}], slice=[{}])",
                            crate::window_tvf::describe_window(&w.spec, time_name),
                            crate::window_tvf::describe_duration(spec.size)
                        )
                    };
                    (name, spec)
                } else {
                    (crate::window_tvf::describe(&w.spec, time_name), w.spec)
                };
                Ok(self.push(
                    name,
                    NodeKind::WindowAssign { time_col: w.time_col, spec },
                    vec![Input { node: input, exchange: Exchange::Forward }],
                    schema,
                ))
            }
            LogicalPlan::Extension(ext) if ext.node.as_any().downcast_ref::<crate::split_distinct::Expand>().is_some() => {
                let Some(x) = ext.node.as_any().downcast_ref::<crate::split_distinct::Expand>() else { unreachable!() };
                let input = self.node(&x.input, pos)?;
                let projections = x
                    .projections
                    .iter()
                    .map(|p| p.iter().map(|e| self.physical(e, x.input.schema(), pos)).collect::<Result<Vec<_>>>())
                    .collect::<Result<Vec<_>>>()?;
                let name = crate::split_distinct::describe(&x.projections);
                Ok(self.push(name, NodeKind::Expand { projections }, vec![Input { node: input, exchange: Exchange::Forward }], arrow_schema(&x.schema)))
            }
            LogicalPlan::Extension(ext) => {
                let Some(w) = ext.node.as_any().downcast_ref::<WatermarkAssigner>() else {
                    return Err(SqlError::Internal(format!("unknown plan extension {}", ext.node.name())));
                };
                let input = self.node(&w.input, pos)?;
                let expr = self.physical(&w.expr, w.input.schema(), pos)?;
                let schema = arrow_schema(w.input.schema());
                let name = format!("WatermarkAssigner(rowtime=[{}], watermark=[{}])", schema.field(w.rowtime).name(), w.text);
                Ok(self.push(
                    name,
                    NodeKind::Watermark { rowtime: w.rowtime, expr },
                    vec![Input { node: input, exchange: Exchange::Forward }],
                    schema,
                ))
            }
            LogicalPlan::Union(u) => {
                let mut inputs = Vec::new();
                for i in &u.inputs {
                    inputs.push(Input { node: self.node(i, pos)?, exchange: Exchange::Forward });
                }
                let schema = arrow_schema(&u.schema);
                Ok(self.push("Union(all=[true])".into(), NodeKind::Union, inputs, schema))
            }
            LogicalPlan::Values(v) => {
                let schema = arrow_schema(&v.schema);
                let batch = self.eval_values(&v.values, &schema, pos)?;
                let n = batch.num_rows();
                Ok(self.push(format!("Values(tuples=[{n} rows])"), NodeKind::Values { batch }, vec![], schema))
            }
            LogicalPlan::EmptyRelation(e) => {
                let schema = arrow_schema(&e.schema);
                let rows = if e.produce_one_row { 1 } else { 0 };
                let cols: Vec<ArrayRef> = schema.fields().iter().map(|f| new_null_array(f.data_type(), rows)).collect();
                let batch = RecordBatch::try_new_with_options(schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(rows)))
                    .map_err(|e| SqlError::Internal(e.to_string()))?;
                Ok(self.push(format!("Values(tuples=[{rows} rows])"), NodeKind::Values { batch }, vec![], schema))
            }
            LogicalPlan::Aggregate(agg) => self.aggregate(agg, pos),
            LogicalPlan::Join(j) => self.join(j, pos),
            LogicalPlan::Window(w)
                if w.window_expr.iter().all(|e| {
                    matches!(e.clone().unalias(), Expr::WindowFunction(f) if matches!(f.fun, datafusion_expr::expr::WindowFunctionDefinition::AggregateUDF(_)))
                }) =>
            {
                self.over_aggregate(w, pos)
            }
            LogicalPlan::Window(w) => {
                let limit = self.rank_limits.iter().find(|(p, _)| std::ptr::eq(*p, w)).map(|(_, l)| *l);
                self.window_rank(w, limit, pos)
            }
            LogicalPlan::Sort(_) => Err(SqlError::unsupported(
                pos,
                "ORDER BY on a stream is not supported (Flink only allows it on a time attribute; use Top-N with ROW_NUMBER instead)",
            )),
            LogicalPlan::Limit(l) => {
                use datafusion_expr::logical_plan::{FetchType, SkipType};
                let skip = match l.get_skip_type().map_err(|e| df_err(e, pos))? {
                    SkipType::Literal(n) => n,
                    SkipType::UnsupportedExpr => return Err(SqlError::unsupported(pos, "OFFSET must be a constant")),
                };
                let fetch = match l.get_fetch_type().map_err(|e| df_err(e, pos))? {
                    FetchType::Literal(n) => n,
                    FetchType::UnsupportedExpr => return Err(SqlError::unsupported(pos, "LIMIT must be a constant")),
                };
                let input = self.node(&l.input, pos)?;
                let schema = arrow_schema(l.input.schema());
                let name = match fetch {
                    Some(f) => format!("Limit(offset=[{skip}], fetch=[{f}])"),
                    None => format!("Limit(offset=[{skip}], fetch=[unlimited])"),
                };
                Ok(self.push(name, NodeKind::Limit { skip, fetch }, vec![Input { node: input, exchange: Exchange::Single }], schema))
            }
            LogicalPlan::Distinct(datafusion_expr::logical_plan::Distinct::All(input)) => self.distinct(input, pos),
            LogicalPlan::Distinct(_) => Err(SqlError::unsupported(pos, "SELECT DISTINCT ON is not supported")),
            other => Err(SqlError::unsupported(pos, format!("'{}' is not supported in a streaming job", other.display()))),
        }
    }

    fn eval_values(&self, rows: &[Vec<Expr>], schema: &SchemaRef, pos: Pos) -> Result<RecordBatch> {
        let empty = DFSchema::empty();
        let one = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(1)))
            .map_err(|e| SqlError::Internal(e.to_string()))?;
        let mut cols: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(rows.len()); schema.fields().len()];
        for row in rows {
            for (i, e) in row.iter().enumerate() {
                let p = self.physical(e, &empty, pos)?;
                let v = p.evaluate(&one).map_err(|e| df_err(e, pos))?;
                let s = match v {
                    ColumnarValue::Scalar(s) => s,
                    ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0).map_err(|e| df_err(e, pos))?,
                };
                let s = s.cast_to(schema.field(i).data_type()).map_err(|e| df_err(e, pos))?;
                cols[i].push(s);
            }
        }
        let arrays = cols
            .into_iter()
            .zip(schema.fields())
            .map(|(vals, f)| {
                if vals.is_empty() {
                    Ok(new_null_array(f.data_type(), 0))
                } else {
                    ScalarValue::iter_to_array(vals).map_err(|e| df_err(e, pos))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new_with_options(schema.clone(), arrays, &RecordBatchOptions::new().with_row_count(Some(rows.len())))
            .map_err(|e| SqlError::validation(pos, format!("VALUES: {e}")))
    }
}
