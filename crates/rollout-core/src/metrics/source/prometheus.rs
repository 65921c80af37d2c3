//! A Prometheus server that scrapes the controller (`--prometheus`): the observer's PromQL,
//! `increase` over the range asked.

use futures::future::BoxFuture;

use super::{Counters, MetricsError, Observer, Source};
use crate::metrics::{exposition, prometheus};

pub struct Prometheus {
    pub address: String,
}

impl Source for Prometheus {
    fn counters<'a>(
        &'a self,
        http: &'a reqwest::Client,
        observer: &'a dyn Observer,
        namespace: &'a str,
        services: &'a [&'a str],
        range_secs: u64,
    ) -> BoxFuture<'a, Result<Vec<Counters>, MetricsError>> {
        Box::pin(async move {
            let address = self.address.as_str();
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
                    let unit = if q.le_in_milliseconds { 0.001 } else { 1.0 };
                    for s in buckets {
                        let le = s
                            .labels
                            .get("le")
                            .and_then(|le| exposition::parse_float(le).filter(|x| !x.is_nan()))
                            .map(|le| le * unit);
                        if let (Some(le), Some(n)) = (le, exposition::to_count(s.value)) {
                            c.add_bucket(le, n);
                        }
                    }
                    Ok::<_, MetricsError>(c)
                }
            });
            futures::future::try_join_all(reads).await
        })
    }

    fn totals(&self) -> bool {
        false
    }
}
