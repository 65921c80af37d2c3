//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to the
//! JSON form the rest of the server stores.
//!
//! kubectl's typed commands (`kubectl create deployment|configmap|secret|namespace|service|job|
//! role|…`, `kubectl autoscale`, `kubectl create token`, `kubectl auth can-i`) send their POST
//! body as the magic `k8s\0` followed by a `runtime.Unknown` message: `typeMeta` (apiVersion,
//! kind), `raw` (the object's own protobuf bytes), `contentEncoding` and `contentType`. They
//! accept JSON in the answer (`Accept: application/vnd.kubernetes.protobuf,application/json`; the
//! reply is decoded by its Content-Type), so only decoding is needed. kubectl 1.32's `run`,
//! `expose`, `create -f`, `apply`, `scale`, `delete` and patches send JSON.
//!
//! How an object becomes JSON: `k8s-pb` has the prost-generated message for every kind, but no
//! serde, no file descriptors and no conversion to `k8s-openapi`; prost offers no reflection
//! besides the `Debug` it derives for every message, which prints the whole message losslessly
//! (`Name { field: Some(..), list: [..], map: {..} }`, strings escaped, bytes as numbers). So the
//! message is decoded with its `k8s-pb` type, its `Debug` text parsed back into a tree, and that
//! tree deserialized, through a small serde `Deserializer`, into the matching `k8s-openapi` type,
//! which serializes to exactly the Kubernetes JSON: the JSON field names (each struct's proto
//! field is matched to the `k8s-openapi` field of the same name, ignoring case and underscores),
//! int-or-string, quantities as strings, `Time` as RFC 3339, bytes as base64. This stays generic
//! over every kind listed in [`KINDS`] for a few hundred lines, where a converter per message
//! would be thousands and silently miss fields.
//!
//! Go writes every non-pointer field (`""`, `0`, `false`, empty structs) into protobuf, where
//! its JSON would omit the omitempty ones; the conversion therefore drops empty strings, zero
//! numbers and `false` except for the pointer fields in [`KEEP_ZERO`], where an explicit zero
//! means something (`replicas: 0`, `runAsUser: 0`, `automountServiceAccountToken: false`), and a
//! zero `Time` (how Go sends an unset `creationTimestamp`, which its JSON writes as null). Fields
//! that `k8s-openapi` does not know (newer than the Kubernetes version it is built for) are
//! dropped, since their JSON names cannot be known.

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde::Serialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::Value;
use std::borrow::Cow;

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Whether a body is Kubernetes protobuf (starts with the `k8s\0` magic).
pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("not a Kubernetes protobuf body: it does not start with the k8s\\0 magic")]
    NotProtobuf,
    #[error("cannot decode the runtime.Unknown envelope: {0}")]
    Envelope(prost::DecodeError),
    #[error("the runtime.Unknown envelope has no typeMeta apiVersion and kind")]
    MissingTypeMeta,
    #[error("unsupported contentEncoding {0:?} in the runtime.Unknown envelope")]
    UnsupportedEncoding(String),
    #[error("unsupported contentType {0:?} in the runtime.Unknown envelope")]
    UnsupportedContentType(String),
    #[error("no protobuf decoding for {api_version} {kind}; send it as JSON")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("cannot decode {api_version} {kind} from protobuf: {source}")]
    Object {
        api_version: String,
        kind: String,
        source: prost::DecodeError,
    },
    #[error("cannot convert {api_version} {kind} to JSON: {reason}")]
    Convert {
        api_version: String,
        kind: String,
        reason: String,
    },
}

impl ProtobufError {
    /// Whether the body was well-formed but names a kind this module does not decode (an HTTP
    /// 415 rather than a 400).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedKind { .. }
                | Self::UnsupportedEncoding(_)
                | Self::UnsupportedContentType(_)
        )
    }
}

/// Decodes a protobuf request body into the object's JSON form (same shape as the JSON API:
/// apiVersion, kind, metadata, spec, … with Kubernetes JSON field names, int-or-string values,
/// quantities as strings, timestamps as RFC 3339, byte fields base64).
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let payload = body.strip_prefix(MAGIC).ok_or(ProtobufError::NotProtobuf)?;
    let unknown = Unknown::decode(payload).map_err(ProtobufError::Envelope)?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    if let Some(encoding) = unknown.content_encoding.filter(|e| !e.is_empty()) {
        return Err(ProtobufError::UnsupportedEncoding(encoding));
    }
    let raw = unknown.raw.unwrap_or_default();
    let convert = |reason: String| ProtobufError::Convert {
        api_version: api_version.clone(),
        kind: kind.clone(),
        reason,
    };
    match unknown.content_type.as_deref().unwrap_or_default() {
        "" | "application/vnd.kubernetes.protobuf" => {}
        "application/json" => {
            return serde_json::from_slice(&raw).map_err(|e| convert(e.to_string()));
        }
        other => return Err(ProtobufError::UnsupportedContentType(other.to_owned())),
    }
    let entry = KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
        .ok_or_else(|| ProtobufError::UnsupportedKind {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    match (entry.convert)(&raw) {
        Ok(value) => Ok(value),
        Err(Failure::Decode(source)) => Err(ProtobufError::Object {
            api_version,
            kind,
            source,
        }),
        Err(Failure::Convert(reason)) => Err(convert(reason)),
    }
}

/// One kind this module decodes: its typeMeta and the conversion for its `raw` bytes.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    convert: fn(&[u8]) -> Result<Value, Failure>,
}

enum Failure {
    Decode(prost::DecodeError),
    Convert(String),
}

