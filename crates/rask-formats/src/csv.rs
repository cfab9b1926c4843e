//! Flink's `csv` format: one CSV line per record, decoded into Arrow columns and encoded back the
//! way Flink 2.x (Jackson's CSV mapper) writes it.
//!
//! Semantics checked against Flink 2.3: an empty field is NOT NULL by itself (it is `""` for
//! STRING, `false` for BOOLEAN, an empty array, empty bytes, and an error for numbers and
//! temporal types); only `csv.null-literal` decodes to NULL. Numbers are trimmed, BOOLEAN is
//! `true` only for `true` (any case), DECIMAL rounds HALF_UP and becomes NULL when too large,
//! DATE accepts `2024-1-2`, TIMESTAMP needs `yyyy-MM-dd HH:mm:ss[.f]` (TIMESTAMP_LTZ with a
//! trailing `Z`). ARRAY and ROW values are split on `csv.array-element-delimiter`. A wrong
//! column count is an error; with `csv.ignore-parse-errors` bad fields become NULL, missing
//! trailing fields become NULL, and records with too many fields or broken quoting are skipped.
//! Writing quotes a text value when it contains a character below
//! `max(delimiter, quote, '\n') + 1` (Jackson's rule, so `2024-01-01 10:00:00` is quoted),
//! numbers and booleans never; DECIMAL is written as `BigDecimal.stripTrailingZeros().toString()`.

use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{self as adt, DataType, SchemaRef, TimeUnit};
use base64::Engine;

use crate::columns::{Column, Data};
use crate::error::FormatError;
use crate::json::{base64_decode, write_temporal};
use crate::values::{self, trim_java};
use crate::{RecordDecoder, RecordEncoder};
use rask_types::options::{OptionKind, OptionSpec, Options};

/// Options of the csv format (Flink's keys).
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("csv.field-delimiter", OptionKind::String, "field delimiter character ('\\t' for tab)").default(","),
        OptionSpec::new("csv.disable-quote-character", OptionKind::Bool, "disable quoting of values").default("false"),
        OptionSpec::new("csv.quote-character", OptionKind::String, "quote character").default("\""),
        OptionSpec::new("csv.allow-comments", OptionKind::Bool, "ignore lines starting with '#'").default("false"),
        OptionSpec::new("csv.ignore-parse-errors", OptionKind::Bool, "skip malformed records; bad fields become NULL").default("false"),
        OptionSpec::new("csv.array-element-delimiter", OptionKind::String, "separator of ARRAY elements and ROW fields").default(";"),
        OptionSpec::new("csv.escape-character", OptionKind::String, "escape character (none by default)"),
        OptionSpec::new("csv.null-literal", OptionKind::String, "text that stands for NULL (none by default)"),
        OptionSpec::new(
            "csv.write-bigdecimal-in-scientific-notation",
            OptionKind::Bool,
            "accepted for compatibility (Flink 2.3 writes DECIMAL the same either way)",
        )
        .default("true"),
    ]
}

/// The parsed csv options.
#[derive(Debug, Clone)]
pub struct CsvConfig {
    pub delimiter: u8,
    pub quote: Option<u8>,
    pub escape: Option<u8>,
    pub allow_comments: bool,
    pub ignore_errors: bool,
    pub array_delimiter: String,
    pub null_literal: Option<String>,
}

fn single_char(options: &Options, key: &str, default: Option<&str>) -> Result<Option<u8>, FormatError> {
    let Some(v) = options.get(key).or(default) else {
        return Ok(None);
    };
    if key == "csv.field-delimiter" && v == "\\t" {
        return Ok(Some(b'\t'));
    }
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() => Ok(Some(c as u8)),
        (Some(c), None) => Err(FormatError::Unsupported(format!(
            "option '{key}': only ASCII characters are supported, got '{c}'"
        ))),
        _ => Err(FormatError::Unsupported(format!(
            "Option '{key}' must be a string with single character, but was: {v}"
        ))),
    }
}

impl CsvConfig {
    pub fn from_options(options: &Options) -> Result<CsvConfig, FormatError> {
        let delimiter = single_char(options, "csv.field-delimiter", Some(","))?.unwrap_or(b',');
        let disable_quote = options.bool("csv.disable-quote-character", false).map_err(FormatError::Unsupported)?;
        if disable_quote && options.get("csv.quote-character").is_some() {
            return Err(FormatError::Unsupported(
                "Format cannot define a quote character and disabled quote character at the same time.".into(),
            ));
        }
        let quote = if disable_quote { None } else { single_char(options, "csv.quote-character", Some("\""))? };
        let escape = single_char(options, "csv.escape-character", None)?;
        let array_delimiter = options.string("csv.array-element-delimiter", ";");
        if array_delimiter.chars().count() != 1 {
            return Err(FormatError::Unsupported(format!(
                "Option 'csv.array-element-delimiter' must be a string with single character, but was: {array_delimiter}"
            )));
        }
        options.bool("csv.write-bigdecimal-in-scientific-notation", true).map_err(FormatError::Unsupported)?;
        Ok(CsvConfig {
            delimiter,
            quote,
            escape,
            allow_comments: options.bool("csv.allow-comments", false).map_err(FormatError::Unsupported)?,
            ignore_errors: options.bool("csv.ignore-parse-errors", false).map_err(FormatError::Unsupported)?,
            array_delimiter,
            null_literal: options.get("csv.null-literal").map(|s| s.to_string()),
        })
    }

