//! Flink SQL data types and their Arrow representation.
//!
//! The catalog keeps the declared `FlinkType` (so `DESCRIBE` shows `VARCHAR(10)` rather than
//! Arrow's `Utf8`); operators only ever see the Arrow `DataType` from [`FlinkType::to_arrow`].
//! `TIMESTAMP_LTZ` is an instant: Arrow `Timestamp(unit, Some("UTC"))`, shown in the session
//! time zone; `TIMESTAMP` is a wall-clock value: `Timestamp(unit, None)`.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, IntervalUnit, TimeUnit};

/// Time zone tag used for every `TIMESTAMP_LTZ` column.
pub const LTZ_TZ: &str = "UTC";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlinkType {
    Char(u32),
    Varchar(u32),
    /// `STRING` = `VARCHAR(2147483647)`.
    String,
    Boolean,
    Binary(u32),
    Varbinary(u32),
    /// `BYTES` = `VARBINARY(2147483647)`.
    Bytes,
    Decimal(u8, i8),
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Date,
    Time(u8),
    Timestamp(u8),
    TimestampLtz(u8),
    IntervalDayTime,
    IntervalYearMonth,
    Array(Box<FlinkType>),
    Multiset(Box<FlinkType>),
    Map(Box<FlinkType>, Box<FlinkType>),
    Row(Vec<(String, FlinkType)>),
    Null,
}

/// A type and its nullability (`INT NOT NULL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkTypeN {
    pub ty: FlinkType,
    pub nullable: bool,
}

/// Precision 0 is whole seconds (so `CAST(ts AS TIMESTAMP(0))` truncates as in Flink);
/// 1–3 milliseconds, 4–6 microseconds, 7–9 nanoseconds.
fn unit_for_precision(p: u8) -> TimeUnit {
    match p {
        0 => TimeUnit::Second,
        1..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

fn precision_for_unit(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

impl FlinkType {
    /// The Arrow type that carries values of this type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            FlinkType::Char(_) | FlinkType::Varchar(_) | FlinkType::String => DataType::Utf8,
            FlinkType::Boolean => DataType::Boolean,
            FlinkType::Binary(_) | FlinkType::Varbinary(_) | FlinkType::Bytes => DataType::Binary,
            FlinkType::Decimal(p, s) => DataType::Decimal128(*p, *s),
            FlinkType::TinyInt => DataType::Int8,
            FlinkType::SmallInt => DataType::Int16,
            FlinkType::Int => DataType::Int32,
            FlinkType::BigInt => DataType::Int64,
            FlinkType::Float => DataType::Float32,
            FlinkType::Double => DataType::Float64,
            FlinkType::Date => DataType::Date32,
            FlinkType::Time(p) => match unit_for_precision(*p) {
                TimeUnit::Second => DataType::Time32(TimeUnit::Second),
                TimeUnit::Millisecond => DataType::Time32(TimeUnit::Millisecond),
                u => DataType::Time64(u),
            },
            FlinkType::Timestamp(p) => DataType::Timestamp(unit_for_precision(*p), None),
            FlinkType::TimestampLtz(p) => {
                DataType::Timestamp(unit_for_precision(*p), Some(Arc::from(LTZ_TZ)))
            }
            FlinkType::IntervalDayTime => DataType::Interval(IntervalUnit::MonthDayNano),
            FlinkType::IntervalYearMonth => DataType::Interval(IntervalUnit::YearMonth),
            FlinkType::Array(t) | FlinkType::Multiset(t) => {
                DataType::List(Arc::new(Field::new("element", t.to_arrow(), true)))
            }
            FlinkType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", k.to_arrow(), false),
                        Field::new("value", v.to_arrow(), true),
                    ])),
                    false,
                )),
                false,
            ),
            FlinkType::Row(fields) => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(n, t)| Field::new(n, t.to_arrow(), true))
                    .collect::<Vec<_>>(),
            )),
            FlinkType::Null => DataType::Null,
        }
    }

    /// The Flink type for an Arrow type (for derived columns, whose declared type is unknown).
    pub fn from_arrow(dt: &DataType) -> Option<FlinkType> {
        Some(match dt {
            DataType::Null => FlinkType::Null,
            DataType::Boolean => FlinkType::Boolean,
            DataType::Int8 => FlinkType::TinyInt,
            DataType::Int16 => FlinkType::SmallInt,
            DataType::Int32 => FlinkType::Int,
            DataType::Int64 => FlinkType::BigInt,
            DataType::UInt8 => FlinkType::SmallInt,
            DataType::UInt16 => FlinkType::Int,
            DataType::UInt32 | DataType::UInt64 => FlinkType::BigInt,
            DataType::Float16 | DataType::Float32 => FlinkType::Float,
            DataType::Float64 => FlinkType::Double,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => FlinkType::String,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => FlinkType::Bytes,
            DataType::FixedSizeBinary(n) => FlinkType::Binary(*n as u32),
            DataType::Decimal128(p, s) => FlinkType::Decimal(*p, *s),
            DataType::Date32 | DataType::Date64 => FlinkType::Date,
            DataType::Time32(u) | DataType::Time64(u) => FlinkType::Time(precision_for_unit(u)),
            DataType::Timestamp(u, None) => FlinkType::Timestamp(precision_for_unit(u)),
            DataType::Timestamp(u, Some(_)) => FlinkType::TimestampLtz(precision_for_unit(u)),
            DataType::Interval(IntervalUnit::YearMonth) => FlinkType::IntervalYearMonth,
            DataType::Interval(_) | DataType::Duration(_) => FlinkType::IntervalDayTime,
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                FlinkType::Array(Box::new(FlinkType::from_arrow(f.data_type())?))
            }
            DataType::Map(f, _) => match f.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => FlinkType::Map(
                    Box::new(FlinkType::from_arrow(kv[0].data_type())?),
                    Box::new(FlinkType::from_arrow(kv[1].data_type())?),
                ),
                _ => return None,
            },
            DataType::Struct(fields) => FlinkType::Row(
                fields
                    .iter()
                    .map(|f| Some((f.name().clone(), FlinkType::from_arrow(f.data_type())?)))
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        })
    }
}

