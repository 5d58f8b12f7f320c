//! Every error the gateway answers with, and the one table that turns each
//! into a gRPC status with `google.rpc` details (ErrorInfo always; BadRequest,
//! PreconditionFailure and RetryInfo where they apply). The README shows the
//! same table.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::config::Product;
use crate::domain::CredentialError;
use crate::portal::PortalError;

/// `ErrorInfo.domain` of every error the gateway sends.
pub const ERROR_DOMAIN: &str = "people-gateway";

/// A request field that failed validation, named as in the protobuf contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path in the request, e.g. `contacts[1].value`.
    pub field: String,
    /// What is wrong, safe to show the caller.
    pub description: String,
}

impl FieldViolation {
    /// Shorthand constructor.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why the gateway answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed; nothing was sent to the portal.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{} {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidArgument(Vec<FieldViolation>),
    /// No credential in the call and none configured.
    #[error("no credentials")]
    MissingCredentials,
    /// A credential that must not be forwarded.
    #[error("credential {0}")]
    MalformedCredentials(CredentialError),
    /// The portal would silently ignore or lose part of the change, so the
    /// gateway refuses it up front.
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// The portal failed or refused.
    #[error(transparent)]
    Portal(#[from] PortalError),
    /// The runtime stopped before the call finished.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The caller went away while its write waited for the user's lock.
    #[error("the caller went away before the write began")]
    CallerGone,
}

/// A change the gateway refuses because the portal would not honour it faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The product has no such fields (DocSpace 3.7 dropped them).
    UnsupportedFields {
        /// The product in use.
        product: Product,
        /// Contract field names.
        fields: Vec<&'static str>,
    },
    /// DocSpace applies profile fields only when users edit themselves.
    ProfileFieldsSelfOnly {
        /// Contract field names.
        fields: Vec<&'static str>,
    },
    /// DocSpace ignores `disabled`/`is_guest` on one's own profile.
    OwnStatusFields {
        /// Contract field names.
        fields: Vec<&'static str>,
    },
    /// Workspace applies these only when an administrator sends them.
    AdminOnlyFields {
        /// Contract field names.
        fields: Vec<&'static str>,
    },
    /// LDAP/SSO users' names, title and location come from the directory.
    DirectoryManagedFields {
        /// Contract field names.
        fields: Vec<&'static str>,
    },
    /// Workspace silently refuses to make an owner or admin a guest.
    AdminCannotBecomeGuest,
    /// Workspace reads an empty department list as "no change".
    DepartmentsCannotBeCleared,
    /// The caller cannot see the user's contacts, so writing the list back
    /// would wipe them.
    ContactsNotVisible,
    /// DocSpace resets `spam` on every own-profile write and never returns it.
    SpamRequired,
}

impl Refusal {
    fn code(&self) -> Code {
        match self {
            Self::ProfileFieldsSelfOnly { .. }
            | Self::OwnStatusFields { .. }
            | Self::AdminOnlyFields { .. } => Code::PermissionDenied,
            Self::UnsupportedFields { .. }
            | Self::DirectoryManagedFields { .. }
            | Self::AdminCannotBecomeGuest
            | Self::DepartmentsCannotBeCleared
            | Self::ContactsNotVisible
            | Self::SpamRequired => Code::FailedPrecondition,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::UnsupportedFields { .. } => "FIELD_NOT_SUPPORTED_BY_PRODUCT",
            Self::ProfileFieldsSelfOnly { .. } => "PROFILE_FIELDS_SELF_ONLY",
            Self::OwnStatusFields { .. } => "OWN_STATUS_NOT_CHANGEABLE",
            Self::AdminOnlyFields { .. } => "ADMIN_ONLY_FIELDS",
            Self::DirectoryManagedFields { .. } => "FIELDS_MANAGED_BY_DIRECTORY",
            Self::AdminCannotBecomeGuest => "ADMIN_CANNOT_BECOME_GUEST",
            Self::DepartmentsCannotBeCleared => "DEPARTMENTS_CANNOT_BE_CLEARED",
            Self::ContactsNotVisible => "CONTACTS_NOT_VISIBLE",
            Self::SpamRequired => "SPAM_REQUIRED",
        }
    }

    fn fields(&self) -> &[&'static str] {
        match self {
            Self::UnsupportedFields { fields, .. }
            | Self::ProfileFieldsSelfOnly { fields }
            | Self::OwnStatusFields { fields }
            | Self::AdminOnlyFields { fields }
            | Self::DirectoryManagedFields { fields } => fields,
            Self::AdminCannotBecomeGuest => &["is_guest"],
            Self::DepartmentsCannotBeCleared => &["department_ids"],
            Self::ContactsNotVisible => &["contacts"],
            Self::SpamRequired => &["spam"],
        }
    }

