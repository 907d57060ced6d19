//! Where a session's tokens travel: the two cookies, and the
//! `Authorization: Bearer` header of non-browser clients. Clearing sends
//! exactly the attributes used to set them, with Max-Age=0, or browsers
//! keep the original.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::header,
};

use crate::{config::CookieSettings, errors::AuthFailure};

#[derive(Debug, Clone)]
pub struct SessionCookies {
    settings: CookieSettings,
    access_max_age: i64,
    /// The refresh route's path, given by the route table: the refresh
    /// cookie is only ever sent there (and below it).
    refresh_path: String,
}

impl SessionCookies {
    pub fn new(
        settings: &CookieSettings,
        access_ttl: std::time::Duration,
        refresh_path: String,
    ) -> Self {
        SessionCookies {
            settings: settings.clone(),
            access_max_age: i64::try_from(access_ttl.as_secs()).unwrap_or(i64::MAX),
            refresh_path,
        }
    }

    pub fn access_name(&self) -> &str {
        &self.settings.access_name
    }

    pub fn refresh_name(&self) -> &str {
        &self.settings.refresh_name
    }

    fn build(&self, name: &str, value: &str, path: &str, max_age: i64) -> Cookie<'static> {
        Cookie::build(name.to_owned(), value.to_owned())
            .path(path.to_owned())
            .secure(self.settings.secure)
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::seconds(max_age.max(0)))
            .finish()
    }

    /// Both cookies for a session: the access token for the access TTL, the
    /// refresh token for what is left of the stored (absolute) expiry.
    pub fn issued(
        &self,
        access_token: &str,
        refresh_token: &str,
        refresh_max_age: i64,
    ) -> [Cookie<'static>; 2] {
        [
            self.build(self.access_name(), access_token, "/", self.access_max_age),
            self.build(
                self.refresh_name(),
                refresh_token,
                &self.refresh_path,
                refresh_max_age,
            ),
        ]
    }

    pub fn cleared(&self) -> [Cookie<'static>; 2] {
        [
            self.build(self.access_name(), "", "/", 0),
            self.build(self.refresh_name(), "", &self.refresh_path, 0),
        ]
    }

    /// The access cookie, if exactly one was sent. Several values under the
    /// name are refused rather than picking one: a sibling subdomain can
    /// plant a cookie (`Domain=example.com; Path=/api`) that the browser
    /// sends first, which would swap the user into the attacker's session.
    pub fn access_token(&self, req: &HttpRequest) -> Result<Option<String>, AuthFailure> {
        single(cookie_values(req, self.access_name()))
    }

    /// The refresh cookie, if exactly one was sent (see [`Self::access_token`]).
    pub fn refresh_token(&self, req: &HttpRequest) -> Result<Option<String>, AuthFailure> {
        single(cookie_values(req, self.refresh_name()))
    }

    /// Every refresh token the request carries, for logout: a planted
    /// duplicate must not shadow the user's own session.
    pub fn all_refresh_tokens(&self, req: &HttpRequest) -> Vec<String> {
        cookie_values(req, self.refresh_name())
    }

    /// Every access token the request carries (cookies and Bearer), for
    /// logout.
    pub fn all_access_tokens(&self, req: &HttpRequest) -> Vec<String> {
        let mut tokens = cookie_values(req, self.access_name());
        tokens.extend(bearer_token(req).ok().flatten());
        tokens
    }

    /// The access token: the cookie, or failing that a Bearer header.
    pub fn presented_access_token(&self, req: &HttpRequest) -> Result<Option<String>, AuthFailure> {
        match self.access_token(req)? {
            Some(token) => Ok(Some(token)),
            None => bearer_token(req),
        }
    }

    /// A request that authenticates with `Authorization: Bearer` alone.
    /// Browsers attach cookies by themselves but never this header, and a
    /// cross-origin page can only add it after a preflight. A request that
    /// also carries a session cookie (even several) counts as
    /// cookie-authenticated: the access cookie wins over the header, and
    /// refresh falls back to the refresh cookie.
    pub fn is_bearer_only(&self, req: &HttpRequest) -> bool {
        matches!(bearer_token(req), Ok(Some(_)))
            && cookie_values(req, self.access_name()).is_empty()
            && cookie_values(req, self.refresh_name()).is_empty()
    }
}

/// The token of an `Authorization: Bearer` header, if there is one.
fn bearer_token(req: &HttpRequest) -> Result<Option<String>, AuthFailure> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthFailure::TokenInvalid)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                Err(AuthFailure::TokenInvalid)
            } else {
                Ok(Some(token.to_owned()))
            }
        }
        // Another scheme (e.g. Basic) carries no bearer token.
        _ => Ok(None),
    }
}

/// The non-empty values sent under `name`, in the order received.
fn cookie_values(req: &HttpRequest, name: &str) -> Vec<String> {
    req.cookies()
        .map(|cookies| {
            cookies
                .iter()
                .filter(|c| c.name() == name && !c.value().is_empty())
                .map(|c| c.value().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn single(mut values: Vec<String>) -> Result<Option<String>, AuthFailure> {
    match values.len() {
        0 | 1 => Ok(values.pop()),
        _ => Err(AuthFailure::DuplicateCookie),
    }
}
