//! The Prometheus text exposition format (0.0.4), as ingress controllers serve it on
//! `/metrics`: the samples of the metrics a reader asks for, with their labels.

use super::MetricsError;

/// One sample: a metric name, its labels in the order written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

impl Sample {
    /// A label's value; empty when the sample has no such label (as Prometheus reads it).
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Parses the samples of the metrics `wanted` accepts. Lines of other metrics, comments and
/// blank lines are skipped; a malformed line of a wanted metric is an error.
pub fn parse(text: &str, wanted: impl Fn(&str) -> bool) -> Result<Vec<Sample>, MetricsError> {
    let mut samples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if !wanted(name) {
            continue;
        }
        let at = |problem: String| MetricsError::Line {
            line: index + 1,
            problem,
        };
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(|p| at(p.0))?;
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| at(format!("`{name}` has no value")))?;
        let value =
            parse_float(value_text).ok_or_else(|| at(format!("`{value_text}` is not a number")))?;
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(samples)
}

/// What is wrong with a line, said in its own terms.
struct Problem(String);

/// Label names and values of one sample, in the order written.
pub type Labels = Vec<(String, String)>;

/// Parses `{name="value",...}` (or nothing) at the start of `s`; returns the labels and what
/// follows. Label values may hold `\\`, `\"` and `\n` escapes; a trailing comma is allowed.
fn parse_labels(s: &str) -> Result<(Labels, &str), Problem> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| Problem("labels are not closed with }".into()))?;
        if name_end == 0 {
            return Err(Problem(format!(
                "expected a label name at `{}`",
                head(rest)
            )));
        }
        let name = rest[..name_end].to_owned();
        rest = rest[name_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| Problem(format!("expected = after label {name}")))?
            .trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| Problem(format!("expected a quoted value for label {name}")))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(Problem(format!("unfinished escape in label {name}"))),
                },
                Some((_, c)) => value.push(c),
                None => return Err(Problem(format!("the value of label {name} is not closed"))),
            }
        };
        labels.push((name, value));
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(Problem(format!("expected , or }} at `{}`", head(rest))));
        }
    }
}

fn head(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// A sample value: a decimal or `+Inf`, `-Inf`, `NaN` as Prometheus writes them.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A counter value as a count; counters are exported as floats (`1e+06`), and Prometheus'
/// `increase()` extrapolates to fractions, hence the rounding.
pub fn to_count(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_odd_spacing() {
        let (labels, rest) = parse_labels(r#"{ a = "x\"y\\z\n" , b="",} 3"#)
            .map_err(|p| p.0)
            .expect("labels");
        assert_eq!(
            labels,
            vec![("a".into(), "x\"y\\z\n".into()), ("b".into(), "".into())]
        );
        assert_eq!(rest.trim(), "3");
    }

    #[test]
    fn malformed_lines_of_read_metrics_are_errors() {
        let read = |text: &str| parse(text, |n| n == "m").map_err(|e| e.to_string());
        let e = read("m{service=\"web} 3\n").expect_err("unclosed");
        assert!(e.starts_with("line 1:"), "{e}");
        assert_eq!(
            read("# c\nm{service=\"web\"} many\n").expect_err("nan"),
            "line 2: `many` is not a number"
        );
        assert!(
            read("m{service=\"web\"}\n")
                .expect_err("no value")
                .contains("has no value")
        );
        assert_eq!(read("other{x=} y\nm 7\n").expect("skips others").len(), 1);
    }
}
