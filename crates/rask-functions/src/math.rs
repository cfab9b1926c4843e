//! Flink's numeric functions where DataFusion lacks them or differs: MOD, LOG (natural log with one
//! argument, any base with two), POWER (always DOUBLE), ROUND/TRUNCATE (HALF_UP on the decimal
//! representation, Flink's result types), RAND/RAND_INTEGER (Java `Random` sequences), BIN, HEX
//! and E().

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use arrow::array::{
    ArrayRef, Decimal128Array, Float32Array, Float64Array, Int32Array, Int64Array,
};
use arrow::compute::kernels::numeric::rem;
use arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type, Int64Type};
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::ScalarUDF;

use crate::util::{Args, FlinkUdf, by_pattern, exec_err, is_integer, is_string, map_str};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        FlinkUdf::new("mod", 2, 2, coerce_mod, mod_type, mod_fn).udf(),
        FlinkUdf::new("log", 1, 2, |t| Ok(by_pattern(t, "F")), |_| Ok(DataType::Float64), log).udf(),
        FlinkUdf::new("power", 2, 2, |t| Ok(by_pattern(t, "F")), |_| Ok(DataType::Float64), power).udf(),
        FlinkUdf::new("round", 1, 2, coerce_round, |t| Ok(round_type(t, None)), round)
            .with_return_from_args(|t, s| Ok(round_type(t, literal_i64(s.get(1).copied().flatten()))))
            .udf(),
        FlinkUdf::new("truncate", 1, 2, coerce_round, |t| Ok(round_type(t, None)), truncate)
            .with_return_from_args(|t, s| Ok(round_type(t, literal_i64(s.get(1).copied().flatten()))))
            .udf(),
        FlinkUdf::new("rand", 0, 1, |t| Ok(by_pattern(t, "I")), |_| Ok(DataType::Float64), rand).volatile().udf(),
        FlinkUdf::new("rand_integer", 1, 2, |t| Ok(by_pattern(t, "I")), |_| Ok(DataType::Int32), rand_integer)
            .volatile()
            .udf(),
        FlinkUdf::new("bin", 1, 1, |t| Ok(by_pattern(t, "I")), |_| Ok(DataType::Utf8), bin).udf(),
        FlinkUdf::new("hex", 1, 1, coerce_hex, |_| Ok(DataType::Utf8), hex_fn).udf(),
        FlinkUdf::new("e", 0, 0, |_| Ok(vec![]), |_| Ok(DataType::Float64), |a| {
            Ok(Arc::new(Float64Array::from(vec![std::f64::consts::E; a.rows])))
        })
        .udf(),
    ]
}

fn literal_i64(s: Option<&ScalarValue>) -> Option<i64> {
    match s? {
        ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Some(*v),
        _ => None,
    }
}

fn decimal_of(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal128(p, s) => Some((*p, *s)),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal256(p, s) => {
            Some(((*p).min(38), *s))
        }
        t if t.is_integer() => Some((20, 0)),
        _ => None,
    }
}

fn coerce_mod(t: &[DataType]) -> Result<Vec<DataType>> {
    if t.iter().all(|x| is_integer(x) || *x == DataType::Null) {
        return Ok(vec![DataType::Int64; 2]);
    }
    if t.iter().any(|x| x.is_floating() || is_string(x)) {
        return Ok(vec![DataType::Float64; 2]);
    }
    Ok(t.iter().map(|x| decimal_of(x).map_or(DataType::Float64, |(p, s)| DataType::Decimal128(p, s))).collect())
}

fn mod_type(t: &[DataType]) -> Result<DataType> {
    match (&t[0], &t[1]) {
        (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) => {
            let s = (*s1).max(*s2);
            let int = (i16::from(*p1) - i16::from(*s1)).max(i16::from(*p2) - i16::from(*s2));
            Ok(DataType::Decimal128((int + i16::from(s)).clamp(1, 38) as u8, s))
        }
        (a, _) => Ok(a.clone()),
    }
}

