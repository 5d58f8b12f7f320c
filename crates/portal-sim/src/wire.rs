//! What travels over HTTP: the request as received, the reply being built, and each product's
//! envelopes, error bodies, 401/404 answers and content types.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::Response,
};
use serde::{Serialize, Serializer, ser::SerializeMap};
use uuid::Uuid;

/// Workspace (Json.NET on ASP.NET) labels its JSON like this.
const WORKSPACE_JSON: &str = "application/json; charset=UTF-8";
/// DocSpace (System.Text.Json on ASP.NET Core) labels its JSON like this.
const DOCSPACE_JSON: &str = "application/json; charset=utf-8";
/// The `hresult` Workspace reports (E_FAIL); release builds give no exception type to vary it by.
const WORKSPACE_HRESULT: i64 = -2147467259;

/// One HTTP request exactly as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    /// Path as sent, still percent-encoded.
    pub(crate) raw_path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    host: String,
}

impl Incoming {
    pub(crate) fn new(parts: &Parts, body: Bytes, fallback_host: &str) -> Incoming {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .unwrap_or(fallback_host)
            .to_owned();
        Incoming {
            method: parts.method.clone(),
            raw_path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body,
            host,
        }
    }

    /// A header as text; `None` when absent or not visible ASCII.
    pub(crate) fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The host name without the port, as `Request.Url.Host` gives it.
    pub(crate) fn host_name(&self) -> &str {
        if let Some(bracketed) = self.host.strip_prefix('[') {
            return bracketed.split(']').next().unwrap_or_default();
        }
        self.host.split(':').next().unwrap_or_default()
    }

    /// `http://host:port`, the base of absolute links in responses.
    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.host)
    }

    /// The full request URL, as DocSpace puts it in `links[0].href`.
    pub(crate) fn display_url(&self) -> String {
        match &self.query {
            Some(query) => format!("{}{}?{query}", self.origin(), self.raw_path),
            None => format!("{}{}", self.origin(), self.raw_path),
        }
    }

    /// The lower-cased `type/subtype` of the body, without parameters.
    pub(crate) fn media_type(&self) -> Option<String> {
        let value = self.header(header::CONTENT_TYPE)?;
        let media_type = value.split(';').next()?.trim().to_ascii_lowercase();
        (!media_type.is_empty()).then_some(media_type)
    }
}

/// A complete answer, kept as bytes until the last moment so faults can cut or replace it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn new(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
        Reply::empty(status)
            .with_header(header::CONTENT_TYPE, content_type)
            .with_body(body)
    }

    /// No body and no content type.
    pub(crate) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn with_body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = body.into();
        self
    }

    /// Adds a header; a value that is not a legal header value is dropped.
    pub(crate) fn with_header(mut self, name: HeaderName, value: &str) -> Reply {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    pub(crate) fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

/// The .NET exception a portal failure stands for; DocSpace reports its type and HResult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exception {
    ItemNotFound,
    Argument,
    ArgumentNull,
    Format,
    Security,
    Authorizing,
    Plain,
    TenantQuota,
    Authentication,
    NotSupported,
}

impl Exception {
    fn type_name(self) -> &'static str {
        match self {
            Exception::ItemNotFound => "ASC.Common.Web.ItemNotFoundException",
            Exception::Argument => "System.ArgumentException",
            Exception::ArgumentNull => "System.ArgumentNullException",
            Exception::Format => "System.FormatException",
            Exception::Security => "System.Security.SecurityException",
            Exception::Authorizing => "ASC.Common.Security.Authorizing.AuthorizingException",
            Exception::Plain => "System.Exception",
            Exception::TenantQuota => "ASC.Core.Tenants.TenantQuotaException",
            Exception::Authentication => "System.Security.Authentication.AuthenticationException",
            Exception::NotSupported => "System.NotSupportedException",
        }
    }

    fn hresult(self) -> i32 {
        match self {
            Exception::Argument => -2147024809,
            // why: E_POINTER.
            Exception::ArgumentNull => -2147467261,
            Exception::Format => -2146233033,
            Exception::Security => -2146233078,
            Exception::Authentication => -2146233087,
            Exception::NotSupported => -2146233067,
            Exception::Authorizing => -2146233077,
            Exception::ItemNotFound | Exception::Plain | Exception::TenantQuota => -2146233088,
        }
    }

    /// DocSpace's error writer leaves the stack out for these.
    fn hides_stack(self) -> bool {
        matches!(self, Exception::Authentication | Exception::NotSupported)
    }

    /// The exception DocSpace would map to this status, for injected errors.
    pub(crate) fn for_status(status: StatusCode) -> Exception {
        match status.as_u16() {
            400 => Exception::Argument,
            401 => Exception::Authentication,
            402 => Exception::TenantQuota,
            403 => Exception::Security,
            404 => Exception::ItemNotFound,
            415 => Exception::NotSupported,
            _ => Exception::Plain,
        }
    }
}

