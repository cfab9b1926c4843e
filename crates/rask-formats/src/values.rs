//! Text <-> value conversions shared by the json and csv formats, following the Java rules Flink
//! uses (`Long.parseLong`, `Double.parseDouble`, `new BigDecimal(..)`, `BigDecimal.toString`,
//! `Double.toString`, java.time formatters).

use arrow::datatypes::TimeUnit;
use chrono::{Datelike, NaiveDate};

pub(crate) const NANOS_PER_DAY: i64 = 86_400_000_000_000;
/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// Java's `String.trim()`: strips every char <= ' '.
pub(crate) fn trim_java(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `Long.parseLong` (optional sign, ASCII digits, no spaces).
pub(crate) fn parse_java_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Is `s` a number Java's `Double.parseDouble` accepts (decimal forms, NaN, Infinity, f/d suffix)?
/// Returns the text Rust can parse.
fn java_float_text(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    let t = trim_java(s);
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body == "NaN" {
        return Some("NaN".into());
    }
    if body == "Infinity" {
        return Some(if t.starts_with('-') { "-inf".into() } else { "inf".into() });
    }
    let t = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let b = body.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut n_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        n_digits += i - fs;
    }
    if n_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let es = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == es {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    Some(t.into())
}

/// Java's `Double.parseDouble` (trims like Java does).
pub(crate) fn parse_java_double(s: &str) -> Option<f64> {
    java_float_text(s)?.parse::<f64>().ok()
}

/// Java's `Float.parseFloat`.
pub(crate) fn parse_java_float(s: &str) -> Option<f32> {
    java_float_text(s)?.parse::<f32>().ok()
}

/// A number in `new BigDecimal(s)` syntax, rescaled to `scale` with HALF_UP rounding, as
/// Flink's `DecimalData.fromBigDecimal` does. `Err` = not a number; `Ok(None)` = does not fit
/// `precision` (Flink then yields NULL).
pub(crate) fn parse_decimal(s: &str, precision: u8, scale: i8) -> Result<Option<i128>, ()> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut digits: Vec<u8> = Vec::with_capacity(b.len());
    let mut frac_len: i64 = 0;
    let mut seen_digit = false;
    while i < b.len() && b[i].is_ascii_digit() {
        digits.push(b[i] - b'0');
        seen_digit = true;
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            digits.push(b[i] - b'0');
            frac_len += 1;
            seen_digit = true;
            i += 1;
        }
    }
    if !seen_digit {
        return Err(());
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let es = i;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == ds || i - ds > 9 {
            return Err(());
        }
        exp = s[es..i].parse::<i64>().map_err(|_| ())?;
    }
    if i != b.len() {
        return Err(());
    }
    // value = digits * 10^(exp - frac_len); we want digits * 10^shift at `scale`.
    let shift = exp - frac_len + scale as i64;
    // Drop leading zeros.
    let first = digits.iter().position(|d| *d != 0).unwrap_or(digits.len());
    let digits = &digits[first..];
    if digits.is_empty() {
        return Ok(Some(0));
    }
    let (kept, round_up) = if shift >= 0 {
        (digits, false)
    } else {
        let drop = (-shift) as usize;
        if drop > digits.len() {
            return Ok(Some(0));
        }
        let keep = digits.len() - drop;
        (&digits[..keep], digits[keep] >= 5)
    };
    let zeros = shift.max(0) as usize;
    if kept.len() + zeros > 39 {
        return Ok(None);
    }
    let mut v: i128 = 0;
    for d in kept {
        v = match v.checked_mul(10).and_then(|v| v.checked_add(*d as i128)) {
            Some(v) => v,
            None => return Ok(None),
        };
    }
    for _ in 0..zeros {
        v = match v.checked_mul(10) {
            Some(v) => v,
            None => return Ok(None),
        };
    }
    if round_up {
        v += 1;
    }
    let max = 10i128.pow(precision as u32);
    if v >= max {
        return Ok(None);
    }
    Ok(Some(if neg { -v } else { v }))
}

