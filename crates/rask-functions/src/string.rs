//! Flink's string functions where DataFusion lacks them or differs: CONCAT (NULL if any argument
//! is NULL), CONCAT_WS, REGEXP_EXTRACT, REGEXP_REPLACE, SPLIT_INDEX, INITCAP, LPAD/RPAD, LOCATE,
//! LEFT/RIGHT, CHR, MD5/SHA1/SHA224/SHA256, TO_BASE64/FROM_BASE64, STR_TO_MAP, IS_ALPHA/IS_DIGIT/
//! IS_DECIMAL. Semantics checked against Flink 2.3.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int32Array, MapBuilder, MapFieldNames,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{ColumnarValue, ScalarUDF};
use md5::Digest;
use regex::Regex;

use crate::util::{Args, FlinkUdf, Str, all_str, by_pattern, exec_err, map_str};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        FlinkUdf::new("concat", 1, usize::MAX, all_str, |_| Ok(DataType::Utf8), concat).udf(),
        FlinkUdf::new("concat_ws", 1, usize::MAX, all_str, |_| Ok(DataType::Utf8), concat_ws).udf(),
        FlinkUdf::new("regexp_extract", 2, 3, |t| Ok(by_pattern(t, "SSI")), |_| Ok(DataType::Utf8), regexp_extract)
            .udf(),
        FlinkUdf::new("regexp_replace", 3, 3, all_str, |_| Ok(DataType::Utf8), regexp_replace).udf(),
        Arc::new(
            ScalarUDF::from(FlinkUdf::new("substr", 2, 3, |t| Ok(by_pattern(t, "SII")), |_| Ok(DataType::Utf8), substr))
                .with_aliases(["substring"]),
        ),
        FlinkUdf::new("split_index", 3, 3, |t| Ok(by_pattern(t, "SSI")), |_| Ok(DataType::Utf8), split_index).udf(),
        FlinkUdf::new("initcap", 1, 1, all_str, |_| Ok(DataType::Utf8), initcap).udf(),
        FlinkUdf::new("lpad", 2, 3, |t| Ok(by_pattern(t, "SIS")), |_| Ok(DataType::Utf8), lpad).udf(),
        FlinkUdf::new("rpad", 2, 3, |t| Ok(by_pattern(t, "SIS")), |_| Ok(DataType::Utf8), rpad).udf(),
        FlinkUdf::new("locate", 2, 3, |t| Ok(by_pattern(t, "SSI")), |_| Ok(DataType::Int32), locate).udf(),
        FlinkUdf::new("left", 2, 2, |t| Ok(by_pattern(t, "SI")), |_| Ok(DataType::Utf8), left).udf(),
        FlinkUdf::new("right", 2, 2, |t| Ok(by_pattern(t, "SI")), |_| Ok(DataType::Utf8), right).udf(),
        FlinkUdf::new("chr", 1, 1, |t| Ok(by_pattern(t, "I")), |_| Ok(DataType::Utf8), chr).udf(),
        FlinkUdf::new("md5", 1, 1, bytes_or_str, |_| Ok(DataType::Utf8), md5_fn).udf(),
        FlinkUdf::new("sha1", 1, 1, bytes_or_str, |_| Ok(DataType::Utf8), sha1_fn).udf(),
        FlinkUdf::new("sha224", 1, 1, bytes_or_str, |_| Ok(DataType::Utf8), sha224_fn).udf(),
        FlinkUdf::new("sha256", 1, 1, bytes_or_str, |_| Ok(DataType::Utf8), sha256_fn).udf(),
        FlinkUdf::new("to_base64", 1, 1, bytes_or_str, |_| Ok(DataType::Utf8), to_base64).udf(),
        FlinkUdf::new("from_base64", 1, 1, all_str, |_| Ok(DataType::Utf8), from_base64).udf(),
        FlinkUdf::new("str_to_map", 1, 3, all_str, |_| Ok(str_map_type()), str_to_map).udf(),
        FlinkUdf::new("is_alpha", 1, 1, all_str, |_| Ok(DataType::Boolean), is_alpha).udf(),
        FlinkUdf::new("is_digit", 1, 1, all_str, |_| Ok(DataType::Boolean), is_digit).udf(),
        FlinkUdf::new("is_decimal", 1, 1, all_str, |_| Ok(DataType::Boolean), is_decimal).udf(),
    ]
}

