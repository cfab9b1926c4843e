//! The datagen reader: one subtask's share of the rows, generated column by column into Arrow
//! arrays, paced to `rows-per-second / parallelism`.
//!
//! A subtask's share is a *split*: sequence values `start + offset + k * stride` for
//! `k = next, next + 1, …` and a row budget (`number-of-rows`). Its position in checkpoints is
//! its list of splits; after a restore at another parallelism a subtask may own several (merged
//! in sequence order) or none, so sequences continue exactly where they stopped. Random
//! columns are not replayed: they are random again after a restore, as in Flink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::*;
use arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rask_runtime::connector::{SourceContext, SourceEvent, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::StreamBatch;

use super::options::{ColumnGen, DatagenPlan, FieldGen};

/// A share of the rows (see the module doc).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Split {
    offset: i64,
    stride: i64,
    /// Next index into the strided sequence.
    next: i64,
    /// Rows left (`None` = unbounded).
    remaining: Option<u64>,
}

pub struct DatagenReader {
    plan: DatagenPlan,
    schema: SchemaRef,
    rng: SmallRng,
    /// This subtask's splits.
    splits: Vec<Split>,
    /// Sequence offsets of the rows being generated (see [`DatagenReader::pick`]).
    picks: Vec<i64>,
    batch_size: usize,
    rate: f64,
    started: Instant,
    emitted: u64,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl DatagenReader {
    pub fn new(plan: DatagenPlan, ctx: &SourceContext) -> Result<Self> {
        let p = ctx.parallelism as u64;
        let s = ctx.subtask as u64;
        let splits = match &ctx.restore {
            None => vec![Split {
                offset: s as i64,
                stride: p as i64,
                next: 0,
                remaining: plan.number_of_rows.map(|n| n / p + u64::from(s < n % p)),
            }],
            Some(positions) => crate::position::decode_all::<Vec<Split>>("datagen", positions)?.into_iter().flatten().collect(),
        };
        let rate = (plan.rows_per_second as f64 / p as f64).max(1e-3);
        let seed = 0x5eed_u64 ^ ((ctx.subtask as u64) << 32) ^ std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
        Ok(DatagenReader {
            plan,
            schema: ctx.schema.clone(),
            rng: SmallRng::seed_from_u64(seed ^ rand::random::<u64>()),
            splits,
            picks: Vec::new(),
            batch_size: ctx.batch_size.max(1),
            rate,
            started: Instant::now(),
            emitted: 0,
        })
    }

    /// Rows left in the split (the shortest sequence and the row budget).
    fn left(&self, sp: &Split) -> Option<u64> {
        let seq = self
            .plan
            .columns
            .iter()
            .filter_map(|c| match c.generator {
                FieldGen::Sequence { start, end } => {
                    let first = start + sp.offset;
                    if first > end {
                        return Some(0);
                    }
                    let total = (end - first) / sp.stride + 1;
                    Some((total - sp.next).max(0) as u64)
                }
                _ => None,
            })
            .min();
        match (seq, sp.remaining) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Choose the next `n` rows: their sequence offsets (`offset + k * stride`) in `picks`,
    /// advancing the splits. Several splits (after a restore at a lower parallelism) are merged
    /// in sequence order, so that event time derived from a sequence stays ordered.
    fn pick(&mut self, n: usize) {
        self.picks.clear();
        if self.splits.len() == 1 {
            let sp = &mut self.splits[0];
            self.picks.extend((0..n as i64).map(|i| sp.offset + (sp.next + i) * sp.stride));
            sp.next += n as i64;
            if let Some(r) = sp.remaining.as_mut() {
                *r -= n as u64;
            }
            return;
        }
        let mut left: Vec<Option<u64>> = self.splits.iter().map(|sp| self.left(sp)).collect();
        for _ in 0..n {
            let Some(i) = (0..self.splits.len())
                .filter(|i| left[*i] != Some(0))
                .min_by_key(|i| self.splits[*i].offset + self.splits[*i].next * self.splits[*i].stride)
            else {
                break;
            };
            let sp = &mut self.splits[i];
            self.picks.push(sp.offset + sp.next * sp.stride);
            sp.next += 1;
            if let Some(r) = sp.remaining.as_mut() {
                *r -= 1;
            }
            if let Some(l) = left[i].as_mut() {
                *l -= 1;
            }
        }
    }

    fn gen_column(&mut self, ci: usize, n: usize) -> Result<ArrayRef> {
        let c = self.plan.columns[ci].clone();
        let arr = match &c.generator {
            FieldGen::Sequence { start, .. } => sequence_array(&c.data_type, self.picks.iter().map(|p| start + p))?,
            &FieldGen::Random { min, max, length, var_len, max_past_ms } => {
                random_array(&mut self.rng, &c.data_type, n, min, max, length, var_len, max_past_ms)?
            }
        };
        Ok(with_nulls(&mut self.rng, arr, &c))
    }
}

fn with_nulls(rng: &mut SmallRng, arr: ArrayRef, c: &ColumnGen) -> ArrayRef {
    if c.null_rate <= 0.0 {
        return arr;
    }
    let mask: BooleanArray = (0..arr.len()).map(|_| Some(rng.random::<f64>() >= c.null_rate)).collect();
    arrow::compute::nullif(&arr, &arrow::compute::not(&mask).unwrap_or(mask.clone())).unwrap_or(arr)
}

fn sequence_array(dt: &DataType, vals: impl Iterator<Item = i64>) -> Result<ArrayRef> {
    Ok(match dt {
        DataType::Int8 => Arc::new(Int8Array::from_iter_values(vals.map(|v| v as i8))),
        DataType::Int16 => Arc::new(Int16Array::from_iter_values(vals.map(|v| v as i16))),
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(vals.map(|v| v as i32))),
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(vals)),
        DataType::Float32 => Arc::new(Float32Array::from_iter_values(vals.map(|v| v as f32))),
        DataType::Float64 => Arc::new(Float64Array::from_iter_values(vals.map(|v| v as f64))),
        DataType::Decimal128(p, s) => Arc::new(
            Decimal128Array::from_iter_values(vals.map(|v| v as i128 * 10i128.pow(*s as u32)))
                .with_precision_and_scale(*p, *s)
                .map_err(|e| RuntimeError::User(e.to_string()))?,
        ),
        DataType::Utf8 => Arc::new(vals.map(|v| Some(v.to_string())).collect::<StringArray>()),
        other => return Err(RuntimeError::User(format!("datagen cannot generate a sequence of {other}"))),
    })
}

