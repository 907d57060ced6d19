use crate::helpers::{assert_error, spawn_app};
use serde_json::Value;

async fn health_reports_the_api_is_running() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "API is running");
}

async fn ready_is_200_when_the_database_answers() {
    let app = spawn_app().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    // The probe really reached the database: a user created through the API
    // is visible there.
    app.logged_in_user("ada@example.com").await;
    assert_eq!(app.count("users"), 1);
    assert_eq!(app.get("/ready").await.status(), 200);
}

/// PostgreSQL only: a server's database can be dropped under it, while an
/// open SQLite file stays usable even when unlinked.
async fn ready_is_503_when_postgres_goes_away() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    assert_eq!(app.get("/ready").await.status(), 200);

    // Take the database away under the running server.
    let mut conn =
        diesel::PgConnection::establish(&format!("{}/postgres", crate::helpers::server_url()))
            .expect("connect");
    use diesel::{Connection, RunQueryDsl};
    diesel::sql_query(format!("DROP DATABASE \"{}\" WITH (FORCE)", app.db_name))
        .execute(&mut conn)
        .expect("drop");
    let body = assert_error(app.get("/ready").await, 503, "service_unavailable").await;
    let text = body.to_string();
    assert!(!text.contains("database \""), "no internals: {text}");
    // Liveness does not depend on the database. Authentication does (the
    // per-request session check), and says so with a 503, not a 401.
    assert_eq!(app.get("/health").await.status(), 200);
    assert_error(app.get("/api/auth/me").await, 503, "service_unavailable").await;
    // A route that needs the database says so with a 503, not a 500.
    assert_error(app.get("/api/people").await, 503, "service_unavailable").await;
}

async fn unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    for path in ["/api/nothing-here", "/api/auth", "/definitely/not/here"] {
        let body = assert_error(app.get(path).await, 404, "route_not_found").await;
        assert_eq!(body["message"], "Route not found");
    }
}

async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    let response = app
        .request(reqwest::Method::PATCH, "/api/people", None)
        .await;
    assert_error(response, 405, "method_not_allowed").await;
    let response = app.get("/api/auth/login").await;
    assert_error(response, 405, "method_not_allowed").await;
}

crate::tests![
    health_reports_the_api_is_running,
    ready_is_200_when_the_database_answers,
    unknown_routes_are_json_404s,
    a_wrong_method_is_a_json_405;
    postgres_only: ready_is_503_when_postgres_goes_away,
];
