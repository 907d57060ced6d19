//! The outbound HTTP clients: one `awc::Client` per upstream per worker
//! (awc is actix's own client and, like the request body it relays, lives
//! on one worker's thread), each with its own connection pool and connect
//! timeout. TLS is rustls on the `ring` provider with the Mozilla roots
//! (webpki-roots) plus `RELAY_CA_FILE`'s: no system OpenSSL and no system
//! certificate store.

use std::{cell::RefCell, collections::HashMap, sync::Arc};

use super::token_cache::TokenCache;
use crate::config::{RelayTlsSettings, Upstream, Upstreams};

/// Per worker: built in `startup::run`'s server factory.
pub struct RelayClients(HashMap<String, Target>);

/// An upstream and the client that talks to it.
pub struct Target {
    pub upstream: Upstream,
    pub client: awc::Client,
    /// This worker's relay tokens for this upstream.
    pub tokens: RefCell<TokenCache>,
}

/// Connections to one upstream that one worker keeps open at most; more
/// requests wait for one (bounded by the upstream's total timeout).
const CONNECTIONS_PER_WORKER: usize = 256;

impl RelayClients {
    pub fn new(upstreams: &Upstreams, tls: &Arc<rustls::ClientConfig>) -> Self {
        let targets = upstreams
            .iter()
            .map(|upstream| {
                let connector = awc::Connector::new()
                    .timeout(upstream.connect_timeout)
                    .handshake_timeout(upstream.connect_timeout)
                    .limit(CONNECTIONS_PER_WORKER)
                    .rustls_0_23(Arc::clone(tls));
                let client = awc::Client::builder()
                    .connector(connector)
                    // The handler bounds the whole exchange itself
                    // (src/routes/upstream.rs); awc's own default is 5 s.
                    .disable_timeout()
                    // A redirect is the upstream's answer, for the client.
                    .disable_redirects()
                    // No `User-Agent: awc/…` of ours: the client's passes.
                    .no_default_headers()
                    .finish();
                let target = Target {
                    upstream: upstream.clone(),
                    client,
                    tokens: RefCell::new(TokenCache::default()),
                };
                (upstream.name.clone(), target)
            })
            .collect();
        RelayClients(targets)
    }

    pub fn get(&self, name: &str) -> Option<&Target> {
        self.0.get(name)
    }
}

/// The TLS settings every upstream client shares: rustls's safe defaults
/// (TLS 1.2 and 1.3), the Mozilla root store, HTTP/2 or HTTP/1.1 by ALPN.
pub fn tls_config(settings: &RelayTlsSettings) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // `RELAY_CA_FILE`: an internal CA, besides the public ones.
    for certificate in &settings.extra_roots {
        roots.add(certificate.clone())?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_settings_build_without_a_system_crypto_library() {
        let config = tls_config(&RelayTlsSettings::default()).expect("rustls on ring");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
