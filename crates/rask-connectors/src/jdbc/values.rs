//! Values between Arrow columns and the databases, independent of the client library: a
//! [`Cell`] is one value as a database returned it (decoded by `pg.rs` / `mysql.rs`), appended
//! to an Arrow column of the table's type by [`ColumnBuilder`] (with range checks); a [`Param`]
//! is one Arrow value as a statement parameter, which each client encodes its own way.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, Int8Builder, StringBuilder, Time32MillisecondArray, Time32SecondArray, Time64MicrosecondArray,
    Time64NanosecondArray, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{self as dt, DataType, TimeUnit};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rask_types::types::FlinkType;

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One value as a database returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    /// Text: character types, and numerics rendered as text.
    Text(Cow<'a, str>),
    /// Bytes whose meaning the column type decides (MySQL strings, decimals, blobs; bytea).
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Nanoseconds of the day.
    Time(i64),
    /// Microseconds since 1970-01-01 00:00 (UTC for instants).
    Timestamp(i64),
}

impl Cell<'_> {
    fn describe(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Bool(b) => format!("boolean {b}"),
            Cell::Int(v) => format!("integer {v}"),
            Cell::UInt(v) => format!("integer {v}"),
            Cell::F32(v) => format!("float {v}"),
            Cell::F64(v) => format!("double {v}"),
            Cell::Text(t) => format!("text '{}'", t.chars().take(60).collect::<String>()),
            Cell::Bytes(b) => match std::str::from_utf8(b) {
                Ok(t) => format!("'{}'", t.chars().take(60).collect::<String>()),
                Err(_) => format!("{} bytes", b.len()),
            },
            Cell::Date(d) => format!("date {}", date_text(*d)),
            Cell::Time(n) => format!("time {}", time_text(*n)),
            Cell::Timestamp(m) => format!("timestamp {}", timestamp_text(*m)),
        }
    }
}

/// Parse a decimal text (`-12.345`) as an unscaled DECIMAL(precision, scale) value, rounding
/// half up as Java's `BigDecimal.setScale(scale, HALF_UP)`; `None` if it is not a plain decimal
/// number or does not fit the precision.
pub fn parse_decimal(text: &str, precision: u8, scale: i8) -> Option<i128> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = scale.max(0) as usize;
    let mut v: i128 = 0;
    for d in int.bytes().chain(frac.bytes().chain(std::iter::repeat(b'0')).take(scale)) {
        v = v.checked_mul(10)?.checked_add((d - b'0') as i128)?;
    }
    if frac.as_bytes().get(scale).is_some_and(|d| *d >= b'5') {
        v += 1;
    }
    if v >= 10i128.checked_pow(precision as u32)? {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_CE_DAYS)?)
}

pub fn date_text(days: i32) -> String {
    date_of(days).map_or_else(|| format!("<day {days}>"), |d| d.format("%Y-%m-%d").to_string())
}

pub fn time_text(nanos: i64) -> String {
    chrono::NaiveTime::from_num_seconds_from_midnight_opt((nanos / 1_000_000_000) as u32, (nanos % 1_000_000_000) as u32)
        .map_or_else(|| format!("<time {nanos}>"), |t| t.format("%H:%M:%S%.6f").to_string())
}

fn datetime_of(micros: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_micros(micros).map(|d| d.naive_utc())
}

