//! What the portal holds, as the contract's `pb::User`: every field the
//! portal showed, and unset where it showed nothing.

use chrono::Datelike as _;
use uuid::Uuid;

use crate::operations::UserRecord;
use crate::pb;
use crate::portal::dates::ApiDateTime;
use crate::portal::model::{
    EnumValue, PortalContact, PortalGroup, PortalUser, PortalUserFields, PortalUserSummary,
};

impl From<UserRecord> for pb::User {
    fn from(record: UserRecord) -> Self {
        user_to_pb(record.into_portal())
    }
}

/// The portal's user as the contract's `User`; fields the portal left out stay unset.
pub fn user_to_pb(user: PortalUser) -> pb::User {
    let shows_private_data = user.shows_private_data();
    let PortalUserFields {
        id,
        displayname,
        title,
        firstname,
        lastname,
        username,
        email,
        contacts,
        birthday,
        sex,
        status,
        activationstatus,
        terminated,
        department,
        workfrom,
        groups,
        location,
        notes,
        lead,
        avatar,
        avataroriginal,
        avatarmax,
        avatarmedium,
        avatarsmall,
        profileurl,
        hasavatar,
        isanonim,
        isadmin,
        isroomadmin,
        isldap,
        listadminmodules,
        isowner,
        isvisitor,
        iscollaborator,
        culturename,
        mobilephone,
        mobilephoneactivationstatus,
        issso,
        theme,
        quotalimit,
        usedspace,
        docsspace,
        mailspace,
        talkspace,
        shared,
        iscustomquota,
        logineventid,
        authcookielifetime,
        haspersonalfolder,
        tfaappenabled,
        createdby,
        registrationdate,
    } = user.into_fields();
    let department_shown = department.is_some();
    pb::User {
        id,
        display_name: displayname,
        title,
        first_name: firstname,
        last_name: lastname,
        user_name: username,
        email: email.flatten(),
        contacts: contacts_to_pb(contacts, shows_private_data),
        birthday: birthday.as_ref().and_then(calendar_date),
        sex: sex.as_ref().and_then(sex_to_pb).map(Into::into),
        status: status.as_ref().and_then(status_to_pb).map(Into::into),
        activation_status: activationstatus
            .as_ref()
            .and_then(activation_to_pb)
            .map(Into::into),
        terminated: terminated.as_ref().and_then(timestamp),
        department,
        works_from: workfrom.as_ref().and_then(calendar_date),
        groups: groups_to_pb(groups, department_shown),
        location,
        notes,
        lead_id: lead.filter(|lead| !is_empty_guid(lead)),
        avatar,
        avatar_original: avataroriginal,
        avatar_max: avatarmax,
        avatar_medium: avatarmedium,
        avatar_small: avatarsmall,
        profile_url: profileurl,
        has_avatar: hasavatar,
        is_anonim: isanonim,
        is_admin: isadmin,
        is_room_admin: isroomadmin,
        is_ldap: isldap,
        list_admin_modules: listadminmodules.unwrap_or_default(),
        is_owner: isowner,
        is_visitor: isvisitor,
        is_collaborator: iscollaborator,
        culture_name: culturename,
        mobile_phone: mobilephone,
        mobile_phone_activation_status: mobilephoneactivationstatus
            .as_ref()
            .and_then(mobile_activation_to_pb)
            .map(Into::into),
        is_sso: issso,
        theme: theme.as_ref().and_then(theme_to_pb).map(Into::into),
        quota_limit: quotalimit.map(whole),
        used_space: usedspace,
        docs_space: docsspace.map(whole),
        mail_space: mailspace.map(whole),
        talk_space: talkspace.map(whole),
        shared,
        is_custom_quota: iscustomquota,
        login_event_id: logineventid.and_then(|id| i32::try_from(whole(id)).ok()),
        auth_cookie_lifetime: authcookielifetime,
        has_personal_folder: haspersonalfolder,
        tfa_app_enabled: tfaappenabled,
        created_by: createdby.map(|summary| summary_to_pb(*summary)),
        registration_date: registrationdate.as_ref().and_then(timestamp),
    }
}

