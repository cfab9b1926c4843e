//! Flink's date/time functions: DATE_FORMAT, TO_TIMESTAMP, TO_DATE, UNIX_TIMESTAMP, FROM_UNIXTIME,
//! TO_TIMESTAMP_LTZ, YEAR/QUARTER/MONTH/WEEK/DAYOFYEAR/DAYOFMONTH/DAYOFWEEK/HOUR/MINUTE/SECOND,
//! TIMESTAMPADD and TIMESTAMPDIFF (unit as a string literal). Includes a formatter/parser for
//! Java `DateTimeFormatter` / `SimpleDateFormat` patterns. These read TIMESTAMP_LTZ values in
//! UTC; with another session time zone the planner passes them the wall-clock time in that zone
//! (see [`crate::zone`]).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array, PrimitiveArray, TimestampMillisecondArray,
};
use arrow::compute::kernels::temporal::{DatePart, date_part};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimeUnit};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use datafusion_common::{DataFusionError, Result};
use datafusion_expr::ScalarUDF;

use crate::util::{Args, FlinkUdf, all_str, exec_err, is_integer, is_string};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut v = vec![
        FlinkUdf::new("date_format", 2, 2, coerce_temporal_then_str, |_| Ok(DataType::Utf8), date_format).udf(),
        FlinkUdf::new("to_timestamp", 1, 2, all_str, |_| Ok(DataType::Timestamp(TimeUnit::Millisecond, None)), to_timestamp)
            .udf(),
        FlinkUdf::new("to_date", 1, 2, all_str, |_| Ok(DataType::Date32), to_date).udf(),
        FlinkUdf::new("unix_timestamp", 0, 2, all_str, |_| Ok(DataType::Int64), unix_timestamp).volatile().udf(),
        FlinkUdf::new("from_unixtime", 1, 2, coerce_int_str, |_| Ok(DataType::Utf8), from_unixtime).udf(),
        FlinkUdf::new("to_timestamp_ltz", 1, 3, coerce_ltz, |_| Ok(ltz_type()), to_timestamp_ltz).udf(),
        FlinkUdf::new("timestampadd", 3, 3, coerce_tsadd, |t| Ok(t.get(2).cloned().unwrap_or(DataType::Null)), timestampadd)
            .udf(),
        FlinkUdf::new("timestampdiff", 3, 3, coerce_tsdiff, |_| Ok(DataType::Int32), timestampdiff).udf(),
    ];
    macro_rules! part {
        ($name:literal, $f:ident) => {
            v.push(FlinkUdf::new($name, 1, 1, coerce_temporal, |_| Ok(DataType::Int64), $f).udf());
        };
    }
    part!("year", year);
    part!("quarter", quarter);
    part!("month", month);
    part!("week", week);
    part!("dayofyear", dayofyear);
    part!("dayofmonth", dayofmonth);
    part!("dayofweek", dayofweek);
    part!("hour", hour);
    part!("minute", minute);
    part!("second", second);
    v
}

pub(crate) fn ltz_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn is_temporal(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Timestamp(_, _))
}

/// Date32 / Timestamp stay; Date64 becomes Date32; strings become TIMESTAMP(3).
fn temporal_target(t: &DataType) -> DataType {
    match t {
        DataType::Date32 | DataType::Timestamp(_, _) => t.clone(),
        DataType::Date64 => DataType::Date32,
        _ => DataType::Timestamp(TimeUnit::Millisecond, None),
    }
}

fn coerce_temporal(t: &[DataType]) -> Result<Vec<DataType>> {
    Ok(t.iter().map(temporal_target).collect())
}

fn coerce_temporal_then_str(t: &[DataType]) -> Result<Vec<DataType>> {
    let first = if is_temporal(&t[0]) || t[0] == DataType::Date64 { temporal_target(&t[0]) } else { DataType::Utf8 };
    Ok(vec![first, DataType::Utf8])
}

fn coerce_int_str(t: &[DataType]) -> Result<Vec<DataType>> {
    Ok(t.iter().enumerate().map(|(i, _)| if i == 0 { DataType::Int64 } else { DataType::Utf8 }).collect())
}

fn coerce_ltz(t: &[DataType]) -> Result<Vec<DataType>> {
    if is_string(&t[0]) {
        return Ok(vec![DataType::Utf8; t.len()]);
    }
    let first = if is_integer(&t[0]) || t[0] == DataType::Null { DataType::Int64 } else { DataType::Float64 };
    Ok(t.iter().enumerate().map(|(i, _)| if i == 0 { first.clone() } else { DataType::Int64 }).collect())
}

fn coerce_tsadd(t: &[DataType]) -> Result<Vec<DataType>> {
    Ok(vec![DataType::Utf8, DataType::Int64, temporal_target(&t[2])])
}

fn coerce_tsdiff(t: &[DataType]) -> Result<Vec<DataType>> {
    let _ = t;
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    Ok(vec![DataType::Utf8, ts.clone(), ts])
}

// ---------------------------------------------------------------------------------------------
// Java pattern formatting / parsing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Field(char, usize),
}

/// Splits a Java date pattern into letter runs and literal text (`'quoted'`, `''` = quote).
fn tokenize(p: &str) -> std::result::Result<Vec<Tok>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let push_lit = |out: &mut Vec<Tok>, s: &str| {
        if let Some(Tok::Lit(l)) = out.last_mut() {
            l.push_str(s);
        } else {
            out.push(Tok::Lit(s.to_string()));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                push_lit(&mut out, "'");
                i += 2;
                continue;
            }
            let mut lit = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated quote in pattern '{p}'")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        i += 1;
                    }
                }
            }
            push_lit(&mut out, &lit);
        } else if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            if !"GuyYMLdDQqEecFaHkKhmsSnNAwWVzOXxZ".contains(c) {
                return Err(format!("unknown pattern letter '{c}' in '{p}'"));
            }
            out.push(Tok::Field(c, n));
            i += n;
        } else {
            push_lit(&mut out, &c.to_string());
            i += 1;
        }
    }
    Ok(out)
}

const MONTHS: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let s = v.unsigned_abs().to_string();
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

