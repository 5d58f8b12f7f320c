//! Validated values shared by the gRPC side and the portal side: who a call is
//! about (`UserRef`), contacts, the caller's credential, and the pure contact
//! merge/remove rules. Nothing here knows tonic or reqwest.

use std::fmt;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The longest user name, contact type or contact value the gateway forwards.
const MAX_REF_LEN: usize = 255;
/// Far longer than any portal token or API key.
const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// A portal user GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// Parses the portal's GUID forms (hyphenated, braced, or 32 hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::try_parse(text).ok().map(Self)
    }

    /// Whether this is `Guid.Empty`, the portal's "no user".
    pub fn is_nil(&self) -> bool {
        self.0.is_nil()
    }
}

impl From<Uuid> for UserId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Which user a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// `@self`: the user whose credential the call carries.
    Me,
    /// A user GUID.
    Id(UserId),
    /// A login name (only reads accept it).
    Name(String),
}

/// Why a `user_id` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserRefError {
    /// Nothing was given.
    #[error("must not be empty")]
    Empty,
    /// Updates need a GUID or `@self`.
    #[error("must be a user GUID or @self")]
    NotAnIdOrSelf,
    /// Too long, a control character, or a dot segment that a URL would swallow.
    #[error("is not a valid user name")]
    BadName,
}

impl UserRef {
    /// The literal the portal and the contract use for "the caller".
    pub const SELF_ALIAS: &'static str = "@self";

    /// Parses a reference for a read: GUID, `@self`, or a user name.
    pub fn parse_for_read(text: &str) -> Result<Self, UserRefError> {
        if text.is_empty() {
            return Err(UserRefError::Empty);
        }
        if let Ok(reference) = Self::parse_for_write(text) {
            return Ok(reference);
        }
        let is_dot_segment = text == "." || text == "..";
        if text.len() > MAX_REF_LEN || is_dot_segment || text.chars().any(char::is_control) {
            return Err(UserRefError::BadName);
        }
        Ok(Self::Name(text.to_owned()))
    }

    /// Parses a reference for a write: a GUID or `@self` (the portal's PUT
    /// routes need a GUID; `@self` is resolved by the gateway first).
    pub fn parse_for_write(text: &str) -> Result<Self, UserRefError> {
        if text.is_empty() {
            return Err(UserRefError::Empty);
        }
        if text == Self::SELF_ALIAS {
            return Ok(Self::Me);
        }
        UserId::parse(text)
            .map(Self::Id)
            .ok_or(UserRefError::NotAnIdOrSelf)
    }

    /// The single path segment the portal expects (the URL layer encodes it).
    pub fn path_segment(&self) -> String {
        match self {
            Self::Me => Self::SELF_ALIAS.to_owned(),
            Self::Id(id) => id.to_string(),
            Self::Name(name) => name.clone(),
        }
    }
}

/// One contact entry, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Kind, e.g. `mail`.
    pub kind: String,
    /// Value, e.g. `mike@example.com`.
    pub value: String,
}

/// Why a contact was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// Empty type.
    #[error("type must not be empty")]
    EmptyType,
    /// Empty value: DocSpace drops such pairs and Workspace loses its pairing on reload.
    #[error("value must not be empty")]
    EmptyValue,
    /// `|` separates the portal's stored list, so it would corrupt it.
    #[error("must not contain '|'")]
    Separator,
    /// Control characters or more than 255 characters.
    #[error("must be at most 255 characters without control characters")]
    Malformed,
}