/// The entry for a kind: `P` its `k8s-pb` message, `O` its `k8s-openapi` type.
const fn kind<P, O>() -> Kind
where
    P: Message + Default + std::fmt::Debug,
    O: k8s_openapi::Resource + DeserializeOwned + Serialize,
{
    Kind {
        api_version: O::API_VERSION,
        kind: O::KIND,
        convert: convert::<P, O>,
    }
}

fn convert<P, O>(raw: &[u8]) -> Result<Value, Failure>
where
    P: Message + Default + std::fmt::Debug,
    O: DeserializeOwned + Serialize,
{
    let message = P::decode(raw).map_err(Failure::Decode)?;
    let tree = parse_debug(&format!("{message:?}")).map_err(Failure::Convert)?;
    let object = O::deserialize(Reader(&tree)).map_err(|e| Failure::Convert(e.to_string()))?;
    serde_json::to_value(&object).map_err(|e| Failure::Convert(e.to_string()))
}

/// Pairs each `k8s_pb::api::<group>::<version>::<Type>` with the `k8s_openapi` type of the same
/// path, so the two cannot be mismatched.
macro_rules! kinds {
    ($($group:ident::$version:ident::$ty:ident),* $(,)?) => {
        &[$(kind::<k8s_pb::api::$group::$version::$ty, k8s_openapi::api::$group::$version::$ty>()),*]
    };
}

/// Every kind a protobuf body may carry.
static KINDS: &[Kind] = kinds![
    core::v1::Binding,
    core::v1::ConfigMap,
    core::v1::Endpoints,
    core::v1::Event,
    core::v1::LimitRange,
    core::v1::Namespace,
    core::v1::Node,
    core::v1::PersistentVolume,
    core::v1::PersistentVolumeClaim,
    core::v1::Pod,
    core::v1::PodTemplate,
    core::v1::ReplicationController,
    core::v1::ResourceQuota,
    core::v1::Secret,
    core::v1::Service,
    core::v1::ServiceAccount,
    apps::v1::ControllerRevision,
    apps::v1::DaemonSet,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::StatefulSet,
    authentication::v1::SelfSubjectReview,
    authentication::v1::TokenRequest,
    authentication::v1::TokenReview,
    authorization::v1::LocalSubjectAccessReview,
    authorization::v1::SelfSubjectAccessReview,
    authorization::v1::SelfSubjectRulesReview,
    authorization::v1::SubjectAccessReview,
    autoscaling::v1::HorizontalPodAutoscaler,
    autoscaling::v1::Scale,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::CronJob,
    batch::v1::Job,
    certificates::v1::CertificateSigningRequest,
    coordination::v1::Lease,
    discovery::v1::EndpointSlice,
    events::v1::Event,
    networking::v1::Ingress,
    networking::v1::IngressClass,
    networking::v1::NetworkPolicy,
    policy::v1::Eviction,
    policy::v1::PodDisruptionBudget,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    scheduling::v1::PriorityClass,
    storage::v1::StorageClass,
];

/// Scalar fields whose zero value (`0`, `false`, `""`) is kept: Go pointer fields, where an
/// explicit zero differs from unset. `field` matches in every message, `Message.field` only in
/// that `k8s-pb` message. Every other zero scalar is dropped, as Go's omitempty JSON would.
/// The times listed are required in `k8s-openapi`, so a zero one (Go's JSON null) is kept as
/// Go's zero time, `0001-01-01T00:00:00Z`; other zero times are dropped.
const KEEP_ZERO: &[&str] = &[
    "Condition.lastTransitionTime",
    "EventSeries.lastObservedTime",
    "TokenRequestStatus.expirationTimestamp",
    "DeploymentSpec.replicas",
    "ReplicaSetSpec.replicas",
    "ReplicationControllerSpec.replicas",
    "StatefulSetSpec.replicas",
    "ScaleSpec.replicas",
    "PriorityClass.value",
    "activeDeadlineSeconds",
    "allocateLoadBalancerNodePorts",
    "allowPrivilegeEscalation",
    "automountServiceAccountToken",
    "averageUtilization",
    "backoffLimit",
    "backoffLimitPerIndex",
    "completions",
    "defaultMode",
    "deletionGracePeriodSeconds",
    "enableServiceLinks",
    "expirationSeconds",
    "failedJobsHistoryLimit",
    "fsGroup",
    "holderIdentity",
    "hostUsers",
    "immutable",
    "leaseDurationSeconds",
    "leaseTransitions",
    "manualSelector",
    "maxFailedIndexes",
    "minDomains",
    "minReplicas",
    "mode",
    "optional",
    "parallelism",
    "partition",
    "priority",
    "privileged",
    "progressDeadlineSeconds",
    "readOnlyRootFilesystem",
    "ready",
    "revisionHistoryLimit",
    "runAsGroup",
    "runAsNonRoot",
    "runAsUser",
    "serving",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "stabilizationWindowSeconds",
    "startingDeadlineSeconds",
    "storageClassName",
    "successfulJobsHistoryLimit",
    "suspend",
    "targetCPUUtilizationPercentage",
    "terminating",
    "terminationGracePeriodSeconds",
    "tolerationSeconds",
    "ttlSecondsAfterFinished",
];

fn keeps_zero(message: &str, field: &str) -> bool {
    KEEP_ZERO.iter().any(|entry| match entry.split_once('.') {
        Some((m, f)) => m == message && f == field,
        None => *entry == field,
    })
}

/// A prost message as its derived `Debug` prints it.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// `None`.
    Absent,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    /// A repeated field, or a `bytes` field (a list of numbers 0–255).
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// A message: its Rust type name and its fields (Rust names) in declaration order.
    Message(String, Vec<(String, Node)>),
}

