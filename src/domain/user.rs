//! Who a call is about: a user GUID, a user name (reads only) or `@self`.

use std::fmt;

use uuid::Uuid;

/// The longest user name, contact type or contact value the gateway forwards.
pub(super) const MAX_REF_LEN: usize = 255;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
