use crate::helpers::{assert_error, spawn_app};

async fn the_demo_page_is_served_with_a_strict_csp() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = response.text().await.expect("html");
    assert!(html.contains("/app.js"));
    // Its module and stylesheet are served too.
    assert_eq!(app.get("/app.js").await.status(), 200);
    assert_eq!(app.get("/app.css").await.status(), 200);
}

async fn api_paths_never_fall_through_to_the_page() {
    let app = spawn_app().await;
    for path in ["/api/index.html", "/api/app.js", "/api/"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_error(response, 404, "route_not_found").await;
    }
    assert_error(app.get("/no-such-file.txt").await, 404, "route_not_found").await;
}

crate::tests![
    the_demo_page_is_served_with_a_strict_csp,
    api_paths_never_fall_through_to_the_page,
];
