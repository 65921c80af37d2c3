//! Per-version request metrics: the counters of the requests each version's Service served,
//! read from the data path (the ingress controller or gateway) that the router uses.
//!
//! Two independent choices meet here:
//! - the [`observer`]: which series the data path exports and how a version's requests are
//!   told apart in them (each router names its own);
//! - the [`Source`]: where those series are read — the controller's pods through the API
//!   server's pod proxy, a metrics URL scraped directly, or a Prometheus server that scrapes
//!   the controller.

mod counters;
pub mod exposition;
pub mod observer;
pub mod prometheus;
pub mod source;

pub use counters::Counters;
pub use source::{Access, Source};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot reach {what}")]
    Unreachable {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("metrics at {url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("cannot list the pods in namespace {namespace}")]
    Pods {
        namespace: String,
        #[source]
        source: Box<crate::cluster::ClusterError>,
    },
    #[error("cannot read the metrics of pod {pod} through the API server's pod proxy")]
    Proxy {
        pod: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("no controller pod ({selector}) in namespace {namespace}")]
    NoController { namespace: String, selector: String },
    #[error("timed out reading {what}")]
    Timeout { what: String },
    #[error("metrics at {url}")]
    Exposition {
        url: String,
        #[source]
        source: Box<MetricsError>,
    },
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("query failed: {problem}")]
    Query { promql: String, problem: String },
}