/// US-locale week of week-based year (weeks start Sunday, week 1 contains January 1st).
fn us_week(d: NaiveDate) -> (i32, i64) {
    let week_start = |y: i32| {
        let jan1 = NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(d);
        jan1 - TimeDelta::days(i64::from(jan1.weekday().num_days_from_sunday()))
    };
    let mut y = d.year();
    if let Some(next) = NaiveDate::from_ymd_opt(y + 1, 1, 1).map(|_| week_start(y + 1))
        && d >= next
    {
        y += 1;
    }
    let start = week_start(y);
    (y, (d - start).num_days() / 7 + 1)
}

/// A compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    toks: Vec<Tok>,
    /// See [`granularity_secs`], worked out once.
    granularity: Option<i64>,
    /// `SimpleDateFormat` rules (`u` = day number of week, `S` = milliseconds) instead of
    /// `DateTimeFormatter` rules.
    legacy: bool,
}

/// The span (in seconds, aligned to the epoch) within which every field of the pattern
/// stays the same: 86400 for a date-only pattern, 60 for `HH:mm`, …; `None` when a field
/// changes within a second (fractions) or is not one of the plain calendar fields.
fn granularity_secs(toks: &[Tok]) -> Option<i64> {
    let mut g = 86_400;
    for t in toks {
        if let Tok::Field(c, _) = t {
            g = g.min(match c {
                'G' | 'Y' | 'y' | 'u' | 'M' | 'L' | 'd' | 'D' | 'Q' | 'q' | 'E' | 'e' | 'c' | 'F' | 'w' | 'W' => 86_400,
                'a' | 'H' | 'k' | 'K' | 'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => return None,
            });
        }
    }
    Some(g)
}

impl Pattern {
    fn new(p: &str, legacy: bool) -> std::result::Result<Self, String> {
        let toks = tokenize(p)?;
        Ok(Self { granularity: granularity_secs(&toks), toks, legacy })
    }

    fn format(&self, dt: NaiveDateTime) -> std::result::Result<String, String> {
        let mut out = String::new();
        for t in &self.toks {
            match t {
                Tok::Lit(l) => out.push_str(l),
                Tok::Field(c, n) => self.field(&mut out, *c, *n, dt)?,
            }
        }
        Ok(out)
    }

    fn field(&self, out: &mut String, c: char, n: usize, dt: NaiveDateTime) -> std::result::Result<(), String> {
        let d = dt.date();
        let text = |out: &mut String, full: &str| {
            if n >= 4 {
                out.push_str(full)
            } else if n == 3 || c == 'E' || c == 'G' {
                out.push_str(&full[..3.min(full.len())])
            } else {
                out.push_str(&full[..1])
            }
        };
        match c {
            'G' => text(out, if d.year() > 0 { "AD" } else { "BC" }),
            'Y' => {
                let y = i64::from(us_week(d).0);
                if n == 2 { pad(out, y.rem_euclid(100), 2) } else { pad(out, y, n) }
            }
            'u' if self.legacy => pad(out, i64::from(d.weekday().number_from_monday()), n),
            'y' | 'u' => {
                let y = i64::from(d.year());
                if n == 2 { pad(out, y.rem_euclid(100), 2) } else { pad(out, y, n) }
            }
            'M' | 'L' => {
                if n >= 3 {
                    let m = MONTHS[d.month0() as usize];
                    if n == 3 { out.push_str(&m[..3]) } else if n == 4 { out.push_str(m) } else { out.push_str(&m[..1]) }
                } else {
                    pad(out, i64::from(d.month()), n)
                }
            }
            'd' => pad(out, i64::from(d.day()), n),
            'D' => pad(out, i64::from(d.ordinal()), n),
            'Q' | 'q' => {
                let q = d.month0() / 3 + 1;
                match n {
                    1 | 2 => pad(out, i64::from(q), n),
                    3 => out.push_str(&format!("Q{q}")),
                    _ => out.push_str(["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"][q as usize - 1]),
                }
            }
            'E' => text(out, DAYS[d.weekday().num_days_from_monday() as usize]),
            'e' | 'c' if n <= 2 => pad(out, i64::from(d.weekday().number_from_sunday()), n),
            'e' | 'c' => text(out, DAYS[d.weekday().num_days_from_monday() as usize]),
            'F' => pad(out, i64::from((d.day() - 1) % 7 + 1), n),
            'w' => pad(out, us_week(d).1, n),
            'W' => {
                let first = d.with_day(1).unwrap_or(d);
                let offset = i64::from(first.weekday().num_days_from_sunday());
                pad(out, (i64::from(d.day()) - 1 + offset) / 7 + 1, n)
            }
            'a' => out.push_str(if dt.hour() < 12 { "AM" } else { "PM" }),
            'H' => pad(out, i64::from(dt.hour()), n),
            'k' => pad(out, if dt.hour() == 0 { 24 } else { i64::from(dt.hour()) }, n),
            'K' => pad(out, i64::from(dt.hour() % 12), n),
            'h' => pad(out, if dt.hour().is_multiple_of(12) { 12 } else { i64::from(dt.hour() % 12) }, n),
            'm' => pad(out, i64::from(dt.minute()), n),
            's' => pad(out, i64::from(dt.second()), n),
            'S' if self.legacy => pad(out, i64::from(dt.nanosecond() / 1_000_000), n),
            'S' => {
                let digits = format!("{:09}", dt.nanosecond().min(999_999_999));
                if n <= 9 {
                    out.push_str(&digits[..n]);
                } else {
                    out.push_str(&digits);
                    out.push_str(&"0".repeat(n - 9));
                }
            }
            'n' => pad(out, i64::from(dt.nanosecond()), n),
            'N' => pad(out, i64::from(dt.num_seconds_from_midnight()) * 1_000_000_000 + i64::from(dt.nanosecond()), n),
            'A' => pad(out, i64::from(dt.num_seconds_from_midnight()) * 1000 + i64::from(dt.nanosecond() / 1_000_000), n),
            _ => return Err(format!("unsupported field '{c}' for a timestamp without time zone")),
        }
        Ok(())
    }

