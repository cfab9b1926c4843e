//! The session time zone (`table.local-time-zone`) where Flink applies it: a `TIMESTAMP_LTZ`
//! (an instant; Arrow `Timestamp(unit, "UTC")`) read as a wall-clock `TIMESTAMP` in the zone
//! ([`ZoneFn::LtzToLocal`]: casts to TIMESTAMP/STRING/DATE, DATE_FORMAT, HOUR, EXTRACT …), a
//! wall-clock time taken as an instant in the zone ([`ZoneFn::LocalToLtz`]: casts to
//! TIMESTAMP_LTZ), and UNIX_TIMESTAMP / FROM_UNIXTIME parsing and printing in the zone. With a
//! UTC session none of these is planned. Ambiguous wall-clock times (a DST fall-back) take the
//! earlier offset and times in a DST gap move forward by the gap, as Java's `ZonedDateTime`.

use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use datafusion_common::Result;
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::util::{exec_err, invoke_on_args};

/// A session time zone as Flink accepts it: a region id (`Asia/Shanghai`), `UTC`, or a custom
/// offset id (`GMT+08:00`, `+08:00`). Flink refuses `UTC+8`-style ids; so does this.
pub fn parse_zone(id: &str) -> std::result::Result<Tz, String> {
    let arrow_id = zone_id(id)?;
    Tz::from_str(&arrow_id).map_err(|_| not_a_zone(id))
}

fn not_a_zone(id: &str) -> String {
    format!("'{id}' is not a time zone: use a region id such as 'America/Los_Angeles' or an offset such as 'GMT-08:00'")
}

/// A zone id as Flink writes it → the id of the zone itself: a region id, `UTC` or `±hh:mm`.
fn zone_id(id: &str) -> std::result::Result<String, String> {
    let bad = || not_a_zone(id);
    let trimmed = id.trim();
    let arrow_id = if let Some(off) = trimmed.strip_prefix("GMT").filter(|o| !o.is_empty()) {
        off.to_string()
    } else if trimmed.starts_with("UTC+") || trimmed.starts_with("UTC-") {
        return Err(bad());
    } else if trimmed == "Z" || trimmed == "GMT" {
        "UTC".to_string()
    } else {
        trimmed.to_string()
    };
    if arrow_id.starts_with(['+', '-']) && !(arrow_id.len() == 6 && arrow_id.as_bytes()[3] == b':') {
        return Err(bad());
    }
    Ok(arrow_id)
}

/// Whether a zone id means UTC (no conversion needed anywhere).
pub fn is_utc(id: &str) -> bool {
    matches!(id.trim(), "UTC" | "Z" | "GMT" | "+00:00" | "GMT+00:00" | "Etc/UTC" | "UCT" | "Etc/GMT" | "-00:00")
}

/// Seconds to add to a UTC instant to get the wall-clock time in `tz`.
pub fn offset_at<Z: TimeZone>(tz: &Z, utc_secs: i64) -> i64 {
    match DateTime::from_timestamp(utc_secs, 0) {
        Some(d) => tz.offset_from_utc_datetime(&d.naive_utc()).fix().local_minus_utc() as i64,
        None => 0,
    }
}

/// The instant (UTC) of a wall-clock time in `tz`.
pub fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> NaiveDateTime {
    local_to_utc_at(tz, local, false)
}

/// [`local_to_utc`], taking the later instant of an ambiguous time when `later`.
fn local_to_utc_at<Z: TimeZone>(tz: &Z, local: NaiveDateTime, later: bool) -> NaiveDateTime {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(d) => d.naive_utc(),
        LocalResult::Ambiguous(a, b) => if later { b.naive_utc() } else { a.naive_utc() },
        // In a gap: the offset from before the gap, which moves the time forward by the gap.
        LocalResult::None => {
            let before = tz.offset_from_utc_datetime(&(local - chrono::TimeDelta::days(1))).fix().local_minus_utc();
            local - chrono::TimeDelta::seconds(before as i64)
        }
    }
}

