use crate::helpers::{assert_error, spawn_app};
use serde_json::Value;

#[actix_web::test]
async fn health_reports_the_api_is_running() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "API is running");
}

#[actix_web::test]
async fn ready_is_200_with_the_database_and_503_without_it() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);

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
    // Liveness does not depend on the database, and neither does an
    // authenticated read of the caller: it costs no database round trip.
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
    // A route that needs the database says so with a 503, not a 500.
    assert_error(app.get("/api/people").await, 503, "service_unavailable").await;
}

#[actix_web::test]
async fn unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    for path in ["/api/nothing-here", "/api/auth", "/definitely/not/here"] {
        let body = assert_error(app.get(path).await, 404, "route_not_found").await;
        assert_eq!(body["message"], "Route not found");
    }
}

#[actix_web::test]
async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    let response = app
        .request(reqwest::Method::PATCH, "/api/people", None)
        .await;
    assert_error(response, 405, "method_not_allowed").await;
    let response = app.get("/api/auth/login").await;
    assert_error(response, 405, "method_not_allowed").await;
}
