//! What an UpdateUser changes: the fields of the contract, sets of them for
//! the rule tables, and the validated changes.

use std::fmt;

use chrono::NaiveDate;
use uuid::Uuid;

use super::contact::Contact;
use super::user::UserId;

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
