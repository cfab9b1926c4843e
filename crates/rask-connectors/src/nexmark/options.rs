//! Nexmark options: Flink nexmark's keys (`first-event.rate`, `events.num`, proportions, hot
//! ratios, average sizes, `max-emit-speed`, `keep-alive`) plus Rask's `seed`, `base-time` and
//! `out-of-order.group-size` for reproducible and out-of-order streams.

use rask_types::options::{OptionKind, OptionSpec, Options};

pub fn specs() -> Vec<OptionSpec> {
    let count = OptionKind::Int { min: 0, max: i64::MAX };
    let ratio = OptionKind::Int { min: 1, max: 1 << 30 };
    vec![
        OptionSpec::new("first-event.rate", OptionKind::Int { min: 1, max: i64::MAX }, "Events per second of event time (and of wall-clock time unless max-emit-speed).").default("10000"),
        OptionSpec::new("next-event.rate", OptionKind::Int { min: 1, max: i64::MAX }, "Accepted for compatibility; the rate is constant at first-event.rate, as in Flink's nexmark generator.").default("10000"),
        OptionSpec::new("events.num", count.clone(), "Number of events to generate over all subtasks; 0 = unbounded.").default("0"),
        OptionSpec::new("person.proportion", OptionKind::Int { min: 1, max: 1 << 20 }, "Persons per epoch of events.").default("1"),
        OptionSpec::new("auction.proportion", OptionKind::Int { min: 1, max: 1 << 20 }, "Auctions per epoch of events.").default("3"),
        OptionSpec::new("bid.proportion", OptionKind::Int { min: 0, max: 1 << 20 }, "Bids per epoch of events.").default("46"),
        OptionSpec::new("bid.hot-ratio.auctions", ratio.clone(), "1 - 1/ratio of the bids go to the current hot auction.").default("2"),
        OptionSpec::new("bid.hot-ratio.bidders", ratio.clone(), "1 - 1/ratio of the bids come from the current hot bidder.").default("4"),
        OptionSpec::new("auction.hot-ratio.sellers", ratio, "1 - 1/ratio of the auctions are opened by the current hot seller.").default("4"),
        OptionSpec::new("person.avg-size", OptionKind::String, "Average size of a person (the 'extra' field pads to it).").default("200b"),
        OptionSpec::new("auction.avg-size", OptionKind::String, "Average size of an auction.").default("500b"),
        OptionSpec::new("bid.avg-size", OptionKind::String, "Average size of a bid.").default("100b"),
        OptionSpec::new("max-emit-speed", OptionKind::Bool, "Emit as fast as possible; false paces events to first-event.rate on the wall clock.").default("true"),
        OptionSpec::new("keep-alive", OptionKind::Bool, "Keep the source running (idle) after the last event.").default("false"),
        OptionSpec::new("seed", count, "Seed of the generator: the same seed gives the same events at any parallelism.").default("0"),
        OptionSpec::new("base-time", OptionKind::String, "Event time of the first event: epoch milliseconds or 'yyyy-MM-dd[ HH:mm:ss[.SSS]]' (UTC); default: when the job starts."),
        OptionSpec::new("out-of-order.group-size", OptionKind::Int { min: 1, max: 1 << 30 }, "Events are shuffled (deterministically) within groups of this many consecutive events; 1 = in order.").default("1"),
    ]
}

/// The generator's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkConfig {
    /// Events per second of event time.
    pub rate: u64,
    /// Total events (`None` = unbounded).
    pub events: Option<u64>,
    pub person_proportion: u64,
    pub auction_proportion: u64,
    pub bid_proportion: u64,
    pub hot_auction_ratio: u64,
    pub hot_bidders_ratio: u64,
    pub hot_sellers_ratio: u64,
    pub avg_person_size: u64,
    pub avg_auction_size: u64,
    pub avg_bid_size: u64,
    pub max_emit_speed: bool,
    pub keep_alive: bool,
    pub seed: u64,
    /// Epoch milliseconds of the first event (`None` = when the job starts).
    pub base_time: Option<i64>,
    pub out_of_order_group: u64,
    /// People that bids and auctions refer to (Nexmark's default).
    pub num_active_people: u64,
    /// Auctions open at a time (Nexmark's default).
    pub num_in_flight_auctions: u64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            rate: 10_000,
            events: None,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            hot_sellers_ratio: 4,
            avg_person_size: 200,
            avg_auction_size: 500,
            avg_bid_size: 100,
            max_emit_speed: true,
            keep_alive: false,
            seed: 0,
            base_time: None,
            out_of_order_group: 1,
            num_active_people: 1000,
            num_in_flight_auctions: 100,
        }
    }
}

