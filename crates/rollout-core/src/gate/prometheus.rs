//! The Prometheus check: one PromQL instant query whose value must meet a condition.
//!
//! A query that returns nothing (no series matched, or `NaN` as a ratio over no requests
//! gives) is inconclusive rather than a pass or a failure: usually the traffic has not reached
//! the new version yet, and deciding on an absent number would be deciding on nothing.

use futures::future::BoxFuture;

use super::{Context, Gate, GateError, Measurement, Outcome, format};
use crate::metrics::prometheus::query;
use crate::spec::{Check, PrometheusCheck};

/// The Prometheus check as a gate.
pub struct PrometheusGate {
    check: Check,
    query: PrometheusCheck,
}

impl PrometheusGate {
    pub fn new(check: Check, query: PrometheusCheck) -> Self {
        PrometheusGate { check, query }
    }
}

impl Gate for PrometheusGate {
    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            let name = &self.check.name;
            let address = self.query.address.as_deref().or(cx.prometheus());
            let Some(address) = address else {
                return Measurement::error(name, GateError::NoPrometheus);
            };
            let vars = cx.vars(&self.check);
            measure(name, &self.query, address, &vars, cx.http(true)).await
        })
    }
}

/// Values for a query's placeholders (see [`crate::spec::PROMETHEUS_PLACEHOLDERS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    pub namespace: String,
    pub app: String,
    pub service: String,
    /// Name of the new version's Service (or workload).
    pub new: String,
    pub stable: String,
    /// A PromQL duration such as `30s`: the check's interval, for `rate(...[{{interval}}])`.
    pub interval: String,
}

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "namespace" => &self.namespace,
            "app" => &self.app,
            "service" => &self.service,
            "new" => &self.new,
            "stable" => &self.stable,
            "interval" => &self.interval,
            _ => return None,
        })
    }
}

/// `query` with `{{namespace}}`, `{{app}}`, `{{service}}`, `{{new}}`, `{{stable}}` and
/// `{{interval}}` replaced (spaces inside the braces allowed, as the strategy validator
/// allows them). Anything else in double braces is left as written; the validator has
/// rejected unknown placeholders already.
pub fn render(query: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        match vars.get(after[..end].trim()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// One measurement of a Prometheus check against the server at `address`.
pub async fn measure(
    name: &str,
    check: &PrometheusCheck,
    address: &str,
    vars: &Vars,
    http: &reqwest::Client,
) -> Measurement {
    let promql = render(&check.query, vars);
    match query(http, address, &promql).await {
        Err(e) => Measurement::error(name, crate::error::chain(&e)),
        Ok(None) => Measurement::new(name, Outcome::Inconclusive, "query returned no data"),
        Ok(Some(value)) => {
            let shown = format::value(value);
            let (outcome, summary) = if check.condition.holds_f64(value) {
                (
                    Outcome::Pass,
                    format!("value {shown} ({})", check.condition),
                )
            } else {
                (
                    Outcome::Fail,
                    format!("value {shown} (needs {})", check.condition),
                )
            };
            Measurement::new(name, outcome, summary).figure("value", value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            namespace: "shop".into(),
            app: "web".into(),
            service: "web".into(),
            new: "web-canary".into(),
            stable: "web-stable".into(),
            interval: "30s".into(),
        }
    }

    #[test]
    fn render_substitutes_placeholders() {
        let q = r#"sum(rate(x{namespace="{{namespace}}",service="{{ new }}"}[{{interval}}])) / sum(rate(x{service="{{stable}}",app="{{app}}",svc="{{service}}"}[1m]))"#;
        assert_eq!(
            render(q, &vars()),
            r#"sum(rate(x{namespace="shop",service="web-canary"}[30s])) / sum(rate(x{service="web-stable",app="web",svc="web"}[1m]))"#
        );
        assert_eq!(render("a {{other}} b {{", &vars()), "a {{other}} b {{");
        assert_eq!(render("no placeholders", &vars()), "no placeholders");
    }
}
