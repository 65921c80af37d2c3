//! Just enough OpenAPI v3 for kubectl.
//!
//! `kubectl apply` / `create` / `replace` / `edit` with the default `--validate=strict` ask,
//! through OpenAPI v3, whether the server supports the `fieldValidation` query parameter for
//! the object's group/version/kind: they fetch the index at `/openapi/v3`, then the
//! group-version document its `serverRelativeURL` names, and look for a path whose `patch`
//! operation carries `x-kubernetes-group-version-kind` for the kind and a `fieldValidation`
//! query parameter among the operation's own (inline, not `$ref`) parameters. Finding it, they
//! leave validation to the server. Any failure there (no index, no document, a document that
//! does not parse) makes kubectl fall back to OpenAPI v2 (`/openapi/v2`, protobuf), and if
//! that fails too the command fails ("failed to download openapi").
//!
//! Strategic merge patch: `kubectl apply` (and `diff`) then calls `gvkSupportsPatchOpenAPIV3`,
//! which says yes only if the kind's `patch` request body lists
//! `application/strategic-merge-patch+json`; it would then compute the patch from the
//! component schemas, which would have to be complete and carry
//! `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy` everywhere. The documents
//! here deliberately do **not** list that content type, so kubectl skips OpenAPI v3 for the
//! patch, tries OpenAPI v2 (a failed `/openapi/v2` is fine there) and computes the strategic
//! merge patch from its compiled-in Go types for the built-in kinds, and a JSON merge patch
//! for kinds it does not know (the Gateway API CRDs), exactly as it does against a real
//! cluster for CRDs. The component schemas are therefore only loose descriptions
//! (apiVersion, kind, metadata, anything else preserved); never advertise strategic merge
//! patch here unless they become complete.

use serde_json::{Map, Value, json};

use crate::resources::{RESOURCES, ResourceType, groups, in_group_version};

/// `info.version` of the documents (a real server puts its Kubernetes version there).
pub const INFO_VERSION: &str = "v1.33.0";

/// The content types advertised for PATCH request bodies (see the module docs for why
/// strategic merge patch is not among them).
pub const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
];

/// The `/openapi/v3` index: every group-version path with the URL of its document.
pub fn v3_index() -> Value {
    let mut paths = Map::new();
    for path in gv_paths() {
        let url = format!("/openapi/v3/{path}?hash={}", v3_hash(&path));
        paths.insert(path, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

/// The OpenAPI v3 document of one group-version path (`api/v1`, `apis/apps/v1`; a leading
/// `/`, an `openapi/v3/` prefix and a `?hash=...` query are tolerated), `None` if no such
/// group-version is served.
pub fn v3_document(path: &str) -> Option<Value> {
    let (group, version) = parse_gv_path(path)?;
    let resources = in_group_version(group, version);
    if resources.is_empty() {
        return None;
    }
    Some(document(group, version, &resources))
}

/// A stable hash of the document at `path` (uppercase hex), used in `serverRelativeURL` and
/// fit for an `ETag`: it changes exactly when the document does. An unknown path hashes the
/// empty document.
pub fn v3_hash(path: &str) -> String {
    let bytes = v3_document(path)
        .and_then(|doc| serde_json::to_vec(&doc).ok())
        .unwrap_or_default();
    format!("{:032X}", fnv1a_128(&bytes))
}

/// The `Content-Type` to answer `/openapi/v2` with. (kubectl asks with
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but a response
/// content type with `@` fails client-go's media type parsing; this is the form real servers
/// answer with.)
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// An empty OpenAPI v2 document (`swagger: "2.0"`, `info`, no paths, no definitions) as the
/// gnostic protobuf kubectl requests from `/openapi/v2`.
///
/// kubectl needs `/openapi/v2` in one case: client-side validation of a `kind: List`
/// manifest under `--validate=strict` (a List has no PATCH path, so the fieldValidation
/// check always says "unsupported" and kubectl validates locally). With this empty document
/// every item passes ("no schema: skip"), and kubectl still computes patches from its
/// compiled-in types (no PATCH operation is found in it). Without it, such applies fail with
/// "error validating data: the server could not find the requested resource".
pub fn v2_protobuf() -> Vec<u8> {
    let mut info = Vec::new();
    proto_string(&mut info, 1, "Kubernetes");
    proto_string(&mut info, 2, INFO_VERSION);
    let mut doc = Vec::new();
    proto_string(&mut doc, 1, "2.0");
    proto_bytes(&mut doc, 2, &info);
    doc
}

/// Appends a length-delimited protobuf field.
fn proto_bytes(out: &mut Vec<u8>, field: u8, payload: &[u8]) {
    out.push((field << 3) | 2);
    let mut n = payload.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(payload);
}

fn proto_string(out: &mut Vec<u8>, field: u8, s: &str) {
    proto_bytes(out, field, s.as_bytes());
}

/// 128-bit FNV-1a.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |hash, b| {
        (hash ^ u128::from(*b)).wrapping_mul(PRIME)
    })
}

