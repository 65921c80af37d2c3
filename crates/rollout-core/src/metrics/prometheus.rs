//! A client of Prometheus' HTTP API (`/api/v1/query`): instant queries, for the Prometheus
//! check and for comparisons whose counts come from a Prometheus server.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::MetricsError;

/// Longest wait for one query. Prometheus' own default query timeout is two minutes; a gate
/// that waits that long holds the rollout still, so it gives up sooner and reports an error
/// (which the check's `consecutiveErrorLimit` tolerates).
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

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
) -> Result<Option<f64>, MetricsError> {
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
) -> Result<Vec<Sample>, MetricsError> {
    Ok(match run(http, address, promql).await? {
        QueryResult::Vector(samples) => samples,
        QueryResult::Scalar(value) => vec![Sample {
            labels: BTreeMap::new(),
            value,
        }],
    })
}

/// What is wrong with an answer, in its own terms.
#[derive(Debug)]
struct Problem(String);

fn problem(text: &str) -> Problem {
    Problem(text.to_owned())
}

enum QueryResult {
    Vector(Vec<Sample>),
    Scalar(f64),
}

async fn run(
    http: &reqwest::Client,
    address: &str,
    promql: &str,
) -> Result<QueryResult, MetricsError> {
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
        .map_err(|source| MetricsError::Unreachable {
            what: format!("Prometheus at {address}"),
            source,
        })?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|source| MetricsError::Unreachable {
            what: format!("Prometheus at {address}"),
            source,
        })?;
    parse_response(status.as_u16(), &body).map_err(|problem| MetricsError::Query {
        promql: promql.to_owned(),
        problem: problem.0,
    })
}

/// Reads an `/api/v1/query` answer. Prometheus answers errors (bad PromQL, timeouts) with a
/// 4xx/5xx status and a JSON body `{"status":"error","errorType":...,"error":...}`; a body that
/// is not JSON comes from something in front of it (a proxy) and is quoted as it is.
fn parse_response(status: u16, body: &str) -> Result<QueryResult, Problem> {
    let doc: Value = match serde_json::from_str(body) {
        Ok(doc) => doc,
        Err(_) => {
            let start: String = body.trim().chars().take(200).collect();
            return Err(Problem(if (200..300).contains(&status) {
                format!("Prometheus' answer is not JSON: {start}")
            } else {
                format!("HTTP {status}: {start}")
            }));
        }
    };
    if doc.get("status").and_then(Value::as_str) != Some("success") {
        let error = doc
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("query failed");
        return Err(Problem(
            match doc.get("errorType").and_then(Value::as_str) {
                Some(kind) => format!("{kind}: {error}"),
                None => format!("HTTP {status}: {error}"),
            },
        ));
    }
    let data = doc
        .get("data")
        .ok_or_else(|| problem("answer without data"))?;
    let result = data
        .get("result")
        .ok_or_else(|| problem("answer without result"))?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => {
            let items = result
                .as_array()
                .ok_or_else(|| problem("vector result is not a list"))?;
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
                .collect::<Result<Vec<_>, Problem>>()
                .map(QueryResult::Vector)
        }
        Some("scalar") => sample_value(Some(result)).map(QueryResult::Scalar),
        Some("matrix") => Err(problem(
            "the query returns a range vector; use an instant vector or a scalar (e.g. wrap it in rate(...) or sum(...))",
        )),
        Some(other) => Err(Problem(format!(
            "the query returns a {other}; use an instant vector or a scalar"
        ))),
        None => Err(problem("answer without resultType")),
    }
}

/// `[timestamp, "value"]`, the value a string because JSON has no NaN or infinities.
fn sample_value(pair: Option<&Value>) -> Result<f64, Problem> {
    let text = pair
        .and_then(|p| p.get(1))
        .and_then(Value::as_str)
        .ok_or_else(|| problem("sample without a [time, \"value\"] pair"))?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse()
            .map_err(|_| Problem(format!("sample value `{text}` is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(r: Result<QueryResult, Problem>) -> Result<Vec<f64>, String> {
        r.map_err(|p| p.0).map(|r| match r {
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
