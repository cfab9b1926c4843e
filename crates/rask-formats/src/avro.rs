//! Flink's `avro` format: a record is one Avro binary datum (no container-file header, no
//! schema id) whose schema Flink derives from the table's columns (`AvroSchemaConverter`): a
//! record named `org.apache.flink.avro.generated.record` (nested rows
//! `…record_<field>`), nullable columns as `["null", type]` unions, TINYINT/SMALLINT/INT as
//! `int`, DECIMAL as `bytes` with the `decimal` logical type, DATE as `int`/`date`, TIME as
//! `int`/`time-millis`, TIMESTAMP(≤3)/(≤6) as `long`/`timestamp-millis`/`-micros` (or
//! `local-timestamp-*` with `avro.timestamp_mapping.legacy` = false), ARRAY as `array`, MAP
//! (string keys) as `map`. Encoding and decoding go through the `apache-avro` crate.

use std::collections::HashMap;

use apache_avro::types::Value;
use apache_avro::Schema as AvroSchema;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef, Time32MillisecondType,
    Time32SecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use rask_types::options::{OptionKind, OptionSpec, Options};
use serde_json::json;

use crate::columns::{Column, Data};
use crate::error::FormatError;
use crate::{RecordDecoder, RecordEncoder};

pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("avro.encoding", OptionKind::Enum(&["binary", "json"]), "Avro's encoding of a record (binary only)").default("binary"),
        OptionSpec::new(
            "avro.timestamp_mapping.legacy",
            OptionKind::Bool,
            "TIMESTAMP as timestamp-millis/-micros (true) or local-timestamp-millis/-micros (false)",
        )
        .default("true"),
        OptionSpec::new("avro.codec", OptionKind::String, "compression of Avro container files (not used for records)"),
    ]
}

const RECORD_NAME: &str = "org.apache.flink.avro.generated.record";

/// The Avro schema Flink derives for a table's columns, as JSON.
pub fn schema_json(schema: &SchemaRef, legacy_timestamps: bool) -> Result<serde_json::Value, FormatError> {
    let fields = schema
        .fields()
        .iter()
        .map(|f| Ok(json!({"name": f.name(), "type": type_json(f.data_type(), f.is_nullable(), &format!("{RECORD_NAME}_{}", f.name()), legacy_timestamps)?})))
        .collect::<Result<Vec<_>, FormatError>>()?;
    Ok(json!({"type": "record", "name": RECORD_NAME, "fields": fields}))
}

