use super::*;
use crate::store::{Clock, StoreOptions};

fn subject(store: &Store) -> Arc<Value> {
    let cms = resources::find("", "v1", "configmaps").expect("configmaps");
    store
        .create(
            cms,
            "default",
            json!({"metadata": {"name": "subject"}}),
            &WriteOptions::system(),
        )
        .expect("configmap")
}

fn events_of(store: &Store) -> Vec<Arc<Value>> {
    let events = resources::find("", "v1", "events").expect("events");
    store.all(events, Some("default"))
}

#[test]
fn a_repeat_within_the_window_counts_on_the_same_event() {
    let store = Store::new();
    let obj = subject(&store);
    let t0: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().expect("time");
    record_at(&store, &obj, "c", "Normal", "R", "m", t0);
    record_at(
        &store,
        &obj,
        "c",
        "Normal",
        "R",
        "m",
        t0 + jiff::SignedDuration::from_secs(30),
    );
    record_at(
        &store,
        &obj,
        "c",
        "Normal",
        "R",
        "m",
        t0 + jiff::SignedDuration::from_secs(90),
    );
    let events = events_of(&store);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["count"], 3);
    assert_eq!(e["firstTimestamp"], "2024-01-01T00:00:00Z");
    assert_eq!(e["lastTimestamp"], "2024-01-01T00:01:30Z");
    assert_eq!(e["series"]["count"], 3);
    assert_eq!(
        e["series"]["lastObservedTime"],
        "2024-01-01T00:01:30.000000Z"
    );

    // Another reason, message or type is another Event.
    record_at(&store, &obj, "c", "Warning", "R", "m", t0);
    record_at(&store, &obj, "c", "Normal", "R", "other", t0);
    assert_eq!(events_of(&store).len(), 3);
}

#[test]
fn a_repeat_after_the_window_starts_afresh() {
    let store = Store::new();
    let obj = subject(&store);
    let t0: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().expect("time");
    record_at(&store, &obj, "c", "Normal", "R", "m", t0);
    record_at(
        &store,
        &obj,
        "c",
        "Normal",
        "R",
        "m",
        t0 + jiff::SignedDuration::from_secs(1),
    );
    let later = t0 + jiff::SignedDuration::from_secs(SERIES_WINDOW.as_secs() as i64 + 60);
    record_at(&store, &obj, "c", "Normal", "R", "m", later);
    let events = events_of(&store);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["count"], 1);
    assert!(e.get("series").is_none());
    assert_eq!(e["firstTimestamp"], e["lastTimestamp"]);
}

#[test]
fn recorded_events_expire_with_the_store_ttl() {
    let clock = Clock::manual();
    let store = Store::with_options(StoreOptions {
        event_ttl: Duration::from_secs(60),
        clock: clock.clone(),
        ..Default::default()
    });
    let obj = subject(&store);
    record(&store, &obj, "c", "Normal", "R", "m");
    clock.advance(Duration::from_secs(59));
    assert_eq!(store.expire_events().expect("expire"), 0);
    record(&store, &obj, "c", "Normal", "R", "m");
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        store.expire_events().expect("expire"),
        0,
        "the repeat renewed it"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.expire_events().expect("expire"), 1);
    assert!(events_of(&store).is_empty());
}
