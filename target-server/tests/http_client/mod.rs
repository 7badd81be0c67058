//! Minimal HTTP/1.1 test client: one keep-alive connection, plain or TLS,
//! built on hyper's connection-level client.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// A buffered response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn content_length(&self) -> Option<usize> {
        let value = self.headers.get(hyper::header::CONTENT_LENGTH)?;
        Some(
            value
                .to_str()
                .ok()?
                .parse()
                .expect("numeric content-length"),
        )
    }
}

/// One client connection; requests on it reuse the same TCP connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    pub async fn plain(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self::handshake(TokioIo::new(stream), addr.to_string()).await
    }

    /// Connects over TLS to `localhost`, trusting only `ca_pem`.
    pub async fn tls(addr: SocketAddr, ca_pem: &str) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("PEM certificate"))
            .expect("trust certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("server name");
        let stream = connector
            .connect(name, stream)
            .await
            .expect("TLS handshake");
        Self::handshake(TokioIo::new(stream), format!("localhost:{}", addr.port())).await
    }

    async fn handshake<I>(io: I, host: String) -> Self
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(io).await.expect("HTTP handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Self { sender, host }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], "").await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .expect("valid request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.collect().await.expect("response body").to_bytes(),
        }
    }

    /// Sends a request that may fail, for checking that a server went away.
    pub async fn try_get(&mut self, path: &str) -> Result<u16, hyper::Error> {
        let request = Request::get(path)
            .header(hyper::header::HOST, &self.host)
            .body(Full::default())
            .expect("valid request");
        self.sender.ready().await?;
        Ok(self.sender.send_request(request).await?.status().as_u16())
    }
}

/// `Authorization` header for a token from `/login`.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}
