//! Lookup join (Flink's `LookupJoin`): each input row joined with the rows an external table
//! holds for its key when the row is processed. A batch's distinct keys that the cache does not
//! hold are looked up together through the connector's [`LookupFunction`]; the looked-up rows
//! go through the dimension side's filters and projections, are cached per key (Flink's
//! `lookup.cache` = PARTIAL: LRU by key with expiry after write/access) and joined. Rows keep
//! their input's row kind and order. Nothing is checkpointed: the cache is only a cache. With
//! the LOOKUP hint's `'timeout'` the function runs on a thread of its own and a lookup that
//! takes longer fails the join.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::compute::{filter, filter_record_batch, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use rask_sql::lookup_join::LookupJoin as Plan;
use rask_sql::plan::CalcStep;
use rask_types::StreamBatch;

use crate::connector::{LookupCache, LookupFunction};
use crate::error::{Result, RuntimeError};
use crate::metrics::LookupMetrics;
use crate::operator::{Emitter, Operator};

/// Cached rows of one key, in the row format of the dimension side's output.
struct Entry {
    rows: Arc<Vec<Box<[u8]>>>,
    loaded: Instant,
    accessed: Instant,
}

pub struct LookupJoin {
    plan: Plan,
    function: Box<dyn LookupFunction>,
    policy: LookupCache,
    key_converter: RowConverter,
    /// The dimension side's output (after `dim_steps`) in row format.
    dim_converter: RowConverter,
    cache: Option<lru::LruCache<Box<[u8]>, Entry>>,
    out_schema: SchemaRef,
    metrics: Arc<LookupMetrics>,
}

fn arrow_err(what: &str) -> impl Fn(arrow::error::ArrowError) -> RuntimeError + '_ {
    move |e| RuntimeError::Internal(format!("lookup join ({what}): {e}"))
}

/// A lookup function run on a thread of its own, so that a lookup can be given up after the
/// LOOKUP hint's `'timeout'`: the join then fails with an external error (the restart strategy
/// decides), while the blocked call is left to end on that thread.
struct TimedLookup {
    requests: std::sync::mpsc::Sender<RecordBatch>,
    replies: std::sync::mpsc::Receiver<Result<(RecordBatch, Vec<u32>)>>,
    timeout: std::time::Duration,
}

impl TimedLookup {
    fn new(mut function: Box<dyn LookupFunction>, timeout: std::time::Duration, table: &str) -> Result<Self> {
        let (requests, inbox) = std::sync::mpsc::channel::<RecordBatch>();
        let (outbox, replies) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("rask-lookup-{table}"))
            .spawn(move || {
                // Ends when the join drops its sender (or stops listening).
                while let Ok(keys) = inbox.recv() {
                    if outbox.send(function.lookup(&keys)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| RuntimeError::Internal(format!("starting the lookup thread: {e}")))?;
        Ok(TimedLookup { requests, replies, timeout })
    }
}

impl LookupFunction for TimedLookup {
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>)> {
        self.requests.send(keys.clone()).map_err(|_| RuntimeError::Internal("the lookup thread is gone".into()))?;
        match self.replies.recv_timeout(self.timeout) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RuntimeError::External(format!(
                "a lookup of {} key(s) did not finish within the LOOKUP hint's 'timeout' ({:?})",
                keys.num_rows(),
                self.timeout
            ))),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(RuntimeError::Internal("the lookup thread is gone".into())),
        }
    }
}

impl LookupJoin {
    pub fn new(plan: Plan, function: Box<dyn LookupFunction>, policy: LookupCache, input: SchemaRef, out_schema: SchemaRef, metrics: Arc<LookupMetrics>) -> Result<Self> {
        let function = match plan.timeout {
            Some(t) => Box::new(TimedLookup::new(function, t, &plan.table.name)?) as Box<dyn LookupFunction>,
            None => function,
        };
        let key_fields: Vec<SortField> = plan.keys.iter().map(|(_, c)| SortField::new(input.field(*c).data_type().clone())).collect();
        let key_converter = RowConverter::new(key_fields).map_err(arrow_err("keys"))?;
        let dim_fields: Vec<SortField> = out_schema.fields()[plan.left_width..].iter().map(|f| SortField::new(f.data_type().clone())).collect();
        let dim_converter = RowConverter::new(dim_fields).map_err(arrow_err("rows"))?;
        let cache = match policy {
            LookupCache::None => None,
            // Bounded by hand: `LruCache::new` allocates its capacity up front.
            LookupCache::Partial { .. } => Some(lru::LruCache::unbounded()),
        };
        Ok(LookupJoin { plan, function, policy, key_converter, dim_converter, cache, out_schema, metrics })
    }

}

/// Whether a cached entry must be looked up again.
fn expired(policy: LookupCache, e: &Entry, now: Instant) -> bool {
    match policy {
        LookupCache::None => true,
        LookupCache::Partial { expire_after_write, expire_after_access, .. } => {
            expire_after_write.is_some_and(|d| now.duration_since(e.loaded) >= d) || expire_after_access.is_some_and(|d| now.duration_since(e.accessed) >= d)
        }
    }
}

