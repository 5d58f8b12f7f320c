//! Workspace's argument binder: the query string plus one body source (JSON flattened the way
//! its JSON-to-XML step does, or a form) become a case-insensitive name/value collection, and
//! parameters are converted from it the way `TypeDescriptor` converters do.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use url::form_urlencoded;
use uuid::Uuid;

use super::{
    dates::parse_api_datetime,
    state::parse_guid,
    wire::{Exception, Failure, Incoming},
};

/// .NET's message for a string `new Guid(…)` cannot read.
pub(crate) const GUID_FORMAT_MESSAGE: &str =
    "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).";
const BOOLEAN_FORMAT_MESSAGE: &str = "String was not recognized as a valid Boolean.";

/// The bound request parameters.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Gathers the query string and the body; malformed JSON is a 400.
    pub(crate) fn bind(incoming: &Incoming) -> Result<Args, Failure> {
        let mut args = Args::default();
        if let Some(query) = &incoming.query {
            args.pairs.extend(
                form_urlencoded::parse(query.as_bytes())
                    .map(|(name, value)| (name.into_owned(), value.into_owned())),
            );
        }
        match incoming.media_type().as_deref() {
            Some("application/json") => args.add_json(&incoming.body)?,
            Some("application/x-www-form-urlencoded") if incoming.method != Method::GET => {
                args.pairs.extend(
                    form_urlencoded::parse(&incoming.body)
                        .map(|(name, value)| (name.into_owned(), value.into_owned())),
                );
            }
            // why: any other media type falls through to `Request.Form`, which is empty for it.
            _ => {}
        }
        Ok(args)
    }

    fn add_json(&mut self, body: &[u8]) -> Result<(), Failure> {
        // why: the builder only reads a body that has content.
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body).map_err(|error| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                Exception::Argument,
                json_reader_message(body, &error),
            )
        })?;
        let Value::Object(object) = value else {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                Exception::Argument,
                "XmlNodeConverter can only convert JSON that begins with an object.",
            ));
        };
        for (name, value) in &object {
            match value {
                // why: Json.NET's JSON-to-XML step drops an empty array, so `[]`
                // binds nothing, exactly like a missing key.
                Value::Array(items) => {
                    let mut index = 0;
                    for item in items {
                        match item {
                            Value::Object(inner) => {
                                self.add_nested(&format!("{name}[{index}]"), inner);
                                index += 1;
                            }
                            // why: nested arrays bind to nothing the People methods take.
                            Value::Array(_) => {}
                            scalar => self.pairs.push((name.clone(), scalar_text(scalar))),
                        }
                    }
                }
                // why: one object converts to the same XML as a one-element array of it.
                Value::Object(inner) => self.add_nested(&format!("{name}[0]"), inner),
                scalar => self.pairs.push((name.clone(), scalar_text(scalar))),
            }
        }
        Ok(())
    }

    fn add_nested(&mut self, prefix: &str, object: &Map<String, Value>) {
        for (name, value) in object {
            let key = format!("{prefix}[{name}]");
            match value {
                Value::Object(inner) => self.add_nested(&key, inner),
                Value::Array(items) => {
                    for item in items
                        .iter()
                        .filter(|item| !item.is_object() && !item.is_array())
                    {
                        self.pairs.push((key.clone(), scalar_text(item)));
                    }
                }
                scalar => self.pairs.push((key, scalar_text(scalar))),
            }
        }
    }

    /// A string parameter; JSON `null` arrives as `""`.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }

    /// A non-nullable `bool`: missing is `false`, anything `bool.Parse` rejects (even `""`) is a 400.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, Failure> {
        match self.text(name) {
            None => Ok(false),
            Some(text) => parse_bool(&text),
        }
    }

    /// A `bool?`: missing or `""` is `None`.
    pub(crate) fn optional_flag(&self, name: &str) -> Result<Option<bool>, Failure> {
        match self.text(name) {
            Some(text) if !text.trim().is_empty() => parse_bool(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// A `Guid?`: missing or `""` is `None`.
    pub(crate) fn guid(&self, name: &str) -> Result<Option<Uuid>, Failure> {
        match self.text(name) {
            Some(text) if !text.trim().is_empty() => parse_guid(&text)
                .map(Some)
                .ok_or_else(|| conversion_failure(GUID_FORMAT_MESSAGE)),
            _ => Ok(None),
        }
    }

    /// A `Guid[]` from `name`, `name[]` or `name[N]` keys; `None` when the name is absent.
    pub(crate) fn guids(&self, name: &str) -> Result<Option<Vec<Uuid>>, Failure> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(key, _)| is_list_key(key, name))
            .map(|(_, value)| value.as_str())
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        values
            .into_iter()
            .map(|value| parse_guid(value).ok_or_else(|| conversion_failure(GUID_FORMAT_MESSAGE)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An `ApiDateTime`, as a UTC instant.
    pub(crate) fn date(&self, name: &str) -> Result<Option<DateTime<Utc>>, Failure> {
        match self.text(name) {
            None => Ok(None),
            Some(text) => parse_api_datetime(&text)
                .map(Some)
                .map_err(conversion_failure),
        }
    }

    /// An `IEnumerable<Contact>` from `name[i][Type]`/`name[i][Value]` keys (the binder also
    /// tries `type`/`value`, not other casings); `None` when nothing was bound.
    pub(crate) fn contacts(&self, name: &str) -> Option<Vec<(String, String)>> {
        let mut entries: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        for (key, value) in &self.pairs {
            let Some((index, property)) = indexed_property(key, name) else {
                continue;
            };
            let entry = entries.entry(index).or_default();
            match property {
                "Type" | "type" => {
                    entry.0.get_or_insert_with(|| value.clone());
                }
                "Value" | "value" => {
                    entry.1.get_or_insert_with(|| value.clone());
                }
                _ => {}
            }
        }
        if entries.is_empty() {
            return None;
        }
        // why: the collection binder walks indices from 0 and stops at the first gap.
        let mut contacts = Vec::new();
        while let Some((kind, value)) = entries.remove(&contacts.len()) {
            contacts.push((kind.unwrap_or_default(), value.unwrap_or_default()));
        }
        Some(contacts)
    }
}

fn parse_bool(text: &str) -> Result<bool, Failure> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(conversion_failure(BOOLEAN_FORMAT_MESSAGE)),
    }
}

/// A failed parameter conversion: 400, reported with the innermost exception's message.
fn conversion_failure(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, Exception::Format, message)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => read_as_date(text).unwrap_or_else(|| text.clone()),
        other => other.to_string(),
    }
}