    /// Parses `s`. `lenient` follows `SimpleDateFormat.parse` (flexible digit counts, trailing
    /// text ignored); otherwise `DateTimeFormatter` (fixed widths, the whole text must match).
    fn parse(&self, s: &str, lenient: bool) -> Option<NaiveDateTime> {
        let b = s.as_bytes();
        let mut pos = 0;
        let (mut year, mut month, mut day, mut doy) = (1970i64, 1i64, 1i64, None);
        let (mut hour, mut minute, mut second, mut nanos) = (0i64, 0i64, 0i64, 0i64);
        let (mut h12, mut pm) = (None::<i64>, None::<bool>);
        let mut two_digit_year = false;
        for (ti, t) in self.toks.iter().enumerate() {
            match t {
                Tok::Lit(l) => {
                    if s.get(pos..)?.starts_with(l.as_str()) {
                        pos += l.len();
                    } else {
                        return None;
                    }
                }
                Tok::Field(c, n) => {
                    let c = *c;
                    let n = *n;
                    let next_numeric = matches!(self.toks.get(ti + 1), Some(Tok::Field(nc, nn)) if is_numeric_field(*nc, *nn));
                    if c == 'a' {
                        let rest = s.get(pos..)?.to_ascii_uppercase();
                        if rest.starts_with("AM") {
                            pm = Some(false);
                        } else if rest.starts_with("PM") {
                            pm = Some(true);
                        } else {
                            return None;
                        }
                        pos += 2;
                        continue;
                    }
                    if (c == 'M' || c == 'L') && n >= 3 || c == 'E' {
                        let rest = s.get(pos..)?.to_ascii_lowercase();
                        let names: Vec<&str> = if c == 'E' { DAYS.to_vec() } else { MONTHS.to_vec() };
                        let mut found = None;
                        for (i, name) in names.iter().enumerate() {
                            let full = name.to_ascii_lowercase();
                            let short = &full[..3];
                            if (n >= 4 || lenient) && rest.starts_with(&full) {
                                found = Some((i, full.len()));
                                break;
                            }
                            if (n < 4 || lenient) && rest.starts_with(short) {
                                found = Some((i, 3));
                                break;
                            }
                        }
                        let (i, len) = found?;
                        if c != 'E' {
                            month = i as i64 + 1;
                        }
                        pos += len;
                        continue;
                    }
                    if !is_numeric_field(c, n) {
                        return None;
                    }
                    // How many digits to take.
                    let avail = b[pos..].iter().take_while(|x| x.is_ascii_digit()).count();
                    let (min, max) = if (c == 'S' && !lenient) || next_numeric {
                        (n, n)
                    } else if lenient {
                        (1, 19)
                    } else if c == 'y' || c == 'u' || c == 'Y' {
                        if n == 2 { (2, 2) } else { (n, 19) }
                    } else if n == 1 {
                        (1, 2)
                    } else {
                        (n, n)
                    };
                    let take = avail.min(max);
                    if take < min || take == 0 {
                        return None;
                    }
                    let digits = &s[pos..pos + take];
                    let v: i64 = digits.parse().ok()?;
                    pos += take;
                    match c {
                        'y' | 'u' | 'Y' => {
                            year = v;
                            two_digit_year = n == 2 && take == 2;
                        }
                        'M' | 'L' => month = v,
                        'd' => day = v,
                        'D' => doy = Some(v),
                        'H' | 'k' => hour = if c == 'k' && v == 24 { 0 } else { v },
                        'h' | 'K' => h12 = Some(if v == 12 && c == 'h' { 0 } else { v }),
                        'm' => minute = v,
                        's' => second = v,
                        'S' if lenient => nanos = v.checked_mul(1_000_000)?,
                        'S' => {
                            let d9 = format!("{digits:0<9}");
                            nanos = d9[..9].parse().ok()?;
                        }
                        'n' => nanos = v,
                        _ => {}
                    }
                }
            }
        }
        if pos != s.len() && !lenient {
            return None;
        }
        if two_digit_year {
            year += 2000;
        }
        if let Some(h) = h12 {
            hour = h + if pm == Some(true) { 12 } else { 0 };
        } else if pm == Some(true) && hour < 12 {
            hour += 12;
        }
        let date = match doy {
            Some(d) => NaiveDate::from_yo_opt(i32::try_from(year).ok()?, u32::try_from(d).ok()?)?,
            None => NaiveDate::from_ymd_opt(
                i32::try_from(year).ok()?,
                u32::try_from(month).ok()?,
                u32::try_from(day).ok()?,
            )?,
        };
        let time = NaiveTime::from_hms_nano_opt(
            u32::try_from(hour).ok()?,
            u32::try_from(minute).ok()?,
            u32::try_from(second).ok()?,
            u32::try_from(nanos).ok()?,
        )?;
        Some(date.and_time(time))
    }
}

fn is_numeric_field(c: char, n: usize) -> bool {
    match c {
        'M' | 'L' => n <= 2,
        'y' | 'u' | 'Y' | 'd' | 'D' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S' | 'n' => true,
        _ => false,
    }
}

/// Remembers the last compiled pattern (formats are nearly always constant).
struct PatternCache {
    func: &'static str,
    legacy: bool,
    last: Option<(String, Pattern)>,
}

impl PatternCache {
    fn new(func: &'static str, legacy: bool) -> Self {
        Self { func, legacy, last: None }
    }
    fn get(&mut self, p: &str) -> Result<&Pattern> {
        if !matches!(&self.last, Some((lp, _)) if lp == p) {
            let pat = Pattern::new(p, self.legacy).map_err(|e| exec_err(format!("{}: {e}", self.func)))?;
            self.last = Some((p.to_string(), pat));
        }
        match &self.last {
            Some((_, pat)) => Ok(pat),
            None => Err(exec_err(format!("{}: no pattern", self.func))),
        }
    }
}

/// Flink's default TIMESTAMP parser: `yyyy-M[M]-d[d][ H[H]:m[m]:s[s][.fffffffff]]`.
pub(crate) fn parse_default_timestamp(s: &str) -> Option<NaiveDateTime> {
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let date = parse_default_date(date)?;
    let Some(time) = time else { return Some(date.and_time(NaiveTime::MIN)) };
    let (hms, frac) = match time.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (time, None),
    };
    let mut it = hms.split(':');
    let mut num = |max_len: usize| -> Option<u32> {
        let p = it.next()?;
        if p.is_empty() || p.len() > max_len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let (h, m, sec) = (num(2)?, num(2)?, num(2)?);
    if it.next().is_some() {
        return None;
    }
    let nanos = match frac {
        Some(f) if f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            if f.is_empty() { 0 } else { format!("{f:0<9}").parse().ok()? }
        }
        Some(_) => return None,
        None => 0,
    };
    Some(date.and_time(NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?))
}