impl NexmarkConfig {
    pub fn from_options(opts: &Options) -> Result<Self, String> {
        crate::validate_specs("connector 'nexmark'", opts, &specs())?;
        let d = NexmarkConfig::default();
        let int = |k: &str, def: u64| -> Result<u64, String> { Ok(opts.int(k)?.map(|v| v as u64).unwrap_or(def)) };
        let size = |k: &str, def: u64| -> Result<u64, String> {
            match opts.get(k) {
                None => Ok(def),
                Some(v) => parse_memory_size(v).map_err(|e| format!("option '{k}': {e}")),
            }
        };
        let group = int("out-of-order.group-size", 1)?;
        if group > 1 && group % 953 == 0 {
            return Err("option 'out-of-order.group-size' must not be a multiple of 953 (the shuffle within a group would repeat events)".into());
        }
        let events = int("events.num", 0)?;
        Ok(NexmarkConfig {
            rate: int("first-event.rate", d.rate)?,
            events: (events > 0).then_some(events),
            person_proportion: int("person.proportion", d.person_proportion)?,
            auction_proportion: int("auction.proportion", d.auction_proportion)?,
            bid_proportion: int("bid.proportion", d.bid_proportion)?,
            hot_auction_ratio: int("bid.hot-ratio.auctions", d.hot_auction_ratio)?,
            hot_bidders_ratio: int("bid.hot-ratio.bidders", d.hot_bidders_ratio)?,
            hot_sellers_ratio: int("auction.hot-ratio.sellers", d.hot_sellers_ratio)?,
            avg_person_size: size("person.avg-size", d.avg_person_size)?,
            avg_auction_size: size("auction.avg-size", d.avg_auction_size)?,
            avg_bid_size: size("bid.avg-size", d.avg_bid_size)?,
            max_emit_speed: opts.bool("max-emit-speed", true)?,
            keep_alive: opts.bool("keep-alive", false)?,
            seed: int("seed", 0)?,
            base_time: opts.get("base-time").map(|v| parse_base_time(v).map_err(|e| format!("option 'base-time': {e}"))).transpose()?,
            out_of_order_group: group,
            ..d
        })
    }
}

/// Flink's MemorySize syntax: a number with an optional unit (b, k/kb, m/mb, g/gb; binary).
pub fn parse_memory_size(v: &str) -> Result<u64, String> {
    let s = v.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("expected a size such as '100b' or '1kb', got '{v}'"))?;
    let mul: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' in '{v}' (use b, kb, mb or gb)")),
    };
    n.checked_mul(mul).filter(|b| *b < 1 << 31).ok_or_else(|| format!("size '{v}' is too large"))
}

/// Epoch milliseconds, or a UTC date/time `yyyy-MM-dd[ HH:mm:ss[.SSS]]`.
pub fn parse_base_time(v: &str) -> Result<i64, String> {
    let s = v.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let s = s.replace('T', " ");
    let parsed = chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
        .map_err(|_| format!("expected epoch milliseconds or 'yyyy-MM-dd HH:mm:ss', got '{v}'"))?;
    Ok(parsed.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_parse_like_flink() {
        assert_eq!(parse_memory_size("200b"), Ok(200));
        assert_eq!(parse_memory_size("1kb"), Ok(1024));
        assert_eq!(parse_memory_size(" 3 "), Ok(3));
        assert!(parse_memory_size("3 parsecs").unwrap_err().contains("unit"));
        assert_eq!(parse_base_time("2024-01-01"), Ok(1_704_067_200_000));
        assert_eq!(parse_base_time("2024-01-01 00:00:01.5"), Ok(1_704_067_201_500));
        assert_eq!(parse_base_time("12"), Ok(12));
        assert!(parse_base_time("yesterday").is_err());
    }

    #[test]
    fn options_are_validated_with_their_names() {
        let o = |kv: &[(&str, &str)]| Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let c = NexmarkConfig::from_options(&o(&[("events.num", "1000"), ("seed", "7")])).unwrap();
        assert_eq!((c.events, c.seed, c.rate), (Some(1000), 7, 10_000));
        assert_eq!(NexmarkConfig::from_options(&o(&[])).unwrap().events, None);
        let e = NexmarkConfig::from_options(&o(&[("events.nmu", "1")])).unwrap_err();
        assert!(e.contains("events.nmu"), "{e}");
        let e = NexmarkConfig::from_options(&o(&[("bid.avg-size", "big")])).unwrap_err();
        assert!(e.contains("bid.avg-size"), "{e}");
        let e = NexmarkConfig::from_options(&o(&[("out-of-order.group-size", "1906")])).unwrap_err();
        assert!(e.contains("953"), "{e}");
    }
}
