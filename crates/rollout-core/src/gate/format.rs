//! Number formatting shared by the gates' one-line summaries, so that every gate writes
//! percentages, latencies and values the same way.

/// A percentage given in percent points: `100%`, `99.5%`, `0.05%`.
///
/// One decimal from 1% up; below that two significant digits, because a small error rate
/// rounded to `0%` or `0.1%` would hide the difference a gate is judging.
pub(crate) fn percent(points: f64) -> String {
    if !points.is_finite() {
        return format!("{points}%");
    }
    if points == 0.0 {
        return "0%".to_owned();
    }
    let decimals = if points.abs() >= 1.0 {
        1
    } else {
        // Two significant digits: 0.05 → 2 decimals, 0.0012 → 4.
        (1 - points.abs().log10().floor() as i32).clamp(1, 6) as usize
    };
    format!("{}%", trim_zeros(&format!("{points:.decimals$}")))
}

/// A latency given in seconds, in milliseconds: `12ms`, `14.5ms`, `0.25ms`, `1250ms`.
///
/// Milliseconds throughout (rather than switching to seconds) keep figures in one summary
/// comparable at a glance; below 100ms a decimal is kept since fast apps live there.
pub(crate) fn millis(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if !ms.is_finite() {
        return format!("{ms}ms");
    }
    let text = if ms.abs() >= 100.0 {
        format!("{ms:.0}")
    } else if ms.abs() >= 1.0 {
        trim_zeros(&format!("{ms:.1}"))
    } else {
        trim_zeros(&format!("{ms:.2}"))
    };
    format!("{text}ms")
}

/// A plain value (a Prometheus query result) with about four significant digits: `0.0123`,
/// `42`, `1234.5`, `1.5e-7`.
pub(crate) fn value(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_owned()
        } else if x > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..=9).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}"))
}

/// Drops trailing zeros after a decimal point, and the point itself when nothing follows.
fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(99.5), "99.5%");
        assert_eq!(percent(80.0), "80%");
        assert_eq!(percent(200.0 / 3.0), "66.7%");
        assert_eq!(percent(0.2), "0.2%");
        assert_eq!(percent(0.05), "0.05%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn latencies() {
        assert_eq!(millis(0.012), "12ms");
        assert_eq!(millis(0.0034), "3.4ms");
        assert_eq!(millis(0.0145), "14.5ms");
        assert_eq!(millis(0.00025), "0.25ms");
        assert_eq!(millis(1.25), "1250ms");
        assert_eq!(millis(0.005), "5ms");
    }

    #[test]
    fn values() {
        assert_eq!(value(42.0), "42");
        assert_eq!(value(0.0123), "0.0123");
        assert_eq!(value(1234.56), "1235");
        assert_eq!(value(3.333_333), "3.333");
        assert_eq!(value(1.5e-7), "1.500e-7");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(0.0), "0");
    }
}
