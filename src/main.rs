use std::process::ExitCode;

use bff_gateway::{
    cli::{self, Command},
    config::{self, Settings},
    errors::chain,
    startup::{Application, StartupError},
    telemetry,
};

#[actix_web::main]
async fn main() -> ExitCode {
    // The env files first, so RUST_LOG from them applies to the logger.
    let environment = config::load_env_files();
    telemetry::init_logger();
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
    let database = settings.database.target.describe();
    let app = Application::build(settings).await?;
    log::info!(
        "listening on http://{host}:{} (environment: {environment}, database: {database})",
        app.port()
    );
    app.run_until_stopped().await.map_err(StartupError::Server)
}