/// How deep the parser nests before giving up (prost itself stops decoding at 100 messages).
const MAX_DEPTH: usize = 512;

fn parse_debug(text: &str) -> Result<Node, String> {
    let mut parser = DebugParser { text, pos: 0 };
    let node = parser.value(0)?;
    parser.spaces();
    if parser.pos != text.len() {
        return Err(parser.error("trailing text"));
    }
    Ok(node)
}

struct DebugParser<'a> {
    text: &'a str,
    pos: usize,
}

impl DebugParser<'_> {
    fn error(&self, what: &str) -> String {
        format!(
            "unexpected message structure ({what} at offset {})",
            self.pos
        )
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.spaces();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {c:?}")))
        }
    }

    /// Items separated by `, ` up to `close`; `item` parses one.
    fn items(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut first = true;
        while !self.eat(close) {
            if !first {
                self.expect(',')?;
            }
            first = false;
            item(self)?;
        }
        Ok(())
    }

    fn ident(&mut self) -> &str {
        self.spaces();
        let start = self.pos;
        if self.text[start..].starts_with("r#") {
            self.pos += 2;
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.spaces();
        match self.peek() {
            Some('"') => self.string().map(Node::Str),
            Some('[') => {
                self.pos += 1;
                let mut list = Vec::new();
                self.items(']', |p| {
                    list.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Node::List(list))
            }
            Some('{') => {
                self.pos += 1;
                let mut map = Vec::new();
                self.items('}', |p| {
                    let key = p.value(depth + 1)?;
                    p.expect(':')?;
                    map.push((key, p.value(depth + 1)?));
                    Ok(())
                })?;
                Ok(Node::Map(map))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.ident().to_owned();
                match name.as_str() {
                    "None" => Ok(Node::Absent),
                    "Some" => {
                        self.expect('(')?;
                        let inner = self.value(depth + 1)?;
                        self.expect(')')?;
                        Ok(inner)
                    }
                    "true" => Ok(Node::Bool(true)),
                    "false" => Ok(Node::Bool(false)),
                    "inf" => Ok(Node::Float(f64::INFINITY)),
                    "NaN" => Ok(Node::Float(f64::NAN)),
                    _ => {
                        let mut fields = Vec::new();
                        if self.eat('{') {
                            self.items('}', |p| {
                                let field = p.ident().trim_start_matches("r#").to_owned();
                                if field.is_empty() {
                                    return Err(p.error("expected a field name"));
                                }
                                p.expect(':')?;
                                fields.push((field, p.value(depth + 1)?));
                                Ok(())
                            })?;
                        }
                        Ok(Node::Message(name, fields))
                    }
                }
            }
            _ => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Result<Node, String> {
        let start = self.pos;
        if self.text[start..].starts_with("-inf") {
            self.pos += 4;
            return Ok(Node::Float(f64::NEG_INFINITY));
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
        {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        if let Ok(int) = digits.parse::<i128>() {
            return Ok(Node::Int(int));
        }
        digits
            .parse::<f64>()
            .map(Node::Float)
            .map_err(|_| self.error("bad number"))
    }

    /// A string literal as `<str as Debug>` escapes it.
    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let c = self
                .peek()
                .ok_or_else(|| self.error("unterminated string"))?;
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    self.pos += e.len_utf8();
                    out.push(match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        '0' => '\0',
                        '\\' | '"' | '\'' => e,
                        'u' => {
                            self.expect('{')?;
                            let start = self.pos;
                            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                                self.pos += 1;
                            }
                            let code = u32::from_str_radix(&self.text[start..self.pos], 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.error("bad unicode escape"))?;
                            self.expect('}')?;
                            code
                        }
                        _ => return Err(self.error("unknown escape")),
                    });
                }
                c => out.push(c),
            }
        }
    }
}

type DeError = de::value::Error;

/// A field of a message by its Rust name.
fn field<'a>(fields: &'a [(String, Node)], name: &str) -> &'a Node {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map_or(&Node::Absent, |(_, v)| v)
}

/// Go's zero `time.Time`, which it sends as an empty `Time` message.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The apimachinery messages whose JSON is not an object, rewritten by [`resolve`].
const SCALAR_MESSAGES: &[&str] = &[
    "Quantity",
    "IntOrString",
    "Time",
    "MicroTime",
    "RawExtension",
    "FieldsV1",
    "Json",
];

/// Rewrites the apimachinery messages whose JSON is not an object (Quantity, IntOrString,
/// Time, MicroTime, RawExtension, FieldsV1, JSON) into the node of their JSON value.
fn resolve(node: &Node) -> Result<Cow<'_, Node>, DeError> {
    let Node::Message(name, fields) = node else {
        return Ok(Cow::Borrowed(node));
    };
    Ok(Cow::Owned(match name.as_str() {
        "Quantity" => field(fields, "string").clone(),
        "IntOrString" => match field(fields, "type") {
            Node::Int(1) => field(fields, "str_val").clone(),
            _ => field(fields, "int_val").clone(),
        },
        "Time" | "MicroTime" => match (field(fields, "seconds"), field(fields, "nanos")) {
            (Node::Absent, _) => Node::Str(GO_ZERO_TIME.to_owned()),
            (Node::Int(seconds), nanos) => {
                let nanos = match nanos {
                    Node::Int(n) => *n,
                    _ => 0,
                };
                let at = i64::try_from(*seconds)
                    .ok()
                    .zip(i32::try_from(nanos).ok())
                    .and_then(|(s, n)| k8s_openapi::jiff::Timestamp::new(s, n).ok())
                    .ok_or_else(|| de::Error::custom(format!("{name} out of range")))?;
                Node::Str(at.to_string())
            }
            _ => return Err(de::Error::custom(format!("malformed {name}"))),
        },
        "RawExtension" | "FieldsV1" | "Json" => match field(fields, "raw") {
            Node::List(bytes) if !bytes.is_empty() => {
                let value: Value = serde_json::from_slice(&to_bytes(bytes)?)
                    .map_err(|e| de::Error::custom(format!("{name} is not JSON: {e}")))?;
                from_json(value)
            }
            _ => Node::Absent,
        },
        _ => return Ok(Cow::Borrowed(node)),
    }))
}

