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
    accounts::{Accounts, PasswordError, PasswordHasher},
    config::{Environment, Settings},
    db::{self, DbSetupError},
    dev_secret::{self, DevSecretError},
    errors::AppError,
    middleware::{cors, json_error_body, request_logger, response_headers},
    origins::TrustedOrigins,
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
    #[error("cannot start the server")]
    Server(#[source] std::io::Error),
    #[error("start-up work was cancelled")]
    Blocking(#[from] actix_web::error::BlockingError),
}

pub struct Application {
    port: u16,
    server: Server,
    /// Stopped with the server, so no reconnect outlives it.
    listener: Option<Listener>,
}

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
        let (state, cache_listener) = build_state(&settings).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind((settings.server.host, settings.server.port))
            .map_err(|source| StartupError::Bind { address, source })?;
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let server = run(listener, state, &settings)?;
        Ok(Application {
            port,
            server,
            listener: cache_listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        drop(self.listener);
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
    let (pool, passwords) = crate::blocking::run(move || -> Result<_, StartupError> {
        let pool = db::connect_and_migrate(&database)?;
        Ok((pool, PasswordHasher::new(&password_settings)?))
    })
    .await?;
    // Bypassed until the listener has subscribed (it fails closed).
    let cache = Arc::new(SessionCache::new(&settings.session_cache));
    let listener = settings
        .session_cache
        .enabled()
        .then(|| listener::spawn(settings.database.target.clone(), Arc::downgrade(&cache)))
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
        accounts: Accounts::new(pool.clone(), passwords),
        db: pool,
        throttle: Throttle::new(&settings.throttle),
        origins: TrustedOrigins::new(&settings.cors.allowed_origins),
        proxies: settings.server.trusted_proxies.clone(),
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
    .map_err(StartupError::Server)?
    .run();
    Ok(server)
}