impl LookupJoin {
    /// Look `keys` up (rows of `key_cols` at `rows`), returning each key's rows in row format.
    fn fetch(&mut self, key_cols: &[ArrayRef], rows: &[u32]) -> Result<Vec<Vec<Box<[u8]>>>> {
        let idx = UInt32Array::from(rows.to_vec());
        let cols: Vec<ArrayRef> = key_cols.iter().map(|c| take(c.as_ref(), &idx, None)).collect::<std::result::Result<_, _>>().map_err(arrow_err("keys"))?;
        let fields: Vec<arrow::datatypes::FieldRef> = self
            .plan
            .keys
            .iter()
            .zip(&cols)
            .map(|((i, _), c)| Arc::new(arrow::datatypes::Field::new(format!("k{i}"), c.data_type().clone(), true)))
            .collect();
        let keys = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols).map_err(arrow_err("keys"))?;
        self.metrics.lookups.fetch_add(rows.len() as u64, Ordering::Relaxed);
        let (mut found, owner) = self.function.lookup(&keys).map_err(|e| e.context(format!("lookup in table '{}'", self.plan.table.name)))?;
        let mut owner = UInt32Array::from(owner);
        for step in &self.plan.dim_steps {
            match step {
                CalcStep::Filter(e) => {
                    let mask = e.evaluate(&found).and_then(|v| v.into_array(found.num_rows())).map_err(|e| RuntimeError::Internal(format!("lookup join filter: {e}")))?;
                    let mask = mask.as_boolean_opt().ok_or_else(|| RuntimeError::Internal("lookup join filter is not boolean".into()))?.clone();
                    found = filter_record_batch(&found, &mask).map_err(arrow_err("filter"))?;
                    owner = filter(&owner, &mask).map_err(arrow_err("filter"))?.as_primitive().clone();
                }
                CalcStep::Project(exprs, schema) => {
                    let n = found.num_rows();
                    let cols = exprs
                        .iter()
                        .map(|e| e.evaluate(&found).and_then(|v| v.into_array(n)))
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|e| RuntimeError::Internal(format!("lookup join projection: {e}")))?;
                    found = RecordBatch::try_new_with_options(schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(n))).map_err(arrow_err("projection"))?;
                }
            }
        }
        let encoded = self.dim_converter.convert_columns(found.columns()).map_err(arrow_err("rows"))?;
        let mut out = vec![Vec::new(); rows.len()];
        for (r, o) in owner.values().iter().enumerate() {
            if let Some(v) = out.get_mut(*o as usize) {
                v.push(encoded.row(r).data().into());
            }
        }
        Ok(out)
    }
}

