//! Wire shapes of the portal: the user DTO it answers with (both products, read
//! tolerantly) and the JSON bodies the gateway sends.
//!
//! Reading: object keys are lower-cased before deserializing, so `firstName`,
//! `FirstName` and `firstname` all land in `firstname`. Unknown keys are
//! ignored, every key is optional, enums may be ints or strings. Types are
//! otherwise strict: a field the gateway writes back (contacts, guest flag,
//! lead) must never be silently read as "absent".

use serde::{Deserialize, Deserializer, Serialize};

use super::dates::ApiDateTime;
use crate::domain::PortalVersion;
use crate::domain::Product;

/// What a portal says it runs (`GET /api/2.0/settings/version/build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalBuild {
    /// The product, told by which key the answer has.
    pub product: Product,
    /// The release; `None` when the portal reports only its built-in fallback.
    pub version: Option<PortalVersion>,
}

/// The portal's full user DTO (Workspace `EmployeeWraperFull`, DocSpace
/// `EmployeeFullDto`), on the heap: its fields take 1.2 KB, and a user
/// passes through a dozen futures on its way to the caller, each of which
/// would copy it and hold room for it while it waits.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct PortalUser(Box<PortalUserFields>);

impl PortalUser {
    /// The fields, off the heap.
    pub fn into_fields(self) -> PortalUserFields {
        *self.0
    }
}

impl std::ops::Deref for PortalUser {
    type Target = PortalUserFields;

    fn deref(&self) -> &PortalUserFields {
        &self.0
    }
}

impl std::ops::DerefMut for PortalUser {
    fn deref_mut(&mut self) -> &mut PortalUserFields {
        &mut self.0
    }
}

/// What a [`PortalUser`] holds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PortalUserFields {
    pub id: String,
    pub displayname: Option<String>,
    pub title: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub username: Option<String>,
    /// `Some(None)`: the key came as `null`, which Workspace sends when the
    /// caller may not see private data (then contacts are hidden too).
    #[serde(deserialize_with = "present")]
    pub email: Option<Option<String>>,
    pub contacts: Option<Vec<PortalContact>>,
    pub birthday: Option<ApiDateTime>,
    pub sex: Option<EnumValue>,
    pub status: Option<EnumValue>,
    pub activationstatus: Option<EnumValue>,
    pub terminated: Option<ApiDateTime>,
    pub department: Option<String>,
    pub workfrom: Option<ApiDateTime>,
    pub groups: Option<Vec<PortalGroup>>,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub lead: Option<String>,
    pub avatar: Option<String>,
    pub avataroriginal: Option<String>,
    pub avatarmax: Option<String>,
    pub avatarmedium: Option<String>,
    pub avatarsmall: Option<String>,
    pub profileurl: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub hasavatar: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isanonim: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isadmin: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isroomadmin: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isldap: Option<bool>,
    pub listadminmodules: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isowner: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isvisitor: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub iscollaborator: Option<bool>,
    pub culturename: Option<String>,
    pub mobilephone: Option<String>,
    pub mobilephoneactivationstatus: Option<EnumValue>,
    #[serde(deserialize_with = "lenient_bool")]
    pub issso: Option<bool>,
    pub theme: Option<EnumValue>,
    #[serde(deserialize_with = "lenient_number")]
    pub quotalimit: Option<f64>,
    #[serde(deserialize_with = "lenient_number")]
    pub usedspace: Option<f64>,
    #[serde(deserialize_with = "lenient_number")]
    pub docsspace: Option<f64>,
    #[serde(deserialize_with = "lenient_number")]
    pub mailspace: Option<f64>,
    #[serde(deserialize_with = "lenient_number")]
    pub talkspace: Option<f64>,
    #[serde(deserialize_with = "lenient_bool")]
    pub shared: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub iscustomquota: Option<bool>,
    #[serde(deserialize_with = "lenient_number")]
    pub logineventid: Option<f64>,
    #[serde(deserialize_with = "lenient_number")]
    pub authcookielifetime: Option<f64>,
    #[serde(deserialize_with = "lenient_bool")]
    pub haspersonalfolder: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub tfaappenabled: Option<bool>,
    /// Boxed: DocSpace's alone, and it would take the fields past 1 KiB,
    /// which the allocator's per-thread cache does not hold.
    pub createdby: Option<Box<PortalUserSummary>>,
    pub registrationdate: Option<ApiDateTime>,
}

