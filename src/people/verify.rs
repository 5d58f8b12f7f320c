//! Whether the portal holds what a write asked for, read from the portal's
//! own answer: the net under the rules table. Each requested field is
//! compared the way the portal stores it (names and free text as sent, a
//! calendar day in the tenant's zone, departments through `groups`, contacts
//! as a multiset, the guest flag through `isVisitor`, `disabled` through
//! `status`, the avatar as "changed from before"). A field the answer does not
//! show is unverified, never assumed. The same comparison tells when a fresh
//! read already holds a change, so that no write is sent for it.

use chrono::NaiveDate;
use uuid::Uuid;

use super::department_ids_of;
use super::rules::ProductRules;
use crate::domain::{Contact, Field, FieldSet, ProfileChanges, Sex, UserId};
use crate::error::{IgnoredChange, Mismatch};
use crate::portal::PortalUser;
use crate::portal::dates::ApiDateTime;
use crate::portal::model::{EnumValue, PortalContact};

/// What the comparison found, field by field.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Requested fields the answer shows as asked.
    pub applied: FieldSet,
    /// Requested fields the answer contradicts.
    pub ignored: Vec<Mismatch>,
    /// Requested fields the answer does not show.
    pub unverified: FieldSet,
}

impl Verdict {
    /// What the caller is told when a field was contradicted: each ignored
    /// field, what did apply, and the user as held.
    pub fn into_ignored(
        self,
        rules: &'static ProductRules,
        held: PortalUser,
    ) -> Box<IgnoredChange> {
        Box::new(IgnoredChange {
            ignored: self.ignored,
            applied: self.applied,
            unverified: self.unverified,
            not_sent: FieldSet::EMPTY,
            releases: rules.releases,
            user: held,
        })
    }
}

/// One field as the answer shows it.
enum Shown {
    /// As asked.
    Holds,
    /// Otherwise: what it shows, in words.
    Differs { asked: String, held: String },
    /// Not at all.
    Unseen,
}

/// Compares every requested field of `changes` with `held`, the portal's
/// answer to the write; `before` is the user as read before it (for the
/// avatar, whose URL is never shown back as sent).
pub fn verify(
    rules: &ProductRules,
    changes: &ProfileChanges,
    before: &PortalUser,
    held: &PortalUser,
) -> Verdict {
    let mut verdict = Verdict::default();
    for field in changes.fields().iter() {
        match shown(rules, field, changes, Some(before), held) {
            Shown::Holds => verdict.applied = verdict.applied.union(field.into()),
            Shown::Unseen => verdict.unverified = verdict.unverified.union(field.into()),
            Shown::Differs { asked, held } => verdict.ignored.push(Mismatch { field, asked, held }),
        }
    }
    verdict
}

/// Whether `current` already holds every requested change, so that a write
/// would change nothing. Never true for a field that cannot be seen, nor for
/// an avatar (whether a URL's picture is the one shown cannot be told).
pub fn already_held(rules: &ProductRules, changes: &ProfileChanges, current: &PortalUser) -> bool {
    let fields = changes.fields();
    !fields.is_empty()
        && !fields.contains(Field::AvatarUrl)
        && fields
            .iter()
            .all(|field| matches!(shown(rules, field, changes, None, current), Shown::Holds))
}

/// How the answer to a write shows `field` under `rules`, in words, for the README.
pub fn how_verified(rules: &ProductRules, field: Field) -> &'static str {
    if !rules.supported.contains(field) {
        return "refused before writing";
    }
    if rules.unverifiable.contains(field) {
        return "not shown: unverified";
    }
    match field {
        Field::FirstName | Field::LastName | Field::Comment | Field::Title | Field::Location => {
            "text as sent (stored untrimmed)"
        }
        Field::Sex => "`sex`",
        Field::Birthday | Field::WorksFrom => "the calendar day",
        Field::DepartmentIds => "the set of `groups[].id`; unverified when hidden from the caller",
        Field::Contacts => "as a multiset of pairs; unverified when hidden from the caller",
        Field::AvatarUrl => {
            "the pictures changed; unverified when the same picture may have been set again"
        }
        Field::Disabled => "`status`",
        Field::IsGuest => "`isVisitor`",
        Field::LeadId => "`lead`",
        Field::Spam => "not shown: unverified",
    }
}