fn to_bytes(list: &[Node]) -> Result<Vec<u8>, DeError> {
    list.iter()
        .map(|n| match n {
            Node::Int(b) => u8::try_from(*b).map_err(|_| de::Error::custom("expected bytes")),
            _ => Err(de::Error::custom("expected bytes")),
        })
        .collect()
}

fn from_json(value: Value) -> Node {
    match value {
        Value::Null => Node::Absent,
        Value::Bool(b) => Node::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i.into()),
            None => match n.as_u64() {
                Some(u) => Node::Int(u.into()),
                None => Node::Float(n.as_f64().unwrap_or_default()),
            },
        },
        Value::String(s) => Node::Str(s),
        Value::Array(items) => Node::List(items.into_iter().map(from_json).collect()),
        Value::Object(map) => Node::Map(
            map.into_iter()
                .map(|(k, v)| (Node::Str(k), from_json(v)))
                .collect(),
        ),
    }
}

/// Whether a message field is left out of the JSON (see the module doc).
fn omitted(message: &str, json_field: &str, node: &Node) -> bool {
    let zero = match node {
        Node::Absent => return true,
        Node::List(items) => return items.is_empty(),
        Node::Map(entries) => return entries.is_empty(),
        Node::Message(name, fields) if name == "Time" || name == "MicroTime" => {
            field(fields, "seconds") == &Node::Absent
        }
        Node::Message(..) => false,
        Node::Str(s) => s.is_empty(),
        Node::Int(i) => *i == 0,
        Node::Float(f) => *f == 0.0,
        Node::Bool(b) => !b,
    };
    zero && !keeps_zero(message, json_field)
}

fn normalized(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The JSON name, among a `k8s-openapi` struct's `fields`, of a `k8s-pb` field (`pod_ip` →
/// `podIP`, `cluster_ips` → `clusterIPs`).
fn json_name(rust: &str, fields: &'static [&'static str]) -> Option<&'static str> {
    let rust = normalized(rust);
    fields.iter().copied().find(|f| normalized(f) == rust)
}

/// The JSON fields of a message, for a `k8s-openapi` struct with `fields`. A field that is not
/// one of them but embeds a message named after it (Go's inline embedding: `Probe.handler:
/// ProbeHandler`, `Volume.volumeSource: VolumeSource`) contributes that message's fields.
fn struct_entries<'n>(
    message: &str,
    fields: &'n [(String, Node)],
    json_fields: &'static [&'static str],
    out: &mut Vec<(&'static str, &'n Node)>,
) {
    for (rust, node) in fields {
        match json_name(rust, json_fields) {
            Some(json) => {
                if !omitted(message, json, node) && out.iter().all(|(k, _)| *k != json) {
                    out.push((json, node));
                }
            }
            None => {
                if let Node::Message(inner, inner_fields) = node
                    && !SCALAR_MESSAGES.contains(&inner.as_str())
                    && normalized(inner).ends_with(&normalized(rust))
                {
                    struct_entries(inner, inner_fields, json_fields, out);
                }
            }
        }
    }
}

/// Prefixes an error with where it happened: `at spec.template.spec.containers[0].image: …`.
fn at(segment: &str, error: DeError) -> DeError {
    let message = error.to_string();
    de::Error::custom(match message.strip_prefix("at ") {
        Some(rest) if rest.starts_with('[') => format!("at {segment}{rest}"),
        Some(rest) => format!("at {segment}.{rest}"),
        None => format!("at {segment}: {message}"),
    })
}

/// Deserializes a [`Node`] into the `k8s-openapi` type that asks for it.
struct Reader<'n>(&'n Node);

impl<'de> de::Deserializer<'de> for Reader<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = resolve(self.0)?;
        match node.as_ref() {
            Node::Absent => visitor.visit_none(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Int(i) => match i64::try_from(*i) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => visitor.visit_u64(
                    u64::try_from(*i).map_err(|_| de::Error::custom("integer out of range"))?,
                ),
            },
            Node::Float(f) => visitor.visit_f64(*f),
            Node::Str(s) => visitor.visit_str(s),
            Node::List(items) => visitor.visit_seq(SeqReader {
                items: items.iter().enumerate(),
            }),
            Node::Map(entries) => visitor.visit_map(MapReader {
                entries: entries.iter(),
                value: None,
            }),
            Node::Message(_, fields) => visitor.visit_map(FieldReader {
                entries: fields
                    .iter()
                    .filter(|(_, v)| v != &Node::Absent)
                    .map(|(k, v)| (k.as_str(), v))
                    .collect::<Vec<_>>()
                    .into_iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match resolve(self.0)?.as_ref() {
            Node::Absent => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    /// Strings; a `bytes` field asked for as a string (`ByteString`) becomes base64.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Node::List(bytes) => {
                use base64::Engine as _;
                visitor.visit_string(
                    base64::engine::general_purpose::STANDARD.encode(to_bytes(bytes)?),
                )
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        json_fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Node::Message(name, fields) if !SCALAR_MESSAGES.contains(&name.as_str()) => {
                let mut entries = Vec::new();
                struct_entries(name, fields, json_fields, &mut entries);
                visitor.visit_map(FieldReader {
                    entries: entries.into_iter(),
                    value: None,
                })
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map enum identifier
    }
}

struct SeqReader<'n, I: Iterator<Item = (usize, &'n Node)>> {
    items: I,
}

impl<'de, 'n, I: Iterator<Item = (usize, &'n Node)>> de::SeqAccess<'de> for SeqReader<'n, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some((i, node)) => seed
                .deserialize(Reader(node))
                .map(Some)
                .map_err(|e| at(&format!("[{i}]"), e)),
            None => Ok(None),
        }
    }
}

