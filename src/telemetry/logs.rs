//! Logging: human-readable lines (coloured on a terminal), or one JSON object
//! per line for a collector, filtered by `RUST_LOG` (default `info`).
//! Payloads, contact values and credentials are never logged at any level:
//! spans and events carry ids, codes and timings only.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use clap::ValueEnum;
use tracing::Subscriber;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::otel;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, message, span fields.
    Json,
}

/// The subscriber for `format`, writing to `writer`, filtered by `filter`,
/// and exporting spans to `otel` when given.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
    otel: Option<&otel::Provider>,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let lines: Box<dyn Layer<Base> + Send + Sync> = match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_ansi(ansi).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
    };
    let export = otel.map(|provider| otel::layer::<Base>(provider).boxed());
    Box::new(
        tracing_subscriber::registry().with(filter).with(
            vec![Some(lines), export]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        ),
    )
}

/// The subscriber the layers above sit on.
type Base = Layered<EnvFilter, Registry>;

/// Lines waiting for the writer thread; beyond them lines are dropped: a few
/// milliseconds of a busy gateway's lines, in 256 KiB.
const LINES_QUEUED: usize = 8192;

/// Lines the writer dropped so far, once logging is installed.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Log lines dropped because stderr did not keep up (0 before [`init`]).
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// Installs the process-wide subscriber: `format` on stderr, `RUST_LOG` or
/// `info`, spans to `otel` when given. Lines are written by a thread of their
/// own, buffered and flushed whenever it has caught up, so a call never waits
/// on a `write` to stderr and a busy gateway writes many lines per system
/// call. When that thread falls behind (a stalled log collector, a full
/// pipe), lines are dropped and counted (`people_gateway_log_lines_dropped_total`)
/// rather than calls and health checks waiting for stderr: serving matters
/// more than a complete log. Keep the returned guard until exit: dropping it
/// writes the rest.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat, otel: Option<&otel::Provider>) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        // The queue is allocated whole up front (32 bytes a line).
        .buffered_lines_limit(LINES_QUEUED)
        .lossy(true)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let _ = DROPPED.set(writer.error_counter());
    let subscriber = subscriber(format, filter, writer, ansi, otel);
    // Fails only when a subscriber is installed already, which then stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
    guard
}
