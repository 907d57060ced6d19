use std::process::ExitCode;

use bff_gateway::{
    cli::{self, Command},
    config::{self, Settings},
    startup::Application,
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
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve => serve(settings).await,
        other => cli::run(other, settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let environment = settings.environment.as_str();
    let host = settings.server.host;
    let database = settings.database.target.describe();
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    log::info!(
        "listening on http://{host}:{} (environment: {environment}, database: {database})",
        app.port()
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
