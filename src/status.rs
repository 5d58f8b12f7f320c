//! The one table that turns each [`GatewayError`] into a gRPC status with
//! `google.rpc` details (ErrorInfo always; BadRequest, PreconditionFailure and
//! RetryInfo where they apply). The README shows the same table.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::RefusalKind;
use crate::domain::{Abandoned, Field, FieldSet};
use prost::Message as _;

use crate::error::{GatewayError, IgnoredChange};
use crate::mapping::user_to_pb;
use crate::pb;
use crate::portal::PortalError;

/// The longest wait passed on to callers as RetryInfo.
pub const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(300);

/// `ErrorInfo.domain` of every error the gateway sends.
pub const ERROR_DOMAIN: &str = "people-gateway";

/// How a refusal travels: a caller lacking a right gets PERMISSION_DENIED,
/// a call the portal cannot honour in this state FAILED_PRECONDITION; the
/// `ErrorInfo.reason` names the rule (and, for hidden lists, the list).
pub fn refusal_status(kind: RefusalKind, fields: FieldSet) -> (Code, &'static str) {
    use RefusalKind as K;
    let code = match kind {
        K::SelfOnly | K::OthersOnly | K::AdminOnly => Code::PermissionDenied,
        K::Unsupported
        | K::DirectoryManaged
        | K::PrivilegedCannotBecomeGuest
        | K::PrivilegedStatusIgnored
        | K::DateNotClearable
        | K::NotVisible
        | K::RequiredOnOwnProfile
        | K::ReadAsDate => Code::FailedPrecondition,
    };
    let reason = match kind {
        K::Unsupported => "FIELD_NOT_SUPPORTED_BY_PRODUCT",
        K::SelfOnly => "PROFILE_FIELDS_SELF_ONLY",
        K::OthersOnly => "OWN_STATUS_NOT_CHANGEABLE",
        K::AdminOnly => "ADMIN_ONLY_FIELDS",
        K::DirectoryManaged => "FIELDS_MANAGED_BY_DIRECTORY",
        K::PrivilegedCannotBecomeGuest => "ADMIN_CANNOT_BECOME_GUEST",
        K::PrivilegedStatusIgnored => "PRIVILEGED_USER_STATUS_NOT_CHANGEABLE",
        K::DateNotClearable => "DATE_NOT_CLEARABLE",
        K::NotVisible if fields.contains(Field::DepartmentIds) => "DEPARTMENTS_NOT_VISIBLE",
        K::NotVisible => "CONTACTS_NOT_VISIBLE",
        K::RequiredOnOwnProfile => "SPAM_REQUIRED",
        K::ReadAsDate => "TEXT_READ_AS_DATE",
    };
    (code, reason)
}

/// The canonical name of a gRPC code, as `google/rpc/code.proto` spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Workspace's `ErrorIncorrectUserName` (CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeApi.cs:760-761,
/// English resource `web/studio/ASC.Web.Studio/PublicResources/Resource.resx:1565-1566`).
const INCORRECT_NAME: &str = "Incorrect firstname or lastname";

/// Workspace's `TenantQuotaException`s a user update can raise (EmployeeApi.cs:824 and
/// `common/ASC.Core.Common/Context/Impl/UserManager.cs`); not localised.
const QUOTA_MESSAGES: [&str; 3] = [
    "Exceeds the maximum active users",
    "Maximum number of users exceeded",
    "Maximum number of visitors exceeded",
];

/// How one portal HTTP status (and, for Workspace's catch-all 500, its
/// message) maps to gRPC: the code and the ErrorInfo reason.
pub fn portal_status_code(status: u16, message: Option<&str>) -> (Code, &'static str) {
    let says = |needle: &str| says(message, needle);
    match status {
        400 => (Code::InvalidArgument, "PORTAL_INVALID_ARGUMENT"),
        401 => (Code::Unauthenticated, "PORTAL_UNAUTHENTICATED"),
        402 => (Code::FailedPrecondition, "PORTAL_PAYMENT_REQUIRED"),
        403 => (Code::PermissionDenied, "PORTAL_PERMISSION_DENIED"),
        404 => (Code::NotFound, "PORTAL_NOT_FOUND"),
        408 | 504 => (Code::DeadlineExceeded, "PORTAL_TIMEOUT"),
        409 => (Code::Aborted, "PORTAL_CONFLICT"),
        // The gateway sends JSON only; a 415 is the gateway's fault, not the caller's.
        415 => (Code::Internal, "PORTAL_UNSUPPORTED_MEDIA_TYPE"),
        429 => (Code::ResourceExhausted, "PORTAL_RATE_LIMITED"),
        // The API never redirects; a redirect means a wrong URL or a login page.
        300..=399 => (Code::FailedPrecondition, "PORTAL_REDIRECTED"),
        // Workspace answers 500 for every exception it does not map: permission
        // denials, suspended users, names its rules refuse, and quota limits.
        500 if says("access denied") => (Code::PermissionDenied, "PORTAL_PERMISSION_DENIED"),
        500 if says("the user is suspended") => (Code::FailedPrecondition, "PORTAL_USER_SUSPENDED"),
        500 if names_refused(status, message) => (Code::InvalidArgument, "PORTAL_INVALID_NAME"),
        500 if QUOTA_MESSAGES.iter().any(|message| says(message)) => {
            (Code::FailedPrecondition, "PORTAL_QUOTA_EXCEEDED")
        }
        501 => (Code::Unimplemented, "PORTAL_UNIMPLEMENTED"),
        502 | 503 => (Code::Unavailable, "PORTAL_UNAVAILABLE"),
        other if (400..500).contains(&other) => (Code::FailedPrecondition, "PORTAL_REJECTED"),
        _ => (Code::Internal, "PORTAL_ERROR"),
    }
}

