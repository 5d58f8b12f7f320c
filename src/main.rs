//! The `people-gateway` binary: parses configuration, starts logging, runs the server.

use std::process::ExitCode;

use clap::Parser as _;
use people_gateway::{config::Config, server, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::logs::init(config.log_format);
    match server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("people-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}
