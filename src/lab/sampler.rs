//! Ready pods per version over time, for the charts and the peak pod count: the namespace's
//! pods are listed four times a second while a run goes on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::sync::watch;

use super::PodSample;

pub struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<PodSample>>,
}

fn version(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .map(kubesim::node::behaviour::version_of)
        .unwrap_or_else(|| "unknown".into())
}

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Pods that take resources: scheduled and not finished.
fn running(p: &Pod) -> bool {
    !matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Sampler {
    pub fn start(client: kube::Client, namespace: String, t0: Instant) -> Sampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let api: Api<Pod> = Api::namespaced(client, &namespace);
            let mut samples = Vec::new();
            loop {
                if let Ok(list) = api.list(&Default::default()).await {
                    let mut by_version: BTreeMap<String, u32> = BTreeMap::new();
                    for p in list.items.iter().filter(|p| ready(p)) {
                        *by_version.entry(version(p)).or_default() += 1;
                    }
                    let pods = list.items.iter().filter(|p| running(p)).count();
                    samples.push(PodSample {
                        t: t0.elapsed().as_secs_f64(),
                        ready: by_version,
                        pods: u32::try_from(pods).unwrap_or(u32::MAX),
                    });
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stopped.changed() => break,
                }
            }
            samples
        });
        Sampler { stop, task }
    }

    pub async fn stop(self) -> Vec<PodSample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