fn per_second(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// A UTC instant in `unit` → the wall-clock time in `tz`, same unit.
pub fn instant_to_local(tz: &Tz, v: i64, unit: &TimeUnit) -> i64 {
    let ps = per_second(unit);
    v + offset_at(tz, v.div_euclid(ps)) * ps
}

/// A wall-clock time in `tz` in `unit` → the UTC instant, same unit.
pub fn local_to_instant(tz: &Tz, v: i64, unit: &TimeUnit) -> i64 {
    local_to_instant_at(tz, v, per_second(unit), false)
}

/// [`local_to_instant`] for `ps` units per second, taking the later instant of an ambiguous
/// time when `later`.
fn local_to_instant_at<Z: TimeZone>(tz: &Z, v: i64, ps: i64, later: bool) -> i64 {
    let (secs, frac) = (v.div_euclid(ps), v.rem_euclid(ps));
    match DateTime::from_timestamp(secs, 0) {
        Some(d) => local_to_utc_at(tz, d.naive_utc(), later).and_utc().timestamp() * ps + frac,
        None => v,
    }
}

fn map_ts<T: ArrowTimestampType>(a: &ArrayRef, f: impl Fn(i64) -> i64, tz: Option<&str>) -> ArrayRef {
    let p: PrimitiveArray<T> = a.as_primitive::<T>().unary(f);
    Arc::new(match tz {
        Some(z) => p.with_timezone(z),
        None => p.with_timezone_opt(None::<Arc<str>>),
    })
}

fn map_timestamps(a: &ArrayRef, unit: &TimeUnit, f: impl Fn(i64) -> i64, tz: Option<&str>) -> ArrayRef {
    match unit {
        TimeUnit::Second => map_ts::<TimestampSecondType>(a, f, tz),
        TimeUnit::Millisecond => map_ts::<TimestampMillisecondType>(a, f, tz),
        TimeUnit::Microsecond => map_ts::<TimestampMicrosecondType>(a, f, tz),
        TimeUnit::Nanosecond => map_ts::<TimestampNanosecondType>(a, f, tz),
    }
}

/// What a zone function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneFn {
    /// `TIMESTAMP_LTZ` → the `TIMESTAMP` it shows in the zone.
    LtzToLocal,
    /// `TIMESTAMP` → the `TIMESTAMP_LTZ` it means in the zone.
    LocalToLtz,
    /// `UNIX_TIMESTAMP(text [, format])`, the text read in the zone.
    UnixTimestamp,
    /// `FROM_UNIXTIME(seconds [, format])`, printed in the zone.
    FromUnixtime,
}

/// A zone function bound to one session zone.
#[derive(Debug)]
pub struct Zoned {
    kind: ZoneFn,
    name: &'static str,
    zone: String,
    tz: Tz,
    signature: Signature,
}

impl PartialEq for Zoned {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind && self.zone == o.zone
    }
}
impl Eq for Zoned {}
impl Hash for Zoned {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.zone.hash(state);
    }
}

impl Zoned {
    pub fn udf(kind: ZoneFn, zone: &str) -> std::result::Result<Arc<ScalarUDF>, String> {
        let tz = parse_zone(zone)?;
        let name = match kind {
            ZoneFn::LtzToLocal => "ltz_to_local",
            ZoneFn::LocalToLtz => "local_to_ltz",
            ZoneFn::UnixTimestamp => "unix_timestamp",
            ZoneFn::FromUnixtime => "from_unixtime",
        };
        Ok(Arc::new(ScalarUDF::new_from_impl(Zoned {
            kind,
            name,
            zone: zone.to_string(),
            tz,
            signature: Signature::user_defined(Volatility::Immutable),
        })))
    }
}

