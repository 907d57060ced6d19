//! How a session's tokens reach the client: httpOnly cookies (browsers, the
//! default) or the JSON body (non-browser clients, opt-in on both sides).

use actix_web::{
    HttpResponse,
    cookie::Cookie,
    http::header::{self, HeaderValue},
};
use serde::{Deserialize, Serialize};

use super::{cookies::SessionCookies, token::RefreshToken};
use crate::accounts::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenDelivery {
    /// httpOnly cookies; the browser default. Tokens never reach the body.
    #[default]
    Cookie,
    /// Tokens in the JSON body for non-browser clients, only when
    /// `TOKEN_BODY_DELIVERY=true` and the request asks for it.
    Body,
}

/// The account as login, refresh and sign-up responses show it. No other
/// fields, which is what tells it from a [`TokenBody`] in the document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserView {
    pub id: i32,
    pub email: String,
    pub role: Role,
}

/// A session's freshly issued tokens.
pub struct Issued<'a> {
    pub user: UserView,
    pub access_token: String,
    pub access_expires_in: u64,
    pub refresh_token: &'a RefreshToken,
    /// Seconds left of the session's stored (absolute) expiry.
    pub refresh_max_age: i64,
}

/// Login and refresh in the non-browser mode: the tokens in the body, no
/// cookies.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenBody<'a> {
    id: i32,
    email: &'a str,
    role: Role,
    /// Always `Bearer`.
    token_type: &'static str,
    access_token: &'a str,
    /// Seconds until the access token expires.
    expires_in: u64,
    refresh_token: &'a str,
    /// Seconds left of the session's absolute lifetime.
    refresh_expires_in: i64,
}

/// The success body of login and refresh, by delivery.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IssuedBody<'a> {
    Cookie(UserView),
    Body(TokenBody<'a>),
}

/// The success response of login and refresh.
pub fn issued_response(
    issued: Issued<'_>,
    delivery: TokenDelivery,
    cookies: &SessionCookies,
) -> HttpResponse {
    let refresh = issued.refresh_token.expose();
    match delivery {
        TokenDelivery::Cookie => {
            let mut response = HttpResponse::Ok().json(IssuedBody::Cookie(issued.user));
            add_cookies(
                &mut response,
                cookies.issued(&issued.access_token, &refresh, issued.refresh_max_age),
            );
            response
        }
        TokenDelivery::Body => HttpResponse::Ok().json(IssuedBody::Body(TokenBody {
            id: issued.user.id,
            email: &issued.user.email,
            role: issued.user.role,
            token_type: "Bearer",
            access_token: &issued.access_token,
            expires_in: issued.access_expires_in,
            refresh_token: &refresh,
            refresh_expires_in: issued.refresh_max_age.max(0),
        })),
    }
}

/// Clears both cookies on `response`.
pub fn clear_cookies(response: &mut HttpResponse, cookies: &SessionCookies) {
    add_cookies(response, cookies.cleared());
}

/// Logout's response: both cookies cleared, and `Clear-Site-Data`, which
/// also drops cookies a misbehaving client or an old deployment may have set
/// under other names or paths that the Max-Age=0 pair cannot reach.
pub fn ended_response(mut response: HttpResponse, cookies: &SessionCookies) -> HttpResponse {
    clear_cookies(&mut response, cookies);
    response.headers_mut().insert(
        header::CLEAR_SITE_DATA,
        HeaderValue::from_static("\"cookies\""),
    );
    response
}

fn add_cookies(response: &mut HttpResponse, cookies: [Cookie<'static>; 2]) {
    for cookie in cookies {
        if let Err(e) = response.add_cookie(&cookie) {
            log::error!("cannot set cookie header: {e}");
        }
    }
}
