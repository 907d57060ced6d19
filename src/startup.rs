//! Builds the application once, for `main` and for the tests alike: the
//! shared state, then the server with its middleware and routes.

use std::{net::TcpListener, sync::Arc};

use actix_web::{
    App, HttpServer,
    dev::Server,
    middleware::{self, ErrorHandlers},
    web,
};

use crate::{
    accounts::{Accounts, ClientSlots, PasswordError, PasswordHasher},
    body_deadline::{BodyTimeout, body_deadline},
    config::{Environment, Settings},
    db::{self, DbSetupError},
    dev_secret::{self, DevSecretError},
    errors::AppError,
    metrics,
    middleware::{cors, json_error_body, request_context, response_headers},
    origins::TrustedOrigins,
    relay::client::{self as relay_client, RelayClients},
    relay::token::{RelayKeyError, RelayKeys},
    routes,
    session::{
        SessionSetupError, Sessions,
        cache::SessionCache,
        listener::{self, Listener},
    },
    state::AppState,
    throttle::Throttle,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error(transparent)]
    DevSecret(#[from] DevSecretError),
    #[error("cannot prepare the relay signing key")]
    RelayKeys(#[from] RelayKeyError),
    #[error("cannot prepare password hashing")]
    Passwords(#[from] PasswordError),
    #[error("cannot prepare sessions")]
    Sessions(#[from] SessionSetupError),
    #[error("cannot start the session cache listener")]
    Listener(#[source] std::io::Error),
    #[error("cannot bind {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the metrics recorder")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    #[error("cannot start the server")]
    Server(#[source] std::io::Error),
    #[error("cannot prepare TLS for the upstreams")]
    Tls(#[source] rustls::Error),
    #[error("start-up work was cancelled")]
    Blocking(#[from] actix_web::error::BlockingError),
    #[error("the database did not finish start-up (connect and migrate) within {0:?}")]
    DatabaseHung(std::time::Duration),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The `METRICS_ADDR` listener, when configured.
    metrics: Option<(u16, Server)>,
    /// Stopped with the server, so no reconnect outlives it.
    listener: Option<Listener>,
}

/// Stops a running [`Application`] (see `main`'s signal handling).
pub use actix_web::dev::ServerHandle;

impl Application {
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        // Development only: a secret that survives restarts, so sessions do.
        // Config never writes files; start-up does, here.
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
        if settings.environment == Environment::Development
            && settings.relay_keys.signing_key_generated
        {
            let file = settings.database.development_relay_key_file();
            settings.relay_keys.signing_key = Some(dev_secret::load_or_create_relay_key(&file)?);
            log::warn!(
                "RELAY_SIGNING_KEY_FILE is not set: using the development relay signing key in {} (development only; production refuses UPSTREAMS without RELAY_SIGNING_KEY_FILE)",
                file.display()
            );
        }
        let (state, cache_listener) = build_state(&settings).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind((settings.server.host, settings.server.port))
            .map_err(|source| StartupError::Bind { address, source })?;
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let metrics = match settings.metrics.addr {
            Some(addr) => Some(metrics_server(addr, state.db.clone())?),
            None => None,
        };
        let server = run(listener, state, &settings)?;
        Ok(Application {
            port,
            server,
            metrics,
            listener: cache_listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server: `stop(true)` closes the listener at once and lets
    /// in-flight requests finish for up to `SHUTDOWN_TIMEOUT`.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until the public server stops (on a signal or its handle),
    /// then stops the metrics listener with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let result = self.server.await;
        drop(self.listener);
        if let Some(handle) = metrics {
            handle.stop(true).await;
        }
        result
    }
}

/// Connects and migrates the database and prepares keys; the blocking parts
/// run on the blocking pool. The listener, if the cache is on, runs until
/// it is stopped or dropped.
pub async fn build_state(
    settings: &Settings,
) -> Result<(web::Data<AppState>, Option<Listener>), StartupError> {
    let database = settings.database.clone();
    let password_settings = settings.passwords.clone();
    let limit = db::setup_limit(&database.timeouts);
    let setup = crate::blocking::run(move || -> Result<_, StartupError> {
        let pool = db::connect_and_migrate(&database)?;
        Ok((pool, PasswordHasher::new(&password_settings)?))
    });
    let (pool, passwords) = actix_web::rt::time::timeout(limit, setup)
        .await
        .map_err(|_| StartupError::DatabaseHung(limit))??;
    // Bypassed until the listener has subscribed (it fails closed).
    let cache = Arc::new(SessionCache::new(&settings.session_cache));
    let listener = settings
        .session_cache
        .enabled()
        .then(|| {
            listener::spawn(
                settings.database.target.clone(),
                settings.database.timeouts,
                Arc::downgrade(&cache),
            )
        })
        .transpose()
        .map_err(StartupError::Listener)?;
    let sessions = Sessions::new(
        &settings.session,
        &settings.cookies,
        routes::refresh_path(),
        pool.clone(),
        cache,
    )?;
    let state = web::Data::new(AppState {
        sessions,
        accounts: Accounts::new(
            pool.clone(),
            passwords,
            ClientSlots::new(
                settings.throttle.login_concurrency_per_ip,
                settings.passwords.bcrypt_max_concurrency,
                settings.throttle.login_queue_timeout,
            ),
        ),
        throttle: Throttle::new(&settings.throttle, pool.clone()),
        db: pool,
        origins: TrustedOrigins::new(&settings.cors.allowed_origins),
        proxies: settings.server.trusted_proxies.clone(),
        relay_keys: RelayKeys::new(&settings.relay_keys)?,
    });
    Ok((state, listener))
}

fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    settings: &Settings,
) -> Result<Server, StartupError> {
    let origins = settings.cors.allowed_origins.clone();
    let json_limit = settings.server.json_limit;
    let http = settings.server.http;
    let static_dir = settings.static_files.dir.clone();
    let serve_static = std::path::Path::new(&static_dir).is_dir();
    let upstreams = settings.upstreams.clone();
    let tls = relay_client::tls_config(&settings.relay_tls).map_err(StartupError::Tls)?;
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(state.clone())
            // Per worker: awc clients are not `Send`, and each worker keeps
            // its own connection pools.
            .app_data(web::Data::new(RelayClients::new(&upstreams, &tls)))
            .app_data(
                web::JsonConfig::default()
                    .limit(json_limit)
                    .error_handler(|err, _| AppError::from_json_error(&err).into()),
            )
            .app_data(web::PayloadConfig::new(json_limit))
            .app_data(web::Data::new(BodyTimeout(http.body_timeout)))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, _| AppError::from_query_error(&err).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, _| AppError::from_path_error(&err).into()),
            )
            // Innermost: its 408 passes through CORS and the headers.
            .wrap(middleware::from_fn(body_deadline))
            .wrap(cors(&origins))
            .wrap(middleware::from_fn(response_headers))
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(middleware::from_fn(request_context))
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
    // main handles SIGTERM and SIGINT alike (a drain, then exit); tests
    // start many servers in one process and want no signal handling.
    .disable_signals()
    .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
    .keep_alive(http.keep_alive)
    .client_request_timeout(http.head_timeout)
    .client_disconnect_timeout(http.disconnect_timeout)
    .max_connections(http.max_connections_per_worker)
    .listen(listener)
    .map_err(StartupError::Server)?
    .run();
    Ok(server)
}

/// `GET /metrics` on its own listener (`METRICS_ADDR`), never on the public
/// one; one worker is plenty for a scraper.
fn metrics_server(
    addr: std::net::SocketAddr,
    pool: db::DbPool,
) -> Result<(u16, Server), StartupError> {
    let handle = metrics::install()?;
    let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
        address: addr.to_string(),
        source,
    })?;
    let port = listener.local_addr().map_err(StartupError::Server)?.port();
    let server = HttpServer::new(move || {
        let (handle, pool) = (handle.clone(), pool.clone());
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let body = metrics::render(&handle, pool.state());
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .map_err(StartupError::Server)?
    .run();
    Ok((port, server))
}
