//! Flink's `raw` format: a record is the bytes of one value of the table's single physical
//! column — a string (`raw.charset`, UTF-8), bytes, or a number / boolean in the fixed-width
//! binary layout of `raw.endianness` (big-endian by default), as Flink's raw format writes
//! it. A null message (a Kafka tombstone) is a row with a null value.

use arrow::array::{Array, ArrayBuilder, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, Int8Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef};
use rask_types::options::{OptionKind, OptionSpec, Options};

use crate::error::FormatError;
use crate::{RecordDecoder, RecordEncoder};

pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("raw.charset", OptionKind::String, "the charset of string values (UTF-8 only)").default("UTF-8"),
        OptionSpec::new("raw.endianness", OptionKind::Enum(&["big-endian", "little-endian"]), "byte order of numeric values").default("big-endian"),
    ]
}

struct Layout {
    big_endian: bool,
    dt: DataType,
}

fn layout(schema: &SchemaRef, options: &Options) -> Result<Layout, FormatError> {
    if schema.fields().len() != 1 {
        return Err(FormatError::Unsupported(format!(
            "the 'raw' format only supports a single physical column, but the table has {}",
            schema.fields().len()
        )));
    }
    let charset = options.string("raw.charset", "UTF-8");
    if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("UTF8") {
        return Err(FormatError::Unsupported(format!("unsupported 'raw.charset' = '{charset}' (Rask reads and writes UTF-8)")));
    }
    let dt = schema.field(0).data_type().clone();
    match dt {
        DataType::Utf8 | DataType::Binary | DataType::Boolean | DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64 => {}
        other => return Err(FormatError::Unsupported(format!("the 'raw' format does not support column type {other}"))),
    }
    Ok(Layout { big_endian: !options.string("raw.endianness", "big-endian").eq_ignore_ascii_case("little-endian"), dt })
}

pub struct RawDecoder {
    schema: SchemaRef,
    layout: Layout,
    builder: Box<dyn ArrayBuilder>,
}

impl RawDecoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<RawDecoder, FormatError> {
        let layout = layout(&schema, options)?;
        let builder = arrow::array::make_builder(&layout.dt, 1024);
        Ok(RawDecoder { schema, layout, builder })
    }

    fn fixed<const N: usize>(&self, record: &[u8]) -> Result<[u8; N], FormatError> {
        let mut a: [u8; N] = record.try_into().map_err(|_| {
            FormatError::Malformed(format!("a raw {} value has {N} bytes, the record has {}", self.layout.dt, record.len()))
        })?;
        if self.layout.big_endian {
            a.reverse(); // to little-endian, read below with from_le_bytes
        }
        Ok(a)
    }
}

macro_rules! push {
    ($self:ident, $b:ty, $v:expr) => {
        match $self.builder.as_any_mut().downcast_mut::<$b>() {
            Some(b) => b.append_option($v),
            None => return Err(FormatError::Internal("raw builder type".into())),
        }
    };
}

/// A fixed-width number: its bytes in the configured order, appended to its builder.
macro_rules! number {
    ($self:ident, $record:ident, $t:ty, $b:ty) => {{
        let v = $record.map(|r| $self.fixed::<{ std::mem::size_of::<$t>() }>(r).map(<$t>::from_le_bytes)).transpose()?;
        push!($self, $b, v)
    }};
}

impl RawDecoder {
    fn push(&mut self, record: Option<&[u8]>) -> Result<(), FormatError> {
        match self.layout.dt {
            DataType::Utf8 => {
                let v = record.map(|r| std::str::from_utf8(r).map_err(|e| FormatError::Malformed(format!("a raw STRING value is not UTF-8: {e}")))).transpose()?;
                push!(self, StringBuilder, v)
            }
            DataType::Binary => push!(self, BinaryBuilder, record),
            DataType::Boolean => {
                let v = record.map(|r| self.fixed::<1>(r).map(|a| a[0] != 0)).transpose()?;
                push!(self, BooleanBuilder, v)
            }
            DataType::Int8 => number!(self, record, i8, Int8Builder),
            DataType::Int16 => number!(self, record, i16, Int16Builder),
            DataType::Int32 => number!(self, record, i32, Int32Builder),
            DataType::Int64 => number!(self, record, i64, Int64Builder),
            DataType::Float32 => number!(self, record, f32, Float32Builder),
            DataType::Float64 => number!(self, record, f64, Float64Builder),
            _ => return Err(FormatError::Internal("raw type".into())),
        }
        Ok(())
    }
}

