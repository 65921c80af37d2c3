//! Quantities, numeric clamps and timestamps as the controller computes and writes them.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity as a float (Kubernetes' `AsApproximateFloat64`).
pub(super) fn quantity_f64(s: &str) -> Option<f64> {
    crate::admission::validate::parse_quantity(s).map(|nanos| nanos as f64 / 1e9)
}

/// `resource.NewMilliQuantity(millis, DecimalSI)` in canonical form: "250m", "1", "1500m", "2k".
pub(super) fn milli_quantity(millis: i64) -> Quantity {
    if millis == 0 {
        return Quantity("0".to_string());
    }
    let mut value = millis;
    let mut exponent = -3;
    while exponent < 18 && value % 1000 == 0 {
        value /= 1000;
        exponent += 3;
    }
    let suffix = match exponent {
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    Quantity(format!("{value}{suffix}"))
}

pub(super) fn ceil_i32(x: f64) -> i32 {
    // Float-to-int casts saturate (and map NaN to 0).
    x.ceil() as i32
}

pub(super) fn clamp_i32(x: i128) -> i32 {
    i32::try_from(x.clamp(i128::from(i32::MIN), i128::from(i32::MAX))).unwrap_or_default()
}

pub(super) fn clamp_i64(x: i128) -> i64 {
    i64::try_from(x.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or_default()
}

pub(super) fn non_zero(x: i32) -> Option<i32> {
    (x != 0).then_some(x)
}

pub(super) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

pub(super) fn seconds_before(now: Timestamp, seconds: i64) -> Timestamp {
    now.checked_sub(SignedDuration::from_secs(seconds))
        .unwrap_or(Timestamp::MIN)
}
