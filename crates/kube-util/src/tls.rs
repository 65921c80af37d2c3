//! The process's TLS crypto provider.
//!
//! kube's client and the embedded API server are built on rustls with `ring`, and reqwest is
//! built without a provider of its own, so the process must install `ring` as rustls' default
//! before it makes its first client or server. The program does that once, at the top of
//! `main`; tests, which have no `main`, do it in their setup.

/// Installs `ring` as the process-level rustls provider; a provider already installed is left.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