impl ScalarUDFImpl for Zoned {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        Ok(match self.kind {
            ZoneFn::LtzToLocal | ZoneFn::LocalToLtz => t.to_vec(),
            ZoneFn::UnixTimestamp => vec![DataType::Utf8; t.len()],
            ZoneFn::FromUnixtime => t.iter().enumerate().map(|(i, _)| if i == 0 { DataType::Int64 } else { DataType::Utf8 }).collect(),
        })
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        Ok(match (self.kind, t.first()) {
            (ZoneFn::LtzToLocal, Some(DataType::Timestamp(u, _))) => DataType::Timestamp(*u, None),
            (ZoneFn::LocalToLtz, Some(DataType::Timestamp(u, _))) => DataType::Timestamp(*u, Some(rask_types::types::LTZ_TZ.into())),
            (ZoneFn::UnixTimestamp, _) => DataType::Int64,
            (ZoneFn::FromUnixtime, _) => DataType::Utf8,
            (k, other) => return Err(exec_err(format!("{k:?}: expects a timestamp, got {other:?}"))),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let tz = &self.tz;
        invoke_on_args(self.name, args, |a| match self.kind {
            ZoneFn::LtzToLocal | ZoneFn::LocalToLtz => {
                let col = a.array(0)?;
                let DataType::Timestamp(unit, _) = col.data_type().clone() else {
                    return Err(exec_err(format!("{}: expects a timestamp, got {}", self.name, col.data_type())));
                };
                Ok(if self.kind == ZoneFn::LtzToLocal {
                    map_timestamps(&col, &unit, |v| instant_to_local(tz, v, &unit), None)
                } else {
                    map_timestamps(&col, &unit, |v| local_to_instant(tz, v, &unit), Some(rask_types::types::LTZ_TZ))
                })
            }
            ZoneFn::UnixTimestamp => crate::datetime::unix_timestamp_in(a, Some(tz)),
            ZoneFn::FromUnixtime => crate::datetime::from_unixtime_in(a, Some(tz)),
        })
    }
}

/// The clock a window's bounds are in (Flink's "shift time zone"): UTC for a `TIMESTAMP`
/// rowtime or a UTC session, the session time zone for a `TIMESTAMP_LTZ` rowtime or
/// `PROCTIME()` attribute. Windows are assigned on the wall-clock time of each row
/// ([`WindowClock::local`]) so that a 1-day window is a local day; `window_start`/`window_end`
/// are those wall-clock times and `window_time` the instant before the end
/// ([`WindowClock::instant`]). Watermarks and processing time stay instants: a window fires
/// when the watermark reaches the instant its last millisecond is reached
/// ([`WindowClock::timer_instant`], the later one at a DST fall-back, as Flink's
/// `toEpochMillsForTimer`), i.e. when [`WindowClock::progress`] of the watermark passes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WindowClock {
    #[default]
    Utc,
    /// A fixed offset, seconds east of UTC.
    Fixed(i32),
    /// A region's rules (with daylight saving time).
    Region(chrono_tz::Tz),
}

impl PartialOrd for WindowClock {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        let key = |c: &WindowClock| match c {
            WindowClock::Utc => (0, 0),
            WindowClock::Fixed(s) => (1, *s as i64),
            WindowClock::Region(tz) => (2, *tz as i64),
        };
        Some(key(self).cmp(&key(other)))
    }
}

impl WindowClock {
    /// The clock of a session zone id (as [`parse_zone`] accepts it).
    pub fn new(id: &str) -> std::result::Result<Self, String> {
        if is_utc(id) {
            return Ok(WindowClock::Utc);
        }
        let zone = zone_id(id)?;
        if let Some(rest) = zone.strip_prefix(['+', '-']) {
            // `±hh:mm`, checked by `zone_id`.
            let (h, m) = rest.split_once(':').ok_or_else(|| not_a_zone(id))?;
            let secs = h.parse::<i32>().map_err(|_| not_a_zone(id))? * 3600 + m.parse::<i32>().map_err(|_| not_a_zone(id))? * 60;
            return Ok(if secs == 0 { WindowClock::Utc } else { WindowClock::Fixed(if zone.starts_with('-') { -secs } else { secs }) });
        }
        zone.parse::<chrono_tz::Tz>().map(WindowClock::Region).map_err(|_| not_a_zone(id))
    }

    pub fn is_utc(&self) -> bool {
        *self == WindowClock::Utc
    }

    /// Seconds east of UTC at the instant `utc_secs`.
    fn offset(&self, utc_secs: i64) -> i64 {
        match self {
            WindowClock::Utc => 0,
            WindowClock::Fixed(s) => *s as i64,
            WindowClock::Region(tz) => offset_at(tz, utc_secs),
        }
    }

    /// Epoch milliseconds → the wall-clock time (as epoch-style milliseconds) in this clock.
    pub fn local(&self, ms: i64) -> i64 {
        if self.is_utc() || is_sentinel(ms) {
            return ms;
        }
        ms.saturating_add(self.offset(ms.div_euclid(1000)) * 1000)
    }

    /// [`local`](Self::local) for many instants close to each other (a batch of rows): the
    /// offset of the last 15-minute span seen is reused while no transition falls in it.
    pub fn localizer(&self) -> Localizer {
        Localizer { clock: *self, span: i64::MIN, offset_ms: 0 }
    }

