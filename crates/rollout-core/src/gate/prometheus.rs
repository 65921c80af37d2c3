//! The Prometheus check: one PromQL instant query whose value must meet a condition.
//!
//! A query that returns nothing (no series matched, or `NaN` as a ratio over no requests
//! gives) is inconclusive rather than a pass or a failure: usually the traffic has not reached
//! the new version yet, and deciding on an absent number would be deciding on nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Measurement, Outcome, format};
use crate::spec::PrometheusCheck;

/// Longest wait for one query. Prometheus' own default query timeout is two minutes; a gate
/// that waits that long holds the rollout still, so it gives up sooner and reports an error
/// (which the check's `consecutiveErrorLimit` tolerates).
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Values for a query's placeholders (see [`crate::spec::PROMETHEUS_PLACEHOLDERS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    pub namespace: String,
    pub app: String,
    pub service: String,
    /// Name of the new version's Service (or workload).
    pub new: String,
    pub stable: String,
    /// A PromQL duration such as `30s`: the check's interval, for `rate(...[{{interval}}])`.
    pub interval: String,
}

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "namespace" => &self.namespace,
            "app" => &self.app,
            "service" => &self.service,
            "new" => &self.new,
            "stable" => &self.stable,
            "interval" => &self.interval,
            _ => return None,
        })
    }
}

/// `query` with `{{namespace}}`, `{{app}}`, `{{service}}`, `{{new}}`, `{{stable}}` and
/// `{{interval}}` replaced (spaces inside the braces allowed, as the strategy validator
/// allows them). Anything else in double braces is left as written; the validator has
/// rejected unknown placeholders already.
pub fn render(query: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        match vars.get(after[..end].trim()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Runs an instant query and returns its value: the first sample of a vector (`None` for an
/// empty vector) or the scalar; `NaN` is `None` too. An error carries Prometheus' own error
/// text.
pub async fn query(
    http: &reqwest::Client,
    address: &str,
    promql: &str,
) -> Result<Option<f64>, String> {
    let result = run(http, address, promql).await?;
    match result {
        QueryResult::Vector(samples) => Ok(samples
            .into_iter()
            .next()
            .map(|s| s.value)
            .filter(|v| !v.is_nan())),
        QueryResult::Scalar(v) => Ok(Some(v).filter(|v| !v.is_nan())),
    }
}

/// Runs an instant query that must return a vector (a scalar is a vector of one sample
/// without labels) and returns every sample.
pub async fn query_vector(
    http: &reqwest::Client,
    address: &str,
    promql: &str,
) -> Result<Vec<Sample>, String> {
    Ok(match run(http, address, promql).await? {
        QueryResult::Vector(samples) => samples,
        QueryResult::Scalar(value) => vec![Sample {
            labels: BTreeMap::new(),
            value,
        }],
    })
}

/// One measurement of a Prometheus check against the server at `address`.
pub async fn measure(
    name: &str,
    check: &PrometheusCheck,
    address: &str,
    vars: &Vars,
    http: &reqwest::Client,
) -> Measurement {
    let promql = render(&check.query, vars);
    match query(http, address, &promql).await {
        Err(e) => Measurement::error(name, format!("query failed: {e}")),
        Ok(None) => Measurement::new(name, Outcome::Inconclusive, "query returned no data"),
        Ok(Some(value)) => {
            let shown = format::value(value);
            let (outcome, summary) = if check.condition.holds_f64(value) {
                (
                    Outcome::Pass,
                    format!("value {shown} ({})", check.condition),
                )
            } else {
                (
                    Outcome::Fail,
                    format!("value {shown} (needs {})", check.condition),
                )
            };
            Measurement::new(name, outcome, summary).figure("value", value)
        }
    }
}

enum QueryResult {
    Vector(Vec<Sample>),
    Scalar(f64),
}

async fn run(http: &reqwest::Client, address: &str, promql: &str) -> Result<QueryResult, String> {
    let url = format!(
        "{}/api/v1/query?{}",
        address.trim_end_matches('/'),
        form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish()
    );
    let resp = http
        .get(&url)
        .timeout(QUERY_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach Prometheus at {address}: {}",
                format::error_chain(&e)
            )
        })?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| {
        format!(
            "cannot read Prometheus' answer: {}",
            format::error_chain(&e)
        )
    })?;
    parse_response(status.as_u16(), &body)
}

