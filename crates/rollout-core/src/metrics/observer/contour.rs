//! Contour's Envoy: the observer of the Gateway API router.
//!
//! Which implementation, and why: the Gateway API names no metrics of its own, so per-version
//! request counts come from whichever data path serves the HTTPRoutes. Envoy-based
//! implementations are the common ones, and among them Contour keeps one Envoy cluster per
//! backend Service port and gives it a stable statistics name, `<namespace>_<service>_<port>`
//! (its `alt_stat_name`), which Envoy's Prometheus output puts in the `envoy_cluster_name`
//! label. That name is all a rollout needs to tell the stable Service's requests from the new
//! version's, because the router sends each version to a Service of its own. (Other Envoy
//! gateways name clusters after routes or hashes, so their series would need the route to be
//! read as well.) Contour's example installation runs Envoy in namespace `projectcontour`,
//! labelled `app=envoy`, with the statistics on port `metrics` (8002) at `/stats/prometheus`;
//! the embedded cluster's ingress shows itself the same way.
//!
//! Series read, each labelled `envoy_cluster_name`:
//! * `envoy_cluster_upstream_rq_xx` with `envoy_response_code_class` `1`…`5`: the requests
//!   answered, by class; their sum is the requests, class `5` the errors. (Not
//!   `envoy_cluster_upstream_rq_total`: Envoy counts there only requests that reached an
//!   upstream, while a 503 for want of a healthy one is still charged to the cluster's
//!   classes — so counting both from one series keeps errors within requests.)
//! * `envoy_cluster_upstream_rq_time_bucket`: the request time histogram in milliseconds,
//!   read in seconds.
//!
//! A mirrored (shadow) request counts on the mirror's cluster, as Envoy counts shadowed
//! requests; the answers a client got are the primary's.

use super::{Controller, Observer, Queries, promql_string, regex_literal};
use crate::metrics::Counters;
use crate::metrics::exposition::{Sample, parse_float, to_count};

/// Responses by status class.
pub const RESPONSES: &str = "envoy_cluster_upstream_rq_xx";
/// The buckets of the request time histogram (milliseconds).
pub const BUCKETS: &str = "envoy_cluster_upstream_rq_time_bucket";
/// The label naming the cluster.
pub const CLUSTER: &str = "envoy_cluster_name";

pub struct Contour;

/// Whether cluster `name` is `<namespace>_<service>_<port>` of this Service. Neither
/// namespaces nor Service names may hold `_`, so the split is unambiguous.
fn is_cluster_of(name: &str, namespace: &str, service: &str) -> bool {
    let mut parts = name.split('_');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(ns), Some(svc), Some(port), None)
            if ns == namespace && svc == service && !port.is_empty()
    )
}