/// The group-version paths served, core first, then the groups in discovery order.
fn gv_paths() -> Vec<String> {
    let mut out = Vec::new();
    let mut core_versions: Vec<&str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group.is_empty()) {
        if !core_versions.contains(&r.version) {
            core_versions.push(r.version);
        }
    }
    out.extend(core_versions.iter().map(|v| format!("api/{v}")));
    for (group, versions) in groups() {
        out.extend(versions.iter().map(|v| format!("apis/{group}/{v}")));
    }
    out
}

/// `api/v1` → ("", "v1"); `apis/apps/v1` → ("apps", "v1").
fn parse_gv_path(path: &str) -> Option<(&str, &str)> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path.trim_matches('/');
    let path = path.strip_prefix("openapi/v3/").unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api", version] if !version.is_empty() => Some(("", version)),
        ["apis", group, version] if !group.is_empty() && !version.is_empty() => {
            Some((group, version))
        }
        _ => None,
    }
}

/// `apps` → `Apps`, `networking.k8s.io` → `Networking`, `""` → `Core`,
/// `gateway.networking.k8s.io` → `GatewayNetworking` (as in operation ids).
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed.split('.').map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The component schema name of a kind: `io.k8s.api.apps.v1.Deployment`,
/// `io.k8s.api.core.v1.Pod`, and for custom resources the reversed group
/// (`io.k8s.networking.gateway.v1.Gateway`).
fn schema_name(rt: &ResourceType, kind: &str) -> String {
    if rt.builtin {
        let package = if rt.group.is_empty() {
            "core"
        } else {
            rt.group.split('.').next().unwrap_or(rt.group)
        };
        format!("io.k8s.api.{package}.{}.{kind}", rt.version)
    } else {
        let reversed: Vec<&str> = rt.group.split('.').rev().collect();
        format!("{}.{}.{kind}", reversed.join("."), rt.version)
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

fn meta_ref(kind: &str) -> Value {
    schema_ref(&format!("{META}.{kind}"))
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": { "type": ty, "uniqueItems": true },
    })
}

fn path_param(name: &str, description: String) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn pretty() -> Value {
    query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
    )
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
    )
}

fn field_manager(patch: bool) -> Value {
    let description = if patch {
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch)."
    } else {
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."
    };
    query("fieldManager", "string", description)
}

