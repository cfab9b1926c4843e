//! State time-to-live: `table.exec.state.ttl` (Flink's idle state retention). The state of a
//! key that has not been accessed for the TTL — in processing time — is dropped, bounding the
//! state of queries whose keys come and go (an unbounded OVER aggregation per session id, and
//! the updating operators: group aggregation, regular joins, deduplication, Top-N). Operators
//! whose state the watermark already cleans (windows, interval joins) ignore it, as in Flink.
//!
//! An operator records each key's last access time and calls [`StateTtl::expired`] from a
//! processing-time sweep every [`StateTtl::sweep_interval`], so a key goes between one TTL and
//! 1.25 TTLs after its last access (Flink clears it between one and 1.5 TTLs). Restored keys
//! count as accessed at the restore.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    ttl_ms: i64,
}

impl StateTtl {
    /// `None` for a zero TTL (Flink's default `0 ms`: keep state forever).
    pub fn new(ttl: Duration) -> Option<Self> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        (ttl_ms > 0).then_some(StateTtl { ttl_ms })
    }

    /// Whether state last accessed at `last_access` (epoch ms) is expired at `now`.
    pub fn expired(&self, last_access: i64, now: i64) -> bool {
        now.saturating_sub(last_access) >= self.ttl_ms
    }

    /// How often an operator with state looks for expired keys.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis((self.ttl_ms / 4).clamp(10, 60_000) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_sweep_interval() {
        assert_eq!(StateTtl::new(Duration::ZERO), None);
        let t = StateTtl::new(Duration::from_secs(2)).expect("ttl");
        assert!(!t.expired(1_000, 2_999));
        assert!(t.expired(1_000, 3_000));
        assert_eq!(t.sweep_interval(), Duration::from_millis(500));
        assert_eq!(StateTtl::new(Duration::from_millis(1)).expect("ttl").sweep_interval(), Duration::from_millis(10));
        assert_eq!(StateTtl::new(Duration::from_secs(86_400)).expect("ttl").sweep_interval(), Duration::from_secs(60));
    }
}
