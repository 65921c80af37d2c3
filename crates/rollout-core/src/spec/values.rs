//! Small value types of the strategy format: [`Duration`], [`Percent`], [`Weight`] and
//! [`IntOrPercent`]. Each parses from the text a user writes and displays back to text that
//! parses to the same value.
//!
//! Parse errors are plain strings saying what was expected; the validator prefixes them with
//! the file position and the path of the node.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::error::ValueError;

/// A request rate written with its unit: `20/s`, `300/m` (or `/min`), `3600/h`. Stored per
/// second; displays as `N/s`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl Rate {
    pub fn per_second(self) -> f64 {
        self.0
    }
}

pub(crate) const RATE_EXPECTED: &str = "a rate like 20/s, 300/m or 3600/h";

impl FromStr for Rate {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = |why: &str| ValueError(format!("expected {RATE_EXPECTED}, got `{t}`{why}"));
        let Some((count, unit)) = t.split_once('/') else {
            return Err(bad(" (add a unit: /s, /m or /h)"));
        };
        let seconds = match unit.trim() {
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad(" (the unit is /s, /m or /h)")),
        };
        let count: f64 = count.trim().parse().map_err(|_| bad(""))?;
        if !(count.is_finite() && count > 0.0) {
            return Err(bad(" (a rate is above zero)"));
        }
        let per_second = count / seconds;
        if per_second > loadgen::MAX_RATE_PER_SECOND {
            return Err(bad(&format!(
                " (at most {}/s)",
                loadgen::MAX_RATE_PER_SECOND
            )));
        }
        Ok(Rate(per_second))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A span of time written with a unit: `30s`, `2m`, `500ms`, `1h30m`, `1.5s`.
///
/// `0` (without a unit) is accepted as zero. Displays in a compact form (`1m30s`, `500ms`)
/// that parses back to the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(millis: u64) -> Self {
        Duration(std::time::Duration::from_millis(millis))
    }

    /// The standard-library duration.
    pub const fn std(self) -> std::time::Duration {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

pub(crate) const DURATION_EXPECTED: &str = "a duration with a unit, like 30s, 2m or 500ms";

impl FromStr for Duration {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ValueError(format!(
                "expected {DURATION_EXPECTED}, got nothing"
            )));
        }
        if t.starts_with('-') {
            return Err(ValueError(format!(
                "expected {DURATION_EXPECTED}, got `{t}` (durations cannot be negative)"
            )));
        }
        if t != "0" && t.parse::<f64>().is_ok() {
            return Err(ValueError(format!(
                "expected {DURATION_EXPECTED}, got `{t}` (add a unit: {t}s, {t}m, ...)"
            )));
        }
        humantime::parse_duration(t)
            .map(Duration)
            .map_err(|_| ValueError(format!("expected {DURATION_EXPECTED}, got `{t}`")))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        const UNITS: [(u128, &str); 6] = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        for (size, unit) in UNITS {
            if nanos >= size {
                write!(f, "{}{unit}", nanos / size)?;
                nanos %= size;
            }
        }
        Ok(())
    }
}

/// A percentage from 0% to 100%, written with a `%` sign: `10%`, `99.5%`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percent(f64);

impl Percent {
    pub const ZERO: Percent = Percent(0.0);
    pub const HUNDRED: Percent = Percent(100.0);

    /// For constants; `value` must be from 0 to 100.
    pub(crate) const fn new_const(value: f64) -> Self {
        Percent(value)
    }

    /// `value` in percent (0 to 100); `None` when out of range or not finite.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=100.0).contains(&value)).then_some(Percent(value))
    }

    /// The value in percent: `12.5` for `12.5%`.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The value as a fraction: `0.125` for `12.5%`.
    pub fn ratio(self) -> f64 {
        self.0 / 100.0
    }
}