fn type_json(dt: &DataType, nullable: bool, name: &str, legacy: bool) -> Result<serde_json::Value, FormatError> {
    let local = if legacy { "" } else { "local-" };
    let t = match dt {
        DataType::Null => return Ok(json!("null")),
        DataType::Boolean => json!("boolean"),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => json!("int"),
        DataType::Int64 => json!("long"),
        DataType::Float32 => json!("float"),
        DataType::Float64 => json!("double"),
        DataType::Utf8 => json!("string"),
        DataType::Binary => json!("bytes"),
        DataType::Decimal128(p, s) => json!({"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s}),
        DataType::Date32 => json!({"type": "int", "logicalType": "date"}),
        DataType::Time32(_) => json!({"type": "int", "logicalType": "time-millis"}),
        DataType::Time64(_) => {
            return Err(FormatError::Unsupported("Avro does not support TIME type with precision above 3 (the 'avro' format writes time-millis)".into()));
        }
        DataType::Timestamp(unit, tz) => {
            // TIMESTAMP_LTZ is an instant (timestamp-*) in either mapping.
            let local = if tz.is_some() { "" } else { local };
            match unit {
                TimeUnit::Second | TimeUnit::Millisecond => json!({"type": "long", "logicalType": format!("{local}timestamp-millis")}),
                TimeUnit::Microsecond => json!({"type": "long", "logicalType": format!("{local}timestamp-micros")}),
                TimeUnit::Nanosecond => {
                    return Err(FormatError::Unsupported("Avro does not support TIMESTAMP type with precision: 9, it only supports precision up to 6".into()));
                }
            }
        }
        DataType::List(f) => json!({"type": "array", "items": type_json(f.data_type(), f.is_nullable(), name, legacy)?}),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 && kv[0].data_type() == &DataType::Utf8 => {
                json!({"type": "map", "values": type_json(kv[1].data_type(), kv[1].is_nullable(), name, legacy)?})
            }
            _ => return Err(FormatError::Unsupported("Avro maps have string keys: the 'avro' format supports MAP<STRING, …> (and MAP<VARCHAR, …>) only".into())),
        },
        DataType::Struct(fields) => {
            let fs = fields
                .iter()
                .map(|f| Ok(json!({"name": f.name(), "type": type_json(f.data_type(), f.is_nullable(), &format!("{name}_{}", f.name()), legacy)?})))
                .collect::<Result<Vec<_>, FormatError>>()?;
            json!({"type": "record", "name": name, "fields": fs})
        }
        other => return Err(FormatError::Unsupported(format!("the 'avro' format does not support type {other}"))),
    };
    Ok(if nullable { json!(["null", t]) } else { t })
}

/// The parsed Avro schema of `schema` under `options`.
fn avro_schema(schema: &SchemaRef, options: &Options) -> Result<AvroSchema, FormatError> {
    let encoding = options.string("avro.encoding", "binary");
    if !encoding.eq_ignore_ascii_case("binary") {
        return Err(FormatError::Unsupported(format!("'avro.encoding' = '{encoding}' is not supported; Rask reads and writes Avro's binary encoding")));
    }
    let legacy = !options.string("avro.timestamp_mapping.legacy", "true").eq_ignore_ascii_case("false");
    let j = schema_json(schema, legacy)?;
    AvroSchema::parse(&j).map_err(|e| FormatError::Internal(format!("derived Avro schema {j} does not parse: {e}")))
}

/// Two's-complement big-endian bytes of an unscaled decimal, as short as Java's
/// `BigInteger.toByteArray()`.
fn decimal_bytes(v: i128) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start < 15 && ((b[start] == 0 && b[start + 1] & 0x80 == 0) || (b[start] == 0xFF && b[start + 1] & 0x80 != 0)) {
        start += 1;
    }
    b[start..].to_vec()
}

fn bytes_decimal(b: &[u8]) -> Result<i128, FormatError> {
    if b.len() > 16 {
        return Err(FormatError::Malformed(format!("an Avro decimal of {} bytes does not fit DECIMAL(38)", b.len())));
    }
    let fill = if b.first().is_some_and(|x| x & 0x80 != 0) { 0xFF } else { 0 };
    let mut a = [fill; 16];
    a[16 - b.len()..].copy_from_slice(b);
    Ok(i128::from_be_bytes(a))
}

