//! Logging: human-readable lines (coloured on a terminal, otherwise written
//! by [`super::plain_lines`]), or one JSON object per line for a collector,
//! filtered by `RUST_LOG` (default `info`).
//! Payloads, contact values and credentials are never logged at any level:
//! spans and events carry ids, codes and timings only.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use clap::ValueEnum;
use tracing::Subscriber;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::log_writer::{self, BatchedWriter, WriterGuard};
use super::otel;
use super::plain_lines::{PlainFields, PlainLine};

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
        LogFormat::Text if ansi => fmt::layer().with_writer(writer).with_ansi(true).boxed(),
        LogFormat::Text => fmt::layer()
            .event_format(PlainLine)
            .fmt_fields(PlainFields)
            .with_writer(writer)
            .with_ansi(false)
            .boxed(),
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

/// The writer of this process's lines, once logging is installed.
static WRITER: OnceLock<BatchedWriter> = OnceLock::new();

/// Log lines dropped because stderr did not keep up (0 before [`init`]).
pub fn dropped_lines() -> u64 {
    WRITER.get().map_or(0, BatchedWriter::dropped_lines)
}

/// Installs the process-wide subscriber: `format` on stderr, `RUST_LOG` or
/// `info`, spans to `otel` when given. Lines are written in batches by a
/// thread of their own ([`log_writer`]), so a call never waits on a `write`
/// to stderr and a busy gateway writes many lines per system call. When
/// that thread falls behind (a stalled log collector, a full pipe), lines
/// are dropped and counted (`people_gateway_log_lines_dropped_total`)
/// rather than calls and health checks waiting for stderr: serving matters
/// more than a complete log. Keep the returned guard until exit: dropping it
/// writes the rest. Without a thread (none can be started), lines go
/// straight to stderr.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat, otel: Option<&otel::Provider>) -> Option<WriterGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (subscriber, guard) =
        match log_writer::batched(std::io::stderr(), log_writer::BUFFERED_BYTES) {
            Ok((writer, guard)) => {
                let _ = WRITER.set(writer.clone());
                (subscriber(format, filter, writer, ansi, otel), Some(guard))
            }
            Err(_) => (
                subscriber(format, filter, std::io::stderr, ansi, otel),
                None,
            ),
        };
    // Fails only when a subscriber is installed already, which then stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
    guard
}
