//! Which headers cross the relay, each way: pure functions of a header map.
//!
//! Up, the browser's credentials stay here (the cookie is the gateway's,
//! the upstream gets a relay token instead), hop-by-hop headers belong to
//! the client's connection and not to ours (RFC 9110 §7.6.1), and whatever
//! the client wrote about forwarding is replaced by what the gateway knows.
//! Down, the upstream cannot set the gateway's cookies, clear its storage,
//! widen its CORS policy, or override the security headers and
//! `Cache-Control: no-store` the middleware (src/middleware.rs) applies
//! after the handler.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// What the gateway vouches for about the client's request.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    /// As src/client_ip.rs decides it (`TRUSTED_PROXIES`).
    pub client_ip: IpAddr,
    /// `http` or `https`: how the client reached us.
    pub proto: &'a str,
    /// The host the client addressed (its `Host`, or a trusted proxy's).
    pub host: Option<&'a str>,
    /// This request's id (src/request_context.rs).
    pub request_id: Option<&'a str>,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The headers of the outbound request: the client's end-to-end headers
/// minus credentials, `Host`, framing and forwarding claims, plus our
/// `X-Forwarded-*` and `X-Request-Id`. `Authorization` (the relay token)
/// and the body's framing are added by the caller.
pub fn request_headers(incoming: &HeaderMap, forwarding: &Forwarding) -> HeaderMap {
    let mut out = end_to_end(incoming, 4, |name| {
        matches!(
            name,
            "cookie"
                | "authorization"
                | "host"
                | "content-length"
                | "expect"
                | "forwarded"
                | "x-real-ip"
                | "x-request-id"
        ) || name.starts_with("x-forwarded-")
    });
    if let Ok(ip) = HeaderValue::from_str(&forwarding.client_ip.to_string()) {
        out.insert(X_FORWARDED_FOR, ip);
    }
    if let Ok(proto) = HeaderValue::from_str(forwarding.proto) {
        out.insert(X_FORWARDED_PROTO, proto);
    }
    if let Some(host) = forwarding.host.and_then(|h| HeaderValue::from_str(h).ok()) {
        out.insert(X_FORWARDED_HOST, host);
    }
    if let Some(id) = forwarding
        .request_id
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        out.insert(X_REQUEST_ID, id);
    }
    out
}

/// The headers of the response passed down: the upstream's end-to-end
/// headers minus cookies, `Clear-Site-Data`, CORS headers and framing
/// (`Content-Length` is the caller's, from the body it streams).
pub fn response_headers(incoming: &HeaderMap) -> HeaderMap {
    end_to_end(incoming, 0, |name| {
        matches!(
            name,
            "set-cookie" | "set-cookie2" | "clear-site-data" | "content-length" | "x-request-id"
        ) || name.starts_with("access-control-")
    })
}

/// `incoming` without its hop-by-hop headers (the fixed ones and those its
/// `Connection` lists) and without those `dropped` names (lower case), in
/// order, with room for `extra` more.
fn end_to_end(incoming: &HeaderMap, extra: usize, dropped: impl Fn(&str) -> bool) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + extra);
    for (name, value) in incoming {
        let text = name.as_str();
        if !(is_hop_by_hop(text) || listed.iter().any(|l| l == text) || dropped(text)) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// RFC 9110 §7.6.1 and the `Proxy-*` family; `name` is lower case (as
/// `HeaderName` keeps it).
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.starts_with("proxy-")
}