/// Row `i` of `a` as an Avro value (a nullable column's value inside its union).
fn value_at(a: &ArrayRef, i: usize, nullable: bool, legacy: bool) -> Result<Value, FormatError> {
    if a.is_null(i) {
        return if nullable { Ok(Value::Union(0, Box::new(Value::Null))) } else { Err(FormatError::Malformed("a NULL in a NOT NULL column".into())) };
    }
    let v = match a.data_type() {
        DataType::Null => return Ok(Value::Null),
        DataType::Boolean => Value::Boolean(a.as_boolean().value(i)),
        DataType::Int8 => Value::Int(a.as_primitive::<Int8Type>().value(i) as i32),
        DataType::Int16 => Value::Int(a.as_primitive::<Int16Type>().value(i) as i32),
        DataType::Int32 => Value::Int(a.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::Long(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => Value::Float(a.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => Value::Double(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::String(a.as_string::<i32>().value(i).to_string()),
        DataType::Binary => Value::Bytes(a.as_binary::<i32>().value(i).to_vec()),
        DataType::Decimal128(_, _) => Value::Decimal(apache_avro::Decimal::from(decimal_bytes(a.as_primitive::<Decimal128Type>().value(i)))),
        DataType::Date32 => Value::Date(a.as_primitive::<Date32Type>().value(i)),
        DataType::Time32(TimeUnit::Second) => Value::TimeMillis(a.as_primitive::<Time32SecondType>().value(i) * 1000),
        DataType::Time32(_) => Value::TimeMillis(a.as_primitive::<Time32MillisecondType>().value(i)),
        DataType::Timestamp(unit, tz) => {
            let n = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
            };
            let local = tz.is_none() && !legacy;
            match (unit, local) {
                (TimeUnit::Second, false) => Value::TimestampMillis(n * 1000),
                (TimeUnit::Millisecond, false) => Value::TimestampMillis(n),
                (TimeUnit::Microsecond, false) => Value::TimestampMicros(n),
                (TimeUnit::Second, true) => Value::LocalTimestampMillis(n * 1000),
                (TimeUnit::Millisecond, true) => Value::LocalTimestampMillis(n),
                (TimeUnit::Microsecond, true) => Value::LocalTimestampMicros(n),
                (TimeUnit::Nanosecond, _) => return Err(FormatError::Unsupported("Avro has no nanosecond timestamps".into())),
            }
        }
        DataType::List(f) => {
            let l = a.as_list::<i32>();
            let items = l.value(i);
            Value::Array((0..items.len()).map(|j| value_at(&items, j, f.is_nullable(), legacy)).collect::<Result<_, _>>()?)
        }
        DataType::Map(entries, _) => {
            let m = a.as_map();
            let e = m.value(i);
            let DataType::Struct(kv) = entries.data_type() else { return Err(FormatError::Internal("map entries".into())) };
            let keys = e.column(0).as_string::<i32>();
            let mut out = HashMap::with_capacity(e.len());
            for j in 0..e.len() {
                out.insert(keys.value(j).to_string(), value_at(e.column(1), j, kv[1].is_nullable(), legacy)?);
            }
            Value::Map(out)
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            Value::Record(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| Ok((f.name().clone(), value_at(c, i, f.is_nullable(), legacy)?)))
                    .collect::<Result<_, FormatError>>()?,
            )
        }
        other => return Err(FormatError::Unsupported(format!("the 'avro' format does not support type {other}"))),
    };
    Ok(if nullable { Value::Union(1, Box::new(v)) } else { v })
}

pub struct AvroEncoder {
    schema: SchemaRef,
    avro: AvroSchema,
    legacy: bool,
}

impl AvroEncoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<AvroEncoder, FormatError> {
        let avro = avro_schema(&schema, options)?;
        let legacy = !options.string("avro.timestamp_mapping.legacy", "true").eq_ignore_ascii_case("false");
        Ok(AvroEncoder { schema, avro, legacy })
    }
}

impl RecordEncoder for AvroEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&self.avro).build().map_err(|e| FormatError::Internal(format!("Avro writer: {e}")))?;
        for i in 0..batch.num_rows() {
            let fields = self
                .schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| Ok((f.name().clone(), value_at(c, i, f.is_nullable(), self.legacy).map_err(|e| FormatError::Malformed(format!("column '{}': {e}", f.name())))?)))
                .collect::<Result<Vec<_>, FormatError>>()?;
            let bytes = writer.write_value_to_vec(Value::Record(fields)).map_err(|e| FormatError::Internal(format!("writing an Avro record: {e}")))?;
            out.push(bytes);
        }
        Ok(())
    }
}

pub struct AvroDecoder {
    schema: SchemaRef,
    avro: AvroSchema,
    columns: Vec<Column>,
}

impl AvroDecoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<AvroDecoder, FormatError> {
        let avro = avro_schema(&schema, options)?;
        let columns = schema.fields().iter().map(|f| Column::new(f.data_type())).collect::<Result<_, _>>()?;
        Ok(AvroDecoder { schema, avro, columns })
    }
}

fn mismatch(dt: &DataType, v: &Value) -> FormatError {
    FormatError::Malformed(format!("an Avro value {v:?} does not fit type {dt}"))
}

