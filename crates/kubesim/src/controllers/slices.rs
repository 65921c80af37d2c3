//! How a Service's endpoints are spread over EndpointSlices: at most [`MAX_PER_SLICE`] in
//! each (the endpointslice controller's default `--max-endpoints-per-slice`), and an endpoint
//! stays in the slice that already has it. A pod that becomes ready then rewrites one slice
//! of a hundred endpoints, not one object listing every pod of the Service: with a thousand
//! pods that is the difference between a few kilobytes per change, kept in the watch
//! history and sent to every watcher, and a megabyte.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Most endpoints one slice holds.
pub const MAX_PER_SLICE: usize = 100;

/// What to write so that the slices hold the desired endpoints.
#[derive(Debug, Default, PartialEq)]
pub struct SlicePlan {
    /// Existing slices (by name) and the endpoints each is to hold, in their order.
    pub keep: Vec<(String, Vec<Value>)>,
    /// New slices to create, each with its endpoints.
    pub create: Vec<Vec<Value>>,
    /// Existing slices left with nothing to hold.
    pub delete: Vec<String>,
}

/// An endpoint's identity across rewrites: its first address.
fn key(endpoint: &Value) -> Option<&str> {
    endpoint.pointer("/addresses/0").and_then(Value::as_str)
}

/// Spreads `desired` over the `existing` slices (name and current endpoints, sorted by name).
/// Endpoints keep their slice; new ones fill the slices that have room, then new slices. A
/// Service with no endpoints keeps one empty slice, as the real controller does.
pub fn plan(existing: &[(String, Vec<Value>)], desired: &[Value]) -> SlicePlan {
    let mut wanted: HashMap<&str, &Value> =
        desired.iter().filter_map(|e| Some((key(e)?, e))).collect();
    let mut kept: Vec<(String, Vec<Value>)> = existing
        .iter()
        .map(|(name, current)| {
            let still: Vec<Value> = current
                .iter()
                .filter_map(|e| wanted.remove(key(e)?))
                .take(MAX_PER_SLICE)
                .cloned()
                .collect();
            (name.clone(), still)
        })
        .collect();
    // New endpoints, in the order they were asked for.
    let mut seen = HashSet::new();
    let mut fresh = desired
        .iter()
        .filter(|e| key(e).is_some_and(|k| wanted.contains_key(k) && seen.insert(k)))
        .cloned()
        .peekable();
    for (_, slice) in &mut kept {
        while slice.len() < MAX_PER_SLICE {
            match fresh.next() {
                Some(e) => slice.push(e),
                None => break,
            }
        }
    }
    let mut create = Vec::new();
    while fresh.peek().is_some() {
        create.push(fresh.by_ref().take(MAX_PER_SLICE).collect::<Vec<_>>());
    }
    let mut plan = SlicePlan {
        create,
        ..SlicePlan::default()
    };
    for (name, slice) in kept {
        if slice.is_empty() {
            plan.delete.push(name);
        } else {
            plan.keep.push((name, slice));
        }
    }
    // A Service with no endpoints at all keeps its first slice, empty.
    if plan.keep.is_empty() && plan.create.is_empty() {
        if let Some(first) = plan.delete.first().cloned() {
            plan.delete.remove(0);
            plan.keep.push((first, Vec::new()));
        } else {
            plan.create.push(Vec::new());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ep(i: usize) -> Value {
        json!({"addresses": [format!("127.1.{}.{}", i / 250, i % 250 + 1)], "conditions": {"ready": true}})
    }

    fn eps(range: std::ops::Range<usize>) -> Vec<Value> {
        range.map(ep).collect()
    }

    #[test]
    fn a_new_service_gets_slices_of_a_hundred() {
        let p = plan(&[], &eps(0..250));
        assert_eq!(
            p.create.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert!(p.keep.is_empty() && p.delete.is_empty());
    }

    #[test]
    fn a_changed_endpoint_stays_in_its_slice_and_others_are_untouched() {
        let existing = vec![
            ("web-a".to_string(), eps(0..100)),
            ("web-b".to_string(), eps(100..150)),
        ];
        let mut desired = eps(0..150);
        desired[120]["conditions"]["ready"] = json!(false);
        let p = plan(&existing, &desired);
        assert_eq!(p.keep[0], existing[0], "the first slice is as it was");
        assert_eq!(p.keep[1].0, "web-b");
        assert_eq!(p.keep[1].1[20]["conditions"]["ready"], false);
        assert!(p.create.is_empty() && p.delete.is_empty());
    }

    #[test]
    fn new_endpoints_fill_room_before_new_slices_and_empty_slices_go() {
        let existing = vec![
            ("web-a".to_string(), eps(0..100)),
            ("web-b".to_string(), eps(100..130)),
        ];
        // The first slice's pods are replaced by 150 new ones: they fill the room there is,
        // in the slices that exist, before a new slice is made.
        let p = plan(&existing, &eps(100..280));
        assert_eq!(p.keep[0], ("web-a".to_string(), eps(130..230)));
        assert_eq!(p.keep[1].1[..30], eps(100..130)[..]);
        assert_eq!(p.keep[1].1.len(), 80);
        assert!(p.create.is_empty());
        // Only the second slice's pods are left: the first goes.
        let p = plan(&existing, &eps(100..130));
        assert_eq!(p.delete, ["web-a"]);
        assert_eq!(p.keep, [existing[1].clone()]);
    }

    #[test]
    fn a_service_with_no_endpoints_keeps_one_empty_slice() {
        let existing = vec![
            ("web-a".to_string(), eps(0..3)),
            ("web-b".to_string(), eps(3..5)),
        ];
        let p = plan(&existing, &[]);
        assert_eq!(p.keep, [("web-a".to_string(), Vec::new())]);
        assert_eq!(p.delete, ["web-b"]);
        assert_eq!(plan(&[], &[]).create, [Vec::<Value>::new()]);
    }
}