/// A request the portal refused: the HTTP status, the exception behind it and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) exception: Exception,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(
        status: StatusCode,
        exception: Exception,
        message: impl Into<String>,
    ) -> Self {
        Failure {
            status,
            exception,
            message: message.into(),
        }
    }
}

/// An empty JSON object (`data:{}` in Workspace errors).
#[derive(Serialize)]
struct Empty {}

/// What Workspace's envelope says about its answer besides the answer itself
/// (`ApiStandartResponce`); Json.NET leaves out a zero `count` or `startIndex` and a null
/// `nextIndex` or `total` (CS@v12.7.1:module/ASC.Api/ASC.Api/Impl/ApiStandartResponce.cs:34-56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkspacePaging {
    /// Items answered: 1 for a single object, the page's length for a list.
    pub(crate) count: u64,
    /// The `startIndex` the request asked for.
    pub(crate) start_index: u64,
    pub(crate) next_index: Option<u64>,
    /// Items the method says matched in all, before paging.
    pub(crate) total: Option<u64>,
}

impl WorkspacePaging {
    /// A single object's envelope.
    pub(crate) const SINGLE: WorkspacePaging = WorkspacePaging::items(1);

    /// A list of `count` items, no paging.
    pub(crate) const fn items(count: u64) -> WorkspacePaging {
        WorkspacePaging {
            count,
            start_index: 0,
            next_index: None,
            total: None,
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceEnvelope<'a, T> {
    #[serde(skip_serializing_if = "is_zero")]
    count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    start_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    status: u8,
    status_code: u16,
    response: &'a T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceErrorEnvelope<'a> {
    status: u8,
    status_code: u16,
    error: WorkspaceError<'a>,
}

#[derive(Serialize)]
struct WorkspaceError<'a> {
    message: &'a str,
    hresult: i64,
    data: Empty,
}

/// Workspace success: `{"count":1,"status":0,"statusCode":…,"response":…}`.
pub(crate) fn workspace_success<T: Serialize>(status: StatusCode, response: &T) -> Reply {
    workspace_answer(status, WorkspacePaging::SINGLE, response)
}

/// Workspace success with what `paging` says:
/// `{"count":…,"startIndex":…,"nextIndex":…,"total":…,"status":0,"statusCode":…,"response":…}`.
pub(crate) fn workspace_answer<T: Serialize>(
    status: StatusCode,
    paging: WorkspacePaging,
    response: &T,
) -> Reply {
    let envelope = WorkspaceEnvelope {
        count: paging.count,
        start_index: paging.start_index,
        next_index: paging.next_index,
        total: paging.total,
        status: 0,
        status_code: status.as_u16(),
        response,
    };
    workspace_json(status, &envelope)
}

/// Workspace error envelope; `type` and `stack` exist only in debug builds of the portal.
pub(crate) fn workspace_error(failure: &Failure) -> Reply {
    let envelope = WorkspaceErrorEnvelope {
        status: 1,
        status_code: failure.status.as_u16(),
        error: WorkspaceError {
            message: &failure.message,
            hresult: WORKSPACE_HRESULT,
            data: Empty {},
        },
    };
    workspace_json(failure.status, &envelope)
}

/// Json.NET with the portal's string converter, which writes `/` as `\/`.
fn workspace_json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_string(value) {
        // why: `/` can only occur inside JSON strings, so a blanket replace escapes exactly those.
        Ok(text) => Reply::new(status, WORKSPACE_JSON, text.replace('/', "\\/")),
        Err(error) => serialization_failed(&error),
    }
}

/// The answer as Workspace sends it for a `.xml` or `.tml` route: the JSON
/// envelope converted to XML under a `<result>` root (Json.NET's `DeserializeXNode`).
pub(crate) fn as_workspace_xml(reply: Reply) -> Reply {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&reply.body) else {
        return reply;
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    write_xml_element(&mut xml, "result", &value);
    let mut converted = reply.with_body(xml);
    converted
        .headers
        .retain(|(name, _)| name != header::CONTENT_TYPE);
    converted.with_header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
}

fn write_xml_element(xml: &mut String, name: &str, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        // why: an array becomes one element per item, all named after the property.
        Value::Array(items) => {
            for item in items {
                write_xml_element(xml, name, item);
            }
        }
        Value::Object(map) => {
            xml.push_str(&format!("<{name}>"));
            for (key, inner) in map {
                write_xml_element(xml, key, inner);
            }
            xml.push_str(&format!("</{name}>"));
        }
        Value::Null => xml.push_str(&format!("<{name} />")),
        Value::String(text) => {
            xml.push_str(&format!("<{name}>{}</{name}>", html_encode(text)));
        }
        other => xml.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// Workspace's answer to missing or unknown credentials: plain text, not JSON.
pub(crate) fn workspace_unauthorized(incoming: &Incoming) -> Reply {
    let reply = Reply::new(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "Unauthorized",
    );
    if incoming.headers.contains_key(header::AUTHORIZATION) {
        let realm = format!("Basic Realm=\"{}\"", incoming.host_name());
        reply.with_header(header::WWW_AUTHENTICATE, &realm)
    } else {
        reply
    }
}

/// Workspace answers a URL no API method matches with its error envelope.
pub(crate) fn workspace_no_route() -> Reply {
    // why: the message of a default `MissingMethodException`, which the handler throws here.
    workspace_error(&Failure::new(
        StatusCode::NOT_FOUND,
        Exception::Plain,
        "Attempted to access a missing method.",
    ))
}

#[derive(Serialize)]
struct Link {
    href: String,
    action: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocspaceEnvelope<'a, T> {
    response: &'a T,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<usize>,
    links: [Link; 1],
    status: u8,
    status_code: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocspaceErrorEnvelope<'a> {
    error: DocspaceError<'a>,
    status: u8,
    status_code: u16,
}

#[derive(Serialize)]
struct DocspaceError<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    stack: Option<String>,
    hresult: i32,
}

/// ASP.NET Core's `ValidationProblemDetails`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ValidationProblem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    errors: InOrder<'a>,
    trace_id: String,
}

