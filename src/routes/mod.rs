//! The route table: every path the gateway answers, in one place. What a
//! route requires of its caller is in its handler's signature: `AuthUser`
//! (a live session) or `AdminUser` (the role guard, src/auth/extractors.rs);
//! unsafe `/api` methods also pass the CSRF gate (src/auth/csrf.rs).

pub mod auth;
pub mod health;
pub mod people;

use actix_web::{HttpResponse, Resource, Route, http::Method, web};

use crate::{auth::csrf, errors::AppError};

pub const API_PREFIX: &str = "/api";
/// The refresh route, below [`API_PREFIX`]. The refresh cookie's Path is
/// derived from it ([`refresh_path`]), so the two cannot drift apart.
const REFRESH_ROUTE: &str = "/auth/refresh";

/// The full path the refresh cookie is scoped to.
pub fn refresh_path() -> String {
    format!("{API_PREFIX}{REFRESH_ROUTE}")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(resource("/health", [(M::GET, web::to(health::health))]))
        .service(resource("/ready", [(M::GET, web::to(health::ready))]))
        .service(
            web::scope(API_PREFIX)
                // Wraps the scope's routing, so a refused write reaches no
                // handler at all.
                .wrap(actix_web::middleware::from_fn(csrf::guard_unsafe_requests))
                .service(resource("/auth/signup", [(M::POST, web::to(auth::signup))]))
                .service(resource("/auth/login", [(M::POST, web::to(auth::login))]))
                .service(resource(REFRESH_ROUTE, [(M::POST, web::to(auth::refresh))]))
                // Under the refresh path, so the refresh cookie reaches it and a
                // browser can revoke after its access cookie is gone.
                .service(resource(
                    &format!("{REFRESH_ROUTE}/revoke"),
                    [(M::POST, web::to(auth::logout))],
                ))
                .service(resource("/auth/logout", [(M::POST, web::to(auth::logout))]))
                .service(resource("/auth/me", [(M::GET, web::to(auth::me))]))
                .service(resource(
                    "/people",
                    [
                        (M::GET, web::to(people::list)),
                        (M::POST, web::to(people::create)),
                    ],
                ))
                .service(resource(
                    "/people/{id}",
                    [
                        (M::GET, web::to(people::get)),
                        (M::PUT, web::to(people::update)),
                        // Admin only: `people::delete` takes an `AdminUser`.
                        (M::DELETE, web::to(people::delete)),
                    ],
                ))
                .default_service(web::to(route_not_found)),
        );
}

/// A resource answering exactly `routes`; any other method gets 405 with an
/// `Allow` header built from the same list, so the two cannot drift apart.
fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> Resource {
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
    use super::{is_api_path, refresh_path};

    #[test]
    fn the_refresh_cookie_path_lies_under_the_api_prefix() {
        assert_eq!(refresh_path(), "/api/auth/refresh");
        assert!(is_api_path(&refresh_path()));
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