/// The JSON-to-XML step runs Json.NET 13.0.1 with its default date handling
/// (CS@7c503dfb5:module/ASC.Api/ASC.Api/Impl/ApiArgumentBuilder.cs:192): a string that
/// is wholly `yyyy-MM-ddTHH:mm:ss[.f…][Z|±hh:mm]` becomes a date and is written back by
/// `XmlConvert` (Json.NET Converters/XmlNodeConverter.cs:1773-1788): the fraction without
/// trailing zeros, `Z` kept, an offset moved to the server's zone (UTC here).
fn read_as_date(text: &str) -> Option<String> {
    // why: `/Date(ms)/` is milliseconds since 1970, written back in UTC
    // (Json.NET Src/Newtonsoft.Json/Utilities/DateTimeUtils.cs:492-547).
    if let Some(millis) = text
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
        .and_then(|millis| millis.parse::<i64>().ok())
    {
        let instant = DateTime::from_timestamp_millis(millis)?.naive_utc();
        return Some(format!("{}Z", instant.format("%Y-%m-%dT%H:%M:%S%.f")));
    }
    let shaped = (19..=40).contains(&text.len())
        && text.as_bytes().get(10) == Some(&b'T')
        && text.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !shaped {
        return None;
    }
    let fraction = |time: &chrono::NaiveDateTime| {
        let nanos = chrono::Timelike::nanosecond(time) / 100;
        if nanos == 0 {
            String::new()
        } else {
            format!(".{nanos:07}").trim_end_matches('0').to_owned()
        }
    };
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        let utc = instant.naive_utc();
        let zone = if text.ends_with(['Z', 'z']) {
            "Z"
        } else {
            "+00:00"
        };
        return Some(format!(
            "{}{}{zone}",
            utc.format("%Y-%m-%dT%H:%M:%S"),
            fraction(&utc)
        ));
    }
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(format!(
        "{}{}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        fraction(&local)
    ))
}

