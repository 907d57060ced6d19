//! `spawn_app()`: the real application on a random port, against a fresh
//! database of the backend under test (a PostgreSQL database or an SQLite
//! file) that is created and migrated for the test and removed afterwards,
//! plus a client that keeps cookies like a browser.

use std::{
    cell::Cell,
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use bff_gateway::{
    config::{DatabaseTarget, Settings},
    db::DbConnection,
    startup::Application,
};
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

/// The backend of the test running on this thread (set by the harness).
pub fn backend() -> Backend {
    BACKEND.with(Cell::get)
}

pub fn set_backend(backend: Backend) {
    BACKEND.with(|b| b.set(backend));
}

/// Where the PostgreSQL test databases are created. Defaults to the local server.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Why the PostgreSQL half is skipped, if it is: the server is unreachable
/// and `TEST_REQUIRE_POSTGRES=1` (set by `.ci/run`) is not set. When it is
/// set, the tests run and fail, saying why.
pub fn postgres_skip_reason() -> Option<String> {
    let required = std::env::var("TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true");
    match PgConnection::establish(&maintenance_url()) {
        Ok(_) => None,
        Err(_) if required => None,
        Err(e) => Some(format!(
            "PostgreSQL is unreachable at {} ({}); start it, or point TEST_DATABASE_SERVER at one, and set TEST_REQUIRE_POSTGRES=1 to make this half mandatory",
            server_url(),
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

fn maintenance_url() -> String {
    format!("{}/postgres?connect_timeout=5", server_url())
}

/// config/test.env, as the application would read it.
pub fn test_env() -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.env");
    dotenvy::from_filename_iter(path)
        .expect("config/test.env exists")
        .map(|item| item.expect("config/test.env parses"))
        .collect()
}

pub struct TestApp {
    pub address: String,
    pub db_name: String,
    pub db_url: String,
    pub settings: Settings,
    pub client: reqwest::Client,
    jar: Mutex<HashMap<String, (String, String)>>,
    /// Shared with the peers; dropped with the last of them.
    _database: Arc<TestDatabase>,
}

#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Lower-cased attribute name → value (empty for flags).
    pub attributes: HashMap<String, String>,
}

impl SetCookie {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn max_age(&self) -> i64 {
        self.attr("max-age")
            .and_then(|v| v.parse().ok())
            .expect("cookie has a numeric Max-Age")
    }

    fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|p| p.split_once('='))
            .expect("cookie has name=value");
        let attributes = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), v.to_owned()),
                None => (p.to_ascii_lowercase(), String::new()),
            })
            .collect();
        SetCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes,
        }
    }
}

pub fn set_cookies(response: &Response) -> Vec<SetCookie> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| SetCookie::parse(v.to_str().expect("ascii cookie")))
        .collect()
}

/// The (access, refresh) tokens a login or refresh response set as cookies.
pub fn session_tokens(response: &Response) -> (String, String) {
    let cookies = set_cookies(response);
    (
        find_cookie(&cookies, "accessToken").value,
        find_cookie(&cookies, "refreshToken").value,
    )
}

