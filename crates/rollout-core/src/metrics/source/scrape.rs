//! A metrics endpoint read directly (`--metrics-url`).

use std::time::Duration;

use futures::future::BoxFuture;

use super::{Counters, MetricsError, Observer, Source, from_samples};
use crate::metrics::exposition;

/// Longest wait for a scrape: `/metrics` is answered from memory, so anything slower means the
/// controller is in trouble, and a gate should say so rather than hang.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Scrape {
    pub url: String,
}

impl Source for Scrape {
    fn counters<'a>(
        &'a self,
        http: &'a reqwest::Client,
        observer: &'a dyn Observer,
        namespace: &'a str,
        services: &'a [&'a str],
        _range_secs: u64,
    ) -> BoxFuture<'a, Result<Vec<Counters>, MetricsError>> {
        Box::pin(async move {
            let samples = scrape(http, &self.url, observer).await?;
            Ok(from_samples(&samples, observer, namespace, services))
        })
    }

    fn totals(&self) -> bool {
        true
    }
}

/// Reads the samples an observer needs from the metrics at `url`.
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
            status: status.as_u16(),
        });
    }
    let text = resp.text().await.map_err(unreachable)?;
    exposition::parse(&text, |n| observer.reads(n)).map_err(|e| MetricsError::Exposition {
        url: url.to_owned(),
        source: Box::new(e),
    })
}
