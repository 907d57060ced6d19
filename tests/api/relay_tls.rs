//! The relay over HTTPS: an upstream started here on 127.0.0.1 that speaks
//! TLS with a certificate signed by a CA made for the test (rcgen), which
//! the gateway trusts only through `RELAY_CA_FILE`.

use std::sync::{Arc, Mutex, PoisonError};

use actix_web::rt::net::TcpListener;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

use crate::{
    helpers::{TestApp, assert_error, spawn_app_with},
    startup::ScratchDir,
};

/// The upstream's CA, as a PEM file for `RELAY_CA_FILE`, and what the
/// upstream received: the head of each request.
struct TlsUpstream {
    port: u16,
    ca_file: String,
    heads: Arc<Mutex<Vec<String>>>,
    _dir: ScratchDir,
}

impl TlsUpstream {
    async fn start() -> TlsUpstream {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        leaf.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().expect("key");
        let cert = leaf.signed_by(&key, &issuer).expect("certificate");

        let dir = ScratchDir::new();
        let ca_file = dir.path().join("relay-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA file");
        let config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        actix_web::rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
                actix_web::rt::spawn(async move {
                    // A handshake the gateway refuses ends here.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let body = r#"{"over":"tls"}"#;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsUpstream {
            port,
            ca_file: ca_file.display().to_string(),
            heads,
            _dir: dir,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn gateway(upstream: &TlsUpstream, trust: bool) -> TestApp {
    let list = format!("secure=https://127.0.0.1:{}/base", upstream.port);
    let mut vars = vec![("UPSTREAMS", list.as_str())];
    if trust {
        vars.push(("RELAY_CA_FILE", upstream.ca_file.as_str()));
    }
    let app = spawn_app_with(&vars).await;
    app.logged_in_user("ada@example.com").await;
    app
}

async fn an_https_upstream_signed_by_the_relay_ca_is_relayed_over_tls() {
    let upstream = TlsUpstream::start().await;
    let app = gateway(&upstream, true).await;
    let response = app.get("/api/upstream/secure/items?x=1").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["over"], "tls");
    let heads = upstream.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("get /base/items?x=1 http/1.1"), "{head}");
    assert!(head.contains("authorization: bearer "), "{head}");
    assert!(!head.contains("cookie:"), "{head}");
}

async fn an_https_upstream_whose_certificate_is_not_trusted_gets_502_and_no_request() {
    let upstream = TlsUpstream::start().await;
    let app = gateway(&upstream, false).await;
    assert_error(
        app.get("/api/upstream/secure/items").await,
        502,
        "upstream_unavailable",
    )
    .await;
    assert!(upstream.heads().is_empty(), "{:?}", upstream.heads());
}

crate::tests![
    an_https_upstream_signed_by_the_relay_ca_is_relayed_over_tls,
    an_https_upstream_whose_certificate_is_not_trusted_gets_502_and_no_request,
];
