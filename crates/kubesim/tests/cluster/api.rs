//! The embedded API server driven through kube::Api and kube::runtime::watcher: CRUD, patch
//! types, conflicts, selectors, subresources, watches, garbage collection and bad input.

use crate::common::{TestCluster, eventually};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent,
    WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;
use std::time::Duration;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("configmap")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "web:v1"}, {"name": "sidecar", "image": "proxy:v1"}]}}
        }
    }))
    .expect("deployment")
}

fn api_code(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn crud_with_server_assigned_fields() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let created = api
        .create(&PostParams::default(), &cm("one", json!({"app": "x"})))
        .await
        .expect("create");
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: u64 = meta
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("numeric rv");

    let got = api.get("one").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("v")
    );

    let mut changed = got.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = api
        .replace("one", &PostParams::default(), &changed)
        .await
        .expect("replace");
    let rv2: u64 = updated
        .metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("rv");
    assert!(rv2 > rv1);
    assert_eq!(updated.metadata.uid, created.metadata.uid);

    // generateName
    let mut g = cm("", json!({}));
    g.metadata.name = None;
    g.metadata.generate_name = Some("gen-".into());
    let made = api
        .create(&PostParams::default(), &g)
        .await
        .expect("generateName");
    let name = made.metadata.name.expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    // duplicate
    let (code, reason) = api_code(
        api.create(&PostParams::default(), &cm("one", json!({})))
            .await
            .expect_err("dup"),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    api.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    let (code, reason) = api_code(api.get("one").await.expect_err("gone"));
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn stale_resource_version_conflicts() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let first = api
        .create(&PostParams::default(), &cm("c", json!({})))
        .await
        .expect("create");
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "a".to_string())].into());
    api.replace("c", &PostParams::default(), &a)
        .await
        .expect("first writer wins");
    let mut b = first.clone();
    b.data = Some([("k".to_string(), "b".to_string())].into());
    let (code, reason) = api_code(
        api.replace("c", &PostParams::default(), &b)
            .await
            .expect_err("stale"),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let now = api.get("c").await.expect("get");
    assert_eq!(
        now.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("a"),
        "the stale write changed nothing"
    );
}

#[tokio::test]
async fn patch_types() {
    let tc = TestCluster::api_only().await;
    let api: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    api.create(&PostParams::default(), &deployment("web"))
        .await
        .expect("create");
    let pp = PatchParams::default();

    // merge patch: maps merge, null deletes
    api.patch(
        "web",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "front", "app": null}}})),
    )
    .await
    .expect("merge");
    let d = api.get("web").await.expect("get");
    let labels = d.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    assert!(!labels.contains_key("app"));

    // strategic merge: containers merge by name (the sidecar survives)
    api.patch("web", &pp, &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:v2"}]}}}})))
        .await
        .expect("strategic");
    let d = api.get("web").await.expect("get");
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let images: Vec<(String, String)> = containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        images,
        vec![
            ("app".into(), "web:v2".into()),
            ("sidecar".into(), "proxy:v1".into())
        ]
    );
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );

    // JSON patch
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]))
            .expect("ops");
    api.patch("web", &pp, &Patch::<()>::Json(ops))
        .await
        .expect("json patch");
    assert_eq!(
        api.get("web")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(4)
    );

    // a failing JSON patch test op changes nothing
    let ops: json_patch::Patch = serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}, {"op": "replace", "path": "/spec/replicas", "value": 1}])).expect("ops");
    let (code, _) = api_code(
        api.patch("web", &pp, &Patch::<()>::Json(ops))
            .await
            .expect_err("test op fails"),
    );
    assert_eq!(code, 422);
    assert_eq!(
        api.get("web")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(4)
    );
}

#[tokio::test]
async fn server_side_apply_creates_tracks_owners_and_conflicts() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let created = api
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .expect("apply creates");
    let mf = created.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        mf.iter()
            .any(|m| m.manager.as_deref() == Some("alice")
                && m.operation.as_deref() == Some("Apply")),
        "{mf:?}"
    );

    // bob changes a field alice owns: conflict without force
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "9"}});
    let (code, reason) = api_code(
        api.patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob))
            .await
            .expect_err("conflict"),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let forced = api
        .patch(
            "ssa",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&bob),
        )
        .await
        .expect("forced");
    assert_eq!(
        forced
            .data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("9")
    );

    // alice drops b from her config: it is removed
    let alice2 =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {}});
    let after = api
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&alice2))
        .await
        .expect("apply again");
    let data = after.data.unwrap_or_default();
    assert!(!data.contains_key("b"), "{data:?}");
    assert_eq!(data.get("a").map(String::as_str), Some("9"));
}

