//! Every error the gateway answers with, as the layers below gRPC see it;
//! `status` turns each into what the caller hears.

use crate::domain::{Abandoned, CredentialError, Field, FieldSet, Refusal};
use crate::portal::{PortalError, PortalUser};

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

/// A requested field the portal's answer contradicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field.
    pub field: Field,
    /// What the caller asked for, in words.
    pub asked: String,
    /// What the portal holds, in words.
    pub held: String,
}

/// A write the portal answered without making all of it.
#[derive(Debug)]
pub struct IgnoredChange {
    /// Each requested field the answer contradicts, in contract order.
    pub ignored: Vec<Mismatch>,
    /// Requested fields the answer shows as asked.
    pub applied: FieldSet,
    /// Requested fields the answer does not show.
    pub unverified: FieldSet,
    /// Requested fields never sent, because an earlier step was not applied.
    pub not_sent: FieldSet,
    /// The rules in force, as `Refusal::releases` names them.
    pub releases: &'static str,
    /// The user as the portal now holds it.
    pub user: PortalUser,
}

impl IgnoredChange {
    /// The fields the portal did not apply.
    pub fn fields(&self) -> FieldSet {
        self.ignored.iter().map(|mismatch| mismatch.field).collect()
    }
}

/// Why the gateway answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed; nothing was sent to the portal.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{} {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidArgument(Vec<FieldViolation>),
    /// No credential in the call and none configured.
    #[error(
        "no credentials: send the portal token as `authorization` metadata, or as the \
         `asc_auth_key` cookie in `cookie` metadata, or start the gateway with --portal-token"
    )]
    MissingCredentials,
    /// A credential that must not be forwarded.
    #[error("credential {0}")]
    MalformedCredentials(CredentialError),
    /// The portal would silently ignore or lose part of the change, so the
    /// gateway refuses it up front.
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// The portal answered a write with a user that does not hold part of
    /// the change: it dropped it silently. Says which fields, never their values.
    #[error(
        "the portal did not apply {}; the details carry the user as it holds it now",
        .0.fields().join(", ")
    )]
    IgnoredChange(Box<IgnoredChange>),
    /// The portal failed or refused.
    #[error(transparent)]
    Portal(PortalError),
    /// The runtime stopped before the call finished.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The SyncUsers request stream broke off before the item was started;
    /// nothing was sent for it.
    #[error("the request stream broke off before this item was started; nothing was sent for it")]
    StreamBroken,
    /// Shutdown's grace period ended while the item's write was at the
    /// portal: it may or may not have been applied.
    #[error(
        "the gateway stopped before the portal answered; the change may or may not have been \
         applied, and sending the item again is safe"
    )]
    OutcomeUnknown,
    /// The caller went away (its stream or connection ended).
    #[error("the caller went away")]
    CallerGone,
    /// The caller stopped waiting before the portal was asked; nothing was sent.
    #[error("{}", match .0 {
        Abandoned::Deadline => "the deadline passed before the portal was asked; nothing was sent",
        Abandoned::CallerGone => "the caller went away before the portal was asked; nothing was sent",
    })]
    NotSent(Abandoned),
    /// The portal listed users outside a filter the caller set: it does not
    /// apply that filter (for this caller). Names the filter, never a value.
    #[error(
        "the portal answered with users outside the `{filter}` filter: it does not apply that \
         filter for this caller ({releases})"
    )]
    IgnoredFilter {
        /// The filter, named as in the contract.
        filter: &'static str,
        /// The rules in force, as `Refusal::releases` names them.
        releases: &'static str,
    },
    /// A listing the portal would not answer faithfully, refused up front.
    #[error("{message}")]
    FilterNotSupported {
        /// The filter, named as in the contract.
        filter: &'static str,
        /// Why, in a sentence for the caller.
        message: &'static str,
    },
    /// The portal answered a read of one user with another user's record.
    #[error("the portal answered with another user's record; nothing was written")]
    AnotherUserAnswered,
    /// More PeopleService calls are in flight than `--max-concurrency` allows.
    #[error("the gateway is at its limit of concurrent calls; retry with backoff")]
    Overloaded,
    /// The call's metadata is larger than `--max-header-list-size`.
    #[error("the call's metadata is larger than the gateway accepts")]
    MetadataTooLarge,
    /// A unary call's request message did not arrive in full within `--receive-timeout`.
    #[error("the request message did not arrive in full within {}", humantime::format_duration(*.0))]
    ReceiveTimeout(std::time::Duration),
    /// The request message is larger than `--max-message-size`.
    #[error("the request message is larger than the gateway accepts")]
    MessageTooLarge,
    /// More SyncUsers streams are open than `--bulk-max-streams` allows.
    #[error("the gateway is at its limit of open SyncUsers streams; retry with backoff")]
    TooManyStreams,
    /// The caller already holds its share of SyncUsers streams.
    #[error(
        "this caller already holds {0} SyncUsers streams, its share; end one or retry with backoff"
    )]
    CallerStreamShare(usize),
    /// A SyncUsers stream carried more items than `--bulk-max-items` allows.
    #[error("a SyncUsers stream carries at most {0} items; send the rest in a new stream")]
    TooManyItems(u64),
    /// A SyncUsers stream took none of its answers for `--bulk-idle-timeout`
    /// while they piled up, holding the items behind them.
    #[error("the SyncUsers stream took no answer for {}; read the answers as they come", humantime::format_duration(*.0))]
    AnswersNotTaken(std::time::Duration),
    /// A SyncUsers stream sent no item for `--bulk-idle-timeout` with nothing left to do.
    #[error("the SyncUsers stream sent no item for {}; open a new one when there is more", humantime::format_duration(*.0))]
    StreamIdle(std::time::Duration),
    /// The caller's deadline passed while the call was under way: nothing is
    /// sent to the portal after it, and a write sent before it runs to its end.
    #[error(
        "the deadline passed: nothing is sent to the portal after it, and a write already sent \
         runs to its end and may be applied"
    )]
    DeadlineExceeded,
}

impl GatewayError {
    /// How long the portal asked to be left alone, when this is its answer.
    pub fn portal_asks_to_wait(&self) -> Option<std::time::Duration> {
        match self {
            GatewayError::Portal(error) => error.asks_to_wait(),
            _ => None,
        }
    }

    /// Whether the portal failed (worth a warning), rather than refusing
    /// what the caller asked (a 4xx the caller caused: an unknown user, no rights).
    pub fn is_portal_failure(&self) -> bool {
        match self {
            GatewayError::Portal(PortalError::Status { status, .. }) => {
                *status >= 500 || *status == 429 || (300..400).contains(status)
            }
            GatewayError::Portal(PortalError::Abandoned(_)) => false,
            GatewayError::Portal(_) => true,
            _ => false,
        }
    }
}

impl From<PortalError> for GatewayError {
    /// An exchange the caller abandoned before it was sent is the caller's
    /// outcome, not the portal's.
    fn from(error: PortalError) -> Self {
        match error {
            PortalError::Abandoned(why) => GatewayError::NotSent(why),
            error => GatewayError::Portal(error),
        }
    }
}

impl From<Abandoned> for GatewayError {
    fn from(why: Abandoned) -> Self {
        GatewayError::NotSent(why)
    }
}

impl From<Refusal> for GatewayError {
    fn from(refusal: Refusal) -> Self {
        GatewayError::Refused(refusal)
    }
}