/// The parameter kubectl's `fieldValidation` support check looks for.
fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        query(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        query(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        query(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.",
        ),
    ]
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn responses(codes: &[(&str, &str)], schema: &Value) -> Value {
    let mut out = Map::new();
    for (code, description) in codes {
        out.insert(
            (*code).to_string(),
            json!({ "description": description, "content": json_content(schema.clone()) }),
        );
    }
    out.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(out)
}

/// The operations of one resource (or subresource), built around its kind.
struct Ops {
    /// The kind the operations speak (the resource's kind, or `Scale`).
    gvk: Value,
    /// Component schema of that kind.
    schema: String,
    /// Operation id pieces: `AppsV1`, `Namespaced`, `Deployment`, `Status`.
    id_group: String,
    id_scope: &'static str,
    id_kind: String,
}

impl Ops {
    fn id(&self, verb: &str, suffix: &str) -> String {
        format!(
            "{verb}{}{}{}{suffix}",
            self.id_group, self.id_scope, self.id_kind
        )
    }

    fn op(
        &self,
        verb: &str,
        suffix: &str,
        description: String,
        action: &str,
    ) -> Map<String, Value> {
        let mut op = Map::new();
        op.insert("description".into(), json!(description));
        op.insert("operationId".into(), json!(self.id(verb, suffix)));
        op.insert("x-kubernetes-action".into(), json!(action));
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk.clone());
        op
    }

    fn get(&self, what: &str, suffix: &str) -> Value {
        let mut op = self.op("read", suffix, format!("read {what}"), "get");
        op.insert(
            "responses".into(),
            responses(&[("200", "OK")], &schema_ref(&self.schema)),
        );
        Value::Object(op)
    }

    fn put(&self, what: &str, suffix: &str) -> Value {
        let mut op = self.op("replace", suffix, format!("replace {what}"), "put");
        op.insert(
            "parameters".into(),
            json!([dry_run(), field_manager(false), field_validation()]),
        );
        op.insert(
            "requestBody".into(),
            json!({ "content": json_content(schema_ref(&self.schema)), "required": true }),
        );
        op.insert(
            "responses".into(),
            responses(
                &[("200", "OK"), ("201", "Created")],
                &schema_ref(&self.schema),
            ),
        );
        Value::Object(op)
    }

    fn patch(&self, what: &str, suffix: &str) -> Value {
        let mut op = self.op("patch", suffix, format!("partially update {what}"), "patch");
        op.insert(
            "parameters".into(),
            json!([
                dry_run(),
                field_manager(true),
                field_validation(),
                query(
                    "force",
                    "boolean",
                    "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
                ),
            ]),
        );
        let mut content = Map::new();
        for ct in PATCH_CONTENT_TYPES {
            content.insert((*ct).to_string(), json!({ "schema": meta_ref("Patch") }));
        }
        op.insert(
            "requestBody".into(),
            json!({ "content": content, "required": true }),
        );
        op.insert(
            "responses".into(),
            responses(
                &[("200", "OK"), ("201", "Created")],
                &schema_ref(&self.schema),
            ),
        );
        Value::Object(op)
    }
}