fn rand_string(rng: &mut SmallRng, length: usize, var_len: bool) -> String {
    let len = if var_len && length > 0 { rng.random_range(1..=length) } else { length };
    (0..len).map(|_| HEX[rng.random_range(0..16)] as char).collect()
}

#[allow(clippy::too_many_arguments)]
fn random_array(
    rng: &mut SmallRng,
    dt: &DataType,
    n: usize,
    min: Option<f64>,
    max: Option<f64>,
    length: usize,
    var_len: bool,
    max_past_ms: i64,
) -> Result<ArrayRef> {
    macro_rules! ints {
        ($t:ty, $arr:ty) => {{
            let lo = min.map(|v| v as i128).unwrap_or(<$t>::MIN as i128).max(<$t>::MIN as i128) as $t;
            let hi = max.map(|v| v as i128).unwrap_or(<$t>::MAX as i128).min(<$t>::MAX as i128) as $t;
            Arc::new((0..n).map(|_| rng.random_range(lo..=hi)).collect::<$arr>()) as ArrayRef
        }};
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let ts_ms = |rng: &mut SmallRng| if max_past_ms > 0 { now_ms - rng.random_range(0..=max_past_ms) } else { now_ms };
    Ok(match dt {
        DataType::Boolean => Arc::new((0..n).map(|_| Some(rng.random::<bool>())).collect::<BooleanArray>()),
        DataType::Int8 => ints!(i8, Int8Array),
        DataType::Int16 => ints!(i16, Int16Array),
        DataType::Int32 => ints!(i32, Int32Array),
        DataType::Int64 => ints!(i64, Int64Array),
        DataType::Float32 => {
            let (lo, hi) = (min.unwrap_or(f32::MIN as f64 / 2.0), max.unwrap_or(f32::MAX as f64 / 2.0));
            Arc::new(Float32Array::from_iter_values((0..n).map(|_| rng.random_range(lo..=hi) as f32)))
        }
        DataType::Float64 => {
            let (lo, hi) = (min.unwrap_or(f64::MIN / 2.0), max.unwrap_or(f64::MAX / 2.0));
            Arc::new(Float64Array::from_iter_values((0..n).map(|_| rng.random_range(lo..=hi))))
        }
        DataType::Decimal128(p, s) => {
            let scale = 10f64.powi(*s as i32);
            let limit = 10f64.powi((*p - *s as u8) as i32) - 1.0;
            let (lo, hi) = (min.unwrap_or(-limit).max(-limit), max.unwrap_or(limit).min(limit));
            Arc::new(
                Decimal128Array::from_iter_values((0..n).map(|_| (rng.random_range(lo..=hi) * scale).round() as i128))
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| RuntimeError::User(e.to_string()))?,
            )
        }
        DataType::Utf8 => Arc::new((0..n).map(|_| Some(rand_string(rng, length, var_len))).collect::<StringArray>()),
        DataType::Binary => {
            let v: Vec<Vec<u8>> = (0..n).map(|_| (0..length).map(|_| rng.random::<u8>()).collect()).collect();
            Arc::new(BinaryArray::from_iter_values(v))
        }
        DataType::Date32 => Arc::new(Date32Array::from_iter_values((0..n).map(|_| (ts_ms(rng).div_euclid(86_400_000)) as i32))),
        DataType::Time32(TimeUnit::Millisecond) => {
            Arc::new(Time32MillisecondArray::from_iter_values((0..n).map(|_| ts_ms(rng).rem_euclid(86_400_000) as i32)))
        }
        DataType::Time32(_) => Arc::new(Time32SecondArray::from_iter_values((0..n).map(|_| (ts_ms(rng).rem_euclid(86_400_000) / 1000) as i32))),
        DataType::Time64(TimeUnit::Microsecond) => {
            Arc::new(Time64MicrosecondArray::from_iter_values((0..n).map(|_| ts_ms(rng).rem_euclid(86_400_000) * 1000)))
        }
        DataType::Time64(_) => Arc::new(Time64NanosecondArray::from_iter_values((0..n).map(|_| ts_ms(rng).rem_euclid(86_400_000) * 1_000_000))),
        DataType::Timestamp(unit, tz) => {
            let mul = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 1,
                TimeUnit::Microsecond => 1000,
                TimeUnit::Nanosecond => 1_000_000,
            };
            let vals: Vec<i64> = (0..n).map(|_| if mul == 0 { ts_ms(rng) / 1000 } else { ts_ms(rng) * mul }).collect();
            let a: ArrayRef = match unit {
                TimeUnit::Second => Arc::new(TimestampSecondArray::from(vals).with_timezone_opt(tz.clone())),
                TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(vals).with_timezone_opt(tz.clone())),
                TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(vals).with_timezone_opt(tz.clone())),
                TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(vals).with_timezone_opt(tz.clone())),
            };
            a
        }
        DataType::List(f) => {
            let len = length.min(16);
            let values = random_array(rng, f.data_type(), n * len, min, max, length, var_len, max_past_ms)?;
            let offsets = arrow::buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(len, n));
            Arc::new(ListArray::try_new(Arc::new(Field::new("element", f.data_type().clone(), true)), offsets, values, None)?)
        }
        other => return Err(RuntimeError::User(format!("datagen cannot generate values of type {other}"))),
    })
}