/// A protobuf map (or a JSON object from a RawExtension).
struct MapReader<'n, I: Iterator<Item = &'n (Node, Node)>> {
    entries: I,
    value: Option<(&'n Node, &'n Node)>,
}

impl<'de, 'n, I: Iterator<Item = &'n (Node, Node)>> de::MapAccess<'de> for MapReader<'n, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some((key, value));
                seed.deserialize(Reader(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("map value asked for before its key"))?;
        seed.deserialize(Reader(value)).map_err(|e| match key {
            Node::Str(k) => at(&format!("[{k:?}]"), e),
            _ => e,
        })
    }
}

/// A message's fields under their JSON names.
struct FieldReader<'n, I: Iterator<Item = (&'n str, &'n Node)>> {
    entries: I,
    value: Option<(&'n str, &'n Node)>,
}

impl<'de, 'n, I: Iterator<Item = (&'n str, &'n Node)>> de::MapAccess<'de> for FieldReader<'n, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some((key, value));
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("field value asked for before its name"))?;
        seed.deserialize(Reader(value)).map_err(|e| at(key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::api::{apps, autoscaling, coordination, core as corev1};
    use k8s_pb::apimachinery::pkg::api::resource::Quantity;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::{
        FieldsV1, ManagedFieldsEntry, MicroTime, ObjectMeta, Time,
    };
    use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta};
    use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::json;

    /// A request body as kubectl builds it: the magic, then a runtime.Unknown around `raw`.
    fn body(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        envelope(Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        })
    }

    fn envelope(unknown: Unknown) -> Vec<u8> {
        [MAGIC, &unknown.encode_to_vec()].concat()
    }

    fn meta(name: &str) -> Option<ObjectMeta> {
        Some(ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        })
    }

    fn quantity(q: &str) -> Quantity {
        Quantity {
            string: Some(q.into()),
        }
    }

    fn int_or_string(v: Result<i32, &str>) -> Option<IntOrString> {
        Some(match v {
            Ok(i) => IntOrString {
                r#type: Some(0),
                int_val: Some(i),
                str_val: Some(String::new()),
            },
            Err(s) => IntOrString {
                r#type: Some(1),
                int_val: Some(0),
                str_val: Some(s.into()),
            },
        })
    }

    /// Go's JSON writes an unset `creationTimestamp` as null, which the decoder omits.
    fn without_null_timestamps(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|k, v| !(k == "creationTimestamp" && v.is_null()));
                map.values_mut().for_each(without_null_timestamps);
            }
            Value::Array(items) => items.iter_mut().for_each(without_null_timestamps),
            _ => {}
        }
    }

    macro_rules! fixture {
        ($name:literal, $ext:literal) => {
            concat!("../../../../tests/fixtures/protobuf/", $name, $ext)
        };
    }

    /// Bodies captured from kubectl 1.32 and kubectl's own JSON rendering of the same object
    /// (`--dry-run=client -o json`); see tests/fixtures/protobuf/README.md.
    macro_rules! rendered {
        ($($name:literal),* $(,)?) => {
            &[$(($name, include_bytes!(fixture!($name, ".pb")).as_slice(), include_str!(fixture!($name, ".json")))),*]
        };
    }

    const RENDERED: &[(&str, &[u8], &str)] = rendered![
        "autoscale",
        "clusterrole",
        "configmap",
        "configmap_namespaced",
        "cronjob",
        "deployment_command",
        "deployment_multi_port",
        "deployment_web",
        "deployment_zero_replicas",
        "ingress",
        "job",
        "job_from_cronjob",
        "namespace",
        "pdb",
        "priorityclass",
        "quota",
        "role",
        "rolebinding",
        "secret_docker_registry",
        "secret_generic",
        "service_clusterip",
        "service_externalname",
        "service_nodeport",
        "serviceaccount",
    ];

    #[test]
    fn is_protobuf_checks_the_magic() {
        assert!(is_protobuf(b"k8s\0\x0a\x00"));
        assert!(is_protobuf(include_bytes!(fixture!("namespace", ".pb"))));
        assert!(!is_protobuf(br#"{"kind":"Namespace"}"#));
        assert!(!is_protobuf(b"k8s"));
        assert!(!is_protobuf(b""));
    }

    #[test]
    fn kubectl_bodies_decode_to_kubectls_own_json() {
        for (name, pb, rendered) in RENDERED {
            assert!(is_protobuf(pb), "{name}");
            let mut want: Value = serde_json::from_str(rendered).expect(name);
            without_null_timestamps(&mut want);
            let got = decode(pb).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn kubectl_create_deployment() {
        let got = decode(include_bytes!(fixture!("deployment_web", ".pb"))).expect("decodes");
        let want = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"labels": {"app": "web"}, "name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"image": "nginx:1.27", "name": "nginx", "resources": {}}]}
                }
            },
            "status": {}
        });
        assert_eq!(got, want);
        // Field order follows the JSON API too.
        let keys: Vec<_> = got.as_object().expect("object").keys().cloned().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);

        let zero = decode(include_bytes!(fixture!("deployment_zero_replicas", ".pb")));
        assert_eq!(zero.expect("decodes")["spec"]["replicas"], json!(0));
    }

    #[test]
    fn kubectl_token_and_review_bodies() {
        let token = decode(include_bytes!(fixture!("token_request", ".pb"))).expect("decodes");
        assert_eq!(
            token,
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "metadata": {},
                "spec": {
                    "audiences": ["api"],
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": "web",
                        "uid": "0b7e2f6a-1111-4222-8333-444455556666"
                    },
                    "expirationSeconds": 600
                },
                "status": {"expirationTimestamp": "0001-01-01T00:00:00Z", "token": ""}
            })
        );
        let review = include_bytes!(fixture!("self_subject_access_review", ".pb"));
        assert_eq!(
            decode(review).expect("decodes")["spec"],
            json!({"resourceAttributes": {
                "group": "apps",
                "namespace": "default",
                "resource": "deployments",
                "subresource": "scale",
                "verb": "create"
            }})
        );
        let whoami = include_bytes!(fixture!("self_subject_review", ".pb"));
        assert_eq!(
            decode(whoami).expect("decodes"),
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "SelfSubjectReview",
                "metadata": {},
                "status": {"userInfo": {}}
            })
        );
    }

    #[test]
    fn int_or_string_quantities_and_pointer_zeros() {
        let deployment = apps::v1::Deployment {
            metadata: meta("web"),
            spec: Some(apps::v1::DeploymentSpec {
                replicas: Some(2),
                revision_history_limit: Some(0),
                min_ready_seconds: Some(0),
                strategy: Some(apps::v1::DeploymentStrategy {
                    r#type: Some("RollingUpdate".into()),
                    rolling_update: Some(apps::v1::RollingUpdateDeployment {
                        max_surge: int_or_string(Err("25%")),
                        max_unavailable: int_or_string(Ok(0)),
                    }),
                }),
                template: Some(corev1::v1::PodTemplateSpec {
                    metadata: Some(ObjectMeta::default()),
                    spec: Some(corev1::v1::PodSpec {
                        containers: vec![corev1::v1::Container {
                            name: Some("app".into()),
                            image: Some("app:1".into()),
                            ports: vec![corev1::v1::ContainerPort {
                                container_port: Some(8080),
                                host_port: Some(0),
                                ..Default::default()
                            }],
                            resources: Some(corev1::v1::ResourceRequirements {
                                requests: [("cpu".to_owned(), quantity("100m"))].into(),
                                limits: [("memory".to_owned(), quantity("1Gi"))].into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                        host_network: Some(false),
                        hostname_override: Some("newer-than-k8s-openapi".into()),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: Some(apps::v1::DeploymentStatus {
                replicas: Some(0),
                ..Default::default()
            }),
        };
        let got = decode(&body("apps/v1", "Deployment", deployment.encode_to_vec()));
        assert_eq!(
            got.expect("decodes"),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "revisionHistoryLimit": 0,
                    "selector": {},
                    "strategy": {
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
                        "type": "RollingUpdate"
                    },
                    "template": {
                        "metadata": {},
                        "spec": {"containers": [{
                            "image": "app:1",
                            "name": "app",
                            "ports": [{"containerPort": 8080}],
                            "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "100m"}}
                        }]}
                    }
                },
                "status": {}
            })
        );

        let scale = autoscaling::v1::Scale {
            metadata: meta("web"),
            spec: Some(autoscaling::v1::ScaleSpec { replicas: Some(0) }),
            status: None,
        };
        let got = decode(&body("autoscaling/v1", "Scale", scale.encode_to_vec()));
        assert_eq!(
            got.expect("decodes"),
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 0}})
        );

        let hpa = autoscaling::v2::HorizontalPodAutoscaler {
            metadata: meta("web"),
            spec: Some(autoscaling::v2::HorizontalPodAutoscalerSpec {
                scale_target_ref: Some(autoscaling::v2::CrossVersionObjectReference {
                    kind: Some("Deployment".into()),
                    name: Some("web".into()),
                    api_version: Some("apps/v1".into()),
                }),
                min_replicas: Some(1),
                max_replicas: Some(5),
                metrics: vec![autoscaling::v2::MetricSpec {
                    r#type: Some("Resource".into()),
                    resource: Some(autoscaling::v2::ResourceMetricSource {
                        name: Some("cpu".into()),
                        target: Some(autoscaling::v2::MetricTarget {
                            r#type: Some("Utilization".into()),
                            average_utilization: Some(80),
                            ..Default::default()
                        }),
                    }),
                    ..Default::default()
                }],
                behavior: None,
            }),
            status: None,
        };
        let got = decode(&body(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            hpa.encode_to_vec(),
        ));
        assert_eq!(
            got.expect("decodes")["spec"],
            json!({
                "maxReplicas": 5,
                "metrics": [{"resource": {"name": "cpu", "target": {"averageUtilization": 80, "type": "Utilization"}}, "type": "Resource"}],
                "minReplicas": 1,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
            })
        );
    }

    #[test]
    fn times_and_embedded_json() {
        let renew = MicroTime {
            seconds: Some(1_735_700_000),
            nanos: Some(123_456_789),
        };
        let lease = coordination::v1::Lease {
            metadata: Some(ObjectMeta {
                name: Some("leader".into()),
                namespace: Some("kube-system".into()),
                creation_timestamp: Some(Time {
                    seconds: Some(1_735_689_600),
                    nanos: Some(0),
                }),
                ..Default::default()
            }),
            spec: Some(coordination::v1::LeaseSpec {
                holder_identity: Some(String::new()),
                lease_duration_seconds: Some(15),
                acquire_time: Some(MicroTime::default()),
                renew_time: Some(renew),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        let got = decode(&body(
            "coordination.k8s.io/v1",
            "Lease",
            lease.encode_to_vec(),
        ));
        assert_eq!(
            got.expect("decodes"),
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"creationTimestamp": "2025-01-01T00:00:00Z", "name": "leader", "namespace": "kube-system"},
                "spec": {
                    "holderIdentity": "",
                    "leaseDurationSeconds": 15,
                    "leaseTransitions": 0,
                    "renewTime": "2025-01-01T02:53:20.123456Z"
                }
            })
        );

        let event = corev1::v1::Event {
            metadata: meta("web.1"),
            involved_object: Some(corev1::v1::ObjectReference {
                kind: Some("Pod".into()),
                name: Some("web".into()),
                ..Default::default()
            }),
            reason: Some("Started".into()),
            first_timestamp: Some(Time {
                seconds: Some(0),
                nanos: Some(0),
            }),
            last_timestamp: Some(Time::default()),
            event_time: Some(MicroTime::default()),
            count: Some(0),
            ..Default::default()
        };
        let got = decode(&body("v1", "Event", event.encode_to_vec())).expect("decodes");
        assert_eq!(got["firstTimestamp"], json!("1970-01-01T00:00:00Z"));
        assert_eq!(got.get("lastTimestamp"), None);
        assert_eq!(got.get("eventTime"), None);
        assert_eq!(got.get("count"), None);
        assert_eq!(got["involvedObject"], json!({"kind": "Pod", "name": "web"}));

        let pod = corev1::v1::Pod {
            metadata: Some(ObjectMeta {
                name: Some("web".into()),
                managed_fields: vec![ManagedFieldsEntry {
                    manager: Some("kubectl".into()),
                    operation: Some("Update".into()),
                    fields_type: Some("FieldsV1".into()),
                    fields_v1: Some(FieldsV1 {
                        raw: Some(br#"{"f:spec":{"f:containers":{}}}"#.to_vec()),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            spec: None,
            status: Some(corev1::v1::PodStatus {
                phase: Some("Running".into()),
                conditions: vec![corev1::v1::PodCondition {
                    r#type: Some("Ready".into()),
                    status: Some("True".into()),
                    last_probe_time: Some(Time::default()),
                    last_transition_time: Some(Time {
                        seconds: Some(1_735_689_600),
                        nanos: None,
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        let got = decode(&body("v1", "Pod", pod.encode_to_vec())).expect("decodes");
        assert_eq!(
            got["metadata"]["managedFields"],
            json!([{"fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}, "manager": "kubectl", "operation": "Update"}])
        );
        assert_eq!(
            got["status"],
            json!({"conditions": [{"lastTransitionTime": "2025-01-01T00:00:00Z", "status": "True", "type": "Ready"}], "phase": "Running"})
        );

        let revision = apps::v1::ControllerRevision {
            metadata: meta("web-1"),
            data: Some(RawExtension {
                raw: Some(br#"{"spec":{"template":{"x":[1,2.5,null,true]}}}"#.to_vec()),
            }),
            revision: Some(1),
        };
        let got = decode(&body(
            "apps/v1",
            "ControllerRevision",
            revision.encode_to_vec(),
        ));
        assert_eq!(
            got.expect("decodes")["data"],
            json!({"spec": {"template": {"x": [1, 2.5, null, true]}}})
        );
    }

    #[test]
    fn strings_and_bytes_survive_exactly() {
        let awkward = [
            "",
            "plain",
            "quote \" backslash \\ single ' tab \t cr \r nl \n nul \0",
            "control \u{1} \u{1b} \u{7f} del",
            "unicode ünïcödé ✓ 😀 \u{200d} \u{301} \u{feff} \u{2028}",
            "looks like debug: Some(\"x\"), None, [1, 2], {\"a\": 1} }",
            "{\"json\": [true]}",
        ];
        let data = awkward
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("k{i}"), (*s).to_owned()))
            .collect();
        let binary: Vec<u8> = (0..=255).collect();
        let config_map = corev1::v1::ConfigMap {
            metadata: Some(ObjectMeta {
                name: Some("odd \"name\"".into()),
                annotations: [("a".to_owned(), awkward[4].to_owned())].into(),
                ..Default::default()
            }),
            immutable: Some(false),
            data,
            binary_data: [("bin".to_owned(), binary.clone())].into(),
        };
        let got = decode(&body("v1", "ConfigMap", config_map.encode_to_vec())).expect("decodes");
        for (i, s) in awkward.iter().enumerate() {
            assert_eq!(got["data"][format!("k{i}")], json!(s));
        }
        assert_eq!(got["metadata"]["name"], json!("odd \"name\""));
        assert_eq!(got["metadata"]["annotations"]["a"], json!(awkward[4]));
        assert_eq!(got["immutable"], json!(false));
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&binary);
        assert_eq!(got["binaryData"]["bin"], json!(encoded));

        let secret = corev1::v1::Secret {
            metadata: meta("s"),
            data: [
                ("empty".to_owned(), Vec::new()),
                ("k".to_owned(), b"v\0".to_vec()),
            ]
            .into(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let got = decode(&body("v1", "Secret", secret.encode_to_vec())).expect("decodes");
        assert_eq!(got["data"], json!({"empty": "", "k": "dgA="}));
        assert_eq!(got["type"], json!("Opaque"));
    }

    #[test]
    fn every_kind_decodes_an_empty_object() {
        for kind in KINDS {
            let got = decode(&body(kind.api_version, kind.kind, Vec::new()))
                .unwrap_or_else(|e| panic!("{} {}: {e}", kind.api_version, kind.kind));
            assert_eq!(got["apiVersion"], json!(kind.api_version));
            assert_eq!(got["kind"], json!(kind.kind));
        }
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "Namespace"),
            ("v1", "Service"),
            ("v1", "Pod"),
            ("v1", "ServiceAccount"),
            ("v1", "Endpoints"),
            ("v1", "Event"),
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "StatefulSet"),
            ("networking.k8s.io/v1", "Ingress"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("autoscaling/v1", "Scale"),
            ("coordination.k8s.io/v1", "Lease"),
        ] {
            assert!(
                KINDS
                    .iter()
                    .any(|k| k.api_version == api_version && k.kind == kind),
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn json_inside_the_envelope_is_passed_through() {
        let got = decode(&envelope(Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("v1".into()),
                kind: Some("Namespace".into()),
            }),
            raw: Some(
                br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#.to_vec(),
            ),
            content_encoding: None,
            content_type: Some("application/json".into()),
        }));
        assert_eq!(
            got.expect("decodes"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
        );
    }

    #[test]
    fn errors_name_what_could_not_be_decoded() {
        let error = |body: &[u8]| decode(body).expect_err("must fail");

        let e = error(br#"{"kind":"Namespace"}"#);
        assert!(matches!(e, ProtobufError::NotProtobuf), "{e}");

        let e = error(b"k8s\0\x0a\x30\x0a");
        assert!(matches!(e, ProtobufError::Envelope(_)), "{e}");
        assert!(e.to_string().contains("runtime.Unknown"), "{e}");

        let e = error(&envelope(Unknown::default()));
        assert!(matches!(e, ProtobufError::MissingTypeMeta), "{e}");

        let e = error(&body("example.com/v1", "Widget", Vec::new()));
        assert!(e.is_unsupported(), "{e}");
        assert!(e.to_string().contains("example.com/v1 Widget"), "{e}");

        let mut gzip = Unknown::decode(&body("v1", "Pod", Vec::new())[4..]).expect("envelope");
        gzip.content_encoding = Some("gzip".into());
        let e = error(&envelope(gzip.clone()));
        assert!(
            matches!(e, ProtobufError::UnsupportedEncoding(ref g) if g == "gzip"),
            "{e}"
        );
        gzip.content_encoding = None;
        gzip.content_type = Some("application/yaml".into());
        assert!(error(&envelope(gzip)).is_unsupported());

        let deployment = include_bytes!(fixture!("deployment_web", ".pb"));
        let mut unknown = Unknown::decode(&deployment[4..]).expect("envelope");
        let raw = unknown.raw.take().expect("raw");
        unknown.raw = Some(raw[..raw.len() - 3].to_vec());
        let e = error(&envelope(unknown.clone()));
        assert!(matches!(e, ProtobufError::Object { .. }), "{e}");
        assert!(e.to_string().contains("apps/v1 Deployment"), "{e}");

        let bad_name = apps::v1::Deployment {
            metadata: meta("web"),
            ..Default::default()
        }
        .encode_to_vec()
        .iter()
        .map(|b| if *b == b'w' { 0xff } else { *b })
        .collect();
        let e = error(&body("apps/v1", "Deployment", bad_name));
        assert!(e.to_string().contains("ObjectMeta.name"), "{e}");

        let far_future = corev1::v1::Namespace {
            metadata: Some(ObjectMeta {
                creation_timestamp: Some(Time {
                    seconds: Some(i64::MAX),
                    nanos: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = error(&body("v1", "Namespace", far_future.encode_to_vec()));
        assert!(matches!(e, ProtobufError::Convert { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("at metadata.creationTimestamp: Time out of range"),
            "{e}"
        );

        let bad_json = apps::v1::ControllerRevision {
            data: Some(RawExtension {
                raw: Some(b"{not json".to_vec()),
            }),
            ..Default::default()
        };
        let e = error(&body(
            "apps/v1",
            "ControllerRevision",
            bad_json.encode_to_vec(),
        ));
        assert!(
            e.to_string().contains("at data: RawExtension is not JSON"),
            "{e}"
        );
    }

    #[test]
    fn debug_parser_reads_what_prost_prints() {
        let parsed = parse_debug(
            r#"Outer { a: Some("x\"\u{1}"), b: None, c: [1, -2], d: {"k": [255]}, e: Some(Inner), f: Some(-1.5e-7), g: Some(true) }"#,
        );
        assert_eq!(
            parsed,
            Ok(Node::Message(
                "Outer".into(),
                vec![
                    ("a".into(), Node::Str("x\"\u{1}".into())),
                    ("b".into(), Node::Absent),
                    ("c".into(), Node::List(vec![Node::Int(1), Node::Int(-2)])),
                    (
                        "d".into(),
                        Node::Map(vec![(
                            Node::Str("k".into()),
                            Node::List(vec![Node::Int(255)])
                        )])
                    ),
                    ("e".into(), Node::Message("Inner".into(), Vec::new())),
                    ("f".into(), Node::Float(-1.5e-7)),
                    ("g".into(), Node::Bool(true)),
                ]
            ))
        );
        assert_eq!(
            parse_debug("M { type: Some(1) }"),
            parse_debug("M { r#type: Some(1) }")
        );
        for bad in [
            "M { a: 1 } x",
            "M { a: \"open }",
            "M { a: \"\\q\" }",
            "M { a 1 }",
            "M { : 1 }",
            "[1, 2",
            "",
        ] {
            assert!(parse_debug(bad).is_err(), "{bad}");
        }
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 2),
            "]".repeat(MAX_DEPTH + 2)
        );
        assert!(parse_debug(&deep).is_err());
    }
}
