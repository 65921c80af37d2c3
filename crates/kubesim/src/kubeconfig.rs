//! The kubeconfig a started cluster hands out (context `rollout-sim`).

use base64::Engine;

pub const CONTEXT: &str = "rollout-sim";

/// Renders a kubeconfig for `server` trusting `ca_pem` and authenticating with `token`.
pub fn render(server: &str, ca_pem: &str, token: &str, namespace: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {CONTEXT}
  user:
    token: {token}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: {namespace}
current-context: {CONTEXT}
"
    )
}