    /// Split `data` (several lines) into records, keeping line breaks that are inside quotes.
    /// Returns the records and how many bytes were consumed; an unfinished last record (no
    /// line end yet) is left unconsumed unless `at_eof`.
    pub fn split_records<'a>(&self, data: &'a [u8], at_eof: bool) -> (Vec<&'a [u8]>, usize) {
        let mut out = Vec::new();
        let (mut start, mut i, mut in_q) = (0, 0, false);
        while i < data.len() {
            let c = data[i];
            if Some(c) == self.escape && i + 1 < data.len() {
                i += 2;
                continue;
            }
            if Some(c) == self.quote {
                in_q = !in_q;
            } else if c == b'\n' && !in_q {
                let end = if i > start && data[i - 1] == b'\r' { i - 1 } else { i };
                out.push(&data[start..end]);
                start = i + 1;
            }
            i += 1;
        }
        if at_eof && start < data.len() {
            out.push(&data[start..]);
            start = data.len();
        }
        (out, start)
    }

    /// Split one record into fields: unescaped text goes to `buf`, `spans` get its ranges.
    fn split_fields(&self, rec: &[u8], buf: &mut Vec<u8>, spans: &mut Vec<(usize, usize)>) -> Result<(), String> {
        buf.clear();
        spans.clear();
        let n = rec.len();
        let d = self.delimiter;
        let mut i = 0;
        loop {
            let start = buf.len();
            if self.quote.is_some() && i < n && Some(rec[i]) == self.quote {
                let q = rec[i];
                i += 1;
                loop {
                    if i >= n {
                        return Err(format!("field {}: missing closing quote", spans.len() + 1));
                    }
                    let c = rec[i];
                    if Some(c) == self.escape && c != q {
                        if i + 1 >= n {
                            return Err(format!("field {}: escape character at end of record", spans.len() + 1));
                        }
                        buf.push(rec[i + 1]);
                        i += 2;
                    } else if c == q {
                        if i + 1 < n && rec[i + 1] == q {
                            buf.push(q);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    } else {
                        buf.push(c);
                        i += 1;
                    }
                }
                if i < n && rec[i] != d {
                    let shown = String::from_utf8_lossy(&rec[i..(i + 4).min(n)]).chars().next().unwrap_or('?');
                    return Err(format!(
                        "field {}: unexpected character '{shown}' after closing quote, expected '{}' or end of record",
                        spans.len() + 1,
                        d as char
                    ));
                }
            } else {
                while i < n && rec[i] != d {
                    if Some(rec[i]) == self.escape && i + 1 < n {
                        buf.push(rec[i + 1]);
                        i += 2;
                    } else {
                        buf.push(rec[i]);
                        i += 1;
                    }
                }
            }
            spans.push((start, buf.len()));
            if i >= n {
                break;
            }
            i += 1;
            if i == n {
                spans.push((buf.len(), buf.len()));
                break;
            }
        }
        Ok(())
    }
}

/// Decodes CSV records (one line each) into batches of the schema.
pub struct CsvDecoder {
    schema: SchemaRef,
    cfg: CsvConfig,
    cols: Vec<Column>,
    rows: usize,
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

fn check_csv_type(dt: &DataType) -> Result<(), FormatError> {
    match dt {
        DataType::Map(_, _) => Err(FormatError::Unsupported(
            "the csv format does not support MAP columns (use json)".into(),
        )),
        DataType::List(f) => match f.data_type() {
            DataType::List(_) | DataType::Map(_, _) | DataType::Struct(_) => Err(FormatError::Unsupported(format!(
                "the csv format supports ARRAY of scalar types only, got ARRAY of {}",
                f.data_type()
            ))),
            other => check_csv_type(other),
        },
        DataType::Struct(fs) => fs.iter().try_for_each(|f| match f.data_type() {
            DataType::List(_) | DataType::Map(_, _) | DataType::Struct(_) => Err(FormatError::Unsupported(
                "the csv format supports ROW of scalar types only".into(),
            )),
            other => check_csv_type(other),
        }),
        _ => Column::new(dt).map(|_| ()),
    }
}

impl CsvDecoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<CsvDecoder, FormatError> {
        let cfg = CsvConfig::from_options(options)?;
        for f in schema.fields() {
            check_csv_type(f.data_type())?;
        }
        let cols = schema.fields().iter().map(|f| Column::new(f.data_type())).collect::<Result<_, _>>()?;
        Ok(CsvDecoder { schema, cfg, cols, rows: 0, buf: Vec::new(), spans: Vec::new() })
    }

    /// The parsed options (e.g. to split a file into records with [`CsvConfig::split_records`]).
    pub fn config(&self) -> &CsvConfig {
        &self.cfg
    }
}

/// Convert one text value into `col`; errors name the field.
fn convert_text(cfg: &CsvConfig, col: &mut Column, text: &str, name: &str) -> Result<(), String> {
    // ARRAY/ROW values are split first, so a null literal there is a NULL element/field
    // (Flink: `N` -> `[null]` / `+I[null, null]`).
    let nested = matches!(col.data, Data::List { .. } | Data::Struct(_));
    if !nested && cfg.null_literal.as_deref() == Some(text) {
        col.push_null();
        return Ok(());
    }
    let before = col.len();
    match convert_inner(cfg, col, text, name) {
        Ok(()) => Ok(()),
        Err(_) if cfg.ignore_errors => {
            col.truncate(before);
            col.push_null();
            Ok(())
        }
        Err(e) => {
            col.truncate(before);
            Err(e)
        }
    }
}

fn show(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    format!("{:?}{}", short, if text.chars().count() > 40 { "..." } else { "" })
}

