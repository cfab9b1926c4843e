//! Flink's `json` format: one JSON object per record, decoded straight into Arrow columns and
//! encoded back the way Flink 2.x writes it.
//!
//! Decoding follows Flink's `JsonParserToRowDataConverters`: fields are matched by name
//! (case-sensitive, the last duplicate wins, unknown fields are skipped), numbers given as JSON
//! strings are parsed (`"12"` into INT), a number given to a STRING column keeps its text
//! (`1.50` -> `"1.50"`), objects/arrays given to a STRING column become their compact JSON text,
//! BOOLEAN is `true` only for `true`/`"true"` (any case) and `false` for anything else, a DECIMAL
//! too large for its precision becomes NULL, text after the object is ignored and an empty or
//! `null` record yields no row. With `json.ignore-parse-errors` a value that cannot be converted
//! becomes NULL (the row is kept) and a record that is not valid JSON, or not an object, is
//! skipped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{self as adt, DataType, Fields, SchemaRef, TimeUnit};
use base64::Engine;

use crate::columns::{Column, Data};
use crate::error::FormatError;
use crate::values::{self, trim_java};
use crate::{RecordDecoder, RecordEncoder};
use rask_types::options::{OptionKind, OptionSpec, Options};
use rask_types::ColumnUse;

/// Options of the json format (Flink's keys).
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("json.fail-on-missing-field", OptionKind::Bool, "fail when a field is missing").default("false"),
        OptionSpec::new("json.ignore-parse-errors", OptionKind::Bool, "skip malformed records; unconvertible fields become NULL").default("false"),
        OptionSpec::new("json.timestamp-format.standard", OptionKind::Enum(&["SQL", "ISO-8601"]), "timestamp text format").default("SQL"),
        OptionSpec::new("json.map-null-key.mode", OptionKind::Enum(&["FAIL", "DROP", "LITERAL"]), "how to write a NULL map key").default("FAIL"),
        OptionSpec::new("json.map-null-key.literal", OptionKind::String, "the key written for a NULL map key in LITERAL mode").default("null"),
        OptionSpec::new("json.encode.decimal-as-plain-number", OptionKind::Bool, "write DECIMAL without scientific notation").default("false"),
        OptionSpec::new("json.encode.ignore-null-fields", OptionKind::Bool, "omit NULL fields when writing").default("false"),
        OptionSpec::new("json.decode.json-parser.enabled", OptionKind::Bool, "use the streaming JSON parser (always on in Rask)").default("true"),
    ]
}

fn opt_bool(o: &Options, key: &str, d: bool) -> Result<bool, FormatError> {
    o.bool(key, d).map_err(FormatError::Unsupported)
}

/// `true` = ISO-8601 (`T` separator), `false` = SQL (space).
fn iso_standard(o: &Options) -> Result<bool, FormatError> {
    match o.get("json.timestamp-format.standard").map(|s| s.trim().to_ascii_uppercase()) {
        None => Ok(false),
        Some(s) if s == "SQL" => Ok(false),
        Some(s) if s == "ISO-8601" => Ok(true),
        Some(s) => Err(FormatError::Unsupported(format!(
            "unsupported value '{s}' for json.timestamp-format.standard; supported: SQL, ISO-8601"
        ))),
    }
}

/// Reject map keys that are not strings (Flink: "JSON format doesn't support non-string as key
/// type of map").
fn check_types(dt: &DataType) -> Result<(), FormatError> {
    match dt {
        DataType::Map(entries, _) => {
            if let DataType::Struct(kv) = entries.data_type() {
                if kv.len() != 2 || kv[0].data_type() != &DataType::Utf8 {
                    return Err(FormatError::Unsupported(format!(
                        "JSON format doesn't support non-string as key type of map. The type is: {}",
                        rask_types::FlinkType::from_arrow(dt).map(|t| t.to_string()).unwrap_or_else(|| dt.to_string())
                    )));
                }
                check_types(kv[1].data_type())?;
            }
            Ok(())
        }
        DataType::List(f) => check_types(f.data_type()),
        DataType::Struct(fs) => fs.iter().try_for_each(|f| check_types(f.data_type())),
        _ => Ok(()),
    }
}

// ------------------------------------------------------------------------------------------
// Parser
// ------------------------------------------------------------------------------------------