/// Adds the paths of one resource to `paths`.
fn resource_paths(rt: &ResourceType, prefix: &str, paths: &mut Map<String, Value>) {
    let kind_schema = schema_name(rt, rt.kind);
    let list_schema = schema_name(rt, &rt.list_kind());
    let ops = Ops {
        gvk: gvk(rt.group, rt.version, rt.kind),
        schema: kind_schema.clone(),
        id_group: format!("{}{}", group_camel(rt.group), capitalize(rt.version)),
        id_scope: if rt.namespaced { "Namespaced" } else { "" },
        id_kind: rt.kind.to_string(),
    };
    let kind = rt.kind;
    let collection = if rt.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{prefix}/{}", rt.plural)
    };
    let namespace_param = || {
        path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects".to_string(),
        )
    };
    let scope_params = |with_name: bool| {
        let mut params = Vec::new();
        if with_name {
            params.push(path_param("name", format!("name of the {kind}")));
        }
        if rt.namespaced {
            params.push(namespace_param());
        }
        params.push(pretty());
        Value::Array(params)
    };

    // Collection: list, create, delete collection.
    let mut list = ops.op(
        "list",
        "",
        format!("list or watch objects of kind {kind}"),
        "list",
    );
    list.insert("parameters".into(), Value::Array(list_params()));
    list.insert(
        "responses".into(),
        responses(&[("200", "OK")], &schema_ref(&list_schema)),
    );
    let mut create = ops.op("create", "", format!("create a {kind}"), "post");
    create.insert(
        "parameters".into(),
        json!([dry_run(), field_manager(false), field_validation()]),
    );
    create.insert(
        "requestBody".into(),
        json!({ "content": json_content(schema_ref(&kind_schema)), "required": true }),
    );
    create.insert(
        "responses".into(),
        responses(
            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            &schema_ref(&kind_schema),
        ),
    );
    let mut delete_collection = ops.op(
        "deleteCollection",
        "",
        format!("delete collection of {kind}"),
        "deletecollection",
    );
    let mut dc_params = delete_params();
    dc_params.extend(list_params());
    delete_collection.insert("parameters".into(), Value::Array(dc_params));
    delete_collection.insert(
        "responses".into(),
        responses(&[("200", "OK")], &meta_ref("Status")),
    );
    paths.insert(
        collection.clone(),
        json!({
            "get": list,
            "post": create,
            "delete": delete_collection,
            "parameters": scope_params(false),
        }),
    );

    // All namespaces list.
    if rt.namespaced {
        let mut all = ops.op(
            "list",
            "ForAllNamespaces",
            format!("list or watch objects of kind {kind}"),
            "list",
        );
        // Operation ids of the all-namespaces list carry no "Namespaced".
        all.insert(
            "operationId".into(),
            json!(format!("list{}{kind}ForAllNamespaces", ops.id_group)),
        );
        all.insert(
            "responses".into(),
            responses(&[("200", "OK")], &schema_ref(&list_schema)),
        );
        let mut params = list_params();
        params.push(pretty());
        paths.insert(
            format!("{prefix}/{}", rt.plural),
            json!({ "get": all, "parameters": params }),
        );
    }

    // Item: read, replace, delete, patch.
    let item = format!("{collection}/{{name}}");
    let what = format!("the specified {kind}");
    let mut delete = ops.op("delete", "", format!("delete a {kind}"), "delete");
    delete.insert("parameters".into(), Value::Array(delete_params()));
    delete.insert(
        "requestBody".into(),
        json!({ "content": json_content(meta_ref("DeleteOptions")) }),
    );
    delete.insert(
        "responses".into(),
        responses(&[("200", "OK"), ("202", "Accepted")], &meta_ref("Status")),
    );
    paths.insert(
        item.clone(),
        json!({
            "get": ops.get(&what, ""),
            "put": ops.put(&what, ""),
            "delete": delete,
            "patch": ops.patch(&what, ""),
            "parameters": scope_params(true),
        }),
    );

    // Subresources. The status subresource speaks the resource's own kind (so its PATCH
    // carries the same x-kubernetes-group-version-kind and must list fieldValidation too);
    // scale speaks autoscaling/v1 Scale.
    if rt.has_status {
        let status_what = format!("status of the specified {kind}");
        paths.insert(
            format!("{item}/status"),
            json!({
                "get": ops.get(&status_what, "Status"),
                "put": ops.put(&status_what, "Status"),
                "patch": ops.patch(&status_what, "Status"),
                "parameters": scope_params(true),
            }),
        );
    }
    if rt.has_scale {
        let scale = Ops {
            gvk: gvk("autoscaling", "v1", "Scale"),
            schema: SCALE_SCHEMA.to_string(),
            id_group: ops.id_group.clone(),
            id_scope: ops.id_scope,
            id_kind: format!("{kind}Scale"),
        };
        let scale_what = format!("scale of the specified {kind}");
        paths.insert(
            format!("{item}/scale"),
            json!({
                "get": scale.get(&scale_what, ""),
                "put": scale.put(&scale_what, ""),
                "patch": scale.patch(&scale_what, ""),
                "parameters": scope_params(true),
            }),
        );
    }
}

const SCALE_SCHEMA: &str = "io.k8s.api.autoscaling.v1.Scale";

/// The loose schema of an object kind: apiVersion, kind, metadata, everything else kept.
fn object_schema(description: String, group: &str, version: &str, kind: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                "allOf": [meta_ref("ObjectMeta")],
                "default": {}
            }
        },
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": [gvk(group, version, kind)]
    })
}

fn list_schema(rt: &ResourceType) -> Value {
    json!({
        "description": format!("{} is a list of {} objects.", rt.list_kind(), rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "items": {
                "description": format!("List of {}.", rt.plural),
                "type": "array",
                "items": schema_ref(&schema_name(rt, rt.kind))
            },
            "metadata": {
                "allOf": [meta_ref("ListMeta")],
                "default": {}
            }
        },
        "x-kubernetes-group-version-kind": [gvk(rt.group, rt.version, &rt.list_kind())]
    })
}

fn meta_schemas(schemas: &mut Map<String, Value>) {
    let loose = |description: &str| {
        json!({
            "description": description,
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        })
    };
    schemas.insert(
        format!("{META}.ObjectMeta"),
        loose("ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create."),
    );
    schemas.insert(
        format!("{META}.ListMeta"),
        loose("ListMeta describes metadata that synthetic resources must have, including lists and various status objects."),
    );
    schemas.insert(
        format!("{META}.Status"),
        loose("Status is a return value for calls that don't return other objects."),
    );
    schemas.insert(
        format!("{META}.DeleteOptions"),
        loose("DeleteOptions may be provided when deleting an API object."),
    );
    schemas.insert(
        format!("{META}.APIResourceList"),
        loose("APIResourceList is a list of APIResource, it is used to expose the name of the resources supported in a specific group and version, and if the resource is namespaced."),
    );
    schemas.insert(
        format!("{META}.Patch"),
        json!({
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
            "type": "object"
        }),
    );
}

