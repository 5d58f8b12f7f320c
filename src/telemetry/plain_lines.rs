//! Uncoloured text lines, byte for byte as tracing-subscriber's full format
//! and default fields write them with colours off, at a fraction of the cost.
//!
//! The full format sends every piece of a line (the span's name, each
//! field's name, each `=` and `:`) through its colour styles even when
//! colours are off, one `write!` each; a call's span and its log line were
//! about a fifth of the CPU of a GetUser, a third of that in those styles.
//! [`PlainLine`] and [`PlainFields`] write the same text with plain writes.
//! Coloured lines (a terminal) keep tracing-subscriber's own format.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::time::UNIX_EPOCH;

use chrono::Datelike as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// A line: time, level, the spans from the root with their fields, the
/// target, then the event's fields (as `Format<Full>` writes them).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainLine;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // An event made from a `log` record says where the record came from.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let written = match time_text(std::time::SystemTime::now()) {
            Some(text) => writer.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            // Before 1970 or after 9999.
            None => SystemTime.format_time(&mut writer),
        };
        if written.is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_char(' ')?;
        writer.write_str(level_name(*metadata.level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = context.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(metadata.target())?;
        writer.write_str(": ")?;
        context.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// Bytes of a time up to its second: `2026-12-03T02:43:15`.
const UP_TO_SECOND: usize = 19;

thread_local! {
    /// The second a thread last wrote a line in, and its text.
    static LAST_SECOND: Cell<Option<(u64, [u8; UP_TO_SECOND])>> = const { Cell::new(None) };
}

/// The time a line starts with, as tracing-subscriber's `SystemTime` writes
/// it (UTC, to the microsecond: `2026-12-03T02:43:15.123456Z`), for a time
/// from 1970 to 9999. The date and time up to the second are made once a
/// second per thread, not once a line.
fn time_text(time: std::time::SystemTime) -> Option<[u8; UP_TO_SECOND + 8]> {
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    let second = since_epoch.as_secs();
    let up_to_second = LAST_SECOND.with(|last| match last.get() {
        Some((cached, text)) if cached == second => Some(text),
        _ => {
            let text = up_to_second(second)?;
            last.set(Some((second, text)));
            Some(text)
        }
    })?;
    let mut text = [0u8; UP_TO_SECOND + 8];
    text[..UP_TO_SECOND].copy_from_slice(&up_to_second);
    text[UP_TO_SECOND] = b'.';
    let mut micros = since_epoch.subsec_micros();
    for digit in text[UP_TO_SECOND + 1..UP_TO_SECOND + 7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    text[UP_TO_SECOND + 7] = b'Z';
    Some(text)
}

/// `2026-12-03T02:43:15` for a second since 1970, up to the year 9999.
fn up_to_second(second: u64) -> Option<[u8; UP_TO_SECOND]> {
    let time = chrono::DateTime::from_timestamp(i64::try_from(second).ok()?, 0)?;
    if time.year() > 9999 {
        return None;
    }
    let mut text = [0u8; UP_TO_SECOND];
    let mut rest = &mut text[..];
    std::io::Write::write_fmt(
        &mut rest,
        format_args!("{}", time.format("%Y-%m-%dT%H:%M:%S")),
    )
    .ok()?;
    rest.is_empty().then_some(text)
}

/// The level, five wide, as the full format writes it.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// Fields as `DefaultFields` writes them: the message bare and first (as
/// recorded), then `name=value` with values as `Debug`, separated by spaces;
/// terminal controls in messages and error texts escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer: Staged::new(writer),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        // What was gathered before a field failed is written on too, as it
        // was when every piece went straight to the writer.
        let flushed = visitor.writer.flush();
        visitor.result.and(flushed)
    }
}

struct PlainVisitor<W> {
    writer: W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> PlainVisitor<W> {
    fn write_field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // What `tracing-log` carries as fields; the line has it already.
        if name.starts_with("log.") {
            return;
        }
        self.result = self.write_separated(name, value);
    }

    fn write_separated(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name == "message" {
            return Escaping(&mut self.writer).write_fmt(value);
        }
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')?;
        self.writer.write_fmt(value)
    }
}

/// Bytes of fields gathered before they are written on.
const STAGED: usize = 256;

/// Fields gathered on the stack and written on in one piece (in several
/// when they are longer): a span's fields go to a `String` of their own,
/// which then grows once, not once for every few fields.
struct Staged<W> {
    out: W,
    buffer: [u8; STAGED],
    len: usize,
}

impl<W: fmt::Write> Staged<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            buffer: [0; STAGED],
            len: 0,
        }
    }

    /// Writes on what was gathered.
    fn flush(&mut self) -> fmt::Result {
        // Whole `str`s only were gathered, so this is UTF-8.
        let gathered = std::str::from_utf8(&self.buffer[..self.len]).map_err(|_| fmt::Error)?;
        self.out.write_str(gathered)?;
        self.len = 0;
        Ok(())
    }
}

