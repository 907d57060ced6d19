use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{db, errors::AppError, state::AppState};

/// Liveness: the process answers. Never touches the database.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "success": true,
        "message": "API is running",
        "timestamp": chrono::Utc::now().to_rfc3339(),
    }))
}

/// Readiness: the database answers a query within its own short deadline,
/// so a 1-second probe gets a 503 rather than a timeout. Also says whether
/// the session cache is in use (`live`) or bypassed while its listener
/// reconnects.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    // Any failure, not only a lost connection, means "not ready".
    db::probe(&state.db).await.map_err(|e| match e {
        AppError::Unavailable(_) => e,
        other => AppError::unavailable(other),
    })?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": "ok",
        "sessionCache": state.sessions.cache().status(),
    })))
}
