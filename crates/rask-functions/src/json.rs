//! Flink's JSON_VALUE(json, path) and JSON_EXISTS(json, path) over serde_json, for the common
//! path subset: `$`, `.key`, `['key']` / `["key"]`, `[n]` (negative counts from the end), with an
//! optional `lax`/`strict` mode prefix. JSON_VALUE returns scalars as STRING (numbers keep their
//! text, e.g. `1.50`) and NULL for missing paths, objects/arrays, JSON null and invalid input.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use datafusion_common::Result;
use datafusion_expr::ScalarUDF;
use serde_json::value::RawValue;

use crate::util::{Args, FlinkUdf, all_str, map_str};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        FlinkUdf::new("json_value", 2, 2, all_str, |_| Ok(DataType::Utf8), json_value).udf(),
        FlinkUdf::new("json_exists", 2, 2, all_str, |_| Ok(DataType::Boolean), json_exists).udf(),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

/// Parses a JSON path; `None` if it is not in the supported subset.
fn parse_path(p: &str) -> Option<Vec<Step>> {
    let p = p.trim();
    let p = p.strip_prefix("lax").or_else(|| p.strip_prefix("strict")).map(str::trim_start).unwrap_or(p);
    let rest = p.strip_prefix('$')?;
    let b: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < b.len() && b[i] != '.' && b[i] != '[' {
                    i += 1;
                }
                let key: String = b[start..i].iter().collect();
                if key.is_empty() || key == "*" {
                    return None;
                }
                steps.push(Step::Key(key));
            }
            '[' => {
                i += 1;
                match b.get(i) {
                    Some(&q @ ('\'' | '"')) => {
                        i += 1;
                        let start = i;
                        while i < b.len() && b[i] != q {
                            i += 1;
                        }
                        let key: String = b.get(start..i)?.iter().collect();
                        i += 1;
                        if b.get(i) != Some(&']') {
                            return None;
                        }
                        steps.push(Step::Key(key));
                    }
                    _ => {
                        let start = i;
                        while i < b.len() && b[i] != ']' {
                            i += 1;
                        }
                        let n: String = b.get(start..i)?.iter().collect();
                        steps.push(Step::Index(n.trim().parse().ok()?));
                        if i >= b.len() {
                            return None;
                        }
                    }
                }
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => return None,
        }
    }
    Some(steps)
}

/// Follows `steps` into `json`; `None` if the document is invalid or the path is missing.
fn lookup<'a>(json: &'a str, steps: &[Step]) -> Option<&'a RawValue> {
    let mut cur: &'a RawValue = serde_json::from_str(json).ok()?;
    for step in steps {
        let text = cur.get().trim_start();
        cur = match step {
            Step::Key(k) => {
                if !text.starts_with('{') {
                    return None;
                }
                let m: HashMap<String, &'a RawValue> = serde_json::from_str(cur.get()).ok()?;
                m.get(k).copied()?
            }
            Step::Index(n) => {
                if !text.starts_with('[') {
                    return None;
                }
                let v: Vec<&'a RawValue> = serde_json::from_str(cur.get()).ok()?;
                let idx = if *n < 0 { v.len() as i64 + n } else { *n };
                *v.get(usize::try_from(idx).ok()?)?
            }
        };
    }
    Some(cur)
}

/// Java `BigDecimal.toString()` of a JSON number's text (`1e2` -> `1E+2`, `-0.5e-3` -> `-0.0005`).
fn number_text(t: &str) -> String {
    let Some((mant, exp)) = t.split_once(['e', 'E']) else { return t.to_string() };
    let Ok(exp) = exp.parse::<i64>() else { return t.to_string() };
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = format!("{int}{frac}");
    let coeff = digits.trim_start_matches('0');
    let coeff = if coeff.is_empty() { "0" } else { coeff };
    let scale = frac.len() as i64 - exp;
    let adjusted = -scale + (coeff.len() as i64 - 1);
    let sign = if neg { "-" } else { "" };
    if scale >= 0 && adjusted >= -6 {
        let s = scale as usize;
        if s == 0 {
            return format!("{sign}{coeff}");
        }
        let padded = if coeff.len() <= s { format!("{}{coeff}", "0".repeat(s + 1 - coeff.len())) } else { coeff.to_string() };
        let (i, f) = padded.split_at(padded.len() - s);
        return format!("{sign}{i}.{f}");
    }
    let (first, rest) = coeff.split_at(1);
    let mut out = format!("{sign}{first}");
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    if adjusted != 0 {
        out.push_str(&format!("E{}{adjusted}", if adjusted > 0 { "+" } else { "" }));
    }
    out
}

/// The scalar text of a JSON value, or `None` for null / object / array.
fn scalar_text(v: &RawValue) -> Option<String> {
    let t = v.get().trim();
    match t.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(t).ok(),
        b'{' | b'[' | b'n' => None,
        b't' | b'f' => Some(t.to_string()),
        _ => Some(number_text(t)),
    }
}

struct PathCache(Option<(String, Option<Vec<Step>>)>);