/// Both products leave `contacts` out when the list is empty; Workspace also
/// when the caller may not see private data, which its `email: null` tells.
fn contacts_to_pb(
    contacts: Option<Vec<PortalContact>>,
    shows_private_data: bool,
) -> Option<pb::ContactList> {
    match contacts {
        Some(contacts) => Some(pb::ContactList {
            contacts: contacts.into_iter().map(contact_to_pb).collect(),
        }),
        None => shows_private_data.then(pb::ContactList::default),
    }
}

/// Both products leave `groups` out when there are none, and DocSpace leaves
/// `groups` and `department` out together when the caller may not see them.
fn groups_to_pb(groups: Option<Vec<PortalGroup>>, department_shown: bool) -> Option<pb::GroupList> {
    match groups {
        Some(groups) => Some(pb::GroupList {
            groups: groups.into_iter().map(group_to_pb).collect(),
        }),
        None => department_shown.then(pb::GroupList::default),
    }
}

fn contact_to_pb(contact: PortalContact) -> pb::Contact {
    let PortalContact { r#type, value } = contact;
    pb::Contact {
        r#type: r#type.unwrap_or_default(),
        value: value.unwrap_or_default(),
    }
}

fn group_to_pb(group: PortalGroup) -> pb::Group {
    let PortalGroup {
        id,
        name,
        manager,
        issystem,
    } = group;
    pb::Group {
        id,
        name,
        manager,
        is_system: issystem,
    }
}

fn summary_to_pb(summary: PortalUserSummary) -> pb::UserSummary {
    let PortalUserSummary {
        id,
        displayname,
        avatar,
        avataroriginal,
        avatarmax,
        avatarmedium,
        avatarsmall,
        profileurl,
        hasavatar,
        isanonim,
    } = summary;
    pb::UserSummary {
        id,
        display_name: displayname,
        avatar,
        avatar_original: avataroriginal,
        avatar_max: avatarmax,
        avatar_medium: avatarmedium,
        avatar_small: avatarsmall,
        profile_url: profileurl,
        has_avatar: hasavatar,
        is_anonim: isanonim,
    }
}

/// Sizes come as JSON numbers that may be fractional on DocSpace; the
/// contract's int64 fields take the whole part.
fn whole(number: f64) -> i64 {
    number.trunc() as i64
}

fn is_empty_guid(text: &str) -> bool {
    Uuid::try_parse(text).is_ok_and(|id| id.is_nil())
}

fn calendar_date(value: &ApiDateTime) -> Option<pb::Date> {
    let date = value.parse()?.calendar_date();
    Some(pb::Date {
        year: date.year(),
        month: i32::try_from(date.month()).ok()?,
        day: i32::try_from(date.day()).ok()?,
    })
}

fn timestamp(value: &ApiDateTime) -> Option<prost_types::Timestamp> {
    let instant = value.parse()?.instant()?;
    Some(prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).ok()?,
    })
}

/// Looks an enum value up by number or by lower-cased name; unknown values stay unset.
fn lookup<T: Copy>(value: &EnumValue, numbers: &[(i64, T)], names: &[(&str, T)]) -> Option<T> {
    match value.number() {
        Some(number) => numbers
            .iter()
            .find(|(known, _)| *known == number)
            .map(|(_, mapped)| *mapped),
        None => {
            let name = value.name()?;
            names
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, mapped)| *mapped)
        }
    }
}

fn status_to_pb(value: &EnumValue) -> Option<pb::UserStatus> {
    use pb::UserStatus::*;
    lookup(
        value,
        &[
            (1, Active),
            (2, Terminated),
            (4, Pending),
            (5, Default),
            (7, All),
        ],
        &[
            ("active", Active),
            ("terminated", Terminated),
            ("pending", Pending),
            ("leaveofabsence", Pending),
            ("default", Default),
            ("all", All),
        ],
    )
}