/// Append an Avro value (unwrapped from its union) to a column.
fn push(c: &mut Column, v: Value) -> Result<(), FormatError> {
    let v = match v {
        Value::Union(_, inner) => *inner,
        v => v,
    };
    if matches!(v, Value::Null) {
        c.push_null();
        return Ok(());
    }
    let dt = c.dt.clone();
    match (&mut c.data, v) {
        (Data::Bool(d), Value::Boolean(b)) => d.push(b),
        (Data::I8(d), Value::Int(n)) => d.push(i8::try_from(n).map_err(|_| FormatError::Malformed(format!("{n} does not fit TINYINT")))?),
        (Data::I16(d), Value::Int(n)) => d.push(i16::try_from(n).map_err(|_| FormatError::Malformed(format!("{n} does not fit SMALLINT")))?),
        (Data::I32(d), Value::Int(n) | Value::Date(n)) => d.push(n),
        (Data::I32(d), Value::TimeMillis(n)) => d.push(if dt == DataType::Time32(TimeUnit::Second) { n / 1000 } else { n }),
        (Data::I64(d), Value::Long(n)) => d.push(n),
        (Data::I64(d), Value::TimestampMillis(n) | Value::LocalTimestampMillis(n)) => d.push(match dt {
            DataType::Timestamp(TimeUnit::Second, _) => n.div_euclid(1000),
            DataType::Timestamp(TimeUnit::Microsecond, _) => n * 1000,
            _ => n,
        }),
        (Data::I64(d), Value::TimestampMicros(n) | Value::LocalTimestampMicros(n)) => d.push(match dt {
            DataType::Timestamp(TimeUnit::Second, _) => n.div_euclid(1_000_000),
            DataType::Timestamp(TimeUnit::Millisecond, _) => n.div_euclid(1000),
            _ => n,
        }),
        (Data::F32(d), Value::Float(x)) => d.push(x),
        (Data::F64(d), Value::Double(x)) => d.push(x),
        (Data::I128(d), Value::Decimal(x)) => {
            let b: Vec<u8> = Vec::<u8>::try_from(x).map_err(|e| FormatError::Malformed(format!("an Avro decimal: {e}")))?;
            d.push(bytes_decimal(&b)?)
        }
        (Data::Bytes { .. }, Value::String(s)) => {
            c.push_bytes(s.as_bytes());
            return Ok(());
        }
        (Data::Bytes { .. }, Value::Bytes(b)) => {
            c.push_bytes(&b);
            return Ok(());
        }
        (Data::List { child, .. }, Value::Array(items)) => {
            for it in items {
                push(child.as_mut(), it)?;
            }
            c.close_nested();
            return Ok(());
        }
        (Data::Map { keys, values, .. }, Value::Map(m)) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in entries {
                keys.push_bytes(k.as_bytes());
                push(values.as_mut(), v)?;
            }
            c.close_nested();
            return Ok(());
        }
        (Data::Struct(children), Value::Record(fields)) => {
            if fields.len() != children.len() {
                return Err(FormatError::Malformed(format!("an Avro record with {} fields for a ROW of {}", fields.len(), children.len())));
            }
            for (ch, (_, v)) in children.iter_mut().zip(fields) {
                push(ch, v)?;
            }
        }
        (_, v) => return Err(mismatch(&dt, &v)),
    }
    c.valid.push(true);
    Ok(())
}