/// Whether the portal's message contains `needle`, whatever its case.
fn says(message: Option<&str>, needle: &str) -> bool {
    message.is_some_and(|text| {
        text.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    })
}

/// Workspace's answer when its name rules refuse the first or last name.
fn names_refused(status: u16, message: Option<&str>) -> bool {
    status == 500 && says(message, INCORRECT_NAME)
}

/// Maps a DocSpace validation key (`Email`, `$.disable`) to the contract's field name.
fn contract_field(portal_field: &str) -> String {
    let key = portal_field.trim_start_matches("$.").to_ascii_lowercase();
    let field = match key.as_str() {
        "firstname" => "first_name",
        "lastname" => "last_name",
        "department" => "department_ids",
        "files" => "avatar_url",
        "isuser" | "isvisitor" => "is_guest",
        "disable" => "disabled",
        "lead" => "lead_id",
        "worksfrom" => "works_from",
        other => return other.to_owned(),
    };
    field.to_owned()
}

/// Whether `status` is tonic's refusal of a message over
/// `max_decoding_message_size` (OUT_OF_RANGE), which the contract answers
/// RESOURCE_EXHAUSTED [`GatewayError::MessageTooLarge`] instead.
pub fn is_oversized_message(status: &Status) -> bool {
    status.code() == Code::OutOfRange
        && status
            .message()
            .starts_with("Error, decoded message length too large")
}

/// Whether `status` is tonic's INTERNAL for a request frame it cannot read
/// (a compression flag other than 0 or 1): the caller's malformed request,
/// answered INVALID_ARGUMENT instead.
pub fn is_malformed_frame(status: &Status) -> bool {
    status.code() == Code::Internal
        && status
            .message()
            .starts_with("protocol error: received message with invalid compression flag")
}