fn shown(
    rules: &ProductRules,
    field: Field,
    changes: &ProfileChanges,
    before: Option<&PortalUser>,
    held: &PortalUser,
) -> Shown {
    if rules.unverifiable.contains(field) {
        return Shown::Unseen;
    }
    match field {
        Field::FirstName => text(changes.first_name.as_deref(), held.firstname.as_deref()),
        Field::LastName => text(changes.last_name.as_deref(), held.lastname.as_deref()),
        Field::Comment => text(changes.comment.as_deref(), held.notes.as_deref()),
        Field::Title => text(changes.title.as_deref(), held.title.as_deref()),
        Field::Location => text(changes.location.as_deref(), held.location.as_deref()),
        // Both products leave an unset sex out of the answer.
        Field::Sex => match changes.sex {
            Some(asked) => compare(Some(asked), held.sex.as_ref().and_then(sex_of), sex_words),
            None => Shown::Unseen,
        },
        Field::Birthday => date(changes.birthday, held.birthday.as_ref()),
        Field::WorksFrom => date(changes.works_from, held.workfrom.as_ref()),
        Field::DepartmentIds => match (&changes.department_ids, department_ids_of(held)) {
            (Some(asked), Ok(Some(held))) => departments(asked, &held),
            _ => Shown::Unseen,
        },
        Field::Contacts => match &changes.contacts {
            Some(asked) if held.shows_private_data() => {
                contacts(asked, held.contacts.as_deref().unwrap_or_default())
            }
            _ => Shown::Unseen,
        },
        Field::AvatarUrl => match (&changes.avatar_url, before) {
            (Some(asked), Some(before)) => avatar(asked, before, held),
            _ => Shown::Unseen,
        },
        Field::Disabled => match (changes.disabled, is_disabled(held)) {
            (Some(asked), Some(held)) => compare(asked, held, bool::to_string),
            _ => Shown::Unseen,
        },
        Field::IsGuest => match (changes.is_guest, held.isvisitor) {
            (Some(asked), Some(held)) => compare(asked, held, bool::to_string),
            _ => Shown::Unseen,
        },
        Field::LeadId => match changes.lead {
            Some(asked) => compare(asked, lead_of(held), |lead| match lead {
                Some(lead) => lead.to_string(),
                None => "none".into(),
            }),
            None => Shown::Unseen,
        },
        // No product shows it back.
        Field::Spam => Shown::Unseen,
    }
}

fn compare<T: PartialEq>(asked: T, held: T, words: impl Fn(&T) -> String) -> Shown {
    if asked == held {
        Shown::Holds
    } else {
        Shown::Differs {
            asked: words(&asked),
            held: words(&held),
        }
    }
}

/// Free text: both products leave an empty value out of the answer.
fn text(asked: Option<&str>, held: Option<&str>) -> Shown {
    let Some(asked) = asked else {
        return Shown::Unseen;
    };
    let held = held.unwrap_or_default();
    compare(asked, held, |text| format!("{text:?}"))
}

fn sex_of(value: &EnumValue) -> Option<Sex> {
    match (value.number(), value.name().as_deref()) {
        (Some(1), _) | (None, Some("male")) => Some(Sex::Male),
        (Some(0), _) | (None, Some("female")) => Some(Sex::Female),
        _ => None,
    }
}

fn sex_words(sex: &Option<Sex>) -> String {
    match sex {
        Some(Sex::Male) => "male".into(),
        Some(Sex::Female) => "female".into(),
        None => "unknown".into(),
    }
}

/// Whether the user is suspended, as its `status` says; `None` when it says neither.
pub(super) fn is_disabled(user: &PortalUser) -> Option<bool> {
    user.status.as_ref().and_then(disabled_of)
}

/// `EmployeeStatus`: 1 Active, 2 Terminated; anything else is neither.
fn disabled_of(value: &EnumValue) -> Option<bool> {
    match (value.number(), value.name().as_deref()) {
        (Some(1), _) | (None, Some("active")) => Some(false),
        (Some(2), _) | (None, Some("terminated")) => Some(true),
        _ => None,
    }
}

fn lead_of(user: &PortalUser) -> Option<UserId> {
    user.lead
        .as_deref()
        .and_then(UserId::parse)
        .filter(|lead| !lead.is_nil())
}

