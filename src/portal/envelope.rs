//! Reading the portal's answers: both success envelopes, both error bodies,
//! DocSpace's validation failure inside a success envelope, and the non-JSON
//! bodies of 401s and proxies. Produces a user or a typed `PortalError`.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeSeed;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::lower_keys::LowerKeys;
use super::model::{PortalBuild, PortalUser};
use crate::domain::Product;

/// The longest portal message the gateway passes on.
const MAX_MESSAGE_CHARS: usize = 300;
/// Most field errors of a validation failure passed on.
const MAX_FIELD_ERRORS: usize = 10;

/// What went wrong talking to the portal.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The portal answered with an error status (or `status: 1` in its envelope).
    #[error("portal answered HTTP {status}")]
    Status {
        /// The HTTP status, or the envelope's `statusCode` when HTTP said 2xx.
        status: u16,
        /// The portal's own message, when it sent one.
        message: Option<String>,
        /// Field errors from a validation failure, `(field, message)`.
        field_errors: Vec<(String, String)>,
        /// `Retry-After`, when present.
        retry_after: Option<Duration>,
    },
    /// No answer within the configured timeout.
    #[error("portal did not answer in time")]
    Timeout,
    /// `https://` met a server that answers plain HTTP.
    #[error("the portal does not speak TLS on that port")]
    NotTls,
    /// The portal's TLS certificate was not accepted; says why (rustls's
    /// reason, e.g. `UnknownIssuer`, `Expired`, `NotValidForName`).
    #[error("the portal's TLS certificate was not accepted: {0}")]
    Certificate(String),
    /// The portal could not be reached or dropped the connection.
    #[error("portal unreachable: {0}")]
    Unreachable(String),
    /// The answer was not a portal envelope holding a user.
    #[error("portal answer could not be read: {0}")]
    Undecodable(String),
    /// Not sent, or a read given up: the caller stopped waiting first.
    #[error("not sent: {0:?}")]
    Abandoned(crate::domain::Abandoned),
}

/// The wait a 429 without `Retry-After` asks for.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

impl PortalError {
    /// How long the portal asked to be left alone, when it did: any 429 (its
    /// `Retry-After`, else a second), and a 503 that says how long.
    pub fn asks_to_wait(&self) -> Option<Duration> {
        match self {
            PortalError::Status {
                status: 429,
                retry_after,
                ..
            } => Some(retry_after.unwrap_or(DEFAULT_WAIT)),
            PortalError::Status {
                status: 503,
                retry_after: Some(wait),
                ..
            } => Some(*wait),
            _ => None,
        }
    }
}

/// Interprets a finished HTTP exchange.
///
/// The answer is decoded in one pass into typed structs, with object keys
/// lower-cased as they are read ([`LowerKeys`]), so `firstName`,
/// `FirstName` and `firstname` all meet the same field without a copy of
/// the answer or a `serde_json::Value` in between. Only error answers and
/// odd ones take the slower tolerant path through `Value`.
pub fn read_user(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<PortalUser, PortalError> {
    if (200..300).contains(&status)
        && let Some(user) = read_user_directly(body)
    {
        return Ok(user);
    }
    read_user_tolerantly(status, body, retry_after)
}

/// The one-pass path for a well-formed success answer; `None` sends anything
/// else (an error envelope, a repeated key, a wrong type) to the tolerant
/// path, which explains it.
fn read_user_directly(body: &[u8]) -> Option<PortalUser> {
    // One pass: the envelope and the user in it together.
    let envelope = read_in_one_pass(body, PhantomData::<UserEnvelope>)?;
    if envelope.status == Some(1) {
        return None;
    }
    let user = envelope.response?;
    (!user.id.is_empty()).then_some(user)
}

/// A whole answer read by `seed` in one pass, its object keys lower-cased as
/// they are read ([`LowerKeys`]); `None` for anything but one well-formed
/// JSON object that `seed` accepts.
fn read_in_one_pass<T>(
    body: &[u8],
    seed: impl for<'de> DeserializeSeed<'de, Value = T>,
) -> Option<T> {
    // JSON is UTF-8 throughout; serde_json checks that only in the strings
    // it reads, so a broken byte in a skipped field is caught here, as the
    // tolerant path (which reads every string) would.
    let text = std::str::from_utf8(body).ok()?;
    // An envelope is an object; a derived struct would also take a list.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(LowerKeys(&mut reader)).ok()?;
    reader.end().ok()?;
    Some(value)
}

/// A success envelope holding a user, its keys read lower-cased.
#[derive(Deserialize)]
struct UserEnvelope {
    /// 0 on success, 1 on error; anything else is no error.
    #[serde(default, deserialize_with = "integer_or_nothing")]
    status: Option<i64>,
    #[serde(default)]
    response: Option<PortalUser>,
}

/// An integer, or `None` for any other JSON value.
fn integer_or_nothing<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(deserializer)?.as_i64())
}

