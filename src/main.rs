use std::process::ExitCode;

use bff_gateway::{
    cli::{self, Command},
    config::{self, LogFormat, LoggingSettings, Settings},
    errors::chain,
    startup::{Application, StartupError},
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
    let settings = match environment.and_then(|_| Settings::from_env()) {
        Ok(settings) => settings,
        Err(e) => return failure(&e),
    };
    let result = match command {
        Command::Serve => serve(settings).await.map_err(|e| failure(&e)),
        other => cli::run(other, settings).await.map_err(|e| failure(&e)),
    };
    result.map_or_else(|code| code, |()| ExitCode::SUCCESS)
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
    let app = Application::build(settings).await?;
    if let (Some(ip), Some(port)) = (metrics_ip, app.metrics_port()) {
        log::info!("metrics on http://{ip}:{port}/metrics");
    }
    log::info!(
        "listening on http://{host}:{} (environment: {environment}, database: {database})",
        app.port()
    );
    app.run_until_stopped().await.map_err(StartupError::Server)
}
