//! Where a relayed request goes below its upstream's base URL: a pure
//! function of the *raw* request path (as the client sent it, before actix
//! decodes anything) and query.
//!
//! Upstreams disagree about decoding: one treats `%2F` as `/`, another
//! decodes twice, Tomcat reads `..;x` as `..`, Windows servers take `\` for
//! `/`. Rather than normalise (and guess which reading the upstream will
//! make), anything that some reading could turn into a step outside the
//! base path is refused: `.` and `..` segments however they are encoded,
//! encoded `/` and `\`, literal backslashes, empty segments, control
//! characters, broken or double percent-encoding. What passes is forwarded
//! byte for byte, so the upstream sees exactly the path that was checked.

/// The route's prefix; the upstream's name is the segment after it.
pub const PREFIX: &str = "/api/upstream/";

/// Why a path was refused (for the log; the client gets one 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `.` or `..`, also percent-encoded (`%2e%2E`) or with parameters (`..;x`).
    DotSegment,
    /// `%2F` or `%5C`: a separator the upstream might decode.
    EncodedSeparator,
    /// A literal `\`, which some servers read as `/`.
    Backslash,
    /// `//`: some servers collapse it, others route it differently.
    EmptySegment,
    /// A control character (`%00`, `%0A`, …), a space or a non-ASCII byte.
    Character,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// A percent-encoding of `%` that decodes to one of the above on a
    /// second decoding (`%252e`).
    DoubleEncoding,
    /// Outside the upstream's `allow` prefix.
    NotAllowed,
}

/// `(name, tail)` of a raw path below [`PREFIX`]; the tail keeps its leading
/// `/` (`/api/upstream/orders/v1` → `("orders", "/v1")`). `None` when the
/// raw path does not spell the prefix literally (actix matched a decoded
/// form such as `/api/upstr%65am/…`) or has no `/` after the name.
pub fn split(raw_path: &str) -> Option<(&str, &str)> {
    let rest = raw_path.strip_prefix(PREFIX)?;
    let slash = rest.find('/')?;
    Some(rest.split_at(slash))
}

/// The outbound path and query: `base_path` (no trailing `/`, `""` for the
/// root) followed by `tail` (starting with `/`) as sent, then `?query` if
/// the request had one. `allow` is a prefix like `/v1`, matched on whole
/// decoded segments.
pub fn outbound(
    base_path: &str,
    tail: &str,
    query: Option<&str>,
    allow: Option<&str>,
) -> Result<String, Refusal> {
    let Some(rest) = tail.strip_prefix('/') else {
        return Err(Refusal::EmptySegment);
    };
    let mut decoded = Vec::new();
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        // A trailing slash is a resource of its own (`/orders/`), not a step.
        if segment.is_empty() && segments.peek().is_some() {
            return Err(Refusal::EmptySegment);
        }
        decoded.push(decode_segment(segment)?);
    }
    if let Some(prefix) = allow
        && !within(prefix, &decoded)
    {
        return Err(Refusal::NotAllowed);
    }
    if let Some(query) = query
        && !query.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Refusal::Character);
    }
    let mut target = String::with_capacity(base_path.len() + tail.len() + 1);
    target.push_str(base_path);
    target.push_str(tail);
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    Ok(target)
}

