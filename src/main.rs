//! The `people-gateway` binary: parses configuration, starts logging, runs the server.

use std::process::ExitCode;

use people_gateway::{config::Config, server, telemetry};

/// In the static musl build (the container image), mimalloc rather than
/// musl's own allocator: see `Cargo.toml`.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::from_command_line();
    let otel = match config
        .otlp_endpoint
        .as_ref()
        .map(|url| telemetry::otel::provider(url.as_str()))
    {
        None => None,
        Some(Ok(provider)) => Some(provider),
        Some(Err(error)) => {
            eprintln!("people-gateway: {error}");
            return ExitCode::FAILURE;
        }
    };
    let log_writer = telemetry::logs::init(config.log_format, otel.as_ref());
    let outcome = server::run::run(config).await;
    if let Some(provider) = otel {
        // Sends the spans still buffered; it waits on the runtime's export task.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
    // The last log lines go out before the final error.
    drop(log_writer);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("people-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}
