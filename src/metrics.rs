//! Prometheus metrics: every name, label and help text in one place, so a
//! call site is one line (`metrics::signed_up()`). Recording goes through
//! the `metrics` facade; without `METRICS_ADDR` no recorder is installed
//! and every call is a no-op. The exposition format is the
//! `metrics-exporter-prometheus` crate's; the listener is wired in
//! src/startup.rs, never on the public port.

use std::{
    sync::{Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use actix_web::{ResponseError, http::Method};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use crate::{
    errors::{AppError, AuthFailure},
    origins::Refusal,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A metric as README lists it: name, kind, labels, meaning.
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// Each label with every value it takes (empty: open set, documented).
    pub labels: &'static [(&'static str, &'static [&'static str])],
    pub help: &'static str,
}

const HTTP_REQUESTS: &str = "http_requests_total";
const HTTP_DURATION: &str = "http_request_duration_seconds";
const LOGINS: &str = "auth_logins_total";
const SIGNUPS: &str = "auth_signups_total";
const REFRESHES: &str = "auth_refresh_total";
const LOGOUTS: &str = "auth_logouts_total";
const CSRF_REJECTED: &str = "auth_csrf_rejected_total";
const SESSIONS_REVOKED: &str = "auth_sessions_revoked_total";
const POOL_CONNECTIONS: &str = "db_pool_connections";
const POOL_WAIT: &str = "db_pool_wait_seconds";
const DB_ERRORS: &str = "db_errors_total";
const BCRYPT_INFLIGHT: &str = "bcrypt_inflight";
const BCRYPT_QUEUE_WAIT: &str = "bcrypt_queue_wait_seconds";
const LOG_LINES_DROPPED: &str = "log_lines_dropped_total";
const CACHE_LOOKUPS: &str = "session_cache_lookups_total";
const CACHE_INVALIDATIONS: &str = "session_cache_invalidations_total";
const CACHE_LISTENER: &str = "session_cache_listener_connected";
const RELAY_REQUESTS: &str = "relay_requests_total";
const RELAY_DURATION: &str = "relay_duration_seconds";

const LOGIN_OUTCOMES: &[&str] = &["success", "invalid", "throttled", "error"];
const SIGNUP_OUTCOMES: &[&str] = &["success", "invalid", "taken", "throttled", "error"];
const REFRESH_OUTCOMES: &[&str] = &[
    "rotated", "retried", "reused", "expired", "invalid", "error",
];
const CSRF_REASONS: &[&str] = &[
    "cross_site",
    "opaque_origin",
    "ambiguous_origin",
    "foreign_origin",
    "content_type",
];
const REVOCATION_CAUSES: &[&str] = &["logout", "reuse", "role_change", "deleted", "admin"];
const POOL_STATES: &[&str] = &["idle", "in_use"];
const DB_ERROR_KINDS: &[&str] = &["connection", "locked", "pool_timeout", "query"];
const CACHE_RESULTS: &[&str] = &["hit", "miss", "bypassed"];
const CACHE_SCOPES: &[&str] = &["user", "all"];