pub fn timestamp_text(micros: i64) -> String {
    datetime_of(micros).map_or_else(|| format!("<timestamp {micros}>"), |t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
}

/// Days since 1970-01-01 of a calendar date.
pub fn days_of(y: i32, m: u32, d: u32) -> Option<i32> {
    NaiveDate::from_ymd_opt(y, m, d).map(|d| d.num_days_from_ce() - UNIX_EPOCH_CE_DAYS)
}

enum Builder {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec(Decimal128Builder, u8, i8),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Date(Date32Builder),
    /// TIME and TIMESTAMP values in the column's unit, typed when the column is finished.
    Ints(Vec<Option<i64>>),
}

fn mismatch(name: &str, ty: &DataType, cell: &Cell<'_>) -> String {
    let ty = FlinkType::from_arrow(ty).map_or_else(|| ty.to_string(), |t| t.to_string());
    format!("column '{name}': cannot read the database's {} as {ty}", cell.describe())
}

/// Appends database values to one Arrow column of the table's type.
pub struct ColumnBuilder {
    name: String,
    ty: DataType,
    b: Builder,
}

impl ColumnBuilder {
    pub fn new(name: &str, ty: &DataType) -> Result<Self, String> {
        let b = match ty {
            DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
            DataType::Int8 => Builder::I8(Int8Builder::new()),
            DataType::Int16 => Builder::I16(Int16Builder::new()),
            DataType::Int32 => Builder::I32(Int32Builder::new()),
            DataType::Int64 => Builder::I64(Int64Builder::new()),
            DataType::Float32 => Builder::F32(Float32Builder::new()),
            DataType::Float64 => Builder::F64(Float64Builder::new()),
            DataType::Decimal128(p, s) => Builder::Dec(Decimal128Builder::new(), *p, *s),
            DataType::Utf8 => Builder::Str(StringBuilder::new()),
            DataType::Binary => Builder::Bin(BinaryBuilder::new()),
            DataType::Date32 => Builder::Date(Date32Builder::new()),
            DataType::Time32(_) | DataType::Time64(_) | DataType::Timestamp(_, _) => Builder::Ints(Vec::new()),
            other => return Err(format!("column '{name}': type {other} cannot be read by the jdbc connector")),
        };
        Ok(ColumnBuilder { name: name.to_string(), ty: ty.clone(), b })
    }


    /// Append one value, converted to the column's type.
    pub fn append(&mut self, cell: Cell<'_>) -> Result<(), String> {
        if cell == Cell::Null {
            self.append_null();
            return Ok(());
        }
        let bad = || mismatch(&self.name, &self.ty, &cell);
        let int = match &cell {
            Cell::Int(v) => Some(*v as i128),
            Cell::UInt(v) => Some(*v as i128),
            Cell::Bool(b) => Some(*b as i128),
            _ => None,
        };
        let text: Option<Cow<'_, str>> = match &cell {
            Cell::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Cell::Bytes(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            _ => None,
        };
        macro_rules! ints {
            ($b:expr, $t:ty) => {{
                let v = int.or_else(|| text.as_ref().and_then(|t| t.trim().parse::<i128>().ok())).ok_or_else(bad)?;
                $b.append_value(<$t>::try_from(v).map_err(|_| format!("{}: out of range", bad()))?)
            }};
        }
        match &mut self.b {
            Builder::Bool(b) => b.append_value(match (&cell, int) {
                (_, Some(v)) => v != 0,
                // MySQL BIT(1).
                (Cell::Bytes([v]), _) if *v <= 1 => *v == 1,
                _ => match text.as_deref().map(str::trim) {
                    Some("t" | "true" | "TRUE" | "1") => true,
                    Some("f" | "false" | "FALSE" | "0") => false,
                    _ => return Err(bad()),
                },
            }),
            Builder::I8(b) => ints!(b, i8),
            Builder::I16(b) => ints!(b, i16),
            Builder::I32(b) => ints!(b, i32),
            Builder::I64(b) => ints!(b, i64),
            Builder::F32(b) => b.append_value(match &cell {
                Cell::F32(v) => *v,
                Cell::F64(v) => *v as f32,
                _ => match int {
                    Some(v) => v as f32,
                    None => text.as_ref().and_then(|t| t.trim().parse::<f32>().ok()).ok_or_else(bad)?,
                },
            }),
            Builder::F64(b) => b.append_value(match &cell {
                Cell::F32(v) => *v as f64,
                Cell::F64(v) => *v,
                _ => match int {
                    Some(v) => v as f64,
                    None => text.as_ref().and_then(|t| t.trim().parse::<f64>().ok()).ok_or_else(bad)?,
                },
            }),
            Builder::Dec(b, p, s) => {
                let rendered;
                let t: &str = match (&cell, &text, int) {
                    (_, _, Some(v)) => {
                        rendered = v.to_string();
                        &rendered
                    }
                    (Cell::F64(v), _, _) => {
                        rendered = v.to_string();
                        &rendered
                    }
                    (Cell::F32(v), _, _) => {
                        rendered = v.to_string();
                        &rendered
                    }
                    (_, Some(t), _) => t.as_ref(),
                    _ => return Err(bad()),
                };
                match parse_decimal(t, *p, *s) {
                    Some(v) => b.append_value(v),
                    None => return Err(format!("{}: not a number of at most {p} digits", bad())),
                }
            }
            Builder::Str(b) => match (&cell, &text) {
                (_, Some(t)) => b.append_value(t),
                (Cell::Int(v), _) => b.append_value(v.to_string()),
                (Cell::UInt(v), _) => b.append_value(v.to_string()),
                (Cell::F64(v), _) => b.append_value(v.to_string()),
                (Cell::Bool(v), _) => b.append_value(v.to_string()),
                (Cell::Date(d), _) => b.append_value(date_text(*d)),
                _ => return Err(bad()),
            },
            Builder::Bin(b) => match &cell {
                Cell::Bytes(v) => b.append_value(v),
                Cell::Text(t) => b.append_value(t.as_bytes()),
                _ => return Err(bad()),
            },
            Builder::Date(b) => match &cell {
                Cell::Date(d) => b.append_value(*d),
                Cell::Timestamp(m) => b.append_value(m.div_euclid(MICROS_PER_DAY) as i32),
                _ => return Err(bad()),
            },
            Builder::Ints(v) => {
                let x = match (&self.ty, &cell) {
                    (DataType::Time32(u) | DataType::Time64(u), Cell::Time(n)) => match u {
                        TimeUnit::Second => n / 1_000_000_000,
                        TimeUnit::Millisecond => n / 1_000_000,
                        TimeUnit::Microsecond => n / 1_000,
                        TimeUnit::Nanosecond => *n,
                    },
                    (DataType::Timestamp(u, _), Cell::Timestamp(_) | Cell::Date(_)) => {
                        let m = match &cell {
                            Cell::Date(d) => *d as i64 * MICROS_PER_DAY,
                            Cell::Timestamp(m) => *m,
                            _ => 0,
                        };
                        match u {
                            TimeUnit::Second => m.div_euclid(1_000_000),
                            TimeUnit::Millisecond => m.div_euclid(1_000),
                            TimeUnit::Microsecond => m,
                            TimeUnit::Nanosecond => m.checked_mul(1_000).ok_or_else(bad)?,
                        }
                    }
                    _ => return Err(bad()),
                };
                v.push(Some(x));
            }
        }
        Ok(())
    }

    pub fn append_null(&mut self) {
        match &mut self.b {
            Builder::Bool(b) => b.append_null(),
            Builder::I8(b) => b.append_null(),
            Builder::I16(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::F32(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Dec(b, _, _) => b.append_null(),
            Builder::Str(b) => b.append_null(),
            Builder::Bin(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Ints(v) => v.push(None),
        }
    }

    /// The column so far (the builder starts over).
    pub fn finish(&mut self) -> Result<ArrayRef, String> {
        Ok(match &mut self.b {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I8(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Dec(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s).map_err(|e| e.to_string())?),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Bin(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Ints(v) => {
                let v = std::mem::take(v);
                let i32s = || v.iter().map(|x| x.map(|x| x as i32)).collect::<Vec<_>>();
                match &self.ty {
                    DataType::Time32(TimeUnit::Second) => Arc::new(Time32SecondArray::from(i32s())),
                    DataType::Time32(_) => Arc::new(Time32MillisecondArray::from(i32s())),
                    DataType::Time64(TimeUnit::Microsecond) => Arc::new(Time64MicrosecondArray::from(v)),
                    DataType::Time64(_) => Arc::new(Time64NanosecondArray::from(v)),
                    DataType::Timestamp(TimeUnit::Second, tz) => Arc::new(TimestampSecondArray::from(v).with_timezone_opt(tz.clone())),
                    DataType::Timestamp(TimeUnit::Millisecond, tz) => Arc::new(TimestampMillisecondArray::from(v).with_timezone_opt(tz.clone())),
                    DataType::Timestamp(TimeUnit::Microsecond, tz) => Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz.clone())),
                    DataType::Timestamp(TimeUnit::Nanosecond, tz) => Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(tz.clone())),
                    other => return Err(format!("column '{}': type {other} cannot be read by the jdbc connector", self.name)),
                }
            }
        })
    }
}

/// One Arrow value as a statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    /// Unscaled value and scale.
    Dec(i128, i8),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Nanoseconds of the day.
    Time(i64),
    /// Microseconds since 1970-01-01; `ltz`: an instant (TIMESTAMP_LTZ), else a wall-clock time.
    Timestamp { micros: i64, ltz: bool },
}

/// `col[row]` as a parameter.
pub fn param(col: &ArrayRef, row: usize) -> Result<Param<'_>, String> {
    if col.is_null(row) {
        return Ok(Param::Null);
    }
    Ok(match col.data_type() {
        DataType::Boolean => Param::Bool(col.as_boolean().value(row)),
        DataType::Int8 => Param::Int(col.as_primitive::<dt::Int8Type>().value(row) as i64),
        DataType::Int16 => Param::Int(col.as_primitive::<dt::Int16Type>().value(row) as i64),
        DataType::Int32 => Param::Int(col.as_primitive::<dt::Int32Type>().value(row) as i64),
        DataType::Int64 => Param::Int(col.as_primitive::<dt::Int64Type>().value(row)),
        DataType::UInt8 => Param::Int(col.as_primitive::<dt::UInt8Type>().value(row) as i64),
        DataType::UInt16 => Param::Int(col.as_primitive::<dt::UInt16Type>().value(row) as i64),
        DataType::UInt32 => Param::Int(col.as_primitive::<dt::UInt32Type>().value(row) as i64),
        DataType::UInt64 => Param::UInt(col.as_primitive::<dt::UInt64Type>().value(row)),
        DataType::Float32 => Param::F32(col.as_primitive::<dt::Float32Type>().value(row)),
        DataType::Float64 => Param::F64(col.as_primitive::<dt::Float64Type>().value(row)),
        DataType::Decimal128(_, s) => Param::Dec(col.as_primitive::<dt::Decimal128Type>().value(row), *s),
        DataType::Utf8 => Param::Text(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Param::Text(col.as_string::<i64>().value(row)),
        DataType::Utf8View => Param::Text(col.as_string_view().value(row)),
        DataType::Binary => Param::Bytes(col.as_binary::<i32>().value(row)),
        DataType::LargeBinary => Param::Bytes(col.as_binary::<i64>().value(row)),
        DataType::Date32 => Param::Date(col.as_primitive::<dt::Date32Type>().value(row)),
        DataType::Time32(TimeUnit::Second) => Param::Time(col.as_primitive::<dt::Time32SecondType>().value(row) as i64 * 1_000_000_000),
        DataType::Time32(_) => Param::Time(col.as_primitive::<dt::Time32MillisecondType>().value(row) as i64 * 1_000_000),
        DataType::Time64(TimeUnit::Microsecond) => Param::Time(col.as_primitive::<dt::Time64MicrosecondType>().value(row) * 1_000),
        DataType::Time64(_) => Param::Time(col.as_primitive::<dt::Time64NanosecondType>().value(row)),
        DataType::Timestamp(u, tz) => {
            let micros = match u {
                TimeUnit::Second => col.as_primitive::<dt::TimestampSecondType>().value(row).saturating_mul(1_000_000),
                TimeUnit::Millisecond => col.as_primitive::<dt::TimestampMillisecondType>().value(row).saturating_mul(1_000),
                TimeUnit::Microsecond => col.as_primitive::<dt::TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => col.as_primitive::<dt::TimestampNanosecondType>().value(row).div_euclid(1_000),
            };
            Param::Timestamp { micros, ltz: tz.is_some() }
        }
        other => return Err(format!("type {other} cannot be written by the jdbc connector")),
    })
}

impl Param<'_> {
    /// Append the value in PostgreSQL's text input syntax; false for NULL (nothing appended).
    pub fn pg_text(&self, out: &mut Vec<u8>) -> bool {
        use std::io::Write;
        match self {
            Param::Null => return false,
            Param::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Param::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Param::UInt(v) => {
                let _ = write!(out, "{v}");
            }
            Param::F32(v) => float_text(*v as f64, &v.to_string(), out),
            Param::F64(v) => float_text(*v, &v.to_string(), out),
            Param::Dec(v, s) => out.extend_from_slice(rask_types::value_fmt::format_decimal(*v, *s).as_bytes()),
            Param::Text(t) => out.extend_from_slice(t.as_bytes()),
            Param::Bytes(b) => {
                out.extend_from_slice(b"\\x");
                for x in *b {
                    let _ = write!(out, "{x:02x}");
                }
            }
            Param::Date(d) => out.extend_from_slice(date_text(*d).as_bytes()),
            Param::Time(n) => out.extend_from_slice(time_text(*n).as_bytes()),
            Param::Timestamp { micros, ltz } => {
                out.extend_from_slice(timestamp_text(*micros).as_bytes());
                if *ltz {
                    out.extend_from_slice(b"+00");
                }
            }
        }
        true
    }

    /// The value as a MySQL protocol value.
    pub fn mysql_value(&self) -> mysql_async::Value {
        use mysql_async::Value;
        let datetime = |micros: i64| match datetime_of(micros) {
            Some(t) => Value::Date(t.year() as u16, t.month() as u8, t.day() as u8, t.hour() as u8, t.minute() as u8, t.second() as u8, t.nanosecond() / 1000),
            None => Value::NULL,
        };
        match self {
            Param::Null => Value::NULL,
            Param::Bool(b) => Value::Int(*b as i64),
            Param::Int(v) => Value::Int(*v),
            Param::UInt(v) => Value::UInt(*v),
            Param::F32(v) => Value::Float(*v),
            Param::F64(v) => Value::Double(*v),
            Param::Dec(v, s) => Value::Bytes(rask_types::value_fmt::format_decimal(*v, *s).into_bytes()),
            Param::Text(t) => Value::Bytes(t.as_bytes().to_vec()),
            Param::Bytes(b) => Value::Bytes(b.to_vec()),
            Param::Date(d) => match date_of(*d) {
                Some(d) => Value::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0),
                None => Value::NULL,
            },
            Param::Time(n) => {
                let s = n / 1_000_000_000;
                Value::Time(false, 0, (s / 3600) as u8, (s / 60 % 60) as u8, (s % 60) as u8, (n % 1_000_000_000 / 1000) as u32)
            }
            Param::Timestamp { micros, .. } => datetime(*micros),
        }
    }
}