impl PortalUserFields {
    /// Whether the answer shows the user's private data (contacts above all).
    /// Workspace always sends `email`, as `null` when the caller may not see
    /// private data (then contacts are left out too); DocSpace leaves a null
    /// email out and has no such filter.
    pub fn shows_private_data(&self) -> bool {
        !matches!(self.email, Some(None))
    }
}

/// One `{type, value}` contact as the portal sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PortalContact {
    pub r#type: Option<String>,
    pub value: Option<String>,
}

/// A group summary (`GroupWrapperSummary` / `GroupSummaryDto`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PortalGroup {
    pub id: String,
    pub name: Option<String>,
    pub manager: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub issystem: Option<bool>,
}

/// The short user DTO (`EmployeeDto`), as in DocSpace's `createdBy`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PortalUserSummary {
    pub id: String,
    pub displayname: Option<String>,
    pub avatar: Option<String>,
    pub avataroriginal: Option<String>,
    pub avatarmax: Option<String>,
    pub avatarmedium: Option<String>,
    pub avatarsmall: Option<String>,
    pub profileurl: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub hasavatar: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub isanonim: Option<bool>,
}

/// An enum the portal may send as an int (the wire) or as its name (the docs).
#[derive(Debug, Clone, PartialEq)]
pub enum EnumValue {
    /// `1`
    Number(i64),
    /// `"Active"`, or a number in a string (`"1"`).
    Name(String),
}

/// Read straight from the token: an `untagged` enum would buffer each value
/// and build an error for every name before trying the string.
impl<'de> Deserialize<'de> for EnumValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnumVisitor;

        impl serde::de::Visitor<'_> for EnumVisitor {
            type Value = EnumValue;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an integer or a name")
            }

            fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<EnumValue, E> {
                Ok(EnumValue::Number(number))
            }

            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<EnumValue, E> {
                i64::try_from(number)
                    .map(EnumValue::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(number), &self))
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<EnumValue, E> {
                Ok(EnumValue::Name(name.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, name: String) -> Result<EnumValue, E> {
                Ok(EnumValue::Name(name))
            }
        }

        deserializer.deserialize_any(EnumVisitor)
    }
}

impl EnumValue {
    /// The numeric value, also when a number came as a string.
    pub fn number(&self) -> Option<i64> {
        match self {
            Self::Number(number) => Some(*number),
            Self::Name(name) => name.trim().parse().ok(),
        }
    }

    /// The lower-cased name, when the value came as a non-numeric string.
    pub fn name(&self) -> Option<String> {
        match self {
            Self::Number(_) => None,
            Self::Name(name) => Some(name.trim().to_ascii_lowercase()),
        }
    }
}

/// Distinguishes `"key": null` (`Some(None)`) from a missing key (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A bool that may also come as `"true"`/`"False"` (documents converted from XML).
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    /// Read straight from the token, as [`EnumValue`] is.
    struct FlagVisitor;

    impl serde::de::Visitor<'_> for FlagVisitor {
        type Value = Option<bool>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a boolean, or \"true\" or \"false\"")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }

        fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<Option<bool>, E> {
            Ok(Some(flag))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Option<bool>, E> {
            if text.eq_ignore_ascii_case("true") {
                Ok(Some(true))
            } else if text.eq_ignore_ascii_case("false") {
                Ok(Some(false))
            } else {
                Err(E::custom(format!("expected a boolean, got {text:?}")))
            }
        }
    }

    deserializer.deserialize_any(FlagVisitor)
}

/// A number that may also come as a string (DocSpace reads and writes numbers from strings).
fn lenient_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    /// Read straight from the token, as [`EnumValue`] is.
    struct NumberVisitor;

    impl serde::de::Visitor<'_> for NumberVisitor {
        type Value = Option<f64>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a number, or a number in a string")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }

        fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Option<f64>, E> {
            Ok(Some(number as f64))
        }

        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Option<f64>, E> {
            Ok(Some(number as f64))
        }

        fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Option<f64>, E> {
            Ok(Some(number))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Option<f64>, E> {
            text.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::custom(format!("expected a number, got {text:?}")))
        }
    }

    deserializer.deserialize_any(NumberVisitor)
}

/// A contact as both products bind it (`type`/`value`; Workspace also tries camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactBody {
    pub r#type: String,
    pub value: String,
}