/// Every metric the gateway exports. README's Metrics table lists the same
/// (a unit test checks).
pub const ALL: &[Metric] = &[
    Metric {
        name: HTTP_REQUESTS,
        kind: Kind::Counter,
        labels: &[("method", &[]), ("route", &[]), ("status", &[])],
        help: "Responses by method, route template (`unmatched` when no route matched) and status.",
    },
    Metric {
        name: HTTP_DURATION,
        kind: Kind::Histogram,
        labels: &[("method", &[]), ("route", &[])],
        help: "Time from the request's arrival to its response head, by method and route template.",
    },
    Metric {
        name: LOGINS,
        kind: Kind::Counter,
        labels: &[("outcome", LOGIN_OUTCOMES)],
        help: "Login attempts that reached the handler, by outcome (invalid: wrong or missing credentials).",
    },
    Metric {
        name: SIGNUPS,
        kind: Kind::Counter,
        labels: &[("outcome", SIGNUP_OUTCOMES)],
        help: "Sign-ups that reached the handler, by outcome (taken: the email is registered).",
    },
    Metric {
        name: REFRESHES,
        kind: Kind::Counter,
        labels: &[("outcome", REFRESH_OUTCOMES)],
        help: "Refresh requests by outcome (retried: the previous token within the reuse window; reused: theft, the session was revoked).",
    },
    Metric {
        name: LOGOUTS,
        kind: Kind::Counter,
        labels: &[],
        help: "Logout requests (both logout routes), whether or not a session was still live.",
    },
    Metric {
        name: CSRF_REJECTED,
        kind: Kind::Counter,
        labels: &[("reason", CSRF_REASONS)],
        help: "Writes refused by the CSRF gate, by reason (content_type: a body that is not JSON).",
    },
    Metric {
        name: SESSIONS_REVOKED,
        kind: Kind::Counter,
        labels: &[("cause", REVOCATION_CAUSES)],
        help: "Live sessions ended by this process, by cause.",
    },
    Metric {
        name: POOL_CONNECTIONS,
        kind: Kind::Gauge,
        labels: &[("state", POOL_STATES)],
        help: "Database pool connections by state, read at scrape time.",
    },
    Metric {
        name: POOL_WAIT,
        kind: Kind::Histogram,
        labels: &[],
        help: "Time to check a connection out of the pool (time-outs included).",
    },
    Metric {
        name: DB_ERRORS,
        kind: Kind::Counter,
        labels: &[("kind", DB_ERROR_KINDS)],
        help: "Database failures that failed a request: connection lost, SQLite locked, pool time-out, any other query error.",
    },
    Metric {
        name: BCRYPT_INFLIGHT,
        kind: Kind::Gauge,
        labels: &[],
        help: "bcrypt jobs holding one of the BCRYPT_MAX_CONCURRENCY permits now.",
    },
    Metric {
        name: BCRYPT_QUEUE_WAIT,
        kind: Kind::Histogram,
        labels: &[],
        help: "Time a bcrypt job waited for its permit.",
    },
    Metric {
        name: LOG_LINES_DROPPED,
        kind: Kind::Counter,
        labels: &[],
        help: "Info and debug log lines dropped because the log writer fell behind (src/telemetry.rs).",
    },
    Metric {
        name: CACHE_LOOKUPS,
        kind: Kind::Counter,
        labels: &[("result", CACHE_RESULTS)],
        help: "Session checks by what the session cache had: hit, miss (read from the database), bypassed (listener down or cache off: read from the database).",
    },
    Metric {
        name: CACHE_INVALIDATIONS,
        kind: Kind::Counter,
        labels: &[("scope", CACHE_SCOPES)],
        help: "Session cache invalidations: one user (a session change heard or made here) or all (flush on listener connect, loss or an unknown change).",
    },
    Metric {
        name: CACHE_LISTENER,
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while the session cache's listener is subscribed (cache in use), 0 while it is down (every check reads the database).",
    },
    Metric {
        name: RELAY_REQUESTS,
        kind: Kind::Counter,
        labels: &[("upstream", &[]), ("status", &[])],
        help: "Requests relayed to a configured upstream (the label is its name: a bounded set), by the status the client got: the upstream's own, or the gateway's 400/403/413/502/504.",
    },
    Metric {
        name: RELAY_DURATION,
        kind: Kind::Histogram,
        labels: &[("upstream", &[])],
        help: "Time from the relay handler to the upstream's response head (or the failure), by upstream; the body streams after it.",
    },
];

/// Seconds; from a fast cache hit to a request that waited on the pool.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same
/// handle), registers every fixed label set at zero so rates work from the
/// first scrape, and starts the upkeep thread that keeps histogram memory
/// bounded between scrapes.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    // Two applications starting at once (tests) must not both install.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)?
        .install_recorder()?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    for metric in ALL {
        let help = metric.help;
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, help),
            Kind::Histogram => metrics::describe_histogram!(metric.name, help),
        }
        match metric.labels {
            [] if metric.kind == Kind::Counter => counter!(metric.name).absolute(0),
            [(label, values)] if metric.kind == Kind::Counter => {
                for value in *values {
                    counter!(metric.name, *label => *value).absolute(0);
                }
            }
            _ => {}
        }
    }
    gauge!(BCRYPT_INFLIGHT).set(0.0);
    gauge!(CACHE_LISTENER).set(0.0);
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })
        .map(drop)
        .unwrap_or_else(|e| log::warn!("metrics upkeep thread not started: {e}"));
    Ok(handle)
}

/// Whether a recorder is installed: callers skip work (such as finding the
/// route template) that only metrics need.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// The scrape body, with the pool gauges read now.
pub fn render(handle: &PrometheusHandle, pool: r2d2::State) -> String {
    let in_use = pool.connections.saturating_sub(pool.idle_connections);
    gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle_connections));
    gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    handle.render()
}

/// One response. `route` is the route template, never the raw path.
pub fn http_request(method: &Method, route: &str, status: u16, elapsed: Duration) {
    let method = method_label(method);
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

/// Client-chosen methods would be unbounded label values.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    const NAMES: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .position(|m| m == method)
        .map_or("other", |i| NAMES[i])
}

/// Counts a login handler's result and passes it on.
pub fn count_login<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    counter!(LOGINS, "outcome" => login_outcome(result.as_ref().err())).increment(1);
    result
}

fn login_outcome(err: Option<&AppError>) -> &'static str {
    match err {
        None => "success",
        Some(AppError::TooManyRequests { .. }) => "throttled",
        Some(err) if err.status_code().is_server_error() => "error",
        Some(_) => "invalid",
    }
}

