//! The rustls client configuration shared by every VU's client.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Builds the rustls config: webpki roots plus extra PEM CA certificates; or,
/// when `insecure_skip_verify`, a verifier that accepts any certificate (k6's
/// `insecureSkipTLSVerify`; handshake signatures are still checked, so the
/// peer must hold the key of the certificate it shows). ALPN: http/1.1.
pub fn tls_config(
    extra_ca_pem: &[String],
    insecure_skip_verify: bool,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("tls: the crypto provider supports no TLS version")?;

    let mut config = if insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for (i, pem) in extra_ca_pem.iter().enumerate() {
            let mut found = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.with_context(|| format!("CA certificate #{}: bad PEM", i + 1))?;
                roots
                    .add(cert)
                    .with_context(|| format!("CA certificate #{}: not usable", i + 1))?;
                found += 1;
            }
            if found == 0 {
                bail!("CA certificate #{}: no CERTIFICATE block in PEM", i + 1);
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };

    // HTTP/2 via ALPN ("h2") is future work; until then offer only HTTP/1.1
    // so a server never picks a protocol the client cannot speak.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // One config serves every VU: a shared session cache would let VU 2
    // resume VU 1's session, which real independent users cannot (and it is
    // a lock all VUs would share). Like k6, every new connection does a full
    // handshake.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// Accepts any certificate chain and name; still verifies handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
