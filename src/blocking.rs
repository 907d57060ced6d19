//! The one way code leaves the async workers: Diesel and bcrypt run here, on
//! actix's blocking thread pool. Generic over the error, so request code
//! (`AppError`) and the CLI (its own error) share it.

use actix_web::error::BlockingError;

pub async fn run<F, T, E>(f: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<BlockingError> + Send + 'static,
{
    actix_web::web::block(f).await?
}