    /// The instant of a wall-clock time: the earlier one at a fall-back, moved forward by the
    /// gap in a spring-forward gap (Java's `ZonedDateTime`, Flink's `toEpochMills`).
    pub fn instant(&self, local: i64) -> i64 {
        self.instant_by(local, false)
    }

    /// The instant a wall-clock time is reached for firing windows: the later one at a
    /// fall-back (Flink's `toEpochMillsForTimer`).
    pub fn timer_instant(&self, local: i64) -> i64 {
        self.instant_by(local, true)
    }

    fn instant_by(&self, local: i64, later: bool) -> i64 {
        match self {
            _ if is_sentinel(local) => local,
            WindowClock::Utc => local,
            WindowClock::Fixed(s) => local - *s as i64 * 1000,
            WindowClock::Region(tz) => local_to_instant_at(tz, local, 1000, later),
        }
    }

    /// How far the clock has got at the instant `w` (a watermark or processing time): the
    /// latest wall-clock time whose [`timer_instant`](Self::timer_instant) is not after `w`.
    /// Monotone in `w`; during the first pass through a fall-back's repeated hour it stays
    /// just before that hour (its times are reached, for windows, on the second pass).
    pub fn progress(&self, w: i64) -> i64 {
        let l = self.local(w);
        if !matches!(self, WindowClock::Region(_)) || is_sentinel(w) {
            return l;
        }
        // Usual case, cheap: no change of offset within a day after `w`, so `l` is not repeated.
        let secs = w.div_euclid(1000);
        let before = self.offset(secs);
        if before == self.offset(secs + 86_400) || self.timer_instant(l) <= w {
            return l;
        }
        // `w` is in the first pass of a repeated hour: find the transition instant `t` (the
        // first second after `w` with another offset), the hour repeats from `t + new offset`.
        let (mut lo, mut hi) = (secs, secs + 86_400);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.offset(mid) == before { lo = mid } else { hi = mid }
        }
        (hi + self.offset(hi)) * 1000 - 1
    }
}

/// See [`WindowClock::localizer`].
pub struct Localizer {
    clock: WindowClock,
    /// The 15-minute span (seconds / 900) whose offset is cached; `i64::MIN`: none.
    span: i64,
    offset_ms: i64,
}

impl Localizer {
    const SPAN: i64 = 900;

    pub fn local(&mut self, ms: i64) -> i64 {
        if !matches!(self.clock, WindowClock::Region(_)) || is_sentinel(ms) {
            return self.clock.local(ms);
        }
        let span = ms.div_euclid(1000).div_euclid(Self::SPAN);
        if span != self.span {
            let (first, last) = (span * Self::SPAN, span * Self::SPAN + Self::SPAN - 1);
            let offset = self.clock.offset(first);
            if offset != self.clock.offset(last) {
                // A transition inside the span: no caching here.
                self.span = i64::MIN;
                return self.clock.local(ms);
            }
            (self.span, self.offset_ms) = (span, offset * 1000);
        }
        ms + self.offset_ms
    }
}

