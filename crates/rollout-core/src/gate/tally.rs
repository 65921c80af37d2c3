//! A check's verdict from its measurements: it fails when more measurements than
//! `failure_limit` have failed, or more than `consecutive_error_limit` in a row could not be
//! taken. Inconclusive measurements neither pass nor fail.

use super::{Measurement, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not failed so far.
    Running,
    Failed,
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    failure_limit: u32,
    consecutive_error_limit: u32,
    pub measurements: u32,
    pub passed: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub errors_in_a_row: u32,
    /// Summary of the measurement that decided a failure.
    pub reason: Option<String>,
}

impl Tally {
    pub fn new(failure_limit: u32, consecutive_error_limit: u32) -> Self {
        Tally {
            failure_limit,
            consecutive_error_limit,
            ..Default::default()
        }
    }

    pub fn record(&mut self, m: &Measurement) -> Standing {
        self.measurements += 1;
        match m.outcome {
            Outcome::Pass => {
                self.passed += 1;
                self.errors_in_a_row = 0;
            }
            Outcome::Inconclusive => {
                self.inconclusive += 1;
                self.errors_in_a_row = 0;
            }
            Outcome::Fail => {
                self.failed += 1;
                self.errors_in_a_row = 0;
                if self.failed > self.failure_limit {
                    self.reason = Some(format!(
                        "check {:?} failed {} time(s) (limit {}): {}",
                        m.check, self.failed, self.failure_limit, m.summary
                    ));
                }
            }
            Outcome::Error => {
                self.errors_in_a_row += 1;
                if self.errors_in_a_row > self.consecutive_error_limit {
                    self.reason = Some(format!(
                        "check {:?} could not measure {} time(s) in a row (limit {}): {}",
                        m.check, self.errors_in_a_row, self.consecutive_error_limit, m.summary
                    ));
                }
            }
        }
        self.verdict()
    }

    /// Every measurement so far was an error: the check has shown nothing either way.
    pub fn nothing_measured(&self) -> bool {
        self.measurements > 0 && self.passed + self.failed + self.inconclusive == 0
    }

    pub fn verdict(&self) -> Standing {
        if self.reason.is_some() {
            Standing::Failed
        } else {
            Standing::Running
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(o: Outcome) -> Measurement {
        Measurement::new("smoke", o, "x")
    }

    #[test]
    fn failure_limit_counts_failures_not_in_a_row() {
        let mut t = Tally::new(1, 0);
        assert_eq!(t.record(&m(Outcome::Fail)), Standing::Running);
        assert_eq!(t.record(&m(Outcome::Pass)), Standing::Running);
        assert_eq!(t.record(&m(Outcome::Fail)), Standing::Failed);
        assert!(
            t.reason
                .as_deref()
                .is_some_and(|r| r.contains("failed 2 time"))
        );
    }

    #[test]
    fn errors_must_be_consecutive_and_inconclusive_never_fails() {
        let mut t = Tally::new(0, 2);
        for o in [
            Outcome::Error,
            Outcome::Error,
            Outcome::Pass,
            Outcome::Error,
        ] {
            assert_eq!(t.record(&m(o)), Standing::Running);
        }
        for _ in 0..10 {
            assert_eq!(t.record(&m(Outcome::Inconclusive)), Standing::Running);
        }
        t.record(&m(Outcome::Error));
        t.record(&m(Outcome::Error));
        assert_eq!(t.record(&m(Outcome::Error)), Standing::Failed);
    }

    #[test]
    fn errors_alone_have_measured_nothing() {
        let mut t = Tally::new(0, 5);
        assert!(!t.nothing_measured());
        t.record(&m(Outcome::Error));
        t.record(&m(Outcome::Error));
        assert_eq!(t.verdict(), Standing::Running);
        assert!(t.nothing_measured());
        t.record(&m(Outcome::Inconclusive));
        assert!(!t.nothing_measured());
    }
}