/// Java's `BigDecimal.toString` of `unscaled * 10^-scale`.
fn big_decimal_to_string(unscaled: i128, scale: i64) -> String {
    let neg = unscaled < 0;
    let coeff = unscaled.unsigned_abs().to_string();
    let adjusted = -scale + (coeff.len() as i64 - 1);
    let mut out = String::with_capacity(coeff.len() + 8);
    if neg {
        out.push('-');
    }
    if scale >= 0 && adjusted >= -6 {
        let s = scale as usize;
        if s == 0 {
            out.push_str(&coeff);
        } else if coeff.len() > s {
            out.push_str(&coeff[..coeff.len() - s]);
            out.push('.');
            out.push_str(&coeff[coeff.len() - s..]);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', s - coeff.len()));
            out.push_str(&coeff);
        }
    } else {
        out.push_str(&coeff[..1]);
        if coeff.len() > 1 {
            out.push('.');
            out.push_str(&coeff[1..]);
        }
        out.push('E');
        if adjusted >= 0 {
            out.push('+');
        }
        out.push_str(&adjusted.to_string());
    }
    out
}

/// A DECIMAL as Flink's json/csv writers print it by default:
/// `BigDecimal.stripTrailingZeros().toString()` (`12.50` -> `12.5`, `100` -> `1E+2`).
pub(crate) fn format_decimal_stripped(v: i128, scale: i8) -> String {
    if v == 0 {
        return "0".into();
    }
    let (mut v, mut scale) = (v, scale as i64);
    while v % 10 == 0 {
        v /= 10;
        scale -= 1;
    }
    big_decimal_to_string(v, scale)
}

/// A DECIMAL as `BigDecimal.toPlainString()` (keeps the column's scale: `12.50`).
pub(crate) fn format_decimal_plain(v: i128, scale: i8) -> String {
    rask_types::value_fmt::format_decimal(v, scale)
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    let (a, c) = (*b.get(i)?, *b.get(i + 1)?);
    if a.is_ascii_digit() && c.is_ascii_digit() { Some(((a - b'0') * 10 + (c - b'0')) as u32) } else { None }
}

/// `yyyy-MM-dd` (Java's ISO_LOCAL_DATE, strict) at the start of `b`; returns days since epoch.
pub(crate) fn parse_iso_date(b: &[u8]) -> Option<i32> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = two(b, 0)? * 100 + two(b, 2)?;
    let m = two(b, 5)?;
    let d = two(b, 8)?;
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some(date.num_days_from_ce() - UNIX_EPOCH_CE_DAYS)
}

/// `java.sql.Date.valueOf`: `yyyy-[m]m-[d]d`, out-of-range days roll over as Java does.
pub(crate) fn parse_lenient_date(s: &str) -> Option<i32> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
        || ![y, m, d].iter().all(|p| p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    Some(first.num_days_from_ce() - UNIX_EPOCH_CE_DAYS + d as i32 - 1)
}

