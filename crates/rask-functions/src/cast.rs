//! `CAST(x AS STRING)` with Flink's rendering: `TRUE`/`FALSE`, Java `Double.toString` for
//! floating point, decimals with their scale, `yyyy-MM-dd HH:mm:ss[.f…]` timestamps (as many
//! fractional digits as the Arrow unit holds: 0/3/6/9), `HH:mm:ss[.f…]` times, bytes as UTF-8,
//! `[a, b]` arrays, `{k=v}` maps, `(a, b)` rows, with `NULL` for NULLs nested in those. Top-level
//! NULL stays NULL. Verified against Flink 2.3.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{self as dt, DataType, IntervalUnit, TimeUnit};
use chrono::{NaiveTime, Timelike};
use datafusion_common::Result;
use datafusion_expr::ScalarUDF;
use rask_types::value_fmt::{format_decimal, java_double, java_float};

use crate::datetime::{date32_to_naive, ts_to_naive};
use crate::util::{Args, FlinkUdf, exec_err};

pub(crate) fn udf() -> Arc<ScalarUDF> {
    FlinkUdf::new("cast_to_string", 1, 1, |t| Ok(t.to_vec()), |_| Ok(DataType::Utf8), cast_to_string).udf()
}

fn cast_to_string(a: &Args) -> Result<ArrayRef> {
    let col = a.array(0)?;
    to_string_array(&col)
}

/// Renders every row of `col` as Flink's `CAST(… AS STRING)` does.
pub fn to_string_array(col: &ArrayRef) -> Result<ArrayRef> {
    let col = unpack_dictionary(col)?;
    let mut out = StringBuilder::with_capacity(col.len(), col.len() * 8);
    let mut buf = String::new();
    // Logical nulls: a NullArray (CAST(NULL AS STRING)) has no null buffer but is all NULL.
    let nulls = col.logical_nulls();
    for r in 0..col.len() {
        if nulls.as_ref().is_some_and(|n| n.is_null(r)) {
            out.append_null();
            continue;
        }
        buf.clear();
        write_value(&mut buf, &col, r)?;
        out.append_value(&buf);
    }
    Ok(Arc::new(out.finish()))
}

fn unpack_dictionary(col: &ArrayRef) -> Result<ArrayRef> {
    match col.data_type() {
        DataType::Dictionary(_, v) => Ok(arrow::compute::cast(col, v)?),
        DataType::RunEndEncoded(_, v) => Ok(arrow::compute::cast(col, v.data_type())?),
        _ => Ok(Arc::clone(col)),
    }
}

fn fraction(out: &mut String, nanos: u32, digits: usize) {
    if digits == 0 {
        return;
    }
    let s = format!("{:09}", nanos.min(999_999_999));
    out.push('.');
    out.push_str(&s[..digits]);
}

