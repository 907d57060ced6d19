//! The two session cookies. Clearing sends exactly the attributes used to
//! set them, with Max-Age=0, or browsers keep the original.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
};

use crate::config::CookieSettings;

/// The refresh cookie is only ever sent to this path (and below it).
pub const REFRESH_PATH: &str = "/api/auth/refresh";

#[derive(Debug, Clone)]
pub struct SessionCookies {
    settings: CookieSettings,
    access_max_age: i64,
}

impl SessionCookies {
    pub fn new(settings: &CookieSettings, access_ttl: std::time::Duration) -> Self {
        SessionCookies {
            settings: settings.clone(),
            access_max_age: access_ttl.as_secs() as i64,
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
                REFRESH_PATH,
                refresh_max_age,
            ),
        ]
    }

    pub fn cleared(&self) -> [Cookie<'static>; 2] {
        [
            self.build(self.access_name(), "", "/", 0),
            self.build(self.refresh_name(), "", REFRESH_PATH, 0),
        ]
    }

    pub fn access_token(&self, req: &HttpRequest) -> Option<String> {
        non_empty_cookie(req, self.access_name())
    }

    pub fn refresh_token(&self, req: &HttpRequest) -> Option<String> {
        non_empty_cookie(req, self.refresh_name())
    }
}

fn non_empty_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}
