//! Label and field selectors, as the API server parses them from `labelSelector` / `fieldSelector`
//! query parameters (shared by the embedded API server and the orchestrator).

use serde_json::Value;

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// Why a selector string could not be parsed; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

impl LabelSelector {
    /// Parses the string syntax (`a=b,c!=d,e in (f,g),!h,i`).
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_terms(input) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(Self { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` object (`matchLabels` +
    /// `matchExpressions`), as found in workload specs.
    pub fn from_object(selector: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v.as_str().unwrap_or_default();
                requirements.push(Requirement::Equals(k.clone(), v.to_string()));
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                requirements.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => {
                        return Err(SelectorError(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                });
            }
        }
        Ok(Self { requirements })
    }

    /// A selector from a plain map (`Service.spec.selector`).
    pub fn from_map(map: &serde_json::Map<String, Value>) -> Self {
        let requirements = map
            .iter()
            .map(|(k, v)| {
                Requirement::Equals(k.clone(), v.as_str().unwrap_or_default().to_string())
            })
            .collect();
        Self { requirements }
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label map (the object's `metadata.labels`, possibly absent) matches.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }

    /// The `key=value` pairs every matching object carries: the equality terms, and set terms
    /// with a single value. What a label index can look up; the other terms still need
    /// [`Self::matches`].
    pub fn required_labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.requirements.iter().filter_map(|r| match r {
            Requirement::Equals(k, v) => Some((k.as_str(), v.as_str())),
            Requirement::In(k, vs) if vs.len() == 1 => vs.first().map(|v| (k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Whether an object's labels match.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    /// The canonical string form (as in `Scale.status.selector`).
    pub fn to_query(&self) -> String {
        let mut parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", sorted(vs).join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", sorted(vs).join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        parts.sort();
        parts.join(",")
    }
}

fn sorted(vs: &[String]) -> Vec<String> {
    let mut v = vs.to_vec();
    v.sort();
    v
}

/// Splits on commas that are not inside parentheses.
fn split_terms(input: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&input[start..]);
    out
}

fn parse_requirement(term: &str) -> Result<Requirement, SelectorError> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(valid_key(key.trim(), term)?));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(
            valid_key(k.trim(), term)?,
            valid_value(v.trim(), term)?,
        ));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(
            valid_key(k.trim(), term)?,
            valid_value(v.trim(), term)?,
        ));
    }
    let words: Vec<&str> = term
        .splitn(3, char::is_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() >= 2 && (words[1] == "in" || words[1] == "notin") {
        let rest = term[term.find(words[1]).unwrap_or(0) + words[1].len()..].trim();
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| {
                SelectorError(format!("{term:?}: expected a parenthesised list of values"))
            })?;
        let values = inner
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| valid_value(v, term))
            .collect::<Result<Vec<String>, _>>()?;
        let key = valid_key(words[0], term)?;
        return Ok(if words[1] == "in" {
            Requirement::In(key, values)
        } else {
            Requirement::NotIn(key, values)
        });
    }
    if term.contains(char::is_whitespace) {
        return Err(SelectorError(format!("{term:?}: found unexpected words")));
    }
    Ok(Requirement::Exists(valid_key(term, term)?))
}

/// A label key by the API server's rules: a qualified name (`prefix/name`).
fn valid_key(key: &str, term: &str) -> Result<String, SelectorError> {
    match crate::names::is_qualified_name(key).first() {
        None => Ok(key.to_string()),
        Some(why) => Err(SelectorError(format!(
            "{term:?}: invalid label key {key:?}: {why}"
        ))),
    }
}

/// A label value by the API server's rules (empty is allowed).
fn valid_value(value: &str, term: &str) -> Result<String, SelectorError> {
    match crate::names::is_valid_label_value(value).first() {
        None => Ok(value.to_string()),
        Some(why) => Err(SelectorError(format!(
            "{term:?}: invalid label value {value:?}: {why}"
        ))),
    }
}

/// A parsed field selector (`metadata.name=web,status.phase!=Running`). Fields are dotted paths
/// into the object, which covers every field the real API server supports for our kinds
/// (`metadata.name`, `metadata.namespace`, `spec.nodeName`, `status.phase`,
/// `involvedObject.*` on events) and a few more.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, true, v)
            } else {
                return Err(SelectorError(format!(
                    "invalid field selector: {term:?}: expected field=value or field!=value"
                )));
            };
            terms.push((field.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    /// The value of `metadata.name=X` if the selector pins one name (used to narrow watches).
    pub fn pinned_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| *eq && f == "metadata.name")
            .map(|(_, _, v)| v.as_str())
    }

    /// The `field=value` terms (every matching object has that value there).
    pub fn required_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.terms
            .iter()
            .filter(|(_, equal, _)| *equal)
            .map(|(f, _, v)| (f.as_str(), v.as_str()))
    }

    /// A field's value as a selector compares it: a string as it is, absent or null as the
    /// empty string, anything else in its JSON form.
    pub fn value_of(obj: &Value, field: &str) -> String {
        let mut cur = obj;
        for part in field.split('.') {
            match cur.get(part) {
                Some(v) => cur = v,
                None => return String::new(),
            }
        }
        match cur {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.terms
            .iter()
            .all(|(field, equal, value)| (Self::value_of(obj, field) == *value) == *equal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Value {
        json!({"metadata": {"labels": v}})
    }

    /// Found by the property test: `in===` read as key `in`, value `=`, and written back as a
    /// different selector.
    #[test]
    fn keys_and_values_follow_the_label_rules() {
        for bad in [" in ===", "a==b=c", "a in (b,c=d)", "a!=(", "-a=b", "a=b c"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?}");
        }
        for good in [
            "a=",
            "app.kubernetes.io/name=web",
            "a in (b, c)",
            "!x",
            "tier!=front",
        ] {
            assert!(LabelSelector::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn equality_and_sets() {
        let s = LabelSelector::parse("app=web,tier!=db,env in (prod, staging),!legacy,version")
            .expect("parse");
        assert!(s.matches_object(&labels(json!({"app":"web","env":"prod","version":"v1"}))));
        assert!(!s.matches_object(&labels(json!({"app":"web","env":"dev","version":"v1"}))));
        assert!(!s.matches_object(&labels(
            json!({"app":"web","env":"prod","version":"v1","legacy":"y"})
        )));
        assert!(!s.matches_object(&labels(json!({"app":"web","env":"prod"}))));
        assert!(!s.matches_object(&labels(
            json!({"app":"web","env":"prod","version":"1","tier":"db"})
        )));
    }

    #[test]
    fn double_equals_and_notin() {
        let s = LabelSelector::parse("app==web,env notin (prod)").expect("parse");
        assert!(s.matches_object(&labels(json!({"app":"web"}))));
        assert!(!s.matches_object(&labels(json!({"app":"web","env":"prod"}))));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSelector::parse("app in prod").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }

    #[test]
    fn object_form_and_query() {
        let s = LabelSelector::from_object(&json!({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"v","operator":"In","values":["2","1"]}]})).expect("sel");
        assert_eq!(s.to_query(), "app=web,v in (1,2)");
        assert!(s.matches_object(&labels(json!({"app":"web","v":"1"}))));
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata":{"name":"p","namespace":"default"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}});
        assert!(
            FieldSelector::parse("metadata.name=p,status.phase!=Pending")
                .expect("p")
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName=n2")
                .expect("p")
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("spec.missing=")
                .expect("p")
                .matches(&pod)
        );
        assert_eq!(
            FieldSelector::parse("metadata.name=p")
                .expect("p")
                .pinned_name(),
            Some("p")
        );
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
