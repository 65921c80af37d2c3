//! The request counters of one Service: requests, 5xx answers and the request-duration
//! histogram, as an ingress controller or a gateway counts them.

/// Counters of the requests one Service served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub requests: u64,
    /// Requests answered with a 5xx status.
    pub errors: u64,
    /// The request duration histogram summed over label sets: (upper bound `le` in seconds,
    /// cumulative count), ascending by `le`; the last bound is `+Inf` when exported.
    pub buckets: Vec<(f64, u64)>,
}

impl Counters {
    /// Adds `other`'s counts to these, bucket by bucket.
    pub fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.errors += other.errors;
        for &(le, count) in &other.buckets {
            self.add_bucket(le, count);
        }
    }

    /// Adds `count` to the cumulative bucket `le` (made when absent).
    pub fn add_bucket(&mut self, le: f64, count: u64) {
        match self.buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => {
                let at = self.buckets.partition_point(|(b, _)| *b < le);
                self.buckets.insert(at, (le, count));
            }
        }
    }

    /// The cumulative count of bucket `le` (0 when absent).
    pub fn bucket(&self, le: f64) -> u64 {
        self.buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0, |(_, n)| *n)
    }

    /// Whether these counters went down since `before`: the source restarted in between and
    /// its counters began again at zero.
    pub fn reset_since(&self, before: &Counters) -> bool {
        self.requests < before.requests
            || self.errors < before.errors
            || before.buckets.iter().any(|&(le, n)| self.bucket(le) < n)
    }

    /// The increase from `before` (`None`: from zero) to these counters, the histogram kept as
    /// cumulative `(le, count)` pairs. When a counter went down the source restarted in between
    /// (its counters began again at zero), so these are taken whole; the counters of one
    /// Service reset together, hence one decision for all of them.
    pub fn since(&self, before: Option<&Counters>) -> Counters {
        let empty = Counters::default();
        let before = match before {
            Some(b) if !self.reset_since(b) => b,
            _ => &empty,
        };
        let requests = self.requests - before.requests;
        Counters {
            requests,
            errors: (self.errors - before.errors).min(requests),
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| (le, n.saturating_sub(before.bucket(le))))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(requests: u64, errors: u64, buckets: &[(f64, u64)]) -> Counters {
        Counters {
            requests,
            errors,
            buckets: buckets.to_vec(),
        }
    }

    #[test]
    fn increases_and_a_restart_counts_from_zero() {
        let inf = f64::INFINITY;
        let before = counters(100, 10, &[(0.005, 60), (inf, 100)]);
        let after = counters(110, 12, &[(0.005, 63), (inf, 110)]);
        assert_eq!(
            after.since(Some(&before)),
            counters(10, 2, &[(0.005, 3), (inf, 10)])
        );
        let restarted = counters(5, 1, &[(0.005, 2), (inf, 5)]);
        assert_eq!(restarted.since(Some(&before)), restarted);
        assert_eq!(after.since(None), after);
    }
}
