//! Bad requests never break the embedded API server: random and mutated paths, queries and
//! bodies, with every method and content type, get an answer — a 4xx `Status` when they are
//! wrong, never a 5xx and never a dropped connection. `scripts/fuzz.sh` runs it with many more
//! cases.

use hyper::http;
use kubesim::testing::TestCluster;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api".to_owned()),
        Just("apis".to_owned()),
        Just("v1".to_owned()),
        Just("apps".to_owned()),
        Just("namespaces".to_owned()),
        Just("default".to_owned()),
        Just("kube-system".to_owned()),
        Just("pods".to_owned()),
        Just("deployments".to_owned()),
        Just("services".to_owned()),
        Just("configmaps".to_owned()),
        Just("events".to_owned()),
        Just("leases".to_owned()),
        Just("coordination.k8s.io".to_owned()),
        Just("networking.k8s.io".to_owned()),
        Just("status".to_owned()),
        Just("scale".to_owned()),
        Just("proxy".to_owned()),
        Just("log".to_owned()),
        Just("web".to_owned()),
        Just("..".to_owned()),
        Just("%2F".to_owned()),
        Just("%".to_owned()),
        Just("".to_owned()),
        "[a-zA-Z0-9._~-]{1,12}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        "[a-z]{0,6}=[ -~&&[^#&]]{0,10}",
        "(labelSelector|fieldSelector)=[a-z0-9=!,()%. -]{0,16}",
        "(limit|timeoutSeconds|gracePeriodSeconds)=[-0-9a-z]{0,8}",
        "(resourceVersion|resourceVersionMatch|continue)=[A-Za-z0-9=%-]{0,12}",
        "(dryRun|fieldManager|propagationPolicy|pretty|allowWatchBookmarks)=[A-Za-z]{0,8}",
        Just("watch=false".to_owned()),
    ];
    prop::collection::vec(pair, 0..4).prop_map(|p| p.join("&"))
}

fn method() -> impl Strategy<Value = http::Method> {
    prop_oneof![
        Just(http::Method::GET),
        Just(http::Method::POST),
        Just(http::Method::PUT),
        Just(http::Method::PATCH),
        Just(http::Method::DELETE),
        Just(http::Method::HEAD),
        Just(http::Method::OPTIONS),
    ]
}

fn content_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("application/json"),
        Just("application/yaml"),
        Just("application/merge-patch+json"),
        Just("application/strategic-merge-patch+json"),
        Just("application/json-patch+json"),
        Just("application/apply-patch+yaml"),
        Just("application/vnd.kubernetes.protobuf"),
        Just("text/plain"),
        Just(""),
    ]
}

/// Bodies: valid-looking objects edited at random, JSON patches, and raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let object = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","labels":{"a":"b"}},"data":{"k":"v"}}"#;
    let deployment = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"web:v1"}]}}}}"#;
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..200),
        (
            prop_oneof![Just(object), Just(deployment)],
            0usize..200,
            0usize..30,
            "[ -~]{0,8}"
        )
            .prop_map(|(text, at, cut, insert)| {
                let at = at.min(text.len());
                let end = (at + cut).min(text.len());
                format!("{}{insert}{}", &text[..at], &text[end..]).into_bytes()
            }),
        "\\[(\\{\"op\":\"(add|remove|replace|move|copy|test|x)\",\"path\":\"[/a-z0-9~]{0,12}\"(,\"value\":[0-9a-z\"{}\\[\\]]{0,6})?(,\"from\":\"[/a-z]{0,6}\")?\\},?){0,3}\\]"
            .prop_map(String::into_bytes),
    ]
}

#[derive(Debug, Clone)]
struct BadRequest {
    method: http::Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = BadRequest> {
    (
        method(),
        prop::collection::vec(segment(), 0..8),
        query(),
        content_type(),
        body(),
    )
        .prop_map(|(method, segments, query, content_type, body)| {
            let mut path = format!("/{}", segments.join("/"));
            if !query.is_empty() {
                path.push('?');
                path.push_str(&query);
            }
            BadRequest {
                method,
                path,
                content_type,
                body,
            }
        })
}

static SENT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

async fn answer(client: &kube::Client, r: &BadRequest) -> Result<(), TestCaseError> {
    let mut builder = http::Request::builder()
        .method(r.method.clone())
        .uri(r.path.as_str());
    if !r.content_type.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, r.content_type);
    }
    let Ok(req) = builder.body(kube::client::Body::from(r.body.clone())) else {
        // Not a request http can even express: nothing to send.
        return Ok(());
    };
    let response = client
        .send(req)
        .await
        .map_err(|e| TestCaseError::fail(format!("no answer (connection dropped?): {e}")))?;
    let status = response.status();
    SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    prop_assert!(
        !status.is_server_error(),
        "{} {} answered {status}",
        r.method,
        r.path
    );
    Ok(())
}

#[test]
fn bad_requests_get_a_4xx_never_a_5xx_or_a_dropped_connection() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tc = rt.block_on(TestCluster::api_only());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let result = runner.run(&request(), |r| rt.block_on(answer(&tc.client, &r)));
    if let Err(e) = result {
        panic!("{e}");
    }
    // Most generated requests are ones http can carry: the server did see them.
    let sent = SENT.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{sent} of {cases} requests answered");
    assert!(
        sent * 2 >= cases,
        "only {sent} of {cases} requests were sent"
    );
}
