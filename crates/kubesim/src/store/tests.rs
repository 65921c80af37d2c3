use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rt(group: &str, plural: &str) -> &'static ResourceType {
    resources::find(group, "v1", plural).expect("resource")
}

fn ns_body(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn names(items: &[Arc<Value>]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|o| (meta::namespace(o).to_string(), meta::name(o).to_string()))
        .collect()
}

/// What a list must answer, found the slow way: every object of the kind, filtered one by one.
fn scan(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Vec<(String, String)> {
    let snap = store.snapshot();
    let mut out: Vec<(String, String)> = snap
        .kind(rt)
        .objects
        .iter()
        .flat_map(|(n, m)| m.iter().map(move |(name, o)| (n, name, o)))
        .filter(|(n, _, o)| {
            ns.is_none_or(|x| x == &***n) && labels.matches_object(o) && fields.matches(o)
        })
        .map(|(n, name, _)| (n.to_string(), name.to_string()))
        .collect();
    out.sort();
    out
}

const NAMESPACES: [&str; 3] = ["a", "b", "c"];
const APPS: [&str; 4] = ["web", "db", "cache", "queue"];
const NODES: [&str; 3] = ["n1", "n2", "n3"];

fn random_pod(rng: &mut StdRng, name: &str) -> Value {
    let mut labels = serde_json::Map::new();
    if rng.random_bool(0.9) {
        labels.insert("app".into(), json!(APPS[rng.random_range(0..APPS.len())]));
    }
    if rng.random_bool(0.5) {
        let tier = ["front", "back"][rng.random_range(0..2)];
        labels.insert("tier".into(), json!(tier));
    }
    let mut spec = json!({"containers": [{"name": "app", "image": "web:v1"}]});
    if rng.random_bool(0.7) {
        spec["nodeName"] = json!(NODES[rng.random_range(0..NODES.len())]);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec})
}

fn random_event(rng: &mut StdRng, name: &str) -> Value {
    let target = format!("p{}", rng.random_range(0..8));
    let reason = ["Started", "Killing"][rng.random_range(0..2)];
    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
           "involvedObject": {"kind": "Pod", "name": target, "uid": format!("uid-{target}")},
           "reason": reason, "message": "m", "type": "Normal"})
}

fn random_labels(rng: &mut StdRng) -> LabelSelector {
    let terms = [
        format!("app={}", APPS[rng.random_range(0..APPS.len())]),
        format!("app!={}", APPS[rng.random_range(0..APPS.len())]),
        "tier".to_string(),
        "!tier".to_string(),
        format!("app in ({})", APPS[rng.random_range(0..APPS.len())]),
        format!(
            "app in ({},{})",
            APPS[0],
            APPS[rng.random_range(1..APPS.len())]
        ),
        "tier=front".to_string(),
        "app=nothing".to_string(),
    ];
    let n = rng.random_range(0..3);
    let chosen: Vec<&str> = (0..n)
        .map(|_| terms[rng.random_range(0..terms.len())].as_str())
        .collect();
    LabelSelector::parse(&chosen.join(",")).expect("selector")
}

fn random_fields(rng: &mut StdRng, kind: &str) -> FieldSelector {
    let mut terms: Vec<String> = vec![
        format!("metadata.name=x{}", rng.random_range(0..40)),
        format!(
            "metadata.namespace={}",
            NAMESPACES[rng.random_range(0..NAMESPACES.len())]
        ),
    ];
    if kind == "pods" {
        terms.push(format!(
            "spec.nodeName={}",
            NODES[rng.random_range(0..NODES.len())]
        ));
        terms.push("spec.nodeName=".into());
        terms.push("spec.nodeName!=n1".into());
    } else {
        let target = format!("p{}", rng.random_range(0..8));
        terms.push(format!("involvedObject.name={target}"));
        terms.push(format!("involvedObject.uid=uid-{target}"));
        terms.push("reason=Started".into());
    }
    let n = rng.random_range(0..3);
    let chosen: Vec<&str> = (0..n)
        .map(|_| terms[rng.random_range(0..terms.len())].as_str())
        .collect();
    FieldSelector::parse(&chosen.join(",")).expect("selector")
}

