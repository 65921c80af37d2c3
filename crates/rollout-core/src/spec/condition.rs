//! Conditions on measured values (`>= 99%`, `< 300ms`, `== 200`, `in [200, 299]`) and the
//! small JSON path language used by HTTP checks (`$.status`, `$.items[0].name`).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::error::ValueError;
use super::values::{Duration, Percent};

/// A value a condition compares with: a plain number, a percentage, a duration or a text.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    Number(f64),
    /// In percent: `Percent(99.5)` is `99.5%`.
    Percent(f64),
    Duration(Duration),
    Text(String),
}

/// What kind of [`Quantity`] a condition is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityKind {
    Number,
    Percent,
    Duration,
    Text,
}

impl QuantityKind {
    pub fn describe(self) -> &'static str {
        match self {
            QuantityKind::Number => "a plain number",
            QuantityKind::Percent => "a percentage",
            QuantityKind::Duration => "a duration",
            QuantityKind::Text => "a text",
        }
    }
}

impl Quantity {
    pub fn kind(&self) -> QuantityKind {
        match self {
            Quantity::Number(_) => QuantityKind::Number,
            Quantity::Percent(_) => QuantityKind::Percent,
            Quantity::Duration(_) => QuantityKind::Duration,
            Quantity::Text(_) => QuantityKind::Text,
        }
    }

    /// The number in the quantity's own unit: percent points, seconds, or the plain number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Quantity::Number(x) | Quantity::Percent(x) => Some(*x),
            Quantity::Duration(d) => Some(d.as_secs_f64()),
            Quantity::Text(t) => t.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        }
    }
}

impl FromStr for Quantity {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ValueError("expected a value, got nothing".to_owned()));
        }
        if t.starts_with('"') {
            return serde_json::from_str::<String>(t)
                .map(Quantity::Text)
                .map_err(|_| ValueError(format!("expected a text in double quotes, got `{t}`")));
        }
        let numeric_start = t
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
        if !numeric_start {
            return Ok(Quantity::Text(t.to_owned()));
        }
        if let Some(number) = t.strip_suffix('%') {
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| ValueError(format!("expected a percentage like 99%, got `{t}`")))?;
            return Percent::new(value)
                .map(|p| Quantity::Percent(p.value()))
                .ok_or_else(|| {
                    ValueError(format!("expected a percentage from 0% to 100%, got `{t}`"))
                });
        }
        if let Ok(x) = t.parse::<f64>() {
            return if x.is_finite() {
                Ok(Quantity::Number(x))
            } else {
                Err(ValueError(format!("expected a finite number, got `{t}`")))
            };
        }
        t.parse::<Duration>().map(Quantity::Duration).map_err(|_| {
            ValueError({
                format!("expected a number, a percentage (99%) or a duration (300ms), got `{t}`")
            })
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Number(x) => write!(f, "{x}"),
            Quantity::Percent(x) => write!(f, "{x}%"),
            Quantity::Duration(d) => write!(f, "{d}"),
            Quantity::Text(t) => {
                // Always quoted, so that texts like "200" stay texts when parsed back.
                let quoted = serde_json::to_string(t).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    fn apply(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
        }
    }
}

/// A condition a measured value must meet: `OP VALUE` with OP one of `<`, `<=`, `>`, `>=`,
/// `==`, `!=`, or an inclusive range `in [LOW, HIGH]`.
///
/// Values are plain numbers (`200`), percentages (`99%`), durations (`300ms`) or texts
/// (`ok`, `"ok"`; only with `==` and `!=`).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare { op: Op, value: Quantity },
    InRange { low: Quantity, high: Quantity },
}

const CONDITION_EXPECTED: &str =
    "a condition like \">= 99%\", \"< 300ms\", \"== 200\" or \"in [200, 299]\"";

impl Condition {
    /// `== value`: the meaning of a bare value where a bare value is allowed.
    pub fn equals(value: Quantity) -> Self {
        Condition::Compare { op: Op::Eq, value }
    }

