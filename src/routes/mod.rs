//! The route table: every path the gateway answers, in one place. What a
//! route requires of its caller is in its handler's signature: `AuthUser`
//! (a live session) or `AdminUser` (the role guard, src/auth/extractors.rs);
//! unsafe `/api` methods also pass the CSRF gate (src/auth/csrf.rs).

pub mod auth;
pub mod health;
pub mod jwks;
pub mod openapi;
pub mod people;
mod responses;
mod upstream;

use actix_web::{HttpResponse, Resource, Route, http::Method, web};

use crate::{auth::csrf, errors::AppError};

pub const API_PREFIX: &str = "/api";
/// The refresh route, below [`API_PREFIX`]. The refresh cookie's Path is
/// derived from it ([`refresh_path`]), so the two cannot drift apart.
const REFRESH_ROUTE: &str = "/auth/refresh";
/// Logout by the refresh cookie: must lie under [`REFRESH_ROUTE`] (tested).
const REVOKE_ROUTE: &str = "/auth/refresh/revoke";

/// The full path the refresh cookie is scoped to.
pub fn refresh_path() -> String {
    format!("{API_PREFIX}{REFRESH_ROUTE}")
}

/// A path and the methods it answers, each with its handler.
type Entry = (&'static str, Vec<(Method, Route)>);

/// The resources outside the `/api` scope.
fn root_resources() -> Vec<Entry> {
    use Method as M;
    vec![
        ("/health", vec![(M::GET, web::to(health::health))]),
        ("/ready", vec![(M::GET, web::to(health::ready))]),
        (
            "/.well-known/jwks.json",
            vec![(M::GET, web::to(jwks::jwks))],
        ),
    ]
}

/// The resources of the `/api` scope, below [`API_PREFIX`].
fn api_resources() -> Vec<Entry> {
    use Method as M;
    vec![
        ("/auth/signup", vec![(M::POST, web::to(auth::signup))]),
        ("/auth/login", vec![(M::POST, web::to(auth::login))]),
        (REFRESH_ROUTE, vec![(M::POST, web::to(auth::refresh))]),
        // Under the refresh path, so the refresh cookie reaches it and a
        // browser can revoke after its access cookie is gone.
        (REVOKE_ROUTE, vec![(M::POST, web::to(auth::revoke))]),
        ("/auth/logout", vec![(M::POST, web::to(auth::logout))]),
        ("/auth/me", vec![(M::GET, web::to(auth::me))]),
        (
            "/people",
            vec![
                (M::GET, web::to(people::list)),
                (M::POST, web::to(people::create)),
            ],
        ),
        (
            "/people/{id}",
            vec![
                (M::GET, web::to(people::get)),
                (M::PUT, web::to(people::update)),
                // Admin only: `people::delete` takes an `AdminUser`.
                (M::DELETE, web::to(people::delete)),
            ],
        ),
        ("/openapi.json", vec![(M::GET, web::to(openapi::document))]),
        // Token relay (src/routes/upstream.rs, src/relay/): inside the scope, so the CSRF gate and
        // CORS apply as to our own routes. The tail is read from the raw
        // path by the handler, never from this (decoded) match.
        (
            RELAY_ROUTE,
            [M::GET, M::HEAD, M::POST, M::PUT, M::PATCH, M::DELETE]
                .into_iter()
                .map(|method| (method, web::to(upstream::relay)))
                .collect(),
        ),
    ]
}

/// Below [`API_PREFIX`]; `relay::path::PREFIX` is its literal start.
const RELAY_ROUTE: &str = "/upstream/{name}/{tail:.*}";

/// A route pattern as the OpenAPI document writes it: `{tail:.*}` → `{tail}`.
fn documented(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let (mut depth, mut in_regex) = (0usize, false);
    for c in pattern.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ':' if depth == 1 => in_regex = true,
            _ => {}
        }
        if depth == 0 {
            in_regex = false;
        }
        if !in_regex {
            out.push(c);
        }
    }
    out
}

/// Every full path the gateway routes, with its methods: what the OpenAPI
/// document must list (checked by `tests/api/openapi.rs`).
pub fn table() -> Vec<(String, Vec<Method>)> {
    let methods = |routes: Vec<(Method, Route)>| routes.into_iter().map(|(m, _)| m).collect();
    let root = root_resources()
        .into_iter()
        .map(|(path, routes)| (documented(path), methods(routes)));
    let api = api_resources()
        .into_iter()
        .map(|(path, routes)| (format!("{API_PREFIX}{}", documented(path)), methods(routes)));
    root.chain(api).collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, routes) in root_resources() {
        cfg.service(resource(path, routes));
    }
    let api = api_resources().into_iter().fold(
        web::scope(API_PREFIX)
            // Wraps the scope's routing, so a refused write reaches no
            // handler at all.
            .wrap(actix_web::middleware::from_fn(csrf::guard_unsafe_requests)),
        |scope, (path, routes)| scope.service(resource(path, routes)),
    );
    cfg.service(api.default_service(web::to(route_not_found)));
}

/// A resource answering exactly `routes`; any other method gets 405 with an
/// `Allow` header built from the same list, so the two cannot drift apart.
fn resource(path: &str, routes: Vec<(Method, Route)>) -> Resource {
    let allowed: Vec<Method> = routes.iter().map(|(method, _)| method.clone()).collect();
    let resource = routes
        .into_iter()
        .fold(web::resource(path), |resource, (method, route)| {
            resource.route(route.method(method))
        });
    resource.default_service(web::to(move || {
        let allowed = allowed.clone();
        async move { Err::<HttpResponse, _>(AppError::MethodNotAllowed(allowed)) }
    }))
}

/// The paths the `/api` scope matches: `/api` itself and below, not `/apix`.
pub fn is_api_path(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub async fn route_not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::RouteNotFound)
}

#[cfg(test)]
mod tests {
    use super::{
        API_PREFIX, REFRESH_ROUTE, RELAY_ROUTE, REVOKE_ROUTE, documented, is_api_path, refresh_path,
    };

    #[test]
    fn the_refresh_cookie_path_lies_under_the_api_prefix() {
        assert_eq!(refresh_path(), "/api/auth/refresh");
        assert!(is_api_path(&refresh_path()));
    }

    #[test]
    fn the_revoke_route_lies_under_the_refresh_cookie_path() {
        assert_eq!(REVOKE_ROUTE.strip_prefix(REFRESH_ROUTE), Some("/revoke"));
    }

    #[test]
    fn the_relay_route_starts_with_the_prefix_its_handler_strips() {
        let route = format!("{API_PREFIX}{RELAY_ROUTE}");
        assert!(route.starts_with(crate::relay::path::PREFIX), "{route}");
        assert_eq!(documented(&route), "/api/upstream/{name}/{tail}");
        assert_eq!(documented("/people/{id}"), "/people/{id}");
        assert_eq!(documented("/a/{x:\\d{2}}/{y}"), "/a/{x}/{y}");
        assert_eq!(documented("/a:b"), "/a:b");
    }

    #[test]
    fn the_api_prefix_ends_at_a_segment_boundary() {
        for path in ["/api", "/api/", "/api/people/1"] {
            assert!(is_api_path(path), "{path}");
        }
        for path in ["/", "/apix", "/app.js", "/health", "/API/people"] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
