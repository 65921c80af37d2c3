//! TLS termination of the embedded ingress, as ingress-nginx does it: every host an Ingress's
//! `spec.tls` lists gets the certificate of the Secret named there (keys `tls.crt` and
//! `tls.key`, as in a `kubernetes.io/tls` Secret, in the Ingress's namespace), chosen by the
//! name the client sends (SNI). A host without one — or a client that sends no name — gets the
//! controller's own self-signed certificate, as ingress-nginx serves its "Fake Certificate".
//!
//! Rules, as ingress-nginx applies them:
//! * A `tls` entry without `hosts` covers the hosts of that Ingress's rules (the Ingress API
//!   says it then applies to the controller's wildcard host).
//! * When two Ingresses give a host a certificate, the oldest Ingress's wins (the same order
//!   as routing); a Secret that is missing or unusable is skipped with a warning, and the next
//!   Ingress's (if any) is used. A host whose Secret is missing has no certificate: it is
//!   served with the default one and is not redirected to HTTPS (ingress-nginx redirects only
//!   servers that have a certificate).
//! * A wildcard host (`*.example.com`) covers exactly one more label, like Ingress rules.
//!
//! Not modelled: whether the certificate's names cover the host (ingress-nginx warns and falls
//! back to its default certificate), client certificates, and per-Ingress TLS options.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Key of the certificate chain in a TLS Secret.
pub const TLS_CERT_KEY: &str = "tls.crt";
/// Key of the private key in a TLS Secret.
pub const TLS_PRIVATE_KEY: &str = "tls.key";

/// Turns PEM text (a certificate chain and its private key) into what rustls serves.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{TLS_CERT_KEY} is not PEM certificates: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{TLS_CERT_KEY} holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("{TLS_PRIVATE_KEY} is not a PEM private key: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{TLS_PRIVATE_KEY} cannot be used: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    // A key that does not match the certificate would fail every handshake: refuse it here,
    // where the reason can be told.
    certified
        .keys_match()
        .map_err(|e| format!("{TLS_PRIVATE_KEY} does not match {TLS_CERT_KEY}: {e}"))?;
    Ok(certified)
}

/// The certificates of the served Ingresses, by host.
#[derive(Debug, Default)]
pub struct CertTable {
    /// Lowercase host (exact, or `*.suffix`) → certificate.
    hosts: HashMap<String, Arc<CertifiedKey>>,
    /// Which Secret each host's certificate came from (`namespace/name`), for diagnostics.
    sources: HashMap<String, String>,
    warnings: Vec<String>,
}