    /// The kind of value this condition is about.
    pub fn kind(&self) -> QuantityKind {
        match self {
            Condition::Compare { value, .. } => value.kind(),
            Condition::InRange { low, .. } => low.kind(),
        }
    }

    /// Whether `actual` meets the condition. A quantity of another kind than the
    /// condition's (a duration against `>= 99%`) never meets it, except that texts and
    /// numbers compare as numbers when the text is a number.
    pub fn holds(&self, actual: &Quantity) -> bool {
        match self {
            Condition::Compare { op, value } => compare(actual, value).is_some_and(|o| op.apply(o)),
            Condition::InRange { low, high } => {
                compare(actual, low).is_some_and(|o| o.is_ge())
                    && compare(actual, high).is_some_and(|o| o.is_le())
            }
        }
    }

    /// Whether a number in the condition's own unit meets it: percent points for a
    /// percentage condition, seconds for a duration condition.
    pub fn holds_f64(&self, x: f64) -> bool {
        let actual = match self.kind() {
            QuantityKind::Percent => Quantity::Percent(x),
            QuantityKind::Duration if x.is_finite() && x >= 0.0 => {
                Quantity::Duration(Duration(std::time::Duration::from_secs_f64(x)))
            }
            _ => Quantity::Number(x),
        };
        self.holds(&actual)
    }

    pub fn holds_duration(&self, d: std::time::Duration) -> bool {
        self.holds(&Quantity::Duration(Duration(d)))
    }

    /// Whether a JSON value (as selected by a [`JsonPath`]) meets the condition. Strings
    /// compare as texts, numbers as numbers, `true`/`false`/`null` as the texts `true`,
    /// `false` and `null`; arrays and objects never meet a condition.
    pub fn holds_json(&self, value: &serde_json::Value) -> bool {
        let actual = match value {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) => Quantity::Number(x),
                None => return false,
            },
            serde_json::Value::String(s) => Quantity::Text(s.clone()),
            serde_json::Value::Bool(b) => Quantity::Text(b.to_string()),
            serde_json::Value::Null => Quantity::Text("null".to_owned()),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => return false,
        };
        self.holds(&actual)
    }
}

fn compare(actual: &Quantity, expected: &Quantity) -> Option<std::cmp::Ordering> {
    match (actual, expected) {
        (Quantity::Text(a), Quantity::Text(b)) => Some(a.cmp(b)),
        (Quantity::Text(_), Quantity::Number(_)) | (Quantity::Number(_), Quantity::Text(_)) => {
            actual.as_f64()?.partial_cmp(&expected.as_f64()?)
        }
        (Quantity::Duration(a), Quantity::Duration(b)) => Some(a.cmp(b)),
        (Quantity::Number(a), Quantity::Number(b))
        | (Quantity::Percent(a), Quantity::Percent(b)) => a.partial_cmp(b),
        _ => None,
    }
}

impl FromStr for Condition {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Some(rest) = t.strip_prefix("in")
            && rest.starts_with([' ', '\t', '['])
        {
            return parse_range(t, rest.trim_start());
        }
        const OPS: [(&str, Op); 6] = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let Some((op, rest)) = OPS
            .iter()
            .find_map(|(text, op)| t.strip_prefix(text).map(|rest| (*op, rest)))
        else {
            if t.starts_with("=>") || t.starts_with("=<") {
                return Err(ValueError(format!(
                    "expected {CONDITION_EXPECTED}, got `{t}` (write >= or <=)"
                )));
            }
            if t.starts_with('=') {
                return Err(ValueError(format!(
                    "expected {CONDITION_EXPECTED}, got `{t}` (write == to compare)"
                )));
            }
            return Err(ValueError(format!(
                "expected {CONDITION_EXPECTED}, got `{t}`"
            )));
        };
        let value: Quantity = rest.parse()?;
        if value.kind() == QuantityKind::Text && !matches!(op, Op::Eq | Op::Ne) {
            return Err(ValueError(format!(
                "expected {CONDITION_EXPECTED}, got `{t}` (a text can only be compared with == or !=)"
            )));
        }
        Ok(Condition::Compare { op, value })
    }
}

