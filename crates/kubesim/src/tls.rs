//! Certificates made on the spot.
//!
//! The API server's ([`generate`]): a certificate authority made at every start, and the
//! server certificate it signs. The kubeconfig carries the CA, so clients verify the server;
//! kubectl needs TLS anyway, since it only sends a bearer token over HTTPS.
//!
//! A demo host's ([`host_certificate`], [`tls_secret`]): a CA of its own and a certificate for
//! the host, in the Secret an Ingress's `spec.tls` names, for the ingress to serve.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

pub struct Certs {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

pub fn generate() -> Result<Certs, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "rollout-sim-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(Certs {
        ca_pem: ca.pem(),
        server_cert_pem: cert.pem(),
        server_key_pem: key.serialize_pem(),
    })
}

/// A certificate for one host, signed by a CA made for it alone: what a demo needs to serve
/// HTTPS that clients can verify (they trust `ca_pem`).
pub struct HostCert {
    /// The CA's certificate (what a client trusts).
    pub ca_pem: String,
    /// The host's certificate followed by the CA's: the chain a server sends.
    pub chain_pem: String,
    /// The host certificate's private key.
    pub key_pem: String,
}

/// A CA and a server certificate for `host` (a DNS name, a `*.` wildcard, or an IP address).
pub fn host_certificate(host: &str) -> Result<HostCert, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    // The CA signs server certificates only.
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("rollout demo CA for {host}"));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            let mut p = CertificateParams::new(Vec::<String>::new())?;
            p.subject_alt_names.push(SanType::IpAddress(ip));
            p
        }
        Err(_) => CertificateParams::new(vec![host.to_string()])?,
    };
    params.distinguished_name.push(DnType::CommonName, host);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    let ca_pem = ca.pem();
    Ok(HostCert {
        chain_pem: format!("{}{}", cert.pem(), ca_pem),
        ca_pem,
        key_pem: key.serialize_pem(),
    })
}

/// A Secret of type `kubernetes.io/tls` for `host`, as an Ingress's `spec.tls` names it:
/// `tls.crt` (the host's certificate and its CA), `tls.key`, and `ca.crt` (the CA, where
/// cert-manager puts it, so that clients that can read the Secret can trust it).
pub fn tls_secret(
    namespace: &str,
    name: &str,
    host: &str,
) -> Result<serde_json::Value, rcgen::Error> {
    use base64::Engine as _;
    let cert = host_certificate(host)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": b64(&cert.chain_pem),
            "tls.key": b64(&cert.key_pem),
            "ca.crt": b64(&cert.ca_pem),
        }
    }))
}