impl<W: fmt::Write> fmt::Write for Staged<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.len + text.len() > STAGED {
            self.flush()?;
        }
        match self.buffer.get_mut(self.len..self.len + text.len()) {
            Some(room) => {
                room.copy_from_slice(text.as_bytes());
                self.len += text.len();
                Ok(())
            }
            None => self.out.write_str(text),
        }
    }
}

impl<W: fmt::Write> Visit for PlainVisitor<W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write_field(field, format_args!("{value}"));
        } else {
            self.write_field(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The error, then (when it has causes) `name.sources=[...]` with
        // each cause, all escaped.
        match value.source() {
            Some(source) => self.write_field(
                field,
                format_args!(
                    "{} {}.sources={:?}",
                    EscapedDisplay(value),
                    field.name(),
                    Sources(source)
                ),
            ),
            None => self.write_field(field, format_args!("{}", EscapedDisplay(value))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write_field(field, format_args!("{value:?}"));
    }
}

/// A writer that escapes what a terminal would act on (as tracing-subscriber
/// does): C0 controls used in escape sequences, DEL and the C1 controls.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, character) in text.char_indices() {
            let escaped = match character {
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}' => character,
                _ => continue,
            };
            self.0.write_str(&text[plain..at])?;
            match escaped {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c1 => write!(self.0, "\\u{{{:x}}}", c1 as u32)?,
            }
            plain = at + escaped.len_utf8();
        }
        self.0.write_str(&text[plain..])
    }
}

/// A value's `Display`, escaped.
struct EscapedDisplay<'a>(&'a dyn fmt::Display);

impl fmt::Display for EscapedDisplay<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping(formatter), "{}", self.0)
    }
}

impl fmt::Debug for EscapedDisplay<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