#[tokio::test]
async fn label_and_field_selectors() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    for (name, labels) in [
        ("a", json!({"app": "web", "env": "prod"})),
        ("b", json!({"app": "web", "env": "dev"})),
        ("c", json!({"app": "db"})),
    ] {
        api.create(&PostParams::default(), &cm(name, labels))
            .await
            .expect("create");
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        let mut v: Vec<String> = l
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        v.retain(|n| n != "kube-root-ca.crt");
        v.sort();
        v
    };
    let cases = [
        ("app=web", vec!["a", "b"]),
        ("app==web,env!=prod", vec!["b"]),
        ("env in (prod,dev)", vec!["a", "b"]),
        ("app notin (web)", vec!["c"]),
        ("env", vec!["a", "b"]),
        ("!env", vec!["c"]),
    ];
    for (sel, want) in cases {
        let got = names(
            api.list(&ListParams::default().labels(sel))
                .await
                .expect("list"),
        );
        assert_eq!(got, want, "selector {sel}");
    }
    let got = names(
        api.list(&ListParams::default().fields("metadata.name=c"))
            .await
            .expect("list"),
    );
    assert_eq!(got, vec!["c"]);
    let got = names(
        api.list(
            &ListParams::default()
                .fields("metadata.name!=c")
                .labels("app"),
        )
        .await
        .expect("list"),
    );
    assert_eq!(got, vec!["a", "b"]);

    // pods by node and phase
    let pods: Api<Pod> = Api::default_namespaced(tc.client.clone());
    for (name, node) in [("p1", "n1"), ("p2", "n2")] {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}})).expect("pod");
        pods.create(&PostParams::default(), &p).await.expect("pod");
    }
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1,status.phase=Pending"))
        .await
        .expect("list");
    assert_eq!(on_n1.items.len(), 1);
    assert_eq!(on_n1.items[0].metadata.name.as_deref(), Some("p1"));
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    for i in 0..7 {
        api.create(
            &PostParams::default(),
            &cm(&format!("page-{i}"), json!({"page": "yes"})),
        )
        .await
        .expect("create");
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().labels("page=yes").limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.expect("page");
        pages += 1;
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let tc = TestCluster::api_only().await;
    let api: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    api.create(&PostParams::default(), &deployment("sub"))
        .await
        .expect("create");

    // a status write ignores spec changes and does not bump generation
    let status = json!({"spec": {"replicas": 9}, "status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}});
    let d = api
        .patch_status("sub", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(d.status.as_ref().and_then(|s| s.ready_replicas), Some(1));
    assert_eq!(d.metadata.generation, Some(1));

    // a main write ignores status
    let d = api
        .patch(
            "sub",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 7}})),
        )
        .await
        .expect("main");
    assert_eq!(d.status.as_ref().and_then(|s| s.ready_replicas), Some(1));

    // scale
    let scale = api.get_scale("sub").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(
        scale.status.map(|s| s.selector.unwrap_or_default()),
        Some("app=sub".to_string())
    );
    let scaled = api
        .patch_scale(
            "sub",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(5));
    let d = api.get("sub").await.expect("get");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(d.metadata.generation, Some(2));
}