impl Contact {
    /// Validates a (type, value) pair so the portal stores it intact.
    pub fn new(kind: &str, value: &str) -> Result<Self, (ContactField, ContactError)> {
        check_contact_part(kind).map_err(|error| (ContactField::Type, error))?;
        check_contact_part(value).map_err(|error| (ContactField::Value, error))?;
        if kind.is_empty() {
            return Err((ContactField::Type, ContactError::EmptyType));
        }
        if value.is_empty() {
            return Err((ContactField::Value, ContactError::EmptyValue));
        }
        Ok(Self {
            kind: kind.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The contract's identity of a contact: type case-insensitive, value exact.
    pub fn same_as(&self, other: &Contact) -> bool {
        self.kind.eq_ignore_ascii_case(&other.kind) && self.value == other.value
    }
}

/// Which half of a contact failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    /// The `type` field.
    Type,
    /// The `value` field.
    Value,
}

fn check_contact_part(part: &str) -> Result<(), ContactError> {
    if part.contains('|') {
        return Err(ContactError::Separator);
    }
    if part.chars().count() > MAX_REF_LEN || part.chars().any(char::is_control) {
        return Err(ContactError::Malformed);
    }
    Ok(())
}

/// Adds each addition that is not present yet (and not repeated within the
/// additions), keeping existing contacts and their order.
pub fn merge_contacts(current: &[Contact], additions: &[Contact]) -> Vec<Contact> {
    let mut merged = current.to_vec();
    for addition in additions {
        if !merged.iter().any(|existing| existing.same_as(addition)) {
            merged.push(addition.clone());
        }
    }
    merged
}

/// Removes every contact equal to one of the removals; others keep their order.
pub fn remove_contacts(current: &[Contact], removals: &[Contact]) -> Vec<Contact> {
    current
        .iter()
        .filter(|existing| !removals.iter().any(|removal| removal.same_as(existing)))
        .cloned()
        .collect()
}

/// Sex as both products accept it on update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
}

/// A validated UpdateUser: every `Some` is a change, every `None` leaves the
/// portal's value alone. `Some(None)` clears a date or the lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub comment: Option<String>,
    pub title: Option<String>,
    pub location: Option<String>,
    pub sex: Option<Sex>,
    pub birthday: Option<Option<NaiveDate>>,
    pub works_from: Option<Option<NaiveDate>>,
    pub department_ids: Option<Vec<Uuid>>,
    pub contacts: Option<Vec<Contact>>,
    /// An absolute http(s) URL, or a path the portal resolves against itself.
    pub avatar_url: Option<String>,
    pub disabled: Option<bool>,
    pub is_guest: Option<bool>,
    pub lead: Option<Option<UserId>>,
    pub spam: Option<bool>,
}

impl ProfileChanges {
    /// The fields this change sets.
    pub fn fields(&self) -> FieldSet {
        let Self {
            first_name,
            last_name,
            comment,
            title,
            location,
            sex,
            birthday,
            works_from,
            department_ids,
            contacts,
            avatar_url,
            disabled,
            is_guest,
            lead,
            spam,
        } = self;
        [
            (Field::FirstName, first_name.is_some()),
            (Field::LastName, last_name.is_some()),
            (Field::Comment, comment.is_some()),
            (Field::Title, title.is_some()),
            (Field::Location, location.is_some()),
            (Field::Sex, sex.is_some()),
            (Field::Birthday, birthday.is_some()),
            (Field::WorksFrom, works_from.is_some()),
            (Field::DepartmentIds, department_ids.is_some()),
            (Field::Contacts, contacts.is_some()),
            (Field::AvatarUrl, avatar_url.is_some()),
            (Field::Disabled, disabled.is_some()),
            (Field::IsGuest, is_guest.is_some()),
            (Field::LeadId, lead.is_some()),
            (Field::Spam, spam.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect()
    }
}

/// A field of `UpdateUserRequest` that changes the portal's user, in contract order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    FirstName,
    LastName,
    Comment,
    Title,
    Location,
    Sex,
    Birthday,
    WorksFrom,
    DepartmentIds,
    Contacts,
    AvatarUrl,
    Disabled,
    IsGuest,
    LeadId,
    Spam,
}

impl Field {
    /// Every field, in contract order.
    pub const ALL: [Field; 15] = [
        Field::FirstName,
        Field::LastName,
        Field::Comment,
        Field::Title,
        Field::Location,
        Field::Sex,
        Field::Birthday,
        Field::WorksFrom,
        Field::DepartmentIds,
        Field::Contacts,
        Field::AvatarUrl,
        Field::Disabled,
        Field::IsGuest,
        Field::LeadId,
        Field::Spam,
    ];

