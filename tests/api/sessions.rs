//! Refresh-token reuse detection with a retry window, and immediate
//! revocation of access tokens (logout, theft, demotion, deletion).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{
    REVOCATION_BOUND, TestApp, assert_error, find_cookie, set_cookies, spawn_app, spawn_app_with,
    token_hash, until_status,
};

/// Logs in and rotates once; returns (t0, t1, the access token issued with t1).
async fn rotated_once(app: &TestApp) -> (String, String, String) {
    app.logged_in_user("ada@example.com").await;
    let t0 = app.jar_value("refreshToken").expect("refresh cookie");
    let response = app.post_empty("/api/auth/refresh").await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    let t1 = find_cookie(&cookies, "refreshToken").value;
    let access = find_cookie(&cookies, "accessToken").value;
    assert_ne!(t0, t1);
    (t0, t1, access)
}

async fn me_with(app: &TestApp, access: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("send")
}

async fn assert_cleared(response: reqwest::Response, code: &str) {
    let cookies = set_cookies(&response);
    for name in ["accessToken", "refreshToken"] {
        assert_eq!(find_cookie(&cookies, name).attr("max-age"), Some("0"));
    }
    assert_error(response, 401, code).await;
}

async fn the_previous_token_inside_the_window_gets_the_same_session_and_revokes_nothing() {
    let app = spawn_app().await;
    let (t0, t1, _) = rotated_once(&app).await;
    let (stored, _) = app.stored_session("ada@example.com");

    // A second tab (or a retry whose response was lost) still holds t0.
    let retry = app.refresh_with(&t0).await;
    assert_eq!(retry.status(), 200);
    let cookies = set_cookies(&retry);
    assert_eq!(
        find_cookie(&cookies, "refreshToken").value,
        t1,
        "the same successor"
    );
    let access = find_cookie(&cookies, "accessToken").value;
    assert_eq!(me_with(&app, &access).await.status(), 200);
    // Nothing was rotated or revoked: t1 is still the current token.
    assert_eq!(app.stored_session("ada@example.com").0, stored);
    assert_eq!(stored.as_deref(), Some(token_hash(&t1).as_str()));
    assert_eq!(app.refresh_with(&t1).await.status(), 200);
}

async fn the_previous_token_after_the_window_is_theft_and_kills_every_token() {
    let app = spawn_app_with(&[("REFRESH_REUSE_WINDOW", "1s")]).await;
    let (t0, t1, access) = rotated_once(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_cleared(app.refresh_with(&t0).await, "refresh_token_reused").await;
    assert_eq!(app.stored_session("ada@example.com").0, None);
    // The legitimate holder's newer tokens are dead too: the thief may have them.
    assert_cleared(app.refresh_with(&t1).await, "refresh_token_invalid").await;
    assert_error(me_with(&app, &access).await, 401, "token_revoked").await;
}

async fn a_token_older_than_the_previous_one_is_theft_even_inside_the_window() {
    let app = spawn_app().await;
    let (t0, t1, _) = rotated_once(&app).await;
    let t2 = find_cookie(&set_cookies(&app.refresh_with(&t1).await), "refreshToken").value;
    assert_ne!(t2, t1);

    assert_cleared(app.refresh_with(&t0).await, "refresh_token_reused").await;
    assert_cleared(app.refresh_with(&t2).await, "refresh_token_invalid").await;
    assert_eq!(app.stored_session("ada@example.com").0, None);
}

async fn a_forged_token_of_unknown_shape_or_family_revokes_nothing() {
    let app = spawn_app().await;
    let (_, t1, _) = rotated_once(&app).await;
    let (family, _) = t1.split_once('.').expect("family.secret");
    let other_family = format!("{}.{}", "A".repeat(22), "B".repeat(43));
    for forged in ["garbage", other_family.as_str()] {
        assert_cleared(app.refresh_with(forged).await, "refresh_token_invalid").await;
    }
    assert_eq!(
        app.stored_session("ada@example.com").0.as_deref(),
        Some(token_hash(&t1).as_str())
    );
    // A guessed secret in the right family is a replayed-looking token: only
    // someone who saw a token of the family knows it, so revoking is right.
    let guessed = format!("{family}.{}", "C".repeat(43));
    assert_cleared(app.refresh_with(&guessed).await, "refresh_token_reused").await;
}

async fn two_instances_racing_on_one_database_agree_on_one_successor() {
    let app = spawn_app_with(&[("DATABASE_POOL_SIZE", "6")]).await;
    let second = app.spawn_instance().await;
    app.logged_in_user("ada@example.com").await;
    let t0 = app.jar_value("refreshToken").expect("cookie");
    let t1 = app
        .concurrent_refreshes_agree(&[app.address.as_str(), second.as_str()], &t0, 12)
        .await;
    assert_eq!(
        app.stored_session("ada@example.com").0.as_deref(),
        Some(token_hash(&t1).as_str())
    );

    // Theft detected through the other instance ends the session for both.
    let t2 = find_cookie(&set_cookies(&app.refresh_with(&t1).await), "refreshToken").value;
    let stolen = app
        .client
        .post(format!("{second}/api/auth/refresh"))
        .header("cookie", format!("refreshToken={t0}"))
        .send()
        .await
        .expect("send");
    assert_cleared(stolen, "refresh_token_reused").await;
    assert_cleared(app.refresh_with(&t2).await, "refresh_token_invalid").await;
}

async fn after_logout_an_unexpired_access_token_stops_working_everywhere() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let access = app.jar_value("accessToken").expect("access cookie");
    assert_eq!(me_with(&app, &access).await.status(), 200);
    assert_eq!(app.post_empty("/api/auth/logout").await.status(), 204);

    assert_error(me_with(&app, &access).await, 401, "token_revoked").await;
    for (method, path) in [
        (Method::GET, "/api/people"),
        (Method::GET, "/api/people/1"),
        (Method::DELETE, "/api/people/1"),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .header("cookie", format!("accessToken={access}"))
            .send()
            .await
            .expect("send");
        assert_error(response, 401, "token_revoked").await;
    }
}

