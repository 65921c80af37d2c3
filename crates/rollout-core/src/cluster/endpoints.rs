//! The wait until a Service's endpoints are exactly the ready pods its selector matches. A
//! selector change or a new Service carries traffic only once the endpoints controllers have
//! written it, so the engine waits for that before it measures through the Service or removes
//! the pods traffic left.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::runtime::watcher;
use kube_util::endpoints::{
    SERVICE_NAME_LABEL, endpoint_slice_resource, endpoints_addresses, ready_addresses,
    serving_pod_addresses, slice_as_v1,
};

use super::api::{Cluster, Failed, Result};
use super::error::Verb;
use super::wait::RECHECK;

impl Cluster {
    /// Waits until the ready endpoints of Service `name` are exactly the ready pods its
    /// selector matches, and returns the Service as read (`None`: there is none). A Service
    /// without a selector (endpoints kept by hand) is left alone.
    pub async fn wait_service_endpoints(
        &self,
        name: &str,
        deadline: Duration,
    ) -> Result<Option<Service>> {
        let Some(service) = self.get_opt::<Service>(name).await? else {
            return Ok(None);
        };
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        let Some(selector) = selector else {
            return Ok(Some(service));
        };
        let publish_not_ready = service
            .spec
            .as_ref()
            .and_then(|s| s.publish_not_ready_addresses)
            .unwrap_or(false);
        let resource = self
            .slices
            .get_or_init(|| endpoint_slice_resource(&self.client))
            .await;
        let slices: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, resource);
        let of_service = format!("{SERVICE_NAME_LABEL}={name}");
        let mut changes = self.changes(
            &format!("the endpoints of Service {name:?} to be the ready pods it selects"),
            deadline,
        );
        // Re-read on every change of the pods, and every RECHECK: the endpoints controllers
        // write shortly after the pods change, and watching their objects would take one
        // more verb of the Role for a wait that is over in moments.
        changes.add(self.watch::<Pod>(watcher::Config::default().labels(&selector)));
        changes.every(RECHECK);
        let by_name = format!("metadata.name={name}");
        loop {
            let pods: Vec<Pod> = changes.during(self.list(Some(&selector))).await?;
            // The API server's service proxy reads the Endpoints object; kube-proxy and
            // ingress controllers read the slices. Each has its own controller; either can lag.
            let endpoints: Vec<Endpoints> = changes
                .during(
                    self.retry(self.call::<Endpoints>(Verb::List, name), || async {
                        self.api::<Endpoints>()
                            .list(&ListParams::default().fields(&by_name))
                            .await
                            .map_err(|e| {
                                Failed::judged(self.error::<Endpoints>(Verb::List, name, e))
                            })
                    }),
                )
                .await?
                .items;
            let listed = changes
                .during(
                    self.retry(self.call::<EndpointSlice>(Verb::List, ""), || async {
                        slices
                            .list(&ListParams::default().labels(&of_service))
                            .await
                            .map_err(|e| {
                                Failed::judged(self.error::<EndpointSlice>(Verb::List, "", e))
                            })
                    }),
                )
                .await?;
            let listed: Vec<EndpointSlice> = listed.items.iter().filter_map(slice_as_v1).collect();
            let have = ready_addresses(&listed);
            let want = serving_pod_addresses(&pods, publish_not_ready);
            let proxied = endpoints_addresses(&endpoints);
            if have == want && proxied == want {
                return Ok(Some(service));
            }
            changes.describe(&format!(
                "the endpoints of Service {name:?} to be the ready pods it selects ({want:?}; EndpointSlices have {have:?}, Endpoints {proxied:?})"
            ));
            changes.next().await?;
        }
    }
}
