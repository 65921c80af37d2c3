//! The ingress shows itself in the cluster the way real controllers are installed, so that a
//! client finds it — and reads its metrics through the API server's pod proxy — with no
//! configuration:
//!
//! * Pod `ingress-nginx-controller-<node>` in namespace `ingress-nginx`, labelled
//!   `app.kubernetes.io/name=ingress-nginx` and `app.kubernetes.io/component=controller` (the
//!   official manifests and Helm chart), container ports `http`, `https` and `metrics` (its
//!   `/metrics`);
//! * Pod `envoy-<node>` in namespace `projectcontour`, labelled `app=envoy` (Contour's example
//!   Envoy DaemonSet), container ports `http`, `https` and `metrics` (`/stats/prometheus`).
//!
//! Both run on the proxy's own listeners, so they are `hostNetwork` pods whose `podIP` is the
//! metrics listener's address, Running and Ready. They are bound to a Node of their own
//! (`<node>`, its InternalIP that same address), which the proxy registers unschedulable and
//! keeps Ready: the node agent runs only the pods bound to its own node, nothing schedules
//! other pods there, and kube-controller-manager's pod garbage collector, which deletes pods
//! bound to a Node that does not exist, leaves them alone. The pods name the Node as their
//! owner (as a kubelet's mirror pods do), so deleting the Node takes them too.
//!
//! A registration loop puts back whatever is missing (a namespace deleted, a pod deleted, a
//! Node without heartbeat) every [`HEARTBEAT`]; stopping the proxy deletes the pods and the
//! Node.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// How often the Node's status is renewed and missing objects are put back.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// ingress-nginx's namespace and the labels of its controller pods.
pub const NGINX_NAMESPACE: &str = "ingress-nginx";
pub const NGINX_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "ingress-nginx"),
    ("app.kubernetes.io/component", "controller"),
];
/// Contour's namespace and the label of its Envoy pods.
pub const CONTOUR_NAMESPACE: &str = "projectcontour";
pub const ENVOY_LABELS: [(&str, &str); 1] = [("app", "envoy")];

/// What the proxy's pods say about it.
#[derive(Debug, Clone)]
pub struct Presence {
    /// The Node the pods are bound to.
    pub node: String,
    pub http_port: u16,
    pub https_port: Option<u16>,
    /// The metrics listener: the pods' address and their `metrics` port.
    pub metrics: SocketAddr,
}

