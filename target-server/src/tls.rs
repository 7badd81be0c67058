//! Self-signed certificate generation and the rustls acceptor for `--tls`.

use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A TLS acceptor plus the PEM clients need to trust it.
pub(crate) struct TlsSetup {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) cert_pem: String,
}

/// Generates a fresh self-signed certificate for `localhost` and `127.0.0.1`.
pub(crate) fn self_signed() -> anyhow::Result<TlsSetup> {
    let certified = rcgen::generate_simple_self_signed(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .context("generating self-signed certificate")?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));

    // An explicit provider, because the process-wide default is ambiguous when
    // another crate in the build enables a second rustls backend.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .context("building TLS server config")?;
    // The server only speaks HTTP/1.1; saying so keeps ALPN clients from trying h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        cert_pem: certified.cert.pem(),
    })
}