fn mod_fn(a: &Args) -> Result<ArrayRef> {
    let (x, y) = (a.array(0)?, a.array(1)?);
    if let DataType::Decimal128(_, s) = &a.ret {
        // Bring both operands to the result scale so the remainder is exact.
        let t = DataType::Decimal128(38, *s);
        let x = arrow::compute::cast(&x, &t)?;
        let y = arrow::compute::cast(&y, &t)?;
        let r = rem(&x, &y).map_err(|e| exec_err(format!("MOD: {e}")))?;
        return Ok(arrow::compute::cast(&r, &a.ret)?);
    }
    rem(&x, &y).map_err(|e| exec_err(format!("MOD: {e}")))
}

fn unary_f64(a: &Args, i: usize, f: impl Fn(f64) -> f64) -> Result<Float64Array> {
    let x = a.prim::<Float64Type>(i)?;
    Ok((0..a.rows).map(|r| x.get(r).map(&f)).collect())
}

fn log(a: &Args) -> Result<ArrayRef> {
    if a.len() == 1 {
        return Ok(Arc::new(unary_f64(a, 0, f64::ln)?));
    }
    let (b, x) = (a.prim::<Float64Type>(0)?, a.prim::<Float64Type>(1)?);
    let out: Float64Array = (0..a.rows).map(|r| Some(x.get(r)?.ln() / b.get(r)?.ln())).collect();
    Ok(Arc::new(out))
}

fn power(a: &Args) -> Result<ArrayRef> {
    let (x, y) = (a.prim::<Float64Type>(0)?, a.prim::<Float64Type>(1)?);
    let out: Float64Array = (0..a.rows).map(|r| Some(x.get(r)?.powf(y.get(r)?))).collect();
    Ok(Arc::new(out))
}

fn coerce_round(t: &[DataType]) -> Result<Vec<DataType>> {
    let first = match &t[0] {
        x if is_integer(x) || *x == DataType::Null => DataType::Int64,
        DataType::Float32 | DataType::Float16 => DataType::Float32,
        x => match decimal_of(x) {
            Some((p, s)) => DataType::Decimal128(p, s),
            None => DataType::Float64,
        },
    };
    Ok(t.iter().enumerate().map(|(i, _)| if i == 0 { first.clone() } else { DataType::Int64 }).collect())
}

/// Flink's `findRoundDecimalType` for decimals; other types keep their type.
fn round_type(t: &[DataType], d: Option<i64>) -> DataType {
    match &t[0] {
        DataType::Decimal128(p, s) => {
            let d = match (d, t.len()) {
                (Some(d), _) => d,
                (None, 1) => 0,
                (None, _) => return DataType::Decimal128(*p, *s), // non-literal digits: keep the type
            };
            let (p, s) = (i64::from(*p), i64::from(*s));
            if d >= s {
                DataType::Decimal128(p as u8, s as i8)
            } else if d < 0 {
                DataType::Decimal128((1 + p - s).clamp(1, 38) as u8, 0)
            } else {
                DataType::Decimal128((1 + p - s + d).clamp(1, 38) as u8, d as i8)
            }
        }
        other => other.clone(),
    }
}

/// Rounds the decimal `unscaled × 10^-scale` to `d` fractional digits: HALF_UP, or DOWN when `trunc`.
fn round_unscaled(unscaled: i128, scale: i64, d: i64, trunc: bool) -> Option<i128> {
    if d >= scale {
        return unscaled.checked_mul(10i128.checked_pow(u32::try_from(d - scale).ok()?)?);
    }
    let div = 10i128.checked_pow(u32::try_from(scale - d).ok()?)?;
    let q = unscaled / div;
    let r = unscaled % div;
    if trunc || r.unsigned_abs() * 2 < div.unsigned_abs() {
        Some(q)
    } else {
        Some(q + unscaled.signum())
    }
}