impl Presence {
    /// (namespace, name) of each pod.
    pub fn pods(&self) -> [(&'static str, String); 2] {
        [
            (
                NGINX_NAMESPACE,
                format!("ingress-nginx-controller-{}", self.node),
            ),
            (CONTOUR_NAMESPACE, format!("envoy-{}", self.node)),
        ]
    }

    fn ports(&self) -> Value {
        let mut ports =
            vec![json!({"name": "http", "containerPort": self.http_port, "protocol": "TCP"})];
        if let Some(p) = self.https_port {
            ports.push(json!({"name": "https", "containerPort": p, "protocol": "TCP"}));
        }
        ports.push(
            json!({"name": "metrics", "containerPort": self.metrics.port(), "protocol": "TCP"}),
        );
        Value::Array(ports)
    }

    fn pod(&self, namespace: &str, name: &str, node_uid: &str) -> Value {
        let (labels, container): (Vec<(&str, &str)>, &str) = if namespace == NGINX_NAMESPACE {
            (NGINX_LABELS.to_vec(), "controller")
        } else {
            (ENVOY_LABELS.to_vec(), "envoy")
        };
        let labels: serde_json::Map<String, Value> = labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": namespace, "labels": labels,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node,
                                     "uid": node_uid, "controller": true}],
            },
            "spec": {
                "nodeName": self.node,
                "hostNetwork": true,
                "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": 0,
                // Whatever taints the Node gets (it is not a kubelet's), the pod stays.
                "tolerations": [{"operator": "Exists"}],
                "containers": [{
                    "name": container,
                    "image": "rollout/embedded-ingress",
                    "ports": self.ports(),
                }],
            }
        })
    }

    fn pod_status(&self) -> Value {
        let t = kube_util::time::now_rfc3339();
        let ip = self.metrics.ip().to_string();
        let cond = |type_: &str| json!({"type": type_, "status": "True", "lastProbeTime": null, "lastTransitionTime": t});
        json!({"status": {
            "phase": "Running",
            "hostIP": ip,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": t,
            "qosClass": "BestEffort",
            "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        }})
    }

    fn node_object(&self) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "labels": {
                "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/ingress": ""}},
            // Only the ingress's own pods belong here.
            "spec": {"unschedulable": true,
                     "taints": [{"key": "node-role.kubernetes.io/ingress", "effect": "NoSchedule"}]}
        })
    }

    fn node_status(&self) -> Value {
        let t = kube_util::time::now_rfc3339();
        json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "IngressReady",
                            "message": "the embedded ingress is serving", "lastHeartbeatTime": t,
                            "lastTransitionTime": t}],
            "addresses": [{"type": "InternalIP", "address": self.metrics.ip().to_string()},
                          {"type": "Hostname", "address": self.node}],
            "capacity": {"pods": "2"},
            "allocatable": {"pods": "2"},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": std::env::consts::OS,
                "osImage": "rollout embedded ingress", "containerRuntimeVersion": "rollout-sim://1",
                "kubeletVersion": "v1.33.0-rollout-sim", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64"
            }
        }})
    }

    /// Makes (or puts back) the namespaces, the Node and both pods, and renews their status.
    pub async fn ensure(&self, client: &kube::Client) -> Result<(), kube::Error> {
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node =
            serde_json::from_value(self.node_object()).map_err(kube::Error::SerdeError)?;
        let node = match nodes.create(&PostParams::default(), &node).await {
            Ok(n) => n,
            Err(kube::Error::Api(e)) if e.code == 409 => nodes.get(&self.node).await?,
            Err(e) => return Err(e),
        };
        nodes
            .patch_status(
                &self.node,
                &PatchParams::default(),
                &Patch::Merge(&self.node_status()),
            )
            .await?;
        let node_uid = node.metadata.uid.unwrap_or_default();
        for (namespace, name) in self.pods() {
            ensure_namespace(client, namespace).await?;
            let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
            let wanted = self.pod(namespace, &name, &node_uid);
            match api.get_opt(&name).await? {
                Some(existing) if !self.matches(&existing, &node_uid) => {
                    // A pod left by an earlier run (other ports or another Node): a pod's
                    // containers cannot change, so it is made again.
                    delete_now(&api, &name).await?;
                    continue;
                }
                Some(_) => {}
                None => {
                    let pod: Pod =
                        serde_json::from_value(wanted).map_err(kube::Error::SerdeError)?;
                    match api.create(&PostParams::default(), &pod).await {
                        Ok(_) => {}
                        // Deleted a moment ago and still going: the next round makes it.
                        Err(kube::Error::Api(e)) if e.code == 409 => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&self.pod_status()),
            )
            .await?;
        }
        Ok(())
    }

    /// Whether `pod` is the one this proxy would make (same Node, ports and address).
    fn matches(&self, pod: &Pod, node_uid: &str) -> bool {
        let Ok(value) = serde_json::to_value(pod) else {
            return false;
        };
        let ports = value
            .pointer("/spec/containers/0/ports")
            .cloned()
            .unwrap_or(Value::Null);
        let port_numbers = |v: &Value| -> Vec<(String, i64)> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        p.get("containerPort").and_then(Value::as_i64).unwrap_or(0),
                    )
                })
                .collect()
        };
        let owner = value
            .pointer("/metadata/ownerReferences/0/uid")
            .and_then(Value::as_str);
        value.pointer("/spec/nodeName").and_then(Value::as_str) == Some(self.node.as_str())
            && owner == Some(node_uid)
            && port_numbers(&ports) == port_numbers(&self.ports())
            && value.pointer("/metadata/deletionTimestamp").is_none()
    }

    /// Deletes both pods and the Node (best effort: what is already gone is fine).
    pub async fn remove(&self, client: &kube::Client) {
        for (namespace, name) in self.pods() {
            let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
            if let Err(e) = delete_now(&api, &name).await {
                tracing::debug!(pod = %name, error = %e, "ingress: cannot delete its pod");
            }
        }
        let nodes: Api<Node> = Api::all(client.clone());
        match nodes.delete(&self.node, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::debug!(node = %self.node, error = %e, "ingress: cannot delete its Node")
            }
        }
    }
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))
        .map_err(kube::Error::SerdeError)?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes a pod at once (no grace: nothing runs in it but the proxy itself).
async fn delete_now(api: &Api<Pod>, name: &str) -> Result<(), kube::Error> {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
