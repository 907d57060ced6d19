use std::{process::ExitCode, time::Duration};

use actix_web::rt::signal::unix::{SignalKind, signal};

use bff_gateway::{
    cli::{self, Command},
    config::{self, LogFormat, LoggingSettings, Settings},
    errors::chain,
    startup::{Application, ServerHandle, StartupError},
    telemetry,
};

#[actix_web::main]
async fn main() -> ExitCode {
    let code = run().await;
    // Lines still queued for the log writer are written before exiting.
    telemetry::flush();
    code
}

async fn run() -> ExitCode {
    // The env files first, so RUST_LOG and LOG_FORMAT from them apply to
    // the logger.
    let environment = config::load_env_files();
    let logging = LoggingSettings::from_env();
    telemetry::init_logger(logging.as_ref().map_or(LogFormat::Text, |l| l.format));
    if let Err(e) = logging {
        return failure(&e);
    }
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("{message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    if let Command::Help = command {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    // Before the settings: an operator makes a key where no gateway is configured.
    if let Command::GenerateRelayKey = command {
        return match cli::generate_relay_key() {
            Ok(pem) => {
                print!("{pem}");
                ExitCode::SUCCESS
            }
            Err(e) => failure(&e),
        };
    }
    let settings = match environment.and_then(|_| Settings::from_env()) {
        Ok(settings) => settings,
        Err(e) => return failure(&e),
    };
    if let Command::Serve = command {
        // Exit without waiting for blocking threads: one may be stuck inside
        // libpq on a hung database, and the runtime would wait for it.
        let code = match serve(settings).await {
            Ok(()) => 0,
            Err(e) => {
                failure(&e);
                1
            }
        };
        telemetry::flush();
        std::process::exit(code);
    }
    cli::run(command, settings)
        .await
        .map_or_else(|e| failure(&e), |()| ExitCode::SUCCESS)
}

/// Logs the error with every cause: the cause is what an operator needs
/// ("Connection refused", "role … does not exist").
fn failure(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    log::error!("{}", chain(err));
    ExitCode::FAILURE
}

async fn serve(settings: Settings) -> Result<(), StartupError> {
    let environment = settings.environment.as_str();
    let host = settings.server.host;
    let metrics_ip = settings.metrics.addr.map(|addr| addr.ip());
    let database = settings.database.target.describe();
    let drain = settings.server.shutdown_timeout;
    let app = Application::build(settings).await?;
    if let (Some(ip), Some(port)) = (metrics_ip, app.metrics_port()) {
        log::info!("metrics on http://{ip}:{port}/metrics");
    }
    log::info!(
        "listening on http://{host}:{} (environment: {environment}, database: {database})",
        app.port()
    );
    stop_on_signals(app.handle(), drain).map_err(StartupError::Server)?;
    app.run_until_stopped()
        .await
        .map_err(StartupError::Server)?;
    log::info!("stopped");
    Ok(())
}

/// SIGTERM and SIGINT alike: stop accepting at once and let in-flight
/// requests finish for up to `SHUTDOWN_TIMEOUT`; a second signal exits at
/// once.
fn stop_on_signals(server: ServerHandle, drain: Duration) -> std::io::Result<()> {
    let (tx, mut signals) = tokio::sync::mpsc::unbounded_channel();
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
    ] {
        let mut stream = signal(kind)?;
        let tx = tx.clone();
        actix_web::rt::spawn(async move {
            while stream.recv().await.is_some() && tx.send(name).is_ok() {}
        });
    }
    actix_web::rt::spawn(async move {
        let Some(first) = signals.recv().await else {
            return;
        };
        log::info!(
            "{first}: shutting down; no new connections, in-flight requests have {}s to finish",
            drain.as_secs()
        );
        // The stop command is sent now; the server's own future reports the end.
        drop(server.stop(true));
        if let Some(second) = signals.recv().await {
            log::warn!("{second} during shutdown: exiting now");
            telemetry::flush();
            std::process::exit(1);
        }
    });
    Ok(())
}
