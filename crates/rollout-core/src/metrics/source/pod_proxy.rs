//! The controller's own metrics, read through the API server's pod proxy
//! (`/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`) and summed over its replicas: no
//! port-forward and no Prometheus needed, only `list` on pods and `get` on `pods/proxy` in the
//! controller's namespace.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;

use super::{Access, Counters, MetricsError, Observer, Source, from_samples};
use crate::metrics::exposition;

/// Longest wait for one pod's metrics through the proxy.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PodProxy {
    pub client: kube::Client,
    pub namespace: String,
    pub selector: String,
    pub port: String,
    pub path: String,
}

/// The controller's pods, listed with the orchestrator's retry policy: a passing server error
/// is not a reason to call a version worse or to give up on its metrics.
async fn controller_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<Pod>, crate::cluster::ClusterError> {
    crate::cluster::Cluster::new(client.clone(), namespace)
        .list::<Pod>(Some(selector))
        .await
}

impl PodProxy {
    async fn pods(&self) -> Result<Vec<String>, MetricsError> {
        let pods = controller_pods(&self.client, &self.namespace, &self.selector)
            .await
            .map_err(|source| MetricsError::Pods {
                namespace: self.namespace.clone(),
                source: Box::new(source),
            })?;
        Ok(pods
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
            .filter_map(|p| p.metadata.name)
            .collect())
    }

    async fn read(&self, pod: &str) -> Result<String, MetricsError> {
        let path = format!(
            "/api/v1/namespaces/{}/pods/{pod}:{}/proxy{}",
            self.namespace, self.port, self.path
        );
        let request = hyper::http::Request::get(&path)
            .body(Vec::new())
            .map_err(|e| MetricsError::Query {
                promql: path.clone(),
                problem: e.to_string(),
            })?;
        let proxy_error = |source| MetricsError::Proxy {
            pod: format!("{}/{pod}", self.namespace),
            source: Box::new(source),
        };
        match tokio::time::timeout(READ_TIMEOUT, self.client.request_text(request)).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(e)) => Err(proxy_error(e)),
            Err(_) => Err(MetricsError::Timeout {
                what: format!("the metrics of pod {}/{pod}", self.namespace),
            }),
        }
    }
}

impl Source for PodProxy {
    fn counters<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        observer: &'a dyn Observer,
        namespace: &'a str,
        services: &'a [&'a str],
        _range_secs: u64,
    ) -> BoxFuture<'a, Result<Vec<Counters>, MetricsError>> {
        Box::pin(async move {
            let pods = self.pods().await?;
            if pods.is_empty() {
                return Err(MetricsError::NoController {
                    namespace: self.namespace.clone(),
                    selector: self.selector.clone(),
                });
            }
            let texts = futures::future::try_join_all(pods.iter().map(|p| self.read(p))).await?;
            let mut total = vec![Counters::default(); services.len()];
            for text in texts {
                let samples = exposition::parse(&text, |n| observer.reads(n)).map_err(|e| {
                    MetricsError::Exposition {
                        url: format!("pods in {} ({})", self.namespace, self.selector),
                        source: Box::new(e),
                    }
                })?;
                for (sum, one) in total
                    .iter_mut()
                    .zip(from_samples(&samples, observer, namespace, services))
                {
                    sum.add(&one);
                }
            }
            Ok(total)
        })
    }

    fn totals(&self) -> bool {
        true
    }
}

/// Finds the observer's controller the way it is installed on real clusters, and checks that
/// its metrics can be read through the pod proxy; says why not when they cannot.
pub async fn discover(client: &kube::Client, observer: &dyn Observer) -> Access {
    let c = observer.controller();
    let pods = match controller_pods(client, c.namespace, c.selector).await {
        Ok(pods) => pods,
        Err(e) => {
            return Access::None {
                why: format!(
                    "cannot list the {} controller's pods in namespace {} ({}); give --metrics-url or --prometheus, or grant the Role in manifests/rbac.yaml",
                    observer.name(),
                    c.namespace,
                    crate::error::chain(&e)
                ),
            };
        }
    };
    let running: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
        .collect();
    let Some(first) = running.first() else {
        return Access::None {
            why: format!(
                "no {} controller pod ({}) runs in namespace {}; give --metrics-url or --prometheus",
                observer.name(),
                c.selector,
                c.namespace
            ),
        };
    };
    let port = first
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(c.port_name))
        .map_or(c.port, |p| {
            u16::try_from(p.container_port).unwrap_or(c.port)
        });
    let source = PodProxy {
        client: client.clone(),
        namespace: c.namespace.to_owned(),
        selector: c.selector.to_owned(),
        port: port.to_string(),
        path: c.path.to_owned(),
    };
    if let Some(name) = &first.metadata.name
        && let Err(e) = source.read(name).await
    {
        return Access::None {
            why: format!(
                "cannot read the {} controller's metrics through the API server's pod proxy ({}); give --metrics-url or --prometheus, or grant the Role in manifests/rbac.yaml",
                observer.name(),
                crate::error::chain(&e)
            ),
        };
    }
    Access::PodProxy {
        namespace: source.namespace,
        selector: source.selector,
        port: source.port,
        path: source.path,
        pods: running.len(),
    }
}
