//! ingress-nginx's request metrics: the `nginx_ingress_controller_requests` counter and the
//! `nginx_ingress_controller_request_duration_seconds` histogram, both labelled with
//! `namespace`, `service`, `status` and `canary`.
//!
//! Attribution follows ingress-nginx's labelling: a request the *canary* Ingress served still
//! carries the main Ingress's `service` label, and its `canary` label names the canary
//! upstream (`<namespace>-<service>-<port>`). So a Service served the series with an empty
//! `canary` label that name it, plus those whose `canary` label is one of its upstreams.

use super::{Controller, Observer, Queries, promql_string, regex_literal};
use crate::metrics::Counters;
use crate::metrics::exposition::{Sample, parse_float, to_count};

/// Name of the request counter.
pub const REQUESTS: &str = "nginx_ingress_controller_requests";
/// The buckets of the request duration histogram.
pub const BUCKETS: &str = "nginx_ingress_controller_request_duration_seconds_bucket";

pub struct IngressNginx;

/// Whether a canary upstream `<namespace>-<service>-<port>` is one of `service`'s. Names may
/// contain `-`, so the port part is taken to be a number or a port name without `-` (`80`,
/// `http`), which keeps `web` from claiming the upstream of a Service named `web-canary`.
fn is_upstream_of(upstream: &str, namespace: &str, service: &str) -> bool {
    upstream
        .strip_prefix(&format!("{namespace}-{service}-"))
        .is_some_and(|port| !port.is_empty() && !port.contains('-'))
}