/// A JSON token: scalars are consumed whole, containers only their opening bracket.
enum Tok<'a> {
    Null,
    Bool(bool),
    /// Raw number text and whether it has a fraction or exponent.
    Num(&'a str, bool),
    Str(Cow<'a, str>),
    Obj,
    Arr,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::Null => "null".into(),
            Tok::Bool(b) => b.to_string(),
            Tok::Num(t, _) => t.to_string(),
            Tok::Str(s) => {
                let short: String = s.chars().take(40).collect();
                format!("{:?}{}", short, if s.chars().count() > 40 { "..." } else { "" })
            }
            Tok::Obj => "an object".into(),
            Tok::Arr => "an array".into(),
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

/// Where the run of plain string bytes starting at `i` ends: the first `"`, `\` or control
/// character (or the end), found eight bytes at a time.
#[inline]
fn plain_run_end(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[i..i + 8]);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // Per byte: the high bit is set in the lowest byte that is zero (or below 0x20); bytes
        // above it may be marked wrongly by the borrow, so only the lowest mark counts.
        let marks = (quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash | w.wrapping_sub(ONES * 0x20) & !w) & HIGHS;
        if marks != 0 {
            return i + (marks.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

type Syn = String;

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> Syn {
        match self.b.get(self.i) {
            Some(c) if c.is_ascii_graphic() => {
                format!("invalid JSON at byte {}: {what}, found '{}'", self.i, *c as char)
            }
            Some(c) => format!("invalid JSON at byte {}: {what}, found byte 0x{c:02x}", self.i),
            None => format!("invalid JSON: {what}, found end of record"),
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8]) -> Result<(), Syn> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    fn token(&mut self) -> Result<Tok<'a>, Syn> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                Ok(Tok::Obj)
            }
            Some(b'[') => {
                self.i += 1;
                Ok(Tok::Arr)
            }
            Some(b'"') => Ok(Tok::Str(self.string()?)),
            Some(b't') => self.lit(b"true").map(|_| Tok::Bool(true)),
            Some(b'f') => self.lit(b"false").map(|_| Tok::Bool(false)),
            Some(b'n') => self.lit(b"null").map(|_| Tok::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn number(&mut self) -> Result<Tok<'a>, Syn> {
        let s = self.i;
        let b = self.b;
        if b[self.i] == b'-' {
            self.i += 1;
        }
        let ds = self.i;
        while self.i < b.len() && b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let nd = self.i - ds;
        if nd == 0 || (nd > 1 && b[ds] == b'0') {
            return Err(self.err("invalid number"));
        }
        let mut float = false;
        if self.i < b.len() && b[self.i] == b'.' {
            float = true;
            self.i += 1;
            let fs = self.i;
            while self.i < b.len() && b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if self.i == fs {
                return Err(self.err("invalid number: digit expected after '.'"));
            }
        }
        if self.i < b.len() && (b[self.i] == b'e' || b[self.i] == b'E') {
            float = true;
            self.i += 1;
            if self.i < b.len() && (b[self.i] == b'+' || b[self.i] == b'-') {
                self.i += 1;
            }
            let es = self.i;
            while self.i < b.len() && b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if self.i == es {
                return Err(self.err("invalid number: digit expected in exponent"));
            }
        }
        // The slice is ASCII by construction.
        let text = std::str::from_utf8(&b[s..self.i]).map_err(|_| self.err("invalid number"))?;
        Ok(Tok::Num(text, float))
    }

    fn hex4(&mut self) -> Result<u32, Syn> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = *self.b.get(self.i).ok_or_else(|| self.err("incomplete \\u escape"))?;
            let d = (c as char).to_digit(16).ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// A string starting at `"`.
    fn string(&mut self) -> Result<Cow<'a, str>, Syn> {
        self.i += 1;
        let start = self.i;
        let b = self.b;
        self.i = plain_run_end(b, self.i);
        while self.i < b.len() {
            match b[self.i] {
                b'"' => {
                    let s = std::str::from_utf8(&b[start..self.i]).map_err(|_| {
                        format!("invalid JSON: string at byte {start} is not valid UTF-8")
                    })?;
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                c if c < 0x20 => return Err(self.err("control character in string")),
                _ => self.i += 1,
            }
        }
        let mut out: Vec<u8> = b[start..self.i].to_vec();
        loop {
            let Some(&c) = b.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = b.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && b[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    self.i = save;
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err("invalid escape in string"));
                        }
                    }
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out)
            .map(Cow::Owned)
            .map_err(|_| format!("invalid JSON: string at byte {start} is not valid UTF-8"))
    }

    /// Before the next key of an object whose `{` was consumed: `false` at `}` (consumed),
    /// `true` at the key's opening quote.
    fn obj_more(&mut self, first: bool) -> Result<bool, Syn> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'}') => {
                self.i += 1;
                return Ok(false);
            }
            Some(b',') if !first => {
                self.i += 1;
                self.ws();
            }
            _ if first => {}
            _ => return Err(self.err("expected ',' or '}'")),
        }
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.err("expected a field name"));
        }
        Ok(true)
    }

    /// Next key of an object whose `{` was consumed; `None` at `}`.
    fn obj_next(&mut self, first: bool) -> Result<Option<Cow<'a, str>>, Syn> {
        if !self.obj_more(first)? {
            return Ok(None);
        }
        let key = self.string()?;
        self.colon()?;
        Ok(Some(key))
    }

    /// [`Parser::obj_next`] for keys looked up among known names: the key's bytes, not
    /// checked to be UTF-8 (one equal to a name is; the caller checks any other).
    fn obj_next_raw(&mut self, first: bool) -> Result<Option<Cow<'a, [u8]>>, Syn> {
        if !self.obj_more(first)? {
            return Ok(None);
        }
        let start = self.i + 1;
        let end = plain_run_end(self.b, start);
        let key = if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            Cow::Borrowed(&self.b[start..end])
        } else {
            match self.string()? {
                Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            }
        };
        self.colon()?;
        Ok(Some(key))
    }

    fn colon(&mut self) -> Result<(), Syn> {
        self.ws();
        if self.b.get(self.i) != Some(&b':') {
            return Err(self.err("expected ':'"));
        }
        self.i += 1;
        Ok(())
    }

    /// Is there another element in an array whose `[` was consumed?
    fn arr_next(&mut self, first: bool) -> Result<bool, Syn> {
        self.ws();
        match self.b.get(self.i) {
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            _ if first => Ok(true),
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.err("expected ',' or ']'")),
        }
    }

    /// Skip the next value (checking its syntax).
    fn skip_value(&mut self) -> Result<(), Syn> {
        let t = self.token()?;
        self.skip_container(&t)
    }

    /// Skip the rest of a container whose opening token was read.
    fn skip_container(&mut self, tok: &Tok<'a>) -> Result<(), Syn> {
        match tok {
            Tok::Obj => {
                let mut first = true;
                while self.obj_next(first)?.is_some() {
                    first = false;
                    self.skip_value()?;
                }
            }
            Tok::Arr => {
                let mut first = true;
                while self.arr_next(first)? {
                    first = false;
                    self.skip_value()?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The top-level fields of a JSON object record, each with its value's bytes (for envelope
/// formats such as debezium-json, which pick the parts they need).
pub(crate) fn object_fields(record: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut p = Parser { b: record, i: 0 };
    match p.token()? {
        Tok::Obj => {}
        other => return Err(format!("expected a JSON object, got {}", other.describe())),
    }
    let mut out = Vec::new();
    let mut first = true;
    while let Some(k) = p.obj_next(first)? {
        first = false;
        p.ws();
        let start = p.i;
        p.skip_value()?;
        out.push((k.into_owned(), &record[start..p.i]));
    }
    Ok(out)
}

/// The elements of a JSON array value, each as its bytes.
pub(crate) fn array_elements(value: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut p = Parser { b: value, i: 0 };
    match p.token()? {
        Tok::Arr => {}
        other => return Err(format!("expected a JSON array, got {}", other.describe())),
    }
    let mut out = Vec::new();
    let mut first = true;
    while p.arr_next(first)? {
        first = false;
        p.ws();
        let start = p.i;
        p.skip_value()?;
        out.push(&value[start..p.i]);
    }
    Ok(out)
}

/// A JSON string value's text (`None` for anything else).
pub(crate) fn string_value(value: &[u8]) -> Option<String> {
    let mut p = Parser { b: value, i: 0 };
    match p.token() {
        Ok(Tok::Str(s)) => Some(s.into_owned()),
        _ => None,
    }
}

/// JSON text without insignificant whitespace (what Jackson's `tree.toString()` gives).
fn compact_json(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_str = false;
    let mut esc = false;
    for &c in raw {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            if c == b'"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Decoder
// ------------------------------------------------------------------------------------------

/// Field-name lookup of one ROW level, with the shapes of its fields.
struct RowShape {
    names: Vec<String>,
    index: Option<HashMap<Box<[u8]>, usize>>,
    fields: Vec<Shape>,
    /// Fields the job never reads (projection push-down): skipped like unknown fields and
    /// left NULL, never missing.
    unread: Vec<bool>,
    /// Which fields may be left unread: nullable ones of this level (a NOT NULL field is
    /// always decoded), and of a nested ROW only its STRING fields, whose decoding cannot
    /// fail (Flink decodes a ROW column whole, so a bad value in any other field of a read ROW
    /// fails there too).
    nullable: Vec<bool>,
    strings: Vec<bool>,
}

enum Shape {
    Leaf,
    List(Box<Shape>),
    Map(Box<Shape>),
    Row(RowShape),
}

impl RowShape {
    fn new(fields: &Fields) -> RowShape {
        let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        let index = (names.len() > 8).then(|| names.iter().enumerate().map(|(i, n)| (Box::from(n.as_bytes()), i)).collect());
        RowShape { unread: vec![false; names.len()], nullable: fields.iter().map(|f| f.is_nullable()).collect(), strings: fields.iter().map(|f| *f.data_type() == DataType::Utf8).collect(), names, index, fields: fields.iter().map(|f| Shape::new(f.data_type())).collect() }
    }
    /// The field named `key`, tried first at `hint` (records mostly hold the fields in the
    /// same order, so the one after the last found).
    fn lookup(&self, key: &[u8], hint: usize) -> Option<usize> {
        if self.names.get(hint).is_some_and(|n| n.as_bytes() == key) {
            return Some(hint);
        }
        match &self.index {
            Some(m) => m.get(key).copied(),
            None => self.names.iter().position(|n| n.as_bytes() == key),
        }
    }
    /// Decode only `read` of the fields (`top`: of the record, not of a ROW in it).
    fn read_only(&mut self, read: &[ColumnUse], top: bool) {
        for (i, use_) in read.iter().enumerate().take(self.fields.len()) {
            match use_ {
                ColumnUse::Unused => self.unread[i] = self.nullable[i] && (top || self.strings[i]),
                ColumnUse::Fields(sub) => {
                    if let Shape::Row(rs) = &mut self.fields[i] {
                        rs.read_only(sub, false);
                    }
                }
                ColumnUse::Whole => {}
            }
        }
    }
}

impl Shape {
    fn new(dt: &DataType) -> Shape {
        match dt {
            DataType::List(f) => Shape::List(Box::new(Shape::new(f.data_type()))),
            DataType::Map(e, _) => match e.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => Shape::Map(Box::new(Shape::new(kv[1].data_type()))),
                _ => Shape::Leaf,
            },
            DataType::Struct(fs) => Shape::Row(RowShape::new(fs)),
            _ => Shape::Leaf,
        }
    }
}

enum DecErr {
    /// Not valid JSON: the record is unusable.
    Syntax(Syn),
    /// A value could not be converted (message names the field path).
    Field(String),
}

impl From<Syn> for DecErr {
    fn from(s: Syn) -> Self {
        DecErr::Syntax(s)
    }
}

/// A conversion failure message (without the field path).
struct Conv(String);

struct Settings {
    fail_on_missing: bool,
    ignore_errors: bool,
    iso: bool,
}

/// Decodes JSON records (one object each) into batches of the schema.
pub struct JsonDecoder {
    schema: SchemaRef,
    cols: Vec<Column>,
    shape: RowShape,
    set: Settings,
    rows: usize,
}

impl JsonDecoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<JsonDecoder, FormatError> {
        let fail_on_missing = opt_bool(options, "json.fail-on-missing-field", false)?;
        let ignore_errors = opt_bool(options, "json.ignore-parse-errors", false)?;
        if fail_on_missing && ignore_errors {
            return Err(FormatError::Unsupported(
                "json.fail-on-missing-field and json.ignore-parse-errors shouldn't both be true".into(),
            ));
        }
        let iso = iso_standard(options)?;
        for f in schema.fields() {
            check_types(f.data_type())?;
        }
        let cols = schema.fields().iter().map(|f| Column::new(f.data_type())).collect::<Result<_, _>>()?;
        let shape = RowShape::new(schema.fields());
        Ok(JsonDecoder { schema, cols, shape, set: Settings { fail_on_missing, ignore_errors, iso }, rows: 0 })
    }
}

/// Where a value sits in the record (`r.x`, `arr[]`), rendered only for error messages so
/// decoding allocates nothing per field.
#[derive(Clone, Copy)]
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    name: &'p str,
}

impl Path<'_> {
    const ROOT: Path<'static> = Path { parent: None, name: "" };

    fn render(&self) -> String {
        let mut parts = Vec::new();
        let mut p = Some(self);
        while let Some(x) = p {
            parts.push(x.name);
            p = x.parent;
        }
        let mut out = String::new();
        for n in parts.iter().rev().filter(|n| !n.is_empty()) {
            if !out.is_empty() && *n != "[]" {
                out.push('.');
            }
            out.push_str(n);
        }
        out
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// Read one value (any token, NULL-safe) into `col`.
fn read_value<'a>(
    set: &Settings,
    p: &mut Parser<'a>,
    shape: &Shape,
    col: &mut Column,
    path: &Path<'_>,
) -> Result<(), DecErr> {
    let start = {
        p.ws();
        p.i
    };
    let tok = p.token()?;
    if let Tok::Null = tok {
        col.push_null();
        return Ok(());
    }
    let before = col.len();
    match convert(set, p, shape, col, tok, start, path) {
        Ok(()) => Ok(()),
        Err(DecErr::Field(m)) if set.ignore_errors => {
            let _ = m;
            col.truncate(before);
            col.push_null();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The text Jackson's `getText()` gives for a scalar token, or None for containers.
fn scalar_text<'t>(tok: &'t Tok<'_>) -> Option<&'t str> {
    match tok {
        Tok::Null => Some("null"),
        Tok::Bool(true) => Some("true"),
        Tok::Bool(false) => Some("false"),
        Tok::Num(t, _) => Some(t),
        Tok::Str(s) => Some(s),
        Tok::Obj | Tok::Arr => None,
    }
}

fn convert<'a>(
    set: &Settings,
    p: &mut Parser<'a>,
    shape: &Shape,
    col: &mut Column,
    tok: Tok<'a>,
    start: usize,
    path: &Path<'_>,
) -> Result<(), DecErr> {
    let field_err = |msg: String| DecErr::Field(format!("field '{path}': {msg}"));
    // Containers given to a scalar column: consume them first so parsing can go on.
    let container = matches!(tok, Tok::Obj | Tok::Arr);
    let nested = matches!(col.data, Data::List { .. } | Data::Map { .. } | Data::Struct(_));
    if container && !nested {
        p.skip_container(&tok)?;
        match &mut col.data {
            Data::Bytes { .. } if col.dt == DataType::Utf8 => {
                let text = compact_json(&p.b[start..p.i]);
                col.push_bytes(&text);
                return Ok(());
            }
            Data::Bool(v) => {
                v.push(false);
                col.valid.push(true);
                return Ok(());
            }
            _ => return Err(field_err(format!("expected {}, got {}", expected(&col.dt), tok.describe()))),
        }
    }
    if let (Data::Struct(children), Shape::Row(rs)) = (&mut col.data, shape) {
        if !matches!(tok, Tok::Obj) {
            return Err(field_err(format!("expected a JSON object, got {}", tok.describe())));
        }
        read_row(set, p, rs, children, path)?;
        col.valid.push(true);
        return Ok(());
    }
    let conv = |r: Result<(), Conv>| r.map_err(|Conv(m)| field_err(m));
    let dt = col.dt.clone();
    match (&mut col.data, &shape) {
        (Data::Null, _) => {
            col.valid.push(false);
            Ok(())
        }
        (Data::Bool(v), _) => {
            let b = match &tok {
                Tok::Bool(b) => *b,
                Tok::Str(s) => trim_java(s).eq_ignore_ascii_case("true"),
                _ => false,
            };
            v.push(b);
            col.valid.push(true);
            Ok(())
        }
        (Data::I8(v), _) => conv(int_value(&tok, i8::MIN as i64, i8::MAX as i64, false, "TINYINT").map(|x| v.push(x as i8)))
            .map(|_| col.valid.push(true)),
        (Data::I16(v), _) => conv(int_value(&tok, i16::MIN as i64, i16::MAX as i64, false, "SMALLINT").map(|x| v.push(x as i16)))
            .map(|_| col.valid.push(true)),
        (Data::I32(v), _) => {
            let r = match &dt {
                DataType::Int32 => int_value(&tok, i32::MIN as i64, i32::MAX as i64, true, "INT").map(|x| x as i32),
                DataType::Date32 => {
                    let t = scalar_text(&tok).unwrap_or("");
                    match values::parse_iso_date(t.as_bytes()) {
                        Some(d) if t.len() == 10 => Ok(d),
                        _ => Err(Conv(format!("expected a date like 2024-01-31, got {}", tok.describe()))),
                    }
                }
                DataType::Time32(TimeUnit::Second) => time_value(&tok).map(|n| (n / 1_000_000_000) as i32),
                _ => time_value(&tok).map(|n| (n / 1_000_000) as i32),
            };
            conv(r.map(|x| v.push(x))).map(|_| col.valid.push(true))
        }
        (Data::I64(v), _) => {
            let r = match &dt {
                DataType::Int64 => int_value(&tok, i64::MIN, i64::MAX, true, "BIGINT"),
                DataType::Time64(u) => time_value(&tok).map(|n| {
                    let ms = n / 1_000_000;
                    if *u == TimeUnit::Microsecond { ms * 1_000 } else { ms * 1_000_000 }
                }),
                DataType::Timestamp(u, tz) => timestamp_value(&tok, set.iso, tz.is_some(), u),
                _ => Err(Conv(format!("unsupported type {dt}"))),
            };
            conv(r.map(|x| v.push(x))).map(|_| col.valid.push(true))
        }
        (Data::F32(v), _) => {
            let r = scalar_text(&tok)
                .filter(|_| !matches!(tok, Tok::Bool(_)))
                .and_then(values::parse_java_float)
                .ok_or_else(|| Conv(format!("expected a number, got {}", tok.describe())));
            conv(r.map(|x| v.push(x))).map(|_| col.valid.push(true))
        }
        (Data::F64(v), _) => {
            let r = scalar_text(&tok)
                .filter(|_| !matches!(tok, Tok::Bool(_)))
                .and_then(values::parse_java_double)
                .ok_or_else(|| Conv(format!("expected a number, got {}", tok.describe())));
            conv(r.map(|x| v.push(x))).map(|_| col.valid.push(true))
        }
        (Data::I128(v), _) => {
            let DataType::Decimal128(prec, scale) = dt else {
                return Err(DecErr::Field(format!("field '{path}': not a decimal column")));
            };
            let text = match &tok {
                Tok::Str(s) => trim_java(s),
                Tok::Num(t, _) => t,
                _ => "",
            };
            match values::parse_decimal(text, prec, scale) {
                Ok(Some(x)) => {
                    v.push(x);
                    col.valid.push(true);
                    Ok(())
                }
                // Too large for the precision: Flink yields NULL.
                Ok(None) => {
                    col.push_null();
                    Ok(())
                }
                Err(()) => Err(field_err(format!("expected a number, got {}", tok.describe()))),
            }
        }
        (Data::Bytes { .. }, _) => {
            if dt == DataType::Utf8 {
                let text = scalar_text(&tok).unwrap_or("");
                col.push_bytes(text.as_bytes());
                Ok(())
            } else {
                let Tok::Str(s) = &tok else {
                    return Err(field_err(format!("expected a base64 string, got {}", tok.describe())));
                };
                match base64_decode(s) {
                    Some(bytes) => {
                        col.push_bytes(&bytes);
                        Ok(())
                    }
                    None => Err(field_err(format!("expected a base64 string, got {}", tok.describe()))),
                }
            }
        }
        (Data::List { child, .. }, Shape::List(inner)) => {
            if !matches!(tok, Tok::Arr) {
                return Err(field_err(format!("expected a JSON array, got {}", tok.describe())));
            }
            let mut first = true;
            let elem_path = Path { parent: Some(path), name: "[]" };
            while p.arr_next(first)? {
                first = false;
                read_value(set, p, inner, child, &elem_path)?;
            }
            col.close_nested();
            Ok(())
        }
        (Data::Map { keys, values, .. }, Shape::Map(inner)) => {
            if !matches!(tok, Tok::Obj) {
                return Err(field_err(format!("expected a JSON object, got {}", tok.describe())));
            }
            let mut first = true;
            while let Some(k) = p.obj_next(first)? {
                first = false;
                let vpath = Path { parent: Some(path), name: &k };
                keys.push_bytes(k.as_bytes());
                read_value(set, p, inner, values, &vpath)?;
            }
            col.close_nested();
            Ok(())
        }
        _ => Err(DecErr::Field(format!("field '{path}': unsupported type {dt}"))),
    }
}

/// Read the fields of an object whose `{` was consumed into `cols` (one column per field).
fn read_row<'a>(
    set: &Settings,
    p: &mut Parser<'a>,
    shape: &RowShape,
    cols: &mut [Column],
    path: &Path<'_>,
) -> Result<(), DecErr> {
    let base = cols.first().map(|c| c.len()).unwrap_or(0);
    let mut seen_small: u64 = 0;
    let mut seen_big: Vec<bool> = if cols.len() > 64 { vec![false; cols.len()] } else { Vec::new() };
    let mut first = true;
    let mut hint = 0;
    while let Some(key) = p.obj_next_raw(first)? {
        first = false;
        match shape.lookup(&key, hint) {
            Some(idx) if shape.unread[idx] => {
                hint = idx + 1;
                p.skip_value()?;
            }
            Some(idx) => {
                hint = idx + 1;
                let dup = if cols.len() > 64 { seen_big[idx] } else { seen_small & (1 << idx) != 0 };
                if dup {
                    // The last duplicate wins.
                    cols[idx].truncate(base);
                }
                let fpath = Path { parent: Some(path), name: &shape.names[idx] };
                read_value(set, p, &shape.fields[idx], &mut cols[idx], &fpath)?;
                if cols.len() > 64 {
                    seen_big[idx] = true;
                } else {
                    seen_small |= 1 << idx;
                }
            }
            None => {
                if std::str::from_utf8(&key).is_err() {
                    return Err(DecErr::Syntax("invalid JSON: a field name is not valid UTF-8".into()));
                }
                p.skip_value()?;
            }
        }
    }
    for (idx, col) in cols.iter_mut().enumerate() {
        let seen = if seen_big.is_empty() { seen_small & (1 << idx) != 0 } else { seen_big[idx] };
        if !seen {
            if set.fail_on_missing && !shape.unread[idx] {
                return Err(DecErr::Field(format!(
                    "field '{}' is missing in the JSON data",
                    Path { parent: Some(path), name: &shape.names[idx] }
                )));
            }
            col.push_null();
        }
    }
    Ok(())
}

fn expected(dt: &DataType) -> &'static str {
    match dt {
        DataType::Boolean => "a boolean",
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "an integer",
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => "a number",
        DataType::Date32 => "a date string",
        DataType::Time32(_) | DataType::Time64(_) => "a time string",
        DataType::Timestamp(_, _) => "a timestamp string",
        DataType::Binary => "a base64 string",
        DataType::Utf8 => "a string",
        DataType::List(_) => "a JSON array",
        _ => "a JSON object",
    }
}

/// Jackson's int/long/short/byte conversions as Flink uses them.
fn int_value(tok: &Tok<'_>, min: i64, max: i64, allow_float_token: bool, ty: &str) -> Result<i64, Conv> {
    let bad = || Conv(format!("expected an integer, got {}", tok.describe()));
    let range = |v: i64| {
        if v < min || v > max {
            Err(Conv(format!("value {} is out of range of {ty}", tok.describe())))
        } else {
            Ok(v)
        }
    };
    match tok {
        Tok::Num(t, false) => match t.parse::<i64>() {
            Ok(v) => range(v),
            Err(_) => Err(Conv(format!("value {t} is out of range of {ty}"))),
        },
        Tok::Num(t, true) if allow_float_token => {
            let f: f64 = t.parse().map_err(|_| bad())?;
            if f < min as f64 || f > max as f64 || f.is_nan() {
                return Err(Conv(format!("value {t} is out of range of {ty}")));
            }
            range(f.trunc() as i64)
        }
        Tok::Str(s) => match values::parse_java_long(trim_java(s)) {
            Some(v) => range(v),
            None => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn time_value(tok: &Tok<'_>) -> Result<i64, Conv> {
    scalar_text(tok)
        .and_then(|t| values::parse_time(t, true))
        .ok_or_else(|| Conv(format!("expected a time like 10:30:00, got {}", tok.describe())))
}

fn timestamp_value(tok: &Tok<'_>, iso: bool, ltz: bool, unit: &TimeUnit) -> Result<i64, Conv> {
    let parsed = scalar_text(tok).and_then(|t| {
        if iso {
            values::parse_timestamp(t, b'T', false, ltz)
        } else {
            values::parse_timestamp(t, b' ', true, ltz)
        }
    });
    match parsed.and_then(|n| values::nanos_to_unit(n, unit)) {
        Some(v) => Ok(v),
        None => {
            let example = match (iso, ltz) {
                (false, false) => "2024-01-01 10:00:00.123",
                (false, true) => "2024-01-01 10:00:00.123Z",
                (true, false) => "2024-01-01T10:00:00.123",
                (true, true) => "2024-01-01T10:00:00.123Z",
            };
            Err(Conv(format!("expected a timestamp like {example}, got {}", tok.describe())))
        }
    }
}

pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    // Jackson's base64 reader skips whitespace.
    if s.bytes().any(|b| b.is_ascii_whitespace()) {
        let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        return LENIENT.decode(clean).ok();
    }
    LENIENT.decode(s.as_bytes()).ok()
}

impl JsonDecoder {
    fn decode_row(&mut self, p: &mut Parser<'_>) -> Result<bool, DecErr> {
        let tok = p.token()?;
        match tok {
            Tok::Null => Ok(false),
            Tok::Obj => {
                read_row(&self.set, p, &self.shape, &mut self.cols, &Path::ROOT)?;
                for (f, c) in self.schema.fields().iter().zip(&self.cols) {
                    if !f.is_nullable() && c.valid.last() == Some(&false) {
                        return Err(DecErr::Field(format!("field '{}': NULL for a NOT NULL column", f.name())));
                    }
                }
                Ok(true)
            }
            other => Err(DecErr::Syntax(format!("expected a JSON object, got {}", other.describe()))),
        }
    }
}

impl JsonDecoder {
    /// Drop buffered rows after the first `rows`.
    pub(crate) fn truncate(&mut self, rows: usize) {
        for c in &mut self.cols {
            c.truncate(rows);
        }
        self.rows = self.rows.min(rows);
    }
}

impl RecordDecoder for JsonDecoder {
    fn decode(&mut self, record: &[u8]) -> Result<bool, FormatError> {
        let mut p = Parser { b: record, i: 0 };
        p.ws();
        if p.i == record.len() {
            // An empty record yields no row (Flink's parser sees no token).
            return Ok(false);
        }
        match self.decode_row(&mut p) {
            Ok(true) => {
                self.rows += 1;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                for c in &mut self.cols {
                    c.truncate(self.rows);
                }
                if self.set.ignore_errors {
                    Ok(false)
                } else {
                    Err(FormatError::Malformed(match e {
                        DecErr::Syntax(m) | DecErr::Field(m) => m,
                    }))
                }
            }
        }
    }

    fn read_only(&mut self, read: &[ColumnUse]) {
        self.shape.read_only(read, true);
    }

    fn buffered(&self) -> usize {
        self.rows
    }

    fn flush(&mut self) -> Result<RecordBatch, FormatError> {
        let arrays = self.cols.iter_mut().map(|c| c.finish()).collect::<Result<Vec<_>, _>>()?;
        let n = std::mem::take(&mut self.rows);
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &RecordBatchOptions::new().with_row_count(Some(n)))
            .map_err(|e| FormatError::Internal(format!("building json batch: {e}")))
    }
}

// ------------------------------------------------------------------------------------------
// Encoder
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum NullKeyMode {
    Fail,
    Drop,
    Literal,
}

/// Encodes batches as JSON objects the way Flink's json format writes them.
pub struct JsonEncoder {
    schema: SchemaRef,
    iso: bool,
    null_key: NullKeyMode,
    null_literal: String,
    plain_decimal: bool,
    ignore_nulls: bool,
}

impl JsonEncoder {
    pub fn new(schema: SchemaRef, options: &Options) -> Result<JsonEncoder, FormatError> {
        let iso = iso_standard(options)?;
        let null_key = match options.get("json.map-null-key.mode").map(|s| s.trim().to_ascii_uppercase()) {
            None => NullKeyMode::Fail,
            Some(s) if s == "FAIL" => NullKeyMode::Fail,
            Some(s) if s == "DROP" => NullKeyMode::Drop,
            Some(s) if s == "LITERAL" => NullKeyMode::Literal,
            Some(s) => {
                return Err(FormatError::Unsupported(format!(
                    "unsupported value '{s}' for json.map-null-key.mode; supported: FAIL, DROP, LITERAL"
                )));
            }
        };
        for f in schema.fields() {
            check_types(f.data_type())?;
            Column::new(f.data_type())?;
        }
        Ok(JsonEncoder {
            schema,
            iso,
            null_key,
            null_literal: options.string("json.map-null-key.literal", "null"),
            plain_decimal: opt_bool(options, "json.encode.decimal-as-plain-number", false)?,
            ignore_nulls: opt_bool(options, "json.encode.ignore-null-fields", false)?,
        })
    }

    fn write_value(&self, out: &mut String, a: &ArrayRef, i: usize, path: &Path<'_>) -> Result<(), FormatError> {
        if a.is_null(i) {
            out.push_str("null");
            return Ok(());
        }
        match a.data_type() {
            DataType::Null => out.push_str("null"),
            DataType::Boolean => out.push_str(if a.as_boolean().value(i) { "true" } else { "false" }),
            DataType::Int8 => push_display(out, a.as_primitive::<adt::Int8Type>().value(i)),
            DataType::Int16 => push_display(out, a.as_primitive::<adt::Int16Type>().value(i)),
            DataType::Int32 => push_display(out, a.as_primitive::<adt::Int32Type>().value(i)),
            DataType::Int64 => push_display(out, a.as_primitive::<adt::Int64Type>().value(i)),
            DataType::Float32 => {
                let v = a.as_primitive::<adt::Float32Type>().value(i);
                let s = rask_types::value_fmt::java_float(v);
                if v.is_finite() { out.push_str(&s) } else { write_json_string(out, &s) }
            }
            DataType::Float64 => {
                let v = a.as_primitive::<adt::Float64Type>().value(i);
                let s = rask_types::value_fmt::java_double(v);
                if v.is_finite() { out.push_str(&s) } else { write_json_string(out, &s) }
            }
            DataType::Decimal128(_, s) => {
                let v = a.as_primitive::<adt::Decimal128Type>().value(i);
                out.push_str(&if self.plain_decimal {
                    values::format_decimal_plain(v, *s)
                } else {
                    values::format_decimal_stripped(v, *s)
                });
            }
            DataType::Utf8 => write_json_string(out, a.as_string::<i32>().value(i)),
            DataType::Binary => {
                out.push('"');
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(a.as_binary::<i32>().value(i)));
                out.push('"');
            }
            dt @ (DataType::Date32 | DataType::Time32(_) | DataType::Time64(_) | DataType::Timestamp(_, _)) => {
                out.push('"');
                write_temporal(out, a, i, dt, if self.iso { 'T' } else { ' ' });
                out.push('"');
            }
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                let vals = l.values();
                let (s, e) = (l.value_offsets()[i] as usize, l.value_offsets()[i + 1] as usize);
                out.push('[');
                for j in s..e {
                    if j > s {
                        out.push(',');
                    }
                    self.write_value(out, vals, j, path)?;
                }
                out.push(']');
            }
            DataType::Map(_, _) => {
                let m = a.as_map();
                let (keys, vals) = (m.keys(), m.values());
                let (s, e) = (m.value_offsets()[i] as usize, m.value_offsets()[i + 1] as usize);
                out.push('{');
                let mut first = true;
                for j in s..e {
                    let key: &str = if keys.is_null(j) {
                        match self.null_key {
                            NullKeyMode::Fail => {
                                return Err(FormatError::Malformed(format!(
                                    "field '{path}': JSON format doesn't support to serialize map data with null keys. \
                                     You can drop null key entries or encode null in literals by specifying map-null-key.mode option."
                                )));
                            }
                            NullKeyMode::Drop => continue,
                            NullKeyMode::Literal => &self.null_literal,
                        }
                    } else {
                        keys.as_string::<i32>().value(j)
                    };
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_json_string(out, key);
                    out.push(':');
                    self.write_value(out, vals, j, path)?;
                }
                out.push('}');
            }
            DataType::Struct(fields) => {
                let st = a.as_struct();
                self.write_object(out, fields, st.columns(), i, path)?;
            }
            other => return Err(FormatError::Unsupported(format!("json format cannot write type {other}"))),
        }
        Ok(())
    }

    fn write_object(
        &self,
        out: &mut String,
        fields: &Fields,
        cols: &[ArrayRef],
        i: usize,
        path: &Path<'_>,
    ) -> Result<(), FormatError> {
        out.push('{');
        let mut first = true;
        for (f, c) in fields.iter().zip(cols) {
            if self.ignore_nulls && c.is_null(i) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            write_json_string(out, f.name());
            out.push(':');
            self.write_value(out, c, i, &Path { parent: Some(path), name: f.name() })?;
        }
        out.push('}');
        Ok(())
    }
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// The raw i64/i32 of a temporal array at `i`, whatever its unit.
fn temporal_raw(a: &ArrayRef, i: usize) -> i64 {
    match a.data_type() {
        DataType::Date32 => a.as_primitive::<adt::Date32Type>().value(i) as i64,
        DataType::Time32(TimeUnit::Millisecond) => a.as_primitive::<adt::Time32MillisecondType>().value(i) as i64,
        DataType::Time32(_) => a.as_primitive::<adt::Time32SecondType>().value(i) as i64,
        DataType::Time64(TimeUnit::Microsecond) => a.as_primitive::<adt::Time64MicrosecondType>().value(i),
        DataType::Time64(_) => a.as_primitive::<adt::Time64NanosecondType>().value(i),
        DataType::Timestamp(TimeUnit::Second, _) => a.as_primitive::<adt::TimestampSecondType>().value(i),
        DataType::Timestamp(TimeUnit::Millisecond, _) => a.as_primitive::<adt::TimestampMillisecondType>().value(i),
        DataType::Timestamp(TimeUnit::Microsecond, _) => a.as_primitive::<adt::TimestampMicrosecondType>().value(i),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => a.as_primitive::<adt::TimestampNanosecondType>().value(i),
        _ => 0,
    }
}

/// A temporal value as Flink's formats print it (`sep` between date and time).
pub(crate) fn write_temporal(out: &mut String, a: &ArrayRef, i: usize, dt: &DataType, sep: char) {
    let v = temporal_raw(a, i);
    match dt {
        DataType::Date32 => values::write_date(out, v),
        DataType::Time32(TimeUnit::Second) => values::write_time(out, v * 1_000_000_000),
        DataType::Time32(_) => values::write_time(out, v * 1_000_000),
        DataType::Time64(u) => {
            // Flink keeps TIME as milliseconds of the day.
            let ms = if *u == TimeUnit::Microsecond { v / 1_000 } else { v / 1_000_000 };
            values::write_time(out, ms * 1_000_000)
        }
        DataType::Timestamp(u, tz) => values::write_timestamp(out, v, u, sep, tz.is_some()),
        _ => {}
    }
}

/// A JSON string literal with Jackson's escaping (`"`, `\`, control characters).
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[last..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
    out.push('"');
}

impl RecordEncoder for JsonEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        let fields = self.schema.fields().clone();
        if batch.num_columns() != fields.len() {
            return Err(FormatError::Internal(format!(
                "json encoder: batch has {} columns, schema has {}",
                batch.num_columns(),
                fields.len()
            )));
        }
        let mut s = String::with_capacity(128);
        for i in 0..batch.num_rows() {
            s.clear();
            self.write_object(&mut s, &fields, batch.columns(), i, &Path::ROOT)?;
            out.push(s.as_bytes().to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::{Lcg, arr, opts, row, rows, schema};
    use rask_types::FlinkType as T;

    /// The schema of the Flink runs (`id BIGINT, name STRING, ts TIMESTAMP(3), ...`).
    fn sch() -> SchemaRef {
        schema(&[
            ("id", T::BigInt),
            ("name", T::String),
            ("ts", T::Timestamp(3)),
            ("d", T::Decimal(10, 2)),
            ("b", T::Boolean),
            ("dbl", T::Double),
            ("tm", T::Time(0)),
            ("ltz", T::TimestampLtz(3)),
            ("by", T::Bytes),
            ("arr", arr(T::Int)),
            ("r", row(&[("x", T::Int)])),
            ("dt", T::Date),
        ])
    }

    fn decode_all(s: SchemaRef, o: &[(&str, &str)], lines: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut d = JsonDecoder::new(s, &opts(o)).unwrap();
        let mut errs = Vec::new();
        for l in lines {
            if let Err(e) = d.decode(l.as_bytes()) {
                errs.push(e.to_string());
            }
        }
        let b = d.flush().unwrap();
        (rows(&b), errs)
    }

    const N11: &str = "null, null, null, null, null, null, null, null, null, null, null";

    #[test]
    fn unread_columns_and_string_fields_are_left_null_as_flink_projects() {
        let s = schema(&[("a", T::Int), ("b", T::String), ("r", row(&[("x", T::BigInt), ("y", T::Int), ("s", T::String)]))]);
        let read = [ColumnUse::Unused, ColumnUse::Whole, ColumnUse::Fields(vec![ColumnUse::Whole, ColumnUse::Unused, ColumnUse::Unused])];
        let decode = |o: &[(&str, &str)], lines: &[&str]| {
            let mut d = JsonDecoder::new(s.clone(), &opts(o)).unwrap();
            d.read_only(&read);
            let errs: Vec<String> = lines.iter().filter_map(|l| d.decode(l.as_bytes()).err().map(|e| e.to_string())).collect();
            (rows(&d.flush().unwrap()), errs)
        };
        // An unread column is not converted (Flink projects top-level columns away), nor is an
        // unread STRING field of a ROW; its other fields are (Flink decodes the ROW whole).
        let (got, errs) = decode(
            &[("json.fail-on-missing-field", "true")],
            &[
                r#"{"a":"bad","b":"x","r":{"x":1,"y":2,"s":{"deep":[1]}}}"#,
                r#"{"b":"y","r":{"x":3,"y":4}}"#,
                r#"{"a":1,"b":"z","r":{"x":5,"y":"bad","s":"t"}}"#,
                r#"{"a":1,"b":"w","r":{"x":6,"y":7,"s":"t"#,
            ],
        );
        assert_eq!(got, vec!["+I[null, x, +I[1, 2, null]]", "+I[null, y, +I[3, 4, null]]"]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("r.y"), "{}", errs[0]);
        assert!(errs[1].contains("invalid JSON"), "a syntax error in an unread field still fails: {}", errs[1]);
    }

    #[test]
    fn decodes_like_flink() {
        // Inputs and the rows Flink 2.3 printed for them.
        let cases: &[(&str, String)] = &[
            (r#"{"id":1} trailing"#, format!("+I[1, {N11}]")),
            (r#"{"id":1,"id":2}"#, format!("+I[2, {N11}]")),
            (r#"{"id":" 12 "}"#, format!("+I[12, {N11}]")),
            (r#"{"id":-0}"#, format!("+I[0, {N11}]")),
            (r#"{"id":1e2}"#, format!("+I[100, {N11}]")),
            (r#"{"id":1.5}"#, format!("+I[1, {N11}]")),
            (r#"{"d":12.345}"#, "+I[null, null, null, 12.35, null, null, null, null, null, null, null, null]".into()),
            (r#"{"d":"12.355"}"#, "+I[null, null, null, 12.36, null, null, null, null, null, null, null, null]".into()),
            (r#"{"d":123456789012}"#, "+I[null, null, null, null, null, null, null, null, null, null, null, null]".into()),
            (r#"{"name":1.50}"#, "+I[null, 1.50, null, null, null, null, null, null, null, null, null, null]".into()),
            // Known difference: Flink 2.3 prints 10:11:12.500 here (its JSON reader keeps the
            // milliseconds in a TIME(0) field); Rask stores TIME(0) as whole seconds so that
            // CAST(ts AS TIME) truncates as Flink's cast does, and the fraction is dropped.
            (r#"{"tm":"10:11:12.5"}"#, "+I[null, null, null, null, null, null, 10:11:12, null, null, null, null, null]".into()),
            (r#"{"b":"TRUE"}"#, "+I[null, null, null, null, true, null, null, null, null, null, null, null]".into()),
            (r#"{"b":"x"}"#, "+I[null, null, null, null, false, null, null, null, null, null, null, null]".into()),
            (r#"{"b":0}"#, "+I[null, null, null, null, false, null, null, null, null, null, null, null]".into()),
        ];
        for (input, want) in cases {
            let (got, errs) = decode_all(sch(), &[], &[input]);
            assert!(errs.is_empty(), "{input}: {errs:?}");
            assert_eq!(got.as_slice(), std::slice::from_ref(want), "{input}");
        }
    }

    #[test]
    fn decodes_every_type() {
        let line = r#"{"id":"2","name":{"k": [1, "a b"]},"ts":"2024-01-01 10:00:00.1","d":"3.456","b":true,"dbl":"1e3","tm":"10:11:12","ltz":"2024-01-01 10:00:00.5Z","by":"AQID","arr":[1,null,"3"],"r":{"x":"9","y":1},"dt":"2024-01-02","extra":{"deep":[{}]}}"#;
        let (got, errs) = decode_all(sch(), &[], &[line]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            got,
            vec![r#"+I[2, {"k":[1,"a b"]}, 2024-01-01T10:00:00.100, 3.46, true, 1000.0, 10:11:12, 2024-01-01T10:00:00.500Z, [1, 2, 3], [1, null, 3], +I[9], 2024-01-02]"#]
        );
        let s = schema(&[("m", T::Map(Box::new(T::String), Box::new(T::Int))), ("t6", T::Timestamp(6)), ("f", T::Float)]);
        let (got, errs) = decode_all(s, &[], &[r#"{"m":{"a":1,"b":null},"t6":"2024-01-01 10:00:00.123456789","f":"-Infinity"}"#]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(got, vec!["+I[{a=1, b=null}, 2024-01-01T10:00:00.123456, -Infinity]"]);
    }

    #[test]
    fn malformed_records_fail_with_the_field_named() {
        // Each of these failed the Flink job ("Fail to deserialize at field: ...").
        let cases = [
            (r#"{"ts":"2024-01-01 10:00"}"#, "field 'ts': expected a timestamp like 2024-01-01 10:00:00.123, got \"2024-01-01 10:00\""),
            (r#"{"ts":" 2024-01-01 10:00:00"}"#, "field 'ts'"),
            (r#"{"ts":"2024-01-01T10:00:00"}"#, "field 'ts'"),
            (r#"{"tm":"10:11"}"#, "field 'tm'"),
            (r#"{"by":"@@@"}"#, "field 'by': expected a base64 string"),
            (r#"{"id":true}"#, "field 'id': expected an integer, got true"),
            (r#"{"id":"abc"}"#, "field 'id': expected an integer, got \"abc\""),
            (r#"{"id":99999999999999999999}"#, "field 'id': value 99999999999999999999 is out of range of BIGINT"),
            (r#"{"dbl":true}"#, "field 'dbl': expected a number, got true"),
            (r#"{"dbl":"0x10"}"#, "field 'dbl'"),
            (r#"{"arr":"x"}"#, "field 'arr': expected a JSON array, got \"x\""),
            (r#"{"r":[1]}"#, "field 'r': expected a JSON object, got an array"),
            (r#"{"dt":20240102}"#, "field 'dt'"),
            (r#"{"dt":"2024-1-2"}"#, "field 'dt'"),
            (r#"{"arr":[1,"2","x"]}"#, "field 'arr[]': expected an integer, got \"x\""),
            (r#"{"r":{"x":"bad"}}"#, "field 'r.x': expected an integer"),
            (r#"{"ltz":"2024-01-01 10:00:00.123+01:00"}"#, "field 'ltz'"),
            (r#"{"ltz":"2024-01-01 10:00:00"}"#, "field 'ltz'"),
            ("not json", "invalid JSON at byte 0"),
            ("[1,2]", "expected a JSON object, got an array"),
            (r#"{"id":1,"name":"#, "invalid JSON"),
            (r#"{"id":01}"#, "invalid number"),
        ];
        for (input, want) in cases {
            let (got, errs) = decode_all(sch(), &[], &[r#"{"id":7}"#, input]);
            assert_eq!(got, vec![format!("+I[7, {N11}]")], "{input}: the good row stays, the bad one is rolled back");
            assert_eq!(errs.len(), 1, "{input}");
            assert!(errs[0].contains(want), "{input}: {}", errs[0]);
        }
        let s = schema(&[("ti", T::TinyInt), ("si", T::SmallInt)]);
        let (_, errs) = decode_all(s.clone(), &[], &[r#"{"ti":300}"#, r#"{"ti":"1.5"}"#, r#"{"si":1.5}"#]);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("out of range of TINYINT"), "{}", errs[0]);
    }

    #[test]
    fn empty_and_null_records_hold_no_row() {
        let mut d = JsonDecoder::new(sch(), &opts(&[])).unwrap();
        assert_eq!(d.decode(b""), Ok(false));
        assert_eq!(d.decode(b"  \r"), Ok(false));
        assert_eq!(d.decode(b"null"), Ok(false));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn ignore_parse_errors_nulls_bad_fields_and_skips_bad_records() {
        // Flink 2.3 with json.ignore-parse-errors=true printed:
        //   +I[null, x, ...]                        for {"id":"abc","name":"x"}
        //   (nothing)                               for a truncated record
        //   +I[null, ok, ..., [1, null, 3], +I[null], null]
        let lines = [
            r#"{"id":"abc","name":"x"}"#,
            r#"{"id":1,"name":"#,
            r#"{"arr":[1,"x",3],"r":{"x":"bad"},"name":"ok"}"#,
            "not json",
            "[1,2]",
            r#"{"id":4}"#,
        ];
        let mut d = JsonDecoder::new(sch(), &opts(&[("json.ignore-parse-errors", "true")])).unwrap();
        let got: Vec<bool> = lines.iter().map(|l| d.decode(l.as_bytes()).unwrap()).collect();
        assert_eq!(got, vec![true, false, true, false, false, true]);
        assert_eq!(
            rows(&d.flush().unwrap()),
            vec![
                "+I[null, x, null, null, null, null, null, null, null, null, null, null]".to_string(),
                "+I[null, ok, null, null, null, null, null, null, null, [1, null, 3], +I[null], null]".to_string(),
                format!("+I[4, {N11}]"),
            ]
        );
    }

    #[test]
    fn options_are_checked() {
        let e = JsonDecoder::new(
            sch(),
            &opts(&[("json.fail-on-missing-field", "true"), ("json.ignore-parse-errors", "true")]),
        )
        .err()
        .unwrap();
        assert!(matches!(e, FormatError::Unsupported(_)));
        let m = schema(&[("m", T::Map(Box::new(T::Int), Box::new(T::Int)))]);
        let e = JsonDecoder::new(m, &opts(&[])).err().unwrap();
        assert_eq!(
            e.to_string(),
            "JSON format doesn't support non-string as key type of map. The type is: MAP<INT, INT>"
        );
        let (_, errs) = decode_all(sch(), &[("json.fail-on-missing-field", "true")], &[r#"{"id":1}"#]);
        assert_eq!(errs, vec!["field 'name' is missing in the JSON data".to_string()]);
    }

    #[test]
    fn iso_timestamps() {
        let (got, errs) = decode_all(
            sch(),
            &[("json.timestamp-format.standard", "ISO-8601")],
            &[r#"{"ts":"2024-01-01T10:00","ltz":"2024-01-01T10:00:00Z"}"#, r#"{"ts":"2024-01-01 10:00:00"}"#],
        );
        assert_eq!(got, vec!["+I[null, null, 2024-01-01T10:00, null, null, null, null, 2024-01-01T10:00:00Z, null, null, null, null]"]);
        assert_eq!(errs.len(), 1);
    }

    /// Flink's json writer output (Flink 2.3, `json.map-null-key.mode`=LITERAL, literal NULLKEY).
    const FLINK_JSON: [&str; 5] = [
        r#"{"id":1,"name":"a","ts":"2024-01-01 10:00:00.123","d":12.5,"b":true,"f":1.1,"dbl":0.30000000000000004,"ti":1,"dt":"2024-01-02","tm":"10:11:12","ltz":"2024-01-01 10:00:00.5Z","by":"YWJj","arr":[1,2,null],"m":{"a":1,"b":null},"r":{"a":1,"b":"s"},"ts6":"2024-01-01 10:00:00.123456","dd":1E-10,"d2":1.0E20}"#,
        r#"{"id":2,"name":"he said \"hi\", ok","ts":"2024-01-01 00:00:00","d":3,"b":false,"f":1.0E10,"dbl":1.0E-5,"ti":-1,"dt":"1970-01-01","tm":"00:00:00","ltz":"2024-01-01 00:00:00Z","by":"","arr":[3],"m":{"NULLKEY":5},"r":{"a":null,"b":null},"ts6":"2024-01-01 00:00:00.05","dd":1E+2,"d2":100.0}"#,
        r#"{"id":null,"name":null,"ts":null,"d":null,"b":null,"f":null,"dbl":"NaN","ti":null,"dt":null,"tm":null,"ltz":null,"by":null,"arr":null,"m":null,"r":null,"ts6":null,"dd":-0.5,"d2":-1.5E-7}"#,
        r#"{"id":4,"name":"line\nbreak","ts":"2024-01-01 10:00:14","d":0,"b":true,"f":0.0,"dbl":1234567.0,"ti":0,"dt":"2024-01-02","tm":"23:59:59","ltz":"2024-01-01 10:00:00.123Z","by":"YQ==","arr":[],"m":{"k":1},"r":{"a":2,"b":"x,y"},"ts6":"2024-01-01 10:00:00.000001","dd":12345678.9,"d2":1.2345678E7}"#,
        r#"{"id":5,"name":" sp ","ts":"2024-01-01 10:00:14","d":-1.05,"b":true,"f":3.4E38,"dbl":0.001,"ti":0,"dt":"2024-01-02","tm":"23:59:59","ltz":"2024-01-01 10:00:00.123Z","by":"YQ==","arr":[],"m":{"k":1},"r":{"a":2,"b":""},"ts6":"2024-01-01 10:00:00.1","dd":0.0001,"d2":1.0E7}"#,
    ];

    pub(crate) fn wide_schema() -> SchemaRef {
        schema(&[
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
            ("m", T::Map(Box::new(T::String), Box::new(T::Int))),
            ("r", row(&[("a", T::Int), ("b", T::String)])),
            ("ts6", T::Timestamp(6)),
            ("dd", T::Decimal(20, 10)),
            ("d2", T::Double),
        ])
    }

    pub(crate) fn flink_batch(s: SchemaRef) -> RecordBatch {
        let mut d = JsonDecoder::new(s, &opts(&[])).unwrap();
        for l in FLINK_JSON {
            assert_eq!(d.decode(l.as_bytes()), Ok(true), "{l}");
        }
        d.flush().unwrap()
    }

    fn encode(s: SchemaRef, o: &[(&str, &str)], b: &RecordBatch) -> Vec<String> {
        let mut e = JsonEncoder::new(s, &opts(o)).unwrap();
        let mut out = Vec::new();
        e.encode(b, &mut out).unwrap();
        out.into_iter().map(|v| String::from_utf8(v).unwrap()).collect()
    }

    #[test]
    fn encodes_like_flink() {
        let b = flink_batch(wide_schema());
        assert_eq!(encode(wide_schema(), &[], &b), FLINK_JSON.to_vec());
    }

    #[test]
    fn encodes_like_flink_with_iso_plain_decimals_and_ignored_nulls() {
        // Flink 2.3 with ISO-8601, decimal-as-plain-number, ignore-null-fields.
        let want = [
            r#"{"id":1,"name":"a","ts":"2024-01-01T10:00:00.123","d":12.50,"b":true,"f":1.1,"dbl":0.30000000000000004,"ti":1,"dt":"2024-01-02","tm":"10:11:12","ltz":"2024-01-01T10:00:00.5Z","by":"YWJj","arr":[1,2,null],"m":{"a":1,"b":null},"r":{"a":1,"b":"s"},"ts6":"2024-01-01T10:00:00.123456","dd":0.0000000001,"d2":1.0E20}"#,
            r#"{"dbl":"NaN","dd":-0.5000000000,"d2":-1.5E-7}"#,
            r#"{"id":4,"name":"line\nbreak","ts":"2024-01-01T10:00:14","d":0.00,"b":true,"f":0.0,"dbl":1234567.0,"ti":0,"dt":"2024-01-02","tm":"23:59:59","ltz":"2024-01-01T10:00:00.123Z","by":"YQ==","arr":[],"m":{"k":1},"r":{"a":2,"b":"x,y"},"ts6":"2024-01-01T10:00:00.000001","dd":12345678.9000000000,"d2":1.2345678E7}"#,
        ];
        let b = flink_batch(wide_schema());
        let o = [
            ("json.timestamp-format.standard", "ISO-8601"),
            ("json.encode.decimal-as-plain-number", "true"),
            ("json.encode.ignore-null-fields", "true"),
        ];
        let got = encode(wide_schema(), &o, &b);
        assert_eq!([got[0].as_str(), got[2].as_str(), got[3].as_str()], want);
        // Nested NULL fields are dropped too: Flink wrote "r":{} for ROW(NULL, NULL).
        assert!(got[1].contains(r#""r":{}"#), "{}", got[1]);
    }

    #[test]
    fn escapes_strings_like_jackson() {
        // Flink 2.3 wrote CONCAT('x', CHR(1), CHR(233), '\', '/', CHR(9)) as "x\u0001é\\/\t".
        let mut s = String::new();
        write_json_string(&mut s, "x\u{1}é\\/\t\"");
        assert_eq!(s, r#""x\u0001é\\/\t\"""#);
    }

    #[test]
    fn garbage_never_panics() {
        let s = wide_schema();
        let mut strict = JsonDecoder::new(s.clone(), &opts(&[])).unwrap();
        let mut lenient = JsonDecoder::new(s.clone(), &opts(&[("json.ignore-parse-errors", "true")])).unwrap();
        let mut rng = Lcg(42);
        let alphabet: &[u8] = b"{}[]:,\"\\ 0123456789.eE+-truefalsnul\x01\xff\xc3\xa9abcdu";
        let names = ["\"id\"", "\"m\"", "\"r\"", "\"arr\"", "\"ts\"", "\"by\"", "\"d\""];
        for _ in 0..20_000 {
            let mut rec: Vec<u8> = Vec::new();
            if rng.next().is_multiple_of(2) {
                rec.extend_from_slice(b"{");
                rec.extend_from_slice(names[(rng.next() % names.len() as u64) as usize].as_bytes());
                rec.push(b':');
            }
            for _ in 0..(rng.next() % 24) {
                rec.push(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
            }
            let _ = strict.decode(&rec);
            assert!(lenient.decode(&rec).is_ok());
        }
        let b = strict.flush().unwrap();
        let mut out = Vec::new();
        JsonEncoder::new(s.clone(), &opts(&[])).unwrap().encode(&b, &mut out).unwrap();
        lenient.flush().unwrap();
    }
}