    /// The field's name in the protobuf contract.
    pub const fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Comment => "comment",
            Field::Title => "title",
            Field::Location => "location",
            Field::Sex => "sex",
            Field::Birthday => "birthday",
            Field::WorksFrom => "works_from",
            Field::DepartmentIds => "department_ids",
            Field::Contacts => "contacts",
            Field::AvatarUrl => "avatar_url",
            Field::Disabled => "disabled",
            Field::IsGuest => "is_guest",
            Field::LeadId => "lead_id",
            Field::Spam => "spam",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Field`]s; `const`, so rule tables can be built from them at compile time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FieldSet(u16);

impl FieldSet {
    /// No field.
    pub const EMPTY: FieldSet = FieldSet(0);

    /// The set of the given fields.
    pub const fn of(fields: &[Field]) -> FieldSet {
        let mut bits = 0;
        let mut index = 0;
        while index < fields.len() {
            bits |= fields[index].bit();
            index += 1;
        }
        FieldSet(bits)
    }

    /// Fields in either set.
    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    /// Fields in both sets.
    pub const fn intersection(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }

    /// Fields of `self` that are not in `other`.
    pub const fn without(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & !other.0)
    }

    /// Whether the set holds no field.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `field` is in the set.
    pub const fn contains(self, field: Field) -> bool {
        self.0 & field.bit() != 0
    }

    /// The fields in contract order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL
            .into_iter()
            .filter(move |field| self.contains(*field))
    }

    /// Contract names joined with `separator`, in contract order.
    pub fn join(self, separator: &str) -> String {
        self.iter()
            .map(Field::name)
            .collect::<Vec<_>>()
            .join(separator)
    }
}

impl FromIterator<Field> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Field>>(fields: I) -> Self {
        FieldSet(fields.into_iter().fold(0, |bits, field| bits | field.bit()))
    }
}

impl From<Field> for FieldSet {
    fn from(field: Field) -> Self {
        FieldSet(field.bit())
    }
}

impl fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Field::name)).finish()
    }
}

/// A portal release number, `major.minor.patch` (a fourth build part is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortalVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl PortalVersion {
    /// A version from its parts.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected a release number such as 3.7.2")]
pub struct PortalVersionError;

impl std::str::FromStr for PortalVersion {
    type Err = PortalVersionError;

    /// Reads `3.7`, `3.7.2` or `3.7.2.1234` (surrounding spaces allowed).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| -> Result<u16, PortalVersionError> {
            match parts.next() {
                Some(part) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => {
                    part.parse().map_err(|_| PortalVersionError)
                }
                None if !required => Ok(0),
                _ => Err(PortalVersionError),
            }
        };
        let major = next(true)?;
        let minor = next(true)?;
        let patch = next(false)?;
        Ok(Self::new(major, minor, patch))
    }
}

impl fmt::Display for PortalVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// When the caller stops waiting (its `grpc-timeout`), if it said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(Option<std::time::Instant>);

impl Deadline {
    /// No deadline: the caller waits as long as the gateway's own bounds allow.
    pub const NONE: Deadline = Deadline(None);

    /// The deadline `timeout` from now.
    pub fn after(timeout: std::time::Duration) -> Self {
        Deadline(std::time::Instant::now().checked_add(timeout))
    }

    /// The deadline at `at`; none for `None` (a timeout too far to represent).
    pub fn at(at: Option<std::time::Instant>) -> Self {
        Deadline(at)
    }

    /// The instant, if any.
    pub fn instant(self) -> Option<std::time::Instant> {
        self.0
    }

    /// Time left; `None` without a deadline, zero once it has passed.
    pub fn remaining(self) -> Option<std::time::Duration> {
        self.0
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    /// Completes when the deadline passes; never without one.
    pub async fn passed(self) {
        match self.0 {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    }

    /// Whether the caller has stopped waiting.
    pub fn has_passed(self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }
}

/// One call as the operations see it: the caller's credential, its deadline,
/// and a token cancelled when the caller goes away.
#[derive(Debug, Clone)]
pub struct Call {
    /// Forwarded to the portal.
    pub credential: Credential,
    /// The caller's `grpc-timeout`, if it sent one.
    pub deadline: Deadline,
    /// Cancelled when the caller is gone.
    pub gone: CancellationToken,
}

impl Call {
    /// A call without deadline whose caller never goes away.
    pub fn new(credential: Credential) -> Self {
        Self {
            credential,
            deadline: Deadline::NONE,
            gone: CancellationToken::new(),
        }
    }

    /// Whether the caller still waits: not when its deadline passed or it left.
    /// Nothing is sent to the portal for a caller that stopped waiting.
    pub fn still_waited_for(&self) -> Result<(), Abandoned> {
        Abandoned::check(self.deadline, &self.gone)
    }
}

/// Why nobody waits for a call's answer any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// The caller's deadline passed.
    Deadline,
    /// The caller cancelled, or its connection or stream ended.
    CallerGone,
}

impl Abandoned {
    /// Why a caller with this deadline, gone when `gone` is cancelled, no longer waits, if it does not.
    pub fn check(deadline: Deadline, gone: &CancellationToken) -> Result<(), Abandoned> {
        if gone.is_cancelled() {
            Err(Abandoned::CallerGone)
        } else if deadline.has_passed() {
            Err(Abandoned::Deadline)
        } else {
            Ok(())
        }
    }

    /// Completes when such a caller stops waiting, and says why.
    pub async fn when(deadline: Deadline, gone: &CancellationToken) -> Abandoned {
        tokio::select! {
            biased;
            () = gone.cancelled() => Abandoned::CallerGone,
            () = deadline.passed() => Abandoned::Deadline,
        }
    }
}

/// How the caller proves who they are to the portal.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Sent as the portal's `Authorization` header, as given.
    Authorization(String),
    /// Sent as the portal's `asc_auth_key` cookie.
    CookieToken(String),
}

/// Why a credential was refused before reaching the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Empty value.
    #[error("is empty")]
    Empty,
    /// Control characters could split or smuggle headers.
    #[error("contains control characters")]
    ControlCharacters,
    /// HTTP header values carry visible ASCII only.
    #[error("contains characters other than visible ASCII")]
    NotAscii,
    /// Far longer than any portal token.
    #[error("is too long")]
    TooLong,
    /// Cookie tokens end at `;`, so one would smuggle another cookie.
    #[error("contains ';'")]
    CookieSeparator,
    /// Binary, repeated, or a misspelt `asc_auth_key` cookie: the gateway
    /// cannot tell which credential the caller meant.
    #[error(
        "is in a form the gateway does not forward (binary or repeated authorization, or a cookie named other than exactly asc_auth_key)"
    )]
    UnusableForm,
}

impl Credential {
    /// An `Authorization` value to forward.
    pub fn authorization(value: &str) -> Result<Self, CredentialError> {
        check_credential(value)?;
        Ok(Self::Authorization(value.to_owned()))
    }

    /// An `asc_auth_key` token to forward as a cookie.
    pub fn cookie_token(value: &str) -> Result<Self, CredentialError> {
        check_credential(value)?;
        if value.contains(';') {
            return Err(CredentialError::CookieSeparator);
        }
        Ok(Self::CookieToken(value.to_owned()))
    }
}

fn check_credential(value: &str) -> Result<(), CredentialError> {
    if value.trim().is_empty() {
        return Err(CredentialError::Empty);
    }
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::TooLong);
    }
    if value.chars().any(char::is_control) {
        return Err(CredentialError::ControlCharacters);
    }
    if !value.is_ascii() {
        return Err(CredentialError::NotAscii);
    }
    Ok(())
}

/// Never shows the secret, so a credential can sit in any logged struct.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authorization(_) => f.write_str("Credential::Authorization(<redacted>)"),
            Self::CookieToken(_) => f.write_str("Credential::CookieToken(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(kind: &str, value: &str) -> Contact {
        Contact {
            kind: kind.into(),
            value: value.into(),
        }
    }

    #[test]
    fn write_refs_accept_guid_and_self_only() {
        let guid = "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302";
        assert!(matches!(UserRef::parse_for_write(guid), Ok(UserRef::Id(_))));
        assert_eq!(UserRef::parse_for_write("@self"), Ok(UserRef::Me));
        assert_eq!(
            UserRef::parse_for_write("mike.zanyatski"),
            Err(UserRefError::NotAnIdOrSelf)
        );
        assert_eq!(UserRef::parse_for_write(""), Err(UserRefError::Empty));
    }

    #[test]
    fn read_refs_accept_names_but_not_dot_segments_or_control_characters() {
        assert_eq!(
            UserRef::parse_for_read("mike.zanyatski"),
            Ok(UserRef::Name("mike.zanyatski".into()))
        );
        assert_eq!(UserRef::parse_for_read(".."), Err(UserRefError::BadName));
        assert_eq!(UserRef::parse_for_read("a\nb"), Err(UserRefError::BadName));
        assert_eq!(
            UserRef::parse_for_read(&"x".repeat(256)),
            Err(UserRefError::BadName)
        );
    }

    #[test]
    fn guid_segments_are_normalised_to_hyphenated_lowercase() {
        let reference = UserRef::parse_for_write("{1C2F7B3D-9E50-4B4C-8D6E-7F8091A2B302}").unwrap();
        assert_eq!(
            reference.path_segment(),
            "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302"
        );
    }

    #[test]
    fn contacts_refuse_separator_and_empty_parts() {
        assert_eq!(
            Contact::new("mail", "a|b"),
            Err((ContactField::Value, ContactError::Separator))
        );
        assert_eq!(
            Contact::new("", "x"),
            Err((ContactField::Type, ContactError::EmptyType))
        );
        assert_eq!(
            Contact::new("mail", ""),
            Err((ContactField::Value, ContactError::EmptyValue))
        );
        assert!(Contact::new("mail", "mike@example.com").is_ok());
    }

    #[test]
    fn merge_keeps_existing_and_adds_only_new_pairs() {
        let current = [contact("mail", "a@x"), contact("skype", "mike")];
        let merged = merge_contacts(
            &current,
            &[
                contact("MAIL", "a@x"),
                contact("mail", "b@x"),
                contact("mail", "b@x"),
            ],
        );
        assert_eq!(
            merged,
            [
                contact("mail", "a@x"),
                contact("skype", "mike"),
                contact("mail", "b@x")
            ]
        );
    }

    #[test]
    fn remove_takes_exact_pairs_not_the_first_of_a_type() {
        let current = [
            contact("mail", "a@x"),
            contact("mail", "b@x"),
            contact("phone", "1"),
        ];
        let left = remove_contacts(&current, &[contact("Mail", "b@x"), contact("phone", "2")]);
        assert_eq!(left, [contact("mail", "a@x"), contact("phone", "1")]);
    }

    #[test]
    fn credentials_refuse_control_characters_and_never_print() {
        assert_eq!(
            Credential::authorization("tok\r\nX-Evil: 1"),
            Err(CredentialError::ControlCharacters)
        );
        assert_eq!(
            Credential::cookie_token("a; other=b"),
            Err(CredentialError::CookieSeparator)
        );
        assert_eq!(
            Credential::authorization("tökén"),
            Err(CredentialError::NotAscii)
        );
        let credential = Credential::authorization("secret-token").unwrap();
        assert!(!format!("{credential:?}").contains("secret-token"));
    }
}
