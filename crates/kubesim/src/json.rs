//! Reading objects held as JSON the lenient way the API server's Go code reads decoded
//! structs: an absent field, a `null` and a value of the wrong type all read as the zero
//! value (`""`, `[]`, `0`), so a check or a printer never has to tell them apart.

use serde_json::Value;

/// The value at `path` (object keys from the root); `None` when absent or `null`.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// A string field, empty when absent.
pub fn str_or_empty<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    str_at(v, path).unwrap_or("")
}

/// A number field read as an integer; a float is truncated, as printers convert it.
pub fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

pub fn bool_at(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// A list field, empty when absent.
pub fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Number of entries of a map or list field (0 when absent).
pub fn len_at(v: &Value, path: &[&str]) -> usize {
    match at(v, path) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_null_and_mistyped_read_as_zero_values() {
        let v = json!({"a": {"s": "x", "n": null, "i": 3, "f": 2.7, "b": true, "l": [1, 2], "m": {"k": 1}}});
        assert_eq!(str_or_empty(&v, &["a", "s"]), "x");
        assert_eq!(str_or_empty(&v, &["a", "i"]), "");
        assert_eq!(str_at(&v, &["a", "missing"]), None);
        assert!(at(&v, &["a", "n"]).is_none());
        assert_eq!(int_at(&v, &["a", "i"]), Some(3));
        assert_eq!(int_at(&v, &["a", "f"]), Some(2));
        assert!(bool_at(&v, &["a", "b"]));
        assert!(!bool_at(&v, &["a", "s"]));
        assert_eq!(arr_at(&v, &["a", "l"]).len(), 2);
        assert!(arr_at(&v, &["a", "s", "deeper"]).is_empty());
        assert_eq!(len_at(&v, &["a", "l"]), 2);
        assert_eq!(len_at(&v, &["a", "m"]), 1);
        assert_eq!(len_at(&v, &["a", "s"]), 0);
    }
}
