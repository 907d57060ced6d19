//! The request a piece of work belongs to: its id and, once known, the
//! caller's user id. The request middleware (src/middleware.rs) runs the
//! whole request inside [`scope`], so every log line written while it is
//! handled carries the id (src/telemetry.rs reads [`current_id`]), and the
//! request line can name the user.
//!
//! The id is the client's `X-Request-Id` when that is 1 to [`MAX_LEN`]
//! characters of `A-Z a-z 0-9 - _ . :` (safe in a header and a log line),
//! otherwise a new one. Work moved to the blocking pool runs outside the
//! scope; nothing logs from there today.

use std::{
    cell::Cell,
    future::Future,
    rc::Rc,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use actix_web::http::header::{HeaderName, HeaderValue};

pub const HEADER: &str = "x-request-id";
pub const MAX_LEN: usize = 64;

/// [`HEADER`] as a header map key.
pub fn header_name() -> HeaderName {
    HeaderName::from_static(HEADER)
}

tokio::task_local! {
    static CURRENT: Rc<RequestContext>;
}

pub struct RequestContext {
    id: Arc<str>,
    header: Option<HeaderValue>,
    user_id: Cell<Option<i32>>,
}

impl RequestContext {
    /// From the request's `X-Request-Id`, if it is acceptable.
    pub fn new(incoming: Option<&HeaderValue>) -> Rc<Self> {
        let (id, header) = match incoming.filter(|v| acceptable(v.as_bytes())) {
            Some(value) => (
                String::from_utf8_lossy(value.as_bytes()).into(),
                Some(value.clone()),
            ),
            None => {
                let id = generate();
                let header = HeaderValue::from_str(&id).ok();
                (id.into(), header)
            }
        };
        Rc::new(RequestContext {
            id,
            header,
            user_id: Cell::new(None),
        })
    }

    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// The id as the response header echoes it.
    pub fn header(&self) -> Option<HeaderValue> {
        self.header.clone()
    }

    pub fn user_id(&self) -> Option<i32> {
        self.user_id.get()
    }
}

/// Runs `work` as part of the request `context` describes.
pub async fn scope<F: Future>(context: Rc<RequestContext>, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// The id of the request being handled by this task, if any.
pub fn current_id() -> Option<Arc<str>> {
    CURRENT.try_with(|c| c.id.clone()).ok()
}

/// Records who the caller turned out to be, for the request line. Outside
/// a request it does nothing.
pub fn set_user_id(id: i32) {
    let _ = CURRENT.try_with(|c| c.user_id.set(Some(id)));
}

fn acceptable(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// 32 hex digits: a random per-process prefix, then a counter passed
/// through a keyed bijection, so ids never repeat within a process and do
/// not reveal how many requests it has served. Cheaper than a CSPRNG call
/// per request; the ids are labels, not secrets.
fn generate() -> String {
    static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (prefix, key) = *KEYS.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // Still unique within the process; only the prefix is weaker.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = (nanos ^ u128::from(std::process::id())).to_le_bytes();
        }
        let (a, b) = bytes.split_at(8);
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
        (word(a), word(b))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{:016x}", mix(n ^ key))
}

/// The splitmix64 finalizer: a bijection on u64 that scatters its input.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(incoming: &str) -> String {
        let value = HeaderValue::from_str(incoming).expect("header value");
        RequestContext::new(Some(&value)).id().to_string()
    }

    #[test]
    fn a_well_formed_incoming_id_is_kept() {
        for id in [
            "a",
            "req-123",
            "0af7651916cd43dd8448eb211c80319c",
            "trace.id:part_2",
            &"x".repeat(MAX_LEN),
        ] {
            assert_eq!(id_for(id), id);
        }
    }

    #[test]
    fn a_malformed_incoming_id_is_replaced() {
        for id in [
            "",
            &"x".repeat(MAX_LEN + 1),
            "has space",
            "quote\"",
            "new\tline",
            "semi;colon",
            "slash/",
        ] {
            let got = id_for(id);
            assert_ne!(got, id);
            assert!(acceptable(got.as_bytes()), "{got}");
        }
        let non_ascii = HeaderValue::from_bytes("é".as_bytes()).expect("obs-text");
        assert_ne!(&**RequestContext::new(Some(&non_ascii)).id(), "é");
    }

    #[test]
    fn generated_ids_are_acceptable_distinct_and_not_sequential_looking() {
        let ids: Vec<String> = (0..1000).map(|_| generate()).collect();
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(acceptable(id.as_bytes()));
        }
        // Consecutive ids differ in many digits, not just the last one.
        let differing = ids[0]
            .bytes()
            .zip(ids[1].bytes())
            .skip(16)
            .filter(|(a, b)| a != b)
            .count();
        assert!(differing > 4, "{} {}", ids[0], ids[1]);
    }

    #[test]
    fn a_missing_id_is_generated_and_echoed() {
        let context = RequestContext::new(None);
        let header = context.header().expect("header");
        assert_eq!(header.to_str().ok(), Some(&**context.id()));
    }

    #[actix_web::test]
    async fn the_scope_carries_the_id_and_the_user() {
        assert!(current_id().is_none());
        set_user_id(7); // outside a request: nothing happens
        let context = RequestContext::new(None);
        let expected = context.id().clone();
        let inner = context.clone();
        scope(inner, async move {
            assert_eq!(current_id(), Some(expected));
            set_user_id(42);
        })
        .await;
        assert_eq!(context.user_id(), Some(42));
        assert!(current_id().is_none());
    }
}