/// `yyyy-M[M]-d[d]`.
fn parse_default_date(s: &str) -> Option<NaiveDate> {
    let mut it = s.split('-');
    let y = it.next()?;
    let m = it.next()?;
    let d = it.next()?;
    if it.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
        || ![y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

// ---------------------------------------------------------------------------------------------
// timestamp helpers
// ---------------------------------------------------------------------------------------------

pub(crate) fn ts_to_naive(v: i64, unit: &TimeUnit) -> Option<NaiveDateTime> {
    let dt = match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(v)),
    };
    dt.map(|d| d.naive_utc())
}

pub(crate) fn naive_to_ts(dt: NaiveDateTime, unit: &TimeUnit) -> Option<i64> {
    let u = dt.and_utc();
    match unit {
        TimeUnit::Second => Some(u.timestamp()),
        TimeUnit::Millisecond => Some(u.timestamp_millis()),
        TimeUnit::Microsecond => Some(u.timestamp_micros()),
        TimeUnit::Nanosecond => u.timestamp_nanos_opt(),
    }
}

pub(crate) fn date32_to_naive(d: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(d.checked_add(719_163)?)
}

pub(crate) fn naive_to_date32(d: NaiveDate) -> Option<i32> {
    d.num_days_from_ce().checked_sub(719_163)
}