/// Validation errors keyed by field, serialised in the order they were found.
struct InOrder<'a>(&'a [(String, Vec<String>)]);

impl Serialize for InOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, messages) in self.0 {
            map.serialize_entry(field, messages)?;
        }
        map.end()
    }
}

/// DocSpace success: `{"response":…,"count":1,"links":[{href,action}],"status":0,"statusCode":200}`.
pub(crate) fn docspace_success<T: Serialize>(incoming: &Incoming, response: &T) -> Reply {
    docspace_wrapped(incoming, StatusCode::OK, 0, (1, None), response)
}

/// DocSpace success for a page of a list: `count` is the page's length and `total` what the
/// method counted before paging (`SuccessApiResponse` reads both from what the method set,
/// DS@v3.7.2-server:common/ASC.Api.Core/Middleware/CommonApiResponse.cs:69-143):
/// `{"response":[…],"count":…,"total":…,"links":[…],"status":0,"statusCode":200}`.
pub(crate) fn docspace_list<T: Serialize>(
    incoming: &Incoming,
    count: usize,
    total: usize,
    response: &T,
) -> Reply {
    docspace_wrapped(incoming, StatusCode::OK, 0, (count, Some(total)), response)
}

/// DocSpace model-validation failure: HTTP 400 with the problem inside the success envelope.
pub(crate) fn docspace_validation(incoming: &Incoming, errors: &[(String, Vec<String>)]) -> Reply {
    let problem = ValidationProblem {
        kind: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        title: "One or more validation errors occurred.",
        status: 400,
        errors: InOrder(errors),
        trace_id: trace_id(),
    };
    docspace_wrapped(incoming, StatusCode::BAD_REQUEST, 1, (1, None), &problem)
}