fn unit_digits(u: &TimeUnit) -> usize {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

fn write_time(out: &mut String, nanos_of_day: i64, digits: usize) {
    let secs = nanos_of_day.div_euclid(1_000_000_000);
    let nanos = nanos_of_day.rem_euclid(1_000_000_000) as u32;
    match NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(secs).unwrap_or(0), nanos) {
        Some(t) => {
            let _ = write!(out, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
            fraction(out, t.nanosecond(), digits);
        }
        None => {
            let _ = write!(out, "<time out of range: {nanos_of_day}>");
        }
    }
}

fn decimal(v: i128, scale: i8) -> String {
    if scale >= 0 {
        return format_decimal(v, scale);
    }
    let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
    if v == 0 { "0".to_string() } else { format!("{v}{zeros}") }
}

/// Appends the rendering of non-null `col[r]`; nested NULLs render as `NULL`.
fn write_value(out: &mut String, col: &ArrayRef, r: usize) -> Result<()> {
    macro_rules! prim {
        ($t:ty) => {{
            let _ = write!(out, "{}", col.as_primitive::<$t>().value(r));
        }};
    }
    match col.data_type() {
        DataType::Null => out.push_str("NULL"),
        DataType::Boolean => out.push_str(if col.as_boolean().value(r) { "TRUE" } else { "FALSE" }),
        DataType::Int8 => prim!(dt::Int8Type),
        DataType::Int16 => prim!(dt::Int16Type),
        DataType::Int32 => prim!(dt::Int32Type),
        DataType::Int64 => prim!(dt::Int64Type),
        DataType::UInt8 => prim!(dt::UInt8Type),
        DataType::UInt16 => prim!(dt::UInt16Type),
        DataType::UInt32 => prim!(dt::UInt32Type),
        DataType::UInt64 => prim!(dt::UInt64Type),
        DataType::Float16 => out.push_str(&java_float(col.as_primitive::<dt::Float16Type>().value(r).to_f32())),
        DataType::Float32 => out.push_str(&java_float(col.as_primitive::<dt::Float32Type>().value(r))),
        DataType::Float64 => out.push_str(&java_double(col.as_primitive::<dt::Float64Type>().value(r))),
        DataType::Decimal32(_, s) => out.push_str(&decimal(i128::from(col.as_primitive::<dt::Decimal32Type>().value(r)), *s)),
        DataType::Decimal64(_, s) => out.push_str(&decimal(i128::from(col.as_primitive::<dt::Decimal64Type>().value(r)), *s)),
        DataType::Decimal128(_, s) => out.push_str(&decimal(col.as_primitive::<dt::Decimal128Type>().value(r), *s)),
        DataType::Decimal256(_, s) => {
            let v = col.as_primitive::<dt::Decimal256Type>().value(r);
            match v.to_i128() {
                Some(v) => out.push_str(&decimal(v, *s)),
                None => {
                    // Too wide for i128: render via Arrow's own formatter.
                    let f = arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())?;
                    let _ = write!(out, "{}", f.value(r));
                }
            }
        }
        DataType::Utf8 => out.push_str(col.as_string::<i32>().value(r)),
        DataType::LargeUtf8 => out.push_str(col.as_string::<i64>().value(r)),
        DataType::Utf8View => out.push_str(col.as_string_view().value(r)),
        DataType::Binary => out.push_str(&String::from_utf8_lossy(col.as_binary::<i32>().value(r))),
        DataType::LargeBinary => out.push_str(&String::from_utf8_lossy(col.as_binary::<i64>().value(r))),
        DataType::BinaryView => out.push_str(&String::from_utf8_lossy(col.as_binary_view().value(r))),
        DataType::FixedSizeBinary(_) => out.push_str(&String::from_utf8_lossy(col.as_fixed_size_binary().value(r))),
        DataType::Date32 => match date32_to_naive(col.as_primitive::<dt::Date32Type>().value(r)) {
            Some(d) => {
                let _ = write!(out, "{}", d.format("%Y-%m-%d"));
            }
            None => return Err(exec_err("CAST: DATE out of range".into())),
        },
        DataType::Date64 => {
            let ms = col.as_primitive::<dt::Date64Type>().value(r);
            match ts_to_naive(ms, &TimeUnit::Millisecond) {
                Some(d) => {
                    let _ = write!(out, "{}", d.format("%Y-%m-%d"));
                }
                None => return Err(exec_err("CAST: DATE out of range".into())),
            }
        }
        DataType::Time32(u) => {
            let v = i64::from(match u {
                TimeUnit::Second => col.as_primitive::<dt::Time32SecondType>().value(r),
                _ => col.as_primitive::<dt::Time32MillisecondType>().value(r),
            });
            let nanos = if *u == TimeUnit::Second { v * 1_000_000_000 } else { v * 1_000_000 };
            write_time(out, nanos, unit_digits(u));
        }
        DataType::Time64(u) => {
            let nanos = match u {
                TimeUnit::Microsecond => col.as_primitive::<dt::Time64MicrosecondType>().value(r).saturating_mul(1000),
                _ => col.as_primitive::<dt::Time64NanosecondType>().value(r),
            };
            write_time(out, nanos, unit_digits(u));
        }
        DataType::Timestamp(u, _) => {
            let v = match u {
                TimeUnit::Second => col.as_primitive::<dt::TimestampSecondType>().value(r),
                TimeUnit::Millisecond => col.as_primitive::<dt::TimestampMillisecondType>().value(r),
                TimeUnit::Microsecond => col.as_primitive::<dt::TimestampMicrosecondType>().value(r),
                TimeUnit::Nanosecond => col.as_primitive::<dt::TimestampNanosecondType>().value(r),
            };
            // Values are UTC instants; the session zone is UTC, so the wall time is the UTC time.
            match ts_to_naive(v, u) {
                Some(t) => {
                    let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S"));
                    fraction(out, t.nanosecond(), unit_digits(u));
                }
                None => return Err(exec_err("CAST: TIMESTAMP out of range".into())),
            }
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            let m = col.as_primitive::<dt::IntervalYearMonthType>().value(r);
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            let _ = write!(out, "{sign}{}-{:02}", m / 12, m % 12);
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = col.as_primitive::<dt::IntervalDayTimeType>().value(r);
            day_time(out, i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds));
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = col.as_primitive::<dt::IntervalMonthDayNanoType>().value(r);
            if v.months != 0 {
                let sign = if v.months < 0 { '-' } else { '+' };
                let m = v.months.unsigned_abs();
                let _ = write!(out, "{sign}{}-{:02}", m / 12, m % 12);
            } else {
                day_time(out, i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000);
            }
        }
        DataType::Duration(u) => {
            let v = match u {
                TimeUnit::Second => col.as_primitive::<dt::DurationSecondType>().value(r).saturating_mul(1000),
                TimeUnit::Millisecond => col.as_primitive::<dt::DurationMillisecondType>().value(r),
                TimeUnit::Microsecond => col.as_primitive::<dt::DurationMicrosecondType>().value(r) / 1000,
                TimeUnit::Nanosecond => col.as_primitive::<dt::DurationNanosecondType>().value(r) / 1_000_000,
            };
            day_time(out, v);
        }
        DataType::List(_) => {
            let l = col.as_list::<i32>();
            list(out, &l.value(r))?;
        }
        DataType::LargeList(_) => {
            let l = col.as_list::<i64>();
            list(out, &l.value(r))?;
        }
        DataType::ListView(_) => {
            let l = col.as_list_view::<i32>();
            list(out, &l.value(r))?;
        }
        DataType::FixedSizeList(_, _) => {
            let l = col.as_fixed_size_list();
            list(out, &l.value(r))?;
        }
        DataType::Map(_, _) => {
            let m = col.as_map();
            let entries = m.value(r);
            let (k, v) = (unpack_dictionary(entries.column(0))?, unpack_dictionary(entries.column(1))?);
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                nested(out, &k, i)?;
                out.push('=');
                nested(out, &v, i)?;
            }
            out.push('}');
        }
        DataType::Struct(_) => {
            let s = col.as_struct();
            out.push('(');
            for (i, c) in s.columns().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let c = unpack_dictionary(c)?;
                nested(out, &c, r)?;
            }
            out.push(')');
        }
        DataType::Dictionary(_, _) | DataType::RunEndEncoded(_, _) => {
            let c = unpack_dictionary(&col.slice(r, 1))?;
            write_value(out, &c, 0)?;
        }
        other => return Err(exec_err(format!("CAST: cannot cast {other} to STRING"))),
    }
    Ok(())
}

