//! The one way request code leaves the async workers: Diesel and bcrypt run
//! here, on actix's blocking thread pool.

use crate::errors::AppError;

pub async fn run<F, T>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f)
        .await
        .map_err(|_| AppError::Internal("blocking task was cancelled".into()))?
}