fn convert_inner(cfg: &CsvConfig, col: &mut Column, text: &str, name: &str) -> Result<(), String> {
    let dt = col.dt.clone();
    let bad = |what: &str| format!("field '{name}': expected {what}, got {}", show(text));
    let int = |min: i64, max: i64| -> Result<i64, String> {
        match values::parse_java_long(trim_java(text)) {
            Some(v) if v >= min && v <= max => Ok(v),
            Some(_) => Err(format!("field '{name}': value {} is out of range", show(text))),
            None => Err(bad("an integer")),
        }
    };
    match &mut col.data {
        Data::Null => col.valid.push(false),
        Data::Bool(v) => {
            v.push(trim_java(text).eq_ignore_ascii_case("true"));
            col.valid.push(true);
        }
        Data::I8(v) => {
            v.push(int(i8::MIN as i64, i8::MAX as i64)? as i8);
            col.valid.push(true);
        }
        Data::I16(v) => {
            v.push(int(i16::MIN as i64, i16::MAX as i64)? as i16);
            col.valid.push(true);
        }
        Data::I32(v) => {
            let x = match &dt {
                DataType::Int32 => int(i32::MIN as i64, i32::MAX as i64)? as i32,
                DataType::Date32 => values::parse_lenient_date(text).ok_or_else(|| bad("a date like 2024-01-31"))?,
                // TIME(0) keeps whole seconds (Flink truncates), TIME(1..3) milliseconds.
                DataType::Time32(TimeUnit::Second) => (values::parse_time(text, false).ok_or_else(|| bad("a time like 10:30:00"))? / 1_000_000_000) as i32,
                _ => (values::parse_time(text, false).ok_or_else(|| bad("a time like 10:30:00"))? / 1_000_000) as i32,
            };
            v.push(x);
            col.valid.push(true);
        }
        Data::I64(v) => {
            let x = match &dt {
                DataType::Int64 => int(i64::MIN, i64::MAX)?,
                DataType::Time64(u) => {
                    let ms = values::parse_time(text, false).ok_or_else(|| bad("a time like 10:30:00"))? / 1_000_000;
                    if *u == TimeUnit::Microsecond { ms * 1_000 } else { ms * 1_000_000 }
                }
                DataType::Timestamp(u, tz) => {
                    let example = if tz.is_some() { "2024-01-01 10:00:00.123Z" } else { "2024-01-01 10:00:00.123" };
                    values::parse_timestamp(trim_java(text), b' ', true, tz.is_some())
                        .and_then(|n| values::nanos_to_unit(n, u))
                        .ok_or_else(|| bad(&format!("a timestamp like {example}")))?
                }
                _ => return Err(format!("field '{name}': unsupported type {dt}")),
            };
            v.push(x);
            col.valid.push(true);
        }
        Data::F32(v) => {
            v.push(values::parse_java_float(text).ok_or_else(|| bad("a number"))?);
            col.valid.push(true);
        }
        Data::F64(v) => {
            v.push(values::parse_java_double(text).ok_or_else(|| bad("a number"))?);
            col.valid.push(true);
        }
        Data::I128(v) => {
            let DataType::Decimal128(p, s) = dt else {
                return Err(format!("field '{name}': not a decimal column"));
            };
            match values::parse_decimal(text, p, s) {
                Ok(Some(x)) => {
                    v.push(x);
                    col.valid.push(true);
                }
                Ok(None) => col.push_null(),
                Err(()) => return Err(bad("a number")),
            }
        }
        Data::Bytes { .. } => {
            if dt == DataType::Utf8 {
                col.push_bytes(text.as_bytes());
            } else {
                let b = base64_decode(text).ok_or_else(|| bad("a base64 string"))?;
                col.push_bytes(&b);
            }
        }
        Data::List { child, .. } => {
            // Flink reads an empty or blank value as an empty array.
            if !trim_java(text).is_empty() {
                for elem in text.split(cfg.array_delimiter.as_str()) {
                    // Name the element in the message only when there is one (no per-row allocation).
                    convert_text(cfg, child, elem, name)
                        .map_err(|e| e.replacen(&format!("field '{name}'"), &format!("field '{name}[]'"), 1))?;
                }
            }
            col.close_nested();
        }
        Data::Struct(children) => {
            let parts: Vec<&str> = text.split(cfg.array_delimiter.as_str()).collect();
            if parts.len() != children.len() && !cfg.ignore_errors {
                return Err(format!(
                    "field '{name}': row length mismatch, {} fields expected but was {}",
                    children.len(),
                    parts.len()
                ));
            }
            let DataType::Struct(fields) = &dt else {
                return Err(format!("field '{name}': not a row column"));
            };
            for (k, child) in children.iter_mut().enumerate() {
                match parts.get(k) {
                    Some(t) => convert_text(cfg, child, t, &format!("{name}.{}", fields[k].name()))?,
                    None => child.push_null(),
                }
            }
            col.valid.push(true);
        }
        Data::Map { .. } => return Err(format!("field '{name}': MAP is not supported by the csv format")),
    }
    Ok(())
}

impl CsvDecoder {
    fn decode_row(&mut self, rec: &[u8]) -> Result<bool, String> {
        self.cfg.split_fields(rec, &mut self.buf, &mut self.spans)?;
        let ncols = self.cols.len();
        let nf = self.spans.len();
        // With ignore-parse-errors missing trailing fields become NULL; extra fields still fail.
        if nf != ncols && (!self.cfg.ignore_errors || nf > ncols) {
            return Err(format!("row length mismatch: {ncols} fields expected but was {nf}"));
        }
        for (k, col) in self.cols.iter_mut().enumerate() {
            let f = &self.schema.fields()[k];
            match self.spans.get(k) {
                Some(&(s, e)) => {
                    let text = std::str::from_utf8(&self.buf[s..e])
                        .map_err(|_| format!("field '{}': not valid UTF-8", f.name()))?;
                    convert_text(&self.cfg, col, text, f.name())?;
                }
                None => col.push_null(),
            }
            if !f.is_nullable() && col.valid.last() == Some(&false) {
                return Err(format!("field '{}': NULL for a NOT NULL column", f.name()));
            }
        }
        Ok(true)
    }
}

