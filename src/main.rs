//! The `people-gateway` binary: parses configuration, starts logging, runs the server.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use people_gateway::{config::Config, server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("people-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}
