//! Server-side `Table` output (`meta.k8s.io/v1`), the format `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`.
//!
//! The columns and cells follow the Kubernetes API server's printers: the built-in kinds get
//! the columns of the internal printers (which the server always renders in "wide" mode, so
//! every column is in every row and kubectl hides the `priority: 1` ones unless `-o wide`),
//! and the Gateway API kinds get the columns their CustomResourceDefinitions declare. A type
//! without a printer gets `NAME`, `AGE`, as a CRD without printer columns does.
//!
//! Watch: a real server sends each watch event as a one-row `Table` and includes the
//! `columnDefinitions` only in the first event (later ones carry `null`); build the first with
//! [`table`] and the later ones with [`table`] followed by
//! `t["columnDefinitions"] = Value::Null`, or use [`columns`] / [`row`] directly.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use kube_util::names;

use crate::json::{arr_at, at, bool_at, int_at, len_at, str_at, str_or_empty};
use crate::resources::ResourceType;

/// What each row's `object` holds (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object: the row has only cells.
    None,
    /// A `meta.k8s.io/v1` `PartialObjectMetadata` carrying the object's metadata (default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The `includeObject` value is none of `None`, `Metadata`, `Object` (a real server answers
    /// 400 Bad Request with this message).
    #[error("unrecognized includeObject value: {0:?}")]
    UnrecognizedIncludeObject(String),
}

impl IncludeObject {
    /// Parses `includeObject`; absent, empty or unrecognized values mean `Metadata`.
    pub fn parse(s: Option<&str>) -> IncludeObject {
        IncludeObject::try_parse(s).unwrap_or_default()
    }

    /// Parses `includeObject` strictly, as the API server does: absent or empty means
    /// `Metadata`, anything but `None`, `Metadata`, `Object` is an error (400 on a real server).
    pub fn try_parse(s: Option<&str>) -> Result<IncludeObject, TableError> {
        match s.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(TableError::UnrecognizedIncludeObject(other.to_string())),
        }
    }
}

/// The `Table` for `objects` (a list, or one object) of type `rt`.
pub fn table(
    rt: &ResourceType,
    objects: &[&Value],
    resource_version: &str,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let printer = Printer::for_type(rt);
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), json!(resource_version));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| printer.row(obj, include, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": printer.columns(),
        "rows": rows,
    })
}

/// The `columnDefinitions` of the table for `rt`.
pub fn columns(rt: &ResourceType) -> Value {
    Printer::for_type(rt).columns()
}

/// One `TableRow` (`cells`, `conditions` where the server sets them, `object`) for `obj`.
pub fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
    Printer::for_type(rt).row(obj, include, now)
}

/// How long ago the RFC 3339 timestamp `created` was, as Kubernetes prints ages
/// (`duration.HumanDuration`); `<unknown>` when it is absent, zero or unparseable.
pub fn human_age(created: &str, now: DateTime<Utc>) -> String {
    match parse_time(created) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// apimachinery's `duration.HumanDuration`: a succinct duration with about two or three
/// significant figures (`45s`, `3m20s`, `10m`, `2h5m`, `20h`, `2d3h`, `30d`, `2y10d`, `9y`).
pub fn human_duration(d: TimeDelta) -> String {
    // TimeDelta::num_seconds truncates toward zero, like Go's int(d.Seconds()).
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

// ---------------------------------------------------------------------------------------------
// Column definitions
// ---------------------------------------------------------------------------------------------

/// One `TableColumnDefinition`.
struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i64,
}

impl Column {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 1,
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    description: NAME_DESC,
    priority: 0,
};
const AGE: Column = col("Age", "string", AGE_DESC);

const POD_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    wide(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled.",
    ),
    wide(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
    ),
];

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    col(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    ),
];

const REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    col(
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
    ),
];

const STATEFULSET_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
];

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP.",
    ),
    col(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];

const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

const ENDPOINTSLICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    col(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    col(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];

const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    col("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

const INGRESSCLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    col(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

const NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    wide(
        "External-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    wide(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    wide(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    wide(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

const CONFIGMAP_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    col(
        "Data",
        "string",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

const SERVICEACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

const EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    col(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col("Object", "string", "The object that this event is about."),
    wide(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    wide(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        description: NAME_DESC,
        priority: 1,
    },
];

const PVC_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    col(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    col(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
    ),
    col(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    col("StorageClass", "string", "StorageClass of the pvc"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    wide(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.",
    ),
];

const HPA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Reference",
        "string",
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
    ),
    col(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).",
    ),
    col(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
    ),
    col(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
    ),
    col(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
    ),
    AGE,
];

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

// ---------------------------------------------------------------------------------------------
// Custom-resource style columns (JSONPath printer columns)
// ---------------------------------------------------------------------------------------------

/// One step of the simple JSONPath the CRD printer columns use.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `.field`
    Field(&'static str),
    /// `[*]`
    All,
    /// `[?(@.field=="value")]`
    Filter(&'static str, &'static str),
}

/// A CRD `additionalPrinterColumns` entry.
struct CrdColumn {
    name: &'static str,
    ty: &'static str,
    json_path: &'static str,
    path: &'static [Step],
}

impl CrdColumn {
    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": "",
            "description": format!(
                "Custom resource definition column (in JSONPath format): {}",
                self.json_path
            ),
            "priority": 0,
        })
    }
}

const CRD_AGE: CrdColumn = CrdColumn {
    name: "Age",
    ty: "date",
    json_path: ".metadata.creationTimestamp",
    path: &[Step::Field("metadata"), Step::Field("creationTimestamp")],
};

/// The default printer columns of a CRD without `additionalPrinterColumns`.
const DEFAULT_CRD_COLUMNS: &[CrdColumn] = &[CRD_AGE];

/// The printer columns of the Gateway API `HTTPRoute` CRD.
const HTTPROUTE_COLUMNS: &[CrdColumn] = &[
    CrdColumn {
        name: "Hostnames",
        ty: "string",
        json_path: ".spec.hostnames",
        path: &[Step::Field("spec"), Step::Field("hostnames")],
    },
    CRD_AGE,
];

/// The printer columns of the Gateway API `Gateway` CRD.
const GATEWAY_COLUMNS: &[CrdColumn] = &[
    CrdColumn {
        name: "Class",
        ty: "string",
        json_path: ".spec.gatewayClassName",
        path: &[Step::Field("spec"), Step::Field("gatewayClassName")],
    },
    CrdColumn {
        name: "Address",
        ty: "string",
        json_path: ".status.addresses[*].value",
        path: &[
            Step::Field("status"),
            Step::Field("addresses"),
            Step::All,
            Step::Field("value"),
        ],
    },
    CrdColumn {
        name: "Programmed",
        ty: "string",
        json_path: ".status.conditions[?(@.type==\"Programmed\")].status",
        path: &[
            Step::Field("status"),
            Step::Field("conditions"),
            Step::Filter("type", "Programmed"),
            Step::Field("status"),
        ],
    },
    CRD_AGE,
];

/// Evaluates `path` on `obj` the way client-go's JSONPath does with missing keys allowed.
fn eval_path<'a>(obj: &'a Value, path: &[Step]) -> Vec<&'a Value> {
    let mut current = vec![obj];
    for step in path {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Field(f) => {
                    if let Some(x) = v.get(f) {
                        next.push(x);
                    }
                }
                Step::All => match v {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter(field, want) => {
                    if let Value::Array(items) = v {
                        next.extend(
                            items.iter().filter(|item| {
                                item.get(field).and_then(Value::as_str) == Some(*want)
                            }),
                        );
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// A cell of a CRD printer column: the first JSONPath result, printed like the API server's
/// custom resource table convertor does.
fn crd_cell(column: &CrdColumn, obj: &Value, now: DateTime<Utc>) -> Value {
    let results = eval_path(obj, column.path);
    let Some(value) = results.first() else {
        return Value::Null;
    };
    if value.is_null() {
        return Value::Null;
    }
    match column.ty {
        // client-go JSONPath's PrintResults: compact JSON for arrays and objects, the plain
        // text otherwise.
        "string" => match value {
            Value::String(s) => json!(s),
            Value::Array(_) | Value::Object(_) => json!(value.to_string()),
            other => json!(other.to_string()),
        },
        "integer" => match value.as_i64() {
            Some(i) => json!(i),
            None => value.as_f64().map_or(Value::Null, |f| json!(f as i64)),
        },
        "number" => value.as_f64().map_or(Value::Null, |f| json!(f)),
        "boolean" => value.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => match value.as_str() {
            Some(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => json!(age_since(Some(t.with_timezone(&Utc)), now)),
                Err(_) => json!("<invalid>"),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------------------------------------
// Printers
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Printer {
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
    fn for_type(rt: &ResourceType) -> Printer {
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

    fn columns(self) -> Value {
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

    fn row(self, obj: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
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

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

fn name_cell(obj: &Value) -> Value {
    json!(str_or_empty(obj, &["metadata", "name"]))
}

/// Parses a `metav1.Time` / `metav1.MicroTime`; `None` for absent, zero or invalid values.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    // Go's zero time (0001-01-01T00:00:00Z) prints as <unknown> too.
    if t.timestamp() == GO_ZERO_TIME_UNIX {
        return None;
    }
    Some(t)
}

/// Unix seconds of Go's zero `time.Time`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    str_at(v, path).and_then(parse_time)
}

/// `translateTimestampSince`.
fn age_since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(age_since(
        time_at(obj, &["metadata", "creationTimestamp"]),
        now
    ))
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = match map {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect(),
        _ => Vec::new(),
    };
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `layoutContainerCells`: comma-joined container names and images.
fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers
        .iter()
        .map(|c| str_or_empty(c, &["name"]))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| str_or_empty(c, &["image"]))
        .collect();
    (names.join(","), images.join(","))
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// Why a label selector cannot be turned into a `labels.Selector`.
#[derive(Debug)]
struct InvalidSelector;

/// Whether `labels.NewRequirement` accepts the key and values.
fn valid_requirement(key: &str, values: &[&str]) -> bool {
    names::is_qualified_name(key).is_empty()
        && values
            .iter()
            .all(|v| names::is_valid_label_value(v).is_empty())
}

/// One `labels.Requirement`, already rendered.
struct Requirement {
    key: String,
    text: String,
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: `Ok("")` for a nil or empty selector.
fn selector_string(sel: Option<&Value>) -> Result<String, InvalidSelector> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let mut reqs: Vec<Requirement> = Vec::new();
    if let Some(Value::Object(labels)) = sel.get("matchLabels") {
        for (k, v) in labels {
            let v = v.as_str().unwrap_or("");
            if !valid_requirement(k, &[v]) {
                return Err(InvalidSelector);
            }
            reqs.push(Requirement {
                key: k.clone(),
                text: format!("{k}={v}"),
            });
        }
    }
    for expr in arr_at(sel, &["matchExpressions"]) {
        let key = str_or_empty(expr, &["key"]);
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        if !valid_requirement(key, &values) {
            return Err(InvalidSelector);
        }
        let text = match str_or_empty(expr, &["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(InvalidSelector);
                }
                values.sort_unstable();
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(InvalidSelector),
        };
        reqs.push(Requirement {
            key: key.to_string(),
            text,
        });
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(reqs
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(InvalidSelector) => "<error>".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

fn later(
    current: Option<DateTime<Utc>>,
    candidate: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (current, candidate) {
        (Some(c), Some(n)) if n > c => Some(n),
        (None, Some(n)) => Some(n),
        (c, _) => c,
    }
}

fn has_condition(obj: &Value, ty: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == Some(ty) && str_at(c, &["status"]) == Some("True"))
}

/// The reason (or exit description) of a terminated container state, `prefix` before it.
fn terminated_reason(term: &Value, prefix: &str) -> String {
    match str_at(term, &["reason"]).filter(|r| !r.is_empty()) {
        Some(r) => format!("{prefix}{r}"),
        None => {
            let signal = int_at(term, &["signal"]).unwrap_or(0);
            if signal != 0 {
                format!("{prefix}Signal:{signal}")
            } else {
                format!(
                    "{prefix}ExitCode:{}",
                    int_at(term, &["exitCode"]).unwrap_or(0)
                )
            }
        }
    }
}

fn pod_cells(pod: &Value, now: DateTime<Utc>) -> (Vec<Value>, Option<Value>) {
    let phase = str_or_empty(pod, &["status", "phase"]);
    let status_reason = str_or_empty(pod, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    for c in arr_at(pod, &["status", "conditions"]) {
        if str_at(c, &["type"]) == Some("PodScheduled")
            && str_at(c, &["reason"]) == Some("SchedulingGated")
        {
            reason = "SchedulingGated".to_string();
        }
    }
    let conditions = match phase {
        "Succeeded" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    };

    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    let is_restartable = |name: &str| {
        init_specs.iter().any(|c| {
            str_at(c, &["name"]) == Some(name) && str_at(c, &["restartPolicy"]) == Some("Always")
        })
    };
    let mut total = arr_at(pod, &["spec", "containers"]).len();
    total += init_specs
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == Some("Always"))
        .count();

    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let mut ready: usize = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable_restart: Option<DateTime<Utc>> = None;
    let mut initializing = false;

    for (i, cs) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(cs, &["restartCount"]).unwrap_or(0);
        let finished = time_at(cs, &["lastState", "terminated", "finishedAt"]);
        restarts += count;
        last_restart = later(last_restart, finished);
        let restartable = is_restartable(str_or_empty(cs, &["name"]));
        if restartable {
            restartable_restarts += count;
            last_restartable_restart = later(last_restartable_restart, finished);
        }
        let terminated = at(cs, &["state", "terminated"]);
        let waiting_reason = str_or_empty(cs, &["state", "waiting", "reason"]);
        if let Some(term) = terminated
            && int_at(term, &["exitCode"]).unwrap_or(0) == 0
        {
            continue;
        }
        if restartable && bool_at(cs, &["started"]) {
            if bool_at(cs, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        if let Some(term) = terminated {
            reason = terminated_reason(term, "Init:");
        } else if at(cs, &["state", "waiting"]).is_some()
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for cs in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]).unwrap_or(0);
            last_restart = later(
                last_restart,
                time_at(cs, &["lastState", "terminated", "finishedAt"]),
            );
            let waiting_reason = str_or_empty(cs, &["state", "waiting", "reason"]);
            let terminated = at(cs, &["state", "terminated"]);
            if at(cs, &["state", "waiting"]).is_some() && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(term) = terminated {
                reason = terminated_reason(term, "");
            } else if bool_at(cs, &["ready"]) && at(cs, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = at(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", age_since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .and_then(|ip| str_at(ip, &["ip"]))
        .or_else(|| str_at(pod, &["status", "podIP"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let node = Some(str_or_empty(pod, &["spec", "nodeName"]))
        .filter(|n| !n.is_empty())
        .unwrap_or("<none>");
    let nominated = Some(str_or_empty(pod, &["status", "nominatedNodeName"]))
        .filter(|n| !n.is_empty())
        .unwrap_or("<none>");
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr_at(pod, &["status", "conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let ty = str_or_empty(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == Some(ty))
                    .is_some_and(|c| str_at(c, &["status"]) == Some("True"))
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    let cells = vec![
        name_cell(pod),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age(pod, now),
        json!(pod_ip),
        json!(node),
        json!(nominated),
        json!(readiness_gates),
    ];
    (cells, conditions)
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

/// `spec.replicas`, defaulted to 1 as the API server's defaulting does.
fn desired_replicas(obj: &Value) -> i64 {
    int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn status_int(obj: &Value, field: &str) -> i64 {
    int_at(obj, &["status", field]).unwrap_or(0)
}

fn template_containers(obj: &Value) -> (String, String) {
    container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

fn deployment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let selector = selector_string(at(obj, &["spec", "selector"]))
        .unwrap_or_else(|InvalidSelector| "<invalid>".to_string());
    vec![
        name_cell(obj),
        json!(format!(
            "{}/{}",
            status_int(obj, "readyReplicas"),
            desired_replicas(obj)
        )),
        json!(status_int(obj, "updatedReplicas")),
        json!(status_int(obj, "availableReplicas")),
        age(obj, now),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

fn replicaset_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name_cell(obj),
        json!(desired_replicas(obj)),
        json!(status_int(obj, "replicas")),
        json!(status_int(obj, "readyReplicas")),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

fn statefulset_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name_cell(obj),
        json!(format!(
            "{}/{}",
            status_int(obj, "readyReplicas"),
            desired_replicas(obj)
        )),
        age(obj, now),
        json!(names),
        json!(images),
    ]
}

fn hpa_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_or_empty(obj, &["spec", "scaleTargetRef", "kind"]),
        str_or_empty(obj, &["spec", "scaleTargetRef", "name"])
    );
    let min_pods = int_at(obj, &["spec", "minReplicas"])
        .map_or_else(|| "<unset>".to_string(), |m| m.to_string());
    vec![
        name_cell(obj),
        json!(reference),
        json!(format_hpa_metrics(
            arr_at(obj, &["spec", "metrics"]),
            arr_at(obj, &["status", "currentMetrics"]),
        )),
        json!(min_pods),
        json!(int_at(obj, &["spec", "maxReplicas"]).unwrap_or(0)),
        json!(status_int(obj, "currentReplicas")),
        age(obj, now),
    ]
}

/// A `resource.Quantity` field printed with `Quantity.String()` (`<nil>` when absent).
fn quantity(v: Option<&Value>, path: &[&str]) -> String {
    match v.and_then(|v| at(v, path)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "<nil>".to_string(),
    }
}

/// `formatHPAMetrics`.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 2;
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let status_of = |key: &str| status.and_then(|s| at(s, &[key]));
        let entry = match str_or_empty(spec, &["type"]) {
            "External" | "Object" => {
                let key = if str_or_empty(spec, &["type"]) == "External" {
                    "external"
                } else {
                    "object"
                };
                let src = at(spec, &[key]);
                let current_src = status_of(key);
                if src
                    .and_then(|s| at(s, &["target", "averageValue"]))
                    .is_some()
                {
                    let current =
                        match current_src.and_then(|s| at(s, &["current", "averageValue"])) {
                            Some(_) => quantity(current_src, &["current", "averageValue"]),
                            None => "<unknown>".to_string(),
                        };
                    format!(
                        "{current}/{} (avg)",
                        quantity(src, &["target", "averageValue"])
                    )
                } else {
                    let current = match current_src {
                        Some(_) => quantity(current_src, &["current", "value"]),
                        None => "<unknown>".to_string(),
                    };
                    format!("{current}/{}", quantity(src, &["target", "value"]))
                }
            }
            "Pods" => {
                let current_src = status_of("pods");
                let current = match current_src {
                    Some(_) => quantity(current_src, &["current", "averageValue"]),
                    None => "<unknown>".to_string(),
                };
                format!(
                    "{current}/{}",
                    quantity(at(spec, &["pods"]), &["target", "averageValue"])
                )
            }
            ty @ ("Resource" | "ContainerResource") => {
                let key = if ty == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let src = at(spec, &[key]);
                let name = src.map_or("", |s| str_or_empty(s, &["name"]));
                let current_src = status_of(key);
                if src
                    .and_then(|s| at(s, &["target", "averageValue"]))
                    .is_some()
                {
                    let current = match current_src {
                        Some(_) => quantity(current_src, &["current", "averageValue"]),
                        None => "<unknown>".to_string(),
                    };
                    format!(
                        "{name}: {current}/{}",
                        quantity(src, &["target", "averageValue"])
                    )
                } else {
                    let current = current_src
                        .and_then(|s| int_at(s, &["current", "averageUtilization"]))
                        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                    let target = src
                        .and_then(|s| int_at(s, &["target", "averageUtilization"]))
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Networking
// ---------------------------------------------------------------------------------------------

/// `loadBalancerStatusStringer` (wide, as the server renders): the sorted, de-duplicated IPs
/// or hostnames of the load-balancer ingress points.
fn load_balancer_addresses(obj: &Value) -> String {
    let mut result: Vec<&str> = arr_at(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|ing| {
            let ip = str_or_empty(ing, &["ip"]);
            let host = str_or_empty(ing, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    result.sort_unstable();
    result.dedup();
    result.join(",")
}

fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The API server defaults spec.type to ClusterIP.
    let svc_type = str_at(svc, &["spec", "type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP");
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| str_at(svc, &["spec", "clusterIP"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let external_ips: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_addresses(svc);
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external_ips.iter().copied());
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_or_empty(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]).unwrap_or(0);
            let protocol = str_at(p, &["protocol"])
                .filter(|s| !s.is_empty())
                .unwrap_or("TCP");
            match int_at(p, &["nodePort"]).filter(|n| *n > 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name_cell(svc),
        json!(svc_type),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        age(svc, now),
        json!(format_labels(at(svc, &["spec", "selector"]))),
    ]
}

/// `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `formatEndpoints` for all ports: at most three `ip:port` entries, then `+ N more...`.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count: usize = 0;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for addr in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_or_empty(addr, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            let port = int_at(port, &["port"]).unwrap_or(0);
            count += addresses.len();
            for addr in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_or_empty(addr, &["ip"]), port));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count.saturating_sub(MAX))
    } else {
        ret
    }
}

/// `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

fn endpointslice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    const MAX: usize = 3;
    let mut ports: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for port in arr_at(obj, &["ports"]) {
        if ports.len() < MAX {
            let text = match int_at(port, &["port"]) {
                Some(p) => p.to_string(),
                None => str_at(port, &["name"]).unwrap_or("*").to_string(),
            };
            ports.push(text);
        } else if ports.len() == MAX {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(&ports, more, count, MAX);

    let mut endpoints: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ep in arr_at(obj, &["endpoints"]) {
        for addr in arr_at(ep, &["addresses"]) {
            if endpoints.len() < MAX {
                endpoints.push(addr.as_str().unwrap_or("").to_string());
            } else if endpoints.len() == MAX {
                more = true;
            }
            count += 1;
        }
    }
    let endpoints = list_with_more(&endpoints, more, count, MAX);
    vec![
        name_cell(obj),
        json!(str_or_empty(obj, &["addressType"])),
        json!(ports),
        json!(endpoints),
        age(obj, now),
    ]
}

fn ingress_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let class = str_at(obj, &["spec", "ingressClassName"]).unwrap_or("<none>");
    const MAX: usize = 3;
    let rules = arr_at(obj, &["spec", "rules"]);
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = str_or_empty(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name_cell(obj),
        json!(class),
        json!(hosts),
        json!(load_balancer_addresses(obj)),
        json!(ports),
        age(obj, now),
    ]
}

fn ingressclass_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match at(obj, &["spec", "parameters"]) {
        Some(p) => {
            let mut s = str_or_empty(p, &["kind"]).to_string();
            if let Some(group) = str_at(p, &["apiGroup"]) {
                s = format!("{s}.{group}");
            }
            format!("{s}/{}", str_or_empty(p, &["name"]))
        }
        None => "<none>".to_string(),
    };
    vec![
        name_cell(obj),
        json!(str_or_empty(obj, &["spec", "controller"])),
        json!(parameters),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// Cluster and configuration objects
// ---------------------------------------------------------------------------------------------

fn node_address(node: &Value, ty: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == Some(ty))
        .map_or_else(
            || "<none>".to_string(),
            |a| str_or_empty(a, &["address"]).to_string(),
        )
}

fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == Some("Ready"))
    {
        status.push(if str_at(ready, &["status"]) == Some("True") {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = Vec::new();
    if let Some(Value::Object(labels)) = at(node, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role);
                }
            } else if k == "kubernetes.io/role"
                && let Some(role) = v.as_str().filter(|r| !r.is_empty())
            {
                roles.push(role);
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = |field: &str| {
        Some(str_or_empty(node, &["status", "nodeInfo", field]))
            .filter(|s| !s.is_empty())
            .unwrap_or("<unknown>")
            .to_string()
    };
    vec![
        name_cell(node),
        json!(status.join(",")),
        json!(roles),
        age(node, now),
        json!(str_or_empty(
            node,
            &["status", "nodeInfo", "kubeletVersion"]
        )),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn namespace_cells(ns: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The API server sets status.phase (Active, or Terminating once deletion started).
    let phase = str_at(ns, &["status", "phase"])
        .filter(|p| !p.is_empty())
        .unwrap_or(if at(ns, &["metadata", "deletionTimestamp"]).is_some() {
            "Terminating"
        } else {
            "Active"
        });
    vec![name_cell(ns), json!(phase), age(ns, now)]
}

/// `helper.GetAccessModesAsString`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    let mut out: Vec<&str> = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

fn pvc_cells(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if at(pvc, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else {
        // Defaulted to Pending by the API server.
        str_at(pvc, &["status", "phase"])
            .filter(|p| !p.is_empty())
            .unwrap_or("Pending")
    };
    let volume = str_or_empty(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            match at(pvc, &["status", "capacity", "storage"]) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "0".to_string(),
            },
            access_modes(arr_at(pvc, &["status", "accessModes"])),
        )
    };
    let class = str_at(
        pvc,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .or_else(|| str_at(pvc, &["spec", "storageClassName"]))
    .unwrap_or("");
    vec![
        name_cell(pvc),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class),
        json!(str_at(pvc, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(pvc, now),
        json!(str_at(pvc, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
}

fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first_seen = match time_at(ev, &["firstTimestamp"]) {
        Some(t) => age_since(Some(t), now),
        None => age_since(time_at(ev, &["eventTime"]), now),
    };
    let mut last_seen = match time_at(ev, &["lastTimestamp"]) {
        Some(t) => age_since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int_at(ev, &["count"]).unwrap_or(0);
    if let Some(series) = at(ev, &["series"]) {
        last_seen = age_since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_or_empty(ev, &["involvedObject", "kind"]).to_lowercase();
    let involved_name = str_or_empty(ev, &["involvedObject", "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let first_non_empty = |a: &'_ str, b: &'_ str| -> String {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        str_or_empty(ev, &["source", "component"]),
        str_or_empty(ev, &["reportingComponent"]),
    );
    let instance = first_non_empty(
        str_or_empty(ev, &["source", "host"]),
        str_or_empty(ev, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_seen),
        json!(str_or_empty(ev, &["type"])),
        json!(str_or_empty(ev, &["reason"])),
        json!(target),
        json!(str_or_empty(ev, &["involvedObject", "fieldPath"])),
        json!(source),
        json!(str_or_empty(ev, &["message"]).trim()),
        json!(first_seen),
        json!(count),
        name_cell(ev),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{RESOURCES, by_kind};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-10T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn ago(secs: i64) -> String {
        (now() - TimeDelta::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn rt(api_version: &str, kind: &str) -> &'static ResourceType {
        by_kind(api_version, kind).expect("registered kind")
    }

    fn cells(api_version: &str, kind: &str, obj: &Value) -> Value {
        let t = table(
            rt(api_version, kind),
            &[obj],
            "7",
            IncludeObject::None,
            now(),
        );
        t["rows"][0]["cells"].clone()
    }

    fn names(api_version: &str, kind: &str) -> Vec<(String, i64)> {
        columns(rt(api_version, kind))
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["priority"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        let cases: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (51 * 3600, "2d3h"),
            (8 * 24 * 3600, "8d"),
            (729 * 24 * 3600, "729d"),
            (730 * 24 * 3600, "2y"),
            (740 * 24 * 3600, "2y10d"),
            (8 * 365 * 24 * 3600, "8y"),
            (20 * 365 * 24 * 3600, "20y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(TimeDelta::seconds(*secs)), *want, "{secs}s");
        }
        // Sub-second negatives truncate toward zero like Go's int(d.Seconds()).
        assert_eq!(human_duration(TimeDelta::milliseconds(-1999)), "0s");
        assert_eq!(human_duration(TimeDelta::milliseconds(-2500)), "<invalid>");
    }

    #[test]
    fn human_age_handles_bad_input() {
        assert_eq!(human_age(&ago(200), now()), "3m20s");
        assert_eq!(human_age("", now()), "<unknown>");
        assert_eq!(human_age("yesterday", now()), "<unknown>");
        assert_eq!(human_age("0001-01-01T00:00:00Z", now()), "<unknown>");
        assert_eq!(human_age("2025-01-10T11:59:50.123456Z", now()), "9s");
    }

    #[test]
    fn include_object_parsing() {
        assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(Some("")), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(Some("None")), IncludeObject::None);
        assert_eq!(IncludeObject::parse(Some("Object")), IncludeObject::Object);
        assert_eq!(IncludeObject::parse(Some("bogus")), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::try_parse(Some("bogus")),
            Err(TableError::UnrecognizedIncludeObject("bogus".into()))
        );
        assert_eq!(
            TableError::UnrecognizedIncludeObject("x".into()).to_string(),
            "unrecognized includeObject value: \"x\""
        );
    }

    #[test]
    fn table_envelope_and_row_objects() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                         "creationTimestamp": ago(30)},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Pending"}
        });
        let rt = rt("v1", "Pod");
        let t = table(rt, &[&pod], "42", IncludeObject::Metadata, now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
        assert_eq!(t["columnDefinitions"], columns(rt));
        let object = &t["rows"][0]["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"], pod["metadata"]);
        assert!(t["rows"][0].get("conditions").is_none());

        let t = table(rt, &[&pod], "", IncludeObject::Object, now());
        assert_eq!(t["rows"][0]["object"], pod);
        assert_eq!(t["metadata"], json!({}));
        let t = table(rt, &[&pod], "1", IncludeObject::None, now());
        assert!(t["rows"][0].get("object").is_none());
        let t = table(rt, &[], "1", IncludeObject::None, now());
        assert_eq!(t["rows"], json!([]));
        assert_eq!(
            row(rt, &pod, IncludeObject::None, now()),
            json!({"cells": cells("v1", "Pod", &pod)})
        );
    }

    /// (apiVersion, kind, [(column, priority)]).
    type ColumnSpec = (&'static str, &'static str, &'static [(&'static str, i64)]);

    #[test]
    fn column_sets_match_the_printers() {
        let want: &[ColumnSpec] = &[
            (
                "v1",
                "Pod",
                &[
                    ("Name", 0),
                    ("Ready", 0),
                    ("Status", 0),
                    ("Restarts", 0),
                    ("Age", 0),
                    ("IP", 1),
                    ("Node", 1),
                    ("Nominated Node", 1),
                    ("Readiness Gates", 1),
                ],
            ),
            (
                "apps/v1",
                "Deployment",
                &[
                    ("Name", 0),
                    ("Ready", 0),
                    ("Up-to-date", 0),
                    ("Available", 0),
                    ("Age", 0),
                    ("Containers", 1),
                    ("Images", 1),
                    ("Selector", 1),
                ],
            ),
            (
                "apps/v1",
                "ReplicaSet",
                &[
                    ("Name", 0),
                    ("Desired", 0),
                    ("Current", 0),
                    ("Ready", 0),
                    ("Age", 0),
                    ("Containers", 1),
                    ("Images", 1),
                    ("Selector", 1),
                ],
            ),
            (
                "apps/v1",
                "StatefulSet",
                &[
                    ("Name", 0),
                    ("Ready", 0),
                    ("Age", 0),
                    ("Containers", 1),
                    ("Images", 1),
                ],
            ),
            (
                "v1",
                "Service",
                &[
                    ("Name", 0),
                    ("Type", 0),
                    ("Cluster-IP", 0),
                    ("External-IP", 0),
                    ("Port(s)", 0),
                    ("Age", 0),
                    ("Selector", 1),
                ],
            ),
            (
                "v1",
                "Endpoints",
                &[("Name", 0), ("Endpoints", 0), ("Age", 0)],
            ),
            (
                "discovery.k8s.io/v1",
                "EndpointSlice",
                &[
                    ("Name", 0),
                    ("AddressType", 0),
                    ("Ports", 0),
                    ("Endpoints", 0),
                    ("Age", 0),
                ],
            ),
            (
                "networking.k8s.io/v1",
                "Ingress",
                &[
                    ("Name", 0),
                    ("Class", 0),
                    ("Hosts", 0),
                    ("Address", 0),
                    ("Ports", 0),
                    ("Age", 0),
                ],
            ),
            (
                "networking.k8s.io/v1",
                "IngressClass",
                &[
                    ("Name", 0),
                    ("Controller", 0),
                    ("Parameters", 0),
                    ("Age", 0),
                ],
            ),
            (
                "v1",
                "Node",
                &[
                    ("Name", 0),
                    ("Status", 0),
                    ("Roles", 0),
                    ("Age", 0),
                    ("Version", 0),
                    ("Internal-IP", 1),
                    ("External-IP", 1),
                    ("OS-Image", 1),
                    ("Kernel-Version", 1),
                    ("Container-Runtime", 1),
                ],
            ),
            ("v1", "Namespace", &[("Name", 0), ("Status", 0), ("Age", 0)]),
            ("v1", "ConfigMap", &[("Name", 0), ("Data", 0), ("Age", 0)]),
            (
                "v1",
                "Secret",
                &[("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)],
            ),
            (
                "v1",
                "ServiceAccount",
                &[("Name", 0), ("Secrets", 0), ("Age", 0)],
            ),
            (
                "v1",
                "Event",
                &[
                    ("Last Seen", 0),
                    ("Type", 0),
                    ("Reason", 0),
                    ("Object", 0),
                    ("Subobject", 1),
                    ("Source", 1),
                    ("Message", 0),
                    ("First Seen", 1),
                    ("Count", 1),
                    ("Name", 1),
                ],
            ),
            (
                "v1",
                "PersistentVolumeClaim",
                &[
                    ("Name", 0),
                    ("Status", 0),
                    ("Volume", 0),
                    ("Capacity", 0),
                    ("Access Modes", 0),
                    ("StorageClass", 0),
                    ("VolumeAttributesClass", 0),
                    ("Age", 0),
                    ("VolumeMode", 1),
                ],
            ),
            (
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                &[
                    ("Name", 0),
                    ("Reference", 0),
                    ("Targets", 0),
                    ("MinPods", 0),
                    ("MaxPods", 0),
                    ("Replicas", 0),
                    ("Age", 0),
                ],
            ),
            (
                "coordination.k8s.io/v1",
                "Lease",
                &[("Name", 0), ("Holder", 0), ("Age", 0)],
            ),
            (
                "gateway.networking.k8s.io/v1",
                "HTTPRoute",
                &[("Name", 0), ("Hostnames", 0), ("Age", 0)],
            ),
            (
                "gateway.networking.k8s.io/v1",
                "Gateway",
                &[
                    ("Name", 0),
                    ("Class", 0),
                    ("Address", 0),
                    ("Programmed", 0),
                    ("Age", 0),
                ],
            ),
        ];
        for (api_version, kind, cols) in want {
            let got = names(api_version, kind);
            let want: Vec<(String, i64)> = cols.iter().map(|(n, p)| (n.to_string(), *p)).collect();
            assert_eq!(got, want, "{kind}");
        }
        // Every registered type has a table, and its name column is marked as such.
        for r in RESOURCES {
            let cols = columns(r);
            let cols = cols.as_array().expect("columns");
            assert!(cols.iter().any(|c| c["format"] == "name"), "{}", r.kind);
            for c in cols {
                for key in ["name", "type", "format", "description", "priority"] {
                    assert!(c.get(key).is_some(), "{} lacks {key}", r.kind);
                }
            }
        }
        let restarts = &columns(rt("v1", "Pod"))[3];
        assert_eq!(restarts["type"], "string");
        assert_eq!(columns(rt("apps/v1", "ReplicaSet"))[1]["type"], "integer");
    }

    #[test]
    fn default_table_is_name_and_age() {
        let custom = ResourceType {
            group: "example.com",
            version: "v1",
            kind: "Widget",
            plural: "widgets",
            singular: "widget",
            namespaced: true,
            short_names: &[],
            categories: &[],
            has_status: false,
            has_scale: false,
            builtin: false,
        };
        let cols = columns(&custom);
        assert_eq!(cols[0]["name"], "Name");
        assert_eq!(cols[1]["name"], "Age");
        assert_eq!(cols[1]["type"], "date");
        let w = json!({"metadata": {"name": "w1", "creationTimestamp": ago(3600)}});
        let t = table(&custom, &[&w], "", IncludeObject::None, now());
        assert_eq!(t["rows"][0]["cells"], json!(["w1", "60m"]));
        let bad = json!({"metadata": {"name": "w2", "creationTimestamp": "nope"}});
        let missing = json!({"metadata": {"name": "w3"}});
        let t = table(&custom, &[&bad, &missing], "", IncludeObject::None, now());
        assert_eq!(t["rows"][0]["cells"], json!(["w2", "<invalid>"]));
        assert_eq!(t["rows"][1]["cells"], json!(["w3", null]));
    }

    fn container_status(name: &str, state: Value, ready: bool, restarts: i64) -> Value {
        json!({"name": name, "state": state, "ready": ready, "restartCount": restarts})
    }

    fn pod_with(statuses: Vec<Value>, extra_status: Value) -> Value {
        let mut status = json!({"phase": "Running", "containerStatuses": statuses});
        if let (Some(s), Value::Object(extra)) = (status.as_object_mut(), extra_status) {
            s.extend(extra);
        }
        json!({
            "metadata": {"name": "p", "creationTimestamp": ago(600)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
            "status": status,
        })
    }

    #[test]
    fn pod_running_and_wide_cells() {
        let pod = pod_with(
            vec![
                container_status("a", json!({"running": {}}), true, 0),
                container_status("b", json!({"running": {}}), true, 0),
            ],
            json!({"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}),
        );
        assert_eq!(
            cells("v1", "Pod", &pod),
            json!([
                "p", "2/2", "Running", "0", "10m", "10.0.0.5", "node-1", "<none>", "<none>"
            ])
        );
    }

    #[test]
    fn pod_waiting_reasons_and_restarts() {
        let pod = pod_with(
            vec![
                json!({"name": "a", "ready": false, "restartCount": 3,
                       "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                       "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(10)}}}),
                container_status("b", json!({"running": {}}), true, 0),
            ],
            json!({}),
        );
        let c = cells("v1", "Pod", &pod);
        assert_eq!(c[1], "1/2");
        assert_eq!(c[2], "CrashLoopBackOff");
        assert_eq!(c[3], "3 (10s ago)");
        assert_eq!(c[5], "<none>");

        // Restart count without a known finish time.
        let pod = pod_with(
            vec![container_status(
                "a",
                json!({"waiting": {"reason": "ImagePullBackOff"}}),
                false,
                2,
            )],
            json!({}),
        );
        let c = cells("v1", "Pod", &pod);
        assert_eq!(c[2], "ImagePullBackOff");
        assert_eq!(c[3], "2");

        // The first container's reason wins (statuses are walked backwards).
        let pod = pod_with(
            vec![
                container_status(
                    "a",
                    json!({"waiting": {"reason": "ErrImagePull"}}),
                    false,
                    0,
                ),
                container_status(
                    "b",
                    json!({"waiting": {"reason": "ContainerCreating"}}),
                    false,
                    0,
                ),
            ],
            json!({"phase": "Pending"}),
        );
        assert_eq!(cells("v1", "Pod", &pod)[2], "ErrImagePull");
    }

    #[test]
    fn pod_terminated_states() {
        let pod = pod_with(
            vec![
                container_status(
                    "a",
                    json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                    false,
                    0,
                ),
                container_status(
                    "b",
                    json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                    false,
                    0,
                ),
            ],
            json!({"phase": "Succeeded"}),
        );
        let t = table(rt("v1", "Pod"), &[&pod], "", IncludeObject::None, now());
        assert_eq!(t["rows"][0]["cells"][1], "0/2");
        assert_eq!(t["rows"][0]["cells"][2], "Completed");
        assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");

        let pod = pod_with(
            vec![container_status(
                "a",
                json!({"terminated": {"exitCode": 137, "signal": 9}}),
                false,
                0,
            )],
            json!({"phase": "Failed"}),
        );
        assert_eq!(cells("v1", "Pod", &pod)[2], "Signal:9");
        let pod = pod_with(
            vec![container_status(
                "a",
                json!({"terminated": {"exitCode": 2}}),
                false,
                0,
            )],
            json!({"phase": "Failed"}),
        );
        assert_eq!(cells("v1", "Pod", &pod)[2], "ExitCode:2");

        // A completed sidecar next to a running, ready container: Running / NotReady.
        let statuses = vec![
            container_status(
                "a",
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                false,
                0,
            ),
            container_status("b", json!({"running": {}}), true, 0),
        ];
        let ready = pod_with(
            statuses.clone(),
            json!({"conditions": [{"type": "Ready", "status": "True"}]}),
        );
        assert_eq!(cells("v1", "Pod", &ready)[2], "Running");
        let not_ready = pod_with(statuses, json!({}));
        assert_eq!(cells("v1", "Pod", &not_ready)[2], "NotReady");
    }

    #[test]
    fn pod_terminating_and_node_lost() {
        let mut pod = pod_with(
            vec![container_status("a", json!({"running": {}}), true, 0)],
            json!({}),
        );
        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells("v1", "Pod", &pod)[2], "Terminating");
        pod["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells("v1", "Pod", &pod)[2], "Unknown");
        let mut done = pod_with(vec![], json!({"phase": "Succeeded"}));
        done["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells("v1", "Pod", &done)[2], "Succeeded");
    }

    #[test]
    fn pod_init_containers() {
        let base = |init_statuses: Value, conditions: Value| {
            json!({
                "metadata": {"name": "p", "creationTimestamp": ago(5)},
                "spec": {
                    "initContainers": [{"name": "i1"}, {"name": "i2"}],
                    "containers": [{"name": "a"}]
                },
                "status": {
                    "phase": "Pending",
                    "conditions": conditions,
                    "initContainerStatuses": init_statuses,
                    "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}, "ready": false, "restartCount": 0}]
                }
            })
        };
        let running = base(
            json!([
                {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "restartCount": 0},
                {"name": "i2", "state": {"running": {}}, "restartCount": 1}
            ]),
            json!([]),
        );
        let c = cells("v1", "Pod", &running);
        assert_eq!(c[1], "0/1");
        assert_eq!(c[2], "Init:1/2");
        assert_eq!(c[3], "1");

        let crash = base(
            json!([{"name": "i1", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4}]),
            json!([]),
        );
        assert_eq!(cells("v1", "Pod", &crash)[2], "Init:CrashLoopBackOff");
        let failed = base(
            json!([{"name": "i1", "state": {"terminated": {"exitCode": 3}}, "restartCount": 0}]),
            json!([]),
        );
        assert_eq!(cells("v1", "Pod", &failed)[2], "Init:ExitCode:3");
        let failed = base(
            json!([{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}, "restartCount": 0}]),
            json!([]),
        );
        assert_eq!(cells("v1", "Pod", &failed)[2], "Init:Error");
        let waiting = base(
            json!([{"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}, "restartCount": 0}]),
            json!([]),
        );
        assert_eq!(cells("v1", "Pod", &waiting)[2], "Init:0/2");
        // All init containers done: the main containers decide.
        let done = base(
            json!([
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}, "restartCount": 0},
                {"name": "i2", "state": {"terminated": {"exitCode": 0}}, "restartCount": 0}
            ]),
            json!([]),
        );
        assert_eq!(cells("v1", "Pod", &done)[2], "PodInitializing");
    }

    #[test]
    fn pod_sidecar_counts_and_gates() {
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": ago(5)},
            "spec": {
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "a"}],
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/x"}]
            },
            "status": {
                "phase": "Running",
                "nominatedNodeName": "n2",
                "conditions": [{"type": "Initialized", "status": "True"},
                               {"type": "example.com/lb", "status": "True"},
                               {"type": "example.com/x", "status": "False"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                    "state": {"running": {}}, "restartCount": 2,
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(65)}}}],
                "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}, "restartCount": 0}]
            }
        });
        let c = cells("v1", "Pod", &pod);
        assert_eq!(c[1], "2/2");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "2 (65s ago)");
        assert_eq!(c[7], "n2");
        assert_eq!(c[8], "1/2");
    }

    #[test]
    fn pod_scheduling_gated() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
        });
        let c = cells("v1", "Pod", &pod);
        assert_eq!(c[2], "SchedulingGated");
        assert_eq!(c[4], "<unknown>");
    }

    #[test]
    fn deployment_replicaset_statefulset() {
        let template = json!({"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}});
        let dep = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(3600 * 50)},
            "spec": {"replicas": 3, "template": template,
                     "selector": {"matchLabels": {"app": "web", "tier": "fe"},
                                  "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "canary"]},
                                                       {"key": "zz", "operator": "DoesNotExist"}]}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            cells("apps/v1", "Deployment", &dep),
            json!([
                "web",
                "2/3",
                3,
                2,
                "2d2h",
                "web,log",
                "nginx:1,busybox",
                "app=web,env in (canary,prod),tier=fe,!zz"
            ])
        );
        let empty = json!({"metadata": {"name": "e"}, "spec": {}});
        assert_eq!(
            cells("apps/v1", "Deployment", &empty),
            json!(["e", "0/1", 0, 0, "<unknown>", "", "", ""])
        );
        let bad = json!({"metadata": {"name": "b"}, "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Foo"}]}}});
        assert_eq!(cells("apps/v1", "Deployment", &bad)[7], "<invalid>");

        let rs = json!({
            "metadata": {"name": "web-abc"},
            "spec": {"replicas": 2, "template": template, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        });
        assert_eq!(
            cells("apps/v1", "ReplicaSet", &rs),
            json!([
                "web-abc",
                2,
                2,
                1,
                "<unknown>",
                "web,log",
                "nginx:1,busybox",
                "app=web"
            ])
        );
        let rs_no_selector =
            json!({"metadata": {"name": "x"}, "spec": {"replicas": 0, "selector": {}}});
        assert_eq!(cells("apps/v1", "ReplicaSet", &rs_no_selector)[7], "<none>");
        let rs_bad = json!({"metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"bad key": "v"}}}});
        assert_eq!(cells("apps/v1", "ReplicaSet", &rs_bad)[7], "<error>");

        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "template": template}, "status": {"readyReplicas": 3}});
        assert_eq!(
            cells("apps/v1", "StatefulSet", &sts),
            json!(["db", "3/3", "<unknown>", "web,log", "nginx:1,busybox"])
        );
    }

    #[test]
    fn services() {
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(90)},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                     "selector": {"app": "web", "a.b": "c"}}
        });
        assert_eq!(
            cells("v1", "Service", &svc),
            json!([
                "web",
                "NodePort",
                "10.96.0.10",
                "<none>",
                "80:30080/TCP,53/UDP",
                "90s",
                "a.b=c,app=web"
            ])
        );
        let lb = json!({
            "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 443}]},
            "status": {"loadBalancer": {}}
        });
        let c = cells("v1", "Service", &lb);
        assert_eq!(c[3], "<pending>");
        assert_eq!(c[4], "443/TCP");
        assert_eq!(c[6], "<none>");
        let lb_ready = json!({
            "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "externalIPs": ["5.5.5.5"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "2.2.2.2"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}]}}
        });
        let c = cells("v1", "Service", &lb_ready);
        assert_eq!(c[2], "<none>");
        assert_eq!(c[3], "1.1.1.1,2.2.2.2,lb.example.com,5.5.5.5");
        assert_eq!(c[4], "<none>");
        let ext = json!({"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        assert_eq!(cells("v1", "Service", &ext)[3], "db.example.com");
        let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "externalIPs": ["3.3.3.3"]}});
        let c = cells("v1", "Service", &headless);
        assert_eq!(c[1], "ClusterIP");
        assert_eq!(c[2], "None");
        assert_eq!(c[3], "3.3.3.3");
    }

    #[test]
    fn endpoints_and_slices() {
        let ep = json!({
            "metadata": {"name": "web"},
            "subsets": [
                {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
                {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}
            ]
        });
        assert_eq!(
            cells("v1", "Endpoints", &ep)[1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more..."
        );
        let small = json!({"metadata": {"name": "s"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
        assert_eq!(cells("v1", "Endpoints", &small)[1], "[fd00::1]:80");
        let headless =
            json!({"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]});
        assert_eq!(cells("v1", "Endpoints", &headless)[1], "10.0.0.9");
        let none = json!({"metadata": {"name": "n"}});
        assert_eq!(cells("v1", "Endpoints", &none)[1], "<none>");
        let not_ready = json!({"metadata": {"name": "n"}, "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.3"}], "ports": [{"port": 80}]}]});
        assert_eq!(cells("v1", "Endpoints", &not_ready)[1], "");

        let slice = json!({
            "metadata": {"name": "web-abc", "creationTimestamp": ago(60)},
            "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}, {"name": "named"}, {}, {"port": 9}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}]
        });
        assert_eq!(
            cells("discovery.k8s.io/v1", "EndpointSlice", &slice),
            json!([
                "web-abc",
                "IPv4",
                "80,named,* + 1 more...",
                "10.0.0.1,10.0.0.2,10.0.0.3",
                "60s"
            ])
        );
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
        assert_eq!(
            cells("discovery.k8s.io/v1", "EndpointSlice", &empty),
            json!(["e", "IPv4", "<unset>", "<unset>", "<unknown>"])
        );
    }

    #[test]
    fn ingresses_and_classes() {
        let ing = json!({
            "metadata": {"name": "web"},
            "spec": {"ingressClassName": "nginx",
                     "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"}],
                     "tls": [{"hosts": ["a.example.com"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}, {"ip": "192.168.1.9"}]}}
        });
        assert_eq!(
            cells("networking.k8s.io/v1", "Ingress", &ing),
            json!([
                "web",
                "nginx",
                "a.example.com,b.example.com,c.example.com + 2 more...",
                "192.168.1.10,192.168.1.9",
                "80, 443",
                "<unknown>"
            ])
        );
        let plain = json!({"metadata": {"name": "p"}, "spec": {"rules": [{}]}});
        assert_eq!(
            cells("networking.k8s.io/v1", "Ingress", &plain),
            json!(["p", "<none>", "*", "", "80", "<unknown>"])
        );
        let class = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        assert_eq!(
            cells("networking.k8s.io/v1", "IngressClass", &class),
            json!([
                "nginx",
                "k8s.io/ingress-nginx",
                "IngressParameters.k8s.example.com/external-lb",
                "<unknown>"
            ])
        );
        let bare = json!({"metadata": {"name": "c"}, "spec": {"controller": "x"}});
        assert_eq!(
            cells("networking.k8s.io/v1", "IngressClass", &bare)[2],
            "<none>"
        );
    }

    #[test]
    fn nodes_and_namespaces() {
        let node = json!({
            "metadata": {"name": "n1", "creationTimestamp": ago(86400 * 3),
                         "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge",
                                    "node-role.kubernetes.io/": "x"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "n1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": ""}}
        });
        assert_eq!(
            cells("v1", "Node", &node),
            json!([
                "n1",
                "Ready,SchedulingDisabled",
                "control-plane,edge",
                "3d",
                "v1.32.0",
                "172.18.0.2",
                "<none>",
                "Debian",
                "6.1",
                "<unknown>"
            ])
        );
        let bare = json!({"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        let c = cells("v1", "Node", &bare);
        assert_eq!(c[1], "NotReady");
        assert_eq!(c[2], "<none>");
        let nothing = json!({"metadata": {"name": "n3"}});
        assert_eq!(cells("v1", "Node", &nothing)[1], "Unknown");

        let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(5)}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("v1", "Namespace", &ns),
            json!(["default", "Active", "5s"])
        );
        let deleting = json!({"metadata": {"name": "x", "deletionTimestamp": ago(1)}});
        assert_eq!(cells("v1", "Namespace", &deleting)[1], "Terminating");
    }

    #[test]
    fn config_objects() {
        let cm = json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            cells("v1", "ConfigMap", &cm),
            json!(["cfg", 3, "<unknown>"])
        );
        let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            cells("v1", "Secret", &secret),
            json!(["s", "kubernetes.io/tls", 2, "<unknown>"])
        );
        let opaque = json!({"metadata": {"name": "o"}});
        assert_eq!(
            cells("v1", "Secret", &opaque),
            json!(["o", "Opaque", 0, "<unknown>"])
        );
        let sa = json!({"metadata": {"name": "default"}, "secrets": [{"name": "t"}]});
        assert_eq!(
            cells("v1", "ServiceAccount", &sa),
            json!(["default", 1, "<unknown>"])
        );
        let lease = json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-1"}});
        assert_eq!(
            cells("coordination.k8s.io/v1", "Lease", &lease),
            json!(["leader", "pod-1", "<unknown>"])
        );
        let free = json!({"metadata": {"name": "free"}, "spec": {}});
        assert_eq!(cells("coordination.k8s.io/v1", "Lease", &free)[1], "");
    }

    #[test]
    fn persistent_volume_claims() {
        let bound = json!({
            "metadata": {"name": "data", "creationTimestamp": ago(30)},
            "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}
        });
        assert_eq!(
            cells("v1", "PersistentVolumeClaim", &bound),
            json!([
                "data",
                "Bound",
                "pv-1",
                "1Gi",
                "RWO,RWX",
                "standard",
                "<unset>",
                "30s",
                "Filesystem"
            ])
        );
        let pending = json!({
            "metadata": {"name": "p", "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
            "spec": {"storageClassName": "standard", "volumeAttributesClassName": "gold"}
        });
        assert_eq!(
            cells("v1", "PersistentVolumeClaim", &pending),
            json!([
                "p",
                "Pending",
                "",
                "",
                "",
                "legacy",
                "gold",
                "<unknown>",
                "<unset>"
            ])
        );
    }

    #[test]
    fn horizontal_pod_autoscalers() {
        let hpa = json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 10,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 20}}}]}
        });
        assert_eq!(
            cells("autoscaling/v2", "HorizontalPodAutoscaler", &hpa),
            json!([
                "web",
                "Deployment/web",
                "cpu: 20%/50%",
                "2",
                10,
                3,
                "<unknown>"
            ])
        );
        let unknown = json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                     "metrics": [
                         {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                         {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                         {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
                     ]}
        });
        assert_eq!(
            cells("autoscaling/v2", "HorizontalPodAutoscaler", &unknown),
            json!([
                "web",
                "Deployment/web",
                "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more...",
                "<unset>",
                5,
                0,
                "<unknown>"
            ])
        );
        let none = json!({"metadata": {"name": "n"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 1}});
        assert_eq!(
            cells("autoscaling/v2", "HorizontalPodAutoscaler", &none)[2],
            "<none>"
        );
        let mixed = json!({
            "metadata": {"name": "m"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 1,
                     "metrics": [
                         {"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
                         {"type": "Object", "object": {"metric": {"name": "rps"}, "target": {"type": "Value", "value": "2k"}}}
                     ]},
            "status": {"currentMetrics": [
                {"type": "External", "external": {"current": {"averageValue": "12"}}},
                {"type": "Object", "object": {"current": {"value": "1500"}}}
            ]}
        });
        assert_eq!(
            cells("autoscaling/v2", "HorizontalPodAutoscaler", &mixed)[2],
            "12/30 (avg), 1500/2k"
        );
        let container = json!({
            "metadata": {"name": "c"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 1,
                     "metrics": [{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"type": "Utilization"}}},
                                 {"type": "Bogus"}]}
        });
        assert_eq!(
            cells("autoscaling/v2", "HorizontalPodAutoscaler", &container)[2],
            "cpu: <unknown>/<auto>, <unknown type>"
        );
    }

    #[test]
    fn events() {
        let ev = json!({
            "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
            "reason": "BackOff", "type": "Warning", "message": "  Back-off restarting failed container\n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 12
        });
        assert_eq!(
            cells("v1", "Event", &ev),
            json!([
                "30s",
                "Warning",
                "BackOff",
                "pod/web-1",
                "spec.containers{web}",
                "kubelet, node-1",
                "Back-off restarting failed container",
                "10m",
                12,
                "web.17a"
            ])
        );
        let new_style = json!({
            "metadata": {"name": "e2"},
            "involvedObject": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "type": "Normal", "message": "Scaled up",
            "eventTime": "2025-01-10T11:59:00.000000Z", "reportingComponent": "deployment-controller",
            "series": {"count": 4, "lastObservedTime": "2025-01-10T11:59:55.000000Z"}
        });
        assert_eq!(
            cells("v1", "Event", &new_style),
            json!([
                "5s",
                "Normal",
                "ScalingReplicaSet",
                "deployment/web",
                "",
                "deployment-controller",
                "Scaled up",
                "60s",
                4,
                "e2"
            ])
        );
        let bare = json!({"metadata": {"name": "e3"}, "involvedObject": {"kind": "Node"}, "reportingInstance": "i"});
        assert_eq!(
            cells("v1", "Event", &bare),
            json!([
                "<unknown>",
                "",
                "",
                "node",
                "",
                ", i",
                "",
                "<unknown>",
                1,
                "e3"
            ])
        );
    }

    #[test]
    fn gateway_api_columns() {
        let route = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(120)},
            "spec": {"hostnames": ["app.example.com", "www.example.com"], "parentRefs": [{"name": "gw"}]}
        });
        assert_eq!(
            cells("gateway.networking.k8s.io/v1", "HTTPRoute", &route),
            json!(["web", "[\"app.example.com\",\"www.example.com\"]", "2m"])
        );
        let bare = json!({"metadata": {"name": "bare"}, "spec": {}});
        assert_eq!(
            cells("gateway.networking.k8s.io/v1", "HTTPRoute", &bare),
            json!(["bare", null, null])
        );
        let gw = json!({
            "metadata": {"name": "gw", "creationTimestamp": ago(7200)},
            "spec": {"gatewayClassName": "rollout"},
            "status": {"addresses": [{"type": "IPAddress", "value": "10.1.0.1"}, {"value": "10.1.0.2"}],
                       "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "False"}]}
        });
        assert_eq!(
            cells("gateway.networking.k8s.io/v1", "Gateway", &gw),
            json!(["gw", "rollout", "10.1.0.1", "False", "120m"])
        );
        let pending = json!({"metadata": {"name": "p"}, "spec": {"gatewayClassName": "c"}, "status": {"conditions": []}});
        assert_eq!(
            cells("gateway.networking.k8s.io/v1", "Gateway", &pending),
            json!(["p", "c", null, null, null])
        );
        let cols = columns(rt("gateway.networking.k8s.io/v1", "Gateway"));
        assert_eq!(
            cols[3]["description"],
            "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Programmed\")].status"
        );
        assert_eq!(cols[4]["type"], "date");
    }

    #[test]
    fn every_registered_type_renders_without_panicking() {
        let junk = [
            json!({}),
            json!({"metadata": null, "spec": "x", "status": [1, 2]}),
            json!({"metadata": {"name": 5}, "spec": {"containers": "no", "selector": 3}, "status": {"containerStatuses": [null, 4]}}),
        ];
        for r in RESOURCES {
            for obj in &junk {
                let t = table(r, &[obj], "1", IncludeObject::Metadata, now());
                let ncols = t["columnDefinitions"].as_array().map_or(0, Vec::len);
                let ncells = t["rows"][0]["cells"].as_array().map_or(0, Vec::len);
                assert_eq!(ncols, ncells, "{}", r.kind);
            }
        }
    }
}