/// One segment, percent-decoded and checked.
fn decode_segment(segment: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let value = bytes
                    .get(i + 1..i + 3)
                    .and_then(hex_pair)
                    .ok_or(Refusal::BadPercentEncoding)?;
                match value {
                    b'/' | b'\\' => return Err(Refusal::EncodedSeparator),
                    v if v < 0x20 || v == 0x7f => return Err(Refusal::Character),
                    v => out.push(v),
                }
                i += 3;
            }
            b'\\' => return Err(Refusal::Backslash),
            // Spaces and controls only encoded; raw non-ASCII below.
            b if b <= 0x20 || b == 0x7f => return Err(Refusal::Character),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Non-ASCII only percent-encoded: a raw byte above 0x7f cannot be in a
    // URI, and `Uri` would refuse it later anyway.
    if segment.bytes().any(|b| b >= 0x80) {
        return Err(Refusal::Character);
    }
    if double_encodes_something(&out) {
        return Err(Refusal::DoubleEncoding);
    }
    // `..;jsessionid=x` is `..` to servlet containers.
    let name = out.split(|b| *b == b';').next().unwrap_or_default();
    if name == b"." || name == b".." {
        return Err(Refusal::DotSegment);
    }
    Ok(out)
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match pair {
        [high, low] => Some((digit(*high)? * 16 + digit(*low)?) as u8),
        _ => None,
    }
}

/// Whether decoding `decoded` once more yields a `.`, a separator or a
/// control character: `%252e` is `%2e` after one decoding.
fn double_encodes_something(decoded: &[u8]) -> bool {
    decoded.windows(3).any(|w| {
        w[0] == b'%'
            && hex_pair(&w[1..])
                .is_some_and(|b| matches!(b, b'.' | b'/' | b'\\' | b'%') || b < 0x20 || b == 0x7f)
    })
}

