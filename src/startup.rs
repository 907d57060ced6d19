//! Builds the application once, for `main` and for the tests alike.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::{
    App, HttpResponse, HttpServer,
    body::MessageBody,
    dev::ServiceRequest,
    dev::{Server, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderMap, HeaderValue},
    },
    middleware::{self, ErrorHandlerResponse, ErrorHandlers, Logger, Next},
    web,
};

use crate::{
    auth::{
        SuccessorKey, cookies::SessionCookies, csrf::TrustedOrigins, jwt::JwtKeys,
        password::PasswordHasher,
    },
    client_ip::TrustedProxies,
    config::{Environment, Settings},
    db::{self, DbPool, DbSetupError},
    dev_secret::{self, DevSecretError},
    errors::{AppError, ErrorBody},
    routes,
    throttle::Throttle,
};

/// State shared by every worker: read-only, except the throttle's counters.
pub struct AppState {
    pub pool: DbPool,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub cookies: SessionCookies,
    pub origins: TrustedOrigins,
    pub refresh_ttl: chrono::TimeDelta,
    /// How long the immediately previous refresh token still succeeds.
    pub reuse_window: chrono::TimeDelta,
    pub successor_key: SuccessorKey,
    pub token_body_delivery: bool,
    pub trusted_proxies: TrustedProxies,
    pub throttle: Throttle,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error(transparent)]
    DevSecret(#[from] DevSecretError),
    #[error("cannot bind {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("start-up failed: {0}")]
    Other(String),
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        if settings.environment == Environment::Development
            && settings.session.access_token_secret_generated
        {
            let file = settings.database.development_secret_file();
            settings.session.access_token_secret = dev_secret::load_or_create(&file)?;
            log::warn!(
                "ACCESS_TOKEN_SECRET is not set: using the development secret in {} (development only; production refuses to start without ACCESS_TOKEN_SECRET)",
                file.display()
            );
        }
        let state = build_state(&settings).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind((settings.server.host, settings.server.port)).map_err(|source| {
                StartupError::Bind {
                    address: address.clone(),
                    source,
                }
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?
            .port();
        let server = run(listener, state, &settings)?;
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Connects and migrates the database and prepares keys; the blocking parts
/// run on the blocking pool.
pub async fn build_state(settings: &Settings) -> Result<web::Data<AppState>, StartupError> {
    let database = settings.database.clone();
    let password_settings = settings.passwords.clone();
    let (pool, passwords) = web::block(move || -> Result<_, StartupError> {
        let pool = db::connect_and_migrate(&database)?;
        let passwords = PasswordHasher::new(&password_settings)
            .map_err(|e| StartupError::Other(e.to_string()))?;
        Ok((pool, passwords))
    })
    .await
    .map_err(|e| StartupError::Other(e.to_string()))??;
    let refresh_ttl = chrono::TimeDelta::from_std(settings.session.refresh_ttl)
        .map_err(|e| StartupError::Other(format!("REFRESH_TOKEN_TTL: {e}")))?;
    let reuse_window = chrono::TimeDelta::from_std(settings.session.refresh_reuse_window)
        .map_err(|e| StartupError::Other(format!("REFRESH_REUSE_WINDOW: {e}")))?;
    let successor_key = SuccessorKey::derive(settings.session.access_token_secret.expose())
        .map_err(|e| StartupError::Other(e.to_string()))?;
    Ok(web::Data::new(AppState {
        pool,
        jwt: JwtKeys::new(&settings.session),
        passwords,
        cookies: SessionCookies::new(&settings.cookies, settings.session.access_ttl),
        origins: TrustedOrigins::new(&settings.cors.allowed_origins),
        refresh_ttl,
        reuse_window,
        successor_key,
        token_body_delivery: settings.session.token_body_delivery,
        trusted_proxies: settings.server.trusted_proxies.clone(),
        throttle: Throttle::new(&settings.throttle),
    }))
}

fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    settings: &Settings,
) -> Result<Server, StartupError> {
    let origins = settings.cors.allowed_origins.clone();
    let json_limit = settings.server.json_limit;
    let static_dir = settings.static_files.dir.clone();
    let serve_static = std::path::Path::new(&static_dir).is_dir();
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(json_limit)
                    .error_handler(|err, _| AppError::from_json_error(&err).into()),
            )
            .app_data(web::PayloadConfig::new(json_limit))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, _| AppError::from_query_error(&err).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, _| AppError::from_path_error(&err).into()),
            )
            .wrap(cors(&origins))
            .wrap(middleware::from_fn(response_headers))
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(request_logger())
            .configure(routes::configure);
        let app = if serve_static {
            app.service(
                actix_files::Files::new("/", &static_dir)
                    .index_file("index.html")
                    .default_handler(web::to(routes::route_not_found)),
            )
        } else {
            app
        };
        app.default_service(web::to(routes::route_not_found))
    })
    .workers(settings.server.workers)
    .listen(listener)
    .map_err(|e| StartupError::Other(e.to_string()))?
    .run();
    Ok(server)
}

