//! The OpenAPI 3.1 document of the route table, served at
//! `GET /api/openapi.json`. Every operation comes from the `#[utoipa::path]`
//! on its handler and every schema from the request and response types the
//! handlers really use; `tests/api/openapi.rs` checks that the document and
//! the route table (`super::table`) list the same routes and methods.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{auth, health, jwks, people};

#[derive(OpenApi)]
#[openapi(
    info(title = "bff-gateway", description = "Cookie-session backend-for-frontend: sessions, a role-guarded people API, and a token relay to configured upstream APIs."),
    paths(
        health::health,
        health::ready,
        jwks::jwks,
        auth::signup,
        auth::login,
        auth::refresh,
        auth::revoke,
        auth::logout,
        auth::me,
        people::list,
        people::create,
        people::get,
        people::update,
        people::delete,
        super::upstream::relay,
        document,
    ),
    modifiers(&SessionSchemes),
)]
pub struct ApiDoc;

/// How a caller proves its session (the cookie names are the defaults of
/// `ACCESS_COOKIE_NAME` and `REFRESH_COOKIE_NAME`); also drops the empty
/// license.
struct SessionSchemes;

impl Modify for SessionSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // The crate has no license to name; utoipa would send an empty one.
        openapi.info.license = None;
        let components = openapi.components.get_or_insert_with(Default::default);
        let cookie = |name: &str| SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(name)));
        components.add_security_scheme("accessCookie", cookie("accessToken"));
        components.add_security_scheme("refreshCookie", cookie("refreshToken"));
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn document() -> HttpResponse {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    HttpResponse::Ok().json(&*DOCUMENT)
}