pub fn find_cookie(cookies: &[SetCookie], name: &str) -> SetCookie {
    cookies
        .iter()
        .find(|c| c.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no Set-Cookie for {name} in {cookies:?}"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like [`spawn_app`] with some variables of config/test.env overridden.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_at(TestDatabase::create().await, overrides).await
}

/// Like [`spawn_app_with`] on a database the caller owns and removes (e.g.
/// a private cluster's, see `pg_cluster.rs`).
pub async fn spawn_app_on(database_url: &str, overrides: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase {
        name: String::new(),
        url: database_url.to_owned(),
        backend: None,
    };
    spawn_app_at(database, overrides).await
}

async fn spawn_app_at(database: TestDatabase, overrides: &[(&str, &str)]) -> TestApp {
    let settings = test_settings(&database.url, overrides);
    TestApp {
        address: start(&settings).await,
        db_name: database.name.clone(),
        db_url: database.url.clone(),
        settings,
        client: client(),
        jar: Mutex::new(HashMap::new()),
        _database: Arc::new(database),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// config/test.env for the database at `db_url`, with `overrides`.
fn test_settings(db_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars = test_env();
    vars.insert("APP_ENV".into(), "test".into());
    vars.insert("DATABASE_URL".into(), db_url.to_owned());
    for (k, v) in overrides {
        vars.insert((*k).into(), (*v).into());
    }
    Settings::from_vars(|k| vars.get(k).cloned()).expect("valid test settings")
}

/// Builds and starts the application on this thread's runtime; returns its
/// base address.
async fn start(settings: &Settings) -> String {
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

/// A database created for one test and removed (PostgreSQL: dropped with its
/// connections; SQLite: its directory deleted) when the value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// Whose database to remove on drop; `None`: the caller's.
    backend: Option<Backend>,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let name = format!("bff_test_{}", uuid::Uuid::new_v4().simple());
        let backend = backend();
        let url = match backend {
            Backend::Postgres => {
                let db_name = name.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = PgConnection::establish(&maintenance_url())
                        .expect("PostgreSQL is reachable (set TEST_DATABASE_SERVER)");
                    diesel::sql_query(format!("CREATE DATABASE \"{db_name}\""))
                        .execute(&mut conn)
                        .expect("create test database");
                })
                .await
                .expect("create database task");
                format!("{}/{name}", server_url())
            }
            // The application creates the file (and its directory) itself.
            Backend::Sqlite => format!(
                "sqlite://{}",
                sqlite_dir(&name).join("bff.sqlite3").display()
            ),
        };
        TestDatabase {
            name,
            url,
            backend: Some(backend),
        }
    }
}

fn sqlite_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(name)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        match self.backend {
            None => {}
            Some(Backend::Sqlite) => {
                let _ = std::fs::remove_dir_all(sqlite_dir(&name));
            }
            Some(Backend::Postgres) => {
                // A plain thread: Drop may run inside the async runtime.
                let _ = std::thread::spawn(move || {
                    if let Ok(mut conn) = PgConnection::establish(&maintenance_url()) {
                        let _ = diesel::sql_query(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn);
                    }
                })
                .join();
            }
        }
    }
}

impl TestApp {
    /// Another instance of the application on the same database (as behind
    /// a load balancer); returns its base address.
    pub async fn spawn_instance(&self) -> String {
        start(&self.settings).await
    }

    /// A second gateway instance on the same database, with its own session
    /// cache, listener, client and (empty) cookie jar.
    pub async fn spawn_peer(&self) -> TestApp {
        TestApp {
            address: start(&self.settings).await,
            db_name: self.db_name.clone(),
            db_url: self.db_url.clone(),
            settings: self.settings.clone(),
            client: client(),
            jar: Mutex::new(HashMap::new()),
            _database: Arc::clone(&self._database),
        }
    }

