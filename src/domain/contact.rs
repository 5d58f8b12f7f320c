//! Contacts, validated, and the pure merge and removal rules.

use super::user::MAX_REF_LEN;

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
pub fn merge_contacts(mut current: Vec<Contact>, additions: &[Contact]) -> Vec<Contact> {
    for addition in additions {
        if !current.iter().any(|existing| existing.same_as(addition)) {
            current.push(addition.clone());
        }
    }
    current
}

/// Removes every contact equal to one of the removals; others keep their order.
pub fn remove_contacts(mut current: Vec<Contact>, removals: &[Contact]) -> Vec<Contact> {
    current.retain(|existing| !removals.iter().any(|removal| removal.same_as(existing)));
    current
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
        let current = vec![contact("mail", "a@x"), contact("skype", "mike")];
        let merged = merge_contacts(
            current,
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
        let current = vec![
            contact("mail", "a@x"),
            contact("mail", "b@x"),
            contact("phone", "1"),
        ];
        let left = remove_contacts(current, &[contact("Mail", "b@x"), contact("phone", "2")]);
        assert_eq!(left, [contact("mail", "a@x"), contact("phone", "1")]);
    }
}
