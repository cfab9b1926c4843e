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
    let bad = || format!("'{id}' is not a time zone: use a region id such as 'America/Los_Angeles' or an offset such as 'GMT-08:00'");
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
    Tz::from_str(&arrow_id).map_err(|_| bad())
}

/// Whether a zone id means UTC (no conversion needed anywhere).
pub fn is_utc(id: &str) -> bool {
    matches!(id.trim(), "UTC" | "Z" | "GMT" | "+00:00" | "GMT+00:00" | "Etc/UTC" | "UCT" | "Etc/GMT" | "-00:00")
}

/// Seconds to add to a UTC instant to get the wall-clock time in `tz`.
pub fn offset_at(tz: &Tz, utc_secs: i64) -> i64 {
    match DateTime::from_timestamp(utc_secs, 0) {
        Some(d) => tz.offset_from_utc_datetime(&d.naive_utc()).fix().local_minus_utc() as i64,
        None => 0,
    }
}

/// The instant (UTC) of a wall-clock time in `tz`.
pub fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> NaiveDateTime {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(d) => d.naive_utc(),
        LocalResult::Ambiguous(a, _) => a.naive_utc(),
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
    let ps = per_second(unit);
    let (secs, frac) = (v.div_euclid(ps), v.rem_euclid(ps));
    match DateTime::from_timestamp(secs, 0) {
        Some(d) => local_to_utc(tz, d.naive_utc()).and_utc().timestamp() * ps + frac,
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
}
