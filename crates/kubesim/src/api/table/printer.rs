//! Which printer a type gets, its columns, and how one row is put together.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::IncludeObject;
use super::cells::{age, name_cell};
use super::cluster::{event_cells, namespace_cells, node_cells, pvc_cells};
use super::columns::{
    CONFIGMAP_COLUMNS, Column, DEPLOYMENT_COLUMNS, ENDPOINTS_COLUMNS, ENDPOINTSLICE_COLUMNS,
    EVENT_COLUMNS, HPA_COLUMNS, INGRESS_COLUMNS, INGRESSCLASS_COLUMNS, LEASE_COLUMNS, NAME,
    NAMESPACE_COLUMNS, NODE_COLUMNS, POD_COLUMNS, PVC_COLUMNS, REPLICASET_COLUMNS, SECRET_COLUMNS,
    SERVICE_COLUMNS, SERVICEACCOUNT_COLUMNS, STATEFULSET_COLUMNS,
};
use super::crd::{CrdColumn, DEFAULT_CRD_COLUMNS, GATEWAY_COLUMNS, HTTPROUTE_COLUMNS, crd_cell};
use super::networking::{
    endpointslice_cells, format_endpoints, ingress_cells, ingressclass_cells, service_cells,
};
use super::pod::pod_cells;
use super::workload::{deployment_cells, hpa_cells, replicaset_cells, statefulset_cells};
use crate::json::{len_at, str_at};
use crate::resources::ResourceType;

#[derive(Clone, Copy)]
pub(super) enum Printer {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
    IngressClass,
    Node,
    Namespace,
    ConfigMap,
    Secret,
    ServiceAccount,
    Event,
    PersistentVolumeClaim,
    HorizontalPodAutoscaler,
    Lease,
    Custom(&'static [CrdColumn]),
}

impl Printer {
    pub(super) fn for_type(rt: &ResourceType) -> Printer {
        match (rt.group, rt.kind) {
            ("", "Pod") => Printer::Pod,
            ("apps", "Deployment") => Printer::Deployment,
            ("apps", "ReplicaSet") => Printer::ReplicaSet,
            ("apps", "StatefulSet") => Printer::StatefulSet,
            ("", "Service") => Printer::Service,
            ("", "Endpoints") => Printer::Endpoints,
            ("discovery.k8s.io", "EndpointSlice") => Printer::EndpointSlice,
            ("networking.k8s.io", "Ingress") => Printer::Ingress,
            ("networking.k8s.io", "IngressClass") => Printer::IngressClass,
            ("", "Node") => Printer::Node,
            ("", "Namespace") => Printer::Namespace,
            ("", "ConfigMap") => Printer::ConfigMap,
            ("", "Secret") => Printer::Secret,
            ("", "ServiceAccount") => Printer::ServiceAccount,
            ("", "Event") => Printer::Event,
            ("", "PersistentVolumeClaim") => Printer::PersistentVolumeClaim,
            ("autoscaling", "HorizontalPodAutoscaler") => Printer::HorizontalPodAutoscaler,
            ("coordination.k8s.io", "Lease") => Printer::Lease,
            ("gateway.networking.k8s.io", "HTTPRoute") => Printer::Custom(HTTPROUTE_COLUMNS),
            ("gateway.networking.k8s.io", "Gateway") => Printer::Custom(GATEWAY_COLUMNS),
            _ => Printer::Custom(DEFAULT_CRD_COLUMNS),
        }
    }

