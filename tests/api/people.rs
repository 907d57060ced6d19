use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

async fn people_crud_round_trip() {
    let app = spawn_app().await;
    app.logged_in_admin("admin@example.com").await;

    let response = app
        .post(
            "/api/people",
            json!({ "firstName": " Ada ", "lastName": "Lovelace" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.expect("json");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        created,
        json!({ "id": id, "firstName": "Ada", "lastName": "Lovelace" })
    );

    let fetched: Value = app
        .get(&format!("/api/people/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, created);

    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/people/{id}"),
            Some(json!({ "firstName": "Augusta", "lastName": "King" })),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.expect("json");
    assert_eq!(
        updated,
        json!({ "id": id, "firstName": "Augusta", "lastName": "King" })
    );

    let list: Value = app.get("/api/people").await.json().await.expect("json");
    assert_eq!(list, json!([updated]));

    let response = app
        .request(reqwest::Method::DELETE, &format!("/api/people/{id}"), None)
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.count("people"), 0);
    assert_error(
        app.get(&format!("/api/people/{id}")).await,
        404,
        "not_found",
    )
    .await;
}

async fn delete_is_admin_only_401_403_204() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let id = app.create_person("Grace", "Hopper").await;
    let path = format!("/api/people/{id}");

    let body = assert_error(
        app.request(reqwest::Method::DELETE, &path, None).await,
        403,
        "insufficient_role",
    )
    .await;
    assert_eq!(body["message"], "Insufficient permissions");
    assert_eq!(app.count("people"), 1);

    let anonymous = app
        .client
        .delete(app.url(&path))
        .send()
        .await
        .expect("send");
    assert_error(anonymous, 401, "token_missing").await;
    assert_eq!(app.count("people"), 1);

    app.logged_in_admin("admin@example.com").await;
    assert_eq!(
        app.request(reqwest::Method::DELETE, &path, None)
            .await
            .status(),
        204
    );
    assert_eq!(app.count("people"), 0);
    assert_error(
        app.request(reqwest::Method::DELETE, &path, None).await,
        404,
        "not_found",
    )
    .await;
}

async fn ids_that_are_not_numbers_are_400_and_unknown_ids_404() {
    let app = spawn_app().await;
    app.logged_in_admin("admin@example.com").await;
    for id in ["abc", "1.5", "1;DROP TABLE people", "%00"] {
        assert_error(
            app.get(&format!("/api/people/{id}")).await,
            400,
            "invalid_id",
        )
        .await;
    }
    for id in ["0", "-1", "999999", "99999999999"] {
        assert_error(
            app.get(&format!("/api/people/{id}")).await,
            404,
            "not_found",
        )
        .await;
    }
    let response = app
        .request(
            reqwest::Method::PUT,
            "/api/people/4242",
            Some(json!({ "firstName": "A", "lastName": "B" })),
        )
        .await;
    assert_error(response, 404, "not_found").await;
    assert_eq!(app.count("people"), 0);
}

async fn partial_updates_are_rejected_and_change_nothing() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let id = app.create_person("Grace", "Hopper").await;
    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/people/{id}"),
            Some(json!({ "firstName": "Amazing" })),
        )
        .await;
    let body = assert_error(response, 400, "validation_failed").await;
    assert_eq!(
        body["errors"],
        json!([{ "field": "lastName", "message": "is required" }])
    );
    let person: Value = app
        .get(&format!("/api/people/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(person["firstName"], "Grace");
}

async fn the_list_is_paginated_and_ordered_by_id() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let names = ["Ann", "Bea", "Cid", "Dan", "Eve"];
    let mut ids = Vec::new();
    for name in names {
        ids.push(app.create_person(name, "Smith").await);
    }
    let page: Vec<Value> = app
        .get("/api/people?page=2&limit=2")
        .await
        .json()
        .await
        .expect("json");
    let got: Vec<i64> = page.iter().map(|p| p["id"].as_i64().expect("id")).collect();
    assert_eq!(got, ids[2..4]);
    let all: Vec<Value> = app.get("/api/people").await.json().await.expect("json");
    assert_eq!(all.len(), 5);
    let got: Vec<i64> = all.iter().map(|p| p["id"].as_i64().expect("id")).collect();
    assert_eq!(got, ids);
    let past_end: Vec<Value> = app
        .get("/api/people?page=9&limit=2")
        .await
        .json()
        .await
        .expect("json");
    assert!(past_end.is_empty());

    for query in ["limit=0", "limit=101", "page=0", "page=-1"] {
        assert_error(
            app.get(&format!("/api/people?{query}")).await,
            400,
            "validation_failed",
        )
        .await;
    }
    assert_error(app.get("/api/people?page=abc").await, 400, "invalid_query").await;
}

async fn free_text_names_are_stored_and_returned_verbatim() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    for (first, last) in [
        ("Robert'); DROP TABLE people;--", "' OR '1'='1"),
        ("Agent 47", "Smith 3rd"),
        ("Watson (née Parker)", "<script>alert(1)</script>"),
        ("\"; DELETE FROM users; --", "R2D2"),
    ] {
        let response = app
            .post(
                "/api/people",
                json!({ "firstName": first, "lastName": last }),
            )
            .await;
        assert_eq!(response.status(), 201, "{first:?} {last:?}");
        let created: Value = response.json().await.expect("json");
        let id = created["id"].as_i64().expect("id");
        let expected = json!({ "id": id, "firstName": first, "lastName": last });
        assert_eq!(created, expected);
        let fetched: Value = app
            .get(&format!("/api/people/{id}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(fetched, expected);
        assert_eq!(app.stored_person(id), (first.to_owned(), last.to_owned()));
    }
    // Nothing was executed: both tables are intact.
    assert_eq!(app.count("people"), 4);
    assert_eq!(app.count("users"), 1);
}

async fn names_are_trimmed_but_otherwise_kept_as_sent() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    // "José" with a combining accent: NFC would make it one code point shorter.
    let decomposed = "Jose\u{301}";
    let response = app
        .post(
            "/api/people",
            json!({ "firstName": "  Jean  Luc ", "lastName": format!(" {decomposed}\u{3000}") }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["firstName"], "Jean  Luc");
    assert_eq!(created["lastName"], decomposed);
    let (first, last) = app.stored_person(id);
    assert_eq!(first, "Jean  Luc");
    assert_eq!(last, decomposed);
    assert_eq!(last.chars().count(), 5, "stored undecomposed: {last:?}");
    assert_ne!(last, "Jos\u{e9}");
    let fetched: Value = app
        .get(&format!("/api/people/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, created);
}

crate::tests![
    people_crud_round_trip,
    delete_is_admin_only_401_403_204,
    ids_that_are_not_numbers_are_400_and_unknown_ids_404,
    partial_updates_are_rejected_and_change_nothing,
    the_list_is_paginated_and_ordered_by_id,
    free_text_names_are_stored_and_returned_verbatim,
    names_are_trimmed_but_otherwise_kept_as_sent,
];