/// Reads row `r` of a Date32 / Timestamp argument as a wall-clock time (UTC session zone).
fn temporal_at(col: &ArrayRef, r: usize) -> Option<NaiveDateTime> {
    if col.is_null(r) {
        return None;
    }
    match col.data_type() {
        DataType::Date32 => date32_to_naive(col.as_primitive::<Date32Type>().value(r)).map(|d| d.and_time(NaiveTime::MIN)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => col.as_primitive::<arrow::datatypes::TimestampSecondType>().value(r),
                TimeUnit::Millisecond => col.as_primitive::<arrow::datatypes::TimestampMillisecondType>().value(r),
                TimeUnit::Microsecond => col.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(r),
                TimeUnit::Nanosecond => col.as_primitive::<arrow::datatypes::TimestampNanosecondType>().value(r),
            };
            ts_to_naive(v, unit)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// functions
// ---------------------------------------------------------------------------------------------

fn date_format(a: &Args) -> Result<ArrayRef> {
    let fmt = a.str(1)?;
    let mut cache = PatternCache::new("DATE_FORMAT", false);
    let mut out = arrow::array::StringBuilder::new();
    let input_pat = Pattern::new("yyyy-MM-dd HH:mm:ss", true).map_err(exec_err)?;
    if is_string(&a.data_type(0)) {
        let s = a.str(0)?;
        for r in 0..a.rows {
            let (Some(s), Some(f)) = (s.get(r), fmt.get(r)) else {
                out.append_null();
                continue;
            };
            match input_pat.parse(s, true) {
                Some(dt) => out.append_value(cache.get(f)?.format(dt).map_err(|e| exec_err(format!("DATE_FORMAT: {e}")))?),
                None => out.append_null(),
            }
        }
    } else {
        let col = a.array(0)?;
        // Consecutive rows mostly fall in the same day (minute, …) that the pattern shows:
        // the text of the last one is reused while the pattern and that span are the same.
        let mut last: Option<(String, i64, String)> = None;
        for r in 0..a.rows {
            let (Some(dt), Some(f)) = (temporal_at(&col, r), fmt.get(r)) else {
                out.append_null();
                continue;
            };
            let pattern = cache.get(f)?;
            let bucket = pattern.granularity.map(|g| dt.and_utc().timestamp().div_euclid(g));
            if let (Some(bucket), Some((lp, lb, text))) = (bucket, &last)
                && lp == f
                && bucket == *lb
            {
                out.append_value(text);
                continue;
            }
            let text = pattern.format(dt).map_err(|e| exec_err(format!("DATE_FORMAT: {e}")))?;
            out.append_value(&text);
            last = bucket.map(|b| (f.to_string(), b, text));
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Parses with Flink's default parser when no format is given, else with the strict pattern.
fn parse_strict(a: &Args, func: &'static str) -> Result<Vec<Option<NaiveDateTime>>> {
    let s = a.str(0)?;
    let fmt = if a.len() > 1 { Some(a.str(1)?) } else { None };
    let mut cache = PatternCache::new(func, false);
    let mut out = Vec::with_capacity(a.rows);
    for r in 0..a.rows {
        let v = match (s.get(r), &fmt) {
            (None, _) => None,
            (Some(s), None) => parse_default_timestamp(s),
            (Some(s), Some(f)) => match f.get(r) {
                Some(f) => cache.get(f)?.parse(s, false),
                None => None,
            },
        };
        out.push(v);
    }
    Ok(out)
}

fn to_timestamp(a: &Args) -> Result<ArrayRef> {
    let vals = parse_strict(a, "TO_TIMESTAMP")?;
    let out: TimestampMillisecondArray = vals.into_iter().map(|v| v.map(|d| d.and_utc().timestamp_millis())).collect();
    Ok(Arc::new(out))
}

fn to_date(a: &Args) -> Result<ArrayRef> {
    let vals = parse_strict(a, "TO_DATE")?;
    let out: Date32Array = vals.into_iter().map(|v| v.and_then(|d| naive_to_date32(d.date()))).collect();
    Ok(Arc::new(out))
}

fn unix_timestamp(a: &Args) -> Result<ArrayRef> {
    unix_timestamp_in(a, None)
}

/// UNIX_TIMESTAMP with the text read as a wall-clock time in `tz` (UTC without one).
pub(crate) fn unix_timestamp_in(a: &Args, tz: Option<&arrow::array::timezone::Tz>) -> Result<ArrayRef> {
    if a.len() == 0 {
        let now = chrono::Utc::now().timestamp();
        return Ok(Arc::new(Int64Array::from(vec![now; a.rows])));
    }
    let s = a.str(0)?;
    let fmt = if a.len() > 1 { Some(a.str(1)?) } else { None };
    let mut cache = PatternCache::new("UNIX_TIMESTAMP", true);
    let mut out = Vec::with_capacity(a.rows);
    for r in 0..a.rows {
        let f = match &fmt {
            Some(f) => f.get(r),
            None => Some("yyyy-MM-dd HH:mm:ss"),
        };
        let v = match (s.get(r), f) {
            (Some(s), Some(f)) => {
                // Flink returns Long.MIN_VALUE when the text does not parse.
                let local = cache.get(f)?.parse(s, true);
                let utc = match tz {
                    Some(tz) => local.map(|d| crate::zone::local_to_utc(tz, d)),
                    None => local,
                };
                Some(utc.map(|d| d.and_utc().timestamp()).unwrap_or(i64::MIN))
            }
            _ => None,
        };
        out.push(v);
    }
    Ok(Arc::new(Int64Array::from(out)))
}

fn from_unixtime(a: &Args) -> Result<ArrayRef> {
    from_unixtime_in(a, None)
}

/// FROM_UNIXTIME printing the wall-clock time in `tz` (UTC without one).
pub(crate) fn from_unixtime_in(a: &Args, tz: Option<&arrow::array::timezone::Tz>) -> Result<ArrayRef> {
    let secs = a.prim::<Int64Type>(0)?;
    let fmt = if a.len() > 1 { Some(a.str(1)?) } else { None };
    let mut cache = PatternCache::new("FROM_UNIXTIME", true);
    let local = |s: i64| s.checked_add(tz.map_or(0, |tz| crate::zone::offset_at(tz, s)));
    let mut out = arrow::array::StringBuilder::new();
    for r in 0..a.rows {
        let f = match &fmt {
            Some(f) => f.get(r),
            None => Some("yyyy-MM-dd HH:mm:ss"),
        };
        let dt = secs.get(r).and_then(local).and_then(|s| DateTime::from_timestamp(s, 0)).map(|d| d.naive_utc());
        match (dt, f) {
            (Some(dt), Some(f)) => {
                out.append_value(cache.get(f)?.format(dt).map_err(|e| exec_err(format!("FROM_UNIXTIME: {e}")))?)
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn to_timestamp_ltz(a: &Args) -> Result<ArrayRef> {
    let millis: Vec<Option<i64>> = if is_string(&a.data_type(0)) {
        parse_strict(a, "TO_TIMESTAMP_LTZ")?.into_iter().map(|v| v.map(|d| d.and_utc().timestamp_millis())).collect()
    } else {
        let prec = if a.len() > 1 { Some(a.prim::<Int64Type>(1)?) } else { None };
        let scale = |r: usize| -> Result<Option<f64>> {
            let p = match &prec {
                Some(p) => p.get(r),
                None => Some(3),
            };
            match p {
                None => Ok(None),
                Some(0) => Ok(Some(1000.0)),
                Some(3) => Ok(Some(1.0)),
                Some(p) => Err(exec_err(format!("TO_TIMESTAMP_LTZ: unsupported precision {p}; only 0 and 3"))),
            }
        };
        let mut out = Vec::with_capacity(a.rows);
        if a.data_type(0) == DataType::Int64 {
            let v = a.prim::<Int64Type>(0)?;
            for r in 0..a.rows {
                out.push(match (v.get(r), scale(r)?) {
                    (Some(v), Some(s)) => v.checked_mul(s as i64),
                    _ => None,
                });
            }
        } else {
            let v = a.prim::<Float64Type>(0)?;
            for r in 0..a.rows {
                out.push(match (v.get(r), scale(r)?) {
                    (Some(v), Some(s)) if (v * s).is_finite() => Some((v * s).trunc() as i64),
                    _ => None,
                });
            }
        }
        out
    };
    Ok(Arc::new(TimestampMillisecondArray::from(millis).with_timezone("UTC")))
}

fn part(a: &Args, p: DatePart, adjust: i64) -> Result<ArrayRef> {
    let col = a.array(0)?;
    let v = date_part(&col, p)?;
    let v = v.as_primitive_opt::<arrow::datatypes::Int32Type>().ok_or_else(|| {
        DataFusionError::Internal(format!("date_part returned {}", v.data_type()))
    })?;
    let out: Int64Array = v.iter().map(|x| x.map(|x| i64::from(x) + adjust)).collect();
    Ok(Arc::new(out))
}

fn year(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Year, 0)
}
fn quarter(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Quarter, 0)
}
fn month(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Month, 0)
}
fn week(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Week, 0)
}
fn dayofyear(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::DayOfYear, 0)
}
fn dayofmonth(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Day, 0)
}
fn dayofweek(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::DayOfWeekSunday0, 1)
}
fn hour(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Hour, 0)
}
fn minute(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Minute, 0)
}
fn second(a: &Args) -> Result<ArrayRef> {
    part(a, DatePart::Second, 0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Nano,
    Micro,
    Milli,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

fn unit_of(s: &str, func: &str) -> Result<Unit> {
    let u = s.trim().to_ascii_uppercase();
    let u = u.strip_prefix("SQL_TSI_").unwrap_or(&u);
    Ok(match u {
        "NANOSECOND" => Unit::Nano,
        "MICROSECOND" => Unit::Micro,
        "MILLISECOND" => Unit::Milli,
        "SECOND" => Unit::Second,
        "MINUTE" => Unit::Minute,
        "HOUR" => Unit::Hour,
        "DAY" => Unit::Day,
        "WEEK" => Unit::Week,
        "MONTH" => Unit::Month,
        "QUARTER" => Unit::Quarter,
        "YEAR" => Unit::Year,
        _ => return Err(exec_err(format!("{func}: unsupported time unit '{s}'"))),
    })
}

fn add_unit(dt: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    let months = |m: i64| -> Option<NaiveDateTime> {
        let m32 = u32::try_from(m.unsigned_abs()).ok()?;
        if m >= 0 { dt.checked_add_months(Months::new(m32)) } else { dt.checked_sub_months(Months::new(m32)) }
    };
    match unit {
        Unit::Nano => dt.checked_add_signed(TimeDelta::nanoseconds(n)),
        Unit::Micro => dt.checked_add_signed(TimeDelta::microseconds(n)),
        Unit::Milli => dt.checked_add_signed(TimeDelta::try_milliseconds(n)?),
        Unit::Second => dt.checked_add_signed(TimeDelta::try_seconds(n)?),
        Unit::Minute => dt.checked_add_signed(TimeDelta::try_minutes(n)?),
        Unit::Hour => dt.checked_add_signed(TimeDelta::try_hours(n)?),
        Unit::Day => dt.checked_add_signed(TimeDelta::try_days(n)?),
        Unit::Week => dt.checked_add_signed(TimeDelta::try_weeks(n)?),
        Unit::Month => months(n),
        Unit::Quarter => months(n.checked_mul(3)?),
        Unit::Year => months(n.checked_mul(12)?),
    }
}

fn timestampadd(a: &Args) -> Result<ArrayRef> {
    let Some(unit) = a.literal_str(0, "TIMESTAMPADD")? else {
        return Ok(arrow::array::new_null_array(&a.ret, a.rows));
    };
    let unit = unit_of(&unit, "TIMESTAMPADD")?;
    let n = a.prim::<Int64Type>(1)?;
    let col = a.array(2)?;
    match col.data_type().clone() {
        DataType::Date32 => {
            if matches!(unit, Unit::Nano | Unit::Micro | Unit::Milli | Unit::Second | Unit::Minute | Unit::Hour) {
                return Err(exec_err("TIMESTAMPADD: a time unit needs a TIMESTAMP argument, not a DATE".into()));
            }
            let out: Date32Array = (0..a.rows)
                .map(|r| {
                    let dt = temporal_at(&col, r)?;
                    naive_to_date32(add_unit(dt, unit, n.get(r)?)?.date())
                })
                .collect();
            Ok(Arc::new(out))
        }
        DataType::Timestamp(tu, tz) => {
            let vals: Vec<Option<i64>> = (0..a.rows)
                .map(|r| naive_to_ts(add_unit(temporal_at(&col, r)?, unit, n.get(r)?)?, &tu))
                .collect();
            let arr: ArrayRef = match tu {
                TimeUnit::Second => Arc::new(PrimitiveArray::<arrow::datatypes::TimestampSecondType>::from(vals).with_timezone_opt(tz)),
                TimeUnit::Millisecond => {
                    Arc::new(PrimitiveArray::<arrow::datatypes::TimestampMillisecondType>::from(vals).with_timezone_opt(tz))
                }
                TimeUnit::Microsecond => {
                    Arc::new(PrimitiveArray::<arrow::datatypes::TimestampMicrosecondType>::from(vals).with_timezone_opt(tz))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(PrimitiveArray::<arrow::datatypes::TimestampNanosecondType>::from(vals).with_timezone_opt(tz))
                }
            };
            Ok(arr)
        }
        other => Err(exec_err(format!("TIMESTAMPADD: unsupported argument type {other}"))),
    }
}

/// Calcite's month difference between two dates (end-of-month aware).
fn months_between_dates(d0: NaiveDate, d1: NaiveDate) -> i64 {
    if d0 < d1 {
        return -months_between_dates(d1, d0);
    }
    let mut m = (d0 - d1).num_days() / 31;
    loop {
        let add = |k: i64| u32::try_from(k).ok().and_then(|k| d1.checked_add_months(Months::new(k)));
        let (Some(d2), Some(d3)) = (add(m), add(m + 1)) else { return m };
        if d2 >= d0 || d3 > d0 {
            return m;
        }
        m += 1;
    }
}

/// Months from `t1` to `t0` as Calcite's `subtractMonths(t0, t1)`.
fn months_between(t0: NaiveDateTime, t1: NaiveDateTime) -> i64 {
    let mut x = months_between_dates(t0.date(), t1.date());
    let d2 = u32::try_from(x.unsigned_abs()).ok().and_then(|k| {
        if x >= 0 { t1.date().checked_add_months(Months::new(k)) } else { t1.date().checked_sub_months(Months::new(k)) }
    });
    if x >= 0 && d2 == Some(t0.date()) && t0.time() < t1.time() {
        x -= 1;
    } else if x < 0 && d2 == Some(t0.date()) && t0.time() > t1.time() {
        x += 1;
    }
    x
}

fn timestampdiff(a: &Args) -> Result<ArrayRef> {
    let Some(unit) = a.literal_str(0, "TIMESTAMPDIFF")? else {
        return Ok(arrow::array::new_null_array(&a.ret, a.rows));
    };
    let unit = unit_of(&unit, "TIMESTAMPDIFF")?;
    let (c1, c2) = (a.array(1)?, a.array(2)?);
    let out: Int32Array = (0..a.rows)
        .map(|r| {
            let (t1, t2) = (temporal_at(&c1, r)?, temporal_at(&c2, r)?);
            let d = t2 - t1;
            let v = match unit {
                Unit::Nano => d.num_nanoseconds()?,
                Unit::Micro => d.num_microseconds()?,
                Unit::Milli => d.num_milliseconds(),
                Unit::Second => d.num_seconds(),
                Unit::Minute => d.num_minutes(),
                Unit::Hour => d.num_hours(),
                Unit::Day => d.num_days(),
                Unit::Week => d.num_weeks(),
                Unit::Month => months_between(t2, t1),
                Unit::Quarter => months_between(t2, t1) / 3,
                Unit::Year => months_between(t2, t1) / 12,
            };
            i32::try_from(v).ok()
        })
        .collect();
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test::*;
    use arrow::array::TimestampMillisecondArray;
    use datafusion_common::ScalarValue;

    fn udf(name: &str) -> Arc<ScalarUDF> {
        functions().into_iter().find(|f| f.name() == name).expect("function exists")
    }
    fn ts(s: &str) -> ScalarValue {
        let dt = parse_default_timestamp(s).expect("valid timestamp");
        ScalarValue::TimestampMillisecond(Some(dt.and_utc().timestamp_millis()), None)
    }
    fn fmt(v: ScalarValue, f: &str) -> Option<String> {
        scalar_str(&run_scalars(&udf("date_format"), vec![v, s(f)]).expect("runs"))
    }

    #[test]
    fn date_format_patterns() {
        assert_eq!(fmt(ts("2024-01-01 10:00:00.123"), "yyyy-MM-dd HH:mm"), Some("2024-01-01 10:00".into()));
        assert_eq!(fmt(s("2024-01-01 10:00:00"), "yyyy/MM/dd"), Some("2024/01/01".into()));
        let t = ts("2024-01-05 15:04:05.123");
        assert_eq!(fmt(t.clone(), "EEE MMM d yyyy hh:mm a SSS"), Some("Fri Jan 5 2024 03:04 PM 123".into()));
        assert_eq!(fmt(t.clone(), "EEEE MMMM dd yy H:m:s D w u"), Some("Friday January 05 24 15:4:5 5 1 2024".into()));
        assert_eq!(fmt(t, "'T'HH'x'"), Some("T15x".into()));
        assert_eq!(fmt(s("bad"), "yyyy"), None);
        assert_eq!(fmt(s("2024-01-05"), "yyyy"), None);
        assert_eq!(fmt(s("2024-01-05 15:04:05.12"), "yyyy-MM-dd HH:mm:ss.SSS"), Some("2024-01-05 15:04:05.000".into()));
        let t = ts("2024-01-05 00:04:05");
        assert_eq!(fmt(t.clone(), "h k K hh a"), Some("12 24 0 12 AM".into()));
        assert_eq!(fmt(t.clone(), "Y w W e c F"), Some("2024 1 1 6 6 5".into()));
        assert_eq!(fmt(t.clone(), "yyyy-MM-dd'T'HH:mm:ss"), Some("2024-01-05T00:04:05".into()));
        assert_eq!(fmt(t.clone(), "HH''mm"), Some("00'04".into()));
        assert_eq!(fmt(ts("0024-01-05 00:04:05"), "y yy yyy yyyy"), Some("24 24 024 0024".into()));
        let us = ScalarValue::TimestampMicrosecond(Some(1_704_467_045_123_456), None);
        assert_eq!(fmt(us, "yyyy-MM-dd HH:mm:ss.SSSSSS"), Some("2024-01-05 15:04:05.123456".into()));
        assert!(run_scalars(&udf("date_format"), vec![t.clone(), s("Z")]).is_err());
        assert!(run_scalars(&udf("date_format"), vec![t, s("b")]).is_err());
        let d = ScalarValue::Date32(Some(19_723)); // 2024-01-01
        assert_eq!(fmt(d, "yyyy-MM-dd HH"), Some("2024-01-01 00".into()));
    }

    #[test]
    fn date_format_reuses_text_only_within_the_span_the_pattern_shows() {
        // Rows across second, minute, hour and day boundaries (also before 1970), in an order
        // that returns to an earlier span; nulls and a pattern change in between.
        let ms: Vec<Option<i64>> = vec![
            Some(86_399_999), Some(86_400_000), Some(86_400_001), Some(86_459_999), Some(86_460_000), None,
            Some(86_400_500), Some(-1), Some(0), Some(-86_400_000), Some(-86_400_001), Some(90_000_000), Some(90_000_999),
        ];
        let n = ms.len();
        let col: ArrayRef = Arc::new(arrow::array::TimestampMillisecondArray::from(ms.clone()));
        for pats in [vec!["yyyy-MM-dd"; n], vec!["HH:mm"; n], vec!["ss"; n], vec!["HH:mm:ss.SSS"; n], vec!["E a"; n], {
            let mut v = vec!["yyyy-MM-dd"; n];
            v[2] = "HH:mm";
            v[3] = "yyyy";
            v
        }] {
            let f: ArrayRef = Arc::new(arrow::array::StringArray::from(pats.clone()));
            let out = run_arrays(&udf("date_format"), vec![col.clone(), f]).expect("runs");
            let out = out.as_string::<i32>();
            for r in 0..n {
                let one = ms[r].and_then(|v| fmt(ScalarValue::TimestampMillisecond(Some(v), None), pats[r]));
                assert_eq!(out.is_valid(r).then(|| out.value(r).to_string()), one, "row {r} pattern {}", pats[r]);
            }
        }
    }

    fn to_ts(args: Vec<ScalarValue>) -> ScalarValue {
        run_scalars(&udf("to_timestamp"), args).expect("runs")
    }

    #[test]
    fn to_timestamp_cases() {
        let ms = |s: &str| ScalarValue::TimestampMillisecond(parse_default_timestamp(s).map(|d| d.and_utc().timestamp_millis()), None);
        assert_eq!(to_ts(vec![s("2024-03-01 12:34:56")]), ScalarValue::TimestampMillisecond(Some(1_709_296_496_000), None));
        assert_eq!(to_ts(vec![s("2024-03-01 12:34:56.789")]), ms("2024-03-01 12:34:56.789"));
        assert_eq!(to_ts(vec![s("2024-03-01 12:34:56.123456789")]), ms("2024-03-01 12:34:56.123"));
        assert_eq!(to_ts(vec![s("2024-3-1 1:2:3")]), ms("2024-03-01 01:02:03"));
        assert_eq!(to_ts(vec![s("2024-03-01")]), ms("2024-03-01 00:00:00"));
        assert_eq!(to_ts(vec![s("2024-03-01T12:34:56")]), ScalarValue::TimestampMillisecond(None, None));
        assert_eq!(to_ts(vec![s(" 2024-03-01 12:34:56")]), ScalarValue::TimestampMillisecond(None, None));
        assert_eq!(to_ts(vec![s("bad")]), ScalarValue::TimestampMillisecond(None, None));
        assert_eq!(to_ts(vec![s("2024-03-01"), s("yyyy-MM-dd")]), ms("2024-03-01 00:00:00"));
        assert_eq!(to_ts(vec![s("2024-03-01 12:34"), s("yyyy-MM-dd HH:mm")]), ms("2024-03-01 12:34:00"));
        assert_eq!(to_ts(vec![s("20240301123456"), s("yyyyMMddHHmmss")]), ms("2024-03-01 12:34:56"));
        assert_eq!(to_ts(vec![s("2024-03-01 12"), s("yyyy-MM-dd")]), ScalarValue::TimestampMillisecond(None, None));
        assert_eq!(to_ts(vec![s("2024-02-30"), s("yyyy-MM-dd")]), ScalarValue::TimestampMillisecond(None, None));
        let out = run_arrays(&udf("to_timestamp"), vec![strs(&[Some("2024-03-01 12:34:56"), None, Some("x")])]).expect("runs");
        let out = out.as_any().downcast_ref::<TimestampMillisecondArray>().expect("ms");
        assert_eq!(out.iter().collect::<Vec<_>>(), vec![Some(1_709_296_496_000), None, None]);
    }

    #[test]
    fn to_date_and_unix() {
        let d = |args| run_scalars(&udf("to_date"), args).expect("runs");
        assert_eq!(d(vec![s("2024-03-01")]), ScalarValue::Date32(Some(19_783)));
        assert_eq!(d(vec![s("2024-3-1")]), ScalarValue::Date32(Some(19_783)));
        assert_eq!(d(vec![s("2024-03-01 10:00:00")]), ScalarValue::Date32(Some(19_783)));
        assert_eq!(d(vec![s("20240301"), s("yyyyMMdd")]), ScalarValue::Date32(Some(19_783)));
        assert_eq!(d(vec![s("bad")]), ScalarValue::Date32(None));
        let u = |args| run_scalars(&udf("unix_timestamp"), args).expect("runs");
        assert_eq!(u(vec![s("2024-01-01 00:00:00")]), ScalarValue::Int64(Some(1_704_067_200)));
        assert_eq!(u(vec![s("2024-1-1 0:0:0")]), ScalarValue::Int64(Some(1_704_067_200)));
        assert_eq!(u(vec![s("2024-01-01 00:00:00.5")]), ScalarValue::Int64(Some(1_704_067_200)));
        assert_eq!(u(vec![s("2024/01/01"), s("yyyy/MM/dd")]), ScalarValue::Int64(Some(1_704_067_200)));
        assert_eq!(u(vec![s("bad")]), ScalarValue::Int64(Some(i64::MIN)));
        assert_eq!(u(vec![s("2024-01-01")]), ScalarValue::Int64(Some(i64::MIN)));
        assert_eq!(u(vec![null_str()]), ScalarValue::Int64(None));
        let ScalarValue::Int64(Some(now)) = u(vec![]) else { panic!("now") };
        assert!(now > 1_700_000_000);
        let f = |args| scalar_str(&run_scalars(&udf("from_unixtime"), args).expect("runs"));
        assert_eq!(f(vec![i(1_704_067_200)]), Some("2024-01-01 00:00:00".into()));
        assert_eq!(f(vec![i(0)]), Some("1970-01-01 00:00:00".into()));
        assert_eq!(f(vec![i(-1)]), Some("1969-12-31 23:59:59".into()));
        assert_eq!(f(vec![i(86_400), s("yyyy-MM-dd")]), Some("1970-01-02".into()));
        assert_eq!(f(vec![ScalarValue::Int64(None)]), None);
    }

    #[test]
    fn to_timestamp_ltz_cases() {
        let l = |args| run_scalars(&udf("to_timestamp_ltz"), args).expect("runs");
        let utc = |v| ScalarValue::TimestampMillisecond(v, Some("UTC".into()));
        assert_eq!(l(vec![i(1_700_000_000), i(0)]), utc(Some(1_700_000_000_000)));
        assert_eq!(l(vec![i(1_700_000_000_123), i(3)]), utc(Some(1_700_000_000_123)));
        assert_eq!(l(vec![f(1.5), i(0)]), utc(Some(1500)));
        assert_eq!(l(vec![ScalarValue::Int64(None), i(0)]), utc(None));
        assert!(run_scalars(&udf("to_timestamp_ltz"), vec![i(1), i(6)]).is_err());
    }

    #[test]
    fn extract_parts() {
        let d = ScalarValue::Date32(Some(19_849)); // 2024-05-06, a Monday
        let p = |n: &str, v: ScalarValue| run_scalars(&udf(n), vec![v]).expect("runs");
        assert_eq!(p("year", d.clone()), ScalarValue::Int64(Some(2024)));
        assert_eq!(p("quarter", d.clone()), ScalarValue::Int64(Some(2)));
        assert_eq!(p("month", d.clone()), ScalarValue::Int64(Some(5)));
        assert_eq!(p("week", d.clone()), ScalarValue::Int64(Some(19)));
        assert_eq!(p("dayofyear", d.clone()), ScalarValue::Int64(Some(127)));
        assert_eq!(p("dayofmonth", d.clone()), ScalarValue::Int64(Some(6)));
        assert_eq!(p("dayofweek", d), ScalarValue::Int64(Some(2)));
        assert_eq!(p("week", ScalarValue::Date32(Some(19_358))), ScalarValue::Int64(Some(52))); // 2023-01-01
        let t = ts("2024-05-06 07:08:09");
        assert_eq!(p("hour", t.clone()), ScalarValue::Int64(Some(7)));
        assert_eq!(p("minute", t.clone()), ScalarValue::Int64(Some(8)));
        assert_eq!(p("second", t.clone()), ScalarValue::Int64(Some(9)));
        assert_eq!(p("year", t), ScalarValue::Int64(Some(2024)));
        let arr = run_arrays(&udf("month"), vec![Arc::new(Date32Array::from(vec![Some(0), None]))]).expect("runs");
        assert_eq!(arr.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), vec![Some(1), None]);
    }

    #[test]
    fn timestampadd_diff() {
        let add = |u: &str, n: i64, t: ScalarValue| run_scalars(&udf("timestampadd"), vec![s(u), i(n), t]).expect("runs");
        assert_eq!(add("HOUR", 2, ts("2024-01-01 23:00:00")), ts("2024-01-02 01:00:00"));
        assert_eq!(add("MONTH", 1, ts("2024-01-31 10:00:00")), ts("2024-02-29 10:00:00"));
        assert_eq!(add("day", 1, ScalarValue::Date32(Some(19_752))), ScalarValue::Date32(Some(19_753)));
        assert!(run_scalars(&udf("timestampadd"), vec![s("FORTNIGHT"), i(1), ts("2024-01-01 00:00:00")]).is_err());
        let diff = |u: &str, a: &str, b: &str| run_scalars(&udf("timestampdiff"), vec![s(u), ts(a), ts(b)]).expect("runs");
        assert_eq!(diff("DAY", "2024-01-01 10:00:00", "2024-01-03 09:00:00"), ScalarValue::Int32(Some(1)));
        assert_eq!(diff("MONTH", "2024-01-31 10:00:00", "2024-02-29 10:00:00"), ScalarValue::Int32(Some(1)));
        assert_eq!(diff("MONTH", "2024-01-31 10:00:00", "2024-02-29 09:00:00"), ScalarValue::Int32(Some(0)));
        assert_eq!(diff("YEAR", "2020-02-29 00:00:00", "2024-02-28 00:00:00"), ScalarValue::Int32(Some(3)));
        assert_eq!(diff("SECOND", "2024-01-01 10:00:00", "2024-01-01 09:00:00"), ScalarValue::Int32(Some(-3600)));
        assert_eq!(diff("MONTH", "2024-03-15 00:00:00", "2024-01-20 00:00:00"), ScalarValue::Int32(Some(-1)));
    }
}