impl From<GatewayError> for Status {
    /// The one translation of an error into what the caller hears: code,
    /// message, `ErrorInfo` (reason and metadata) and the other details.
    fn from(error: GatewayError) -> Status {
        let mut details = ErrorDetails::new();
        let mut metadata = HashMap::new();
        let mut held_user = None;
        let said = error.to_string();
        let (code, reason, message) = match error {
            GatewayError::InvalidArgument(violations) => {
                for violation in violations {
                    details.add_bad_request_violation(violation.field, violation.description);
                }
                (Code::InvalidArgument, "INVALID_REQUEST", said)
            }
            GatewayError::MissingCredentials => {
                (Code::Unauthenticated, "MISSING_CREDENTIALS", said)
            }
            GatewayError::MalformedCredentials(_) => {
                (Code::Unauthenticated, "MALFORMED_CREDENTIALS", said)
            }
            GatewayError::Refused(refusal) => {
                let (code, reason) = refusal_status(refusal.kind, refusal.fields);
                if code == Code::FailedPrecondition {
                    for field in refusal.fields.iter() {
                        details.add_precondition_failure_violation(
                            reason,
                            field.name(),
                            refusal.message(),
                        );
                    }
                }
                metadata.insert("fields".to_owned(), refusal.fields.join(","));
                metadata.insert("portal_rules".to_owned(), refusal.releases.to_owned());
                (code, reason, said)
            }
            GatewayError::Portal(PortalError::Status {
                status,
                message: portal_message,
                field_errors,
                retry_after,
            }) => {
                let (code, reason) = portal_status_code(status, portal_message.as_deref());
                metadata.insert("http_status".to_owned(), status.to_string());
                if let Some(portal_message) = &portal_message {
                    metadata.insert("portal_message".to_owned(), portal_message.clone());
                }
                for (field, description) in field_errors {
                    details.add_bad_request_violation(contract_field(&field), description);
                }
                // Only when the name rules are what the answer says (not, say, an access denial).
                if code == Code::InvalidArgument && names_refused(status, portal_message.as_deref())
                {
                    for field in [Field::FirstName, Field::LastName] {
                        details.add_bad_request_violation(
                            field.name(),
                            "the portal's name rules refused the first or last name",
                        );
                    }
                }
                if let Some(retry_after) = retry_after {
                    // A hostile or confused portal may ask for years.
                    details.set_retry_info(Some(retry_after.min(MAX_RETRY_DELAY)));
                }
                let message = match portal_message {
                    Some(portal_message) => format!("portal: {portal_message}"),
                    None if (300..400).contains(&status) => format!(
                        "portal redirected the call (HTTP {status}); check the configured portal URL"
                    ),
                    None if status == 401 => "portal answered HTTP 401: the credential is unknown \
                         or expired, or its user is suspended"
                        .into(),
                    None => format!("portal answered HTTP {status}"),
                };
                (code, reason, message)
            }
            GatewayError::IgnoredChange(ignored) => {
                let IgnoredChange {
                    ignored,
                    applied,
                    unverified,
                    not_sent,
                    releases,
                    user,
                } = *ignored;
                let reason = "PORTAL_IGNORED_CHANGE";
                let fields: FieldSet = ignored.iter().map(|mismatch| mismatch.field).collect();
                for mismatch in ignored {
                    details.add_precondition_failure_violation(
                        reason,
                        mismatch.field.name(),
                        format!(
                            "asked for {}; the portal holds {}",
                            mismatch.asked, mismatch.held
                        ),
                    );
                }
                for (key, set) in [
                    ("ignored_fields", fields),
                    ("applied_fields", applied),
                    ("unverified_fields", unverified),
                    ("not_sent_fields", not_sent),
                ] {
                    metadata.insert(key.to_owned(), set.join(","));
                }
                metadata.insert("portal_rules".to_owned(), releases.to_owned());
                held_user = Some(user);
                (Code::FailedPrecondition, reason, said)
            }
            GatewayError::ShuttingDown => (Code::Unavailable, "SHUTTING_DOWN", said),
            GatewayError::OutcomeUnknown => (Code::Unavailable, "OUTCOME_UNKNOWN", said),
            GatewayError::StreamBroken => (Code::Aborted, "REQUEST_STREAM_BROKEN", said),
            GatewayError::DeadlineExceeded => (Code::DeadlineExceeded, "DEADLINE_EXCEEDED", said),
            GatewayError::CallerGone => (Code::Cancelled, "CALLER_GONE", said),
            GatewayError::NotSent(why) | GatewayError::Portal(PortalError::Abandoned(why)) => {
                let message = GatewayError::NotSent(why).to_string();
                match why {
                    Abandoned::Deadline => (Code::DeadlineExceeded, "DEADLINE_EXCEEDED", message),
                    Abandoned::CallerGone => (Code::Cancelled, "CALLER_GONE", message),
                }
            }
            GatewayError::Overloaded => (Code::ResourceExhausted, "OVERLOADED", said),
            GatewayError::TooManyStreams => (Code::ResourceExhausted, "TOO_MANY_STREAMS", said),
            GatewayError::CallerStreamShare(_) => {
                (Code::ResourceExhausted, "CALLER_STREAM_SHARE", said)
            }
            GatewayError::TooManyItems(_) => (Code::ResourceExhausted, "TOO_MANY_ITEMS", said),
            GatewayError::StreamIdle(_) => (Code::DeadlineExceeded, "STREAM_IDLE", said),
            GatewayError::AnswersNotTaken(_) => (Code::DeadlineExceeded, "ANSWERS_NOT_TAKEN", said),
            GatewayError::IgnoredFilter { filter, releases } => {
                let reason = "PORTAL_IGNORED_FILTER";
                details.add_precondition_failure_violation(
                    reason,
                    filter,
                    "the portal's answer holds users this filter excludes",
                );
                metadata.insert("filter".to_owned(), filter.to_owned());
                metadata.insert("portal_rules".to_owned(), releases.to_owned());
                (Code::FailedPrecondition, reason, said)
            }
            GatewayError::FilterNotSupported { filter, message } => {
                let reason = "FILTER_NOT_SUPPORTED";
                details.add_precondition_failure_violation(reason, filter, message);
                metadata.insert("filter".to_owned(), filter.to_owned());
                (Code::FailedPrecondition, reason, said)
            }
            GatewayError::AnotherUserAnswered => (
                Code::FailedPrecondition,
                "PORTAL_ANSWERED_FOR_ANOTHER_USER",
                said,
            ),
            GatewayError::MessageTooLarge => (Code::ResourceExhausted, "MESSAGE_TOO_LARGE", said),
            GatewayError::ReceiveTimeout(_) => (Code::DeadlineExceeded, "RECEIVE_TIMEOUT", said),
            GatewayError::MetadataTooLarge => (Code::ResourceExhausted, "METADATA_TOO_LARGE", said),
            GatewayError::Portal(PortalError::Timeout) => {
                (Code::DeadlineExceeded, "PORTAL_TIMEOUT", said)
            }
            GatewayError::Portal(PortalError::Certificate(reason)) => (
                Code::Unavailable,
                "PORTAL_CERTIFICATE_REFUSED",
                format!(
                    "the portal's TLS certificate was not accepted ({reason}): trust its CA with \
                     --portal-ca, or renew the certificate"
                ),
            ),
            GatewayError::Portal(PortalError::NotTls) => (
                Code::Unavailable,
                "PORTAL_NOT_TLS",
                "the portal does not speak TLS on that port: use http:// in --portal-url, \
                 or the port that serves https"
                    .into(),
            ),
            // The transport's error chain is logged; it names hosts and TLS internals.
            GatewayError::Portal(PortalError::Unreachable(_)) => (
                Code::Unavailable,
                "PORTAL_UNREACHABLE",
                "portal unreachable".into(),
            ),
            // The cause is logged; callers get no portal internals.
            GatewayError::Portal(PortalError::Undecodable(_)) => (
                Code::Internal,
                "PORTAL_BAD_RESPONSE",
                "portal answer could not be read".into(),
            ),
        };
        details.set_error_info(reason, ERROR_DOMAIN, metadata);
        let status = Status::with_error_details(code, message, details);
        match held_user {
            Some(user) => with_user(status, user_to_pb(user)),
            None => status,
        }
    }
}