impl RecordDecoder for CsvDecoder {
    fn decode(&mut self, record: &[u8]) -> Result<bool, FormatError> {
        let mut rec = record;
        if let Some(r) = rec.strip_suffix(b"\n") {
            rec = r;
        }
        if let Some(r) = rec.strip_suffix(b"\r") {
            rec = r;
        }
        if self.cfg.allow_comments && rec.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'#') {
            return Ok(false);
        }
        match self.decode_row(rec) {
            Ok(b) => {
                self.rows += 1;
                Ok(b)
            }
            Err(m) => {
                for c in &mut self.cols {
                    c.truncate(self.rows);
                }
                if self.cfg.ignore_errors { Ok(false) } else { Err(FormatError::Malformed(m)) }
            }
        }
    }

    fn buffered(&self) -> usize {
        self.rows
    }

    fn flush(&mut self) -> Result<RecordBatch, FormatError> {
        let arrays = self.cols.iter_mut().map(|c| c.finish()).collect::<Result<Vec<_>, _>>()?;
        let n = std::mem::take(&mut self.rows);
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &RecordBatchOptions::new().with_row_count(Some(n)))
            .map_err(|e| FormatError::Internal(format!("building csv batch: {e}")))
    }
}

/// Encodes batches as CSV lines the way Flink's csv format writes them.
pub struct CsvEncoder {
    schema: SchemaRef,
    cfg: CsvConfig,
    /// Characters below this are quoted (Jackson's `max(separator, quote, '\n') + 1`).
    min_safe: u32,
}

impl CsvEncoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<CsvEncoder, FormatError> {
        let cfg = CsvConfig::from_options(options)?;
        for f in schema.fields() {
            check_csv_type(f.data_type())?;
        }
        let min_safe = (cfg.delimiter as u32).max(cfg.quote.map(|q| q as u32).unwrap_or(0)).max(b'\n' as u32) + 1;
        Ok(CsvEncoder { schema, cfg, min_safe })
    }

    /// The text of a non-null value; `true` when it is a number/boolean (never quoted).
    fn value_text(&self, out: &mut String, a: &ArrayRef, i: usize) -> bool {
        match a.data_type() {
            DataType::Boolean => out.push_str(if a.as_boolean().value(i) { "true" } else { "false" }),
            DataType::Int8 => push_display(out, a.as_primitive::<adt::Int8Type>().value(i)),
            DataType::Int16 => push_display(out, a.as_primitive::<adt::Int16Type>().value(i)),
            DataType::Int32 => push_display(out, a.as_primitive::<adt::Int32Type>().value(i)),
            DataType::Int64 => push_display(out, a.as_primitive::<adt::Int64Type>().value(i)),
            DataType::Float32 => out.push_str(&rask_types::value_fmt::java_float(a.as_primitive::<adt::Float32Type>().value(i))),
            DataType::Float64 => out.push_str(&rask_types::value_fmt::java_double(a.as_primitive::<adt::Float64Type>().value(i))),
            DataType::Decimal128(_, s) => {
                out.push_str(&values::format_decimal_stripped(a.as_primitive::<adt::Decimal128Type>().value(i), *s))
            }
            DataType::Utf8 => {
                out.push_str(a.as_string::<i32>().value(i));
                return false;
            }
            DataType::Binary => {
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(a.as_binary::<i32>().value(i)));
                return false;
            }
            dt @ (DataType::Date32 | DataType::Time32(_) | DataType::Time64(_) | DataType::Timestamp(_, _)) => {
                write_temporal(out, a, i, dt, ' ');
                return false;
            }
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                let (s, e) = (l.value_offsets()[i] as usize, l.value_offsets()[i + 1] as usize);
                for j in s..e {
                    if j > s {
                        out.push_str(&self.cfg.array_delimiter);
                    }
                    self.element_text(out, l.values(), j);
                }
                return false;
            }
            DataType::Struct(_) => {
                let st = a.as_struct();
                for (k, c) in st.columns().iter().enumerate() {
                    if k > 0 {
                        out.push_str(&self.cfg.array_delimiter);
                    }
                    self.element_text(out, c, i);
                }
                return false;
            }
            _ => return false,
        }
        true
    }

    fn element_text(&self, out: &mut String, a: &ArrayRef, i: usize) {
        if a.is_null(i) {
            if let Some(n) = &self.cfg.null_literal {
                out.push_str(n);
            }
        } else {
            self.value_text(out, a, i);
        }
    }

    fn write_field(&self, line: &mut String, tmp: &mut String, a: &ArrayRef, i: usize) {
        if a.is_null(i) {
            if let Some(n) = &self.cfg.null_literal {
                self.write_quoted_if_needed(line, n);
            }
            return;
        }
        tmp.clear();
        if self.value_text(tmp, a, i) {
            line.push_str(tmp);
        } else {
            self.write_quoted_if_needed(line, tmp);
        }
    }

    fn write_quoted_if_needed(&self, line: &mut String, text: &str) {
        let Some(q) = self.cfg.quote else {
            line.push_str(text);
            return;
        };
        let (q, esc) = (q as char, self.cfg.escape.map(|e| e as char));
        let needs = if q.is_ascii() && esc.is_none_or(|e| e.is_ascii()) && self.min_safe <= 0x80 {
            // Every character to look for is ASCII: so is every byte of it in UTF-8.
            let (qb, eb) = (q as u8, esc.map(|e| e as u8));
            text.bytes().any(|b| u32::from(b) < self.min_safe || b == qb || Some(b) == eb)
        } else {
            text.chars().any(|c| (c as u32) < self.min_safe || c == q || Some(c) == esc)
        };
        if !needs {
            line.push_str(text);
            return;
        }
        line.push(q);
        for c in text.chars() {
            if c == q || Some(c) == esc {
                line.push(c);
            }
            line.push(c);
        }
        line.push(q);
    }
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

