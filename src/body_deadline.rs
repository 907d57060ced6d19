//! A deadline for reading the request body. actix times out a slow request
//! *head* (`HTTP_HEAD_TIMEOUT`) but waits for a body forever: a client that
//! announces `Content-Length: 500` and sends nothing holds a connection (and
//! a file descriptor) for as long as it likes. Here the body must have
//! arrived `HTTP_BODY_TIMEOUT` after its head; otherwise the request is
//! answered 408 `request_timeout`, and the connection closes (actix closes
//! any connection whose request body was left unread).

use std::{
    cell::Cell,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    Error, HttpMessage, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::{ConnectionType, header},
    middleware::Next,
    rt::time::{Sleep, sleep},
    web::{Bytes, Data},
};
use futures_core::Stream;

use crate::errors::AppError;

/// `HTTP_BODY_TIMEOUT`, as app data for [`body_deadline`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Wraps the body of every request that has one in the deadline; answers
/// 408 when it passed, whatever the handler made of the cut-off body.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let timeout = req.app_data::<Data<BodyTimeout>>().map(|t| t.0);
    let expired = Rc::new(Cell::new(false));
    if let Some(timeout) = timeout.filter(|_| announces_body(&req)) {
        let inner = req.take_payload();
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            inner,
            timer: Box::pin(sleep(timeout)),
            expired: Rc::clone(&expired),
        });
        req.set_payload(Payload::from(stream));
    }
    let res = next.call(req).await?;
    if !expired.get() {
        return Ok(res.map_into_left_body());
    }
    let (req, _) = res.into_parts();
    let mut response = AppError::RequestTimeout.error_response();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

/// HTTP/1.1 framing: a body needs `Content-Length` or `Transfer-Encoding`.
fn announces_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

struct Deadline {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body deadline passed",
            )))));
        }
        Poll::Pending
    }
}