fn parse_range(whole: &str, rest: &str) -> Result<Condition, ValueError> {
    let inner = rest
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| {
            ValueError(format!(
                "expected a range like \"in [200, 299]\", got `{whole}`"
            ))
        })?;
    let parts: Vec<&str> = inner.split(',').collect();
    let [low, high] = parts.as_slice() else {
        return Err(ValueError(format!(
            "expected a range with two bounds like \"in [200, 299]\", got `{whole}`"
        )));
    };
    let low: Quantity = low.parse()?;
    let high: Quantity = high.parse()?;
    if low.kind() != high.kind() || low.kind() == QuantityKind::Text {
        return Err(ValueError(format!(
            "expected a range of two numbers, percentages or durations, got `{whole}`"
        )));
    }
    if compare(&low, &high).is_some_and(|o| o.is_gt()) {
        return Err(ValueError(format!(
            "expected a range whose low bound is not above its high bound, got `{whole}`"
        )));
    }
    Ok(Condition::InRange { low, high })
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare { op, value } => write!(f, "{} {value}", op.as_str()),
            Condition::InRange { low, high } => write!(f, "in [{low}, {high}]"),
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A path into a JSON document: `$`, then `.name`, `[index]` or `["name"]` steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<JsonStep>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStep {
    Key(String),
    Index(usize),
}

impl JsonPath {
    pub fn steps(&self) -> &[JsonStep] {
        &self.0
    }

    /// The value at this path, if there is one.
    pub fn select<'a>(&self, root: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.0.iter().try_fold(root, |value, step| match step {
            JsonStep::Key(k) => value.get(k.as_str()),
            JsonStep::Index(i) => value.get(*i),
        })
    }
}

const JSON_PATH_EXPECTED: &str = "a JSON path like $.status or $.items[0].name";