impl RecordDecoder for RawDecoder {
    fn decode(&mut self, record: &[u8]) -> Result<bool, FormatError> {
        self.push(Some(record)).map(|_| true)
    }

    fn decode_null(&mut self) -> Result<bool, FormatError> {
        self.push(None).map(|_| true)
    }

    fn buffered(&self) -> usize {
        self.builder.len()
    }

    fn flush(&mut self) -> Result<RecordBatch, FormatError> {
        let col: ArrayRef = self.builder.finish();
        RecordBatch::try_new(self.schema.clone(), vec![col]).map_err(|e| FormatError::Internal(e.to_string()))
    }
}

pub struct RawEncoder {
    layout: Layout,
}

impl RawEncoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<RawEncoder, FormatError> {
        Ok(RawEncoder { layout: layout(&schema, options)? })
    }
}

impl RecordEncoder for RawEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        let c = batch.column(0);
        let be = self.layout.big_endian;
        fn order(mut v: Vec<u8>, be: bool) -> Vec<u8> {
            if be {
                v.reverse();
            }
            v
        }
        for i in 0..c.len() {
            // A null value is an empty record (Rask's sinks have no null message yet).
            if c.is_null(i) {
                out.push(Vec::new());
                continue;
            }
            out.push(match c.data_type() {
                DataType::Utf8 => c.as_string::<i32>().value(i).as_bytes().to_vec(),
                DataType::Binary => c.as_binary::<i32>().value(i).to_vec(),
                DataType::Boolean => vec![u8::from(c.as_boolean().value(i))],
                DataType::Int8 => order(c.as_primitive::<Int8Type>().value(i).to_le_bytes().to_vec(), be),
                DataType::Int16 => order(c.as_primitive::<Int16Type>().value(i).to_le_bytes().to_vec(), be),
                DataType::Int32 => order(c.as_primitive::<Int32Type>().value(i).to_le_bytes().to_vec(), be),
                DataType::Int64 => order(c.as_primitive::<Int64Type>().value(i).to_le_bytes().to_vec(), be),
                DataType::Float32 => order(c.as_primitive::<Float32Type>().value(i).to_le_bytes().to_vec(), be),
                DataType::Float64 => order(c.as_primitive::<Float64Type>().value(i).to_le_bytes().to_vec(), be),
                other => return Err(FormatError::Internal(format!("raw type {other}"))),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn schema(dt: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("v", dt, true)]))
    }

    #[test]
    fn round_trips_strings_and_big_endian_numbers() {
        let none = Options::default();
        let mut d = RawDecoder::new(schema(DataType::Utf8), &none).unwrap();
        d.decode(b"hello").unwrap();
        d.decode_null().unwrap();
        d.decode(b"").unwrap();
        let b = d.flush().unwrap();
        let s = b.column(0).as_string::<i32>();
        assert_eq!((s.value(0), s.is_null(1), s.value(2)), ("hello", true, ""));
        let mut out = Vec::new();
        RawEncoder::new(schema(DataType::Utf8), &none).unwrap().encode(&b, &mut out).unwrap();
        assert_eq!(out, vec![b"hello".to_vec(), vec![], vec![]]);

        let mut d = RawDecoder::new(schema(DataType::Int32), &none).unwrap();
        d.decode(&[0, 0, 1, 2]).unwrap();
        assert_eq!(d.flush().unwrap().column(0).as_primitive::<Int32Type>().value(0), 258);
        let le = Options::new([("raw.endianness".to_string(), "little-endian".to_string())].into_iter().collect());
        let mut d = RawDecoder::new(schema(DataType::Int32), &le).unwrap();
        d.decode(&[2, 1, 0, 0]).unwrap();
        assert_eq!(d.flush().unwrap().column(0).as_primitive::<Int32Type>().value(0), 258);
        let e = d.decode(&[1, 2, 3]).unwrap_err();
        assert!(e.to_string().contains("has 4 bytes, the record has 3"), "{e}");
        let two = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Utf8, true)]));
        assert!(RawDecoder::new(two, &none).err().unwrap().to_string().contains("single physical column"));
    }
}