impl SourceReader for DatagenReader {
    fn next(&mut self) -> Result<SourceEvent> {
        let keep: Vec<bool> = self.splits.iter().map(|sp| self.left(sp) != Some(0)).collect();
        let mut keep = keep.into_iter();
        self.splits.retain(|_| keep.next().unwrap_or(false));
        if self.splits.is_empty() {
            return Ok(SourceEvent::End);
        }
        let mut n = self.batch_size as u64;
        if let Some(l) = self.splits.iter().map(|sp| self.left(sp)).sum::<Option<u64>>() {
            n = n.min(l);
        }
        // Pace to the configured rate: small batches at low rates, sleep until they are due.
        let per_100ms = (self.rate / 10.0).ceil().max(1.0) as u64;
        n = n.min(per_100ms);
        let due = self.started + Duration::from_secs_f64(self.emitted as f64 / self.rate);
        let now = Instant::now();
        // Waiting is not work: a longer wait is reported as idle (busy-time metrics).
        if due > now + Duration::from_millis(2) {
            return Ok(SourceEvent::Idle);
        } else if due > now {
            std::thread::sleep(due - now);
        }
        self.pick(n as usize);
        let cols = (0..self.plan.columns.len()).map(|i| self.gen_column(i, n as usize)).collect::<Result<Vec<_>>>()?;
        let rb = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| RuntimeError::Internal(format!("datagen: {e}")))?;
        self.emitted += n;
        Ok(SourceEvent::Batch(StreamBatch::inserts(rb)))
    }

    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        crate::position::encode("datagen", &self.splits)
    }
}