/// Watermark sentinels (the minimum before any watermark, the maximum at the end of input)
/// are not times.
fn is_sentinel(ms: i64) -> bool {
    ms <= i64::MIN / 2 || ms >= i64::MAX / 2
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap()
    }

    #[test]
    fn zones_are_parsed_as_flink_accepts_them() {
        for ok in ["Asia/Shanghai", "UTC", "GMT+08:00", "+08:00", "America/Los_Angeles", "GMT-03:30"] {
            assert!(parse_zone(ok).is_ok(), "{ok}");
        }
        for bad in ["UTC+8", "Mars/Olympus", "+8", ""] {
            assert!(parse_zone(bad).unwrap_err().contains("is not a time zone"), "{bad}");
        }
        assert!(is_utc("UTC") && is_utc("+00:00") && !is_utc("Asia/Shanghai"));
    }

    #[test]
    fn instants_and_wall_clock_times_convert_both_ways() {
        let sh = parse_zone("Asia/Shanghai").unwrap();
        let ms = at(2024, 1, 1, 0, 0).and_utc().timestamp_millis();
        assert_eq!(instant_to_local(&sh, ms, &TimeUnit::Millisecond), ms + 8 * 3_600_000);
        assert_eq!(local_to_instant(&sh, ms + 8 * 3_600_000 + 5, &TimeUnit::Millisecond), ms + 5);
        assert_eq!(local_to_instant(&sh, -1, &TimeUnit::Millisecond), -1 - 8 * 3_600_000);
        // Los Angeles, 2024-03-10: 02:00–03:00 does not exist; 2024-11-03: 01:00–02:00 twice.
        let la = parse_zone("America/Los_Angeles").unwrap();
        assert_eq!(local_to_utc(&la, at(2024, 3, 10, 2, 30)), at(2024, 3, 10, 10, 30)); // = 03:30 PDT
        assert_eq!(local_to_utc(&la, at(2024, 11, 3, 1, 30)), at(2024, 11, 3, 8, 30)); // earlier: PDT
        assert_eq!(offset_at(&la, at(2024, 7, 1, 0, 0).and_utc().timestamp()), -7 * 3600);
    }

    #[test]
    fn window_clocks_follow_flink_across_daylight_saving_time() {
        let ms = |y, mo, d, h, mi| at(y, mo, d, h, mi).and_utc().timestamp_millis();
        assert_eq!(WindowClock::new("UTC").unwrap(), WindowClock::Utc);
        assert_eq!(WindowClock::new("GMT+05:30").unwrap(), WindowClock::Fixed(19_800));
        assert_eq!(WindowClock::new("-03:00").unwrap(), WindowClock::Fixed(-10_800));
        assert!(WindowClock::new("UTC+8").is_err());
        let sh = WindowClock::new("Asia/Shanghai").unwrap();
        let t = ms(2024, 1, 1, 0, 0);
        assert_eq!(sh.local(t), t + 8 * 3_600_000);
        assert_eq!(sh.instant(t + 8 * 3_600_000), t);
        assert_eq!(sh.progress(t), t + 8 * 3_600_000);
        assert_eq!(sh.progress(i64::MAX), i64::MAX);
        assert_eq!(sh.progress(i64::MIN), i64::MIN);
        let la = WindowClock::new("America/Los_Angeles").unwrap();
        // 2024-11-03: 01:00–02:00 local twice, PDT (08:00Z–09:00Z) then PST (09:00Z–10:00Z).
        let local_1am = ms(2024, 11, 3, 1, 0);
        assert_eq!(la.instant(local_1am + 1_800_000), ms(2024, 11, 3, 8, 30));
        assert_eq!(la.timer_instant(local_1am + 1_800_000), ms(2024, 11, 3, 9, 30));
        // Before the repeated hour the clock follows the wall clock; during its first pass
        // it waits just before it; on the second pass it runs again.
        assert_eq!(la.progress(ms(2024, 11, 3, 7, 30)), ms(2024, 11, 3, 0, 30));
        assert_eq!(la.progress(ms(2024, 11, 3, 8, 30)), local_1am - 1);
        assert_eq!(la.progress(ms(2024, 11, 3, 9, 30)), local_1am + 1_800_000);
        // 2024-03-10: 02:00–03:00 local does not exist; 02:30 is reached at 03:30 PDT.
        assert_eq!(la.instant(ms(2024, 3, 10, 2, 30)), ms(2024, 3, 10, 10, 30));
        assert_eq!(la.progress(ms(2024, 3, 10, 10, 30)), ms(2024, 3, 10, 3, 30));
        // The cached offsets of a localizer agree with the clock, across both transitions.
        let mut localizer = la.localizer();
        for t in (ms(2024, 3, 10, 8, 0)..ms(2024, 3, 10, 12, 0)).chain(ms(2024, 11, 3, 7, 0)..ms(2024, 11, 3, 11, 0)).step_by(7_001) {
            assert_eq!(localizer.local(t), la.local(t), "{t}");
        }
        // Monotone through both transitions.
        for (start, end) in [(ms(2024, 3, 10, 8, 0), ms(2024, 3, 10, 12, 0)), (ms(2024, 11, 3, 7, 0), ms(2024, 11, 3, 11, 0))] {
            let mut prev = i64::MIN;
            for w in (start..end).step_by(60_000) {
                let p = la.progress(w);
                assert!(p >= prev, "{w}");
                assert!(la.timer_instant(p) <= w, "{w}");
                prev = p;
            }
        }
    }
}
