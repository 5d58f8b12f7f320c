//! Logging: human-readable lines (coloured on a terminal), or one JSON object
//! per line for a collector, filtered by `RUST_LOG` (default `info`).
//! Payloads, contact values and credentials are never logged at any level:
//! spans and events carry ids, codes and timings only.

use std::io::IsTerminal as _;

use clap::ValueEnum;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, message, span fields.
    Json,
}

/// The subscriber for `format`, writing to `writer`, filtered by `filter`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .flatten_event(false)
                .finish(),
        ),
    }
}

/// Installs the process-wide subscriber: `format` on stderr, `RUST_LOG` or `info`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(format, filter, std::io::stderr, ansi);
    // Fails only when a subscriber is installed already, which then stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
