//! The node agent and the ingress proxy run on their own (`rollout sim node`,
//! `rollout sim ingress`), joined to an API server through a kubeconfig — as beside a real
//! control plane.

use crate::common;
use crate::common::Killed;
use crate::common::{
    TestCluster, app_deployment, app_service, eventually, http_client, via_ingress,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use kubesim::SimOptions;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn standalone_node_agent_and_ingress_join_an_api_server() {
    let tc = TestCluster::start_with(SimOptions {
        node_agent: false,
        ingress_port: None,
        ..Default::default()
    })
    .await;
    let kc = tc.kubeconfig();
    let bin = env!("CARGO_BIN_EXE_rollout");
    let _node = Killed(
        Command::new(bin)
            .args([
                "sim",
                "node",
                "--name",
                "worker-a",
                "--speed",
                "10",
                "--kubeconfig",
            ])
            .arg(&kc)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rollout sim node"),
    );
    let mut ingress = Command::new(bin)
        .args([
            "sim",
            "ingress",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(&kc)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollout sim ingress");
    let stderr = ingress.stderr.take().expect("stderr");
    let _ingress = Killed(ingress);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let line = lines
        .by_ref()
        .find(|l| l.starts_with("ingress"))
        .expect("ingress prints its address");
    // Keep reading what it prints: a closed pipe would end it at its next line.
    std::thread::spawn(move || for _ in lines {});
    let addr: std::net::SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("address in the banner");

    Api::<Deployment>::default_namespaced(tc.client.clone())
        .create(
            &PostParams::default(),
            &app_deployment("shop", "shop", "shop:v7", 2),
        )
        .await
        .expect("deploy");
    Api::<Service>::default_namespaced(tc.client.clone())
        .create(
            &PostParams::default(),
            &app_service("shop", json!({"app": "shop"})),
        )
        .await
        .expect("svc");
    let ing: Ingress = serde_json::from_value(json!({"metadata": {"name": "shop"}, "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.local", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}]}}))
    .expect("ingress");
    Api::<Ingress>::default_namespaced(tc.client.clone())
        .create(&PostParams::default(), &ing)
        .await
        .expect("ingress");

    let http = http_client();
    eventually(
        "the app answers through the standalone ingress",
        Duration::from_secs(30),
        || async {
            let (code, version) = via_ingress(&http, addr, "shop.local", "/", &[]).await;
            (code == 200 && version == "v7").then_some(())
        },
    )
    .await;
    if common::have_kubectl() {
        let out = tc.kubectl_ok(&["get", "nodes"]);
        assert!(out.contains("worker-a") && out.contains("Ready"), "{out}");
    }
}
