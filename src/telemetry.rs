//! The process's logger: `RUST_LOG` filters (env_logger's syntax, default
//! `info`), `LOG_FORMAT` chooses text (default) or one JSON object per line,
//! and every line written while a request is handled carries its id
//! (src/request_context.rs).
//!
//! Cheap on the hot path: a worker only captures the line (time, level,
//! target, message, fields) and hands it to a bounded channel; one writer
//! thread formats and writes it through a buffer that is flushed whenever
//! the channel runs empty, then lets the next lines gather for
//! [`BATCH_PAUSE`], so a busy server pays one write per batch, not per
//! line.
//!
//! When the channel is full (the writer cannot keep up with stderr), info
//! and debug lines are dropped and counted — the writer logs how many and
//! `log_lines_dropped_total` counts them — while warnings and errors wait
//! for room for at most [`IMPORTANT_WAIT`] before they, too, are dropped: a
//! stalled stderr never stalls requests for long.

use std::{
    borrow::Cow,
    io::{BufWriter, Write},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::{Duration, SystemTime},
};

use actix_web::http::Method;
use chrono::{DateTime, SecondsFormat, Utc};
use log::{Level, Log, Metadata, Record};
use serde::Serialize;

use crate::{config::LogFormat, metrics, request_context};

/// The target of the request line, so `RUST_LOG` can select it.
pub const REQUEST_TARGET: &str = "bff_gateway::request";
/// Lines waiting for the writer; beyond this, see the module comment.
const CAPACITY: usize = 16 * 1024;
/// The longest a warning or error waits for room in a full channel.
const IMPORTANT_WAIT: Duration = Duration::from_millis(50);
/// How long the writer lets lines gather after writing a batch: the
/// longest a line waits to be written once the writer is busy.
const BATCH_PAUSE: Duration = Duration::from_millis(2);
/// The longest [`flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// The request line's own fields.
pub struct RequestLine {
    pub request_id: Arc<str>,
    pub method: Method,
    /// The raw path (text format) — never the query string.
    pub path: String,
    /// The route template, when known (JSON format).
    pub route: Option<String>,
    pub status: u16,
    pub latency: Duration,
    pub user_id: Option<i32>,
}

struct Line {
    ts: SystemTime,
    level: Level,
    target: Cow<'static, str>,
    message: Cow<'static, str>,
    request_id: Option<Arc<str>>,
    request: Option<RequestLine>,
}

enum Entry {
    Line(Line),
    Flush(SyncSender<()>),
}

struct Logger {
    filter: env_filter::Filter,
    format: LogFormat,
    queue: SyncSender<Entry>,
    dropped: Arc<AtomicU64>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

impl Logger {
    fn send(&self, line: Line) {
        let important = line.level <= Level::Warn;
        let mut entry = Entry::Line(line);
        let mut waited = Duration::ZERO;
        loop {
            match self.queue.try_send(entry) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) if important && waited < IMPORTANT_WAIT => {
                    entry = back;
                    std::thread::sleep(Duration::from_millis(1));
                    waited += Duration::from_millis(1);
                }
                Err(TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    metrics::log_line_dropped();
                    return;
                }
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        let message = match record.args().as_str() {
            Some(fixed) => Cow::Borrowed(fixed),
            None => Cow::Owned(record.args().to_string()),
        };
        let target = match record.module_path_static() {
            Some(module) if module == record.target() => Cow::Borrowed(module),
            _ => Cow::Owned(record.target().to_owned()),
        };
        self.send(Line {
            ts: SystemTime::now(),
            level: record.level(),
            target,
            message,
            request_id: request_context::current_id(),
            request: None,
        });
    }

