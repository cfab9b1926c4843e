//! Rendering values the way Flink prints them.
//!
//! The `print` connector shows rows as Java's `Row.toString()` does: `+I[1, abc, 2024-01-01T10:00]`
//! (Java `LocalDateTime`/`Instant`/`Double` `toString` rules, `[a, b]` for arrays, `{k=v}` for
//! maps, `+I[…]` for nested rows, `[97, 98]` for bytes). Checked against Flink 2.3's output.

use std::fmt::Write;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{self as dt, DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike};

use crate::batch::StreamBatch;

/// Java's `Double.toString`: shortest round-trip digits, decimal form for 1e-3 <= |x| < 1e7,
/// otherwise `d.dddE±n`; always at least one fractional digit.
pub fn java_double(v: f64) -> String {
    java_float_text(v, format!("{v}"), format!("{v:e}"))
}

/// Java's `Float.toString` (same rules, with float precision digits).
pub fn java_float(v: f32) -> String {
    java_float_text(v as f64, format!("{v}"), format!("{v:e}"))
}

/// `plain` / `exp` are Rust's shortest renderings of the value at its own precision.
fn java_float_text(v: f64, plain: String, exp: String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    if (1e-3..1e7).contains(&v.abs()) {
        if plain.contains('.') { plain } else { format!("{plain}.0") }
    } else {
        sci(exp)
    }
}

/// Rust `1.5e7` / `1e-5` -> Java `1.5E7` / `1.0E-5`.
fn sci(s: String) -> String {
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let m = if m.contains('.') { m.to_string() } else { format!("{m}.0") };
    format!("{m}E{e}")
}

/// Java's `LocalTime.toString`: `HH:mm`, `:ss` if non-zero seconds or nanos, fraction in
/// groups of 3 digits.
fn java_time(out: &mut String, t: NaiveTime) {
    let _ = write!(out, "{:02}:{:02}", t.hour(), t.minute());
    let nanos = t.nanosecond() % 1_000_000_000;
    if t.second() > 0 || nanos > 0 {
        let _ = write!(out, ":{:02}", t.second());
        java_fraction(out, nanos);
    }
}

fn java_fraction(out: &mut String, nanos: u32) {
    if nanos == 0 {
    } else if nanos.is_multiple_of(1_000_000) {
        let _ = write!(out, ".{:03}", nanos / 1_000_000);
    } else if nanos.is_multiple_of(1000) {
        let _ = write!(out, ".{:06}", nanos / 1000);
    } else {
        let _ = write!(out, ".{nanos:09}");
    }
}

fn ts_parts(unit: &TimeUnit, v: i64) -> Option<(i64, u32)> {
    let (secs, nanos) = match unit {
        TimeUnit::Second => (v, 0),
        TimeUnit::Millisecond => (v.div_euclid(1000), (v.rem_euclid(1000) * 1_000_000) as u32),
        TimeUnit::Microsecond => (v.div_euclid(1_000_000), (v.rem_euclid(1_000_000) * 1000) as u32),
        TimeUnit::Nanosecond => (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000) as u32),
    };
    Some((secs, nanos))
}