/// The success envelope; `(count, total)` as it reports them (`total` left out when `None`).
fn docspace_wrapped<T: Serialize>(
    incoming: &Incoming,
    status: StatusCode,
    api_status: u8,
    (count, total): (usize, Option<usize>),
    response: &T,
) -> Reply {
    let envelope = DocspaceEnvelope {
        response,
        count,
        total,
        links: [Link {
            href: incoming.display_url(),
            action: incoming.method.as_str().to_owned(),
        }],
        status: api_status,
        status_code: status.as_u16(),
    };
    docspace_json(status, &envelope)
}

/// DocSpace error body, written with the HTTP JSON options (nulls included); `frame` names the
/// controller method for the stack trace.
pub(crate) fn docspace_error(failure: &Failure, frame: &str) -> Reply {
    let stack = (!failure.exception.hides_stack()).then(|| {
        format!(
            "   at {frame}\n   at ASC.Api.Core.Middleware.CommonApiResponse.InvokeAsync(HttpContext context)"
        )
    });
    let envelope = DocspaceErrorEnvelope {
        error: DocspaceError {
            message: &failure.message,
            kind: failure.exception.type_name(),
            stack,
            hresult: failure.exception.hresult(),
        },
        status: 1,
        status_code: failure.status.as_u16(),
    };
    docspace_json(failure.status, &envelope)
}

fn docspace_json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(bytes) => Reply::new(status, DOCSPACE_JSON, bytes),
        Err(error) => serialization_failed(&error),
    }
}

/// DocSpace's authorization challenge: 401, empty body; a rejected cookie is also cleared.
pub(crate) fn docspace_unauthorized(token_presented: bool) -> Reply {
    let reply = Reply::empty(StatusCode::UNAUTHORIZED);
    if token_presented {
        reply.with_header(
            header::SET_COOKIE,
            "asc_auth_key=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; samesite=lax; httponly",
        )
    } else {
        reply
    }
}

/// W3C trace id as ASP.NET Core puts it in problem details.
fn trace_id() -> String {
    let span = Uuid::new_v4().simple().to_string();
    format!("00-{}-{}-00", Uuid::new_v4().simple(), &span[..16])
}

fn serialization_failed(error: &serde_json::Error) -> Reply {
    tracing::error!(%error, "simulator could not serialise a response");
    Reply::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        "simulator serialisation failure",
    )
}

/// `HttpUtility.HtmlEncode`: the five markup characters, plus Latin-1 letters as numeric entities.
pub(crate) fn html_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => encoded.push_str("&amp;"),
            '<' => encoded.push_str("&lt;"),
            '>' => encoded.push_str("&gt;"),
            '"' => encoded.push_str("&quot;"),
            '\'' => encoded.push_str("&#39;"),
            '\u{a0}'..='\u{ff}' => encoded.push_str(&format!("&#{};", u32::from(c))),
            other => encoded.push(other),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_encoding_matches_the_dotnet_encoder() {
        assert_eq!(
            html_encode("Sales & Support <b> \"O'Neil\" José"),
            "Sales &amp; Support &lt;b&gt; &quot;O&#39;Neil&quot; Jos&#233;"
        );
    }

    #[test]
    fn workspace_errors_escape_slashes_and_carry_an_empty_data_object() {
        let reply = workspace_error(&Failure::new(
            StatusCode::NOT_FOUND,
            Exception::ItemNotFound,
            "a/b",
        ));
        assert_eq!(
            reply.body,
            r#"{"status":1,"statusCode":404,"error":{"message":"a\/b","hresult":-2147467259,"data":{}}}"#
        );
    }
}