    /// A sentence for the caller.
    pub fn message(&self) -> String {
        let fields = self.fields().join(", ");
        match self {
            Self::UnsupportedFields { product, .. } => {
                format!("{product} does not support {fields}; nothing was changed")
            }
            Self::ProfileFieldsSelfOnly { .. } => format!(
                "DocSpace applies {fields} only when users edit their own profile; nothing was changed"
            ),
            Self::OwnStatusFields { .. } => format!(
                "DocSpace ignores {fields} on one's own profile; an administrator must change them"
            ),
            Self::AdminOnlyFields { .. } => {
                format!("Workspace applies {fields} only for administrators; nothing was changed")
            }
            Self::DirectoryManagedFields { .. } => format!(
                "{fields} of an LDAP or SSO user come from the directory and cannot be changed here"
            ),
            Self::AdminCannotBecomeGuest => {
                "the portal does not make an owner or administrator a guest".into()
            }
            Self::DepartmentsCannotBeCleared => "Workspace reads an empty department list as \
                 'no change', so it cannot remove a user from every group this way; nothing was changed"
                .into(),
            Self::ContactsNotVisible => "the caller cannot see this user's contacts, and writing \
                 the list back would erase them; send the whole list with SetContacts instead"
                .into(),
            Self::SpamRequired => "DocSpace resets the marketing-mail consent on every write of \
                 one's own profile and never returns it; set `spam` to keep it"
                .into(),
        }
    }
}

/// How one portal HTTP status maps to gRPC: code, ErrorInfo reason, and
/// whether the portal's message is safe and useful in the status message.
pub fn portal_status_code(status: u16, message: Option<&str>) -> (Code, &'static str) {
    let says = |needle: &str| {
        message.is_some_and(|text| {
            text.to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase())
        })
    };
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
        // Workspace answers 500 for permission denials and suspended users.
        500 if says("access denied") => (Code::PermissionDenied, "PORTAL_PERMISSION_DENIED"),
        500 if says("the user is suspended") => (Code::FailedPrecondition, "PORTAL_USER_SUSPENDED"),
        501 => (Code::Unimplemented, "PORTAL_UNIMPLEMENTED"),
        502 | 503 => (Code::Unavailable, "PORTAL_UNAVAILABLE"),
        other if (400..500).contains(&other) => (Code::FailedPrecondition, "PORTAL_REJECTED"),
        _ => (Code::Internal, "PORTAL_ERROR"),
    }
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

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Status {
        let mut details = ErrorDetails::new();
        let mut metadata = HashMap::new();
        let message = error.to_string();
        let (code, reason) = match error {
            GatewayError::InvalidArgument(violations) => {
                for violation in violations {
                    details.add_bad_request_violation(violation.field, violation.description);
                }
                (Code::InvalidArgument, "INVALID_REQUEST")
            }
            GatewayError::MissingCredentials => (Code::Unauthenticated, "MISSING_CREDENTIALS"),
            GatewayError::MalformedCredentials(_) => {
                (Code::Unauthenticated, "MALFORMED_CREDENTIALS")
            }
            GatewayError::Refused(refusal) => {
                if refusal.code() == Code::FailedPrecondition {
                    for field in refusal.fields() {
                        details.add_precondition_failure_violation(
                            refusal.reason(),
                            *field,
                            refusal.message(),
                        );
                    }
                }
                metadata.insert("fields".to_owned(), refusal.fields().join(","));
                (refusal.code(), refusal.reason())
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
                if retry_after.is_some() {
                    details.set_retry_info(retry_after);
                }
                let text = match portal_message {
                    Some(portal_message) => format!("portal: {portal_message}"),
                    None if (300..400).contains(&status) => format!(
                        "portal redirected the call (HTTP {status}); check the configured portal URL"
                    ),
                    None => format!("portal answered HTTP {status}"),
                };
                return finish(code, text, reason, metadata, details);
            }
            GatewayError::ShuttingDown => (Code::Unavailable, "SHUTTING_DOWN"),
            GatewayError::CallerGone => (Code::Cancelled, "CALLER_GONE"),
            GatewayError::Portal(PortalError::Timeout) => {
                (Code::DeadlineExceeded, "PORTAL_TIMEOUT")
            }
            GatewayError::Portal(PortalError::Unreachable(_)) => {
                (Code::Unavailable, "PORTAL_UNREACHABLE")
            }
            GatewayError::Portal(PortalError::Undecodable(_)) => {
                // The cause is logged; callers get no portal internals.
                return finish(
                    Code::Internal,
                    "portal answer could not be read".into(),
                    "PORTAL_BAD_RESPONSE",
                    metadata,
                    details,
                );
            }
        };
        finish(code, message, reason, metadata, details)
    }
}

fn finish(
    code: Code,
    message: String,
    reason: &str,
    metadata: HashMap<String, String>,
    mut details: ErrorDetails,
) -> Status {
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, message, details)
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