/// The indexes (labels, fields, names, namespaces) answer every list exactly as a scan of all
/// objects would, in the same order, through creates, updates and deletes, page by page.
#[test]
fn indexes_answer_as_a_full_scan() {
    let store = Store::new();
    let opts = WriteOptions::system();
    for ns in NAMESPACES {
        store
            .create(namespaces(), "", ns_body(ns), &opts)
            .expect("namespace");
    }
    let pods = rt("", "pods");
    let events = rt("", "events");
    let mut rng = StdRng::seed_from_u64(7);
    for step in 0..1500 {
        let (kind, rt) = if rng.random_bool(0.6) {
            ("pods", pods)
        } else {
            ("events", events)
        };
        let ns = NAMESPACES[rng.random_range(0..NAMESPACES.len())];
        let name = format!("x{}", rng.random_range(0..40));
        let body = if kind == "pods" {
            random_pod(&mut rng, &name)
        } else {
            random_event(&mut rng, &name)
        };
        match rng.random_range(0..10) {
            0..=5 => {
                let _ = store.modify(rt, ns, &name, Part::System, &opts, |_| Ok(body));
            }
            6..=7 => {
                let _ = store.delete(
                    rt,
                    ns,
                    &name,
                    &DeleteOptions {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                );
            }
            _ => {}
        }
        if step % 5 != 0 {
            continue;
        }
        for _ in 0..4 {
            let labels = random_labels(&mut rng);
            let fields = random_fields(&mut rng, kind);
            let within = rng
                .random_bool(0.5)
                .then(|| NAMESPACES[rng.random_range(0..NAMESPACES.len())]);
            let expected = scan(&store, rt, within, &labels, &fields);
            let whole = store.list(rt, within, &labels, &fields, None, None);
            assert_eq!(
                names(&whole.items),
                expected,
                "list {kind} in {within:?} with labels {labels:?} fields {fields:?}"
            );
            // The same answer page by page.
            let limit = rng.random_range(1..6);
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page = store.list(rt, within, &labels, &fields, Some(limit), after);
                assert!(page.items.len() <= limit);
                paged.extend(names(&page.items));
                assert_eq!(page.remaining, expected.len() - paged.len());
                match page.continue_after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(paged, expected, "paged {kind} with {labels:?} {fields:?}");
        }
    }
}

/// The owner index follows ownerReferences through creates, updates that change them, and
/// deletes.
#[test]
fn owner_index_tracks_references() {
    let store = Store::new();
    let opts = WriteOptions::system();
    let cms = rt("", "configmaps");
    let owner = store
        .create(
            cms,
            "default",
            json!({"metadata": {"name": "owner"}}),
            &opts,
        )
        .expect("owner");
    let uid = meta::uid(&owner).to_string();
    let owned = |name: &str| {
        json!({"metadata": {"name": name, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}})
    };
    for name in ["d1", "d2"] {
        store
            .create(cms, "default", owned(name), &opts)
            .expect("dep");
    }
    let deps = |s: &Store| {
        let mut v: Vec<String> = s
            .dependents(&uid)
            .iter()
            .map(|(_, o)| meta::name(o).to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(deps(&store), ["d1", "d2"]);
    store
        .update(
            cms,
            "default",
            "d1",
            json!({"metadata": {"name": "d1"}}),
            Part::Main,
            &opts,
        )
        .expect("drop the reference");
    assert_eq!(deps(&store), ["d2"]);
    store
        .delete(cms, "default", "d2", &DeleteOptions::default())
        .expect("delete");
    assert!(deps(&store).is_empty());
    assert!(store.uid_exists(&uid));
    let (_, found) = store.by_uid(&uid).expect("by uid");
    assert_eq!(meta::name(&found), "owner");
}

/// Orphan propagation removes the references before the owner goes; foreground propagation
/// holds the owner with a finalizer while it has dependents.
#[test]
fn orphan_and_foreground_marks() {
    let store = Store::new();
    let opts = WriteOptions::system();
    let cms = rt("", "configmaps");
    let make = |owner: &str| {
        let o = store
            .create(cms, "default", json!({"metadata": {"name": owner}}), &opts)
            .expect("owner");
        let uid = meta::uid(&o).to_string();
        store
            .create(
                cms,
                "default",
                json!({"metadata": {"name": format!("{owner}-dep"), "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid}]}}),
                &opts,
            )
            .expect("dependent");
        uid
    };
    let orphan_uid = make("or");
    let (_, gone) = store
        .delete(
            cms,
            "default",
            "or",
            &DeleteOptions {
                propagation: Some(Propagation::Orphan),
                ..Default::default()
            },
        )
        .expect("delete");
    assert!(gone);
    let dep = store.get(cms, "default", "or-dep").expect("orphan stays");
    assert_eq!(meta::owner_uids(&dep).count(), 0);
    assert!(store.dependents(&orphan_uid).is_empty());

    make("fg");
    let (marked, gone) = store
        .delete(
            cms,
            "default",
            "fg",
            &DeleteOptions {
                propagation: Some(Propagation::Foreground),
                ..Default::default()
            },
        )
        .expect("delete");
    assert!(!gone);
    assert!(meta::finalizers(&marked).contains(&"foregroundDeletion"));
    // Not while a dependent remains.
    assert!(
        !store
            .finish_foreground_deletion(cms, "default", "fg")
            .expect("finish")
    );
    store
        .delete(cms, "default", "fg-dep", &DeleteOptions::default())
        .expect("delete dependent");
    assert!(
        store
            .finish_foreground_deletion(cms, "default", "fg")
            .expect("finish")
    );
    assert!(store.get(cms, "default", "fg").is_err());
}

fn cm_event(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
           "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
           "reason": "Started", "message": "m", "type": "Normal"})
}

/// Events expire a TTL after their last write, by the store's clock, and watchers see them
/// go.
#[test]
fn events_expire_after_their_ttl() {
    let clock = Clock::manual();
    let ttl = Duration::from_secs(3600);
    let store = Store::with_options(StoreOptions {
        event_ttl: ttl,
        clock: clock.clone(),
        ..Default::default()
    });
    let events = rt("", "events");
    let opts = WriteOptions::system();
    store
        .create(events, "default", cm_event("first"), &opts)
        .expect("event");
    clock.advance(Duration::from_secs(1800));
    store
        .create(events, "default", cm_event("second"), &opts)
        .expect("event");
    let rv = store.resource_version();

    clock.advance(Duration::from_secs(1799));
    assert_eq!(store.expire_events().expect("expire"), 0);
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.expire_events().expect("expire"), 1);
    assert!(store.get(events, "default", "first").is_err());
    assert!(store.get(events, "default", "second").is_ok());

    // A write renews the TTL.
    store
        .modify(events, "default", "second", Part::Main, &opts, |cur| {
            let mut next = cur.cloned().unwrap_or_default();
            next["count"] = json!(2);
            Ok(next)
        })
        .expect("bump");
    clock.advance(Duration::from_secs(3000));
    assert_eq!(store.expire_events().expect("expire"), 0);
    clock.advance(Duration::from_secs(601));
    assert_eq!(store.expire_events().expect("expire"), 1);
    assert_eq!(store.count(events), 0);
    assert!(store.next_event_expiry().is_none());

    let (backlog, _, _) = store.watch(events, None, Since::After(rv)).expect("watch");
    let deleted: Vec<&str> = backlog
        .iter()
        .filter(|e| e.event_type == EventType::Deleted)
        .map(|e| meta::name(&e.object))
        .collect();
    assert_eq!(deleted, ["first", "second"]);
}

/// A watch resumes from any version still in the history and gets 410 Expired from before
/// it; the history stays within its bound.
#[test]
fn watch_history_is_bounded() {
    let store = Store::with_history(50);
    let cms = rt("", "configmaps");
    let opts = WriteOptions::system();
    let start = store.resource_version();
    for i in 0..120 {
        store
            .create(
                cms,
                "default",
                json!({"metadata": {"name": format!("c{i}")}}),
                &opts,
            )
            .expect("create");
    }
    assert_eq!(store.snapshot().history.len(), 50);
    assert!(matches!(
        store.watch(cms, None, Since::After(start)),
        Err(StoreError::Expired { .. })
    ));
    let now = store.resource_version();
    let (backlog, _, current) = store
        .watch(cms, Some("default"), Since::After(now - 10))
        .expect("watch");
    assert_eq!(current, now);
    let versions: Vec<u64> = backlog.iter().map(|e| e.resource_version).collect();
    assert_eq!(versions, ((now - 9)..=now).collect::<Vec<_>>());
}

/// Large objects leave the history by its byte budget long before its count: a watch from
/// before them gets 410 Expired, one from the newest changes resumes; the newest change stays
/// even when it alone is over the budget.
#[test]
fn watch_history_is_bounded_by_bytes() {
    let store = Store::with_options(StoreOptions {
        history: 1_000,
        history_bytes: 64 << 10,
        ..Default::default()
    });
    let cms = rt("", "configmaps");
    let opts = WriteOptions::system();
    let start = store.resource_version();
    let big = "x".repeat(8 << 10);
    for i in 0..40 {
        store
            .create(
                cms,
                "default",
                json!({"metadata": {"name": format!("c{i}")}, "data": {"big": big}}),
                &opts,
            )
            .expect("create");
    }
    let snap = store.snapshot();
    assert!(snap.history.len() < 10, "{} kept", snap.history.len());
    assert!(snap.history_bytes <= 64 << 10);
    let held: usize = snap.history.iter().map(|e| e.bytes).sum();
    assert_eq!(held, snap.history_bytes);
    assert!(matches!(
        store.watch(cms, None, Since::After(start)),
        Err(StoreError::Expired { .. })
    ));
    let now = store.resource_version();
    let (backlog, _, _) = store
        .watch(cms, Some("default"), Since::After(now - 2))
        .expect("watch");
    assert_eq!(backlog.len(), 2);
    let huge = "x".repeat(128 << 10);
    store
        .create(
            cms,
            "default",
            json!({"metadata": {"name": "huge"}, "data": {"big": huge}}),
            &opts,
        )
        .expect("create");
    let (backlog, _, _) = store
        .watch(cms, Some("default"), Since::After(now))
        .expect("the newest change stays");
    assert_eq!(backlog.len(), 1);
}

/// A write the disk refuses changes nothing in memory: no object, no resource version, no
/// event; the same write succeeds once the disk works again.
#[test]
fn a_failed_disk_write_leaves_memory_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), HISTORY).expect("open");
    let cms = rt("", "configmaps");
    let opts = WriteOptions::system();
    store
        .create(
            cms,
            "default",
            json!({"metadata": {"name": "kept", "labels": {"v": "1"}}}),
            &opts,
        )
        .expect("create");
    let rv = store.resource_version();
    let mut feed = store.subscribe();

    store.fail_disk_writes(true);
    let err = store
        .create(cms, "default", json!({"metadata": {"name": "new"}}), &opts)
        .expect_err("the disk refuses");
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    let err = store
        .modify(cms, "default", "kept", Part::Main, &opts, |cur| {
            let mut next = cur.cloned().unwrap_or_default();
            next["metadata"]["labels"]["v"] = json!("2");
            Ok(next)
        })
        .expect_err("the disk refuses");
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    assert!(
        store
            .delete(cms, "default", "kept", &DeleteOptions::default())
            .is_err()
    );
    assert!(store.get(cms, "default", "new").is_err());
    let kept = store.get(cms, "default", "kept").expect("still there");
    assert_eq!(kept["metadata"]["labels"]["v"], "1");
    assert_eq!(store.resource_version(), rv);
    let v1 = LabelSelector::parse("v=1").expect("selector");
    assert_eq!(
        store
            .list(cms, None, &v1, &FieldSelector::default(), None, None)
            .items
            .len(),
        1
    );
    assert!(feed.try_recv().is_err(), "no event for a write that failed");

    store.fail_disk_writes(false);
    store
        .create(cms, "default", json!({"metadata": {"name": "new"}}), &opts)
        .expect("works again");
    assert_eq!(store.resource_version(), rv + 1);
    drop(store);
    let reopened = Store::open(dir.path(), HISTORY).expect("reopen");
    assert!(reopened.get(cms, "default", "new").is_ok());
    assert_eq!(
        reopened.get(cms, "default", "kept").expect("kept")["metadata"]["labels"]["v"],
        "1"
    );
}

/// Readers keep the version they loaded while writers move on.
#[test]
fn a_list_is_a_consistent_snapshot() {
    let store = Store::new();
    let cms = rt("", "configmaps");
    let opts = WriteOptions::system();
    for i in 0..100 {
        store
            .create(
                cms,
                "default",
                json!({"metadata": {"name": format!("c{i:03}")}}),
                &opts,
            )
            .expect("create");
    }
    let snap = store.snapshot();
    for i in 0..50 {
        store
            .delete(
                cms,
                "default",
                &format!("c{i:03}"),
                &DeleteOptions::default(),
            )
            .expect("delete");
    }
    assert_eq!(snap.kind(cms).len, 100);
    assert_eq!(store.count(cms), 50);
}
