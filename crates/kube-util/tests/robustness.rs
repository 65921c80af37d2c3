//! Bad input never panics: label and field selectors (as clients write them in `?labelSelector=`
//! and `?fieldSelector=`), and timestamps. `scripts/fuzz.sh` runs these with many more cases.

use kube_util::selector::{FieldSelector, LabelSelector};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Selector-shaped text: keys, operators, sets, and the characters between them.
fn selector_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z0-9./-]{0,10}",
        Just("=".to_owned()),
        Just("==".to_owned()),
        Just("!=".to_owned()),
        Just("!".to_owned()),
        Just(",".to_owned()),
        Just(" in ".to_owned()),
        Just(" notin ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(" ".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..14).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn label_selectors_never_panic(text in selector_text()) {
        if let Ok(sel) = LabelSelector::parse(&text) {
            // What parses can be written back, and the written form (canonical: sorted)
            // parses to the same selector.
            let query = sel.to_query();
            let again = LabelSelector::parse(&query).map(|s| s.to_query());
            prop_assert_eq!(again.as_ref().ok(), Some(&query), "{:?} → {:?}", text, query);
            let labels = json!({"app": "web", "tier": "front"});
            let _ = sel.matches(labels.as_object());
        }
    }

    #[test]
    fn label_selector_objects_never_panic(
        keys in prop::collection::vec("\\PC{0,8}", 0..4),
        op in prop_oneof![Just("In"), Just("NotIn"), Just("Exists"), Just("DoesNotExist"), Just("Gt"), Just("")],
        values in prop::collection::vec("\\PC{0,6}", 0..3),
    ) {
        let match_labels: serde_json::Map<String, Value> =
            keys.iter().map(|k| (k.clone(), json!("v"))).collect();
        let object = json!({
            "matchLabels": match_labels,
            "matchExpressions": [{"key": keys.first().cloned().unwrap_or_default(), "operator": op, "values": values}]
        });
        let _ = LabelSelector::from_object(&object);
    }

    #[test]
    fn field_selectors_never_panic(text in selector_text()) {
        if let Ok(sel) = FieldSelector::parse(&text) {
            let _ = sel.pinned_name();
        }
    }

    #[test]
    fn timestamps_never_panic(text in "\\PC{0,40}") {
        let _ = kube_util::time::parse(&text);
    }
}