/// `type_url` of the user a status's details carry.
pub const USER_TYPE_URL: &str = "type.googleapis.com/onlyoffice.people.v1.User";

/// Adds the user as the portal holds it to the status's details, after the
/// standard ones.
fn with_user(status: Status, user: pb::User) -> Status {
    let mut encoded = match tonic_types::pb::Status::decode(status.details()) {
        Ok(encoded) => encoded,
        Err(_) => return status,
    };
    encoded.details.push(prost_types::Any {
        type_url: USER_TYPE_URL.to_owned(),
        value: user.encode_to_vec(),
    });
    Status::with_details(
        status.code(),
        status.message().to_owned(),
        encoded.encode_to_vec().into(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn portal(status: u16, message: Option<&str>) -> Status {
        GatewayError::Portal(PortalError::Status {
            status,
            message: message.map(Into::into),
            field_errors: Vec::new(),
            retry_after: None,
        })
        .into()
    }

    #[test]
    fn portal_statuses_follow_the_table() {
        let table = [
            (400, Code::InvalidArgument),
            (401, Code::Unauthenticated),
            (402, Code::FailedPrecondition),
            (403, Code::PermissionDenied),
            (404, Code::NotFound),
            (409, Code::Aborted),
            (415, Code::Internal),
            (429, Code::ResourceExhausted),
            (500, Code::Internal),
            (501, Code::Unimplemented),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::DeadlineExceeded),
            (418, Code::FailedPrecondition),
            (302, Code::FailedPrecondition),
        ];
        for (status, code) in table {
            assert_eq!(portal(status, None).code(), code, "HTTP {status}");
        }
    }

    #[test]
    fn workspace_500s_are_read_by_their_message() {
        let denied = portal(
            500,
            Some("\"Mike Zanyatski\" access denied \"Edit user information\""),
        );
        assert_eq!(denied.code(), Code::PermissionDenied);
        let suspended = portal(500, Some("The user is suspended"));
        assert_eq!(suspended.code(), Code::FailedPrecondition);
    }

    #[test]
    fn every_error_carries_error_info_with_http_status_and_portal_message() {
        let status = portal(404, Some("user not found"));
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "PORTAL_NOT_FOUND");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata["http_status"], "404");
        assert_eq!(info.metadata["portal_message"], "user not found");
        assert_eq!(status.message(), "portal: user not found");

        let local: Status = GatewayError::MissingCredentials.into();
        assert_eq!(local.code(), Code::Unauthenticated);
        assert!(local.get_error_details().error_info().is_some());
    }

    #[test]
    fn rate_limits_carry_retry_info_and_validation_carries_fields() {
        let status: Status = GatewayError::Portal(PortalError::Status {
            status: 429,
            message: None,
            field_errors: vec![("FirstName".into(), "too long".into())],
            retry_after: Some(Duration::from_secs(7)),
        })
        .into();
        let details = status.get_error_details();
        assert_eq!(
            details.retry_info().unwrap().retry_delay,
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            "first_name"
        );
    }
}