impl PathCache {
    fn get(&mut self, p: &str) -> Option<&[Step]> {
        if !matches!(&self.0, Some((lp, _)) if lp == p) {
            self.0 = Some((p.to_string(), parse_path(p)));
        }
        self.0.as_ref().and_then(|(_, s)| s.as_deref())
    }
}

fn json_value(a: &Args) -> Result<ArrayRef> {
    let (j, p) = (a.str(0)?, a.str(1)?);
    let mut cache = PathCache(None);
    Ok(map_str(a.rows, |r| {
        let steps = cache.get(p.get(r)?)?;
        scalar_text(lookup(j.get(r)?, steps)?)
    }))
}

fn json_exists(a: &Args) -> Result<ArrayRef> {
    let (j, p) = (a.str(0)?, a.str(1)?);
    let mut cache = PathCache(None);
    let out: BooleanArray = (0..a.rows)
        .map(|r| {
            let (j, p) = (j.get(r)?, p.get(r)?);
            let found = cache.get(p).and_then(|steps| lookup(j, steps)).is_some_and(|v| v.get().trim() != "null");
            Some(found)
        })
        .collect();
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test::*;
    use datafusion_common::ScalarValue;

    fn jv(j: &str, p: &str) -> Option<String> {
        scalar_str(&run_scalars(&functions()[0], vec![s(j), s(p)]).expect("runs"))
    }
    fn je(j: &str, p: &str) -> ScalarValue {
        run_scalars(&functions()[1], vec![s(j), s(p)]).expect("runs")
    }

    #[test]
    fn json_value_cases() {
        assert_eq!(jv(r#"{"a":{"b":[1,2]}}"#, "$.a.b[1]"), Some("2".into()));
        assert_eq!(jv(r#"{"a":"x"}"#, "$.a"), Some("x".into()));
        assert_eq!(jv(r#"{"a":"x\"y"}"#, "$.a"), Some("x\"y".into()));
        assert_eq!(jv(r#"{"a":{"c":1}}"#, "$.a"), None);
        assert_eq!(jv(r#"{"a":[1,2]}"#, "$.a"), None);
        assert_eq!(jv("bad", "$.a"), None);
        assert_eq!(jv(r#"{"a":true}"#, "$.a"), Some("true".into()));
        assert_eq!(jv(r#"{"a":1.50}"#, "$.a"), Some("1.50".into()));
        assert_eq!(jv(r#"{"a":1e2}"#, "$.a"), Some("1E+2".into()));
        assert_eq!(jv(r#"{"a":-0.5e-3}"#, "$.a"), Some("-0.0005".into()));
        assert_eq!(jv(r#"{"a":12345678901234567890123}"#, "$.a"), Some("12345678901234567890123".into()));
        assert_eq!(jv(r#"{"a":null}"#, "$.a"), None);
        assert_eq!(jv(r#"{"a b":3}"#, "$['a b']"), Some("3".into()));
        assert_eq!(jv("[1,2,3]", "$[2]"), Some("3".into()));
        assert_eq!(jv(r#"{"a":[{"b":1},{"b":2}]}"#, "$.a[1].b"), Some("2".into()));
        assert_eq!(jv(r#"{"a":1}"#, "bad path"), None);
        assert_eq!(jv(r#"{"a":1}"#, "$"), None);
        assert_eq!(jv(r#""s""#, "$"), Some("s".into()));
        assert_eq!(jv(r#"{"a":1}"#, "$.a.b"), None);
        assert_eq!(jv(r#"{"a":[1,2]}"#, "$.a[5]"), None);
        assert_eq!(jv(r#"{"a":[1,2]}"#, "$.a[-1]"), Some("2".into()));
        assert_eq!(jv(r#"{"a":1, "a":2}"#, "$.a"), Some("2".into()));
        assert_eq!(jv(r#"{"a":1}"#, "lax $.a"), Some("1".into()));
        let out = run_arrays(&functions()[0], vec![strs(&[Some(r#"{"k":"v"}"#), None]), strs(&[Some("$.k"), Some("$.k")])])
            .expect("runs");
        assert_eq!(as_strs(&out), vec![Some("v".into()), None]);
    }

    #[test]
    fn json_exists_cases() {
        let t = ScalarValue::Boolean(Some(true));
        let f = ScalarValue::Boolean(Some(false));
        assert_eq!(je(r#"{"a":{"b":[1,2]}}"#, "$.a.b[1]"), t);
        assert_eq!(je(r#"{"a":null}"#, "$.a"), f);
        assert_eq!(je(r#"{"a":1}"#, "$.b"), f);
        assert_eq!(je("bad", "$.b"), f);
        assert_eq!(je(r#"{"a":[1]}"#, "$.a[3]"), f);
        assert_eq!(je(r#"{"a":{}}"#, "$.a"), t);
        assert_eq!(je(r#"{"a":1}"#, "$"), t);
        assert_eq!(run_scalars(&functions()[1], vec![null_str(), s("$")]).expect("runs"), ScalarValue::Boolean(None));
    }
}