/// Counts a sign-up handler's result and passes it on.
pub fn count_signup<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    counter!(SIGNUPS, "outcome" => signup_outcome(result.as_ref().err())).increment(1);
    result
}

fn signup_outcome(err: Option<&AppError>) -> &'static str {
    match err {
        Some(AppError::Conflict { .. }) => "taken",
        other => login_outcome(other),
    }
}

/// A refresh that issued new tokens: `retried` when it was the previous
/// token, within the reuse window.
pub fn refreshed(retried: bool) {
    let outcome = if retried { "retried" } else { "rotated" };
    counter!(REFRESHES, "outcome" => outcome).increment(1);
}

/// A refresh that was refused or failed.
pub fn refresh_failed(err: &AppError) {
    counter!(REFRESHES, "outcome" => refresh_failure(err)).increment(1);
}

fn refresh_failure(err: &AppError) -> &'static str {
    match err {
        AppError::Unauthenticated(AuthFailure::RefreshTokenReused) => "reused",
        AppError::Unauthenticated(AuthFailure::RefreshTokenExpired) => "expired",
        err if err.status_code().is_server_error() => "error",
        _ => "invalid",
    }
}

pub fn logout() {
    counter!(LOGOUTS).increment(1);
}

#[derive(Debug, Clone, Copy)]
pub enum Revocation {
    Logout,
    Reuse,
    RoleChange,
    Deleted,
    Admin,
}

pub fn session_revoked(cause: Revocation) {
    let cause = match cause {
        Revocation::Logout => "logout",
        Revocation::Reuse => "reuse",
        Revocation::RoleChange => "role_change",
        Revocation::Deleted => "deleted",
        Revocation::Admin => "admin",
    };
    counter!(SESSIONS_REVOKED, "cause" => cause).increment(1);
}

/// `None`: the origin passed but the body was not JSON.
pub fn csrf_rejected(refusal: Option<Refusal>) {
    let reason = match refusal {
        Some(Refusal::CrossSite) => "cross_site",
        Some(Refusal::OpaqueOrigin) => "opaque_origin",
        Some(Refusal::AmbiguousOrigin) => "ambiguous_origin",
        Some(Refusal::ForeignOrigin) => "foreign_origin",
        None => "content_type",
    };
    counter!(CSRF_REJECTED, "reason" => reason).increment(1);
}

/// Counts a failed database visit by what failed (see [`ALL`]); errors that
/// are answers (not found, unique violations) are not failures.
pub fn db_error(err: &AppError) {
    if let Some(kind) = db_error_kind(err) {
        counter!(DB_ERRORS, "kind" => kind).increment(1);
    }
}

fn db_error_kind(err: &AppError) -> Option<&'static str> {
    let (AppError::Internal(cause) | AppError::Unavailable(cause)) = err else {
        return None;
    };
    let kind = match cause.downcast_ref::<DieselError>()? {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => "connection",
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("database is locked") =>
        {
            "locked"
        }
        _ => "query",
    };
    Some(kind)
}

/// The pool's checkout waits and time-outs (r2d2's event hooks).
#[derive(Debug)]
pub struct PoolEvents;

impl r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        histogram!(POOL_WAIT).record(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, event: r2d2::event::TimeoutEvent) {
        histogram!(POOL_WAIT).record(event.timeout().as_secs_f64());
        counter!(DB_ERRORS, "kind" => "pool_timeout").increment(1);
    }
}

/// A bcrypt job from the moment it queues for a permit.
pub struct BcryptQueued(Instant);

/// Holds `bcrypt_inflight` up while the job runs.
pub struct BcryptRunning(());

impl BcryptQueued {
    pub fn now() -> Self {
        BcryptQueued(Instant::now())
    }

    /// The permit is held: records the wait; the job counts as in flight
    /// until the returned guard drops.
    pub fn started(self) -> BcryptRunning {
        histogram!(BCRYPT_QUEUE_WAIT).record(self.0.elapsed().as_secs_f64());
        gauge!(BCRYPT_INFLIGHT).increment(1.0);
        BcryptRunning(())
    }
}

impl Drop for BcryptRunning {
    fn drop(&mut self) {
        gauge!(BCRYPT_INFLIGHT).decrement(1.0);
    }
}

/// What a session check found in the session cache.
pub fn cache_lookup(result: CacheResult) {
    let result = match result {
        CacheResult::Hit => "hit",
        CacheResult::Miss => "miss",
        CacheResult::Bypassed => "bypassed",
    };
    counter!(CACHE_LOOKUPS, "result" => result).increment(1);
}

#[derive(Debug, Clone, Copy)]
pub enum CacheResult {
    Hit,
    Miss,
    Bypassed,
}

