use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::Unavailable;
use crate::{db, errors::AppError, state::AppState};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `true`.
    success: bool,
    message: &'static str,
    /// RFC 3339.
    #[schema(format = DateTime)]
    timestamp: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Always `ready`.
    status: &'static str,
    /// Always `ok`.
    database: &'static str,
    /// `live`, `bypassed` while the cache's listener reconnects (every
    /// check reads the database), or `off` when disabled.
    #[schema(pattern = "^(live|bypassed|off)$")]
    session_cache: &'static str,
}

/// Liveness: the process answers. Never touches the database.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses((status = 200, description = "The process answers", body = Health))
)]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        success: true,
        message: "API is running",
        timestamp: chrono::Utc::now().to_rfc3339(),
    })
}

/// Readiness: the database answers a query within its own short deadline,
/// so a 1-second probe gets a 503 rather than a timeout.
#[utoipa::path(
    get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = Ready),
        Unavailable,
    )
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    // Any failure, not only a lost connection, means "not ready".
    db::probe(&state.db).await.map_err(|e| match e {
        AppError::Unavailable(_) => e,
        other => AppError::unavailable(other),
    })?;
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        database: "ok",
        session_cache: state.sessions.cache().status(),
    }))
}
