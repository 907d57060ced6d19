//! Hostile clients at the connection level: stalled bodies and requests the
//! HTTP codec refuses. Raw TCP, since a well-behaved client cannot send them.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use crate::helpers::{TestApp, spawn_app_with};

/// Writes `request` on a new connection and reads until the server closes
/// it (at most 10 s); returns how long that took and what came back.
async fn exchange(app: &TestApp, request: String) -> (Duration, String) {
    let address = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let start = Instant::now();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("the server closes the connection");
        (
            start.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
    .await
    .expect("exchange task")
}

fn assert_json_error(answer: &str, status: u16, code: &str) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole response");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with(&format!("http/1.1 {status} ")), "{answer}");
    for header in [
        "content-type: application/json",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
    ] {
        assert!(head.contains(header), "{header} missing in {answer}");
    }
    assert!(
        body.contains(&format!("\"code\":\"{code}\"")),
        "{code} missing in {answer}"
    );
}

async fn a_stalled_body_gets_a_json_408_within_the_deadline_and_the_connection_closes() {
    let app = spawn_app_with(&[("HTTP_BODY_TIMEOUT", "1s")]).await;
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"user",
        app.address.trim_start_matches("http://")
    );
    let (elapsed, answer) = exchange(&app, request).await;
    assert_json_error(&answer, 408, "request_timeout");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    // The server still answers.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .expect("health")
            .status(),
        200
    );
}

/// Documents a limit rather than a feature (README, "Response headers"):
/// actix's HTTP/1 codec answers a request it cannot parse by itself, before
/// any middleware exists for it, with an empty 400 and no security headers.
/// If an actix upgrade changes that, this test says so.
async fn a_malformed_header_line_is_answered_by_the_codec_with_an_empty_400() {
    let app = spawn_app_with(&[]).await;
    let request = "GET /health HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n".to_owned();
    let (_, answer) = exchange(&app, request).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole response");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 400 "), "{answer}");
    assert!(head.contains("content-length: 0"), "{answer}");
    assert!(body.is_empty(), "{answer}");
    assert!(!head.contains("x-content-type-options"), "{answer}");
}

crate::tests![
    a_stalled_body_gets_a_json_408_within_the_deadline_and_the_connection_closes,
    a_malformed_header_line_is_answered_by_the_codec_with_an_empty_400,
];
