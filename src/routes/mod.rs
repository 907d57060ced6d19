//! The route table: every path the gateway answers, in one place.

pub mod auth;
pub mod health;
pub mod people;

use actix_web::{
    HttpResponse, Resource,
    http::header::{self, HeaderValue},
    middleware::DefaultHeaders,
    web,
};

use crate::errors::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(health::health)))
        .service(resource("/ready").route(web::get().to(health::ready)))
        .service(
            web::scope("/api")
                // Everything under /api is per-user or volatile: never cache it.
                .wrap(
                    DefaultHeaders::new()
                        .add((header::CACHE_CONTROL, HeaderValue::from_static("no-store"))),
                )
                .service(resource("/auth/signup").route(web::post().to(auth::signup)))
                .service(resource("/auth/login").route(web::post().to(auth::login)))
                .service(resource("/auth/refresh").route(web::post().to(auth::refresh)))
                // Under the refresh path, so the refresh cookie reaches it and a
                // browser can revoke after its access cookie is gone.
                .service(resource("/auth/refresh/revoke").route(web::post().to(auth::logout)))
                .service(resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(resource("/auth/me").route(web::get().to(auth::me)))
                .service(
                    resource("/people")
                        .route(web::get().to(people::list))
                        .route(web::post().to(people::create)),
                )
                .service(
                    resource("/people/{id}")
                        .route(web::get().to(people::get))
                        .route(web::put().to(people::update))
                        .route(web::delete().to(people::delete)),
                )
                .default_service(web::to(route_not_found)),
        );
}

fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub async fn route_not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::RouteNotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, AppError> {
    Err(AppError::MethodNotAllowed)
}
