//! How much memory an object holds, approximately: enough to bound what the watch history
//! keeps by bytes rather than by count, without encoding the object.

use serde_json::Value;

/// A JSON node's own cost (the enum, a map entry's or vector slot's share of its container).
const NODE: usize = 32;

/// The bytes `value` holds: its strings and keys plus a fixed cost per node. Proportional to
/// what the allocator gives it, within a small factor, which is all a budget needs.
pub fn approx_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => NODE,
        Value::String(s) => NODE + s.len(),
        Value::Array(items) => NODE + items.iter().map(approx_bytes).sum::<usize>(),
        Value::Object(map) => {
            NODE + map
                .iter()
                .map(|(k, v)| NODE + k.len() + approx_bytes(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grows_with_what_the_object_holds() {
        let small = json!({"metadata": {"name": "a"}});
        let endpoint = json!({"addresses": ["10.0.0.1"], "conditions": {"ready": true}});
        let slice =
            |n: usize| json!({"metadata": {"name": "a"}, "endpoints": vec![endpoint.clone(); n]});
        assert!(approx_bytes(&small) < approx_bytes(&slice(1)));
        let one = approx_bytes(&slice(1));
        let hundred = approx_bytes(&slice(100));
        // Linear in the endpoints: a hundred cost about a hundred times one.
        let per_endpoint = approx_bytes(&endpoint);
        assert_eq!(hundred - one, 99 * per_endpoint);
        // At least as large as the JSON it encodes to.
        let encoded = serde_json::to_vec(&slice(100))
            .map(|v| v.len())
            .unwrap_or(0);
        assert!(hundred >= encoded, "{hundred} < {encoded}");
    }
}
