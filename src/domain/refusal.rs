//! A change the gateway refuses up front because the portal would not honour
//! it faithfully: the rules' own vocabulary, with the sentence a caller reads.
//! The rules (`people::rules`) decide refusals; `error` translates them
//! into gRPC statuses. Both import it from here, so neither imports the other.

use super::{Field, FieldSet, Product};

/// A change the gateway refuses because the portal would not honour it
/// faithfully: which rule, the fields it concerns, and the rules in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which rule refused.
    pub kind: RefusalKind,
    /// The fields concerned.
    pub fields: FieldSet,
    /// The product the rules are of.
    pub product: Product,
    /// The releases the rules describe, as shown to callers.
    pub releases: &'static str,
}

/// The rules a change can break; each has one code and one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The release has no such fields.
    Unsupported,
    /// Applied only when users edit their own profile.
    SelfOnly,
    /// Applied only when someone else is edited.
    OthersOnly,
    /// Applied only for administrators.
    AdminOnly,
    /// LDAP/SSO users' names, title and location come from the directory.
    DirectoryManaged,
    /// The owner, administrators and module administrators never become guests.
    PrivilegedCannotBecomeGuest,
    /// The owner's status, and an administrator's unless the owner asks, is not changed.
    PrivilegedStatusIgnored,
    /// The release cannot clear this date reliably.
    DateNotClearable,
    /// The portal resets the field when absent, and the caller cannot read its value.
    NotVisible,
    /// The portal resets the field on every own-profile write and never returns it.
    RequiredOnOwnProfile,
    /// The portal reads a text that is wholly a date-time as a date and stores it rewritten.
    ReadAsDate,
}

impl Refusal {
    /// A sentence for the caller.
    pub fn message(&self) -> String {
        let fields = self.fields.join(", ");
        let product = self.product;
        let releases = self.releases;
        match self.kind {
            RefusalKind::Unsupported => {
                format!("{releases} has no {fields}; nothing was changed")
            }
            RefusalKind::SelfOnly => format!(
                "{product} applies {fields} only when users edit their own profile; nothing was changed"
            ),
            RefusalKind::OthersOnly => format!(
                "{product} ignores {fields} on one's own profile; an administrator must change it"
            ),
            RefusalKind::AdminOnly => {
                format!("{product} applies {fields} only for administrators; nothing was changed")
            }
            RefusalKind::DirectoryManaged => format!(
                "{fields} of an LDAP or SSO user come from the directory and cannot be changed here"
            ),
            RefusalKind::PrivilegedCannotBecomeGuest => format!(
                "{product} does not make the owner, an administrator or a module administrator a guest; nothing was changed"
            ),
            RefusalKind::PrivilegedStatusIgnored => format!(
                "{releases} ignores {fields} for the owner, and for an administrator unless the owner \
                 sends it; nothing was changed"
            ),
            RefusalKind::DateNotClearable => format!(
                "{releases} reads the clearing date in the server's time zone, not the portal's, \
                 so {fields} cannot be cleared reliably; nothing was changed"
            ),
            RefusalKind::NotVisible if self.fields.contains(Field::DepartmentIds) => format!(
                "the caller cannot see this user's departments, and {product} removes the user from \
                 every department unless they are sent; set department_ids explicitly"
            ),
            RefusalKind::NotVisible => format!(
                "the caller cannot see this user's contacts, and {product} erases them unless they \
                 are sent; send the whole list with SetContacts instead"
            ),
            RefusalKind::ReadAsDate => format!(
                "{product} reads a text that is wholly an ISO-8601 date-time (or `/Date(…)/`) as a \
                 date and stores it rewritten, so {fields} would not be kept as sent; nothing was changed"
            ),
            RefusalKind::RequiredOnOwnProfile => format!(
                "{product} resets the marketing-mail consent on every write of one's own profile and \
                 never returns it; set `{fields}` to keep it"
            ),
        }
    }
}