impl FromStr for JsonPath {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = |why: &str| format!("expected {JSON_PATH_EXPECTED}, got `{t}` ({why})");
        let mut rest = t
            .strip_prefix('$')
            .ok_or_else(|| ValueError(bad("it must start with $")))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(after.len());
                if end == 0 {
                    return Err(ValueError(bad("a name must follow each .")));
                }
                steps.push(JsonStep::Key(after[..end].to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let close = after
                    .find(']')
                    .ok_or_else(|| ValueError(bad("a [ is not closed")))?;
                let inside = after[..close].trim();
                if inside.starts_with('"') {
                    let key = serde_json::from_str::<String>(inside)
                        .map_err(|_| ValueError(bad("a quoted key is not a valid string")))?;
                    steps.push(JsonStep::Key(key));
                } else {
                    let index = inside
                        .parse::<usize>()
                        .map_err(|_| ValueError(bad("[...] takes an index or a quoted key")))?;
                    steps.push(JsonStep::Index(index));
                }
                rest = &after[close + 1..];
            } else {
                return Err(ValueError(bad("expected . or [ after each step")));
            }
        }
        Ok(JsonPath(steps))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.0 {
            match step {
                JsonStep::Key(k)
                    if !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
                {
                    write!(f, ".{k}")?;
                }
                JsonStep::Key(k) => {
                    let quoted = serde_json::to_string(k).map_err(|_| fmt::Error)?;
                    write!(f, "[{quoted}]")?;
                }
                JsonStep::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for JsonPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(text: &str) -> Condition {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn conditions_round_trip() {
        for (text, canonical) in [
            (">= 99%", ">= 99%"),
            (">=99%", ">= 99%"),
            ("< 300ms", "< 300ms"),
            ("<1s", "< 1s"),
            ("== 200", "== 200"),
            ("!= 0.5", "!= 0.5"),
            ("in [200, 299]", "in [200, 299]"),
            ("in[200,299]", "in [200, 299]"),
            ("in [100ms, 2s]", "in [100ms, 2s]"),
            ("== ok", "== \"ok\""),
            ("== \"two words\"", "== \"two words\""),
            ("<= 1m 30s", "<= 1m30s"),
            ("> -1", "> -1"),
        ] {
            let c = cond(text);
            assert_eq!(c.to_string(), canonical, "display of {text}");
            assert_eq!(cond(canonical), c, "round trip of {text}");
        }
    }

    #[test]
    fn conditions_hold() {
        assert!(cond(">= 99%").holds(&Quantity::Percent(99.0)));
        assert!(!cond(">= 99%").holds(&Quantity::Percent(98.9)));
        assert!(cond(">= 99%").holds_f64(100.0));
        assert!(cond("< 300ms").holds_duration(std::time::Duration::from_millis(299)));
        assert!(!cond("< 300ms").holds_f64(0.3));
        assert!(cond("< 300ms").holds_f64(0.299));
        assert!(cond("in [200, 299]").holds(&Quantity::Number(204.0)));
        assert!(!cond("in [200, 299]").holds(&Quantity::Number(302.0)));
        assert!(cond("== 200").holds_f64(200.0));
        assert!(cond("!= 0").holds_f64(1.0));
        // Kinds do not mix.
        assert!(!cond(">= 99%").holds(&Quantity::Number(100.0)));
        assert!(!cond("< 300ms").holds(&Quantity::Percent(1.0)));
        assert!(cond("== ok").holds_json(&serde_json::json!("ok")));
        assert!(!cond("== ok").holds_json(&serde_json::json!("ko")));
        assert!(cond("== 2").holds_json(&serde_json::json!(2)));
        assert!(cond("== 2").holds_json(&serde_json::json!("2")));
        assert!(cond("< 50").holds_json(&serde_json::json!(12.5)));
        assert!(cond("== true").holds_json(&serde_json::json!(true)));
        assert!(!cond("== 1").holds_json(&serde_json::json!([1])));
    }

    #[test]
    fn condition_errors() {
        let err = |t: &str| t.parse::<Condition>().unwrap_err().0;
        assert!(err("99%").starts_with("expected a condition like"));
        assert!(err("= 200").contains("write =="));
        assert!(err("=> 1").contains("write >="));
        assert!(err("< ok").contains("only be compared with == or !="));
        assert!(err("in [1, 2, 3]").contains("two bounds"));
        assert!(err("in [300, 200]").contains("low bound"));
        assert!(err("in [1, 2s]").contains("range of two"));
        assert!(err("> 101%").contains("0% to 100%"));
        assert!(err("< 3x").contains("got `3x`"));
        assert!(err("< ").contains("got nothing"));
    }

    #[test]
    fn json_paths() {
        let doc = serde_json::json!({"status": "ok", "items": [{"name": "a"}], "a b": 1});
        for (text, canonical, expected) in [
            ("$", "$", Some(doc.clone())),
            ("$.status", "$.status", Some(serde_json::json!("ok"))),
            (
                "$.items[0].name",
                "$.items[0].name",
                Some(serde_json::json!("a")),
            ),
            ("$[\"a b\"]", "$[\"a b\"]", Some(serde_json::json!(1))),
            ("$.missing", "$.missing", None),
        ] {
            let path: JsonPath = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(path.to_string(), canonical);
            assert_eq!(canonical.parse::<JsonPath>().as_ref(), Ok(&path));
            assert_eq!(path.select(&doc).cloned(), expected, "{text}");
        }
        assert!(
            "status"
                .parse::<JsonPath>()
                .unwrap_err()
                .0
                .contains("start with $")
        );
        assert!("$.".parse::<JsonPath>().is_err());
        assert!("$[x]".parse::<JsonPath>().is_err());
        assert!("$[0".parse::<JsonPath>().is_err());
    }
}