impl FromStr for Percent {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let Some(number) = t.strip_suffix('%') else {
            return Err(ValueError(if t.parse::<f64>().is_ok() {
                format!("expected a percentage with a % sign, like {t}%, got `{t}`")
            } else {
                format!("expected a percentage like 10% or 99.5%, got `{t}`")
            }));
        };
        let value: f64 = number.trim().parse().map_err(|_| {
            ValueError(format!(
                "expected a percentage like 10% or 99.5%, got `{t}`"
            ))
        })?;
        Percent::new(value)
            .ok_or_else(|| ValueError(format!("expected a percentage from 0% to 100%, got `{t}`")))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A traffic weight: a whole number from 0 to 100 (the percentage of requests sent to the new
/// version). `10` and `10%` are both accepted; displays as `10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Weight(u8);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const FULL: Weight = Weight(100);

    pub fn new(value: u32) -> Option<Self> {
        u8::try_from(value).ok().filter(|v| *v <= 100).map(Weight)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

pub(crate) const WEIGHT_EXPECTED: &str = "a number from 0 to 100";

impl FromStr for Weight {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let number = t.strip_suffix('%').unwrap_or(t).trim();
        number
            .parse::<u32>()
            .ok()
            .and_then(Weight::new)
            .ok_or_else(|| {
                ValueError({
                    if number.parse::<f64>().is_ok() {
                        format!("expected {WEIGHT_EXPECTED}, got {t}")
                    } else {
                        format!("expected {WEIGHT_EXPECTED}, got `{t}`")
                    }
                })
            })
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A count of pods or a percentage of the desired replicas, as in a Deployment's `maxSurge`:
/// `1`, `25%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntOrPercent {
    Count(u32),
    Percent(Percent),
}

impl IntOrPercent {
    /// Resolves against `replicas` the way Kubernetes does: percentages of surge round up,
    /// percentages of unavailability round down (`round_up` chooses).
    pub fn resolve(self, replicas: u32, round_up: bool) -> u32 {
        match self {
            IntOrPercent::Count(n) => n,
            IntOrPercent::Percent(p) => {
                let exact = p.ratio() * f64::from(replicas);
                let rounded = if round_up {
                    exact.ceil()
                } else {
                    exact.floor()
                };
                // Bounded by `replicas` (p <= 100%), so the cast cannot truncate.
                rounded as u32
            }
        }
    }

    pub fn is_zero(self) -> bool {
        match self {
            IntOrPercent::Count(n) => n == 0,
            IntOrPercent::Percent(p) => p.value() == 0.0,
        }
    }
}

impl FromStr for IntOrPercent {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.ends_with('%') {
            return t.parse().map(IntOrPercent::Percent);
        }
        t.parse::<u32>().map(IntOrPercent::Count).map_err(|_| {
            ValueError({
                format!("expected a number of pods or a percentage, like 1 or 25%, got `{t}`")
            })
        })
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Count(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}"),
        }
    }
}

macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}

serialize_as_display!(Duration, Percent, IntOrPercent);

/// Reads a value the way a strategy file writes it (`30s`, `10%`), so that what was
/// serialised with [`serialize_as_display`] reads back.
macro_rules! deserialize_from_str {
    ($($t:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

pub(crate) use deserialize_from_str;

deserialize_from_str!(Duration, Percent, IntOrPercent);

impl Serialize for Weight {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(text: &str, canonical: &str)
    where
        T: FromStr<Err = ValueError> + fmt::Display + PartialEq + fmt::Debug,
    {
        let value: T = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(value.to_string(), canonical, "display of {text}");
        let again: T = canonical
            .parse()
            .unwrap_or_else(|e| panic!("{canonical}: {e}"));
        assert_eq!(again, value, "round trip of {text}");
    }

    #[test]
    fn durations_round_trip() {
        round_trip::<Duration>("30s", "30s");
        round_trip::<Duration>("2m", "2m");
        round_trip::<Duration>("500ms", "500ms");
        round_trip::<Duration>("1m 30s", "1m30s");
        round_trip::<Duration>("90s", "1m30s");
        round_trip::<Duration>("1.5s", "1s500ms");
        round_trip::<Duration>("2h", "2h");
        round_trip::<Duration>("1d", "24h");
        round_trip::<Duration>("0", "0s");
        round_trip::<Duration>("10us", "10us");
        assert_eq!("2m".parse::<Duration>(), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn duration_errors_say_what_was_expected() {
        assert_eq!(
            "30".parse::<Duration>().unwrap_err().0,
            "expected a duration with a unit, like 30s, 2m or 500ms, got `30` (add a unit: 30s, 30m, ...)"
        );
        assert!(
            "-1s"
                .parse::<Duration>()
                .unwrap_err()
                .0
                .contains("negative")
        );
        assert!(
            "soon"
                .parse::<Duration>()
                .unwrap_err()
                .0
                .contains("got `soon`")
        );
        assert!("".parse::<Duration>().is_err());
    }

    #[test]
    fn percents_round_trip() {
        round_trip::<Percent>("10%", "10%");
        round_trip::<Percent>("99.5%", "99.5%");
        round_trip::<Percent>(" 100 % ", "100%");
        round_trip::<Percent>("0%", "0%");
        assert_eq!("12.5%".parse::<Percent>().map(Percent::ratio), Ok(0.125));
        assert!(
            "101%"
                .parse::<Percent>()
                .unwrap_err()
                .0
                .contains("0% to 100%")
        );
        assert!("10".parse::<Percent>().unwrap_err().0.contains("like 10%"));
        assert!("x%".parse::<Percent>().is_err());
        assert!("NaN%".parse::<Percent>().is_err());
    }

    #[test]
    fn weights_round_trip() {
        round_trip::<Weight>("10", "10");
        round_trip::<Weight>("10%", "10");
        round_trip::<Weight>("0", "0");
        round_trip::<Weight>("100", "100");
        assert_eq!(
            "150".parse::<Weight>().unwrap_err().0,
            "expected a number from 0 to 100, got 150"
        );
        assert!("-1".parse::<Weight>().is_err());
        assert!("2.5".parse::<Weight>().is_err());
    }

    #[test]
    fn int_or_percent() {
        round_trip::<IntOrPercent>("25%", "25%");
        round_trip::<IntOrPercent>("1", "1");
        let surge: IntOrPercent = "25%".parse().unwrap_or(IntOrPercent::Count(0));
        assert_eq!(surge.resolve(10, true), 3);
        assert_eq!(surge.resolve(10, false), 2);
        assert!("-1".parse::<IntOrPercent>().is_err());
        assert!(IntOrPercent::Count(0).is_zero());
    }
}