/// The tolerant path: the whole answer as a `Value` with lower-cased keys.
/// [`read_user`] takes it for error answers and odd ones; public so that tests
/// can hold the two paths to the same result.
pub fn read_user_tolerantly(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<PortalUser, PortalError> {
    let response = read_response(status, body, retry_after)?;
    let user: PortalUser = serde_json::from_value(response)
        .map_err(|error| PortalError::Undecodable(format!("user: {error}")))?;
    if user.id.is_empty() {
        return Err(PortalError::Undecodable("user has no id".into()));
    }
    Ok(user)
}

/// An answer listing users (Workspace's status route), read the tolerant way.
pub fn read_users(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<Vec<PortalUser>, PortalError> {
    let response = read_response(status, body, retry_after)?;
    let users: Vec<PortalUser> = serde_json::from_value(response)
        .map_err(|error| PortalError::Undecodable(format!("users: {error}")))?;
    if users.iter().any(|user| user.id.is_empty()) {
        return Err(PortalError::Undecodable("a user has no id".into()));
    }
    Ok(users)
}

/// A page of the filter route: its users and how many match over all pages.
#[derive(Debug)]
pub struct PortalPage {
    /// The users, in the portal's order.
    pub users: Vec<PortalUser>,
    /// The envelope's `total`, when it has one.
    pub total: Option<u64>,
}

/// Interprets an answer of `GET /people/filter`: at most `max_users` users
/// (a portal that lists more than it was asked for is a bad answer; the
/// one-pass path reads no further than one user past the limit, the
/// tolerant one, for odd answers, reads the body, itself capped) and the
/// envelope's `total`.
pub fn read_page(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    max_users: usize,
) -> Result<PortalPage, PortalError> {
    if (200..300).contains(&status)
        && let Some(page) = read_page_directly(body, max_users)
    {
        return page;
    }
    read_page_tolerantly(status, body, retry_after, max_users)
}

/// The tolerant path of [`read_page`], through `Value`; public so that tests
/// can hold the two paths to the same result.
pub fn read_page_tolerantly(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    max_users: usize,
) -> Result<PortalPage, PortalError> {
    let mut envelope = read_envelope(status, body, retry_after)?;
    let total = envelope.get("total").and_then(Value::as_u64);
    let Some(Value::Array(entries)) = envelope.remove("response") else {
        return Err(PortalError::Undecodable("users: not a list".into()));
    };
    if entries.len() > max_users {
        return Err(too_many(max_users));
    }
    let users: Vec<PortalUser> = serde_json::from_value(Value::Array(entries))
        .map_err(|error| PortalError::Undecodable(format!("users: {error}")))?;
    checked_page(users, total)
}

/// The one-pass path of [`read_page`], keys lower-cased as they are read
/// ([`LowerKeys`]) as for a user; `None` sends the answer to the tolerant
/// path, `Some(Err)` is a well-formed answer that is bad.
fn read_page_directly(body: &[u8], max_users: usize) -> Option<Result<PortalPage, PortalError>> {
    let envelope = read_in_one_pass(body, PageEnvelopeSeed(max_users))?;
    // The whole envelope is read before a listing that ran over is judged:
    // an error envelope is the portal's error, whatever its `response`.
    if envelope.status == Some(1) {
        return None;
    }
    match envelope.response? {
        Listed::Users(users) => Some(checked_page(users, envelope.total)),
        Listed::TooMany => Some(Err(too_many(max_users))),
    }
}

fn checked_page(users: Vec<PortalUser>, total: Option<u64>) -> Result<PortalPage, PortalError> {
    if users.iter().any(|user| user.id.is_empty()) {
        return Err(PortalError::Undecodable("a listed user has no id".into()));
    }
    Ok(PortalPage { users, total })
}

fn too_many(max_users: usize) -> PortalError {
    PortalError::Undecodable(format!(
        "more users than asked for: asked for at most {max_users}"
    ))
}

/// The success envelope of a listing, its keys read lower-cased; every key
/// optional, others ignored, a repeated one an error (as a derived struct).
struct PageEnvelope {
    status: Option<i64>,
    total: Option<u64>,
    response: Option<Listed>,
}

/// The envelope's keys the listing reads.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum PageKey {
    Status,
    Total,
    Response,
    #[serde(other)]
    Other,
}

/// Reads a [`PageEnvelope`] whose `response` holds at most `.0` users.
struct PageEnvelopeSeed(usize);

impl<'de> DeserializeSeed<'de> for PageEnvelopeSeed {
    type Value = PageEnvelope;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<PageEnvelope, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PageEnvelopeSeed {
    type Value = PageEnvelope;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a listing envelope")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PageEnvelope, A::Error> {
        fn first<T, E: serde::de::Error>(slot: &Option<T>) -> Result<(), E> {
            match slot {
                Some(_) => Err(E::custom("a repeated key")),
                None => Ok(()),
            }
        }
        let (mut status, mut total, mut response) = (None, None, None);
        while let Some(key) = map.next_key::<PageKey>()? {
            match key {
                PageKey::Status => {
                    first(&status)?;
                    status = Some(map.next_value::<EnvelopeStatus>()?.0);
                }
                PageKey::Total => {
                    first(&total)?;
                    total = Some(map.next_value::<Option<u64>>()?);
                }
                PageKey::Response => {
                    first(&response)?;
                    response = Some(map.next_value_seed(AtMost(self.0))?);
                }
                PageKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(PageEnvelope {
            status: status.flatten(),
            total: total.flatten(),
            response,
        })
    }
}

/// An envelope's `status`: an integer, or `None` for any other JSON value.
struct EnvelopeStatus(Option<i64>);

impl<'de> Deserialize<'de> for EnvelopeStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        integer_or_nothing(deserializer).map(EnvelopeStatus)
    }
}

/// A listing's `response`: its users, or word that it held more than a page.
enum Listed {
    Users(Vec<PortalUser>),
    TooMany,
}

/// Reads a JSON list of at most `.0` users. Past the limit the rest of the
/// list is skipped, not kept, so a portal cannot make the gateway hold more
/// users than a page; whether that is the answer's error is judged once the
/// whole envelope is read.
struct AtMost(usize);

impl<'de> DeserializeSeed<'de> for AtMost {
    type Value = Listed;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Listed, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AtMost {
    type Value = Listed;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "a list of users")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Listed, A::Error> {
        let mut users = Vec::with_capacity(self.0.min(seq.size_hint().unwrap_or(0)));
        while let Some(user) = seq.next_element::<PortalUser>()? {
            if users.len() == self.0 {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                return Ok(Listed::TooMany);
            }
            users.push(user);
        }
        Ok(Listed::Users(users))
    }
}

/// The `response` of a success envelope, keys lower-cased; the portal's
/// error for anything else.
fn read_response(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<Value, PortalError> {
    read_envelope(status, body, retry_after)?
        .remove("response")
        .ok_or_else(|| PortalError::Undecodable("envelope has no response".into()))
}

/// A success envelope, keys lower-cased; the portal's error for anything else.
fn read_envelope(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<Map<String, Value>, PortalError> {
    let envelope = serde_json::from_slice::<Value>(body)
        .ok()
        .map(lowercase_keys)
        .and_then(|value| match value {
            Value::Object(map) => Some(map),
            _ => None,
        });

    if !(200..300).contains(&status) {
        return Err(error_from(status, envelope.as_ref(), retry_after));
    }
    let Some(envelope) = envelope else {
        return Err(PortalError::Undecodable(
            "success answer is not a JSON object".into(),
        ));
    };
    if envelope.get("status").and_then(Value::as_i64) == Some(1) {
        // DocSpace validation failures come as HTTP 400 too, but be safe when
        // only the envelope says so: its `statusCode` when that is an error
        // status, 400 when absent, and 500 when it names no error (200, 70000).
        let inner_status = match envelope.get("statuscode").map(Value::as_u64) {
            None => 400,
            Some(Some(code @ 400..=599)) => u16::try_from(code).unwrap_or(500),
            Some(_) => 500,
        };
        return Err(error_from(inner_status, Some(&envelope), retry_after));
    }
    Ok(envelope)
}

/// The release DocSpace reports when its deployment does not configure one
/// (DS `web/ASC.Web.Api/Core/BuildVersion.cs`: `version:number ?? "3.1.0"`):
/// it says nothing about the release really running. Workspace's fallback
/// moved with its releases (`module/ASC.Api/ASC.Api.Settings/BuildVersion.cs`:
/// `?? "11.5.0"` at CS@v12.0.1 and v12.1.0, `"12.5.0"` from v12.5.2 to v12.7.0,
/// `"12.7.0"` from v12.7.1), so it names a release no newer than the one
/// running, which is all its rules need: it is taken as reported.
const FALLBACK_VERSIONS: [(Product, &str); 1] = [(Product::Docspace, "3.1.0")];

/// Interprets `GET /settings/version/build`: DocSpace answers `docSpace`,
/// Workspace `communityServer`. A portal error (5xx) is an error; an answer
/// that does not say (4xx, another shape) is `None`.
pub fn read_build(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<Option<PortalBuild>, PortalError> {
    // A failing or busy portal has not said anything yet: ask again later.
    if status >= 500 || status == 429 {
        return Err(error_from(status, None, retry_after));
    }
    if !(200..300).contains(&status) {
        return Ok(None);
    }
    let Some(Value::Object(envelope)) = serde_json::from_slice::<Value>(body)
        .ok()
        .map(lowercase_keys)
    else {
        return Ok(None);
    };
    let Some(Value::Object(build)) = envelope.get("response") else {
        return Ok(None);
    };
    let reported = [
        (Product::Docspace, "docspace"),
        (Product::Workspace, "communityserver"),
    ]
    .into_iter()
    .find_map(|(product, key)| Some((product, build.get(key)?.as_str()?)));
    Ok(reported.map(|(product, text)| {
        let is_fallback = FALLBACK_VERSIONS.contains(&(product, text.trim()));
        PortalBuild {
            product,
            version: (!is_fallback).then(|| text.parse().ok()).flatten(),
        }
    }))
}

fn error_from(
    status: u16,
    envelope: Option<&Map<String, Value>>,
    retry_after: Option<Duration>,
) -> PortalError {
    let (message, field_errors) = envelope.map(describe_error).unwrap_or_default();
    PortalError::Status {
        status,
        message,
        field_errors,
        retry_after,
    }
}

/// Pulls the message out of an error envelope (`error.message`) or a
/// validation problem (`response.title` and `response.errors`).
fn describe_error(envelope: &Map<String, Value>) -> (Option<String>, Vec<(String, String)>) {
    let error_message = envelope
        .get("error")
        .and_then(|error| error.get("message"))
        .and_then(Value::as_str);
    let problem = envelope
        .get("response")
        .filter(|problem| problem.get("errors").is_some() || problem.get("title").is_some());
    let problem_title = problem
        .and_then(|problem| problem.get("title"))
        .and_then(Value::as_str);
    let field_errors = problem
        .and_then(|problem| problem.get("errors"))
        .and_then(Value::as_object)
        .map(|errors| {
            errors
                .iter()
                .flat_map(|(field, messages)| {
                    let messages: Vec<String> = match messages {
                        Value::Array(items) => {
                            items.iter().filter_map(Value::as_str).map(clip).collect()
                        }
                        Value::String(text) => vec![clip(text)],
                        _ => Vec::new(),
                    };
                    messages
                        .into_iter()
                        .map(move |message| (clip(field), message))
                })
                .take(MAX_FIELD_ERRORS)
                .collect()
        })
        .unwrap_or_default();
    let message = error_message.or(problem_title).map(clip);
    (message, field_errors)
}

/// A portal message as it may be passed on: control characters (line breaks,
/// escapes) become spaces, and it is cut to a bounded length.
fn clip(text: &str) -> String {
    text.chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Lower-cases every object key, so reading is case-insensitive like the portal's own binder.
fn lowercase_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key.to_ascii_lowercase(), lowercase_keys(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase_keys).collect()),
        other => other,
    }
}

/// Whether a success envelope carries DocSpace's `links` (Workspace never sends it).
pub fn has_links(body: &[u8]) -> bool {
    serde_json::from_slice::<Map<String, Value>>(body)
        .is_ok_and(|envelope| envelope.keys().any(|key| key.eq_ignore_ascii_case("links")))
}

/// Parses `Retry-After` given in seconds (an HTTP date is ignored: the
/// portal's rate limiter sends seconds).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::dates::ApiDateTime;

    #[test]
    fn flags_numbers_and_dates_take_each_spelling_on_both_paths() {
        let body =
            br#"{"status":0,"response":{"id":"x","isAdmin":null,"isOwner":"false","isLDAP":true,
            "quotaLimit":"12.5","usedSpace":3,"docsSpace":null,
            "birthday":{"UtcTime":"1985-04-10T00:00:00.0000000Z","TimeZoneOffset":"03:00:00"},
            "workFrom":"2015-09-01T03:00:00.0000000+03:00","terminated":null}}"#;
        let direct = read_user_directly(body).expect("read in one pass");
        let tolerant = read_user_tolerantly(200, body, None).expect("read tolerantly");
        assert_eq!(direct, tolerant);
        assert_eq!(
            (direct.isadmin, direct.isowner, direct.isldap),
            (None, Some(false), Some(true))
        );
        assert_eq!(
            (direct.quotalimit, direct.usedspace, direct.docsspace),
            (Some(12.5), Some(3.0), None)
        );
        assert_eq!(
            direct.birthday,
            Some(ApiDateTime::Object {
                utctime: "1985-04-10T00:00:00.0000000Z".into(),
                timezoneoffset: Some("03:00:00".into()),
            })
        );
        assert_eq!(
            direct.workfrom,
            Some(ApiDateTime::Text(
                "2015-09-01T03:00:00.0000000+03:00".into()
            ))
        );
        assert_eq!(direct.terminated, None);
    }

    #[test]
    fn flags_numbers_and_dates_of_another_type_are_refused_on_both_paths() {
        for wrong in [
            r#""isAdmin":1"#,
            r#""isAdmin":"yes""#,
            r#""quotaLimit":true"#,
            r#""quotaLimit":"lots""#,
            r#""birthday":19850410"#,
            r#""birthday":{"timeZoneOffset":"03:00:00"}"#,
        ] {
            let body = format!(r#"{{"status":0,"response":{{"id":"x",{wrong}}}}}"#);
            assert!(read_user_directly(body.as_bytes()).is_none(), "{wrong}");
            assert!(
                read_user_tolerantly(200, body.as_bytes(), None).is_err(),
                "{wrong}"
            );
            assert!(read_user(200, body.as_bytes(), None).is_err(), "{wrong}");
        }
    }

    const ONE: &str = r#"{"id":"00000000-0000-0000-0000-000000000001","firstName":"Ann"}"#;
    const TWO: &str = r#"{"id":"00000000-0000-0000-0000-000000000002","firstName":"Bob"}"#;

    #[test]
    fn a_page_of_either_product_is_read_with_its_total() {
        let workspace = format!(
            r#"{{"count":2,"startIndex":4,"total":9,"status":0,"statusCode":200,"response":[{ONE},{TWO}]}}"#
        );
        let docspace = format!(
            r#"{{"response":[{ONE},{TWO}],"count":2,"total":9,"links":[{{"href":"x","action":"GET"}}],"status":0,"statusCode":200}}"#
        );
        for body in [workspace, docspace] {
            let page = read_page(200, body.as_bytes(), None, 2).unwrap();
            assert_eq!(page.total, Some(9));
            let names: Vec<_> = page.users.iter().map(|u| u.firstname.clone()).collect();
            assert_eq!(names, [Some("Ann".to_owned()), Some("Bob".to_owned())]);
        }
        let without_total = format!(r#"{{"status":0,"response":[{ONE}]}}"#);
        let page = read_page(200, without_total.as_bytes(), None, 2).unwrap();
        assert_eq!((page.users.len(), page.total), (1, None));
    }

    #[test]
    fn a_page_holding_more_users_than_asked_for_is_a_bad_answer_on_either_path() {
        let body = format!(r#"{{"total":9,"response":[{ONE},{TWO},{ONE}]}}"#);
        assert!(matches!(
            read_page(200, body.as_bytes(), None, 2),
            Err(PortalError::Undecodable(message)) if message.contains("more users than asked")
        ));
        // A repeated key sends the answer down the tolerant path.
        let repeated = format!(r#"{{"total":9,"total":9,"response":[{ONE},{TWO},{ONE}]}}"#);
        assert!(read_page_directly(repeated.as_bytes(), 2).is_none());
        assert!(matches!(
            read_page(200, repeated.as_bytes(), None, 2),
            Err(PortalError::Undecodable(message)) if message.contains("more users than asked")
        ));
    }

    #[test]
    fn the_fast_and_the_tolerant_path_read_the_same_page() {
        let body = format!(
            r#"{{"Status":0,"TOTAL":9,"links":[{{"Href":"x"}}],"Response":[{ONE},{{"ID":"00000000-0000-0000-0000-000000000002","first\u004eame":"Bob","Contacts":[{{"Type":"mail","Value":"b@x"}}]}}]}}"#
        );
        // Read in one pass, escaped key and all.
        assert!(read_page_directly(body.as_bytes(), 2).is_some_and(|page| page.is_ok()));
        let fast = read_page(200, body.as_bytes(), None, 2).unwrap();
        let tolerant = read_page_tolerantly(200, body.as_bytes(), None, 2).unwrap();
        assert_eq!((fast.total, &fast.users), (tolerant.total, &tolerant.users));
        assert_eq!(fast.total, Some(9));
        assert_eq!(fast.users[1].firstname.as_deref(), Some("Bob"));
        assert_eq!(
            fast.users[1].contacts.as_ref().unwrap()[0].value.as_deref(),
            Some("b@x")
        );
    }

    #[test]
    fn an_error_envelope_is_the_portal_error_however_long_its_list() {
        // Judged once the whole envelope is read, `status` before or after.
        for body in [
            format!(
                r#"{{"status":1,"statusCode":403,"error":{{"message":"no"}},"response":[{ONE},{TWO},{ONE}]}}"#
            ),
            format!(
                r#"{{"response":[{ONE},{TWO},{ONE}],"error":{{"message":"no"}},"statusCode":403,"status":1}}"#
            ),
        ] {
            assert!(
                matches!(
                    read_page(200, body.as_bytes(), None, 2),
                    Err(PortalError::Status { status: 403, .. })
                ),
                "{body}"
            );
        }
        // A repeated list is the tolerant path's to read: the last one counts.
        let repeated = format!(r#"{{"response":[{ONE},{TWO},{ONE}],"response":[{TWO}]}}"#);
        assert_eq!(
            read_page(200, repeated.as_bytes(), None, 2)
                .unwrap()
                .users
                .len(),
            1
        );
    }

    #[test]
    fn a_listing_error_is_the_portal_status() {
        let denied = br#"{"error":{"message":"Access denied"},"status":1,"statusCode":403}"#;
        assert!(matches!(
            read_page(403, denied, None, 10),
            Err(PortalError::Status { status: 403, .. })
        ));
        let not_a_list = br#"{"status":0,"response":{"id":"x"}}"#;
        assert!(matches!(
            read_page(200, not_a_list, None, 10),
            Err(PortalError::Undecodable(_))
        ));
        let nameless = br#"{"status":0,"response":[{"firstName":"Ann"}]}"#;
        assert!(matches!(
            read_page(200, nameless, None, 10),
            Err(PortalError::Undecodable(_))
        ));
    }

    #[test]
    fn the_portal_asks_to_wait_with_429_and_with_503_that_says_how_long() {
        let status = |status, retry_after| PortalError::Status {
            status,
            message: None,
            field_errors: Vec::new(),
            retry_after,
        };
        let two = Some(Duration::from_secs(2));
        assert_eq!(status(429, two).asks_to_wait(), two);
        assert_eq!(status(429, None).asks_to_wait(), Some(DEFAULT_WAIT));
        assert_eq!(status(503, two).asks_to_wait(), two);
        assert_eq!(status(503, None).asks_to_wait(), None);
        assert_eq!(status(500, two).asks_to_wait(), None);
        assert_eq!(PortalError::Timeout.asks_to_wait(), None);
    }

    fn status_of(error: PortalError) -> (u16, Option<String>, Vec<(String, String)>) {
        match error {
            PortalError::Status {
                status,
                message,
                field_errors,
                ..
            } => (status, message, field_errors),
            other => panic!("expected a status error, got {other:?}"),
        }
    }

    #[test]
    fn reads_workspace_envelope_with_escaped_slashes() {
        let body = br#"{"count":1,"status":0,"statusCode":200,"response":{"id":"abc","profileUrl":"http:\/\/portal\/x"}}"#;
        let user = read_user(200, body, None).unwrap();
        assert_eq!(user.profileurl.as_deref(), Some("http://portal/x"));
    }

    #[test]
    fn reads_docspace_envelope_and_pascal_case_keys() {
        let body = br#"{"response":{"Id":"abc","FirstName":"Mike"},"count":1,"links":[],"status":0,"statusCode":200}"#;
        let user = read_user(200, body, None).unwrap();
        assert_eq!(user.firstname.as_deref(), Some("Mike"));
    }

    #[test]
    fn docspace_validation_problem_in_success_envelope_is_an_error_with_fields() {
        let body = br#"{"response":{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"Email":["The Email field is not a valid e-mail address."]}},"count":1,"status":1,"statusCode":400}"#;
        let (status, message, fields) = status_of(read_user(400, body, None).unwrap_err());
        assert_eq!(status, 400);
        assert_eq!(
            message.as_deref(),
            Some("One or more validation errors occurred.")
        );
        assert_eq!(fields[0].0, "email");
        assert!(fields[0].1.contains("not a valid e-mail"));
    }

    #[test]
    fn error_envelopes_of_both_products_yield_their_message() {
        let workspace = br#"{"status":1,"statusCode":404,"error":{"message":"user not found","hresult":-2147467259,"data":{}}}"#;
        let (status, message, _) = status_of(read_user(404, workspace, None).unwrap_err());
        assert_eq!((status, message.as_deref()), (404, Some("user not found")));
        let docspace = br#"{"error":{"message":"Access denied","type":null,"stack":null,"hresult":0},"status":1,"statusCode":403}"#;
        let (status, message, _) = status_of(read_user(403, docspace, None).unwrap_err());
        assert_eq!((status, message.as_deref()), (403, Some("Access denied")));
    }

    #[test]
    fn error_envelopes_in_a_success_answer_map_their_status_code() {
        let cases: [(&[u8], u16); 4] = [
            (
                br#"{"status":1,"statusCode":403,"error":{"message":"x"}}"#,
                403,
            ),
            (
                br#"{"status":1,"statusCode":70000,"error":{"message":"x"}}"#,
                500,
            ),
            (
                br#"{"status":1,"statusCode":200,"error":{"message":"x"}}"#,
                500,
            ),
            (br#"{"status":1,"error":{"message":"x"}}"#, 400),
        ];
        for (body, expected) in cases {
            let (status, _, _) = status_of(read_user(200, body, None).unwrap_err());
            assert_eq!(status, expected, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn portal_messages_lose_control_characters_and_length() {
        let long = "x".repeat(5000);
        let body = format!(
            r#"{{"status":1,"statusCode":404,"error":{{"message":"line\r\nX-Injected: 1\u001b[31m{long}"}}}}"#
        );
        let (_, message, _) = status_of(read_user(404, body.as_bytes(), None).unwrap_err());
        let message = message.unwrap();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.starts_with("line  X-Injected: 1 [31m"));
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn non_json_error_bodies_fall_back_to_the_status() {
        let (status, message, _) = status_of(read_user(401, b"Unauthorized", None).unwrap_err());
        assert_eq!((status, message), (401, None));
        let (status, message, _) =
            status_of(read_user(502, b"<html>Bad Gateway</html>", None).unwrap_err());
        assert_eq!((status, message), (502, None));
    }

    #[test]
    fn links_tell_docspace_envelopes_apart() {
        assert!(has_links(
            br#"{"response":{"id":"a"},"count":1,"links":[{"href":"x","action":"GET"}],"status":0}"#
        ));
        assert!(!has_links(
            br#"{"count":1,"status":0,"statusCode":200,"response":{"id":"a"}}"#
        ));
    }

    #[test]
    fn build_answers_tell_product_and_release() {
        use crate::domain::PortalVersion;
        let docspace = br#"{"response":{"docSpace":"3.6.1.1234","documentServer":"8.3"},"count":1,"links":[],"status":0,"statusCode":200}"#;
        assert_eq!(
            read_build(200, docspace, None).unwrap(),
            Some(PortalBuild {
                product: Product::Docspace,
                version: Some(PortalVersion::new(3, 6, 1)),
            })
        );
        let workspace =
            br#"{"count":1,"status":0,"statusCode":200,"response":{"communityServer":"12.7.0"}}"#;
        assert_eq!(
            read_build(200, workspace, None).unwrap(),
            Some(PortalBuild {
                product: Product::Workspace,
                version: Some(PortalVersion::new(12, 7, 0)),
            })
        );
        let fallback = br#"{"response":{"docSpace":"3.1.0"},"status":0}"#;
        assert_eq!(
            read_build(200, fallback, None)
                .unwrap()
                .map(|build| build.version),
            Some(None)
        );
        assert_eq!(read_build(404, b"", None).unwrap(), None);
        assert_eq!(read_build(200, b"<html>", None).unwrap(), None);
        assert!(read_build(503, b"", None).is_err());
        assert!(
            read_build(429, b"", None).is_err(),
            "a rate-limited answer is not an answer"
        );
    }

    #[test]
    fn a_broken_utf8_byte_in_a_skipped_field_fails_both_paths_alike() {
        // DocSpace's `links`, outside `response`, are never read.
        let mut body = br#"{"response":{"id":"0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01"},"links":[{"href":"ab"}],"status":0,"statusCode":200}"#.to_vec();
        let at = body.windows(2).position(|pair| pair == b"ab").unwrap();
        body[at] = 0x80;
        assert!(read_user(200, &body, None).is_err());
        assert!(read_user_tolerantly(200, &body, None).is_err());
    }

    #[test]
    fn the_fast_and_the_tolerant_path_read_the_same_user() {
        let body = br#"{"count":1,"status":0,"statusCode":200,"response":{"id":"a","FirstName":"Mike","email":null,"contacts":[{"Type":"mail","value":"m@x"}],"isVisitor":"True","groups":[{"id":"g","Name":"G"}]}}"#;
        let fast = read_user(200, body, None).unwrap();
        let tolerant = read_user_tolerantly(200, body, None).unwrap();
        assert_eq!(fast, tolerant);
        assert_eq!(fast.firstname.as_deref(), Some("Mike"));
        assert_eq!(fast.email, Some(None));
        assert_eq!(
            fast.contacts.as_ref().unwrap()[0].r#type.as_deref(),
            Some("mail")
        );
        // An escaped key takes the tolerant path and still reads right.
        let escaped = br#"{"status":0,"response":{"id":"a","first\u004eame":"Mike"}}"#;
        assert_eq!(
            read_user(200, escaped, None).unwrap().firstname.as_deref(),
            Some("Mike")
        );
    }

    #[test]
    fn success_without_a_user_is_undecodable() {
        assert!(matches!(
            read_user(200, b"{\"status\":0", None),
            Err(PortalError::Undecodable(_))
        ));
        assert!(matches!(
            read_user(200, br#"{"status":0,"response":{}}"#, None),
            Err(PortalError::Undecodable(_))
        ));
    }
}