fn activation_to_pb(value: &EnumValue) -> Option<pb::ActivationStatus> {
    use pb::ActivationStatus::*;
    lookup(
        value,
        &[
            (0, NotActivated),
            (1, Activated),
            (2, Pending),
            (4, AutoGenerated),
        ],
        &[
            ("notactivated", NotActivated),
            ("activated", Activated),
            ("pending", Pending),
            ("autogenerated", AutoGenerated),
        ],
    )
}

fn mobile_activation_to_pb(value: &EnumValue) -> Option<pb::MobilePhoneActivationStatus> {
    use pb::MobilePhoneActivationStatus::*;
    lookup(
        value,
        &[(0, NotActivated), (1, Activated)],
        &[("notactivated", NotActivated), ("activated", Activated)],
    )
}

fn theme_to_pb(value: &EnumValue) -> Option<pb::Theme> {
    use pb::Theme::*;
    lookup(
        value,
        &[(0, Base), (1, Dark), (2, System)],
        &[("base", Base), ("dark", Dark), ("system", System)],
    )
}

/// Workspace sends `"male"`/`"female"`; DocSpace up to 3.6 sent `SexEnum` ints (0 female, 1 male).
fn sex_to_pb(value: &EnumValue) -> Option<pb::Sex> {
    lookup(
        value,
        &[(0, pb::Sex::Female), (1, pb::Sex::Male)],
        &[("male", pb::Sex::Male), ("female", pb::Sex::Female)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_user_maps_enums_dates_and_leaves_absent_fields_unset() {
        let user: PortalUser = serde_json::from_value(serde_json::json!({
            "id": "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302",
            "status": 4,
            "activationstatus": 0,
            "sex": "male",
            "birthday": "1985-04-10T03:00:00.0000000+03:00",
            "terminated": null,
            "registrationdate": "2020-01-02T03:04:05.0000000+03:00",
            "lead": "00000000-0000-0000-0000-000000000000",
            "email": null,
            "contacts": [{"type": "mail", "value": "m@x"}],
            "theme": "Dark",
        }))
        .unwrap();
        let pb_user = user_to_pb(user);
        assert_eq!(pb_user.status, Some(pb::UserStatus::Pending.into()));
        assert_eq!(
            pb_user.activation_status,
            Some(pb::ActivationStatus::NotActivated.into())
        );
        assert_eq!(pb_user.sex, Some(pb::Sex::Male.into()));
        assert_eq!(
            pb_user.birthday,
            Some(pb::Date {
                year: 1985,
                month: 4,
                day: 10
            })
        );
        assert_eq!(pb_user.registration_date.unwrap().seconds, 1_577_923_445);
        assert_eq!(pb_user.theme, Some(pb::Theme::Dark.into()));
        assert_eq!(pb_user.terminated, None);
        assert_eq!(pb_user.lead_id, None);
        assert_eq!(pb_user.email, None);
        assert_eq!(pb_user.first_name, None);
        assert_eq!(pb_user.is_admin, None);
        assert_eq!(pb_user.contacts.unwrap().contacts[0].value, "m@x");
        assert_eq!(pb_user.groups, None);
    }

    #[test]
    fn hidden_lists_stay_unset_and_omitted_empty_lists_are_empty() {
        let hidden: PortalUser =
            serde_json::from_value(serde_json::json!({"id": "x", "email": null})).unwrap();
        let hidden = user_to_pb(hidden);
        assert_eq!((hidden.contacts, hidden.groups), (None, None));
        let empty: PortalUser = serde_json::from_value(
            serde_json::json!({"id": "x", "email": "a@b", "department": ""}),
        )
        .unwrap();
        let empty = user_to_pb(empty);
        assert_eq!(empty.contacts, Some(pb::ContactList::default()));
        assert_eq!(empty.groups, Some(pb::GroupList::default()));
    }

    #[test]
    fn unknown_enum_values_stay_unset() {
        let user: PortalUser =
            serde_json::from_value(serde_json::json!({"id": "x", "status": 42})).unwrap();
        assert_eq!(user_to_pb(user).status, None);
    }
}