impl Observer for IngressNginx {
    fn name(&self) -> &'static str {
        "ingress-nginx"
    }

    /// The official manifests and Helm chart: pods labelled as the controller in namespace
    /// `ingress-nginx`, Prometheus metrics on port 10254.
    fn controller(&self) -> Controller {
        Controller {
            namespace: "ingress-nginx",
            selector: "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller",
            port_name: "metrics",
            port: 10254,
            path: "/metrics",
        }
    }

    fn reads(&self, name: &str) -> bool {
        name == REQUESTS || name == BUCKETS
    }

    fn counters(&self, samples: &[Sample], namespace: &str, service: &str) -> Option<Counters> {
        let mut total: Option<Counters> = None;
        for s in samples {
            if s.label("namespace") != namespace {
                continue;
            }
            let canary = s.label("canary");
            let served = if canary.is_empty() {
                s.label("service") == service
            } else {
                is_upstream_of(canary, namespace, service)
            };
            if !served {
                continue;
            }
            let Some(count) = to_count(s.value) else {
                continue;
            };
            let c = total.get_or_insert_with(Counters::default);
            if s.name == REQUESTS {
                c.requests += count;
                if s.label("status").starts_with('5') {
                    c.errors += count;
                }
            } else if let Some(le) = parse_float(s.label("le")).filter(|le| !le.is_nan()) {
                c.add_bucket(le, count);
            }
        }
        total
    }

    /// `increase(metric{...}[Ns])` of the requests `service` served: its own series (empty
    /// `canary` label) or those of a canary upstream `<namespace>-<service>-<port>`; `or`
    /// unites the two (their label sets differ in `canary`).
    fn queries(&self, namespace: &str, service: &str, range_secs: u64) -> Queries {
        let served = |metric: &str, extra: &str| {
            let ns = promql_string(namespace);
            let own = promql_string(service);
            let upstream = promql_string(&format!(
                "{}-{}-[^-]+",
                regex_literal(namespace),
                regex_literal(service)
            ));
            format!(
                r#"increase({metric}{{namespace="{ns}",service="{own}",canary=""{extra}}}[{range_secs}s]) or increase({metric}{{namespace="{ns}",canary=~"{upstream}"{extra}}}[{range_secs}s])"#
            )
        };
        Queries {
            requests: format!("sum({})", served(REQUESTS, "")),
            errors: format!("sum({})", served(REQUESTS, r#",status=~"5..""#)),
            buckets: format!("sum by (le) ({})", served(BUCKETS, "")),
            le_in_milliseconds: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::parse;

    /// Shaped like the embedded ingress's (and ingress-nginx's) exposition, with a second
    /// label set, a canary series, an escaped label value and metrics that are not read.
    const TEXT: &str = r#"# HELP nginx_ingress_controller_requests The total number of client requests
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{canary="",controller_class="k8s.io/ingress-nginx",host="shop.local",ingress="shop",method="GET",namespace="apps",path="/a\"b\\c\nd",service="web",status="200"} 90
nginx_ingress_controller_requests{canary="",host="shop.local",ingress="shop",method="POST",namespace="apps",path="/",service="web",status="503"} 10
nginx_ingress_controller_requests{canary="apps-web-canary-80",host="shop.local",ingress="shop",method="GET",namespace="apps",path="/",service="web",status="500"} 4
nginx_ingress_controller_requests{canary="apps-web-canary-80",host="shop.local",ingress="shop",method="GET",namespace="apps",path="/",service="web",status="200"} 16
nginx_ingress_controller_requests{canary="",namespace="other",service="web",status="200"} 1e+03
# TYPE nginx_ingress_controller_request_duration_seconds histogram
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="200",le="0.005"} 50
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="200",le="0.01"} 80
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="200",le="+Inf"} 90
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="503",le="0.005"} 10
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="503",le="0.01"} 10
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="503",le="+Inf"} 10
nginx_ingress_controller_request_duration_seconds_sum{canary="",namespace="apps",service="web",status="200"} 0.9
nginx_ingress_controller_request_duration_seconds_count{canary="",namespace="apps",service="web",status="200"} 90
nginx_ingress_controller_request_duration_seconds_bucket{canary="apps-web-canary-80",namespace="apps",service="web",status="200",le="0.005"} 20 1700000000000
nginx_ingress_controller_request_duration_seconds_bucket{canary="apps-web-canary-80",namespace="apps",service="web",status="200",le="+Inf"} 20
nginx_ingress_controller_response_size_bucket{weird="not read here",le="10"} x
process_cpu_seconds_total 12.5
"#;

    fn counters(namespace: &str, service: &str) -> Option<Counters> {
        let samples = parse(TEXT, |n| IngressNginx.reads(n)).expect("parses");
        IngressNginx.counters(&samples, namespace, service)
    }

    #[test]
    fn counters_and_histograms_per_service() {
        let web = counters("apps", "web").expect("web");
        assert_eq!((web.requests, web.errors), (100, 10));
        assert_eq!(
            web.buckets,
            vec![(0.005, 60), (0.01, 90), (f64::INFINITY, 100)]
        );
        assert_eq!(counters("other", "web").map(|c| c.requests), Some(1000));
    }

    #[test]
    fn canary_upstreams_are_attributed_to_their_service() {
        let canary = counters("apps", "web-canary").expect("canary");
        assert_eq!((canary.requests, canary.errors), (20, 4));
        assert_eq!(canary.buckets, vec![(0.005, 20), (f64::INFINITY, 20)]);
        assert_eq!(counters("apps", "nothing"), None);
        assert_eq!(counters("other", "web-canary"), None);
    }

    #[test]
    fn queries_unite_own_and_upstream_series() {
        let q = IngressNginx.queries("shop", "web.v2", 30);
        assert_eq!(
            q.requests,
            r#"sum(increase(nginx_ingress_controller_requests{namespace="shop",service="web.v2",canary=""}[30s]) or increase(nginx_ingress_controller_requests{namespace="shop",canary=~"shop-web\\.v2-[^-]+"}[30s]))"#
        );
        assert!(q.errors.contains(r#"status=~"5..""#));
        assert!(q.buckets.starts_with(
            "sum by (le) (increase(nginx_ingress_controller_request_duration_seconds_bucket{"
        ));
        assert_eq!(promql_string(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
