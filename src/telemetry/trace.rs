//! Trace context and request ids for one call: a W3C `traceparent` from the
//! caller is continued (each portal request carries the same trace id and a
//! span id of its own), a new trace starts when none came, and `x-request-id`
//! (made up when absent) is forwarded to the portal and echoed to the caller.
//! The context travels with the call's task (and the write it spawns) as a
//! task-local, so the portal client reads it without every signature carrying it.

use http::HeaderName;
use tokio::task::futures::TaskLocalFuture;
use tonic::metadata::MetadataMap;

use super::otel;

/// The longest caller `x-request-id` passed on; a longer or odd one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// The W3C trace context header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The request id header, which the caller may send and every answer carries.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: CallTrace;
}

/// What ties one call's log lines and portal requests together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTrace {
    trace_id: [u8; 16],
    parent_id: Option<[u8; 8]>,
    sampled: bool,
    request_id: String,
}

impl CallTrace {
    /// From the caller's metadata: its `traceparent` and `x-request-id`, or new ones.
    pub fn from_metadata(metadata: &MetadataMap) -> Self {
        // Looked up by name constants, which need no parsing.
        let headers = metadata.as_ref();
        let parent = headers
            .get(TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_traceparent);
        let request_id = headers
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= MAX_REQUEST_ID
                    && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        match parent {
            Some((trace_id, parent_id, sampled)) => Self {
                trace_id,
                parent_id: Some(parent_id),
                sampled,
                request_id,
            },
            None => Self {
                trace_id: *uuid::Uuid::new_v4().as_bytes(),
                parent_id: None,
                sampled: true,
                request_id,
            },
        }
    }

    /// The trace id, 32 hex digits.
    pub fn trace_id(&self) -> Hex<'_> {
        Hex(&self.trace_id)
    }

    /// The caller's span id, when it sent one.
    pub fn parent_id(&self) -> Option<Hex<'_>> {
        self.parent_id.as_ref().map(|id| Hex(id))
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Ties `span` (the call's) to this context: with OpenTelemetry on, the
    /// caller's span becomes its remote parent and the trace id is OpenTelemetry's;
    /// the span's `trace_id` field says which.
    pub fn attach(&mut self, span: &tracing::Span) {
        if let Some(parent) = self.parent_id {
            otel::continue_trace(span, self.trace_id, parent, self.sampled);
        }
        if let Some(trace_id) = otel::trace_id_of(span) {
            self.trace_id = trace_id;
        }
        span.record("trace_id", tracing::field::display(self.trace_id()));
    }

    /// A `traceparent` for one outgoing request: this trace and a new span id
    /// (with OpenTelemetry on, the id of the exchange's own span).
    pub fn child_traceparent(&self) -> String {
        if otel::exporting()
            && let Some(traceparent) = otel::current_traceparent()
        {
            return traceparent;
        }
        self.made_up_child()
    }

    fn made_up_child(&self) -> String {
        let mut span = [0u8; 8];
        span.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        // An all-zero span id is invalid.
        span[0] |= 1;
        let mut traceparent = String::with_capacity(55);
        traceparent.push_str("00-");
        traceparent.push_str(Hex(&self.trace_id).digits(&mut [0; MAX_HEX]));
        traceparent.push('-');
        traceparent.push_str(Hex(&span).digits(&mut [0; MAX_HEX]));
        traceparent.push_str(if self.sampled { "-01" } else { "-00" });
        traceparent
    }

    /// Runs `work` with this context as the current one. Not an `async fn`,
    /// which would hold `work` twice: once as its argument, once in the scope.
    pub fn scope<F: Future>(self, work: F) -> TaskLocalFuture<CallTrace, F> {
        CURRENT.scope(self, work)
    }
}

/// The current call's context, if the code runs inside one.
pub fn current() -> Option<CallTrace> {
    with_current(Clone::clone)
}

/// What `read` makes of the current call's context, if the code runs inside
/// one, without a copy of it.
pub fn with_current<R>(read: impl FnOnce(&CallTrace) -> R) -> Option<R> {
    CURRENT.try_with(read).ok()
}

/// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids and version `ff` are invalid.
fn parse_traceparent(text: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let mut parts = text.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || u8::from_str_radix(version, 16).is_err() {
        return None;
    }
    // Version 00 has exactly four fields; later versions may append more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id: [u8; 16] = unhex(trace)?.try_into().ok()?;
    let span_id: [u8; 8] = unhex(span)?.try_into().ok()?;
    let flags = u8::from_str_radix(flags, 16)
        .ok()
        .filter(|_| flags.len() == 2)?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags & 1 == 1))
}

/// Hex digits of the longest id (a trace id's 16 bytes).
const MAX_HEX: usize = 32;

/// An id as lower-case hex digits, written where it is shown without a
/// `String` of its own (a call's span, a `traceparent`).
#[derive(Clone, Copy)]
pub struct Hex<'a>(&'a [u8]);

impl Hex<'_> {
    /// The digits, in `buffer`; ids are at most 16 bytes.
    fn digits(self, buffer: &mut [u8; MAX_HEX]) -> &str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut written = 0;
        for (pair, byte) in buffer.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
            written += 2;
        }
        // Only ASCII digits and letters were written.
        std::str::from_utf8(&buffer[..written]).unwrap_or_default()
    }
}

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.pad(self.digits(&mut [0; MAX_HEX]))
    }
}

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, formatter)
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2)
        || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        for (key, value) in pairs {
            metadata.insert(*key, value.parse().unwrap());
        }
        metadata
    }

    #[test]
    fn a_callers_trace_is_continued_with_new_span_ids() {
        let trace = CallTrace::from_metadata(&metadata(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]));
        assert_eq!(
            trace.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            trace.parent_id().map(|id| id.to_string()).as_deref(),
            Some("00f067aa0ba902b7")
        );
        let child = trace.made_up_child();
        let parts: Vec<_> = child.split('-').collect();
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(parts[2], "00f067aa0ba902b7");
        assert_eq!(parts[3], "01");
        assert_ne!(
            child,
            trace.child_traceparent(),
            "each request gets its own span id"
        );
    }

    #[test]
    fn malformed_trace_context_starts_a_new_trace() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            let trace = CallTrace::from_metadata(&metadata(&[("traceparent", bad)]));
            assert!(trace.parent_id().is_none(), "{bad}");
            assert_eq!(trace.trace_id().to_string().len(), 32);
        }
    }

    #[test]
    fn request_ids_are_kept_when_sane_and_made_up_otherwise() {
        let kept = CallTrace::from_metadata(&metadata(&[("x-request-id", "abc-123")]));
        assert_eq!(kept.request_id(), "abc-123");
        let long = "x".repeat(200);
        let made = CallTrace::from_metadata(&metadata(&[("x-request-id", &long)]));
        assert_eq!(made.request_id().len(), 36);
        let none = CallTrace::from_metadata(&MetadataMap::new());
        assert_eq!(none.request_id().len(), 36);
    }
}