impl RecordEncoder for CsvEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(FormatError::Internal(format!(
                "csv encoder: batch has {} columns, schema has {}",
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        let d = self.cfg.delimiter as char;
        let mut line = String::with_capacity(128);
        let mut tmp = String::new();
        for i in 0..batch.num_rows() {
            line.clear();
            for (k, c) in batch.columns().iter().enumerate() {
                if k > 0 {
                    line.push(d);
                }
                self.write_field(&mut line, &mut tmp, c, i);
            }
            out.push(line.as_bytes().to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::json::JsonDecoder;
    use crate::testutil::{Lcg, arr, opts, row, rows, schema};
    use rask_types::FlinkType as T;

    fn decode_all(s: SchemaRef, o: &[(&str, &str)], lines: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut d = CsvDecoder::new(s, &opts(o)).unwrap();
        let mut errs = Vec::new();
        for l in lines {
            if let Err(e) = d.decode(l.as_bytes()) {
                errs.push(e.to_string());
            }
        }
        (rows(&d.flush().unwrap()), errs)
    }

    fn kv(t: T) -> SchemaRef {
        schema(&[("k", T::Int), ("v", t)])
    }

    #[test]
    fn empty_fields_are_not_null() {
        // Flink 2.3, columns (k INT, v <type>), csv.null-literal='NUL', lines `1,` / `2,""` / `3,NUL` / `4, `.
        let ok: &[(T, [&str; 4])] = &[
            (T::String, ["+I[1, ]", "+I[2, ]", "+I[3, null]", "+I[4,  ]"]),
            (T::Boolean, ["+I[1, false]", "+I[2, false]", "+I[3, null]", "+I[4, false]"]),
            (T::Bytes, ["+I[1, []]", "+I[2, []]", "+I[3, null]", "+I[4, []]"]),
            (arr(T::Int), ["+I[1, []]", "+I[2, []]", "+I[3, [null]]", "+I[4, []]"]),
            (arr(T::String), ["+I[1, []]", "+I[2, []]", "+I[3, [null]]", "+I[4, []]"]),
        ];
        let lines = ["1,", "2,\"\"", "3,NUL", "4, "];
        for (t, want) in ok {
            let (got, errs) = decode_all(kv(t.clone()), &[("csv.null-literal", "NUL")], &lines);
            assert_eq!(got, want.to_vec(), "{t}: {errs:?}");
        }
        // Every one of these failed the Flink job on `1,`, `2,""` and `4, ` but read NULL for `3,NUL`.
        for t in [T::Int, T::BigInt, T::TinyInt, T::Float, T::Double, T::Decimal(10, 2), T::Date, T::Time(0), T::Timestamp(3), T::TimestampLtz(3)] {
            let (got, errs) = decode_all(kv(t.clone()), &[("csv.null-literal", "NUL")], &lines);
            assert_eq!(got, vec!["+I[3, null]"], "{t}");
            assert_eq!(errs.len(), 3, "{t}: {errs:?}");
            assert!(errs[0].starts_with("field 'v': expected"), "{t}: {}", errs[0]);
        }
    }

    fn wide() -> SchemaRef {
        schema(&[
            ("id", T::Int),
            ("name", T::String),
            ("ts", T::Timestamp(3)),
            ("d", T::Decimal(10, 2)),
            ("b", T::Boolean),
            ("f", T::Float),
            ("arr", arr(T::Int)),
            ("dt", T::Date),
            ("tm", T::Time(0)),
            ("ltz", T::TimestampLtz(3)),
        ])
    }

    #[test]
    fn decodes_like_flink() {
        // Lines read by Flink 2.3 with csv.null-literal='N' and the rows it printed.
        let cases = [
            ("3,a,N,12.345,N,N,N,N,N,N", "+I[3, a, null, 12.35, null, null, [null], null, null, null]"),
            ("4,a,N,123456789012,N,N,N,N,N,N", "+I[4, a, null, null, null, null, [null], null, null, null]"),
            ("5,a,N,N,N,N,N,2024-1-2,N,N", "+I[5, a, null, null, null, null, [null], 2024-01-02, null, null]"),
            ("8,a,N,N,N,N,N,N,N,2024-01-01 10:00:00Z", "+I[8, a, null, null, null, null, [null], null, null, 2024-01-01T10:00:00Z]"),
            ("+10,a,N,N, TRUE ,N,N,N,N,N", "+I[10, a, null, null, true, null, [null], null, null, null]"),
            ("14, 2 ,N,N,N, -0 ,1; 2,N,N,N", "+I[14,  2 , null, null, null, -0.0, [1, 2], null, null, null]"),
            ("15,a,2024-01-01 10:00:00.1235,N,yes,NaN,N;1,N,N,N", "+I[15, a, 2024-01-01T10:00:00.123, null, false, NaN, [null, 1], null, null, null]"),
            ("11,a\"b,N,N,N,1e3,N,N,N,N", "+I[11, a\"b, null, null, null, 1000.0, [null], null, null, null]"),
            ("\"6\",\"x\",\"2024-01-01 10:00:00.1\",N,N,N,N,N,10:11,N", "+I[6, x, 2024-01-01T10:00:00.100, null, null, null, [null], null, 10:11, null]"),
        ];
        for (line, want) in cases {
            let (got, errs) = decode_all(wide(), &[("csv.null-literal", "N")], &[line]);
            assert!(errs.is_empty(), "{line}: {errs:?}");
            assert_eq!(got, vec![want], "{line}");
        }
    }

    #[test]
    fn malformed_records_fail_like_flink() {
        let cases = [
            ("1,a,2024-01-01 10:00,N,N,N,N,N,N,N", "field 'ts': expected a timestamp like 2024-01-01 10:00:00.123, got \"2024-01-01 10:00\""),
            ("1,a,2024-01-01T10:00:00,N,N,N,N,N,N,N", "field 'ts'"),
            ("6,a,N,N,N,N,N,N,1:2:3,N", "field 'tm'"),
            ("9,a,N,N,N,N,N,N,N,2024-01-01 10:00:00", "field 'ltz'"),
            ("11,a,N,N,N,N,1;x;3,N,N,N", "field 'arr[]': expected an integer, got \"x\""),
            ("12,\"a\"b\",N,N,N,N,N,N,N,N", "field 2: unexpected character 'b' after closing quote"),
            ("13,a\\,b,N,N,N,N,N,N,N,N", "row length mismatch: 10 fields expected but was 11"),
            ("2,c", "row length mismatch: 10 fields expected but was 2"),
            ("abc,b,N,N,N,N,N,N,N,N", "field 'id': expected an integer, got \"abc\""),
            ("1.5,b,N,N,N,N,N,N,N,N", "field 'id'"),
            ("1,a,N,N,N,N,1;2;,N,N,N", "field 'arr[]': expected an integer, got \"\""),
            ("\"unterminated,g,N,N,N,N,N,N,N,N", "missing closing quote"),
            ("", "row length mismatch: 10 fields expected but was 1"),
            ("# comment", "row length mismatch"),
        ];
        for (line, want) in cases {
            let (got, errs) = decode_all(wide(), &[("csv.null-literal", "N")], &["1,a,N,N,N,N,N,N,N,N", line]);
            assert_eq!(got.len(), 1, "{line}");
            assert_eq!(errs.len(), 1, "{line}");
            assert!(errs[0].contains(want), "{line}: {}", errs[0]);
        }
    }

    #[test]
    fn ignore_parse_errors_like_flink() {
        // Flink 2.3 with csv.ignore-parse-errors=true printed exactly these rows (the
        // unterminated quote swallowed the rest of the file there; here records are lines).
        let lines = [
            "1,a,,,,,,,,",
            "abc,b,,,,,,,,",
            "2,c",
            "3,d,,,,,,,,,x",
            "4,e,bad,bad,bad,bad,1;x,bad,bad,bad",
            "5,f,,,,,,,,",
            "\"unterminated,g,,,,,,,,",
        ];
        let mut d = CsvDecoder::new(wide(), &opts(&[("csv.ignore-parse-errors", "true")])).unwrap();
        let ok: Vec<bool> = lines.iter().map(|l| d.decode(l.as_bytes()).unwrap()).collect();
        assert_eq!(ok, vec![true, true, true, false, true, true, false]);
        assert_eq!(
            rows(&d.flush().unwrap()),
            vec![
                "+I[1, a, null, null, false, null, [], null, null, null]",
                "+I[null, b, null, null, false, null, [], null, null, null]",
                "+I[2, c, null, null, null, null, null, null, null, null]",
                "+I[4, e, null, null, false, null, [1, null], null, null, null]",
                "+I[5, f, null, null, false, null, [], null, null, null]",
            ]
        );
    }

    #[test]
    fn quoting_escapes_and_comments() {
        let n = [("csv.null-literal", "N")];
        let (got, _) = decode_all(
            wide(),
            &[n[0], ("csv.allow-comments", "true")],
            &["# comment", "1,a,N,N,N,N,N,N,N,N", "#x,b", "  # sp", "2,b,N,N,N,N,N,N,N,N"],
        );
        assert_eq!(got.len(), 2);
        let (got, _) = decode_all(wide(), &[n[0], ("csv.escape-character", "\\")], &["1,a\\,b,N,N,N,N,N,N,N,N", "2,\"x\\\"y\",N,N,N,N,N,N,N,N"]);
        assert!(got[0].starts_with("+I[1, a,b, null"), "{got:?}");
        assert!(got[1].starts_with("+I[2, x\"y, null"), "{got:?}");
        let (got, _) = decode_all(
            wide(),
            &[n[0], ("csv.quote-character", "'"), ("csv.field-delimiter", "|")],
            &["1|'a|b'|N|N|N|N|N|N|N|N", "2|\"q\"|N|N|N|N|N|N|N|N"],
        );
        assert!(got[0].starts_with("+I[1, a|b, null"), "{got:?}");
        assert!(got[1].starts_with("+I[2, \"q\", null"), "{got:?}");
        let (got, _) = decode_all(wide(), &[n[0], ("csv.disable-quote-character", "true")], &["1,\"a\",N,N,N,N,N,N,N,N"]);
        assert!(got[0].starts_with("+I[1, \"a\", null"), "{got:?}");
        let (got, _) = decode_all(kv(T::String), &[("csv.field-delimiter", "\\t")], &["1\tx,y\r"]);
        assert_eq!(got, vec!["+I[1, x,y]"]);
        // Quoted values are split into array elements too (Flink: "a;b" -> [a, b]).
        let (got, _) = decode_all(kv(arr(T::String)), &[], &["1,\"a;b\""]);
        assert_eq!(got, vec!["+I[1, [a, b]]"]);
    }

    #[test]
    fn nested_rows() {
        let s = kv(row(&[("a", T::Int), ("b", T::String)]));
        // Flink 2.3 with ignore-parse-errors: 5 -> +I[5, null], 5;x;9 -> +I[5, x], N -> +I[null, null].
        let (got, _) = decode_all(s.clone(), &[("csv.null-literal", "N"), ("csv.ignore-parse-errors", "true")], &["1,5", "2,5;x;9", "3,N"]);
        assert_eq!(got, vec!["+I[1, +I[5, null]]", "+I[2, +I[5, x]]", "+I[3, +I[null, null]]"]);
        let (got, errs) = decode_all(s, &[], &["1,5;x", "2,;", "3,5"]);
        assert_eq!(got, vec!["+I[1, +I[5, x]]"]);
        assert!(errs[0].contains("field 'v.a': expected an integer"), "{errs:?}");
        assert!(errs[1].contains("row length mismatch, 2 fields expected but was 1"), "{errs:?}");
    }

    #[test]
    fn options_are_checked_like_flink() {
        let s = kv(T::Int);
        let e = |o: &[(&str, &str)]| CsvDecoder::new(s.clone(), &opts(o)).err().map(|e| e.to_string());
        assert_eq!(
            e(&[("csv.quote-character", "\""), ("csv.disable-quote-character", "true")]).as_deref(),
            Some("Format cannot define a quote character and disabled quote character at the same time.")
        );
        assert_eq!(
            e(&[("csv.field-delimiter", ";;")]).as_deref(),
            Some("Option 'csv.field-delimiter' must be a string with single character, but was: ;;")
        );
        assert_eq!(
            e(&[("csv.escape-character", "\\\\")]).as_deref(),
            Some("Option 'csv.escape-character' must be a string with single character, but was: \\\\")
        );
        assert!(e(&[("csv.array-element-delimiter", "")]).is_some());
        assert!(CsvDecoder::new(kv(T::Map(Box::new(T::String), Box::new(T::Int))), &opts(&[])).is_err());
    }

    fn encode(s: SchemaRef, o: &[(&str, &str)], b: &RecordBatch) -> Vec<String> {
        let mut e = CsvEncoder::new(s, &opts(o)).unwrap();
        let mut out = Vec::new();
        e.encode(b, &mut out).unwrap();
        out.into_iter().map(|v| String::from_utf8(v).unwrap()).collect()
    }

    #[test]
    fn encodes_like_flink() {
        // The json test's rows (decoded from Flink's own json output) written by Flink's csv sink.
        let s = schema(&[
            ("id", T::BigInt),
            ("name", T::String),
            ("ts", T::Timestamp(3)),
            ("d", T::Decimal(10, 2)),
            ("b", T::Boolean),
            ("f", T::Float),
            ("dbl", T::Double),
            ("ti", T::TinyInt),
            ("dt", T::Date),
            ("tm", T::Time(0)),
            ("ltz", T::TimestampLtz(3)),
            ("by", T::Bytes),
            ("arr", arr(T::Int)),
            ("ts6", T::Timestamp(6)),
            ("dd", T::Decimal(20, 10)),
            ("d2", T::Double),
        ]);
        let b = crate::json::tests::flink_batch(s.clone());
        let want = [
            "1,a,\"2024-01-01 10:00:00.123\",12.5,true,1.1,0.30000000000000004,1,2024-01-02,10:11:12,\"2024-01-01 10:00:00.5Z\",YWJj,1;2;,\"2024-01-01 10:00:00.123456\",1E-10,1.0E20",
            "2,\"he said \"\"hi\"\", ok\",\"2024-01-01 00:00:00\",3,false,1.0E10,1.0E-5,-1,1970-01-01,00:00:00,\"2024-01-01 00:00:00Z\",,3,\"2024-01-01 00:00:00.05\",1E+2,100.0",
            ",,,,,,NaN,,,,,,,,-0.5,-1.5E-7",
            "4,\"line\nbreak\",\"2024-01-01 10:00:14\",0,true,0.0,1234567.0,0,2024-01-02,23:59:59,\"2024-01-01 10:00:00.123Z\",YQ==,,\"2024-01-01 10:00:00.000001\",12345678.9,1.2345678E7",
            "5,\" sp \",\"2024-01-01 10:00:14\",-1.05,true,3.4E38,0.001,0,2024-01-02,23:59:59,\"2024-01-01 10:00:00.123Z\",YQ==,,\"2024-01-01 10:00:00.1\",0.0001,1.0E7",
        ];
        assert_eq!(encode(s.clone(), &[], &b), want.to_vec());
        // Reading Flink's csv back: row 1's `1;2;` (trailing empty element) and row 3's empty
        // numbers fail in Flink too.
        let mut d = CsvDecoder::new(s.clone(), &opts(&[])).unwrap();
        assert!(d.decode(want[0].as_bytes()).is_err());
        assert!(d.decode(want[2].as_bytes()).is_err());
        let back_ok = [want[1], want[3], want[4]];
        for w in back_ok {
            assert_eq!(d.decode(w.as_bytes()), Ok(true), "{w}");
        }
        let back = d.flush().unwrap();
        assert_eq!(encode(s, &[], &back), back_ok.to_vec());

        // ROW columns: Flink wrote `1,1;s` / `2,;` / `,` / `4,"2;x,y"` / `5,2;`.
        let s = schema(&[("id", T::BigInt), ("r", row(&[("a", T::Int), ("b", T::String)]))]);
        let b = crate::json::tests::flink_batch(s.clone());
        assert_eq!(encode(s, &[], &b), vec!["1,1;s", "2,;", ",", "4,\"2;x,y\"", "5,2;"]);
    }

    #[test]
    fn encodes_quotes_escapes_and_null_literals_like_flink() {
        let s = schema(&[("id", T::Int), ("s", T::String), ("tm", T::Time(3)), ("dbl", T::Double), ("c", T::String), ("e", T::String)]);
        let mut d = JsonDecoder::new(s.clone(), &opts(&[])).unwrap();
        for l in [
            r#"{"id":1,"s":"he said \"hi\", ok","tm":"10:11:12.345","dbl":"Infinity","c":"x\u0001é\\/\t","e":""}"#,
            r##"{"id":2,"s":"a#b","tm":"10:11:12","dbl":"-Infinity","c":"#lead","e":" "}"##,
            r#"{"id":3,"s":null,"tm":null,"dbl":null,"c":"a'b","e":"a;b"}"#,
        ] {
            assert_eq!(d.decode(l.as_bytes()), Ok(true));
        }
        let b = d.flush().unwrap();
        assert_eq!(
            encode(s.clone(), &[], &b),
            vec!["1,\"he said \"\"hi\"\", ok\",10:11:12.345,Infinity,\"x\u{1}é\\/\t\",", "2,\"a#b\",10:11:12,-Infinity,\"#lead\",\" \"", "3,,,,\"a'b\",a;b"]
        );
        let o2 = [("csv.escape-character", "\\"), ("csv.null-literal", "NULL"), ("csv.quote-character", "'"), ("csv.field-delimiter", ";")];
        assert_eq!(
            encode(s.clone(), &o2, &b),
            vec!["1;'he said \"hi\", ok';'10:11:12.345';Infinity;'x\u{1}é\\\\/\t';", "2;'a#b';'10:11:12';-Infinity;'#lead';' '", "3;NULL;NULL;NULL;'a''b';'a;b'"]
        );
        let o3 = [("csv.escape-character", "\\"), ("csv.disable-quote-character", "true")];
        assert_eq!(
            encode(s, &o3, &b),
            vec!["1,he said \"hi\", ok,10:11:12.345,Infinity,x\u{1}é\\/\t,", "2,a#b,10:11:12,-Infinity,#lead, ", "3,,,,a'b,a;b"]
        );

        // Arrays with NULL elements and a null literal; DECIMAL stays scientific.
        let s = schema(&[("id", T::Int), ("arr", arr(T::String)), ("d1", T::Decimal(20, 10)), ("r", row(&[("a", T::Int), ("b", T::String)]))]);
        let mut d = JsonDecoder::new(s.clone(), &opts(&[])).unwrap();
        for l in [
            r#"{"id":1,"arr":["a",null,"b;c","d e",""],"d1":1E+2,"r":{"a":null,"b":"x y"}}"#,
            r#"{"id":2,"arr":null,"d1":12.5,"r":null}"#,
        ] {
            assert_eq!(d.decode(l.as_bytes()), Ok(true));
        }
        let b = d.flush().unwrap();
        let o = [("csv.null-literal", "NUL"), ("csv.write-bigdecimal-in-scientific-notation", "false")];
        assert_eq!(encode(s.clone(), &o, &b), vec!["1,\"a;NUL;b;c;d e;\",1E+2,\"NUL;x y\"", "2,NUL,12.5,NUL"]);
        let s2 = schema(&[("id", T::Int), ("arr", arr(T::String))]);
        let b2 = b.project(&[0, 1]).unwrap();
        assert_eq!(encode(s2, &[("csv.quote-character", "|"), ("csv.field-delimiter", "x")], &b2), vec!["1x|a;;b;c;d e;|", "2x"]);
    }

    #[test]
    fn splits_files_into_records_keeping_quoted_newlines() {
        let cfg = CsvConfig::from_options(&opts(&[])).unwrap();
        let data = b"1,\"line\nbreak\"\r\n2,b\n3,\"open";
        let (recs, used) = cfg.split_records(data, false);
        assert_eq!(recs, vec![&b"1,\"line\nbreak\""[..], &b"2,b"[..]]);
        assert_eq!(used, 20);
        let (recs, _) = cfg.split_records(data, true);
        assert_eq!(recs.len(), 3);
    }

    #[test]
    fn garbage_never_panics() {
        let s = schema(&[("id", T::Int), ("s", T::String), ("a", arr(T::Double)), ("r", row(&[("x", T::Date), ("y", T::Bytes)])), ("t", T::TimestampLtz(6))]);
        let mut strict = CsvDecoder::new(s.clone(), &opts(&[("csv.escape-character", "\\"), ("csv.null-literal", "N")])).unwrap();
        let mut lenient = CsvDecoder::new(s.clone(), &opts(&[("csv.ignore-parse-errors", "true")])).unwrap();
        let mut rng = Lcg(7);
        let alphabet: &[u8] = b",,,;;\"\\N 0123456789-:.Z#e\xff\xc3\xa9\r\nab";
        for _ in 0..20_000 {
            let rec: Vec<u8> = (0..rng.next() % 30).map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize]).collect();
            let _ = strict.decode(&rec);
            assert!(lenient.decode(&rec).is_ok());
        }
        for d in [&mut strict, &mut lenient] {
            let b = d.flush().unwrap();
            let mut out = Vec::new();
            CsvEncoder::new(s.clone(), &opts(&[])).unwrap().encode(&b, &mut out).unwrap();
        }
    }
}
