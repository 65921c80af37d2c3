//! The example apps in manifests/ (hello, microblog, mysql) applied with the real kubectl to
//! the embedded cluster: every object is accepted and stored, the Deployments become
//! available, their Services get endpoints and the ingress routes to them.

use crate::common::{TestCluster, eventually, have_kubectl, http_client, via_ingress};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use kube::api::{Api, ListParams};
use std::time::Duration;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests");

fn dir(name: &str) -> String {
    format!("{ROOT}/{name}/")
}

/// Waits until Deployment `ns/name` has the Available condition and `replicas` ready pods.
async fn available(tc: &TestCluster, ns: &str, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(tc.client.clone(), ns);
    eventually(
        &format!("deployment {ns}/{name} available with {replicas} ready"),
        Duration::from_secs(60),
        || async {
            let d = api.get(name).await.ok()?;
            let st = d.status?;
            let is_available = st
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True");
            (is_available && st.ready_replicas == Some(replicas)).then_some(())
        },
    )
    .await;
}

/// Waits until the Endpoints of Service `ns/name` list `n` ready addresses.
async fn endpoints(tc: &TestCluster, ns: &str, name: &str, n: usize) {
    let api: Api<Endpoints> = Api::namespaced(tc.client.clone(), ns);
    eventually(
        &format!("{n} endpoint addresses for service {ns}/{name}"),
        Duration::from_secs(30),
        || async {
            let ep = api.get(name).await.ok()?;
            let count: usize = ep
                .subsets
                .unwrap_or_default()
                .iter()
                .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
                .sum();
            (count == n).then_some(())
        },
    )
    .await;
}

/// Waits until a GET through the embedded ingress with `Host: host` answers 200.
async fn answers_through_ingress(tc: &TestCluster, host: &str) {
    let addr = tc.cluster.ingress().expect("ingress").addr();
    let http = http_client();
    eventually(
        &format!("200 through the ingress for {host}"),
        Duration::from_secs(30),
        || async {
            let (code, _) = via_ingress(&http, addr, host, "/", &[]).await;
            (code == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn example_apps_apply_and_serve() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::fast(20.0).await;

    // The namespace first: the MySQL objects live in microblog's namespace, whose file is in
    // manifests/microblog/. It is listed again with the folder, which kubectl reports as
    // unchanged.
    let namespace = format!("{ROOT}/microblog/00-namespace.yaml");
    let out = tc.kubectl_ok(&[
        "apply",
        "-f",
        &namespace,
        "-f",
        &dir("mysql"),
        "-f",
        &dir("microblog"),
    ]);
    for line in [
        "namespace/microblog created",
        "secret/mysql created",
        "service/mysql created",
        "statefulset.apps/mysql created",
        "configmap/microblog-config created",
        "secret/microblog-db created",
        "secret/microblog-app created",
        "deployment.apps/microblog created",
        "service/microblog created",
        "ingress.networking.k8s.io/microblog created",
        "horizontalpodautoscaler.autoscaling/microblog created",
    ] {
        assert!(out.contains(line), "apply output lacks {line:?}:\n{out}");
    }
    let out = tc.kubectl_ok(&["apply", "-f", &dir("hello")]);
    for line in [
        "namespace/hello created",
        "deployment.apps/hello created",
        "service/hello created",
        "ingress.networking.k8s.io/hello created",
    ] {
        assert!(out.contains(line), "apply output lacks {line:?}:\n{out}");
    }

    // Every object in the files reads back (kubectl fails on any that is missing).
    let mut stored = String::new();
    for d in ["mysql", "microblog", "hello"] {
        stored.push_str(&tc.kubectl_ok(&["get", "-f", &dir(d), "-o", "name"]));
    }
    let mut names: Vec<&str> = stored.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "configmap/microblog-config",
            "deployment.apps/hello",
            "deployment.apps/microblog",
            "horizontalpodautoscaler.autoscaling/microblog",
            "ingress.networking.k8s.io/hello",
            "ingress.networking.k8s.io/microblog",
            "namespace/hello",
            "namespace/microblog",
            "secret/microblog-app",
            "secret/microblog-db",
            "secret/mysql",
            "service/hello",
            "service/microblog",
            "service/mysql",
            "statefulset.apps/mysql",
        ]
    );
    // What the server stored is what the files say, defaults aside.
    let sts = tc.kubectl_ok(&[
        "-n",
        "microblog",
        "get",
        "statefulset",
        "mysql",
        "-o",
        "jsonpath={.spec.serviceName} {.spec.volumeClaimTemplates[0].spec.resources.requests.storage}",
    ]);
    assert_eq!(sts, "mysql 1Gi");
    let svc = tc.kubectl_ok(&[
        "-n",
        "microblog",
        "get",
        "service",
        "mysql",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(svc, "None", "mysql is a headless Service");
    let tls = tc.kubectl_ok(&[
        "-n",
        "microblog",
        "get",
        "ingress",
        "microblog",
        "-o",
        "jsonpath={.spec.tls[0].secretName}",
    ]);
    assert_eq!(tls, "microblog-tls");

    available(&tc, "microblog", "microblog", 2).await;
    available(&tc, "hello", "hello", 2).await;
    endpoints(&tc, "microblog", "microblog", 2).await;
    endpoints(&tc, "hello", "hello", 2).await;

    // The pods got their environment from the ConfigMap and both Secrets.
    let pods: Api<Pod> = Api::namespaced(tc.client.clone(), "microblog");
    let list = pods
        .list(&ListParams::default().labels("app=microblog"))
        .await
        .expect("list pods");
    let env_from: Vec<String> = list
        .items
        .first()
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.env_from.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            e.config_map_ref
                .as_ref()
                .map(|r| r.name.clone())
                .or_else(|| e.secret_ref.as_ref().map(|r| r.name.clone()))
        })
        .collect();
    assert_eq!(
        env_from,
        ["microblog-config", "microblog-db", "microblog-app"]
    );

    answers_through_ingress(&tc, "microblog.example.local").await;
    answers_through_ingress(&tc, "hello.example.local").await;

    // The embedded cluster has no StatefulSet controller: the StatefulSet is stored but runs
    // no pod. Asserted so that the day it gains one, this test (and mysql's README) is
    // revisited.
    let mysql_pods: Api<Pod> = Api::namespaced(tc.client.clone(), "microblog");
    let mysql = mysql_pods
        .list(&ListParams::default().labels("app=mysql"))
        .await
        .expect("list pods");
    assert!(
        mysql.items.is_empty(),
        "the embedded cluster now runs StatefulSet pods: update manifests/mysql/README.md"
    );
}