/// `HH:mm` + optional `:ss` + optional `.fffffffff` at the start of `b`.
/// `need_seconds` = Flink's SQL time format (seconds required). Returns (nanos of day, bytes used).
pub(crate) fn parse_time_prefix(b: &[u8], need_seconds: bool) -> Option<(i64, usize)> {
    let h = two(b, 0)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let mi = two(b, 3)?;
    let mut i = 5;
    let mut sec = 0;
    let mut nanos: i64 = 0;
    if b.get(5) == Some(&b':') {
        sec = two(b, 6)?;
        i = 8;
        if b.get(8) == Some(&b'.') {
            let fs = 9;
            let mut j = fs;
            while j < b.len() && b[j].is_ascii_digit() && j - fs < 9 {
                nanos = nanos * 10 + (b[j] - b'0') as i64;
                j += 1;
            }
            for _ in (j - fs)..9 {
                nanos *= 10;
            }
            if j > fs {
                i = j;
            } else {
                i = 9;
            }
        }
    } else if need_seconds {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    Some(((h as i64 * 3600 + mi as i64 * 60 + sec as i64) * 1_000_000_000 + nanos, i))
}

/// A whole time string (nothing may follow).
pub(crate) fn parse_time(s: &str, need_seconds: bool) -> Option<i64> {
    match parse_time_prefix(s.as_bytes(), need_seconds) {
        Some((n, used)) if used == s.len() => Some(n),
        _ => None,
    }
}

/// `yyyy-MM-dd<sep>HH:mm[:ss[.f]]`, optionally followed by a literal `Z` (`zone`).
/// Returns nanoseconds since the epoch (as i128 to avoid overflow on extreme years).
pub(crate) fn parse_timestamp(s: &str, sep: u8, need_seconds: bool, zone: bool) -> Option<i128> {
    let b = s.as_bytes();
    let days = parse_iso_date(b)?;
    if b.get(10) != Some(&sep) {
        return None;
    }
    let (nanos, used) = parse_time_prefix(&b[11..], need_seconds)?;
    let rest = &b[11 + used..];
    let ok = if zone { rest == b"Z" } else { rest.is_empty() };
    if !ok {
        return None;
    }
    Some(days as i128 * NANOS_PER_DAY as i128 + nanos as i128)
}

/// Epoch nanoseconds to a value in `unit` (floor), if it fits.
pub(crate) fn nanos_to_unit(n: i128, unit: &TimeUnit) -> Option<i64> {
    let d: i128 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    i64::try_from(n.div_euclid(d)).ok()
}

/// A value in `unit` to (days since epoch, nanos of day).
pub(crate) fn unit_to_day_nanos(v: i64, unit: &TimeUnit) -> (i64, i64) {
    let n: i128 = v as i128
        * match unit {
            TimeUnit::Second => 1_000_000_000,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        };
    let d = NANOS_PER_DAY as i128;
    (n.div_euclid(d) as i64, n.rem_euclid(d) as i64)
}

/// `yyyy-MM-dd` for days since the epoch.
pub(crate) fn write_date(out: &mut String, days: i64) {
    use std::fmt::Write;
    match NaiveDate::from_num_days_from_ce_opt((days + UNIX_EPOCH_CE_DAYS as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32) {
        Some(d) if (0..=9999).contains(&d.year()) => {
            let y = d.year() as u32;
            push_2(out, y / 100);
            push_2(out, y % 100);
            out.push('-');
            push_2(out, d.month());
            out.push('-');
            push_2(out, d.day());
        }
        Some(d) => {
            let _ = write!(out, "{:+05}-{:02}-{:02}", d.year(), d.month(), d.day());
        }
        None => {
            let _ = write!(out, "{days}");
        }
    }
}

/// `HH:mm:ss` plus the shortest fraction (`.5`, `.123456`), as java.time prints with
/// `appendFraction(NANO_OF_SECOND, 0, 9, true)`.
pub(crate) fn write_time(out: &mut String, nanos_of_day: i64) {
    use std::fmt::Write;
    let secs = nanos_of_day / 1_000_000_000;
    let frac = nanos_of_day % 1_000_000_000;
    if (0..86_400).contains(&secs) {
        let secs = secs as u32;
        push_2(out, secs / 3600);
        out.push(':');
        push_2(out, secs / 60 % 60);
        out.push(':');
        push_2(out, secs % 60);
    } else {
        let _ = write!(out, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    }
    if frac > 0 {
        // Nine digits, trailing zeros dropped.
        let mut digits = [b'0'; 9];
        let mut f = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        let len = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
        out.push('.');
        out.extend(digits[..len].iter().map(|d| *d as char));
    } else if frac < 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

/// `v` (below 100) as two digits.
fn push_2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10 % 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

/// `yyyy-MM-dd<sep>HH:mm:ss[.f]` (+ `Z` when `zone`).
pub(crate) fn write_timestamp(out: &mut String, v: i64, unit: &TimeUnit, sep: char, zone: bool) {
    let (days, nanos) = unit_to_day_nanos(v, unit);
    write_date(out, days);
    out.push(sep);
    write_time(out, nanos);
    if zone {
        out.push('Z');
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn java_numbers() {
        assert_eq!(parse_java_long("+5"), Some(5));
        assert_eq!(parse_java_long("-0"), Some(0));
        assert_eq!(parse_java_long("1.5"), None);
        assert_eq!(parse_java_long(""), None);
        assert_eq!(parse_java_long("99999999999999999999"), None);
        assert_eq!(parse_java_double("1e3"), Some(1000.0));
        assert_eq!(parse_java_double(" 2.5d "), Some(2.5));
        assert_eq!(parse_java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_java_double("NaN").unwrap().is_nan());
        assert_eq!(parse_java_double("inf"), None);
        assert_eq!(parse_java_double("0x10"), None);
        assert_eq!(parse_java_double(""), None);
        assert_eq!(parse_java_double(".5"), Some(0.5));
        assert_eq!(parse_java_float("1.1"), Some(1.1f32));
    }

    #[test]
    fn decimals_round_half_up_and_overflow_to_null() {
        assert_eq!(parse_decimal("12.345", 10, 2), Ok(Some(1235)));
        assert_eq!(parse_decimal("12.355", 10, 2), Ok(Some(1236)));
        assert_eq!(parse_decimal("-12.345", 10, 2), Ok(Some(-1235)));
        assert_eq!(parse_decimal("1e2", 10, 2), Ok(Some(10000)));
        assert_eq!(parse_decimal("123456789012", 10, 2), Ok(None));
        assert_eq!(parse_decimal("0.001", 10, 2), Ok(Some(0)));
        assert_eq!(parse_decimal("1e400", 10, 2), Ok(None));
        assert_eq!(parse_decimal("1e-400", 10, 2), Ok(Some(0)));
        assert_eq!(parse_decimal(" 1", 10, 2), Err(()));
        assert_eq!(parse_decimal("", 10, 2), Err(()));
        assert_eq!(parse_decimal("1e", 10, 2), Err(()));
        assert_eq!(parse_decimal(".5", 10, 2), Ok(Some(50)));
    }

    #[test]
    fn decimal_text_like_java() {
        // Golden values from Flink 2.3's json and csv writers.
        assert_eq!(format_decimal_stripped(1250, 2), "12.5");
        assert_eq!(format_decimal_stripped(300, 2), "3");
        assert_eq!(format_decimal_stripped(0, 2), "0");
        assert_eq!(format_decimal_stripped(1, 10), "1E-10");
        assert_eq!(format_decimal_stripped(1_000_000_000_000, 10), "1E+2");
        assert_eq!(format_decimal_stripped(-5_000_000_000, 10), "-0.5");
        assert_eq!(format_decimal_stripped(123_456_789_000_000_000, 10), "12345678.9");
        assert_eq!(format_decimal_stripped(1_000_000, 10), "0.0001");
        assert_eq!(format_decimal_stripped(-105, 2), "-1.05");
        assert_eq!(format_decimal_plain(1250, 2), "12.50");
        assert_eq!(format_decimal_plain(1, 10), "0.0000000001");
    }

    #[test]
    fn temporal_parsing() {
        assert_eq!(parse_iso_date(b"1970-01-02"), Some(1));
        assert_eq!(parse_iso_date(b"2024-02-30"), None);
        assert_eq!(parse_iso_date(b"2024-1-2"), None);
        assert_eq!(parse_lenient_date("2024-1-2"), parse_iso_date(b"2024-01-02"));
        assert_eq!(parse_lenient_date("2024-02-30"), parse_iso_date(b"2024-03-01"));
        assert_eq!(parse_time("10:11:12.5", true), Some(36_672_500_000_000));
        assert_eq!(parse_time("10:11", true), None);
        assert_eq!(parse_time("10:11", false), Some(36_660_000_000_000));
        assert_eq!(parse_time("1:2:3", false), None);
        let t = parse_timestamp("1970-01-01 00:00:01.5", b' ', true, false);
        assert_eq!(t, Some(1_500_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01Z", b' ', true, true), Some(1_000_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01", b' ', true, true), None);
        assert_eq!(parse_timestamp("1970-01-01T00:00", b'T', false, false), Some(0));
        assert_eq!(parse_timestamp("1970-01-01 00:00", b' ', true, false), None);
    }

    #[test]
    fn temporal_text() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_704_067_200_050, &TimeUnit::Millisecond, ' ', false);
        assert_eq!(s, "2024-01-01 00:00:00.05");
        s.clear();
        write_timestamp(&mut s, -1, &TimeUnit::Millisecond, 'T', true);
        assert_eq!(s, "1969-12-31T23:59:59.999Z");
        s.clear();
        write_time(&mut s, 36_672_000_000_000);
        assert_eq!(s, "10:11:12");
    }
}