impl RecordDecoder for AvroDecoder {
    fn decode(&mut self, record: &[u8]) -> Result<bool, FormatError> {
        let mut r = record;
        // (Building the reader resolves the schema's names: cheap for a table's schema.)
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&self.avro)
            .build()
            .and_then(|reader| reader.read_value(&mut r))
            .map_err(|e| FormatError::Malformed(format!("not an Avro record of the table's schema: {e}")))?;
        let Value::Record(fields) = value else { return Err(FormatError::Malformed("not an Avro record".into())) };
        let n = self.buffered();
        for ((c, f), (_, v)) in self.columns.iter_mut().zip(self.schema.fields()).zip(fields) {
            if let Err(e) = push(c, v) {
                self.columns.iter_mut().for_each(|c| c.truncate(n));
                return Err(FormatError::Malformed(format!("field '{}': {e}", f.name())));
            }
        }
        Ok(true)
    }

    fn buffered(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    fn flush(&mut self) -> Result<RecordBatch, FormatError> {
        let n = self.buffered();
        let cols = self.columns.iter_mut().map(Column::finish).collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new_with_options(self.schema.clone(), cols, &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)))
            .map_err(|e| FormatError::Internal(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn opts(kv: &[(&str, &str)]) -> Options {
        Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn table() -> SchemaRef {
        use crate::testutil::{arr, row};
        use rask_types::FlinkType as T;
        let s = crate::testutil::schema(&[
            ("id", T::BigInt),
            ("name", T::String),
            ("price", T::Decimal(10, 2)),
            ("day", T::Date),
            ("ts", T::Timestamp(3)),
            ("tags", arr(T::String)),
            ("attrs", T::Map(Box::new(T::String), Box::new(T::Int))),
            ("addr", row(&[("city", T::String), ("zip", T::Int)])),
            ("small", T::SmallInt),
        ]);
        // `id BIGINT NOT NULL`
        let mut fields: Vec<Field> = s.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[0] = fields[0].clone().with_nullable(false);
        Arc::new(Schema::new(fields))
    }

    #[test]
    fn derives_flinks_schema() {
        let j = schema_json(&table(), true).unwrap();
        assert_eq!(j["name"], RECORD_NAME);
        assert_eq!(j["fields"][0]["type"], json!("long"));
        assert_eq!(j["fields"][1]["type"], json!(["null", "string"]));
        assert_eq!(j["fields"][2]["type"], json!(["null", {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}]));
        assert_eq!(j["fields"][4]["type"], json!(["null", {"type": "long", "logicalType": "timestamp-millis"}]));
        assert_eq!(j["fields"][7]["type"][1]["name"], json!("org.apache.flink.avro.generated.record_addr"));
        let j = schema_json(&table(), false).unwrap();
        assert_eq!(j["fields"][4]["type"], json!(["null", {"type": "long", "logicalType": "local-timestamp-millis"}]));
        let ns = Arc::new(Schema::new(vec![Field::new("t", DataType::Timestamp(TimeUnit::Nanosecond, None), true)]));
        assert!(AvroEncoder::new(ns, &opts(&[])).is_err());
        let e = AvroEncoder::new(table(), &opts(&[("avro.encoding", "json")])).err().unwrap();
        assert!(e.to_string().contains("avro.encoding"), "{e}");
    }

    #[test]
    fn binary_layout_follows_the_avro_spec() {
        // {id: 1, name: "ab"}: long 1 → zigzag 0x02; union branch 1 → 0x02; "ab" → len 2 (0x04) 'a' 'b'.
        let s = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)]));
        let b = RecordBatch::try_new(
            s.clone(),
            vec![Arc::new(arrow::array::Int64Array::from(vec![1, -2])), Arc::new(arrow::array::StringArray::from(vec![Some("ab"), None]))],
        )
        .unwrap();
        let mut out = Vec::new();
        AvroEncoder::new(s.clone(), &opts(&[])).unwrap().encode(&b, &mut out).unwrap();
        assert_eq!(out, vec![vec![0x02, 0x02, 0x04, b'a', b'b'], vec![0x03, 0x00]]);
        let mut d = AvroDecoder::new(s, &opts(&[])).unwrap();
        for r in &out {
            assert!(d.decode(r).unwrap());
        }
        assert_eq!(d.flush().unwrap(), b);
        // Garbage fails with a message and leaves nothing half-decoded.
        let mut d = AvroDecoder::new(table(), &opts(&[])).unwrap();
        let e = d.decode(&[0x02, 0x02, 0xFF]).unwrap_err();
        assert!(e.to_string().contains("not an Avro record"), "{e}");
        assert_eq!(d.buffered(), 0);
        assert_eq!(decimal_bytes(0), vec![0]);
        assert_eq!(decimal_bytes(128), vec![0x00, 0x80]);
        assert_eq!(decimal_bytes(-1), vec![0xFF]);
        assert_eq!(decimal_bytes(-129), vec![0xFF, 0x7F]);
        for v in [0i128, 1, -1, 127, 128, -128, -129, 123456789012345678, i128::from(i64::MIN)] {
            assert_eq!(bytes_decimal(&decimal_bytes(v)).unwrap(), v);
        }
    }

    #[test]
    fn every_type_round_trips() {
        let mut json = crate::json::JsonDecoder::new(table(), &opts(&[])).unwrap();
        json.decode(br#"{"id": 7, "name": "x", "price": 12.34, "day": "2024-02-29", "ts": "2024-01-01 10:00:00.123", "tags": ["a", null], "attrs": {"k": 1, "n": null}, "addr": {"city": "Oslo", "zip": null}, "small": -3}"#).unwrap();
        json.decode(br#"{"id": 8}"#).unwrap();
        let rows = json.flush().unwrap();
        assert_eq!(rows.num_rows(), 2);
        let mut out = Vec::new();
        AvroEncoder::new(table(), &opts(&[])).unwrap().encode(&rows, &mut out).unwrap();
        let mut d = AvroDecoder::new(table(), &opts(&[])).unwrap();
        for r in &out {
            d.decode(r).unwrap();
        }
        assert_eq!(d.flush().unwrap(), rows);
    }
}
