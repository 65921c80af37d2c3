use super::*;
use crate::resources::{RESOURCES, by_kind};

fn now() -> Timestamp {
    "2025-01-10T12:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn ago(secs: i64) -> String {
    kube_util::time::format(now() - SignedDuration::from_secs(secs))
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
        assert_eq!(
            human_duration(SignedDuration::from_secs(*secs)),
            *want,
            "{secs}s"
        );
    }
    // Sub-second negatives truncate toward zero like Go's int(d.Seconds()).
    assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
    assert_eq!(
        human_duration(SignedDuration::from_millis(-2500)),
        "<invalid>"
    );
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
    let rs_bad =
        json!({"metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"bad key": "v"}}}});
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