/// Binary types stay binary, everything else becomes a string.
pub(crate) fn bytes_or_str(types: &[DataType]) -> Result<Vec<DataType>> {
    Ok(types
        .iter()
        .map(|t| match t {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                DataType::Binary
            }
            _ => DataType::Utf8,
        })
        .collect())
}

/// A string or binary argument read as bytes.
#[derive(Clone, Copy)]
pub(crate) enum Bytes<'a> {
    Str(Str<'a>),
    Scalar(Option<&'a [u8]>),
    Array(&'a BinaryArray),
}

impl<'a> Bytes<'a> {
    pub(crate) fn of(args: &'a Args, i: usize) -> Result<Self> {
        match &args.cols[i] {
            ColumnarValue::Scalar(ScalarValue::Binary(v)) => Ok(Bytes::Scalar(v.as_deref())),
            ColumnarValue::Array(a) if a.data_type() == &DataType::Binary => Ok(Bytes::Array(a.as_binary::<i32>())),
            _ => Ok(Bytes::Str(args.str(i)?)),
        }
    }
    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        match *self {
            Bytes::Str(s) => s.get(i).map(str::as_bytes),
            Bytes::Scalar(v) => v,
            Bytes::Array(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// Compiles regular expressions, remembering the last one (patterns are nearly always constant).
/// Like Flink, a malformed pattern gives NULL (`Ok(None)`); a pattern using Java features the
/// `regex` crate lacks (look-around, backreferences) is an error, not a silent NULL.
pub(crate) struct RegexCache {
    func: &'static str,
    last: Option<(String, Option<Regex>)>,
}

impl RegexCache {
    pub(crate) fn new(func: &'static str) -> Self {
        Self { func, last: None }
    }
    pub(crate) fn get(&mut self, pattern: &str) -> Result<Option<&Regex>> {
        let hit = matches!(&self.last, Some((p, _)) if p == pattern);
        if !hit {
            let re = match Regex::new(pattern) {
                Ok(re) => Some(re),
                Err(e) if e.to_string().contains("not supported") => {
                    return Err(exec_err(format!("{}: invalid pattern '{pattern}': {e}", self.func)));
                }
                Err(_) => None,
            };
            self.last = Some((pattern.to_string(), re));
        }
        Ok(self.last.as_ref().and_then(|(_, re)| re.as_ref()))
    }
}

fn concat(a: &Args) -> Result<ArrayRef> {
    let cols: Vec<Str> = (0..a.len()).map(|i| a.str(i)).collect::<Result<_>>()?;
    Ok(map_str(a.rows, |r| {
        let mut out = String::new();
        for c in &cols {
            out.push_str(c.get(r)?);
        }
        Some(out)
    }))
}

fn concat_ws(a: &Args) -> Result<ArrayRef> {
    let cols: Vec<Str> = (0..a.len()).map(|i| a.str(i)).collect::<Result<_>>()?;
    Ok(map_str(a.rows, |r| {
        let sep = cols[0].get(r)?;
        let mut out = String::new();
        let mut first = true;
        for c in &cols[1..] {
            if let Some(v) = c.get(r) {
                if !first {
                    out.push_str(sep);
                }
                out.push_str(v);
                first = false;
            }
        }
        Some(out)
    }))
}

fn regexp_extract(a: &Args) -> Result<ArrayRef> {
    let (s, p) = (a.str(0)?, a.str(1)?);
    let idx = if a.len() > 2 { Some(a.prim::<Int64Type>(2)?) } else { None };
    let mut cache = RegexCache::new("REGEXP_EXTRACT");
    let mut out = StringBuilder::new();
    for r in 0..a.rows {
        let (Some(s), Some(p)) = (s.get(r), p.get(r)) else {
            out.append_null();
            continue;
        };
        // Flink's two-argument form extracts the whole match (group 0).
        let idx = match &idx {
            Some(i) => match i.get(r) {
                Some(i) => i,
                None => {
                    out.append_null();
                    continue;
                }
            },
            None => 0,
        };
        let Some(re) = cache.get(p)? else {
            out.append_null();
            continue;
        };
        let v = usize::try_from(idx)
            .ok()
            .filter(|&i| i < re.captures_len())
            .and_then(|i| re.captures(s).and_then(|c| c.get(i)))
            .map(|m| m.as_str());
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

/// Flink 2.3 inserts the replacement literally (`$1` is not a group reference).
fn regexp_replace(a: &Args) -> Result<ArrayRef> {
    let (s, p, rep) = (a.str(0)?, a.str(1)?, a.str(2)?);
    let mut cache = RegexCache::new("REGEXP_REPLACE");
    let mut out = StringBuilder::new();
    for r in 0..a.rows {
        let (Some(s), Some(p), Some(rep)) = (s.get(r), p.get(r), rep.get(r)) else {
            out.append_null();
            continue;
        };
        match cache.get(p)? {
            Some(re) => out.append_value(re.replace_all(s, regex::NoExpand(rep))),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Flink's SUBSTRING(s, pos[, len]): 1-based; pos 0 means 1; negative pos counts from the end;
/// negative len gives NULL.
fn substr(a: &Args) -> Result<ArrayRef> {
    let (s, pos) = (a.str(0)?, a.prim::<Int64Type>(1)?);
    let len = if a.len() > 2 { Some(a.prim::<Int64Type>(2)?) } else { None };
    Ok(map_str(a.rows, |r| {
        let (s, pos) = (s.get(r)?, pos.get(r)?);
        let len = match &len {
            Some(l) => Some(l.get(r)?),
            None => None,
        };
        if len.is_some_and(|l| l < 0) {
            return None;
        }
        let n = s.chars().count() as i64;
        let start = if pos > 0 { pos - 1 } else if pos < 0 { n + pos } else { 0 };
        let end = match len {
            Some(l) => start.saturating_add(l).min(n),
            None => n,
        };
        if start < 0 || end <= start {
            return Some(String::new());
        }
        Some(s.chars().skip(start as usize).take((end - start) as usize).collect())
    }))
}

/// Token `idx` of `s` split as commons-lang's `splitByWholeSeparatorPreserveAllTokens` (empty
/// separator: split on whitespace), without collecting the tokens.
fn split_token<'s>(s: &'s str, sep: &str, idx: usize) -> Option<&'s str> {
    if s.is_empty() {
        return None;
    }
    let mut chars = sep.chars();
    match (chars.next(), chars.next()) {
        (None, _) => s.split(char::is_whitespace).nth(idx),
        // One-character separators (the usual case) split much faster by char.
        (Some(c), None) => s.split(c).nth(idx),
        _ => s.split(sep).nth(idx),
    }
}

fn split_index(a: &Args) -> Result<ArrayRef> {
    let (s, sep, idx) = (a.str(0)?, a.str(1)?, a.prim::<Int64Type>(2)?);
    let mut out = StringBuilder::with_capacity(a.rows, a.rows * 8);
    for r in 0..a.rows {
        let v = match (s.get(r), sep.get(r), idx.get(r)) {
            (Some(s), Some(sep), Some(idx)) => usize::try_from(idx).ok().and_then(|i| split_token(s, sep, i)),
            _ => None,
        };
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

/// Calcite's INITCAP: words are runs of ASCII letters/digits; first letter upper, rest lower.
fn initcap_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if start { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

fn initcap(a: &Args) -> Result<ArrayRef> {
    let s = a.str(0)?;
    Ok(map_str(a.rows, |r| Some(initcap_str(s.get(r)?))))
}

fn pad(a: &Args, left: bool) -> Result<ArrayRef> {
    let (s, len) = (a.str(0)?, a.prim::<Int64Type>(1)?);
    let p = if a.len() > 2 { Some(a.str(2)?) } else { None };
    Ok(map_str(a.rows, |r| {
        let (s, len) = (s.get(r)?, len.get(r)?);
        let pad = match &p {
            Some(p) => p.get(r)?,
            None => " ",
        };
        if len < 0 || pad.is_empty() {
            return None;
        }
        let len = usize::try_from(len).ok()?;
        let n = s.chars().count();
        if len <= n {
            return Some(s.chars().take(len).collect());
        }
        let fill: String = pad.chars().cycle().take(len - n).collect();
        Some(if left { fill + s } else { format!("{s}{fill}") })
    }))
}

fn lpad(a: &Args) -> Result<ArrayRef> {
    pad(a, true)
}

fn rpad(a: &Args) -> Result<ArrayRef> {
    pad(a, false)
}

/// 1-based character position of `needle` in `s` at or after character `from` (1-based); 0 if absent.
fn char_position(needle: &str, s: &str, from: usize) -> i32 {
    let Some((start, _)) = s.char_indices().chain(std::iter::once((s.len(), ' '))).nth(from - 1) else {
        return 0;
    };
    match s[start..].find(needle) {
        Some(b) => (s[..start + b].chars().count() + 1) as i32,
        None => 0,
    }
}

fn locate(a: &Args) -> Result<ArrayRef> {
    let (needle, s) = (a.str(0)?, a.str(1)?);
    let pos = if a.len() > 2 { Some(a.prim::<Int64Type>(2)?) } else { None };
    let out: Int32Array = (0..a.rows)
        .map(|r| {
            let (needle, s) = (needle.get(r)?, s.get(r)?);
            let from = match &pos {
                Some(p) => p.get(r)?,
                None => 1,
            };
            if from < 1 {
                return Some(0);
            }
            Some(char_position(needle, s, usize::try_from(from).ok()?))
        })
        .collect();
    Ok(Arc::new(out))
}

fn left(a: &Args) -> Result<ArrayRef> {
    let (s, n) = (a.str(0)?, a.prim::<Int64Type>(1)?);
    Ok(map_str(a.rows, |r| {
        let (s, n) = (s.get(r)?, n.get(r)?);
        Some(s.chars().take(usize::try_from(n).unwrap_or(0)).collect())
    }))
}

fn right(a: &Args) -> Result<ArrayRef> {
    let (s, n) = (a.str(0)?, a.prim::<Int64Type>(1)?);
    Ok(map_str(a.rows, |r| {
        let (s, n) = (s.get(r)?, n.get(r)?);
        let n = usize::try_from(n).unwrap_or(0);
        let len = s.chars().count();
        Some(s.chars().skip(len.saturating_sub(n)).collect())
    }))
}

fn chr(a: &Args) -> Result<ArrayRef> {
    let n = a.prim::<Int64Type>(0)?;
    Ok(map_str(a.rows, |r| {
        let n = n.get(r)?;
        if n < 0 {
            return Some(String::new());
        }
        Some(char::from((n & 0xFF) as u8).to_string())
    }))
}

fn digest_fn(a: &Args, f: fn(&[u8]) -> String) -> Result<ArrayRef> {
    let b = Bytes::of(a, 0)?;
    Ok(map_str(a.rows, |r| Some(f(b.get(r)?))))
}

fn md5_fn(a: &Args) -> Result<ArrayRef> {
    digest_fn(a, |b| hex::encode(md5::Md5::digest(b)))
}

fn sha1_fn(a: &Args) -> Result<ArrayRef> {
    digest_fn(a, |b| hex::encode(sha::sha1(b)))
}

fn sha224_fn(a: &Args) -> Result<ArrayRef> {
    digest_fn(a, |b| hex::encode(&sha::sha256(b, true)[..28]))
}

fn sha256_fn(a: &Args) -> Result<ArrayRef> {
    digest_fn(a, |b| hex::encode(sha::sha256(b, false)))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); `None` if malformed.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return None;
    }
    Some(out)
}

fn to_base64(a: &Args) -> Result<ArrayRef> {
    let b = Bytes::of(a, 0)?;
    Ok(map_str(a.rows, |r| Some(base64_encode(b.get(r)?))))
}

fn from_base64(a: &Args) -> Result<ArrayRef> {
    let s = a.str(0)?;
    Ok(map_str(a.rows, |r| {
        let bytes = base64_decode(s.get(r)?)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }))
}

/// MAP<STRING, STRING> as DataFusion's `map()` builds it.
pub(crate) fn str_map_type() -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
    ]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

/// Java `String.split(regex, limit)`: limit 0 drops trailing empty strings.
fn java_split<'s>(s: &'s str, re: &Regex, limit: usize) -> Vec<&'s str> {
    let mut parts = Vec::new();
    let mut last = 0;
    for m in re.find_iter(s) {
        if limit > 0 && parts.len() + 1 >= limit {
            break;
        }
        if m.end() == 0 {
            continue; // a zero-width match at the start yields no leading empty string
        }
        if m.start() == m.end() && m.start() >= s.len() {
            break;
        }
        parts.push(&s[last..m.start()]);
        last = m.end();
    }
    parts.push(&s[last..]);
    if limit == 0 {
        while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
            parts.clear();
        }
    }
    parts
}

fn str_to_map(a: &Args) -> Result<ArrayRef> {
    let text = a.str(0)?;
    let list = if a.len() > 1 { Some(a.str(1)?) } else { None };
    let kv = if a.len() > 2 { Some(a.str(2)?) } else { None };
    let names = MapFieldNames { entry: "entries".into(), key: "key".into(), value: "value".into() };
    let mut b = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
        .with_keys_field(Arc::new(Field::new("key", DataType::Utf8, false)))
        .with_values_field(Arc::new(Field::new("value", DataType::Utf8, true)));
    let mut list_re = RegexCache::new("STR_TO_MAP");
    let mut kv_re = RegexCache::new("STR_TO_MAP");
    for r in 0..a.rows {
        let ld = match &list {
            Some(l) => l.get(r),
            None => Some(","),
        };
        let kd = match &kv {
            Some(k) => k.get(r),
            None => Some("="),
        };
        let (Some(t), Some(ld), Some(kd)) = (text.get(r), ld, kd) else {
            b.append(false).map_err(|e| exec_err(format!("STR_TO_MAP: {e}")))?;
            continue;
        };
        let mut entries: Vec<(&str, Option<&str>)> = Vec::new();
        if !t.is_empty() {
            let (Some(lre), Some(kre)) = (list_re.get(ld)?.cloned(), kv_re.get(kd)?) else {
                b.append(false).map_err(|e| exec_err(format!("STR_TO_MAP: {e}")))?;
                continue;
            };
            for pair in java_split(t, &lre, 0) {
                let kvp = java_split(pair, kre, 2);
                let (k, v) = if kvp.len() < 2 { (pair, None) } else { (kvp[0], Some(kvp[1])) };
                if let Some(e) = entries.iter_mut().find(|e| e.0 == k) {
                    e.1 = v;
                } else {
                    entries.push((k, v));
                }
            }
        }
        for (k, v) in entries {
            b.keys().append_value(k);
            b.values().append_option(v);
        }
        b.append(true).map_err(|e| exec_err(format!("STR_TO_MAP: {e}")))?;
    }
    Ok(Arc::new(b.finish()))
}

fn bool_str(a: &Args, f: fn(&str) -> bool) -> Result<ArrayRef> {
    let s = a.str(0)?;
    let out: BooleanArray = (0..a.rows).map(|r| Some(s.get(r).is_some_and(f))).collect();
    Ok(Arc::new(out))
}

fn is_alpha(a: &Args) -> Result<ArrayRef> {
    bool_str(a, |s| !s.is_empty() && s.chars().all(char::is_alphabetic))
}

fn is_digit(a: &Args) -> Result<ArrayRef> {
    bool_str(a, |s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
}

fn is_decimal(a: &Args) -> Result<ArrayRef> {
    bool_str(a, |s| {
        let t = s.trim();
        !t.is_empty() && !t.ends_with(['d', 'D', 'f', 'F']) && t.parse::<f64>().is_ok_and(|v| v.is_finite())
    })
}

/// SHA-1 and SHA-2 (224/256), small self-contained implementations.
mod sha {
    pub(super) fn sha1(data: &[u8]) -> [u8; 20] {
        let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
        for block in padded(data).chunks(64) {
            let mut w = [0u32; 80];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let [mut a, mut b, mut c, mut d, mut e] = h;
            for (i, wi) in w.iter().enumerate() {
                let (f, k) = match i {
                    0..=19 => ((b & c) | (!b & d), 0x5A827999),
                    20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                    40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                    _ => (b ^ c ^ d, 0xCA62C1D6u32),
                };
                let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = t;
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 20];
        for (i, v) in h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// SHA-256, or SHA-224 (different IV; caller truncates to 28 bytes).
    pub(super) fn sha256(data: &[u8], is224: bool) -> [u8; 32] {
        let mut h: [u32; 8] = if is224 {
            [0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4]
        } else {
            [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        };
        for block in padded(data).chunks(64) {
            let mut w = [0u32; 64];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
            for i in 0..64 {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                hh = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(t2);
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 32];
        for (i, v) in h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// Merkle–Damgård padding to a multiple of 64 bytes.
    fn padded(data: &[u8]) -> Vec<u8> {
        let mut m = data.to_vec();
        m.push(0x80);
        while m.len() % 64 != 56 {
            m.push(0);
        }
        m.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test::*;

    fn udf(name: &str) -> Arc<ScalarUDF> {
        functions().into_iter().find(|f| f.name() == name).expect("function exists")
    }

    fn names() -> ArrayRef {
        strs(&[Some("alice smith"), Some("Bob"), None])
    }

    fn eval(name: &str, args: Vec<ScalarValue>) -> Option<String> {
        scalar_str(&run_scalars(&udf(name), args).expect("runs"))
    }

    #[test]
    fn concat_null_if_any_null() {
        let out = run_arrays(&udf("concat"), vec![names(), strs(&[Some("-"); 3]), strs(&[Some("1"); 3])])
            .expect("runs");
        assert_eq!(as_strs(&out), vec![Some("alice smith-1".into()), Some("Bob-1".into()), None]);
        assert_eq!(eval("concat", vec![s("a"), null_str()]), None);
    }

    #[test]
    fn concat_ws_skips_nulls() {
        let out = run(
            &udf("concat_ws"),
            vec![
                ColumnarValue::Scalar(s("|")),
                ColumnarValue::Array(names()),
                ColumnarValue::Scalar(null_str()),
                ColumnarValue::Scalar(s("x")),
            ],
            3,
        )
        .expect("runs")
        .to_array(3)
        .expect("array");
        assert_eq!(as_strs(&out), vec![Some("alice smith|x".into()), Some("Bob|x".into()), Some("x".into())]);
        assert_eq!(eval("concat_ws", vec![null_str(), s("a")]), None);
        assert_eq!(eval("concat_ws", vec![s("-"), s("a"), s(""), s("b")]), Some("a--b".into()));
    }

    #[test]
    fn regexp_extract_cases() {
        let out = run(
            &udf("regexp_extract"),
            vec![
                ColumnarValue::Array(names()),
                ColumnarValue::Scalar(s("([a-z]+) ([a-z]+)")),
                ColumnarValue::Scalar(i(2)),
            ],
            3,
        )
        .expect("runs")
        .to_array(3)
        .expect("array");
        assert_eq!(as_strs(&out), vec![Some("smith".into()), None, None]);
        assert_eq!(eval("regexp_extract", vec![s("foo123"), s("o([0-9]+)")]), Some("o123".into()));
        assert_eq!(eval("regexp_extract", vec![s("foo123"), s("o([0-9]+)"), i(1)]), Some("123".into()));
        assert_eq!(eval("regexp_extract", vec![s("foo123"), s("([0-9]+)"), i(3)]), None);
        assert_eq!(eval("regexp_extract", vec![s("foo123"), s("([0-9]+)"), i(-1)]), None);
        assert_eq!(eval("regexp_extract", vec![s("b"), s("(x)?b"), i(1)]), None);
        assert_eq!(eval("regexp_extract", vec![s("a"), s("(")]), None);
        assert_eq!(eval("regexp_replace", vec![s("abc"), s("(b"), s("x")]), None);
        let err = run_scalars(&udf("regexp_extract"), vec![s("a"), s("(?=a)")]).expect_err("look-ahead");
        assert!(err.to_string().contains("REGEXP_EXTRACT: invalid pattern '(?=a)'"), "{err}");
    }

    #[test]
    fn regexp_replace_cases() {
        assert_eq!(eval("regexp_replace", vec![s("foobar"), s("o"), s("X")]), Some("fXXbar".into()));
        assert_eq!(eval("regexp_replace", vec![s("foobar"), s(""), s("-")]), Some("-f-o-o-b-a-r-".into()));
        assert_eq!(eval("regexp_replace", vec![s("abc"), s("(b)"), s("[$1]")]), Some("a[$1]c".into()));
        assert_eq!(eval("regexp_replace", vec![s("a.b"), s("\\."), s("\\$")]), Some("a\\$b".into()));
        assert_eq!(eval("regexp_replace", vec![s("2024-01-02"), s("(\\d+)-(\\d+)"), s("$2")]), Some("$2-02".into()));
        assert_eq!(eval("regexp_replace", vec![null_str(), s("a"), s("b")]), None);
    }

    #[test]
    fn substr_cases() {
        let sub = |p: i64, l: Option<i64>| {
            let mut args = vec![s("hello"), i(p)];
            args.extend(l.map(i));
            eval("substr", args)
        };
        assert_eq!(sub(2, Some(3)), Some("ell".into()));
        assert_eq!(sub(0, Some(3)), Some("hel".into()));
        assert_eq!(sub(-3, Some(2)), Some("ll".into()));
        assert_eq!(sub(-10, Some(2)), Some("".into()));
        assert_eq!(sub(2, None), Some("ello".into()));
        assert_eq!(sub(2, Some(-1)), None);
        assert_eq!(sub(9, Some(2)), Some("".into()));
        assert_eq!(sub(-2, None), Some("lo".into()));
        assert_eq!(sub(-6, Some(3)), Some("".into()));
        assert_eq!(sub(0, None), Some("hello".into()));
        let out = run_arrays(&udf("substr"), vec![names(), Arc::new(arrow::array::Int64Array::from(vec![2, 2, 2])), Arc::new(arrow::array::Int64Array::from(vec![3, 3, 3]))]).expect("runs");
        assert_eq!(as_strs(&out), vec![Some("lic".into()), Some("ob".into()), None]);
    }

    #[test]
    fn split_index_cases() {
        assert_eq!(eval("split_index", vec![s("alice smith"), s(" "), i(1)]), Some("smith".into()));
        assert_eq!(eval("split_index", vec![s("a,b,c"), s(","), i(5)]), None);
        assert_eq!(eval("split_index", vec![s("a,b,c"), s(","), i(-1)]), None);
        assert_eq!(eval("split_index", vec![s("a,,c"), s(","), i(1)]), Some("".into()));
        assert_eq!(eval("split_index", vec![s("a::b::c"), s("::"), i(2)]), Some("c".into()));
        assert_eq!(eval("split_index", vec![s("abc"), s(""), i(0)]), Some("abc".into()));
        assert_eq!(eval("split_index", vec![null_str(), s(","), i(0)]), None);
    }

    #[test]
    fn initcap_and_pads() {
        assert_eq!(eval("initcap", vec![s("hello wORLD foo_bar 1a x-y")]), Some("Hello World Foo_Bar 1a X-Y".into()));
        let out = run(
            &udf("lpad"),
            vec![ColumnarValue::Array(names()), ColumnarValue::Scalar(i(6)), ColumnarValue::Scalar(s("*"))],
            3,
        )
        .expect("runs")
        .to_array(3)
        .expect("array");
        assert_eq!(as_strs(&out), vec![Some("alice ".into()), Some("***Bob".into()), None]);
        assert_eq!(eval("rpad", vec![s("alice smith"), i(2), s("*")]), Some("al".into()));
        assert_eq!(eval("rpad", vec![s("abc"), i(5), s("xy")]), Some("abcxy".into()));
        assert_eq!(eval("lpad", vec![s("abc"), i(-1), s("*")]), None);
        assert_eq!(eval("lpad", vec![s("abc"), i(5), s("")]), None);
        assert_eq!(eval("lpad", vec![s("abc"), i(0), s("*")]), Some("".into()));
    }

    #[test]
    fn locate_left_right_chr() {
        let loc = |args| run_scalars(&udf("locate"), args).expect("runs");
        assert_eq!(loc(vec![s("b"), s("abcb")]), ScalarValue::Int32(Some(2)));
        assert_eq!(loc(vec![s("b"), s("abcb"), i(3)]), ScalarValue::Int32(Some(4)));
        assert_eq!(loc(vec![s("x"), s("abc")]), ScalarValue::Int32(Some(0)));
        assert_eq!(loc(vec![s(""), s("abc")]), ScalarValue::Int32(Some(1)));
        assert_eq!(loc(vec![s("é"), s("aéé"), i(3)]), ScalarValue::Int32(Some(3)));
        assert_eq!(loc(vec![s("a"), s("abc"), i(9)]), ScalarValue::Int32(Some(0)));
        assert_eq!(loc(vec![null_str(), s("abc")]), ScalarValue::Int32(None));
        assert_eq!(eval("left", vec![s("abc"), i(5)]), Some("abc".into()));
        assert_eq!(eval("left", vec![s("abc"), i(-1)]), Some("".into()));
        assert_eq!(eval("right", vec![s("abc"), i(2)]), Some("bc".into()));
        assert_eq!(eval("right", vec![s("abc"), i(-2)]), Some("".into()));
        assert_eq!(eval("chr", vec![i(65)]), Some("A".into()));
        assert_eq!(eval("chr", vec![i(256)]), Some("\0".into()));
        assert_eq!(eval("chr", vec![i(321)]), Some("A".into()));
        assert_eq!(eval("chr", vec![i(-1)]), Some("".into()));
    }

    #[test]
    fn digests_and_base64() {
        assert_eq!(eval("md5", vec![s("alice smith")]), Some("288248130f1859936b5cf16914273f23".into()));
        assert_eq!(eval("sha1", vec![s("abc")]), Some("a9993e364706816aba3e25717850c26c9cd0d89d".into()));
        assert_eq!(
            eval("sha256", vec![s("abc")]),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into())
        );
        assert_eq!(
            eval("sha224", vec![s("abc")]),
            Some("23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7".into())
        );
        let long = "a".repeat(1000);
        assert_eq!(eval("sha1", vec![s(&long)]), Some("291e9a6c66994949b57ba5e650361e98fc36b1ba".into()));
        assert_eq!(eval("md5", vec![null_str()]), None);
        assert_eq!(eval("to_base64", vec![s("hello")]), Some("aGVsbG8=".into()));
        assert_eq!(eval("to_base64", vec![s("hi")]), Some("aGk=".into()));
        assert_eq!(eval("from_base64", vec![s("aGVsbG8=")]), Some("hello".into()));
        assert_eq!(eval("from_base64", vec![s("aGk")]), Some("hi".into()));
        assert_eq!(eval("from_base64", vec![s("a$$")]), None);
    }

    #[test]
    fn str_to_map_cases() {
        let out = run_arrays(&udf("str_to_map"), vec![strs(&[Some("a=1,b=2"), None, Some(""), Some("a=1,a=2")])])
            .expect("runs");
        let m = out.as_map();
        assert_eq!(out.data_type(), &str_map_type());
        assert!(m.is_null(1));
        assert_eq!(m.value(2).len(), 0);
        let first = m.value(0);
        let keys: Vec<_> = first.column(0).as_string::<i32>().iter().collect();
        let vals: Vec<_> = first.column(1).as_string::<i32>().iter().collect();
        assert_eq!(keys, vec![Some("a"), Some("b")]);
        assert_eq!(vals, vec![Some("1"), Some("2")]);
        assert_eq!(m.value(3).column(1).as_string::<i32>().value(0), "2");
        let out = run_arrays(
            &udf("str_to_map"),
            vec![strs(&[Some("a:1;b")]), strs(&[Some(";")]), strs(&[Some(":")])],
        )
        .expect("runs");
        let e = out.as_map().value(0);
        assert_eq!(e.column(0).as_string::<i32>().value(1), "b");
        assert!(e.column(1).is_null(1));
    }

    #[test]
    fn is_predicates() {
        let b = |n: &str, v: &str| run_scalars(&udf(n), vec![s(v)]).expect("runs");
        assert_eq!(b("is_alpha", "abc"), ScalarValue::Boolean(Some(true)));
        assert_eq!(b("is_alpha", "ab1"), ScalarValue::Boolean(Some(false)));
        assert_eq!(b("is_digit", ""), ScalarValue::Boolean(Some(false)));
        assert_eq!(b("is_digit", "123"), ScalarValue::Boolean(Some(true)));
        assert_eq!(b("is_digit", "-1"), ScalarValue::Boolean(Some(false)));
        assert_eq!(b("is_decimal", "1.5"), ScalarValue::Boolean(Some(true)));
        assert_eq!(run_scalars(&udf("is_digit"), vec![null_str()]).expect("runs"), ScalarValue::Boolean(Some(false)));
    }
}
