//! Sources: where a router's per-version series are read. One module each; [`open`] is the one
//! place that names them all.
//!
//! Which source a rollout uses is decided once, when it is planned, and kept with its record
//! as data ([`Access`]): a flag names one (`--metrics-url`, `--prometheus`), or the router's
//! observer finds its controller's pods and reads them through the API server's pod proxy.

mod pod_proxy;
mod prometheus;
mod scrape;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use pod_proxy::discover;

use super::observer::Observer;
use super::{Counters, MetricsError};

/// How a rollout reads per-version metrics, as decided when it was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Access {
    /// None can be read, and why.
    None { why: String },
    /// A metrics endpoint given on the command line.
    Url { url: String },
    /// A Prometheus server given on the command line.
    Prometheus { address: String },
    /// The controller's own metrics, through the API server's pod proxy, summed over every
    /// pod the selector matches in the namespace.
    PodProxy {
        namespace: String,
        selector: String,
        port: String,
        path: String,
        /// Pods found when the rollout was planned (they are looked up again at each read).
        pods: usize,
    },
}

impl Default for Access {
    fn default() -> Self {
        Access::None {
            why: "no metrics source was looked for".into(),
        }
    }
}

impl Access {
    pub fn is_readable(&self) -> bool {
        !matches!(self, Access::None { .. })
    }

    /// One line for `rollout plan`.
    pub fn describe(&self, observer: &str) -> String {
        match self {
            Access::None { why } => format!("none ({why})"),
            Access::Url { url } => format!("{observer}'s, scraped from {url}"),
            Access::Prometheus { address } => format!("{observer}'s, from Prometheus at {address}"),
            Access::PodProxy {
                namespace,
                selector,
                port,
                path,
                pods,
            } => format!(
                "{observer}'s, read through the API server's pod proxy from {pods} controller pod(s) in namespace {namespace} ({selector}, port {port}, {path})"
            ),
        }
    }
}

/// Reads the series of services.
pub trait Source: Send + Sync {
    /// The counters of each of `services`: running totals since the source started counting
    /// ([`Source::totals`]), or their increase over the last `range_secs` seconds.
    fn counters<'a>(
        &'a self,
        http: &'a reqwest::Client,
        observer: &'a dyn Observer,
        namespace: &'a str,
        services: &'a [&'a str],
        range_secs: u64,
    ) -> BoxFuture<'a, Result<Vec<Counters>, MetricsError>>;

    /// Whether [`Source::counters`] are running totals (the traffic between two reads is
    /// their difference) rather than increases over the range asked.
    fn totals(&self) -> bool;
}

/// The source `access` names; `client` reaches the API server for the pod proxy.
pub fn open(access: &Access, client: &kube::Client) -> Option<Box<dyn Source>> {
    match access {
        Access::None { .. } => None,
        Access::Url { url } => Some(Box::new(scrape::Scrape { url: url.clone() })),
        Access::Prometheus { address } => Some(Box::new(prometheus::Prometheus {
            address: address.clone(),
        })),
        Access::PodProxy {
            namespace,
            selector,
            port,
            path,
            ..
        } => Some(Box::new(pod_proxy::PodProxy {
            client: client.clone(),
            namespace: namespace.clone(),
            selector: selector.clone(),
            port: port.clone(),
            path: path.clone(),
        })),
    }
}

/// The counters of each service in one exposition's samples (zero when none names it).
fn from_samples(
    samples: &[super::exposition::Sample],
    observer: &dyn Observer,
    namespace: &str,
    services: &[&str],
) -> Vec<Counters> {
    services
        .iter()
        .map(|s| observer.counters(samples, namespace, s).unwrap_or_default())
        .collect()
}
