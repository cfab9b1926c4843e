//! Per-key state lookups shared by the keyed operators that encode their keys in Arrow's row
//! format (regular join, Top-N/deduplication, updating OVER): the rows' keys of a batch and a
//! map slot per key; the joins' condition on candidate rows; and the state-TTL sweep.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::row::{RowConverter, Rows};
use hashbrown::HashMap;

use crate::error::{Result, RuntimeError};

/// The keys of `data`'s rows in `columns`, encoded by `converter`; `None` without key columns
/// (every row has the empty key, see [`key_of`]).
pub(crate) fn key_rows(converter: &RowConverter, columns: &[usize], data: &RecordBatch) -> Result<Option<Rows>> {
    if columns.is_empty() {
        return Ok(None);
    }
    let cols: Vec<ArrayRef> = columns.iter().map(|c| data.column(*c).clone()).collect();
    converter.convert_columns(&cols).map(Some).map_err(|e| RuntimeError::Internal(format!("encoding keys: {e}")))
}

/// Row `i`'s key from [`key_rows`].
pub(crate) fn key_of(keys: &Option<Rows>, i: usize) -> &[u8] {
    keys.as_ref().map_or(&[], |k| k.row(i).data())
}

/// With `table.exec.state.ttl` and state held, ask for a sweep of idle keys after the TTL's
/// sweep interval (the keyed operators' `on_timer` drops what expired).
pub(crate) fn arm_ttl(ttl: Option<rask_state::StateTtl>, has_state: bool, out: &mut crate::operator::Emitter) {
    if let Some(ttl) = ttl
        && has_state
    {
        out.wake_after(ttl.sweep_interval());
    }
}

/// The state-TTL sweep of the keyed operators' `on_timer`: drop the entries of `map` not
/// written for the TTL (`touched`: when an entry was last written) and arm the next sweep.
pub(crate) fn expire_idle<K, V>(ttl: Option<rask_state::StateTtl>, clock: fn() -> i64, map: &mut HashMap<K, V>, touched: impl Fn(&V) -> i64, out: &mut crate::operator::Emitter) {
    if let Some(ttl) = ttl {
        let now = clock();
        map.retain(|_, v| !ttl.expired(touched(v), now));
        arm_ttl(Some(ttl), !map.is_empty(), out);
    }
}

/// The value under `key`, inserted (default) if missing, without allocating a key to look up.
pub(crate) fn slot<'a, V: Default>(map: &'a mut HashMap<Box<[u8]>, V>, key: &[u8]) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.into(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// The batches of restored snapshot `parts`, re-typed as `schema` (the operator's state rows);
/// `what` names the state in the error when they do not fit the query.
pub(crate) fn restored_batches(parts: Vec<rask_state::OperatorSnapshot>, schema: &arrow::datatypes::SchemaRef, what: &str) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for p in parts {
        for e in &p.entries {
            for b in &e.batches {
                out.push(
                    RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                        .map_err(|e| RuntimeError::User(format!("{what} state does not fit the query: {e}")))?,
                );
            }
        }
    }
    Ok(out)
}

/// A join condition on candidate joined rows, as a filter mask: NULL is not a match.
pub(crate) fn condition_mask(condition: &std::sync::Arc<dyn datafusion_physical_expr::PhysicalExpr>, rows: &RecordBatch, join: &str) -> Result<BooleanArray> {
    let v = condition
        .evaluate(rows)
        .and_then(|v| v.into_array(rows.num_rows()))
        .map_err(|e| RuntimeError::Internal(format!("{join} condition: {e}")))?;
    let m = v.as_boolean_opt().ok_or_else(|| RuntimeError::Internal(format!("{join} condition is not boolean")))?;
    Ok(if m.null_count() > 0 { arrow::compute::prep_null_mask_filter(m) } else { m.clone() })
}