    /// Waits (bounded) until everything sent so far is written.
    fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.queue.try_send(Entry::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// Installs the logger once for the process; `RUST_LOG` as env_logger reads it.
pub fn init_logger(format: LogFormat) {
    let filter = env_filter::Builder::new()
        .parse(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()))
        .build();
    let (queue, lines) = sync_channel(CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let counted = dropped.clone();
    let started = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(&lines, format, &counted));
    if let Err(e) = started {
        eprintln!("cannot start the log writer: {e}");
        return;
    }
    let max = filter.filter();
    let installed = LOGGER.set(Logger {
        filter,
        format,
        queue,
        dropped,
    });
    if let (Ok(()), Some(logger)) = (installed, LOGGER.get())
        && log::set_logger(logger).is_ok()
    {
        log::set_max_level(max);
    }
}

/// Writes out everything logged so far; call before the process exits.
pub fn flush() {
    log::logger().flush();
}

/// Whether `RUST_LOG` lets request lines through: check first, so a quiet
/// server does not even copy the path.
pub fn request_lines_enabled() -> bool {
    LOGGER.get().is_some_and(|logger| {
        logger.filter.enabled(
            &Metadata::builder()
                .level(Level::Info)
                .target(REQUEST_TARGET)
                .build(),
        )
    })
}

/// The request line, at `info` on [`REQUEST_TARGET`] with the request's id
/// (after [`request_lines_enabled`]). Straight to the channel: the `log`
/// facade cannot carry typed fields.
pub fn request_line(line: RequestLine) {
    if let Some(logger) = LOGGER.get() {
        logger.send(Line {
            ts: SystemTime::now(),
            level: Level::Info,
            target: Cow::Borrowed(REQUEST_TARGET),
            message: Cow::Borrowed(""),
            request_id: Some(line.request_id.clone()),
            request: Some(line),
        });
    }
}

/// Whether request lines need the route template (JSON has a field for it).
pub fn wants_route() -> bool {
    LOGGER
        .get()
        .is_some_and(|logger| logger.format == LogFormat::Json)
}

fn write_lines(lines: &Receiver<Entry>, format: LogFormat, dropped: &AtomicU64) {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let mut text = String::new();
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(entry) = next {
            match entry {
                Entry::Line(line) => {
                    text.clear();
                    render(&mut text, &line, format);
                    let _ = out.write_all(text.as_bytes());
                }
                Entry::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.try_send(());
                }
            }
            next = lines.try_recv().ok();
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            text.clear();
            let message = format!("{lost} log lines dropped: the log writer fell behind");
            render(
                &mut text,
                &Line {
                    ts: SystemTime::now(),
                    level: Level::Warn,
                    target: Cow::Borrowed(module_path!()),
                    message: Cow::Owned(message),
                    request_id: None,
                    request: None,
                },
                format,
            );
            let _ = out.write_all(text.as_bytes());
        }
        let _ = out.flush();
        // Lines gather for a moment before the next batch: a writer that is
        // not asleep in `recv` costs a worker no wake-up call per line.
        std::thread::sleep(BATCH_PAUSE);
    }
    let _ = out.flush();
}

#[derive(Serialize)]
struct JsonLine<'a> {
    ts: &'a str,
    level: &'a str,
    target: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i32>,
}

fn render(out: &mut String, line: &Line, format: LogFormat) {
    use std::fmt::Write as _;
    let ts = DateTime::<Utc>::from(line.ts).to_rfc3339_opts(SecondsFormat::Millis, true);
    let request_text;
    let message: &str = match &line.request {
        Some(r) => {
            request_text = format!(
                "{} {} {} {:.3}ms",
                r.method,
                r.path,
                r.status,
                latency_ms(r.latency)
            );
            &request_text
        }
        None => &line.message,
    };
    match format {
        LogFormat::Text => {
            let _ = write!(out, "[{ts} {:<5} {}", line.level, line.target);
            if let Some(id) = &line.request_id {
                let _ = write!(out, " request_id={id}");
            }
            let _ = write!(out, "] {message}");
            if let Some(user) = line.request.as_ref().and_then(|r| r.user_id) {
                let _ = write!(out, " user_id={user}");
            }
        }
        LogFormat::Json => {
            let request = line.request.as_ref();
            let json = JsonLine {
                ts: &ts,
                level: line.level.as_str(),
                target: &line.target,
                message,
                request_id: line.request_id.as_deref(),
                method: request.map(|r| r.method.as_str()),
                route: request.and_then(|r| r.route.as_deref()),
                status: request.map(|r| r.status),
                latency_ms: request.map(|r| latency_ms(r.latency)),
                user_id: request.and_then(|r| r.user_id),
            };
            // Serializing plain strings and numbers cannot fail.
            if let Ok(json) = serde_json::to_string(&json) {
                out.push_str(&json);
            }
        }
    }
    out.push('\n');
}

