//! Who calls, as the gRPC metadata says, for both gRPC layers: the
//! credential the call acts with, its deadline, the routing key a mesh may
//! hash on, the request id echoed back, and the call's span.

use std::time::Instant;

use http::HeaderValue;
use http::header::{AUTHORIZATION, COOKIE, HeaderName};
use tonic::metadata::MetadataMap;
use tonic::{Extensions, Status};
use tracing::info_span;

use crate::deadline;
use crate::domain::{Call, Credential, CredentialError};
use crate::error::{FieldViolation, GatewayError};
use crate::telemetry::otel;
use crate::telemetry::trace::{CallTrace, REQUEST_ID};

/// The cookie that carries a portal token.
const AUTH_COOKIE: &str = "asc_auth_key";
/// A routing key a mesh may hash on; when sent, it must name the request's user.
const ROUTING_KEY: HeaderName = HeaderName::from_static("x-people-user-id");

/// Whether a call carries a credential of its own (any `authorization` or
/// `cookie` metadata), rather than acting with `--portal-token`.
pub fn carries_own_credential(metadata: &MetadataMap) -> bool {
    ["authorization", "authorization-bin", "cookie"]
        .iter()
        .any(|key| metadata.contains_key(*key))
}

/// Turns a call's metadata into the call the operations see.
#[derive(Debug, Clone)]
pub struct Callers {
    /// `--portal-token`: for calls that carry no credential of their own.
    fallback: Option<Credential>,
}

impl Callers {
    /// Callers whose calls without a credential use `fallback`.
    pub fn new(fallback: Option<Credential>) -> Self {
        Self { fallback }
    }

    /// The caller's `authorization`, else `cookie: asc_auth_key=…`, else the
    /// configured token. Credential-like metadata the gateway cannot use
    /// (binary, repeated, a misspelt cookie) is refused rather than replaced
    /// by the configured token: a caller never acts with someone else's rights.
    fn credential(&self, metadata: &MetadataMap) -> Result<Credential, GatewayError> {
        let unusable = || GatewayError::MalformedCredentials(CredentialError::UnusableForm);
        // Looked up by name constants, which need no parsing.
        let headers = metadata.as_ref();
        if metadata.get_bin("authorization-bin").is_some()
            || headers.get_all(AUTHORIZATION).iter().count() > 1
        {
            return Err(unusable());
        }
        if let Some(value) = headers.get(AUTHORIZATION) {
            let text = value
                .to_str()
                .map_err(|_| GatewayError::MalformedCredentials(CredentialError::NotAscii))?;
            return Credential::authorization(text).map_err(GatewayError::MalformedCredentials);
        }
        let mut found = None;
        let mut cookies_sent = false;
        for cookies in headers.get_all(COOKIE) {
            cookies_sent = true;
            let text = cookies
                .to_str()
                .map_err(|_| GatewayError::MalformedCredentials(CredentialError::NotAscii))?;
            for pair in text
                .split(';')
                .map(str::trim)
                .filter(|pair| !pair.is_empty())
            {
                let (name, token) = pair.split_once('=').unwrap_or((pair, ""));
                let name = name.trim();
                if name == AUTH_COOKIE && found.is_none() && pair.contains('=') {
                    found = Some(token);
                } else if name.eq_ignore_ascii_case(AUTH_COOKIE) {
                    // Misspelt, repeated, or without a value.
                    return Err(unusable());
                }
            }
        }
        match found {
            Some(token) => {
                Credential::cookie_token(token).map_err(GatewayError::MalformedCredentials)
            }
            // A call that sends cookies acts with its own `asc_auth_key` or
            // not at all: the configured token is only for calls that send
            // no credential-like metadata.
            None if cookies_sent => Err(GatewayError::MalformedCredentials(
                CredentialError::NoAuthCookie,
            )),
            None => self
                .fallback
                .clone()
                .ok_or(GatewayError::MissingCredentials),
        }
    }

    /// The call as the operations see it: credential and deadline.
    pub fn call(
        &self,
        metadata: &MetadataMap,
        extensions: &Extensions,
    ) -> Result<Call, GatewayError> {
        let mut call = Call::new(self.credential(metadata)?);
        call.deadline = deadline::of(extensions);
        Ok(call)
    }
}

/// A mesh may route on `x-people-user-id` so that one user's writes meet one
/// replica (and its lock); a key that names another user would route around
/// that lock, so it must match the request's `user_id` exactly.
pub fn check_routing_key(metadata: &MetadataMap, user_id: &str) -> Result<(), GatewayError> {
    match metadata
        .as_ref()
        .get(ROUTING_KEY)
        .map(|value| value.to_str())
    {
        None => Ok(()),
        Some(Ok(key)) if key == user_id => Ok(()),
        Some(_) => Err(GatewayError::InvalidArgument(vec![FieldViolation::new(
            ROUTING_KEY.as_str(),
            "must equal the request's user_id when sent",
        )])),
    }
}

/// The status with the call's request id, as every answer carries it.
pub fn with_request_id(mut status: Status, request_id: &str) -> Status {
    echo_request_id(status.metadata_mut(), request_id);
    status
}

/// Puts the call's request id on an answer's metadata. Unique to each call,
/// it is never indexed by HPACK: indexing it would cost a table insert each
/// time and evict the entries that do repeat.
pub fn echo_request_id(metadata: &mut MetadataMap, request_id: &str) {
    if let Ok(mut id) = HeaderValue::from_str(request_id) {
        id.set_sensitive(true);
        metadata.as_mut().insert(REQUEST_ID, id);
    }
}

/// The span of one call, tied to its trace context: the RPC, the trace and
/// parent span ids (the parent only when the caller sent one), the request
/// id, and the code once known (recorded only for export: a log line has it
/// in its own fields). Without export every field is known at once and
/// formatted once. Each is written as it is, unquoted: none holds anything
/// but visible ASCII (the request id is checked when it is read), so there
/// is nothing to escape.
pub fn call_span(rpc: &'static str, trace: &mut CallTrace) -> tracing::Span {
    if !otel::exporting() {
        let trace_id = trace.trace_id();
        return info_span!(
            "rpc",
            rpc = %rpc,
            trace_id = %trace_id,
            parent_span_id = trace.parent_id().map(tracing::field::display),
            request_id = %trace.request_id(),
            code = tracing::field::Empty,
        );
    }
    let span = info_span!(
        "rpc",
        rpc = %rpc,
        trace_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
        request_id = %trace.request_id(),
        code = tracing::field::Empty,
    );
    if let Some(parent) = trace.parent_id() {
        span.record("parent_span_id", tracing::field::display(parent));
    }
    trace.attach(&span);
    span
}

/// Milliseconds since `started`, to the microsecond, for log lines.
pub fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_id_is_echoed_never_indexed_and_a_bad_one_is_left_out() {
        let mut metadata = MetadataMap::new();
        echo_request_id(&mut metadata, "4bb67383-5fe2-47f0-916b-324a1bda81d2");
        let echoed = metadata.get("x-request-id").unwrap();
        assert_eq!(echoed, "4bb67383-5fe2-47f0-916b-324a1bda81d2");
        assert!(echoed.is_sensitive(), "HPACK would index a value seen once");
        let mut metadata = MetadataMap::new();
        echo_request_id(&mut metadata, "line\nbreak");
        assert!(metadata.is_empty());
    }
}