fn write_timestamp(out: &mut String, unit: &TimeUnit, v: i64, instant: bool) {
    let Some((secs, nanos)) = ts_parts(unit, v) else { return };
    let Some(dt) = DateTime::from_timestamp(secs, nanos) else {
        let _ = write!(out, "<timestamp out of range: {v}>");
        return;
    };
    let dt = dt.naive_utc();
    let _ = write!(out, "{}T", dt.date().format("%Y-%m-%d"));
    if instant {
        // Instant.toString (ISO_INSTANT) always prints seconds.
        let _ = write!(out, "{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second());
        java_fraction(out, dt.nanosecond());
        out.push('Z');
    } else {
        java_time(out, dt.time());
    }
}

fn date_from_days(d: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(d.checked_add(719_163)?)
}

/// Append the Flink print rendering of `array[row]` to `out`.
pub fn write_value(out: &mut String, array: &ArrayRef, row: usize) {
    if array.is_null(row) {
        out.push_str("null");
        return;
    }
    match array.data_type() {
        DataType::Null => out.push_str("null"),
        DataType::Boolean => out.push_str(if array.as_boolean().value(row) { "true" } else { "false" }),
        DataType::Int8 => { let _ = write!(out, "{}", array.as_primitive::<dt::Int8Type>().value(row)); }
        DataType::Int16 => { let _ = write!(out, "{}", array.as_primitive::<dt::Int16Type>().value(row)); }
        DataType::Int32 => { let _ = write!(out, "{}", array.as_primitive::<dt::Int32Type>().value(row)); }
        DataType::Int64 => { let _ = write!(out, "{}", array.as_primitive::<dt::Int64Type>().value(row)); }
        DataType::UInt8 => { let _ = write!(out, "{}", array.as_primitive::<dt::UInt8Type>().value(row)); }
        DataType::UInt16 => { let _ = write!(out, "{}", array.as_primitive::<dt::UInt16Type>().value(row)); }
        DataType::UInt32 => { let _ = write!(out, "{}", array.as_primitive::<dt::UInt32Type>().value(row)); }
        DataType::UInt64 => { let _ = write!(out, "{}", array.as_primitive::<dt::UInt64Type>().value(row)); }
        DataType::Float32 => out.push_str(&java_float(array.as_primitive::<dt::Float32Type>().value(row))),
        DataType::Float64 => out.push_str(&java_double(array.as_primitive::<dt::Float64Type>().value(row))),
        DataType::Decimal128(_, s) => {
            let v = array.as_primitive::<dt::Decimal128Type>().value(row);
            out.push_str(&format_decimal(v, *s));
        }
        DataType::Utf8 => out.push_str(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => out.push_str(array.as_string::<i64>().value(row)),
        DataType::Utf8View => out.push_str(array.as_string_view().value(row)),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes: &[u8] = match array.data_type() {
                DataType::Binary => array.as_binary::<i32>().value(row),
                DataType::LargeBinary => array.as_binary::<i64>().value(row),
                _ => array.as_binary_view().value(row),
            };
            out.push('[');
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}", *b as i8); // Java bytes are signed
            }
            out.push(']');
        }
        DataType::Date32 => {
            let d = array.as_primitive::<dt::Date32Type>().value(row);
            match date_from_days(d) {
                Some(d) => { let _ = write!(out, "{}", d.format("%Y-%m-%d")); }
                None => { let _ = write!(out, "<date out of range: {d}>"); }
            }
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<dt::Date64Type>().value(row);
            if let Some(d) = date_from_days(ms.div_euclid(86_400_000) as i32) {
                let _ = write!(out, "{}", d.format("%Y-%m-%d"));
            }
        }
        DataType::Time32(u) | DataType::Time64(u) => {
            let v: i64 = match (array.data_type(), u) {
                (DataType::Time32(_), TimeUnit::Second) => array.as_primitive::<dt::Time32SecondType>().value(row) as i64,
                (DataType::Time32(_), _) => array.as_primitive::<dt::Time32MillisecondType>().value(row) as i64,
                (_, TimeUnit::Microsecond) => array.as_primitive::<dt::Time64MicrosecondType>().value(row),
                _ => array.as_primitive::<dt::Time64NanosecondType>().value(row),
            };
            if let Some((secs, nanos)) = ts_parts(u, v) {
                match NaiveTime::from_num_seconds_from_midnight_opt(secs as u32, nanos) {
                    Some(t) => java_time(out, t),
                    None => { let _ = write!(out, "<time out of range: {v}>"); }
                }
            }
        }
        DataType::Timestamp(u, tz) => {
            let v = match u {
                TimeUnit::Second => array.as_primitive::<dt::TimestampSecondType>().value(row),
                TimeUnit::Millisecond => array.as_primitive::<dt::TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => array.as_primitive::<dt::TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => array.as_primitive::<dt::TimestampNanosecondType>().value(row),
            };
            write_timestamp(out, u, v, tz.is_some());
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let values = if let DataType::List(_) = array.data_type() {
                array.as_list::<i32>().value(row)
            } else {
                array.as_list::<i64>().value(row)
            };
            out.push('[');
            for i in 0..values.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, &values, i);
            }
            out.push(']');
        }
        DataType::Map(_, _) => {
            let m = array.as_map();
            let entries = m.value(row);
            let (k, v) = (entries.column(0).clone(), entries.column(1).clone());
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, &k, i);
                out.push('=');
                write_value(out, &v, i);
            }
            out.push('}');
        }
        DataType::Struct(_) => {
            let s = array.as_struct();
            out.push_str("+I[");
            for (i, c) in s.columns().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, c, row);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "<{other}>");
        }
    }
}

/// A DECIMAL unscaled value with its scale, e.g. `(1230, 2)` -> `12.30`.
pub fn format_decimal(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return (v * 10i128.pow((-scale) as u32)).to_string();
    }
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let s = scale as usize;
    let (int, frac) = if digits.len() > s {
        (digits[..digits.len() - s].to_string(), digits[digits.len() - s..].to_string())
    } else {
        ("0".to_string(), format!("{digits:0>s$}"))
    };
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

/// One row as Flink's print connector shows it: `+I[a, b, c]`.
pub fn format_row(batch: &StreamBatch, row: usize) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(batch.kind(row).short());
    out.push('[');
    for (i, c) in batch.data.columns().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(&mut out, c, row);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(0.1), "0.1");
        assert_eq!(java_double(4.166666666666667), "4.166666666666667");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(java_float(12.5), "12.5");
    }

    #[test]
    fn decimals_keep_scale() {
        assert_eq!(format_decimal(1230, 2), "12.30");
        assert_eq!(format_decimal(100, 2), "1.00");
        assert_eq!(format_decimal(-5, 3), "-0.005");
    }

    #[test]
    fn timestamps_like_localdatetime() {
        let mut s = String::new();
        write_timestamp(&mut s, &TimeUnit::Millisecond, 1_704_103_200_000, false);
        assert_eq!(s, "2024-01-01T10:00");
        s.clear();
        write_timestamp(&mut s, &TimeUnit::Millisecond, 1_704_103_200_123, true);
        assert_eq!(s, "2024-01-01T10:00:00.123Z");
        s.clear();
        write_timestamp(&mut s, &TimeUnit::Millisecond, 1_704_103_205_000, false);
        assert_eq!(s, "2024-01-01T10:00:05");
    }
}
