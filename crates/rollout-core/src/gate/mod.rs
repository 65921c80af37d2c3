//! Gates: the checks that decide whether a rollout step may go on — pod probes, HTTP checks,
//! Prometheus queries, the comparison of the new version with the stable one — and the
//! statistics they share.
//!
//! Every check produces [`Measurement`]s; a [`tally::Tally`] turns a check's measurements into
//! its verdict with the check's failure and consecutive-error limits.

pub mod compare;
mod format;
pub mod http;
pub mod metrics;
pub mod probe;
pub mod prometheus;
pub mod sequential;
pub mod simulate;
pub mod stats;
pub mod tally;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// The result of one measurement of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Name of the check in the strategy file.
    pub check: String,
    pub outcome: Outcome,
    /// One line with the figures and what they were held against, e.g.
    /// `50/50 ok, success 100% (>= 99%), p95 12ms (< 300ms)`.
    pub summary: String,
    /// The measured figures by name (`requests`, `success_rate`, `p95_ms`, `value`, ...).
    pub figures: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The figures meet the check's conditions.
    Pass,
    /// The figures break a condition.
    Fail,
    /// Measured, but too little data to decide (a comparison with too few requests).
    Inconclusive,
    /// Could not measure (connection refused, query error, ...).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Measurement {
    pub fn new(check: impl Into<String>, outcome: Outcome, summary: impl Into<String>) -> Self {
        Measurement {
            check: check.into(),
            outcome,
            summary: summary.into(),
            figures: BTreeMap::new(),
        }
    }

    /// A measurement that could not be taken.
    pub fn error(check: impl Into<String>, why: impl fmt::Display) -> Self {
        Measurement::new(check, Outcome::Error, why.to_string())
    }

    pub fn figure(mut self, name: &str, value: f64) -> Self {
        self.figures.insert(name.to_owned(), value);
        self
    }
}