async fn the_revoke_route_also_ends_access_tokens() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let access = app.jar_value("accessToken").expect("access cookie");
    app.remove_from_jar("accessToken");
    assert_eq!(
        app.post_empty("/api/auth/refresh/revoke").await.status(),
        204
    );
    assert_error(me_with(&app, &access).await, 401, "token_revoked").await;
}

async fn a_demoted_admin_and_a_deleted_user_are_refused_within_the_bound() {
    let app = spawn_app().await;
    let id = app.logged_in_admin("root@example.com").await;
    let first = app.create_person("Ada", "Lovelace").await;
    let second = app.create_person("Alan", "Turing").await;
    let path = |id: i64| format!("/api/people/{id}");
    let response = app.request(Method::DELETE, &path(first), None).await;
    assert_eq!(response.status(), 204);

    bff_gateway::db::users::set_role(
        &mut app.db(),
        "root@example.com",
        "user",
        chrono::Utc::now().naive_utc(),
    )
    .expect("demote");
    // Same access token, no refresh in between. (A person that does not
    // exist: 404 while the guard lets an admin through.)
    let done = Instant::now();
    let delay = until_status(done, StatusCode::FORBIDDEN, || async {
        app.request(Method::DELETE, &path(999_999), None)
            .await
            .status()
    })
    .await;
    assert!(delay <= REVOCATION_BOUND, "{delay:?}");
    let response = app.request(Method::DELETE, &path(second), None).await;
    assert_error(response, 403, "insufficient_role").await;
    let me: Value = app.get("/api/auth/me").await.json().await.expect("json");
    assert_eq!(me["role"], "user");
    assert_eq!(app.count("people"), 1);

    {
        use bff_gateway::db::{schema::users, session_changes::session_changed};
        use diesel::prelude::*;
        let id = i32::try_from(id).expect("id");
        app.db()
            .transaction(|conn| {
                diesel::delete(users::table.find(id)).execute(conn)?;
                session_changed(conn, id)
            })
            .expect("delete user");
    }
    let access = app.jar_value("accessToken").expect("access cookie");
    let done = Instant::now();
    let delay = until_status(done, StatusCode::UNAUTHORIZED, || async {
        me_with(&app, &access).await.status()
    })
    .await;
    assert!(delay <= REVOCATION_BOUND, "{delay:?}");
    assert_error(me_with(&app, &access).await, 401, "token_revoked").await;
}

crate::tests![
    the_previous_token_inside_the_window_gets_the_same_session_and_revokes_nothing,
    the_previous_token_after_the_window_is_theft_and_kills_every_token,
    a_token_older_than_the_previous_one_is_theft_even_inside_the_window,
    a_forged_token_of_unknown_shape_or_family_revokes_nothing,
    two_instances_racing_on_one_database_agree_on_one_successor,
    after_logout_an_unexpired_access_token_stops_working_everywhere,
    the_revoke_route_also_ends_access_tokens,
    a_demoted_admin_and_a_deleted_user_are_refused_within_the_bound,
];
