//! Time as Kubernetes writes it. `metav1.Time` is RFC 3339 in UTC with whole seconds
//! (`2025-01-02T03:04:05Z`); k8s-openapi holds it as a `jiff::Timestamp`, so everything here is
//! jiff, and an object read as JSON and one read typed agree on what a timestamp means.

use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// `t` without its fraction of a second (earlier, never later), as `metav1.Time` keeps it.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    t.round(
        TimestampRound::new()
            .smallest(Unit::Second)
            .mode(RoundMode::Floor),
    )
    .unwrap_or(t)
}

/// The `metav1.Time` of `t`, in whole seconds.
pub fn to_time(t: Timestamp) -> Time {
    Time(whole_seconds(t))
}

/// `t` as the API server writes a `metav1.Time`: RFC 3339, UTC, whole seconds.
pub fn format(t: Timestamp) -> String {
    whole_seconds(t).to_string()
}

/// The current time as the API server writes it (see [`format`]).
pub fn now_rfc3339() -> String {
    format(Timestamp::now())
}

/// An RFC 3339 timestamp with any offset, parsed as k8s-openapi parses a `metav1.Time`;
/// `None` when it does not parse.
pub fn parse(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_with_whole_seconds_in_utc() {
        let t: Timestamp = "2025-01-02T03:04:05.987654321+02:00"
            .parse()
            .expect("timestamp");
        assert_eq!(format(t), "2025-01-02T01:04:05Z");
        assert_eq!(
            to_time(t).0,
            "2025-01-02T01:04:05Z".parse::<Timestamp>().expect("t")
        );
        let before_epoch: Timestamp = "1969-12-31T23:59:59.5Z".parse().expect("timestamp");
        assert_eq!(format(before_epoch), "1969-12-31T23:59:59Z");
        assert!(now_rfc3339().ends_with('Z'));
        assert!(!now_rfc3339().contains('.'));
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse("2025-01-02T03:04:05Z").map(Timestamp::as_second),
            Some(1_735_787_045)
        );
        assert_eq!(
            parse("2025-01-02T05:04:05+02:00").map(Timestamp::as_second),
            Some(1_735_787_045)
        );
        assert_eq!(parse("yesterday"), None);
    }
}