fn document(group: &str, version: &str, resources: &[&'static ResourceType]) -> Value {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let id_group = format!("{}{}", group_camel(group), capitalize(version));
    let mut paths = Map::new();
    paths.insert(
        format!("{prefix}/"),
        json!({
            "get": {
                "description": "get available resources",
                "operationId": format!("get{id_group}APIResources"),
                "responses": responses(&[("200", "OK")], &meta_ref("APIResourceList"))
            }
        }),
    );
    let mut schemas = Map::new();
    meta_schemas(&mut schemas);
    for rt in resources {
        resource_paths(rt, &prefix, &mut paths);
        schemas.insert(
            schema_name(rt, rt.kind),
            object_schema(
                format!("{} ({}).", rt.kind, rt.api_version()),
                rt.group,
                rt.version,
                rt.kind,
            ),
        );
        schemas.insert(schema_name(rt, &rt.list_kind()), list_schema(rt));
        if rt.has_scale && !schemas.contains_key(SCALE_SCHEMA) {
            schemas.insert(
                SCALE_SCHEMA.to_string(),
                object_schema(
                    "Scale represents a scaling request for a resource.".to_string(),
                    "autoscaling",
                    "v1",
                    "Scale",
                ),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": INFO_VERSION },
        "paths": paths,
        "components": { "schemas": schemas }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl's `supportsQueryParamV3`: the first PATCH operation for the GVK decides.
    /// Checks every matching operation (Go walks the paths in random order).
    fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
        let mut found = false;
        let Some(paths) = doc["paths"].as_object() else {
            return false;
        };
        for path in paths.values() {
            let Some(patch) = path.get("patch") else {
                continue;
            };
            let ext = &patch["x-kubernetes-group-version-kind"];
            if ext["group"] != group || ext["version"] != version || ext["kind"] != kind {
                continue;
            }
            let params = patch["parameters"].as_array().cloned().unwrap_or_default();
            if !params
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p.get("$ref").is_none())
            {
                return false;
            }
            found = true;
        }
        found
    }

    /// kubectl's `gvkSupportsPatchOpenAPIV3`, again over every matching operation.
    fn supports_smp_from_v3(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
        let Some(paths) = doc["paths"].as_object() else {
            return false;
        };
        paths.values().any(|path| {
            path.get("patch").is_some_and(|patch| {
                let ext = &patch["x-kubernetes-group-version-kind"];
                ext["group"] == group
                    && ext["version"] == version
                    && ext["kind"] == kind
                    && patch["requestBody"]["content"]
                        .get("application/strategic-merge-patch+json")
                        .is_some()
            })
        })
    }

    fn gv_path(rt: &ResourceType) -> String {
        if rt.group.is_empty() {
            format!("api/{}", rt.version)
        } else {
            format!("apis/{}/{}", rt.group, rt.version)
        }
    }

    #[test]
    fn index_lists_every_group_version() {
        let index = v3_index();
        let paths = index["paths"].as_object().expect("paths");
        for rt in RESOURCES {
            let path = gv_path(rt);
            let entry = paths.get(&path).expect("group-version in the index");
            let url = entry["serverRelativeURL"].as_str().expect("url");
            assert_eq!(url, format!("/openapi/v3/{path}?hash={}", v3_hash(&path)));
        }
        assert_eq!(paths.keys().next().map(String::as_str), Some("api/v1"));
        assert_eq!(paths.len(), gv_paths().len());
    }

    #[test]
    fn every_kind_supports_field_validation_and_not_v3_smp() {
        for rt in RESOURCES {
            let doc = v3_document(&gv_path(rt)).expect("document");
            assert!(
                supports_field_validation(&doc, rt.group, rt.version, rt.kind),
                "{} lacks fieldValidation",
                rt.kind
            );
            assert!(
                !supports_smp_from_v3(&doc, rt.group, rt.version, rt.kind),
                "{} advertises strategic merge patch",
                rt.kind
            );
            if rt.has_scale {
                assert!(supports_field_validation(
                    &doc,
                    "autoscaling",
                    "v1",
                    "Scale"
                ));
            }
        }
    }

    #[test]
    fn document_shape() {
        let doc = v3_document("apis/apps/v1").expect("apps/v1");
        assert_eq!(doc["openapi"], "3.0.0");
        let paths = doc["paths"].as_object().expect("paths");
        let item = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        let patch = &item["patch"];
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert!(paths.contains_key("/apis/apps/v1/deployments"));
        assert!(
            paths.contains_key("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status")
        );
        assert_eq!(
            paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]["operationId"],
            "patchAppsV1NamespacedDeploymentScale"
        );
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        assert_eq!(
            schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
        // Every $ref resolves within the document.
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or("");
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }

        let core = v3_document("/api/v1").expect("core");
        let core_paths = core["paths"].as_object().expect("paths");
        assert!(core_paths.contains_key("/api/v1/namespaces/{name}"));
        assert_eq!(
            core_paths["/api/v1/namespaces/{name}"]["patch"]["operationId"],
            "patchCoreV1Namespace"
        );
        assert!(core_paths.contains_key("/api/v1/namespaces/{namespace}/pods/{name}/status"));
        assert!(
            !core_paths.contains_key("/api/v1/namespaces/{namespace}/configmaps/{name}/status")
        );

        let gw = v3_document("apis/gateway.networking.k8s.io/v1").expect("gateway api");
        let gw_schemas = gw["components"]["schemas"].as_object().expect("schemas");
        assert!(gw_schemas.contains_key("io.k8s.networking.gateway.v1.HTTPRoute"));
        assert!(gw_schemas.contains_key("io.k8s.networking.gateway.v1.GatewayList"));
    }

    #[test]
    fn path_normalisation_and_unknown_paths() {
        let plain = v3_document("apis/apps/v1");
        assert!(plain.is_some());
        assert_eq!(v3_document("/apis/apps/v1"), plain);
        assert_eq!(v3_document("/openapi/v3/apis/apps/v1?hash=ABC"), plain);
        assert_eq!(v3_document("apis/apps/v2"), None);
        assert_eq!(v3_document("apis/apps"), None);
        assert_eq!(v3_document("api"), None);
        assert_eq!(v3_document("apis/batch/v1"), None);
        assert_eq!(v3_document(""), None);
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        let a = v3_hash("apis/apps/v1");
        assert_eq!(a, v3_hash("apis/apps/v1"));
        assert_eq!(a, v3_hash("/apis/apps/v1?hash=whatever"));
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_ne!(a, v3_hash("api/v1"));
        assert_eq!(v3_hash("nope"), format!("{:032X}", fnv1a_128(b"")));
        // Known FNV-1a 128 vector.
        assert_eq!(
            format!("{:032x}", fnv1a_128(b"a")),
            "d228cb696f1a8caf78912b704e4a8964"
        );
    }

    #[test]
    fn v2_protobuf_document() {
        let doc = v2_protobuf();
        let mut want = vec![0x0a, 3];
        want.extend_from_slice(b"2.0");
        let info_len = 2 + "Kubernetes".len() + 2 + INFO_VERSION.len();
        want.extend_from_slice(&[0x12, u8::try_from(info_len).unwrap_or(0), 0x0a, 10]);
        want.extend_from_slice(b"Kubernetes");
        want.extend_from_slice(&[0x12, u8::try_from(INFO_VERSION.len()).unwrap_or(0)]);
        want.extend_from_slice(INFO_VERSION.as_bytes());
        assert_eq!(doc, want);
        // Multi-byte length prefixes.
        let mut long = Vec::new();
        proto_bytes(&mut long, 1, &[0u8; 300]);
        assert_eq!(&long[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(long.len(), 303);
        assert!(!V2_PROTOBUF_CONTENT_TYPE.contains('@'));
    }

    #[test]
    fn naming_helpers() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(group_camel("networking.k8s.io"), "Networking");
        assert_eq!(
            group_camel("gateway.networking.k8s.io"),
            "GatewayNetworking"
        );
        assert_eq!(group_camel("autoscaling"), "Autoscaling");
        assert_eq!(parse_gv_path("apis/a/b/c"), None);
    }
}