/// Exact allowlist with credentials. Unlisted origins get no
/// `Access-Control-Allow-*` headers, so browsers cannot read the response.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        // A cross-origin SPA needs it to know how long a 429 lasts.
        .expose_headers([header::RETRY_AFTER])
        .supports_credentials()
        .max_age(600)
}

/// The demo page may load only its own script and style; API responses may
/// load nothing. Neither may be framed.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Final touches on every response, errors included (it wraps CORS, and the
/// JSON error envelope wraps it).
async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let under_api = routes::is_api_path(req.path());
    match next.call(req).await {
        Ok(mut res) => {
            secure_headers(res.headers_mut(), under_api);
            Ok(res)
        }
        // An error that escapes the inner services is rendered by the server
        // after every middleware; the mapper still gives it the headers.
        Err(mut err) => {
            err.add_response_mapper(move |mut res| {
                secure_headers(res.headers_mut(), under_api);
                res
            });
            Err(err)
        }
    }
}

fn secure_headers(headers: &mut HeaderMap, under_api: bool) {
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    // actix-cors adds `Access-Control-Allow-Credentials` and `-Expose-Headers`
    // to every response; a response that allows no origin carries no CORS
    // headers at all.
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    let policy = if is_html { PAGE_CSP } else { API_CSP };
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // For browsers that predate CSP frame-ancestors.
        (header::X_FRAME_OPTIONS, "DENY"),
        // URLs carry ids; no other site learns them from a link or a fetch.
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Here rather than on the /api scope, so that responses made outside the
    // scope's routing (CORS preflights, framework errors) are covered too:
    // everything under /api is per-user or volatile.
    if under_api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // Nothing in the stack sets it today; a layer added later must not
    // announce its name and version either.
    headers.remove(header::SERVER);
}

/// Method, path (never the query string), status and latency. No headers:
/// cookies and Authorization never reach the log.
fn request_logger() -> Logger {
    Logger::new("%{METHOD}xi %{PATH}xi %s %Dms")
        .custom_request_replace("METHOD", |req| req.method().to_string())
        .custom_request_replace("PATH", |req| req.path().to_owned())
}

/// Error responses produced outside our handlers (the framework's 404/405,
/// payload or CORS errors) get the same JSON envelope as ours.
fn json_error_body<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, message) = match AppError::for_status(status) {
        Some(err) => err.code_and_message(),
        None if status == StatusCode::FORBIDDEN => ("forbidden", "Forbidden"),
        None => ("request_failed", "Request failed"),
    };
    let (req, old) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    let body = builder
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .json(ErrorBody {
            status_code: status.as_u16(),
            code,
            message,
            errors: &[],
        });
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, body).map_into_right_body(),
    ))
}