/// Reads an `/api/v1/query` answer. Prometheus answers errors (bad PromQL, timeouts) with a
/// 4xx/5xx status and a JSON body `{"status":"error","errorType":...,"error":...}`; a body that
/// is not JSON comes from something in front of it (a proxy) and is quoted as it is.
fn parse_response(status: u16, body: &str) -> Result<QueryResult, String> {
    let doc: Value = match serde_json::from_str(body) {
        Ok(doc) => doc,
        Err(_) => {
            let start: String = body.trim().chars().take(200).collect();
            return Err(if (200..300).contains(&status) {
                format!("Prometheus' answer is not JSON: {start}")
            } else {
                format!("HTTP {status}: {start}")
            });
        }
    };
    if doc.get("status").and_then(Value::as_str) != Some("success") {
        let error = doc
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("query failed");
        return Err(match doc.get("errorType").and_then(Value::as_str) {
            Some(kind) => format!("{kind}: {error}"),
            None => format!("HTTP {status}: {error}"),
        });
    }
    let data = doc.get("data").ok_or("answer without data")?;
    let result = data.get("result").ok_or("answer without result")?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => {
            let items = result.as_array().ok_or("vector result is not a list")?;
            items
                .iter()
                .map(|item| {
                    let labels = item
                        .get("metric")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                                .collect()
                        })
                        .unwrap_or_default();
                    let value = sample_value(item.get("value"))?;
                    Ok(Sample { labels, value })
                })
                .collect::<Result<Vec<_>, String>>()
                .map(QueryResult::Vector)
        }
        Some("scalar") => sample_value(Some(result)).map(QueryResult::Scalar),
        Some("matrix") => Err(
            "the query returns a range vector; use an instant vector or a scalar (e.g. wrap it in rate(...) or sum(...))"
                .to_owned(),
        ),
        Some(other) => Err(format!(
            "the query returns a {other}; use an instant vector or a scalar"
        )),
        None => Err("answer without resultType".to_owned()),
    }
}

/// `[timestamp, "value"]`, the value a string because JSON has no NaN or infinities.
fn sample_value(pair: Option<&Value>) -> Result<f64, String> {
    let text = pair
        .and_then(|p| p.get(1))
        .and_then(Value::as_str)
        .ok_or("sample without a [time, \"value\"] pair")?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse()
            .map_err(|_| format!("sample value `{text}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            namespace: "shop".into(),
            app: "web".into(),
            service: "web".into(),
            new: "web-canary".into(),
            stable: "web-stable".into(),
            interval: "30s".into(),
        }
    }

    #[test]
    fn render_substitutes_placeholders() {
        let q = r#"sum(rate(x{namespace="{{namespace}}",service="{{ new }}"}[{{interval}}])) / sum(rate(x{service="{{stable}}",app="{{app}}",svc="{{service}}"}[1m]))"#;
        assert_eq!(
            render(q, &vars()),
            r#"sum(rate(x{namespace="shop",service="web-canary"}[30s])) / sum(rate(x{service="web-stable",app="web",svc="web"}[1m]))"#
        );
        assert_eq!(render("a {{other}} b {{", &vars()), "a {{other}} b {{");
        assert_eq!(render("no placeholders", &vars()), "no placeholders");
    }

    fn value_of(r: Result<QueryResult, String>) -> Result<Vec<f64>, String> {
        r.map(|r| match r {
            QueryResult::Vector(s) => s.into_iter().map(|s| s.value).collect(),
            QueryResult::Scalar(v) => vec![v],
        })
    }

    #[test]
    fn parses_vectors_scalars_and_errors() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"le":"0.005"},"value":[1700000000.1,"12.5"]},
            {"metric":{"le":"+Inf"},"value":[1700000000.1,"NaN"]}]}}"#;
        let v = value_of(parse_response(200, vector)).unwrap();
        assert_eq!(v[0], 12.5);
        assert!(v[1].is_nan());
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            value_of(parse_response(200, empty)).unwrap(),
            Vec::<f64>::new()
        );
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"+Inf"]}}"#;
        assert_eq!(
            value_of(parse_response(200, scalar)).unwrap(),
            vec![f64::INFINITY]
        );
        let bad = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: unexpected end of input"}"#;
        assert_eq!(
            value_of(parse_response(400, bad)).unwrap_err(),
            "bad_data: invalid parameter \"query\": 1:4: parse error: unexpected end of input"
        );
        assert_eq!(
            value_of(parse_response(502, "<html>Bad Gateway</html>")).unwrap_err(),
            "HTTP 502: <html>Bad Gateway</html>"
        );
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(
            value_of(parse_response(200, matrix))
                .unwrap_err()
                .contains("range vector")
        );
    }
}
