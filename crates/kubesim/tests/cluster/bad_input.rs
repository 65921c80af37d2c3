//! Bad requests get the Status code and reason a real API server gives, and change nothing.

use crate::common::TestCluster;
use serde_json::{Value, json};

struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    fn new(tc: &TestCluster) -> Self {
        let (http, base, token) = tc.raw();
        Self { http, base, token }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: &str,
        auth: bool,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", content_type)
            .body(body.to_string());
        if auth {
            req = req.bearer_auth(&self.token);
        }
        let resp = req.send().await.expect("request");
        let code = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The store's resource version: unchanged means nothing was written.
    async fn version(&self) -> String {
        let (_, list) = self
            .send(
                reqwest::Method::GET,
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                "",
                true,
            )
            .await;
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn assert_status(got: &(u16, Value), code: u16, reason: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    assert_eq!(got.1["kind"], "Status", "{}", got.1);
    assert_eq!(got.1["reason"], reason, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
}

#[tokio::test]
async fn each_bad_request_gets_its_status_and_writes_nothing() {
    let tc = TestCluster::api_only().await;
    let raw = Raw::new(&tc);
    let post = reqwest::Method::POST;
    let before = raw.version().await;

    // no token
    let r = raw
        .send(reqwest::Method::GET, CMS, "application/json", "", false)
        .await;
    assert_status(&r, 401, "Unauthorized");
    let r = raw
        .send(
            post.clone(),
            CMS,
            "application/json",
            r#"{"metadata":{"name":"x"}}"#,
            false,
        )
        .await;
    assert_status(&r, 401, "Unauthorized");

    // malformed JSON
    let r = raw
        .send(
            post.clone(),
            CMS,
            "application/json",
            r#"{"metadata": {"name": "x""#,
            true,
        )
        .await;
    assert_status(&r, 400, "BadRequest");

    // wrong kind for the URL
    let r = raw
        .send(
            post.clone(),
            CMS,
            "application/json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#,
            true,
        )
        .await;
    assert_status(&r, 400, "BadRequest");
    let r = raw
        .send(
            post.clone(),
            CMS,
            "application/json",
            r#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
            true,
        )
        .await;
    assert_status(&r, 400, "BadRequest");

    // invalid name
    let r = raw
        .send(
            post.clone(),
            CMS,
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#,
            true,
        )
        .await;
    assert_status(&r, 422, "Invalid");
    let causes = r.1["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        causes.iter().any(|c| c["field"] == "metadata.name"),
        "{}",
        r.1
    );

    // a Deployment whose selector does not match its template
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}},
                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let r = raw
        .send(
            post.clone(),
            DEPLOYS,
            "application/json",
            &bad.to_string(),
            true,
        )
        .await;
    assert_status(&r, 422, "Invalid");
    assert!(
        r.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("selector"),
        "{}",
        r.1
    );

    // unknown kind
    let r = raw
        .send(
            reqwest::Method::GET,
            "/apis/example.com/v1/widgets",
            "application/json",
            "",
            true,
        )
        .await;
    assert_status(&r, 404, "NotFound");

    // unsupported patch type
    let r = raw
        .send(
            reqwest::Method::PATCH,
            &format!("{CMS}/kube-root-ca.crt"),
            "text/plain",
            "{}",
            true,
        )
        .await;
    assert_eq!(r.0, 415, "{}", r.1);

    assert_eq!(
        raw.version().await,
        before,
        "no failed request wrote anything"
    );

    // stale resourceVersion on update: 409, and the object keeps its value
    let created = raw
        .send(
            post.clone(),
            CMS,
            "application/json",
            r#"{"metadata":{"name":"v"},"data":{"k":"1"}}"#,
            true,
        )
        .await;
    assert_eq!(created.0, 201);
    let rv = created.1["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ok = json!({"metadata": {"name": "v", "resourceVersion": rv}, "data": {"k": "2"}});
    assert_eq!(
        raw.send(
            reqwest::Method::PUT,
            &format!("{CMS}/v"),
            "application/json",
            &ok.to_string(),
            true
        )
        .await
        .0,
        200
    );
    let after_ok = raw.version().await;
    let stale = json!({"metadata": {"name": "v", "resourceVersion": rv}, "data": {"k": "3"}});
    let r = raw
        .send(
            reqwest::Method::PUT,
            &format!("{CMS}/v"),
            "application/json",
            &stale.to_string(),
            true,
        )
        .await;
    assert_status(&r, 409, "Conflict");
    assert_eq!(raw.version().await, after_ok);
    let (_, now) = raw
        .send(
            reqwest::Method::GET,
            &format!("{CMS}/v"),
            "application/json",
            "",
            true,
        )
        .await;
    assert_eq!(now["data"]["k"], "2");

    // the name in the body must be the URL's
    let r = raw
        .send(
            reqwest::Method::PUT,
            &format!("{CMS}/v"),
            "application/json",
            r#"{"metadata":{"name":"w"}}"#,
            true,
        )
        .await;
    assert_status(&r, 400, "BadRequest");
}

#[tokio::test]
async fn health_and_version_are_open() {
    let tc = TestCluster::api_only().await;
    let raw = Raw::new(&tc);
    for p in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(
            raw.send(reqwest::Method::GET, p, "application/json", "", false)
                .await
                .0,
            200,
            "{p}"
        );
    }
    let (code, v) = raw
        .send(
            reqwest::Method::GET,
            "/version",
            "application/json",
            "",
            false,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["major"], "1");
}