/// Whether the decoded segments start with the prefix's segments.
fn within(prefix: &str, decoded: &[Vec<u8>]) -> bool {
    let wanted = prefix.trim_start_matches('/').split('/');
    let mut got = decoded.iter();
    wanted
        .into_iter()
        .all(|want| got.next().is_some_and(|seg| seg == want.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tail: &str) -> Result<String, Refusal> {
        outbound("/base", tail, None, None)
    }

    fn refused(tail: &str) -> Refusal {
        target(tail).expect_err(tail)
    }

    #[test]
    fn the_name_and_tail_come_from_the_raw_path() {
        assert_eq!(
            split("/api/upstream/orders/v1/x"),
            Some(("orders", "/v1/x"))
        );
        assert_eq!(split("/api/upstream/orders/"), Some(("orders", "/")));
        assert_eq!(split("/api/upstream/ord%65rs/x"), Some(("ord%65rs", "/x")));
        assert_eq!(split("/api/upstream/orders"), None);
        assert_eq!(split("/api/upstr%65am/orders/x"), None);
        assert_eq!(split("/api/people/1"), None);
    }

    #[test]
    fn a_plain_path_is_appended_to_the_base_path_byte_for_byte() {
        assert_eq!(target("/v1/orders"), Ok("/base/v1/orders".into()));
        assert_eq!(target("/"), Ok("/base/".into()));
        assert_eq!(target("/v1/orders/"), Ok("/base/v1/orders/".into()));
        assert_eq!(
            target("/a%20b/%C3%A9t%C3%A9"),
            Ok("/base/a%20b/%C3%A9t%C3%A9".into())
        );
        assert_eq!(
            target("/...;/x.y/.hidden/a..b"),
            Ok("/base/...;/x.y/.hidden/a..b".into())
        );
        assert_eq!(
            target("/~user/a:b@c/!$&'()*+,;="),
            Ok("/base/~user/a:b@c/!$&'()*+,;=".into())
        );
        assert_eq!(outbound("", "/x", None, None), Ok("/x".into()));
        assert_eq!(outbound("", "/", None, None), Ok("/".into()));
    }

    #[test]
    fn the_query_is_forwarded_as_sent() {
        let with = |q| outbound("/base", "/x", Some(q), None);
        assert_eq!(with("a=1&b=%2F..%2F"), Ok("/base/x?a=1&b=%2F..%2F".into()));
        assert_eq!(with(""), Ok("/base/x?".into()));
        assert_eq!(with("q=a b"), Err(Refusal::Character));
        assert_eq!(with("q=\u{7f}"), Err(Refusal::Character));
    }

    #[test]
    fn dot_segments_are_refused_however_they_are_spelled() {
        for tail in [
            "/..",
            "/../x",
            "/a/..",
            "/a/../../etc/passwd",
            "/.",
            "/./x",
            "/a/./b",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2E/x",
            "/%2e./x",
            "/.%2e",
            "/%2e",
            "/%2E/x",
            "/..;/x",
            "/..;jsessionid=1/x",
            "/.;x/y",
            "/%2e%2e;x/y",
        ] {
            assert_eq!(refused(tail), Refusal::DotSegment, "{tail}");
        }
    }

    #[test]
    fn encoded_separators_and_backslashes_are_refused() {
        for tail in [
            "/a%2fb", "/a%2Fb", "/%2f..", "/..%2f", "/%5c", "/a%5Cb", "/%2F%2F",
        ] {
            assert_eq!(refused(tail), Refusal::EncodedSeparator, "{tail}");
        }
        for tail in ["/a\\b", "/\\..\\x", "/..\\"] {
            assert_eq!(refused(tail), Refusal::Backslash, "{tail}");
        }
    }

    #[test]
    fn empty_segments_are_refused_but_a_trailing_slash_is_not() {
        for tail in ["//", "//x", "/a//b", "/a///", "///etc/passwd"] {
            assert_eq!(refused(tail), Refusal::EmptySegment, "{tail}");
        }
        assert_eq!(
            outbound("/base", "x", None, None),
            Err(Refusal::EmptySegment)
        );
        assert!(target("/a/").is_ok());
    }

    #[test]
    fn control_characters_and_raw_non_ascii_are_refused() {
        for tail in [
            "/%00",
            "/a%00b",
            "/a%0a",
            "/%0D%0AHost:x",
            "/%7f",
            "/%1F",
            "/a b",
            "/a\tb",
            "/é",
        ] {
            assert_eq!(refused(tail), Refusal::Character, "{tail}");
        }
    }

    #[test]
    fn broken_percent_encoding_is_refused() {
        for tail in ["/%", "/a%", "/a%2", "/%zz", "/%g0", "/%%2e", "/%+1"] {
            assert_eq!(refused(tail), Refusal::BadPercentEncoding, "{tail}");
        }
    }

    #[test]
    fn double_encoding_of_anything_dangerous_is_refused() {
        for tail in [
            "/%252e%252e/x",
            "/%252E",
            "/a%252fb",
            "/a%255cb",
            "/%2500",
            "/%2525",
        ] {
            assert_eq!(refused(tail), Refusal::DoubleEncoding, "{tail}");
        }
        // A percent sign that decodes to nothing dangerous stays allowed.
        assert_eq!(target("/100%25"), Ok("/base/100%25".into()));
        assert_eq!(target("/%2541"), Ok("/base/%2541".into()));
    }

    #[test]
    fn the_allow_prefix_is_matched_on_whole_decoded_segments() {
        let allowed = |tail| outbound("/base", tail, None, Some("/v1"));
        assert_eq!(allowed("/v1"), Ok("/base/v1".into()));
        assert_eq!(allowed("/v1/"), Ok("/base/v1/".into()));
        assert_eq!(allowed("/v1/orders"), Ok("/base/v1/orders".into()));
        assert_eq!(allowed("/v%31/orders"), Ok("/base/v%31/orders".into()));
        for tail in [
            "/",
            "/v10",
            "/v1x/orders",
            "/v2/orders",
            "/V1",
            "/v1;a/x",
            "/admin/v1",
        ] {
            assert_eq!(allowed(tail), Err(Refusal::NotAllowed), "{tail}");
        }
        let nested = |tail| outbound("", tail, None, Some("/v1/public"));
        assert!(nested("/v1/public/x").is_ok());
        assert_eq!(nested("/v1/private"), Err(Refusal::NotAllowed));
        assert_eq!(nested("/v1"), Err(Refusal::NotAllowed));
        // Escaping the prefix with dots is a dot segment before anything else.
        assert_eq!(allowed("/v1/../admin"), Err(Refusal::DotSegment));
    }
}