/// An error and its own causes, as a list of their escaped texts.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Debug for Sources<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = formatter.debug_list();
        let mut current = Some(self.0);
        while let Some(error) = current {
            list.entry(&EscapedDisplay(error));
            current = error.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'writer> MakeWriter<'writer> for Lines {
        type Writer = Lines;

        fn make_writer(&'writer self) -> Lines {
            self.clone()
        }
    }

    impl Lines {
        /// The lines written, each without its time (the first word).
        fn untimed(&self) -> Vec<String> {
            let bytes = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(|line| line.split_once(' ').map_or("", |(_, rest)| rest).to_owned())
                .collect()
        }
    }

    struct Unformattable;

    impl fmt::Display for Unformattable {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            Err(fmt::Error)
        }
    }

    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl fmt::Display for Failure {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|cause| cause as _)
        }
    }

    /// Every kind of value, name and text a line may hold, in nested spans.
    fn log_everything() {
        // Longer than what is gathered before it is written on, and
        // crossing that boundary.
        let long = "y".repeat(STAGED + 44);
        let crossing = "z".repeat(STAGED - 20);
        let call = tracing::info_span!(
            "rpc",
            rpc = %"GetUser",
            long = %long,
            crossing = %crossing,
            quoted = "a \"b\"\n\u{1b}",
            parent = tracing::field::Empty,
            code = tracing::field::Empty,
            broken = tracing::field::Empty,
        );
        let _call = call.enter();
        call.record("code", tracing::field::display("OK"));
        call.record("parent", 7_u64);
        // A value that fails to format: what was written before it stays.
        call.record("broken", tracing::field::display(Unformattable));
        let exchange = tracing::debug_span!("exchange");
        let _exchange = exchange.enter();
        tracing::info!(
            code = %"OK",
            took_ms = 0.48_f64,
            count = 3_u64,
            signed = -2_i64,
            flag = true,
            wide = 1_u128 << 100,
            r#type = "mail",
            maybe = ?Some("x"),
            "handled"
        );
        tracing::warn!(
            "escapes: \u{1b}[31m red \u{9b} \u{7} \u{8} \u{c} \u{7f} é {}",
            5
        );
        tracing::trace!(only = 1);
        let chained = Failure(
            "outer \u{1b}",
            Some(Box::new(Failure(
                "middle",
                Some(Box::new(Failure("inner \u{7}", None))),
            ))),
        );
        let alone = Failure("alone \u{9b}", None);
        tracing::error!(
            error = &chained as &(dyn std::error::Error + 'static),
            "failed"
        );
        tracing::error!(error = &alone as &(dyn std::error::Error + 'static));
        tracing::info!(message = "a message field", after = "x");
        drop(_exchange);
        tracing::info!(bytes = ?b"\x00\xff", "outside the inner span");
    }

    fn lines_of(plain: bool) -> Vec<String> {
        let lines = Lines::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(lines.clone())
            .with_ansi(false);
        let subscriber: Box<dyn Subscriber + Send + Sync> = if plain {
            Box::new(
                tracing_subscriber::registry()
                    .with(layer.event_format(PlainLine).fmt_fields(PlainFields)),
            )
        } else {
            Box::new(tracing_subscriber::registry().with(layer))
        };
        tracing::subscriber::with_default(subscriber, log_everything);
        lines.untimed()
    }

    #[test]
    fn lines_are_those_of_the_full_format_without_colours() {
        let full = lines_of(false);
        let plain = lines_of(true);
        assert_eq!(full.len(), 7, "{full:#?}");
        assert_eq!(plain, full);
        // What the comparison relies on: the spans, values and escapes are there.
        assert!(full[0].contains(&"y".repeat(STAGED + 44)), "{}", full[0]);
        assert!(full[0].contains(&format!(" crossing={} ", "z".repeat(STAGED - 20))));
        assert!(
            full[0].starts_with(" INFO rpc{rpc=GetUser long=y"),
            "{}",
            full[0]
        );
        assert!(
            full[0]
                .contains(" quoted=\"a \\\"b\\\"\\n\\u{1b}\" code=OK parent=7 broken=}:exchange: "),
            "{}",
            full[0]
        );
        assert!(
            full[1].contains("escapes: \\x1b[31m red \\u{9b} \\x07 \\x08 \\x0c \\x7f é 5"),
            "{}",
            full[1]
        );
        assert!(
            full[3].contains("error=outer \\x1b error.sources=[middle, inner \\x07]"),
            "{}",
            full[3]
        );
    }

    #[test]
    fn a_lines_time_is_utc_to_the_microsecond_in_every_second() {
        use chrono::SecondsFormat;
        let write = |time: std::time::SystemTime| {
            String::from_utf8(time_text(time).expect("a time").to_vec()).expect("UTF-8")
        };
        let start = UNIX_EPOCH + std::time::Duration::from_micros(1_772_505_795_000_007);
        // The same second twice, the next, back again, a leap day, 1970.
        for offset_micros in [0, 999_990, 1_000_000, 0, 86_399_999_999] {
            let time = start + std::time::Duration::from_micros(offset_micros);
            let expected = chrono::DateTime::<chrono::Utc>::from(time)
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(write(time), expected);
        }
        let leap_day = UNIX_EPOCH + std::time::Duration::from_secs(1_709_208_000);
        assert_eq!(write(leap_day), "2024-02-29T12:00:00.000000Z");
        assert_eq!(write(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // Left to tracing-subscriber.
        let year_10000 = UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_800);
        assert!(time_text(year_10000).is_none());
        assert!(time_text(UNIX_EPOCH - std::time::Duration::from_secs(1)).is_none());
    }

    #[test]
    fn the_time_comes_first_as_in_the_full_format() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(lines.clone())
                .with_ansi(false)
                .event_format(PlainLine)
                .fmt_fields(PlainFields),
        );
        tracing::subscriber::with_default(subscriber, || tracing::info!("now"));
        let written = String::from_utf8(
            lines
                .0
                .lock()
                .map(|bytes| bytes.clone())
                .unwrap_or_default(),
        )
        .expect("UTF-8");
        let (time, rest) = written.split_once(' ').expect("a time");
        assert!(time.ends_with('Z') && time.contains('T'), "{written}");
        assert!(
            rest.starts_with(" INFO people_gateway::telemetry::plain_lines::tests: now\n"),
            "{written}"
        );
    }
}
