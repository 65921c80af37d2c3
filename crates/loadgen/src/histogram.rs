//! Latency histogram: log-linear bins over microseconds, stored sparsely.
//!
//! Why not a sorted sample: percentiles are needed for any sub-window of a run
//! ([`crate::Report::between`]), so every 100 ms bucket carries its own histogram, and merging
//! histograms is cheap and exact where merging samples is neither. Exact below 128 µs, within
//! 0.8 % above, which is far finer than latency gates are written.

use std::time::Duration;

/// Values below this are binned one microsecond each.
const LINEAR: u64 = 128;
/// Each power of two above [`LINEAR`] is split into 2^SUB_BITS bins.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Histogram {
    /// (bin, count), sorted by bin; only bins that were hit.
    bins: Vec<(u16, u32)>,
    count: u64,
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let bin = bin_of(micros(latency));
        match self.bins.binary_search_by_key(&bin, |&(b, _)| b) {
            Ok(i) => self.bins[i].1 = self.bins[i].1.saturating_add(1),
            Err(i) => self.bins.insert(i, (bin, 1)),
        }
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.bins.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.bins.len() + other.bins.len());
        let (mut a, mut b) = (self.bins.iter().peekable(), other.bins.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&(x, n)), Some(&&(y, m))) if x == y => {
                    a.next();
                    b.next();
                    (x, n.saturating_add(m))
                }
                (Some(&&(x, n)), Some(&&(y, _))) if x < y => {
                    a.next();
                    (x, n)
                }
                (_, Some(&&(y, m))) => {
                    b.next();
                    (y, m)
                }
                (Some(&&(x, n)), None) => {
                    a.next();
                    (x, n)
                }
                (None, None) => break,
            };
            merged.push(next);
        }
        self.bins = merged;
        self.count += other.count;
    }

    /// The `q` quantile (nearest rank), zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for &(bin, n) in &self.bins {
            seen += u64::from(n);
            if seen >= rank {
                return Duration::from_micros(value_of(bin));
            }
        }
        // Counts saturated (more than u32::MAX in one bin of one bucket): the top bin.
        self.bins.last().map_or(Duration::ZERO, |&(bin, _)| {
            Duration::from_micros(value_of(bin))
        })
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn bin_of(us: u64) -> u16 {
    if us < LINEAR {
        return us as u16;
    }
    let top = 63 - us.leading_zeros(); // ≥ 7
    let shift = top - SUB_BITS; // ≥ 1
    let mantissa = (us >> shift) - SUB; // 0..SUB
    // At most 128 + 56 × 64 + 63 = 3775.
    (LINEAR + u64::from(shift - 1) * SUB + mantissa) as u16
}

/// Middle of the bin's range.
fn value_of(bin: u16) -> u64 {
    let bin = u64::from(bin);
    if bin < LINEAR {
        return bin;
    }
    let k = bin - LINEAR;
    let shift = k / SUB + 1;
    let low = (k % SUB + SUB) << shift;
    low + ((1u64 << shift) - 1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_contiguous_and_accurate() {
        let mut previous = 0;
        for us in (0..200_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let bin = bin_of(us);
            assert!(
                bin == previous || bin == previous + 1 || us > 200_000,
                "{us}"
            );
            previous = bin;
            let back = value_of(bin);
            let error = back.abs_diff(us) as f64 / us.max(1) as f64;
            assert!(error <= 0.008, "{us} -> {back}");
        }
    }

    #[test]
    fn quantiles_and_merge() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for ms in 1..=50 {
            a.record(Duration::from_millis(ms));
        }
        for ms in 51..=100 {
            b.record(Duration::from_millis(ms));
        }
        a.merge(&b);
        let near = |d: Duration, ms: f64| (d.as_secs_f64() * 1000.0 - ms).abs() <= ms * 0.01;
        assert!(near(a.quantile(0.5), 50.0), "{:?}", a.quantile(0.5));
        assert!(near(a.quantile(0.95), 95.0), "{:?}", a.quantile(0.95));
        assert!(near(a.quantile(0.99), 99.0), "{:?}", a.quantile(0.99));
        assert!(near(a.quantile(1.0), 100.0));
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
    }
}