/// Flink's day-time interval rendering: `+d hh:mm:ss.fff`.
fn day_time(out: &mut String, millis: i64) {
    let sign = if millis < 0 { '-' } else { '+' };
    let m = millis.unsigned_abs();
    let (days, rem) = (m / 86_400_000, m % 86_400_000);
    let _ = write!(
        out,
        "{sign}{days} {:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    );
}

fn nested(out: &mut String, col: &ArrayRef, i: usize) -> Result<()> {
    if col.is_null(i) { 
        out.push_str("NULL");
        Ok(())
    } else {
        write_value(out, col, i)
    }
}

fn list(out: &mut String, values: &ArrayRef) -> Result<()> {
    let values = unpack_dictionary(values)?;
    out.push('[');
    for i in 0..values.len() {
        if i > 0 {
            out.push_str(", ");
        }
        nested(out, &values, i)?;
    }
    out.push(']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test::*;
    use arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array, Int64Array,
        ListArray, MapBuilder, StringArray, StructArray, Time32SecondArray, Time64MicrosecondArray,
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampSecondArray,
    };
    use arrow::datatypes::{Field, Int32Type};

    fn cast(a: ArrayRef) -> Vec<Option<String>> {
        as_strs(&run_arrays(&udf(), vec![a]).expect("runs"))
    }
    fn one(a: ArrayRef) -> String {
        cast(a).remove(0).expect("not null")
    }

    #[test]
    fn scalars() {
        assert_eq!(cast(Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]))), vec![
            Some("TRUE".into()),
            Some("FALSE".into()),
            None
        ]);
        assert_eq!(one(Arc::new(Int64Array::from(vec![-42]))), "-42");
        let d: Vec<String> = [100.0, 0.1, 100.0 / 3.0, 1.0e7, 1.5e-5, 1.23456789e8, -1.0e-4, 9999999.0, 1e22, f64::NAN]
            .iter()
            .map(|v| one(Arc::new(Float64Array::from(vec![*v]))))
            .collect();
        assert_eq!(d, vec![
            "100.0",
            "0.1",
            "33.333333333333336",
            "1.0E7",
            "1.5E-5",
            "1.23456789E8",
            "-1.0E-4",
            "9999999.0",
            "1.0E22",
            "NaN"
        ]);
        assert_eq!(one(Arc::new(Float32Array::from(vec![1.1f32]))), "1.1");
        assert_eq!(one(Arc::new(Float32Array::from(vec![16777216.0f32]))), "1.6777216E7");
        let dec = |v: i128, p: u8, s: i8| -> ArrayRef {
            Arc::new(Decimal128Array::from(vec![v]).with_precision_and_scale(p, s).expect("valid"))
        };
        assert_eq!(one(dec(1230, 4, 2)), "12.30");
        assert_eq!(one(dec(-5, 3, 1)), "-0.5");
        assert_eq!(one(dec(12, 10, 0)), "12");
        assert_eq!(one(dec(1500, 10, 3)), "1.500");
        assert_eq!(one(Arc::new(BinaryArray::from(vec![&b"ab"[..]]))), "ab");
        assert_eq!(one(Arc::new(BinaryArray::from(vec!["€".as_bytes()]))), "€");
        assert_eq!(one(Arc::new(StringArray::from(vec!["x"]))), "x");
    }

    #[test]
    fn temporal() {
        assert_eq!(one(Arc::new(Date32Array::from(vec![19_723]))), "2024-01-01");
        assert_eq!(one(Arc::new(Time32SecondArray::from(vec![36_000]))), "10:00:00");
        assert_eq!(one(Arc::new(Time64MicrosecondArray::from(vec![36_000_123_000]))), "10:00:00.123000");
        // TO_TIMESTAMP('2024-03-01 12:34:56') -> 2024-03-01 12:34:56.000
        assert_eq!(one(Arc::new(TimestampMillisecondArray::from(vec![1_709_296_496_000]))), "2024-03-01 12:34:56.000");
        assert_eq!(one(Arc::new(TimestampSecondArray::from(vec![1_704_103_200]))), "2024-01-01 10:00:00");
        assert_eq!(
            one(Arc::new(TimestampMicrosecondArray::from(vec![1_704_103_200_500_000]))),
            "2024-01-01 10:00:00.500000"
        );
        let ltz = TimestampMillisecondArray::from(vec![1_700_000_000_123]).with_timezone("UTC");
        assert_eq!(one(Arc::new(ltz)), "2023-11-14 22:13:20.123");
        let before_epoch = TimestampMillisecondArray::from(vec![-1]);
        assert_eq!(one(Arc::new(before_epoch)), "1969-12-31 23:59:59.999");
    }

    #[test]
    fn nested_types() {
        let l = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![None, Some(2)]),
            None,
            Some(vec![]),
        ]);
        assert_eq!(cast(Arc::new(l)), vec![Some("[1, 2]".into()), Some("[NULL, 2]".into()), None, Some("[]".into())]);

        let mut mb = MapBuilder::new(None, arrow::array::StringBuilder::new(), arrow::array::Int32Builder::new());
        mb.keys().append_value("k");
        mb.values().append_value(1);
        mb.keys().append_value("z");
        mb.values().append_null();
        mb.append(true).expect("map");
        assert_eq!(one(Arc::new(mb.finish())), "{k=1, z=NULL}");

        let st = StructArray::from(vec![
            (Arc::new(Field::new("a", DataType::Int32, true)), Arc::new(Int32Array::from(vec![Some(1)])) as ArrayRef),
            (Arc::new(Field::new("b", DataType::Utf8, true)), Arc::new(StringArray::from(vec![None::<&str>])) as ArrayRef),
            (Arc::new(Field::new("c", DataType::Boolean, true)), Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
        ]);
        assert_eq!(one(Arc::new(st)), "(1, NULL, TRUE)");
    }
}