impl Operator for LookupJoin {
    fn on_batch(&mut self, _input: usize, batch: StreamBatch, out: &mut Emitter) -> Result<()> {
        let n = batch.num_rows();
        let key_cols: Vec<ArrayRef> = self.plan.keys.iter().map(|(_, c)| batch.data.column(*c).clone()).collect();
        let keys = self.key_converter.convert_columns(&key_cols).map_err(arrow_err("keys"))?;
        let now = Instant::now();
        // Each row's key slot: `None` for a NULL key (it matches nothing).
        let mut slot_of_row: Vec<Option<usize>> = Vec::with_capacity(n);
        let mut slots: HashMap<&[u8], usize> = HashMap::new();
        let mut slot_rows: Vec<Option<Arc<Vec<Box<[u8]>>>>> = Vec::new();
        let mut missing: Vec<(usize, u32)> = Vec::new();
        for i in 0..n {
            if key_cols.iter().any(|c| c.is_null(i)) {
                slot_of_row.push(None);
                continue;
            }
            let k = keys.row(i).data();
            let s = match slots.get(k) {
                Some(s) => *s,
                None => {
                    let s = slot_rows.len();
                    slots.insert(k, s);
                    let policy = self.policy;
                    let fresh = match self.cache.as_mut().and_then(|c| c.get_mut(k)) {
                        Some(e) if !expired(policy, e, now) => {
                            e.accessed = now;
                            Some(e.rows.clone())
                        }
                        _ => None,
                    };
                    if fresh.is_none() {
                        missing.push((s, i as u32));
                    } else {
                        self.metrics.hits.fetch_add(1, Ordering::Relaxed);
                    }
                    slot_rows.push(fresh);
                    s
                }
            };
            slot_of_row.push(Some(s));
        }
        if !missing.is_empty() {
            let rows: Vec<u32> = missing.iter().map(|(_, r)| *r).collect();
            let mut found = self.fetch(&key_cols, &rows)?;
            // LOOKUP hint retries: keys that found nothing are looked up again after the delay
            // (the operator waits, as Flink's synchronous lookup retries do).
            if let Some((delay, attempts)) = self.plan.retry {
                for _ in 0..attempts {
                    let again: Vec<usize> = (0..found.len()).filter(|i| found[*i].is_empty()).collect();
                    if again.is_empty() {
                        break;
                    }
                    std::thread::sleep(delay);
                    let retried = self.fetch(&key_cols, &again.iter().map(|i| rows[*i]).collect::<Vec<_>>())?;
                    for (i, r) in again.into_iter().zip(retried) {
                        found[i] = r;
                    }
                }
            }
            let cache_missing = matches!(self.policy, LookupCache::Partial { cache_missing: true, .. });
            for ((s, r), rows) in missing.iter().zip(found) {
                let rows = Arc::new(rows);
                if let Some(c) = self.cache.as_mut()
                    && (cache_missing || !rows.is_empty())
                {
                    c.put(keys.row(*r as usize).data().into(), Entry { rows: rows.clone(), loaded: now, accessed: now });
                    if let LookupCache::Partial { max_rows, .. } = self.policy {
                        while c.len() > max_rows.max(1) {
                            c.pop_lru();
                        }
                    }
                }
                slot_rows[*s] = Some(rows);
            }
        }
        // Candidate pairs (input row, dimension row), in input order.
        let parser = self.dim_converter.parser();
        let mut left_idx: Vec<u32> = Vec::new();
        let mut dim_rows = Vec::new();
        for (i, s) in slot_of_row.iter().enumerate() {
            if let Some(rows) = s.and_then(|s| slot_rows[s].as_ref()) {
                for r in rows.iter() {
                    left_idx.push(i as u32);
                    dim_rows.push(parser.parse(r));
                }
            }
        }
        let mut dim = self.dim_converter.convert_rows(dim_rows).map_err(arrow_err("rows"))?;
        let mut left_idx = UInt32Array::from(left_idx);
        // The rest of the condition decides which candidates are matches.
        let mut joined = None;
        if let Some(f) = &self.plan.filter {
            let candidates = self.assemble(&batch, &left_idx, &dim, None)?;
            let mask = super::keyed::condition_mask(f, &candidates.data, "lookup join")?;
            left_idx = filter(&left_idx, &mask).map_err(arrow_err("condition"))?.as_primitive().clone();
            dim = dim.iter().map(|c| filter(c.as_ref(), &mask)).collect::<std::result::Result<_, _>>().map_err(arrow_err("condition"))?;
            joined = Some(candidates.filter(&mask).map_err(arrow_err("condition"))?);
        }
        let mut has = vec![false; n];
        if self.plan.left_outer {
            for i in left_idx.values().iter() {
                has[*i as usize] = true;
            }
        }
        if !self.plan.left_outer || has.iter().all(|h| *h) {
            let matches = match joined {
                Some(j) => j,
                None => self.assemble(&batch, &left_idx, &dim, None)?,
            };
            out.emit(matches);
            return Ok(());
        }
        // Left outer: every input row at least once, NULL-padded without a match.
        let mut l: Vec<u32> = Vec::with_capacity(left_idx.len() + n);
        let mut d: Vec<Option<u32>> = Vec::with_capacity(left_idx.len() + n);
        let mut at = 0usize;
        let li = left_idx.values();
        for (i, h) in has.iter().enumerate() {
            if *h {
                while at < li.len() && li[at] as usize == i {
                    l.push(i as u32);
                    d.push(Some(at as u32));
                    at += 1;
                }
            } else {
                l.push(i as u32);
                d.push(None);
            }
        }
        let out_batch = self.assemble(&batch, &UInt32Array::from(l), &dim, Some(&UInt32Array::from(d)))?;
        out.emit(out_batch);
        Ok(())
    }
}

impl LookupJoin {
    /// Output rows: input rows `left` (first `left_width` columns, their row kinds) beside the
    /// dimension columns `dim` (taken at `dim_idx` if given; a NULL index pads with NULLs).
    fn assemble(&self, batch: &StreamBatch, left: &UInt32Array, dim: &[ArrayRef], dim_idx: Option<&UInt32Array>) -> Result<StreamBatch> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.out_schema.fields().len());
        for c in &batch.data.columns()[..self.plan.left_width] {
            cols.push(take(c.as_ref(), left, None).map_err(arrow_err("output"))?);
        }
        for c in dim {
            cols.push(match dim_idx {
                Some(idx) => take(c.as_ref(), idx, None).map_err(arrow_err("output"))?,
                None => c.clone(),
            });
        }
        let data = RecordBatch::try_new_with_options(self.out_schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(left.len()))).map_err(arrow_err("output"))?;
        let kinds = match &batch.kinds {
            Some(k) => Some(Arc::new(take(k.as_ref(), left, None).map_err(arrow_err("output"))?.as_primitive().clone())),
            None => None,
        };
        Ok(StreamBatch { data, kinds, split: None })
    }
}
