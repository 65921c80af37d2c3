//! The `pod-template-hash` the Deployment controller stamps on the ReplicaSets it creates.
//!
//! Kubernetes names a Deployment's ReplicaSet `<deployment>-<hash>` and labels the RS, its
//! selector and its pods with `pod-template-hash=<hash>`, so that ReplicaSets of different
//! templates never select each other's pods. The hash only has to be deterministic for a given
//! template (and collision count) and look like the real thing: kube-controller-manager feeds a
//! `spew` dump of the Go struct into FNV-32a, which cannot be reproduced outside Go, so we feed it
//! the canonical JSON of the template instead. The encoding step is the same as Kubernetes'
//! `rand.SafeEncodeString`, so hashes use the same alphabet and length (up to 10 characters).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// Label key carrying the template hash on ReplicaSets, their selectors and their pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The alphabet of `k8s.io/apimachinery/pkg/util/rand`: no vowels and no confusable characters,
/// so generated names never spell words.
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// Incremental FNV-1a (32-bit), the hash `hash/fnv.New32a` gives Kubernetes.
#[derive(Clone, Copy, Debug)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Self(FNV32_OFFSET_BASIS)
    }
}

impl Fnv32a {
    /// Mixes `bytes` into the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
        }
    }

    /// The hash of everything written so far.
    pub fn finish(self) -> u32 {
        self.0
    }
}

/// FNV-1a (32-bit) of `bytes` in one go.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h = Fnv32a::default();
    h.write(bytes);
    h.finish()
}

/// Maps every character of `s` onto [`SAFE_ALPHABET`] by its code point modulo 27, exactly as
/// `rand.SafeEncodeString` does (it is applied to the decimal digits of the hash, so `'0'` → `4`,
/// `'6'` → `b`, …).
pub fn safe_encode_string(s: &str) -> String {
    s.chars()
        .map(|c| char::from(SAFE_ALPHABET[(c as usize) % SAFE_ALPHABET.len()]))
        .collect()
}

/// Writes `value` as JSON with object keys sorted and `null` members dropped, so that the same
/// template always produces the same bytes whatever order its maps were built in and whether an
/// absent field was spelled `null` or left out.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k.as_str()) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The `pod-template-hash` for `template` (the Deployment's template, without a hash label) and
/// the Deployment's `status.collisionCount`.
///
/// Like `controller.ComputeHash`, the collision count (when present) is appended as eight bytes:
/// the count as a little-endian `u32` followed by four zero bytes; bumping it after a name
/// collision yields a different name.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serialising a typed template cannot realistically fail; should it, hash `null` rather than
    // panic, which still yields a stable (if shared) name.
    let value = serde_json::to_value(template).unwrap_or(Value::Null);
    let mut h = Fnv32a::default();
    h.write(canonical_json(&value).as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        h.write(&bytes);
    }
    safe_encode_string(&h.finish().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn fnv32a_matches_reference_vectors() {
        // Published FNV-1a 32-bit test vectors.
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn safe_encoding_maps_digits_like_kubernetes() {
        // '0'..'9' are code points 48..57; 48 % 27 = 21 → '4', 54 % 27 = 0 → 'b'.
        assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
        // Every hash character comes from the safe alphabet and there are at most 10 of them.
        let h = compute_hash(&template("nginx:1.25"), None);
        assert!(!h.is_empty() && h.len() <= 10);
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn hash_is_deterministic_and_template_sensitive() {
        let a = compute_hash(&template("nginx:1.25"), None);
        assert_eq!(a, compute_hash(&template("nginx:1.25"), None));
        assert_ne!(a, compute_hash(&template("nginx:1.26"), None));
    }

    #[test]
    fn collision_count_changes_the_hash() {
        let t = template("nginx:1.25");
        let none = compute_hash(&t, None);
        let zero = compute_hash(&t, Some(0));
        let one = compute_hash(&t, Some(1));
        // A present count of 0 still appends eight bytes, as in Kubernetes.
        assert_ne!(none, zero);
        assert_ne!(zero, one);
        let mut h = Fnv32a::default();
        h.write(canonical_json(&serde_json::to_value(&t).unwrap_or(Value::Null)).as_bytes());
        h.write(&[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(one, safe_encode_string(&h.finish().to_string()));
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_nulls() {
        let v = serde_json::json!({"b": 1, "a": {"d": null, "c": [1, {"z": 1, "y": 2}]}});
        assert_eq!(canonical_json(&v), r#"{"a":{"c":[1,{"y":2,"z":1}]},"b":1}"#);
        let reordered = serde_json::json!({"a": {"c": [1, {"y": 2, "z": 1}]}, "b": 1});
        assert_eq!(canonical_json(&v), canonical_json(&reordered));
    }
}
