//! Observers: where a router's per-version request metrics come from, and how to read them.
//!
//! Each router names its observer ([`crate::traffic::Router::observer`]); an observer knows the
//! series its data path exports and how a version's requests are told apart in them, both in
//! a scraped exposition ([`Observer::counters`]) and in PromQL ([`Observer::queries`]).

mod contour;
mod ingress_nginx;

pub use contour::Contour;
pub use ingress_nginx::IngressNginx;

use super::Counters;
use super::exposition::Sample;

/// The PromQL of one Service's counters over a time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queries {
    /// Requests served (a scalar or one-sample vector).
    pub requests: String,
    /// Requests answered 5xx.
    pub errors: String,
    /// The duration histogram, `sum by (le)`.
    pub buckets: String,
    /// Whether the buckets' `le` is in milliseconds (Envoy's) rather than seconds: PromQL
    /// cannot rescale a label, so whoever reads the answer does.
    pub le_in_milliseconds: bool,
}

/// Where the data path's controller runs, as it is installed on real clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controller {
    pub namespace: &'static str,
    /// Labels of its pods, as a selector.
    pub selector: &'static str,
    /// The container port that serves metrics: the one of this name, else this number.
    pub port_name: &'static str,
    pub port: u16,
    pub path: &'static str,
}

pub trait Observer: Send + Sync + 'static {
    /// Whose series these are (`ingress-nginx`).
    fn name(&self) -> &'static str;

    /// Where its controller runs, so that its metrics are found with no flags.
    fn controller(&self) -> Controller;

    /// Whether a scrape needs the samples of metric `name`.
    fn reads(&self, name: &str) -> bool;

    /// The counters of the requests Service `service` in `namespace` served, from the
    /// samples of one exposition (`None` when no series names it).
    fn counters(&self, samples: &[Sample], namespace: &str, service: &str) -> Option<Counters>;

    /// The same counters as `increase` over the last `range_secs` seconds, in PromQL.
    fn queries(&self, namespace: &str, service: &str, range_secs: u64) -> Queries;
}

/// Escapes a text for a double-quoted PromQL string.
pub(crate) fn promql_string(s: &str) -> String {
    s.replace('\\', r"\\").replace('"', "\\\"")
}

/// Escapes a text so that a regular expression matches it literally.
pub(crate) fn regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
