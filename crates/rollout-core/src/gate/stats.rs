//! Small statistical functions the gates and their simulations share: the standard normal
//! distribution, and the quantile of a sample.
//!
//! The comparison of two versions is [`super::sequential`]; `erfc` comes from the `statrs`
//! crate, used with `default-features = false, features = ["std"]` so it pulls in no
//! linear-algebra or random-number crates (good to about 1e-10 relative, measured against
//! mpmath).

use statrs::function::erf::erfc;

/// Standard normal cumulative distribution function Φ(z).
///
/// Computed as `erfc(-z/√2) / 2`, which keeps full relative precision in the lower tail (a
/// plain `1 - Φ(-z)` would round tiny p-values to 0).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal survival function 1 − Φ(z), precise in the upper tail.
pub fn normal_sf(z: f64) -> f64 {
    normal_cdf(-z)
}

/// The `q`-quantile of already sorted data, interpolating linearly between the two closest
/// ranks exactly like numpy's default (`method="linear"`): position `q * (n - 1)`.
///
/// `q` is a fraction in [0, 1] (0.99 for p99, not 99). Returns `None` for empty data or a `q`
/// outside [0, 1] (including NaN). The data must be sorted ascending; that is not checked.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let t = pos - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    if t == 0.0 || a == b {
        return Some(a);
    }
    // numpy's _lerp: interpolate from the nearer end so the result is monotone in q and exact
    // at the ends.
    let diff = b - a;
    Some(if t < 0.5 {
        a + diff * t
    } else {
        b - diff * (1.0 - t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn normal_cdf_known_values() {
        close(normal_cdf(0.0), 0.5, 1e-15);
        // statrs's erfc is good to about 1e-10 relative (measured against mpmath over
        // [-6, 6]): far finer than any p-value a gate compares with alpha.
        close(normal_cdf(1.96), 0.975_002_104_851_779_6, 1e-10);
        close(normal_cdf(-1.0), 0.158_655_253_931_457_05, 1e-10);
        close(normal_cdf(3.5), 0.999_767_370_920_964_5, 1e-10);
        close(normal_cdf(1.0) + normal_cdf(-1.0), 1.0, 1e-15);
        // Lower tail keeps relative precision.
        let tail = normal_cdf(-8.0);
        close(tail / 6.220_960_574_271_784e-16, 1.0, 1e-9);
        close(normal_sf(8.0) / 6.220_960_574_271_784e-16, 1.0, 1e-9);
        assert!(normal_cdf(f64::NAN).is_nan());
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
    }
    #[test]
    fn percentile_matches_numpy_linear() {
        let data = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&data, 0.0), Some(1.0));
        assert_eq!(percentile(&data, 1.0), Some(4.0));
        assert_eq!(percentile(&data, 0.5), Some(2.5));
        // numpy.percentile([1, 2, 3, 4], 90) == 3.7
        close(percentile(&data, 0.9).unwrap(), 3.7, 1e-12);
        close(percentile(&data, 0.25).unwrap(), 1.75, 1e-12);
        let odd = [10.0, 20.0, 30.0, 40.0, 50.0];
        assert_eq!(percentile(&odd, 0.5), Some(30.0));
        close(percentile(&odd, 0.99).unwrap(), 49.6, 1e-12);
    }
    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[7.0], 1.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], -0.1), None);
        assert_eq!(percentile(&[1.0, 2.0], 1.1), None);
        assert_eq!(percentile(&[1.0, 2.0], 99.0), None);
        assert_eq!(percentile(&[1.0, 2.0], f64::NAN), None);
        // Equal neighbours, including infinite ones, never interpolate into NaN.
        assert_eq!(percentile(&[1.0, 5.0, 5.0, 9.0], 0.5), Some(5.0));
        let inf = [1.0, f64::INFINITY, f64::INFINITY];
        assert_eq!(percentile(&inf, 0.75), Some(f64::INFINITY));
    }
}