/// `name`, `name[]` or `name[N]`, the name compared case-insensitively.
fn is_list_key(key: &str, name: &str) -> bool {
    let Some(head) = key.get(..name.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(name) {
        return false;
    }
    let tail = &key[name.len()..];
    tail.is_empty()
        || tail
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|inside| inside.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits `name[3][Type]` into `(3, "Type")`.
fn indexed_property<'k>(key: &'k str, name: &str) -> Option<(usize, &'k str)> {
    let head = key.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = key.get(name.len()..)?.strip_prefix('[')?;
    let (index, rest) = rest.split_once(']')?;
    let property = rest.strip_prefix('[')?.strip_suffix(']')?;
    Some((index.parse().ok()?, property))
}

/// A Json.NET reader error message for the place serde stopped at.
fn json_reader_message(body: &[u8], error: &serde_json::Error) -> String {
    let (line, column) = (error.line(), error.column());
    if error.is_eof() {
        return format!(
            "Unexpected end when reading JSON. Path '', line {line}, position {column}."
        );
    }
    let text = String::from_utf8_lossy(body);
    let found = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|row| row.chars().nth(column.saturating_sub(1)))
        .map_or_else(String::new, |c| format!(": {c}"));
    format!(
        "Unexpected character encountered while parsing value{found}. Path '', line {line}, position {column}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, header};

    fn bind(content_type: &str, body: &str) -> Result<Args, Failure> {
        let request = Request::builder()
            .method(Method::PUT)
            .uri("/api/2.0/people/x")
            .header(header::CONTENT_TYPE, content_type)
            .body(())
            .map_err(|_| Failure::new(StatusCode::OK, Exception::Plain, "builder"))?;
        let (parts, ()) = request.into_parts();
        Args::bind(&Incoming::new(&parts, body.to_owned().into(), "localhost"))
    }

    #[test]
    fn json_names_are_case_insensitive_and_null_is_empty() {
        let args = bind("application/json", r#"{"FirstName":"A","lastname":null}"#);
        let args = args.ok();
        assert_eq!(
            args.as_ref().and_then(|a| a.text("firstname")),
            Some("A".into())
        );
        assert_eq!(args.and_then(|a| a.text("lastName")), Some(String::new()));
    }

    #[test]
    fn contacts_accept_type_and_value_in_two_casings_only() {
        let body = r#"{"contacts":[{"Type":"mail","value":"a@b"},{"TYPE":"x","Value":"y"}]}"#;
        let contacts = bind("application/json", body)
            .ok()
            .and_then(|a| a.contacts("contacts"));
        assert_eq!(
            contacts,
            Some(vec![
                ("mail".into(), "a@b".into()),
                (String::new(), "y".into())
            ])
        );
    }

    #[test]
    fn form_bodies_bind_indexed_contacts_and_repeated_departments() {
        let id = "6174c082-e4a5-4091-b2b3-c4d5e6f70807";
        let body = format!("contacts[0][Type]=GTalk&contacts[0][Value]=x&department[]={id}");
        let args = bind("application/x-www-form-urlencoded", &body).ok();
        assert_eq!(
            args.as_ref().and_then(|a| a.contacts("contacts")),
            Some(vec![("GTalk".into(), "x".into())])
        );
        let departments = args.and_then(|a| a.guids("department").ok().flatten());
        assert_eq!(departments, Uuid::try_parse(id).ok().map(|id| vec![id]));
    }

    #[test]
    fn other_json_media_types_bind_nothing() {
        let args = bind("text/json", r#"{"firstname":"A"}"#).ok();
        assert_eq!(args.and_then(|a| a.text("firstname")), None);
    }

    #[test]
    fn a_non_nullable_bool_rejects_an_empty_string_but_a_nullable_one_does_not() {
        let args = bind("application/json", r#"{"isVisitor":null,"disable":null}"#).ok();
        assert!(args.as_ref().is_some_and(|a| a.flag("isVisitor").is_err()));
        assert_eq!(args.map(|a| a.optional_flag("disable")), Some(Ok(None)));
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let failure = bind("application/json", "{\"firstname\":").err();
        assert_eq!(failure.map(|f| f.status), Some(StatusCode::BAD_REQUEST));
    }
}