impl fmt::Display for FlinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlinkType::Char(n) => write!(f, "CHAR({n})"),
            FlinkType::Varchar(n) => write!(f, "VARCHAR({n})"),
            FlinkType::String => f.write_str("STRING"),
            FlinkType::Boolean => f.write_str("BOOLEAN"),
            FlinkType::Binary(n) => write!(f, "BINARY({n})"),
            FlinkType::Varbinary(n) => write!(f, "VARBINARY({n})"),
            FlinkType::Bytes => f.write_str("BYTES"),
            FlinkType::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            FlinkType::TinyInt => f.write_str("TINYINT"),
            FlinkType::SmallInt => f.write_str("SMALLINT"),
            FlinkType::Int => f.write_str("INT"),
            FlinkType::BigInt => f.write_str("BIGINT"),
            FlinkType::Float => f.write_str("FLOAT"),
            FlinkType::Double => f.write_str("DOUBLE"),
            FlinkType::Date => f.write_str("DATE"),
            FlinkType::Time(p) => write!(f, "TIME({p})"),
            FlinkType::Timestamp(p) => write!(f, "TIMESTAMP({p})"),
            FlinkType::TimestampLtz(p) => write!(f, "TIMESTAMP_LTZ({p})"),
            FlinkType::IntervalDayTime => f.write_str("INTERVAL SECOND(3)"),
            FlinkType::IntervalYearMonth => f.write_str("INTERVAL YEAR(2) TO MONTH"),
            FlinkType::Array(t) => write!(f, "ARRAY<{t}>"),
            FlinkType::Multiset(t) => write!(f, "MULTISET<{t}>"),
            FlinkType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            FlinkType::Row(fields) => {
                f.write_str("ROW<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{n}` {t}")?;
                }
                f.write_str(">")
            }
            FlinkType::Null => f.write_str("NULL"),
        }
    }
}

impl fmt::Display for FlinkTypeN {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nullable { write!(f, "{}", self.ty) } else { write!(f, "{} NOT NULL", self.ty) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_arrow() {
        for t in [
            FlinkType::String,
            FlinkType::BigInt,
            FlinkType::Decimal(10, 2),
            FlinkType::Timestamp(3),
            FlinkType::TimestampLtz(6),
            FlinkType::Array(Box::new(FlinkType::Int)),
            FlinkType::Map(Box::new(FlinkType::String), Box::new(FlinkType::Double)),
            FlinkType::Row(vec![("a".into(), FlinkType::Int), ("b".into(), FlinkType::String)]),
        ] {
            assert_eq!(FlinkType::from_arrow(&t.to_arrow()), Some(t.clone()), "{t}");
        }
    }

    #[test]
    fn displays_like_flink() {
        assert_eq!(FlinkType::Decimal(10, 2).to_string(), "DECIMAL(10, 2)");
        let m = FlinkType::Map(Box::new(FlinkType::String), Box::new(FlinkType::Int));
        assert_eq!(m.to_string(), "MAP<STRING, INT>");
        let n = FlinkTypeN { ty: FlinkType::Timestamp(3), nullable: false };
        assert_eq!(n.to_string(), "TIMESTAMP(3) NOT NULL");
    }
}
