//! Growable Arrow columns that can roll back a partly decoded row.
//!
//! Arrow's builders cannot truncate, but a decoder that fails half-way through a record must
//! drop the fields it already appended. These columns keep plain vectors (values, validity,
//! offsets) that can be truncated, and turn them into Arrow arrays on `finish`.

use arrow::array::{ArrayData, ArrayRef, make_array};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow::datatypes::{DataType, TimeUnit};

use crate::error::FormatError;

/// The value storage of one column.
pub(crate) enum Data {
    Null,
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    /// Int32, Date32, Time32.
    I32(Vec<i32>),
    /// Int64, Time64, Timestamp.
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Decimal128 unscaled values.
    I128(Vec<i128>),
    /// Utf8 and Binary: `offsets` has one more entry than rows.
    Bytes { offsets: Vec<i32>, data: Vec<u8> },
    List { offsets: Vec<i32>, child: Box<Column> },
    Map { offsets: Vec<i32>, keys: Box<Column>, values: Box<Column> },
    Struct(Vec<Column>),
}

/// One growable column of a given Arrow type.
pub(crate) struct Column {
    pub dt: DataType,
    pub valid: Vec<bool>,
    pub data: Data,
}

impl Column {
    /// A column for `dt`, or `Unsupported` for types the formats cannot carry.
    pub fn new(dt: &DataType) -> Result<Column, FormatError> {
        let data = match dt {
            DataType::Null => Data::Null,
            DataType::Boolean => Data::Bool(Vec::new()),
            DataType::Int8 => Data::I8(Vec::new()),
            DataType::Int16 => Data::I16(Vec::new()),
            DataType::Int32 | DataType::Date32 | DataType::Time32(TimeUnit::Millisecond | TimeUnit::Second) => {
                Data::I32(Vec::new())
            }
            DataType::Int64
            | DataType::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond)
            | DataType::Timestamp(_, _) => Data::I64(Vec::new()),
            DataType::Float32 => Data::F32(Vec::new()),
            DataType::Float64 => Data::F64(Vec::new()),
            DataType::Decimal128(p, _) if *p >= 1 && *p <= 38 => Data::I128(Vec::new()),
            DataType::Utf8 | DataType::Binary => Data::Bytes { offsets: vec![0], data: Vec::new() },
            DataType::List(f) => Data::List { offsets: vec![0], child: Box::new(Column::new(f.data_type())?) },
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => Data::Map {
                    offsets: vec![0],
                    keys: Box::new(Column::new(kv[0].data_type())?),
                    values: Box::new(Column::new(kv[1].data_type())?),
                },
                other => return Err(FormatError::Unsupported(format!("unsupported map entry type {other}"))),
            },
            DataType::Struct(fields) => {
                Data::Struct(fields.iter().map(|f| Column::new(f.data_type())).collect::<Result<_, _>>()?)
            }
            other => {
                return Err(FormatError::Unsupported(format!("the json/csv formats do not support type {other}")));
            }
        };
        Ok(Column { dt: dt.clone(), valid: Vec::new(), data })
    }

    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Append a NULL.
    pub fn push_null(&mut self) {
        self.valid.push(false);
        match &mut self.data {
            Data::Null => {}
            Data::Bool(v) => v.push(false),
            Data::I8(v) => v.push(0),
            Data::I16(v) => v.push(0),
            Data::I32(v) => v.push(0),
            Data::I64(v) => v.push(0),
            Data::F32(v) => v.push(0.0),
            Data::F64(v) => v.push(0.0),
            Data::I128(v) => v.push(0),
            Data::Bytes { offsets, data } => offsets.push(data.len() as i32),
            Data::List { offsets, child } => offsets.push(child.len() as i32),
            Data::Map { offsets, keys, .. } => offsets.push(keys.len() as i32),
            Data::Struct(children) => children.iter_mut().for_each(|c| c.push_null()),
        }
    }

    /// Append a string or byte value (Utf8/Binary columns).
    pub fn push_bytes(&mut self, b: &[u8]) {
        if let Data::Bytes { offsets, data } = &mut self.data {
            data.extend_from_slice(b);
            offsets.push(data.len() as i32);
            self.valid.push(true);
        }
    }

    /// Close a list/map row whose elements were appended to the child column(s).
    pub fn close_nested(&mut self) {
        match &mut self.data {
            Data::List { offsets, child } => offsets.push(child.len() as i32),
            Data::Map { offsets, keys, .. } => offsets.push(keys.len() as i32),
            _ => {}
        }
        self.valid.push(true);
    }

    /// Drop rows from `n` on (also any dangling child values of an unfinished row).
    pub fn truncate(&mut self, n: usize) {
        if n > self.valid.len() {
            return;
        }
        self.valid.truncate(n);
        match &mut self.data {
            Data::Null => {}
            Data::Bool(v) => v.truncate(n),
            Data::I8(v) => v.truncate(n),
            Data::I16(v) => v.truncate(n),
            Data::I32(v) => v.truncate(n),
            Data::I64(v) => v.truncate(n),
            Data::F32(v) => v.truncate(n),
            Data::F64(v) => v.truncate(n),
            Data::I128(v) => v.truncate(n),
            Data::Bytes { offsets, data } => {
                offsets.truncate(n + 1);
                data.truncate(offsets[n] as usize);
            }
            Data::List { offsets, child } => {
                offsets.truncate(n + 1);
                child.truncate(offsets[n] as usize);
            }
            Data::Map { offsets, keys, values } => {
                offsets.truncate(n + 1);
                keys.truncate(offsets[n] as usize);
                values.truncate(offsets[n] as usize);
            }
            Data::Struct(children) => children.iter_mut().for_each(|c| c.truncate(n)),
        }
    }

    /// Take the rows as an Arrow array and start empty again.
    pub fn finish(&mut self) -> Result<ArrayRef, FormatError> {
        Ok(make_array(self.finish_data()?))
    }

    fn finish_data(&mut self) -> Result<ArrayData, FormatError> {
        let len = self.valid.len();
        let valid = std::mem::take(&mut self.valid);
        let nulls = if valid.iter().all(|v| *v) || matches!(self.data, Data::Null) {
            None
        } else {
            Some(NullBuffer::new(BooleanBuffer::from(valid.as_slice())))
        };
        let mut b = ArrayData::builder(self.dt.clone()).len(len).nulls(nulls);
        b = match &mut self.data {
            Data::Null => b,
            Data::Bool(v) => b.add_buffer(BooleanBuffer::from(std::mem::take(v).as_slice()).into_inner()),
            Data::I8(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::I16(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::I32(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::I64(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::F32(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::F64(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::I128(v) => b.add_buffer(Buffer::from_vec(std::mem::take(v))),
            Data::Bytes { offsets, data } => {
                let o = std::mem::replace(offsets, vec![0]);
                b.add_buffer(Buffer::from_vec(o)).add_buffer(Buffer::from_vec(std::mem::take(data)))
            }
            Data::List { offsets, child } => {
                let o = std::mem::replace(offsets, vec![0]);
                b.add_buffer(Buffer::from_vec(o)).child_data(vec![child.finish_data()?])
            }
            Data::Map { offsets, keys, values } => {
                let o = std::mem::replace(offsets, vec![0]);
                let DataType::Map(entries, _) = &self.dt else {
                    return Err(FormatError::Internal("map column without map type".into()));
                };
                let n = keys.len();
                let entries = ArrayData::builder(entries.data_type().clone())
                    .len(n)
                    .child_data(vec![keys.finish_data()?, values.finish_data()?])
                    .build()
                    .map_err(|e| FormatError::Internal(format!("building map entries: {e}")))?;
                b.add_buffer(Buffer::from_vec(o)).child_data(vec![entries])
            }
            Data::Struct(children) => {
                b.child_data(children.iter_mut().map(|c| c.finish_data()).collect::<Result<_, _>>()?)
            }
        };
        b.build().map_err(|e| FormatError::Internal(format!("building {} column: {e}", self.dt)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Int32Type};
    use std::sync::Arc;

    #[test]
    fn truncate_rolls_back_nested_rows() {
        let dt = DataType::List(Arc::new(Field::new("element", DataType::Int32, true)));
        let mut c = Column::new(&dt).unwrap();
        let Data::List { child, .. } = &mut c.data else { panic!() };
        if let Data::I32(v) = &mut child.data {
            v.push(1);
        }
        child.valid.push(true);
        c.close_nested();
        // A second row that fails half-way: one element appended, row never closed.
        let Data::List { child, .. } = &mut c.data else { panic!() };
        if let Data::I32(v) = &mut child.data {
            v.push(2);
        }
        child.valid.push(true);
        c.truncate(1);
        c.push_null();
        let a = c.finish().unwrap();
        let l = a.as_list::<i32>();
        assert_eq!(l.len(), 2);
        assert!(l.is_null(1));
        assert_eq!(l.value(0).as_primitive::<Int32Type>().values().to_vec(), vec![1]);
        assert_eq!(l.values().len(), 1);
    }

    #[test]
    fn strings_and_nulls() {
        let mut c = Column::new(&DataType::Utf8).unwrap();
        c.push_bytes(b"ab");
        c.push_null();
        c.push_bytes(b"c");
        c.truncate(2);
        let a = c.finish().unwrap();
        let s = a.as_string::<i32>();
        assert_eq!(s.len(), 2);
        assert_eq!(s.value(0), "ab");
        assert!(s.is_null(1));
        // Reusable after finish.
        c.push_bytes(b"z");
        assert_eq!(c.finish().unwrap().as_string::<i32>().value(0), "z");
    }
}