/// Milliseconds with microsecond precision.
fn latency_ms(latency: Duration) -> f64 {
    (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: Level, request: Option<RequestLine>) -> Line {
        Line {
            ts: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            level,
            target: Cow::Borrowed("bff_gateway::session"),
            message: Cow::Borrowed("login: user_id=3"),
            request_id: Some("req-1".into()),
            request,
        }
    }

    fn request_line() -> RequestLine {
        RequestLine {
            request_id: "req-1".into(),
            method: Method::GET,
            path: "/api/people/7".into(),
            route: Some("/api/people/{id}".into()),
            status: 200,
            latency: Duration::from_micros(1234),
            user_id: Some(3),
        }
    }

    fn rendered(line: &Line, format: LogFormat) -> String {
        let mut out = String::new();
        render(&mut out, line, format);
        out
    }

    /// A logger whose writer never reads: its channel holds `capacity` lines.
    fn stalled(capacity: usize) -> (Logger, Receiver<Entry>) {
        let (queue, lines) = sync_channel(capacity);
        let logger = Logger {
            filter: env_filter::Builder::new().parse("debug").build(),
            format: LogFormat::Text,
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (logger, lines)
    }

    #[test]
    fn text_lines_carry_the_request_id_and_the_request_fields() {
        let event = rendered(&line(Level::Info, None), LogFormat::Text);
        assert_eq!(
            event,
            "[2023-11-14T22:13:20.123Z INFO  bff_gateway::session request_id=req-1] login: user_id=3\n"
        );
        let request = rendered(&line(Level::Info, Some(request_line())), LogFormat::Text);
        assert!(
            request.ends_with("request_id=req-1] GET /api/people/7 200 1.234ms user_id=3\n"),
            "{request}"
        );
    }

    #[test]
    fn json_lines_are_one_object_with_the_request_fields() {
        let text = rendered(&line(Level::Info, Some(request_line())), LogFormat::Json);
        assert!(text.ends_with('\n') && !text.trim_end().contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["ts"], "2023-11-14T22:13:20.123Z");
        assert_eq!(json["level"], "INFO");
        assert_eq!(json["request_id"], "req-1");
        assert_eq!(json["method"], "GET");
        assert_eq!(json["route"], "/api/people/{id}");
        assert_eq!(json["status"], 200);
        assert_eq!(json["latency_ms"], 1.234);
        assert_eq!(json["user_id"], 3);
        let mut plain = line(Level::Warn, None);
        plain.request_id = None;
        let json: serde_json::Value =
            serde_json::from_str(&rendered(&plain, LogFormat::Json)).expect("json");
        assert_eq!(json["level"], "WARN");
        assert!(json.get("request_id").is_none() && json.get("status").is_none());
    }

    #[test]
    fn info_lines_are_dropped_and_counted_when_the_writer_falls_behind() {
        let (logger, lines) = stalled(2);
        for _ in 0..5 {
            logger.send(line(Level::Info, None));
        }
        assert_eq!(logger.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(lines.try_iter().count(), 2);
    }

    #[test]
    fn warnings_wait_a_bounded_time_for_room_before_they_are_dropped() {
        let (logger, _lines) = stalled(1);
        logger.send(line(Level::Info, None));
        let started = std::time::Instant::now();
        logger.send(line(Level::Warn, None));
        assert!(started.elapsed() >= IMPORTANT_WAIT);
        assert_eq!(logger.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_warning_gets_the_room_a_draining_writer_makes() {
        let (logger, lines) = stalled(1);
        logger.send(line(Level::Info, None));
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            lines.iter().take(2).count()
        });
        logger.send(line(Level::Error, None));
        assert_eq!(logger.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(reader.join().expect("reader"), 2);
    }
}