impl CertTable {
    /// Builds the table from the Ingresses the controller serves (`ingress_class`, as for
    /// routing) and a way to read a Secret by namespace and name.
    pub fn build(
        ingresses: &[Ingress],
        ingress_class: &str,
        secret: &dyn Fn(&str, &str) -> Option<Secret>,
    ) -> CertTable {
        let mut served: Vec<&Ingress> = ingresses
            .iter()
            .filter(|i| crate::ingress::routing::serves_class(i, ingress_class))
            .collect();
        // Oldest first, then namespace/name: the first Ingress to give a host a certificate
        // keeps it.
        served.sort_by(|a, b| {
            let key = |i: &Ingress| {
                (
                    i.metadata
                        .creation_timestamp
                        .as_ref()
                        .map(|t| (t.0.as_second(), t.0.subsec_nanosecond())),
                    i.metadata.namespace.clone().unwrap_or_default(),
                    i.metadata.name.clone().unwrap_or_default(),
                )
            };
            key(a).cmp(&key(b))
        });
        let mut table = CertTable::default();
        let mut loaded: HashMap<(String, String), Result<Arc<CertifiedKey>, String>> =
            HashMap::new();
        for ing in served {
            let Some(spec) = ing.spec.as_ref() else {
                continue;
            };
            let namespace = ing.metadata.namespace.as_deref().unwrap_or("default");
            let name = ing.metadata.name.as_deref().unwrap_or_default();
            let rule_hosts: Vec<String> = spec
                .rules
                .iter()
                .flatten()
                .filter_map(|r| r.host.clone())
                .collect();
            for tls in spec.tls.iter().flatten() {
                let Some(secret_name) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) else {
                    continue;
                };
                let hosts = match tls.hosts.as_deref() {
                    Some(h) if !h.is_empty() => h.to_vec(),
                    _ => rule_hosts.clone(),
                };
                let key = (namespace.to_string(), secret_name.to_string());
                let cert = loaded
                    .entry(key)
                    .or_insert_with(|| load(secret(namespace, secret_name)))
                    .clone();
                let cert = match cert {
                    Ok(c) => c,
                    Err(why) => {
                        table.warnings.push(format!(
                            "Ingress {namespace}/{name}: TLS Secret {namespace}/{secret_name} {why}; its hosts {hosts:?} get the default certificate"
                        ));
                        continue;
                    }
                };
                for host in hosts {
                    let host = host.to_ascii_lowercase();
                    if host.is_empty() || table.hosts.contains_key(&host) {
                        continue;
                    }
                    table
                        .sources
                        .insert(host.clone(), format!("{namespace}/{secret_name}"));
                    table.hosts.insert(host, cert.clone());
                }
            }
        }
        table
    }

    /// The certificate for `host` (case-insensitive, a `:port` ignored): its own, else the
    /// wildcard one covering its first label.
    pub fn lookup(&self, host: &str) -> Option<&Arc<CertifiedKey>> {
        let host = host_only(host).to_ascii_lowercase();
        if let Some(c) = self.hosts.get(&host) {
            return Some(c);
        }
        let dot = host.find('.').filter(|d| *d > 0)?;
        self.hosts.get(&format!("*{}", &host[dot..]))
    }

    /// Whether `host` has a certificate of its own (what makes ingress-nginx redirect HTTP).
    pub fn covers(&self, host: &str) -> bool {
        self.lookup(host).is_some()
    }

    /// The Secret (`namespace/name`) whose certificate `host` gets, if any.
    pub fn source(&self, host: &str) -> Option<&str> {
        let host = host_only(host).to_ascii_lowercase();
        self.sources.get(&host).map(String::as_str)
    }

    /// Hosts with a certificate, sorted.
    pub fn hosts(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.hosts.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Why Secrets (or parts of them) are not used.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

fn host_only(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn load(secret: Option<Secret>) -> Result<Arc<CertifiedKey>, String> {
    let secret = secret.ok_or_else(|| "does not exist".to_string())?;
    let data = secret.data.unwrap_or_default();
    let cert = data
        .get(TLS_CERT_KEY)
        .ok_or_else(|| format!("has no {TLS_CERT_KEY}"))?;
    let key = data
        .get(TLS_PRIVATE_KEY)
        .ok_or_else(|| format!("has no {TLS_PRIVATE_KEY}"))?;
    certified_key(&cert.0, &key.0)
        .map(Arc::new)
        .map_err(|e| format!("is not usable: {e}"))
}

/// What the HTTPS listener serves: the current [`CertTable`] (replaced whenever Ingresses or
/// Secrets change; handshakes in progress keep the one they started with) and the default
/// certificate.
pub struct Certificates {
    table: ArcSwap<CertTable>,
    default: Arc<CertifiedKey>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("hosts", &self.table.load().hosts())
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// An empty table with a freshly made default certificate.
    pub fn new() -> Result<Certificates, String> {
        Ok(Certificates {
            table: ArcSwap::from_pointee(CertTable::default()),
            default: Arc::new(default_certificate()?),
        })
    }

    pub fn set(&self, table: CertTable) {
        self.table.store(Arc::new(table));
    }

    pub fn table(&self) -> Arc<CertTable> {
        self.table.load_full()
    }

    /// Whether `host` has a certificate of its own.
    pub fn covers(&self, host: &str) -> bool {
        self.table.load().covers(host)
    }

    /// A server configuration that picks certificates from `certs` (HTTP/1.1 only, as the
    /// proxy serves).
    pub fn server_config(certs: Arc<Certificates>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = match rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b,
            // The ring provider supports the default versions; keep a working configuration
            // rather than none if that ever changes.
            Err(_) => rustls::ServerConfig::builder(),
        };
        let mut config = builder.with_no_client_auth().with_cert_resolver(certs);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        hello
            .server_name()
            .and_then(|name| table.lookup(name).cloned())
            .or_else(|| Some(self.default.clone()))
    }
}

/// ingress-nginx's stand-in for hosts without a certificate: self-signed, with its name.
fn default_certificate() -> Result<CertifiedKey, String> {
    let mut params = rcgen::CertificateParams::new(vec!["ingress.local".to_string()])
        .map_err(|e| e.to_string())?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Kubernetes Ingress Controller Fake Certificate",
    );
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    certified_key(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, created: &str, tls: serde_json::Value) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "apps", "creationTimestamp": created},
            "spec": {"ingressClassName": "nginx", "tls": tls,
                     "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]}
        }))
        .expect("ingress")
    }

    fn secret_for(host: &str) -> Secret {
        let s = crate::tls::tls_secret("apps", "x", host).expect("secret");
        serde_json::from_value(s).expect("secret")
    }

    #[test]
    fn hosts_get_their_secrets_certificate_oldest_ingress_first() {
        let a = ingress(
            "old",
            "2024-01-01T00:00:00Z",
            json!([{"hosts": ["a.example.com", "*.wild.example.com"], "secretName": "one"}]),
        );
        let b = ingress(
            "new",
            "2024-01-02T00:00:00Z",
            json!([{"hosts": ["a.example.com"], "secretName": "two"}, {"secretName": "missing"}]),
        );
        let one = secret_for("a.example.com");
        let two = secret_for("a.example.com");
        let table = CertTable::build(&[b, a], "nginx", &|ns, name| {
            assert_eq!(ns, "apps");
            match name {
                "one" => Some(one.clone()),
                "two" => Some(two.clone()),
                _ => None,
            }
        });
        assert_eq!(table.source("A.example.com:8443"), Some("apps/one"));
        assert!(table.covers("x.wild.example.com"));
        assert!(!table.covers("y.x.wild.example.com"));
        assert!(!table.covers("b.example.com"), "{:?}", table.hosts());
        assert_eq!(table.warnings().len(), 1, "{:?}", table.warnings());
        assert!(table.warnings()[0].contains("apps/missing does not exist"));
    }

    #[test]
    fn a_tls_entry_without_hosts_covers_the_rules_hosts() {
        let ing = ingress("i", "2024-01-01T00:00:00Z", json!([{"secretName": "s"}]));
        let s = secret_for("a.example.com");
        let table = CertTable::build(&[ing], "nginx", &|_, _| Some(s.clone()));
        assert_eq!(table.hosts(), vec!["a.example.com", "b.example.com"]);
    }

    #[test]
    fn unusable_secrets_are_explained() {
        let ing = ingress("i", "2024-01-01T00:00:00Z", json!([{"secretName": "s"}]));
        let mut s = secret_for("a.example.com");
        let other = secret_for("a.example.com");
        // The key of another certificate.
        if let (Some(d), Some(o)) = (s.data.as_mut(), other.data.as_ref()) {
            d.insert(TLS_PRIVATE_KEY.into(), o[TLS_PRIVATE_KEY].clone());
        }
        let table = CertTable::build(std::slice::from_ref(&ing), "nginx", &|_, _| Some(s.clone()));
        assert!(table.hosts().is_empty());
        assert!(
            table.warnings()[0].contains("does not match"),
            "{:?}",
            table.warnings()
        );
        let empty = Secret::default();
        let table = CertTable::build(&[ing], "nginx", &|_, _| Some(empty.clone()));
        assert!(table.warnings()[0].contains("has no tls.crt"));
    }
}