/// The header names a `Connection` header lists (lower-cased): hop-by-hop
/// for this connection only.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    fn get<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers
            .get_all(name)
            .map(|v| v.to_str().expect("ascii"))
            .collect()
    }

    const FORWARDING: Forwarding<'static> = Forwarding {
        client_ip: IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7)),
        proto: "https",
        host: Some("app.example.com"),
        request_id: Some("req-1"),
    };

    #[test]
    fn credentials_and_host_never_go_up() {
        let out = request_headers(
            &map(&[
                ("cookie", "accessToken=secret"),
                ("cookie", "refreshToken=secret"),
                ("authorization", "Bearer the-users-access-token"),
                ("host", "gateway:8080"),
                ("accept", "application/json"),
            ]),
            &FORWARDING,
        );
        assert!(get(&out, "cookie").is_empty());
        assert!(get(&out, "authorization").is_empty());
        assert!(get(&out, "host").is_empty());
        assert_eq!(get(&out, "accept"), ["application/json"]);
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_lists_are_dropped_up() {
        let out = request_headers(
            &map(&[
                ("connection", "keep-alive, X-Secret-Hop"),
                ("connection", "x-other-hop"),
                ("keep-alive", "timeout=5"),
                ("te", "trailers"),
                ("trailer", "x-checksum"),
                ("transfer-encoding", "chunked"),
                ("upgrade", "websocket"),
                ("proxy-authorization", "Basic eA=="),
                ("proxy-connection", "keep-alive"),
                ("x-secret-hop", "1"),
                ("x-other-hop", "1"),
                ("content-length", "12"),
                ("expect", "100-continue"),
                ("content-type", "application/json"),
                ("x-custom", "kept"),
            ]),
            &FORWARDING,
        );
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        for gone in [
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "proxy-connection",
            "x-secret-hop",
            "x-other-hop",
            "content-length",
            "expect",
        ] {
            assert!(!names.contains(&gone), "{gone} in {names:?}");
        }
        assert_eq!(get(&out, "content-type"), ["application/json"]);
        assert_eq!(get(&out, "x-custom"), ["kept"]);
    }

    #[test]
    fn forwarding_claims_of_the_client_are_replaced_by_ours() {
        let out = request_headers(
            &map(&[
                ("x-forwarded-for", "10.0.0.1, 10.0.0.2"),
                ("x-forwarded-for", "127.0.0.1"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "evil.example"),
                ("x-forwarded-port", "1"),
                ("x-forwarded-prefix", "/admin"),
                ("forwarded", "for=10.0.0.1;proto=http"),
                ("x-real-ip", "10.0.0.1"),
                ("x-request-id", "client-chosen"),
            ]),
            &FORWARDING,
        );
        assert_eq!(get(&out, "x-forwarded-for"), ["203.0.113.7"]);
        assert_eq!(get(&out, "x-forwarded-proto"), ["https"]);
        assert_eq!(get(&out, "x-forwarded-host"), ["app.example.com"]);
        assert_eq!(get(&out, "x-request-id"), ["req-1"]);
        for gone in [
            "x-forwarded-port",
            "x-forwarded-prefix",
            "forwarded",
            "x-real-ip",
        ] {
            assert!(get(&out, gone).is_empty(), "{gone}");
        }
    }

    #[test]
    fn no_host_means_no_forwarded_host_and_ipv6_clients_are_written_plainly() {
        let forwarding = Forwarding {
            client_ip: "2001:db8::1".parse().expect("ip"),
            host: None,
            ..FORWARDING
        };
        let out = request_headers(&HeaderMap::new(), &forwarding);
        assert_eq!(get(&out, "x-forwarded-for"), ["2001:db8::1"]);
        assert!(get(&out, "x-forwarded-host").is_empty());
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn the_upstream_cannot_set_cookies_cors_or_framing_down() {
        let out = response_headers(&map(&[
            ("set-cookie", "accessToken=forged; Path=/"),
            ("set-cookie", "other=1"),
            ("set-cookie2", "legacy=1"),
            ("clear-site-data", "\"cookies\""),
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("trailer", "x-checksum"),
            ("upgrade", "h2c"),
            ("proxy-authenticate", "Basic"),
            ("content-length", "5"),
            ("x-request-id", "upstream-id"),
            ("content-type", "text/csv"),
            ("etag", "\"v1\""),
            ("cache-control", "public, max-age=3600"),
            ("content-security-policy", "script-src *"),
            ("location", "/v1/orders/7"),
        ]));
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        let mut names = names;
        names.sort_unstable();
        // Cache-Control and CSP pass here and are overwritten by the
        // middleware (tested end to end in tests/api/relay.rs).
        assert_eq!(
            names,
            [
                "cache-control",
                "content-security-policy",
                "content-type",
                "etag",
                "location"
            ]
        );
        assert_eq!(get(&out, "location"), ["/v1/orders/7"]);
    }

    #[test]
    fn repeated_end_to_end_headers_keep_every_value_in_order() {
        let out = response_headers(&map(&[
            ("vary", "accept"),
            ("vary", "origin"),
            ("link", "<a>"),
        ]));
        assert_eq!(get(&out, "vary"), ["accept", "origin"]);
        let out = request_headers(&map(&[("accept", "a"), ("accept", "b")]), &FORWARDING);
        assert_eq!(get(&out, "accept"), ["a", "b"]);
    }
}