    /// What the readiness probe says of the session cache: `live`,
    /// `bypassed` or `off`.
    pub async fn session_cache_status(&self) -> String {
        let body: Value = self
            .client
            .get(self.url("/ready"))
            .send()
            .await
            .expect("readiness")
            .json()
            .await
            .expect("json");
        body["sessionCache"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits (at most 5 s) until this instance's session cache is live.
    pub async fn cache_is_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.session_cache_status().await != "live" {
            assert!(
                Instant::now() < deadline,
                "the session cache did not go live within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The application restarted on this test's database with other
    /// settings (config/test.env plus `overrides`); returns its base
    /// address. The first server keeps running but is no longer asked.
    pub async fn restart_with(&self, overrides: &[(&str, &str)]) -> String {
        start(&test_settings(&self.db_url, overrides)).await
    }

    /// `n` refreshes at once with `token`, spread round-robin over the
    /// instances at `bases`. All must succeed with one and the same successor
    /// refresh token, which is returned.
    pub async fn concurrent_refreshes_agree(
        &self,
        bases: &[&str],
        token: &str,
        n: usize,
    ) -> String {
        let attempts = (0..n).map(|i| {
            self.client
                .post(format!("{}/api/auth/refresh", bases[i % bases.len()]))
                .header(header::COOKIE, format!("refreshToken={token}"))
                .send()
        });
        let responses: Vec<Response> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(|r| r.expect("send"))
            .collect();
        let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let successors: std::collections::BTreeSet<String> = responses
            .iter()
            .map(|r| find_cookie(&set_cookies(r), "refreshToken").value)
            .collect();
        assert_eq!(successors.len(), 1, "one successor: {successors:?}");
        successors.into_iter().next().expect("one successor")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A direct connection to this test's database, to check what was stored.
    pub fn db(&self) -> DbConnection {
        let target = DatabaseTarget::parse(&self.db_url).expect("test database URL");
        bff_gateway::db::establish(&target).expect("connect to the test database")
    }

    /// The cookies a browser would send to `path` (RFC 6265 path-match).
    pub fn cookie_header(&self, path: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap_or_else(PoisonError::into_inner);
        let pairs: Vec<String> = jar
            .iter()
            .filter(|(_, (_, cookie_path))| {
                path == cookie_path
                    || (path.starts_with(cookie_path.as_str())
                        && (cookie_path.ends_with('/')
                            || path[cookie_path.len()..].starts_with('/')))
            })
            .map(|(name, (value, _))| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    pub fn jar_value(&self, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap_or_else(PoisonError::into_inner);
        jar.get(name).map(|(v, _)| v.clone())
    }

    pub fn set_jar(&self, name: &str, value: &str, path: &str) {
        let mut jar = self.jar.lock().unwrap_or_else(PoisonError::into_inner);
        jar.insert(name.to_owned(), (value.to_owned(), path.to_owned()));
    }

    pub fn remove_from_jar(&self, name: &str) {
        let mut jar = self.jar.lock().unwrap_or_else(PoisonError::into_inner);
        jar.remove(name);
    }

    fn store(&self, response: &Response) {
        let mut jar = self.jar.lock().unwrap_or_else(PoisonError::into_inner);
        for cookie in set_cookies(response) {
            if cookie.attr("max-age") == Some("0") {
                jar.remove(&cookie.name);
            } else {
                let path = cookie.attr("path").unwrap_or("/").to_owned();
                jar.insert(cookie.name, (cookie.value, path));
            }
        }
    }

    /// A request as the browser would send it: with the jar's cookies for
    /// the path, keeping whatever cookies the response sets.
    pub async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> Response {
        let request = match self.cookie_header(path) {
            Some(cookies) => request.header(header::COOKIE, cookies),
            None => request,
        };
        let response = request.send().await.expect("request is sent");
        self.store(&response);
        response
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request, path).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.request(Method::POST, path, None).await
    }

    /// A refresh as a browser holding `token` in its refresh cookie.
    pub async fn refresh_with(&self, token: &str) -> Response {
        self.set_jar("refreshToken", token, "/api/auth/refresh");
        self.post_empty("/api/auth/refresh").await
    }

    pub async fn signup(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/signup",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            json!({ "username": email, "password": password }),
        )
        .await
    }

    /// Signs up and logs in `email` with [`PASSWORD`]; returns the user id.
    pub async fn logged_in_user(&self, email: &str) -> i64 {
        assert_eq!(self.signup(email, PASSWORD).await.status(), 201);
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["id"].as_i64().expect("id")
    }

    /// Signs up `email`, promotes it with the repository the CLI uses, logs in.
    pub async fn logged_in_admin(&self, email: &str) -> i64 {
        assert_eq!(self.signup(email, PASSWORD).await.status(), 201);
        let mut conn = self.db();
        bff_gateway::db::users::set_role(&mut conn, email, "admin", chrono::Utc::now().naive_utc())
            .expect("promote");
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["role"], "admin");
        body["id"].as_i64().expect("id")
    }

    pub async fn create_person(&self, first: &str, last: &str) -> i64 {
        let response = self
            .post(
                "/api/people",
                json!({ "firstName": first, "lastName": last }),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["id"].as_i64().expect("id")
    }

    pub fn count(&self, table: &str) -> i64 {
        use bff_gateway::db::schema::{people, users};
        use diesel::prelude::*;
        let mut conn = self.db();
        match table {
            "users" => users::table.count().get_result(&mut conn),
            "people" => people::table.count().get_result(&mut conn),
            other => panic!("no table {other}"),
        }
        .expect("count")
    }

    /// (first_name, last_name) as stored in a people row.
    pub fn stored_person(&self, id: i64) -> (String, String) {
        use bff_gateway::db::schema::people::dsl as p;
        use diesel::prelude::*;
        let id = i32::try_from(id).expect("person id fits i32");
        p::people
            .find(id)
            .select((p::first_name, p::last_name))
            .first(&mut self.db())
            .expect("person row")
    }

    /// The stored password hash of a user row.
    pub fn stored_password_hash(&self, email: &str) -> String {
        use bff_gateway::db::schema::users::dsl as u;
        use diesel::prelude::*;
        u::users
            .filter(u::email.eq(email))
            .select(u::password_hash)
            .first(&mut self.db())
            .expect("user row")
    }

    /// (refresh_token_hash, refresh_token_expires_at) of a user row.
    pub fn stored_session(&self, email: &str) -> (Option<String>, Option<chrono::NaiveDateTime>) {
        use bff_gateway::db::schema::users::dsl as u;
        use diesel::prelude::*;
        let mut conn = self.db();
        u::users
            .filter(u::email.eq(email))
            .select((u::refresh_token_hash, u::refresh_token_expires_at))
            .first(&mut conn)
            .expect("user row")
    }
}

/// README: a change made through any instance or process is seen by every
/// instance's session cache within this.
pub const REVOCATION_BOUND: Duration = Duration::from_millis(100);

/// Polls `probe` until it answers `want`, for at most a second; returns
/// when (after `since`) the first probe that answered `want` was sent, so
/// the probe's own response time under load is not counted.
pub async fn until_status<F, Fut>(since: Instant, want: StatusCode, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    loop {
        let sent = since.elapsed();
        let status = probe().await;
        if status == want {
            return sent;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "still {status} a second after the change (wanted {want})"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What the server stores for a refresh token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Asserts the error envelope and returns the body.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "error bodies are JSON"
    );
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["statusCode"], status, "statusCode in {body}");
    assert_eq!(body["code"], code, "code in {body}");
    assert!(body["message"].is_string(), "message in {body}");
    assert!(body["errors"].is_array(), "errors in {body}");
    body
}

pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The headers every response carries, whatever its status or origin in the
/// stack: no framing, sniffing, referrer or server banner; the API CSP (the
/// demo page keeps its own); no caching of anything under /api; and the
/// request's id.
pub fn assert_security_headers(response: &Response) {
    let what = format!("{} {}", response.status(), response.url().path());
    let headers = response.headers();
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(get("x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(get("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(get("referrer-policy"), Some("no-referrer"), "{what}");
    let path = response.url().path();
    let under_api = path == "/api" || path.starts_with("/api/");
    // Under /api even HTML (a relayed upstream's) gets the API policy.
    let is_page = !under_api && get("content-type").is_some_and(|ct| ct.starts_with("text/html"));
    let csp = get("content-security-policy").unwrap_or_default();
    if is_page {
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    } else {
        assert_eq!(csp, API_CSP, "{what}");
    }
    if under_api {
        assert_eq!(get("cache-control"), Some("no-store"), "{what}");
    }
    assert_eq!(get("server"), None, "{what}");
    assert!(
        get("x-request-id").is_some_and(|id| !id.is_empty()),
        "{what}"
    );
}