/// Body of Workspace `PUT /api/2.0/people/{id}`. Absent options are left out
/// (never `null`: Workspace turns a JSON null into an empty string).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkspaceUpdateBody {
    /// Always sent: a missing value demotes or promotes the user.
    #[serde(rename = "isVisitor")]
    pub is_visitor: bool,
    /// Always sent: a missing list wipes all contacts.
    pub contacts: Vec<ContactBody>,
    /// Always sent: a missing list removes the user from every department
    /// when an administrator calls.
    pub department: Vec<String>,
    /// Sent whenever the user has a lead: a missing value clears it for admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worksfrom: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
}

/// Body of DocSpace `PUT /api/2.0/people/{id}` (`UpdateMemberRequestDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocSpaceUpdateBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<ContactBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// Sent on every write of one's own profile: a missing value resets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
    /// DocSpace's inverted name: `true` makes the user a guest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_user: Option<bool>,
    /// DocSpace 3.1.1 to 3.6.x only (refused for later releases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `SexEnum`: 0 female, 1 male (DocSpace 3.1.1 to 3.6.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<u8>,
    /// An `ApiDateTime` string (DocSpace 3.1.1 to 3.6.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// An `ApiDateTime` string; the DTO property is `Worksfrom` (DocSpace 3.1.1 to 3.6.x).
    #[serde(rename = "worksfrom", skip_serializing_if = "Option::is_none")]
    pub works_from: Option<String>,
}

/// Body of Workspace `PUT /api/2.0/people/status/{status}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusBody {
    #[serde(rename = "userIds")]
    pub user_ids: Vec<String>,
}

/// Body of Workspace `PUT /api/2.0/people/{id}/contacts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactsBody {
    pub contacts: Vec<ContactBody>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_null_is_told_apart_from_missing() {
        let hidden: PortalUser = serde_json::from_str(r#"{"id":"x","email":null}"#).unwrap();
        assert_eq!(hidden.email, Some(None));
        assert!(!hidden.shows_private_data());
        let missing: PortalUser = serde_json::from_str(r#"{"id":"x"}"#).unwrap();
        assert_eq!(missing.email, None);
        assert!(
            missing.shows_private_data(),
            "DocSpace leaves a null email out"
        );
        let shown: PortalUser = serde_json::from_str(r#"{"id":"x","email":"a@b"}"#).unwrap();
        assert!(shown.shows_private_data());
    }

    #[test]
    fn a_users_fields_fit_what_the_allocator_caches_per_thread() {
        // glibc keeps freed chunks of up to 1,032 bytes (1,024 of data) per
        // thread; a larger box takes the allocator's slow path every time.
        let size = std::mem::size_of::<PortalUserFields>();
        assert!(size <= 1024, "{size} bytes");
    }

    #[test]
    fn enums_and_flags_accept_documented_spellings() {
        let user = serde_json::from_str::<PortalUser>(
            r#"{"id":"x","status":"Active","activationstatus":1,"isadmin":"True","quotalimit":"5"}"#,
        )
        .unwrap()
        .into_fields();
        assert_eq!(
            user.status.and_then(|status| status.name()),
            Some("active".into())
        );
        assert_eq!(user.activationstatus.and_then(|s| s.number()), Some(1));
        assert_eq!(user.isadmin, Some(true));
        assert_eq!(user.quotalimit, Some(5.0));
    }

    #[test]
    fn enums_are_numbers_or_names_and_nothing_else() {
        let read = |json: &str| serde_json::from_str::<EnumValue>(json).ok();
        assert_eq!(read("-2"), Some(EnumValue::Number(-2)));
        assert_eq!(
            read("\"Terminated\""),
            Some(EnumValue::Name("Terminated".into()))
        );
        assert_eq!(read("\"2\"").and_then(|value| value.number()), Some(2));
        for not_an_enum in ["1.5", "true", "[1]", "{}", "18446744073709551615"] {
            assert_eq!(read(not_an_enum), None, "{not_an_enum}");
        }
    }

    #[test]
    fn contacts_of_the_wrong_shape_fail_instead_of_reading_as_absent() {
        let result = serde_json::from_str::<PortalUser>(r#"{"id":"x","contacts":"mail"}"#);
        assert!(result.is_err());
    }

    #[test]
    fn bodies_leave_out_absent_fields_instead_of_sending_null() {
        let body = serde_json::to_value(WorkspaceUpdateBody::default()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"isVisitor": false, "contacts": [], "department": []})
        );
        let body = serde_json::to_value(DocSpaceUpdateBody {
            is_user: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"isUser": true}));
    }
}