#[tokio::test]
async fn watch_streams_resumes_and_expires() {
    let tc = TestCluster::start_with(kubesim::SimOptions {
        history: 20,
        ..Default::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let first = api
        .create(&PostParams::default(), &cm("w", json!({})))
        .await
        .expect("create");
    let rv0 = first.metadata.resource_version.clone().expect("rv");

    // resume from rv0: sees the three later changes in order
    for v in ["1", "2", "3"] {
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": v}})),
        )
        .await
        .expect("patch");
    }
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &rv0)
        .await
        .expect("watch")
        .boxed();
    let mut values = Vec::new();
    while values.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .expect("ok")
        {
            Some(WatchEvent::Modified(c)) => {
                values.push(c.data.and_then(|d| d.get("k").cloned()).unwrap_or_default())
            }
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(values, vec!["1", "2", "3"]);

    // push rv0 out of the 20-change history: resuming from it is 410 Expired
    for i in 0..30 {
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": i.to_string()}})),
        )
        .await
        .expect("patch");
    }
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &rv0)
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await.expect("item") {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn bookmarks_carry_the_latest_version() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let c = api
        .create(&PostParams::default(), &cm("b", json!({})))
        .await
        .expect("create");
    let rv = c.metadata.resource_version.clone().expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .expect("watch")
        .boxed();
    let next = tokio::time::timeout(Duration::from_secs(3), stream.try_next())
        .await
        .expect("a bookmark within 3 s")
        .expect("ok");
    match next {
        Some(WatchEvent::Bookmark(b)) => assert!(
            b.metadata.resource_version.parse::<u64>().expect("rv")
                >= rv.parse::<u64>().expect("rv")
        ),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn runtime_watcher_sees_changes_with_both_list_strategies() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    api.create(&PostParams::default(), &cm("before", json!({"w": "yes"})))
        .await
        .expect("create");
    for streaming in [false, true] {
        let mut cfg = watcher::Config::default().labels("w=yes");
        if streaming {
            cfg = cfg.streaming_lists();
        }
        let mut events = watcher(api.clone(), cfg).boxed();
        let mut initial_done = false;
        let mut saw_before = false;
        while !initial_done {
            match tokio::time::timeout(Duration::from_secs(5), events.try_next())
                .await
                .expect("in time")
                .expect("ok")
            {
                Some(watcher::Event::InitApply(c)) => {
                    saw_before |= c.metadata.name.as_deref() == Some("before")
                }
                Some(watcher::Event::InitDone) => initial_done = true,
                _ => {}
            }
        }
        assert!(
            saw_before,
            "initial state includes existing objects (streaming={streaming})"
        );
        let name = format!("after-{streaming}");
        api.create(&PostParams::default(), &cm(&name, json!({"w": "yes"})))
            .await
            .expect("create");
        loop {
            match tokio::time::timeout(Duration::from_secs(5), events.try_next())
                .await
                .expect("in time")
                .expect("ok")
            {
                Some(watcher::Event::Apply(c))
                    if c.metadata.name.as_deref() == Some(name.as_str()) =>
                {
                    break;
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn watch_reports_objects_leaving_a_selector_as_deleted() {
    let tc = TestCluster::api_only().await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let c = api
        .create(&PostParams::default(), &cm("leaver", json!({"team": "a"})))
        .await
        .expect("create");
    let rv = c.metadata.resource_version.clone().expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().labels("team=a").timeout(5), &rv)
        .await
        .expect("watch")
        .boxed();
    api.patch(
        "leaver",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .expect("relabel");
    match tokio::time::timeout(Duration::from_secs(3), stream.try_next())
        .await
        .expect("in time")
        .expect("ok")
    {
        Some(WatchEvent::Deleted(c)) => assert_eq!(c.metadata.name.as_deref(), Some("leaver")),
        other => panic!("expected DELETED, got {other:?}"),
    }
}

async fn owned_replicaset(tc: &TestCluster, name: &str) -> (Api<Deployment>, Api<ReplicaSet>) {
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(tc.client.clone());
    let d = deploys
        .create(&PostParams::default(), &deployment(name))
        .await
        .expect("deployment");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-rs"), "labels": {"app": name},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                          "uid": d.metadata.uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "web:v1"}]}}}
    }))
    .expect("rs");
    rss.create(&PostParams::default(), &rs)
        .await
        .expect("replicaset");
    (deploys, rss)
}

#[tokio::test]
async fn garbage_collection_follows_owner_references() {
    let tc = TestCluster::api_only().await;

    let (deploys, rss) = owned_replicaset(&tc, "bg").await;
    deploys
        .delete("bg", &DeleteParams::background())
        .await
        .expect("delete");
    eventually("background cascade", Duration::from_secs(5), || async {
        rss.get_opt("bg-rs")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;

    let (deploys, rss) = owned_replicaset(&tc, "fg").await;
    deploys
        .delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete");
    eventually("foreground cascade", Duration::from_secs(5), || async {
        (rss.get_opt("fg-rs").await.expect("get").is_none()
            && deploys.get_opt("fg").await.expect("get").is_none())
        .then_some(())
    })
    .await;

    let (deploys, rss) = owned_replicaset(&tc, "or").await;
    deploys
        .delete(
            "or",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..Default::default()
            },
        )
        .await
        .expect("delete");
    assert!(deploys.get_opt("or").await.expect("get").is_none());
    let orphan = rss.get("or-rs").await.expect("orphan remains");
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn namespaces_and_services_behave_like_the_real_server() {
    let tc = TestCluster::api_only().await;
    let nss: Api<Namespace> = Api::all(tc.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns");
    nss.create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let svcs: Api<Service> = Api::namespaced(tc.client.clone(), "team");
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})).expect("svc");
    let s = svcs
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");
    let spec = s.spec.expect("spec");
    let ip = spec.cluster_ip.expect("clusterIP allocated");
    assert!(ip.starts_with("10.9"), "{ip}");
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));

    // creating in a missing namespace is 404
    let nowhere: Api<Service> = Api::namespaced(tc.client.clone(), "nowhere");
    let (code, _) = api_code(
        nowhere
            .create(&PostParams::default(), &svc)
            .await
            .expect_err("no namespace"),
    );
    assert_eq!(code, 404);

    // deleting the namespace deletes its content
    nss.delete("team", &DeleteParams::default())
        .await
        .expect("delete ns");
    eventually("namespace gone", Duration::from_secs(5), || async {
        nss.get_opt("team")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    let all: Api<Service> = Api::all(tc.client.clone());
    let left = all
        .list(&ListParams::default().fields("metadata.namespace=team"))
        .await
        .expect("list");
    assert!(left.items.is_empty());
}