/// One user's entry dropped (`all == false`) or the whole cache flushed;
/// a flush also says whether the cache is now in use.
pub fn cache_invalidated(all: bool) {
    let scope = if all { "all" } else { "user" };
    counter!(CACHE_INVALIDATIONS, "scope" => scope).increment(1);
}

pub fn cache_listener(connected: bool) {
    gauge!(CACHE_LISTENER).set(if connected { 1.0 } else { 0.0 });
}

/// One request to a configured upstream (`upstream` is its configured
/// name, never client input), answered with `status`.
pub fn relayed(upstream: &str, status: u16, elapsed: Duration) {
    counter!(RELAY_REQUESTS, "upstream" => upstream.to_owned(), "status" => status.to_string())
        .increment(1);
    histogram!(RELAY_DURATION, "upstream" => upstream.to_owned()).record(elapsed.as_secs_f64());
}

/// An info or debug log line the writer had no room for.
pub fn log_line_dropped() {
    counter!(LOG_LINES_DROPPED).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_lists_every_metric_with_its_labels() {
        let readme = include_str!("../README.md");
        for metric in ALL {
            let row = readme
                .lines()
                .find(|line| line.starts_with(&format!("| `{}`", metric.name)))
                .unwrap_or_else(|| panic!("README has no row for {}", metric.name));
            for (label, values) in metric.labels {
                assert!(row.contains(label), "{}: label {label}", metric.name);
                for value in *values {
                    assert!(row.contains(value), "{}: {label}={value}", metric.name);
                }
            }
        }
    }

    #[test]
    fn metric_names_follow_prometheus_conventions() {
        for metric in ALL {
            let suffix_ok = match metric.kind {
                Kind::Counter => metric.name.ends_with("_total"),
                Kind::Histogram => metric.name.ends_with("_seconds"),
                Kind::Gauge => !metric.name.ends_with("_total"),
            };
            assert!(suffix_ok, "{}", metric.name);
            assert!(
                metric
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
    }

    fn database(kind: DatabaseErrorKind, message: &str) -> AppError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn login_and_signup_outcomes_follow_the_answer() {
        let throttled = AppError::TooManyRequests {
            retry_after_secs: 1,
        };
        let wrong = AppError::Unauthenticated(AuthFailure::InvalidCredentials);
        let missing = AppError::Validation(Vec::new());
        let taken = AppError::Conflict {
            code: "email_taken",
            message: "User already exists",
        };
        let down = AppError::unavailable(crate::errors::Invariant("pool"));
        assert_eq!(login_outcome(None), "success");
        assert_eq!(login_outcome(Some(&throttled)), "throttled");
        assert_eq!(login_outcome(Some(&wrong)), "invalid");
        assert_eq!(login_outcome(Some(&missing)), "invalid");
        assert_eq!(login_outcome(Some(&down)), "error");
        assert_eq!(signup_outcome(None), "success");
        assert_eq!(signup_outcome(Some(&taken)), "taken");
        assert_eq!(signup_outcome(Some(&throttled)), "throttled");
        assert_eq!(signup_outcome(Some(&missing)), "invalid");
        assert_eq!(signup_outcome(Some(&down)), "error");
    }

    #[test]
    fn refresh_failures_name_theft_and_expiry() {
        let failure = |f| refresh_failure(&AppError::Unauthenticated(f));
        assert_eq!(failure(AuthFailure::RefreshTokenReused), "reused");
        assert_eq!(failure(AuthFailure::RefreshTokenExpired), "expired");
        assert_eq!(failure(AuthFailure::RefreshTokenInvalid), "invalid");
        assert_eq!(failure(AuthFailure::RefreshTokenMissing), "invalid");
        let internal = AppError::internal(crate::errors::Invariant("swap lost twice"));
        assert_eq!(refresh_failure(&internal), "error");
    }

    #[test]
    fn database_failures_are_counted_by_kind_and_answers_are_not() {
        use DatabaseErrorKind as K;
        let kind = |e: AppError| db_error_kind(&e);
        assert_eq!(
            kind(database(K::ClosedConnection, "gone")),
            Some("connection")
        );
        assert_eq!(
            kind(database(K::UnableToSendCommand, "gone")),
            Some("connection")
        );
        assert_eq!(
            kind(database(K::Unknown, "database is locked")),
            Some("locked")
        );
        assert_eq!(kind(database(K::Unknown, "disk I/O error")), Some("query"));
        assert_eq!(kind(database(K::UniqueViolation, "dup")), None);
        assert_eq!(kind(DieselError::NotFound.into()), None);
        assert_eq!(
            kind(AppError::internal(crate::errors::Invariant("x"))),
            None
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let custom = Method::from_bytes(b"PROPFIND").expect("token");
        assert_eq!(method_label(&custom), "other");
    }
}
