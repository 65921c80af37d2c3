use super::*;
use crate::store::WriteOptions;
use serde_json::json;
use std::time::Duration;

fn cms() -> &'static ResourceType {
    resources::find("", "v1", "configmaps").expect("configmaps")
}

fn owned_by(name: &str, owner: &Value) -> Value {
    json!({"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": str_at(owner, "/metadata/name"),
        "uid": str_at(owner, "/metadata/uid")}]}})
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_object_whose_owners_never_existed_is_collected() {
    let store = Store::new();
    let gc = GarbageCollector::start(store.clone());
    let opts = WriteOptions::system();
    let ghost = json!({"metadata": {"name": "ghost", "uid": "no-such-uid"}});
    store
        .create(cms(), "default", owned_by("stray", &ghost), &opts)
        .expect("create");
    store
        .create(
            cms(),
            "default",
            json!({"metadata": {"name": "plain"}}),
            &opts,
        )
        .expect("create");
    until("stray collected", || {
        store.get(cms(), "default", "stray").is_err()
    })
    .await;
    assert!(store.get(cms(), "default", "plain").is_ok());
    gc.stop().await;
}

/// Foreground deletion down a chain A → B → C: C goes first, then B, then A; among many
/// unrelated objects, none of which is touched.
#[tokio::test]
async fn foreground_deletion_goes_down_a_chain() {
    let store = Store::new();
    let gc = GarbageCollector::start(store.clone());
    let opts = WriteOptions::system();
    for i in 0..500 {
        store
            .create(
                cms(),
                "default",
                json!({"metadata": {"name": format!("other-{i}")}}),
                &opts,
            )
            .expect("create");
    }
    let a = store
        .create(cms(), "default", json!({"metadata": {"name": "a"}}), &opts)
        .expect("a");
    let b = store
        .create(cms(), "default", owned_by("b", &a), &opts)
        .expect("b");
    store
        .create(cms(), "default", owned_by("c", &b), &opts)
        .expect("c");
    let mut feed = store.subscribe();
    let (_, gone) = store
        .delete(
            cms(),
            "default",
            "a",
            &DeleteOptions {
                propagation: Some(Propagation::Foreground),
                ..Default::default()
            },
        )
        .expect("delete");
    assert!(!gone);
    until("chain collected", || {
        ["a", "b", "c"]
            .iter()
            .all(|n| store.get(cms(), "default", n).is_err())
    })
    .await;
    let mut order = Vec::new();
    while let Ok(e) = feed.try_recv() {
        if e.event_type == EventType::Deleted {
            order.push(str_at(&e.object, "/metadata/name").to_string());
        }
    }
    assert_eq!(order, ["c", "b", "a"]);
    assert_eq!(store.count(cms()), 500, "the others stay");
    gc.stop().await;
}