/// Decimal digits of a finite float in shortest round-trip form: (unscaled, scale).
fn float_decimal(v: f64, shortest: String) -> Option<(i128, i64)> {
    let _ = v;
    let s = shortest;
    let (mant, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_string(), e.parse::<i64>().ok()?),
        None => (s.clone(), 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((&mant, ""));
    let digits = format!("{int}{frac}");
    if digits.trim_start_matches('-').len() > 36 {
        return None;
    }
    let unscaled: i128 = digits.parse().ok()?;
    Some((unscaled, frac.len() as i64 - exp))
}

/// `BigDecimal.valueOf(v).setScale(d, HALF_UP / DOWN).doubleValue()`.
fn round_f64(v: f64, d: i64, trunc: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let Some((u, s)) = float_decimal(v, format!("{v:e}")) else { return v };
    if d >= s {
        return v;
    }
    match round_unscaled(u, s, d, trunc) {
        Some(r) => format!("{r}e{}", -d).parse().unwrap_or(v),
        None => v,
    }
}

fn round_f32(v: f32, d: i64, trunc: bool) -> f32 {
    if !v.is_finite() {
        return v;
    }
    let Some((u, s)) = float_decimal(f64::from(v), format!("{v:e}")) else { return v };
    if d >= s {
        return v;
    }
    match round_unscaled(u, s, d, trunc) {
        Some(r) => format!("{r}e{}", -d).parse().unwrap_or(v),
        None => v,
    }
}

fn round_impl(a: &Args, trunc: bool) -> Result<ArrayRef> {
    let name = if trunc { "TRUNCATE" } else { "ROUND" };
    let digits = if a.len() > 1 { Some(a.prim::<Int64Type>(1)?) } else { None };
    let d_at = |r: usize| -> Option<i64> {
        match &digits {
            Some(d) => d.get(r),
            None => Some(0),
        }
    };
    match a.data_type(0) {
        DataType::Int64 => {
            let x = a.prim::<Int64Type>(0)?;
            let out: Int64Array = (0..a.rows)
                .map(|r| {
                    let (v, d) = (x.get(r)?, d_at(r)?);
                    if d >= 0 {
                        return Some(v);
                    }
                    let r = round_unscaled(i128::from(v), 0, d, trunc)?;
                    i64::try_from(r.checked_mul(10i128.checked_pow(u32::try_from(-d).ok()?)?)?).ok()
                })
                .collect();
            Ok(Arc::new(out))
        }
        DataType::Float32 => {
            let x = a.prim::<Float32Type>(0)?;
            let out: Float32Array = (0..a.rows).map(|r| Some(round_f32(x.get(r)?, d_at(r)?, trunc))).collect();
            Ok(Arc::new(out))
        }
        DataType::Float64 => {
            let x = a.prim::<Float64Type>(0)?;
            let out: Float64Array = (0..a.rows).map(|r| Some(round_f64(x.get(r)?, d_at(r)?, trunc))).collect();
            Ok(Arc::new(out))
        }
        DataType::Decimal128(_, s) => {
            let DataType::Decimal128(rp, rs) = a.ret else {
                return Err(exec_err(format!("{name}: unexpected return type {}", a.ret)));
            };
            let x = a.prim::<Decimal128Type>(0)?;
            let s = i64::from(s);
            let out: Decimal128Array = (0..a.rows)
                .map(|r| {
                    let (v, d) = (x.get(r)?, d_at(r)?);
                    let rounded = round_unscaled(v, s, d.min(s), trunc)?; // scale min(d, s)
                    let cur = d.min(s);
                    // Re-express at the result scale `rs`.
                    let rs = i64::from(rs);
                    if rs >= cur {
                        rounded.checked_mul(10i128.checked_pow(u32::try_from(rs - cur).ok()?)?)
                    } else {
                        rounded.checked_div(10i128.checked_pow(u32::try_from(cur - rs).ok()?)?)
                    }
                })
                .collect();
            Ok(Arc::new(out.with_precision_and_scale(rp, rs)?))
        }
        other => Err(exec_err(format!("{name}: unsupported type {other}"))),
    }
}

fn round(a: &Args) -> Result<ArrayRef> {
    round_impl(a, false)
}

fn truncate(a: &Args) -> Result<ArrayRef> {
    round_impl(a, true)
}

/// `java.util.Random`, so RAND(seed) / RAND_INTEGER(seed, n) give Flink's sequences.
#[derive(Debug, Clone)]
pub(crate) struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULT: i64 = 0x5DEECE66D;
    const MASK: i64 = (1 << 48) - 1;

    pub(crate) fn new(seed: i64) -> Self {
        Self { seed: (seed ^ Self::MULT) & Self::MASK }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    pub(crate) fn next_double(&mut self) -> f64 {
        let hi = i64::from(self.next(26)) << 27;
        let lo = i64::from(self.next(27));
        (hi + lo) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn next_int(&mut self, bound: i32) -> i32 {
        if bound <= 0 {
            return 0;
        }
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

/// Seeded generators live across batches so a query's RAND(seed) continues its sequence.
static SEEDED: LazyLock<Mutex<HashMap<i64, JavaRandom>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn unseeded() -> JavaRandom {
    use std::sync::atomic::{AtomicI64, Ordering};
    static COUNTER: AtomicI64 = AtomicI64::new(0x2545F4914F6CDD1D);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    JavaRandom::new(nanos ^ COUNTER.fetch_add(0x9E3779B97F4A7C15u64 as i64, Ordering::Relaxed))
}

/// Runs `f` with the generator for each row (seeded per row's seed, or a fresh unseeded one).
fn with_rng<T>(a: &Args, seed_col: Option<usize>, mut f: impl FnMut(&mut JavaRandom, usize) -> Option<T>) -> Result<Vec<Option<T>>> {
    let mut out = Vec::with_capacity(a.rows);
    match seed_col {
        None => {
            let mut rng = unseeded();
            for r in 0..a.rows {
                out.push(f(&mut rng, r));
            }
        }
        Some(c) => {
            let seeds = a.prim::<Int64Type>(c)?;
            let mut map = SEEDED.lock().map_err(|_| exec_err("RAND: generator state poisoned".into()))?;
            for r in 0..a.rows {
                // A NULL seed counts as 0.
                let seed = seeds.get(r).unwrap_or(0);
                let rng = map.entry(seed).or_insert_with(|| JavaRandom::new(seed));
                out.push(f(rng, r));
            }
        }
    }
    Ok(out)
}

fn rand(a: &Args) -> Result<ArrayRef> {
    let seed = if a.len() == 1 { Some(0) } else { None };
    let v = with_rng(a, seed, |rng, _| Some(rng.next_double()))?;
    Ok(Arc::new(Float64Array::from(v)))
}

fn rand_integer(a: &Args) -> Result<ArrayRef> {
    let (seed, bound_col) = if a.len() == 2 { (Some(0), 1) } else { (None, 0) };
    let bound = a.prim::<Int64Type>(bound_col)?;
    let v = with_rng(a, seed, |rng, r| {
        let b = i32::try_from(bound.get(r)?).ok()?;
        Some(rng.next_int(b))
    })?;
    Ok(Arc::new(Int32Array::from(v)))
}

fn bin(a: &Args) -> Result<ArrayRef> {
    let x = a.prim::<Int64Type>(0)?;
    Ok(map_str(a.rows, |r| Some(format!("{:b}", x.get(r)? as u64))))
}

fn coerce_hex(t: &[DataType]) -> Result<Vec<DataType>> {
    Ok(vec![if is_integer(&t[0]) || t[0] == DataType::Null {
        DataType::Int64
    } else {
        match &t[0] {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
            _ => DataType::Utf8,
        }
    }])
}

fn hex_fn(a: &Args) -> Result<ArrayRef> {
    if a.data_type(0) == DataType::Int64 {
        let x = a.prim::<Int64Type>(0)?;
        return Ok(map_str(a.rows, |r| Some(format!("{:X}", x.get(r)? as u64))));
    }
    let b = crate::string::Bytes::of(a, 0)?;
    Ok(map_str(a.rows, |r| Some(hex::encode_upper(b.get(r)?))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test::*;

    fn udf(name: &str) -> Arc<ScalarUDF> {
        functions().into_iter().find(|f| f.name() == name).expect("function exists")
    }
    fn ev(name: &str, args: Vec<ScalarValue>) -> ScalarValue {
        run_scalars(&udf(name), args).expect("runs")
    }
    fn dec(v: i128, p: u8, s: i8) -> ScalarValue {
        ScalarValue::Decimal128(Some(v), p, s)
    }

    #[test]
    fn mod_cases() {
        assert_eq!(ev("mod", vec![i(-7), i(3)]), i(-1));
        assert_eq!(ev("mod", vec![i(7), i(-3)]), i(1));
        assert_eq!(ev("mod", vec![dec(75, 2, 1), i(2)]), dec(15, 21, 1));
        assert_eq!(ev("mod", vec![ScalarValue::Int64(None), i(2)]), ScalarValue::Int64(None));
        assert!(run_scalars(&udf("mod"), vec![i(7), i(0)]).is_err());
    }

    #[test]
    fn log_power() {
        assert_eq!(ev("log", vec![f(2.0), f(8.0)]), f(3.0));
        assert_eq!(ev("log", vec![i(10)]), f(std::f64::consts::LN_10));
        assert_eq!(ev("log", vec![f(0.0)]), f(f64::NEG_INFINITY));
        assert_eq!(ev("power", vec![i(2), i(10)]), f(1024.0));
        assert_eq!(ev("power", vec![ScalarValue::Int64(None), i(10)]), ScalarValue::Float64(None));
        assert_eq!(ev("e", vec![]), f(std::f64::consts::E));
    }

    #[test]
    fn round_truncate() {
        assert_eq!(ev("round", vec![f(2.5)]), f(3.0));
        assert_eq!(ev("round", vec![f(-2.5)]), f(-3.0));
        assert_eq!(ev("round", vec![f(1.005), i(2)]), f(1.01));
        assert_eq!(ev("round", vec![f(2.675), i(2)]), f(2.68));
        assert_eq!(ev("round", vec![f(2.5), i(-1)]), f(0.0));
        assert_eq!(ev("round", vec![f(125.0), i(-1)]), f(130.0));
        assert_eq!(ev("round", vec![f(1.5e300), i(2)]), f(1.5e300));
        assert_eq!(ev("round", vec![ScalarValue::Float32(Some(1.5))]), ScalarValue::Float32(Some(2.0)));
        assert_eq!(ev("round", vec![i(125), i(-1)]), i(130));
        assert_eq!(ev("round", vec![i(-5), i(-1)]), i(-10));
        assert_eq!(ev("round", vec![i(5), i(2)]), i(5));
        // DECIMAL(5,4) 1.2345 -> DECIMAL(4,2) 1.23; DECIMAL(2,1) 2.5 -> DECIMAL(2,0) 3.
        assert_eq!(ev("round", vec![dec(12345, 5, 4), i(2)]), dec(123, 4, 2));
        assert_eq!(ev("round", vec![dec(25, 2, 1)]), dec(3, 2, 0));
        assert_eq!(ev("round", vec![dec(-25, 2, 1)]), dec(-3, 2, 0));
        assert_eq!(ev("round", vec![dec(123456, 6, 3), i(-1)]), dec(120, 4, 0));
        assert_eq!(ev("truncate", vec![dec(12399, 5, 4), i(2)]), dec(123, 4, 2));
        assert_eq!(ev("truncate", vec![f(1.29), i(1)]), f(1.2));
        assert_eq!(ev("truncate", vec![f(-1.29)]), f(-1.0));
        assert_eq!(ev("truncate", vec![i(1234), i(-2)]), i(1200));
        assert_eq!(ev("round", vec![ScalarValue::Float64(None), i(1)]), ScalarValue::Float64(None));
    }

    #[test]
    fn java_random_matches_java() {
        // new java.util.Random(42).nextDouble() / nextInt(10)
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_double(), 0.7275636800328681);
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_int(10), 0);
        // Flink 2.3: RAND(1) = 0.7308781907032909, RAND_INTEGER(1, 10) = 5.
        assert_eq!(JavaRandom::new(1).next_double(), 0.7308781907032909);
        assert_eq!(JavaRandom::new(1).next_int(10), 5);
        let ScalarValue::Float64(Some(v)) = ev("rand", vec![]) else { panic!("rand") };
        assert!((0.0..1.0).contains(&v));
        let ScalarValue::Int32(Some(v)) = ev("rand_integer", vec![i(1)]) else { panic!("rand_integer") };
        assert_eq!(v, 0);
    }

    #[test]
    fn bin_hex() {
        let st = |v: ScalarValue| scalar_str(&v);
        assert_eq!(st(ev("bin", vec![i(12)])), Some("1100".into()));
        assert_eq!(st(ev("bin", vec![i(0)])), Some("0".into()));
        assert_eq!(st(ev("bin", vec![i(-1)])), Some("1".repeat(64)));
        assert_eq!(st(ev("hex", vec![i(255)])), Some("FF".into()));
        assert_eq!(st(ev("hex", vec![i(-1)])), Some("F".repeat(16)));
        assert_eq!(st(ev("hex", vec![s("abc")])), Some("616263".into()));
        assert_eq!(st(ev("hex", vec![null_str()])), None);
    }
}

/// `HASH_CODE(x)`: Java's `hashCode` of the value (Flink's internal function that spreads
/// distinct values over buckets when distinct aggregates are split): the value itself for
/// TINYINT…INT, `(int) (v ^ (v >>> 32))` for BIGINT and DOUBLE bits, 1231/1237 for booleans,
/// `String.hashCode` (UTF-16) for strings and for other types' text. NULL stays NULL. Not a
/// SQL function: the planner builds it.
pub fn hash_code() -> Arc<ScalarUDF> {
    FlinkUdf::new("hash_code", 1, 1, |t| Ok(t.to_vec()), |_| Ok(DataType::Int32), hash_code_fn).udf()
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

fn hash_code_fn(a: &Args) -> Result<ArrayRef> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Int16Type, Int32Type, Int8Type};
    let col = a.array(0)?;
    let long = |v: i64| (v ^ ((v as u64) >> 32) as i64) as i32;
    let out: Int32Array = match col.data_type() {
        DataType::Int8 => col.as_primitive::<Int8Type>().unary(|v| v as i32),
        DataType::Int16 => col.as_primitive::<Int16Type>().unary(|v| v as i32),
        DataType::Int32 => col.as_primitive::<Int32Type>().clone(),
        DataType::Int64 => col.as_primitive::<Int64Type>().unary(long),
        DataType::Float32 => col.as_primitive::<Float32Type>().unary(|v| if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() as i32 }),
        DataType::Float64 => col.as_primitive::<Float64Type>().unary(|v| long(if v.is_nan() { 0x7ff8_0000_0000_0000 } else { v.to_bits() as i64 })),
        DataType::Boolean => col.as_boolean().iter().map(|v| v.map(|b| if b { 1231 } else { 1237 })).collect(),
        _ => {
            let text = arrow::compute::cast(&col, &DataType::Utf8)?;
            text.as_string::<i32>().iter().map(|v| v.map(java_string_hash)).collect()
        }
    };
    Ok(Arc::new(out))
}

#[cfg(test)]
mod hash_code_tests {
    use super::*;

    #[test]
    fn hash_codes_are_javas() {
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("Flink SQL"), "Flink SQL".encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32)));
        // Long.hashCode(1L << 32) = 1, Long.hashCode(-1L) = 0.
        let long = |v: i64| (v ^ ((v as u64) >> 32) as i64) as i32;
        assert_eq!(long(1 << 32), 1);
        assert_eq!(long(-1), 0);
    }
}