impl Observer for Contour {
    fn name(&self) -> &'static str {
        "contour"
    }

    /// Contour's example deployment: the Envoy DaemonSet's pods in `projectcontour`,
    /// labelled `app=envoy`, statistics on port `metrics` (8002).
    fn controller(&self) -> Controller {
        Controller {
            namespace: "projectcontour",
            selector: "app=envoy",
            port_name: "metrics",
            port: 8002,
            path: "/stats/prometheus",
        }
    }

    fn reads(&self, name: &str) -> bool {
        name == RESPONSES || name == BUCKETS
    }

    fn counters(&self, samples: &[Sample], namespace: &str, service: &str) -> Option<Counters> {
        let mut total: Option<Counters> = None;
        for s in samples {
            if !is_cluster_of(s.label(CLUSTER), namespace, service) {
                continue;
            }
            let Some(count) = to_count(s.value) else {
                continue;
            };
            if s.name == RESPONSES {
                let c = total.get_or_insert_with(Counters::default);
                c.requests += count;
                if s.label("envoy_response_code_class") == "5" {
                    c.errors += count;
                }
            } else if s.name == BUCKETS
                && let Some(le) = parse_float(s.label("le")).filter(|le| !le.is_nan())
            {
                // Milliseconds to seconds; +Inf stays +Inf.
                total
                    .get_or_insert_with(Counters::default)
                    .add_bucket(le / 1000.0, count);
            }
        }
        total
    }

    /// `increase(metric{envoy_cluster_name=~"<ns>_<service>_<port>"}[Ns])`, any port; the
    /// buckets' `le` stays in milliseconds in PromQL (a label cannot be divided), and
    /// [`Queries::le_in_milliseconds`] says so.
    fn queries(&self, namespace: &str, service: &str, range_secs: u64) -> Queries {
        let cluster = promql_string(&format!(
            "{}_{}_[^_]+",
            regex_literal(namespace),
            regex_literal(service)
        ));
        let served = |metric: &str, extra: &str| {
            format!(r#"increase({metric}{{{CLUSTER}=~"{cluster}"{extra}}}[{range_secs}s])"#)
        };
        Queries {
            requests: format!("sum({})", served(RESPONSES, "")),
            errors: format!(
                "sum({})",
                served(RESPONSES, r#",envoy_response_code_class="5""#)
            ),
            buckets: format!("sum by (le) ({})", served(BUCKETS, "")),
            le_in_milliseconds: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::parse;

    /// Shaped like Envoy's `/stats/prometheus` (and the embedded ingress's): a second
    /// cluster whose name starts like ours, another namespace, series that are not read.
    const TEXT: &str = r#"# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="apps_web_80"} 95
envoy_cluster_upstream_rq_total{envoy_cluster_name="apps_web-canary_80"} 20
# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="apps_web_80"} 90
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="apps_web_80"} 10
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="apps_web-canary_80"} 16
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="apps_web-canary_80"} 4
envoy_cluster_upstream_rq_xx{envoy_response_code_class="4",envoy_cluster_name="apps_web-canary_8080"} 5
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="other_web_80"} 1000
# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="apps_web_80",le="0.5"} 0
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="apps_web_80",le="5"} 60
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="apps_web_80",le="250"} 90
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="apps_web_80",le="+Inf"} 95
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="apps_web_80"} 900
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="apps_web_80"} 95
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="apps_web-canary_80",le="+Inf"} 20
envoy_cluster_manager_cds_update_success 3
"#;

    fn counters(namespace: &str, service: &str) -> Option<Counters> {
        let samples = parse(TEXT, |n| Contour.reads(n)).expect("parses");
        Contour.counters(&samples, namespace, service)
    }

    #[test]
    fn responses_by_class_per_service_cluster() {
        let web = counters("apps", "web").expect("web");
        assert_eq!((web.requests, web.errors), (100, 10));
        let canary = counters("apps", "web-canary").expect("canary");
        // Both of its ports' clusters.
        assert_eq!((canary.requests, canary.errors), (25, 4));
        assert_eq!(counters("other", "web").map(|c| c.requests), Some(1000));
        assert_eq!(counters("apps", "we"), None);
        assert_eq!(counters("app", "web"), None);
    }

    #[test]
    fn request_time_buckets_are_read_in_seconds() {
        let web = counters("apps", "web").expect("web");
        assert_eq!(
            web.buckets,
            vec![(0.0005, 0), (0.005, 60), (0.25, 90), (f64::INFINITY, 95)]
        );
    }

    #[test]
    fn clusters_are_told_apart_by_whole_names() {
        assert!(is_cluster_of("apps_web_80", "apps", "web"));
        assert!(is_cluster_of("apps_web_http", "apps", "web"));
        assert!(!is_cluster_of("apps_web-canary_80", "apps", "web"));
        assert!(!is_cluster_of("apps_web_", "apps", "web"));
        assert!(!is_cluster_of("apps_web_80_x", "apps", "web"));
        assert!(!is_cluster_of("apps/web/80/da39a3ee5e", "apps", "web"));
    }

    #[test]
    fn queries_match_any_port_of_the_service() {
        let q = Contour.queries("shop", "web", 30);
        assert_eq!(
            q.requests,
            r#"sum(increase(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"shop_web_[^_]+"}[30s]))"#
        );
        assert_eq!(
            q.errors,
            r#"sum(increase(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"shop_web_[^_]+",envoy_response_code_class="5"}[30s]))"#
        );
        assert_eq!(
            q.buckets,
            r#"sum by (le) (increase(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"shop_web_[^_]+"}[30s]))"#
        );
        assert!(q.le_in_milliseconds);
        assert_eq!(Contour.controller().path, "/stats/prometheus");
    }
}
