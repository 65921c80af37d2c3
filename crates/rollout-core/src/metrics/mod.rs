//! Per-version request metrics: the counters of the requests each version's Service served,
//! read from the data path (the ingress controller or gateway) that the router uses.
//!
//! Two independent choices meet here:
//! - the [`observer`]: which series the data path exports and how a version's requests are
//!   told apart in them (each router names its own);
//! - the [`Source`]: where those series are read — the controller's `/metrics` scraped
//!   directly, or a Prometheus server that scrapes it.

mod counters;
pub mod exposition;
pub mod observer;
pub mod prometheus;

use std::time::Duration;

pub use counters::Counters;
use observer::Observer;

/// Longest wait for a scrape: `/metrics` is answered from memory, so anything slower means the
/// controller is in trouble, and a gate should say so rather than hang.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot reach {what}")]
    Unreachable {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("metrics at {url} answered {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
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

/// Where the series are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The controller's metrics endpoint (`http://.../metrics`), read directly.
    Scrape { url: String },
    /// A Prometheus server (base URL) that scrapes the controller.
    Prometheus { address: String },
}

impl Source {
    /// The cumulative counters of each of `services` now, as the controller counts them
    /// (`Scrape`), or their increase over the last `range_secs` seconds (`Prometheus`).
    pub async fn counters(
        &self,
        http: &reqwest::Client,
        observer: &dyn Observer,
        namespace: &str,
        services: &[&str],
        range_secs: u64,
    ) -> Result<Vec<Counters>, MetricsError> {
        match self {
            Source::Scrape { url } => {
                let samples = scrape(http, url, observer).await?;
                Ok(services
                    .iter()
                    .map(|s| {
                        observer
                            .counters(&samples, namespace, s)
                            .unwrap_or_default()
                    })
                    .collect())
            }
            Source::Prometheus { address } => {
                let reads = services.iter().map(|s| {
                    let q = observer.queries(namespace, s, range_secs.max(1));
                    async move {
                        let (requests, errors, buckets) = futures::try_join!(
                            prometheus::query(http, address, &q.requests),
                            prometheus::query(http, address, &q.errors),
                            prometheus::query_vector(http, address, &q.buckets),
                        )?;
                        // No series means no requests in the range.
                        let count = |v: Option<f64>| v.and_then(exposition::to_count).unwrap_or(0);
                        let mut c = Counters {
                            requests: count(requests),
                            errors: count(errors),
                            buckets: Vec::new(),
                        };
                        for s in buckets {
                            let le = s
                                .labels
                                .get("le")
                                .and_then(|le| exposition::parse_float(le).filter(|x| !x.is_nan()));
                            if let (Some(le), Some(n)) = (le, exposition::to_count(s.value)) {
                                c.add_bucket(le, n);
                            }
                        }
                        Ok::<_, MetricsError>(c)
                    }
                });
                futures::future::try_join_all(reads).await
            }
        }
    }
}

/// Reads the samples an observer needs from the metrics at `url` (a `/metrics`).
async fn scrape(
    http: &reqwest::Client,
    url: &str,
    observer: &dyn Observer,
) -> Result<Vec<exposition::Sample>, MetricsError> {
    let unreachable = |source| MetricsError::Unreachable {
        what: format!("the metrics at {url}"),
        source,
    };
    let resp = http
        .get(url)
        .timeout(SCRAPE_TIMEOUT)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(MetricsError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let text = resp.text().await.map_err(unreachable)?;
    exposition::parse(&text, |n| observer.reads(n)).map_err(|e| MetricsError::Exposition {
        url: url.to_owned(),
        source: Box::new(e),
    })
}