    fn builtin_columns(self) -> Option<&'static [Column]> {
        Some(match self {
            Printer::Pod => POD_COLUMNS,
            Printer::Deployment => DEPLOYMENT_COLUMNS,
            Printer::ReplicaSet => REPLICASET_COLUMNS,
            Printer::StatefulSet => STATEFULSET_COLUMNS,
            Printer::Service => SERVICE_COLUMNS,
            Printer::Endpoints => ENDPOINTS_COLUMNS,
            Printer::EndpointSlice => ENDPOINTSLICE_COLUMNS,
            Printer::Ingress => INGRESS_COLUMNS,
            Printer::IngressClass => INGRESSCLASS_COLUMNS,
            Printer::Node => NODE_COLUMNS,
            Printer::Namespace => NAMESPACE_COLUMNS,
            Printer::ConfigMap => CONFIGMAP_COLUMNS,
            Printer::Secret => SECRET_COLUMNS,
            Printer::ServiceAccount => SERVICEACCOUNT_COLUMNS,
            Printer::Event => EVENT_COLUMNS,
            Printer::PersistentVolumeClaim => PVC_COLUMNS,
            Printer::HorizontalPodAutoscaler => HPA_COLUMNS,
            Printer::Lease => LEASE_COLUMNS,
            Printer::Custom(_) => return None,
        })
    }

    pub(super) fn columns(self) -> Value {
        match (self, self.builtin_columns()) {
            (_, Some(cols)) => Value::Array(cols.iter().map(Column::to_json).collect()),
            (Printer::Custom(crd), None) => {
                let mut out = vec![NAME.to_json()];
                out.extend(crd.iter().map(CrdColumn::definition));
                Value::Array(out)
            }
            (_, None) => Value::Array(vec![NAME.to_json()]),
        }
    }

    pub(super) fn row(self, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
        let mut conditions = None;
        let cells = match self {
            Printer::Pod => {
                let (cells, conds) = pod_cells(obj, now);
                conditions = conds;
                cells
            }
            Printer::Deployment => deployment_cells(obj, now),
            Printer::ReplicaSet => replicaset_cells(obj, now),
            Printer::StatefulSet => statefulset_cells(obj, now),
            Printer::Service => service_cells(obj, now),
            Printer::Endpoints => vec![name_cell(obj), json!(format_endpoints(obj)), age(obj, now)],
            Printer::EndpointSlice => endpointslice_cells(obj, now),
            Printer::Ingress => ingress_cells(obj, now),
            Printer::IngressClass => ingressclass_cells(obj, now),
            Printer::Node => node_cells(obj, now),
            Printer::Namespace => namespace_cells(obj, now),
            Printer::ConfigMap => {
                let n = len_at(obj, &["data"]) + len_at(obj, &["binaryData"]);
                vec![name_cell(obj), json!(n), age(obj, now)]
            }
            Printer::Secret => {
                let ty = str_at(obj, &["type"]).filter(|t| !t.is_empty());
                vec![
                    name_cell(obj),
                    json!(ty.unwrap_or("Opaque")),
                    json!(len_at(obj, &["data"])),
                    age(obj, now),
                ]
            }
            Printer::ServiceAccount => {
                vec![
                    name_cell(obj),
                    json!(len_at(obj, &["secrets"])),
                    age(obj, now),
                ]
            }
            Printer::Event => event_cells(obj, now),
            Printer::PersistentVolumeClaim => pvc_cells(obj, now),
            Printer::HorizontalPodAutoscaler => hpa_cells(obj, now),
            Printer::Lease => vec![
                name_cell(obj),
                json!(str_at(obj, &["spec", "holderIdentity"]).unwrap_or("")),
                age(obj, now),
            ],
            Printer::Custom(crd) => {
                let mut cells = vec![name_cell(obj)];
                cells.extend(crd.iter().map(|c| crd_cell(c, obj, now)));
                cells
            }
        };
        let mut row = Map::new();
        row.insert("cells".into(), Value::Array(cells));
        if let Some(conds) = conditions {
            row.insert("conditions".into(), conds);
        }
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => {
                let metadata = obj
                    .get("metadata")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                row.insert(
                    "object".into(),
                    json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": metadata,
                    }),
                );
            }
            IncludeObject::Object => {
                row.insert("object".into(), obj.clone());
            }
        }
        Value::Object(row)
    }
}