/// A calendar day as the products read it back; `None` is no date.
fn date(asked: Option<Option<NaiveDate>>, held: Option<&ApiDateTime>) -> Shown {
    let Some(asked) = asked else {
        return Shown::Unseen;
    };
    let held = held
        .and_then(ApiDateTime::parse)
        .map(|date| date.calendar_date());
    compare(asked, held, |date| match date {
        Some(date) => date.to_string(),
        None => "none".into(),
    })
}

/// Membership is a set: the portal keeps its own order.
fn departments(asked: &[Uuid], held: &[Uuid]) -> Shown {
    let mut asked = asked.to_vec();
    let mut held = held.to_vec();
    for list in [&mut asked, &mut held] {
        list.sort_unstable();
        list.dedup();
    }
    compare(asked, held, |ids| {
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Contacts are a multiset of pairs: the order is the portal's. Compared
/// as sorted lists of borrowed pairs: a user's few contacts need neither a
/// hash map nor copies.
fn contacts(asked: &[Contact], held: &[PortalContact]) -> Shown {
    let asked_pairs = asked
        .iter()
        .map(|contact| (contact.kind.as_str(), contact.value.as_str()));
    let held_pairs = held.iter().map(|contact| {
        (
            contact.r#type.as_deref().unwrap_or_default(),
            contact.value.as_deref().unwrap_or_default(),
        )
    });
    fn sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
        let mut sorted: Vec<_> = pairs.collect();
        sorted.sort_unstable();
        sorted
    }
    fn words<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
        let words: Vec<_> = pairs
            .map(|(kind, value)| format!("{kind}:{value}"))
            .collect();
        format!("[{}]", words.join(", "))
    }
    if sorted(asked_pairs.clone()) == sorted(held_pairs.clone()) {
        return Shown::Holds;
    }
    Shown::Differs {
        asked: words(asked_pairs),
        held: words(held_pairs),
    }
}

/// The portal never shows the URL it was given: it stores the picture under
/// paths of its own, with a query that changes on every save of the user
/// (`LastModified`'s hash: CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeWraper.cs:58-66,
/// DS@v3.7.2-server:common/ASC.Api.Core/Model/EmployeeFullDto.cs:429-434).
/// A picture was taken when the paths changed or the user now has a picture
/// of their own; when neither, it was dropped if the user still shows the
/// default picture, and cannot be told otherwise (a new picture of a user
/// who had one keeps the paths).
fn avatar(asked: &str, before: &PortalUser, held: &PortalUser) -> Shown {
    fn paths(user: &PortalUser) -> [Option<&str>; 5] {
        [
            &user.avatar,
            &user.avataroriginal,
            &user.avatarmax,
            &user.avatarmedium,
            &user.avatarsmall,
        ]
        .map(|url| {
            url.as_deref()
                .map(|url| url.split_once('?').map_or(url, |(path, _)| path))
        })
    }
    let shown = paths(held);
    if shown.iter().all(Option::is_none) {
        Shown::Unseen
    } else if shown != paths(before) || (shows_own_picture(held) && !shows_own_picture(before)) {
        Shown::Holds
    } else if shows_own_picture(held) {
        Shown::Unseen
    } else {
        Shown::Differs {
            asked: format!("{asked:?}"),
            held: "the default picture".into(),
        }
    }
}

/// Whether the user shows a picture of their own rather than the default
/// one, which both products serve as `default_user_photo_…`
/// (DocSpace also says `hasAvatar`).
fn shows_own_picture(user: &PortalUser) -> bool {
    user.hasavatar.unwrap_or_else(|| {
        user.avatar
            .as_deref()
            .is_some_and(|avatar| !avatar.contains("default_user_photo"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::rules::{DOCSPACE_3_7, WORKSPACE};

    fn user(json: serde_json::Value) -> PortalUser {
        serde_json::from_value(json).unwrap()
    }

    fn mike() -> PortalUser {
        user(serde_json::json!({
            "id": "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302",
            "email": "mike@example.com",
            "firstname": "Mike",
            "title": "Sales",
            "isvisitor": false,
            "status": 1,
            "birthday": "1985-04-11T03:00:00.0000000+03:00",
            "contacts": [
                {"type": "mail", "value": "a@x"},
                {"type": "skype", "value": "mz"},
            ],
            "department": "Marketing",
            "groups": [{"id": "6174c082-e4a5-4091-b2b3-c4d5e6f70807", "name": "Marketing"}],
            "avatar": "/a.png?_=1",
        }))
    }

    #[test]
    fn a_field_the_answer_contradicts_is_named_with_what_was_asked_and_held() {
        let changes = ProfileChanges {
            first_name: Some("Mike".into()),
            title: Some("Head of Sales".into()),
            disabled: Some(true),
            ..ProfileChanges::default()
        };
        let verdict = verify(&WORKSPACE, &changes, &mike(), &mike());
        assert_eq!(verdict.applied, Field::FirstName.into());
        let ignored: Vec<_> = verdict.ignored.iter().map(|m| m.field).collect();
        assert_eq!(ignored, [Field::Title, Field::Disabled]);
        assert_eq!(verdict.ignored[0].asked, "\"Head of Sales\"");
        assert_eq!(verdict.ignored[0].held, "\"Sales\"");
    }

    #[test]
    fn lists_compare_as_multisets_and_dates_as_days() {
        let changes = ProfileChanges {
            contacts: Some(vec![
                Contact::new("skype", "mz").unwrap(),
                Contact::new("mail", "a@x").unwrap(),
            ]),
            department_ids: Some(vec![
                Uuid::parse_str("6174c082-e4a5-4091-b2b3-c4d5e6f70807").unwrap(),
            ]),
            birthday: Some(NaiveDate::from_ymd_opt(1985, 4, 11)),
            ..ProfileChanges::default()
        };
        assert!(already_held(&WORKSPACE, &changes, &mike()));
        let twice = ProfileChanges {
            contacts: Some(vec![
                Contact::new("mail", "a@x").unwrap(),
                Contact::new("mail", "a@x").unwrap(),
            ]),
            ..ProfileChanges::default()
        };
        assert!(!already_held(&WORKSPACE, &twice, &mike()));
        // A difference is told in each list's own order.
        let verdict = verify(&WORKSPACE, &twice, &mike(), &mike());
        assert_eq!(verdict.ignored[0].asked, "[mail:a@x, mail:a@x]");
        assert_eq!(verdict.ignored[0].held, "[mail:a@x, skype:mz]");
    }

    #[test]
    fn a_sex_the_answer_leaves_out_is_none() {
        let changes = ProfileChanges {
            sex: Some(Sex::Female),
            ..ProfileChanges::default()
        };
        let mut unset = mike();
        unset.sex = None;
        assert_eq!(
            verify(&WORKSPACE, &changes, &unset, &unset).ignored.len(),
            1
        );
    }

    #[test]
    fn what_the_answer_cannot_show_is_unverified_and_never_skipped() {
        let spam = ProfileChanges {
            spam: Some(true),
            ..ProfileChanges::default()
        };
        let verdict = verify(&DOCSPACE_3_7, &spam, &mike(), &mike());
        assert_eq!(verdict.unverified, Field::Spam.into());
        assert!(verdict.ignored.is_empty());
        assert!(!already_held(&DOCSPACE_3_7, &spam, &mike()));

        let mut hidden = mike();
        hidden.email = Some(None);
        hidden.contacts = None;
        let contacts = ProfileChanges {
            contacts: Some(Vec::new()),
            ..ProfileChanges::default()
        };
        assert_eq!(
            verify(&WORKSPACE, &contacts, &mike(), &hidden).unverified,
            Field::Contacts.into()
        );
    }

    #[test]
    fn an_avatar_counts_as_taken_when_the_pictures_changed() {
        let changes = ProfileChanges {
            avatar_url: Some("https://x.test/a.png".into()),
            ..ProfileChanges::default()
        };
        let mut after = mike();
        after.avatar = Some("/b.png?_=2".into());
        assert_eq!(
            verify(&WORKSPACE, &changes, &mike(), &after).applied,
            Field::AvatarUrl.into()
        );
        // Only the query changed: every save changes it.
        let mut saved = mike();
        saved.avatar = Some("/a.png?_=3".into());
        assert_eq!(
            verify(&WORKSPACE, &changes, &mike(), &saved).unverified,
            Field::AvatarUrl.into()
        );
        // The same picture may have been set again.
        assert_eq!(
            verify(&WORKSPACE, &changes, &mike(), &mike()).unverified,
            Field::AvatarUrl.into()
        );
        let mut plain = mike();
        plain.avatar = Some("/skins/default/images/default_user_photo_size_82-82.png".into());
        assert_eq!(
            verify(&WORKSPACE, &changes, &plain, &plain).ignored.len(),
            1
        );
        assert!(!already_held(&WORKSPACE, &changes, &after));
    }
}