/// PostgreSQL spells the infinities `Infinity`, Rust `inf`.
fn float_text(v: f64, rendered: &str, out: &mut Vec<u8>) {
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        out.extend_from_slice(rendered.as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_half_up_and_refuse_overflow() {
        assert_eq!(parse_decimal("12.345", 10, 2), Some(1235));
        assert_eq!(parse_decimal("-12.344", 10, 2), Some(-1234));
        assert_eq!(parse_decimal("-0.005", 10, 2), Some(-1));
        assert_eq!(parse_decimal("7", 10, 2), Some(700));
        assert_eq!(parse_decimal(".5", 3, 1), Some(5));
        assert_eq!(parse_decimal("1000.00", 5, 2), None);
        assert_eq!(parse_decimal("999.994", 5, 2), Some(99999));
        assert_eq!(parse_decimal("abc", 5, 2), None);
        assert_eq!(parse_decimal("NaN", 5, 2), None);
    }

    #[test]
    fn cells_into_columns() {
        let mut c = ColumnBuilder::new("d", &DataType::Decimal128(10, 2)).unwrap();
        c.append(Cell::Text("3.14159".into())).unwrap();
        c.append(Cell::Bytes(b"-2.5")).unwrap();
        c.append(Cell::Int(7)).unwrap();
        c.append(Cell::Null).unwrap();
        let a = c.finish().unwrap();
        let d = a.as_primitive::<dt::Decimal128Type>();
        assert_eq!((d.value(0), d.value(1), d.value(2), d.is_null(3)), (314, -250, 700, true));
        let mut i = ColumnBuilder::new("i", &DataType::Int16).unwrap();
        let e = i.append(Cell::Int(70_000)).unwrap_err();
        assert!(e.contains("column 'i'") && e.contains("SMALLINT") && e.contains("out of range"), "{e}");
        let e = i.append(Cell::Date(3)).unwrap_err();
        assert!(e.contains("cannot read the database's date 1970-01-04 as SMALLINT"), "{e}");
        let mut t = ColumnBuilder::new("t", &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))).unwrap();
        t.append(Cell::Timestamp(-1_500)).unwrap();
        let a = t.finish().unwrap();
        assert_eq!(a.data_type(), &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())));
        assert_eq!(a.as_primitive::<dt::TimestampMillisecondType>().value(0), -2);
    }

    #[test]
    fn params_as_postgres_text() {
        let text = |p: Param<'_>| {
            let mut v = Vec::new();
            p.pg_text(&mut v).then(|| String::from_utf8(v).unwrap())
        };
        assert_eq!(text(Param::Null), None);
        assert_eq!(text(Param::Dec(-5, 2)).as_deref(), Some("-0.05"));
        assert_eq!(text(Param::F64(f64::NEG_INFINITY)).as_deref(), Some("-Infinity"));
        assert_eq!(text(Param::F32(2.75)).as_deref(), Some("2.75"));
        assert_eq!(text(Param::Bytes(&[0, 255])).as_deref(), Some("\\x00ff"));
        assert_eq!(text(Param::Date(-1)).as_deref(), Some("1969-12-31"));
        assert_eq!(text(Param::Timestamp { micros: 1_500_000, ltz: true }).as_deref(), Some("1970-01-01 00:00:01.500000+00"));
        assert_eq!(text(Param::Time(3_723_000_000_000)).as_deref(), Some("01:02:03.000000"));
    }
}
