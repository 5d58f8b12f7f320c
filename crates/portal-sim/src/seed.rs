//! The demo portal's fixed data: well-known ids, tokens and the users and departments every
//! simulator starts with (the same for both products).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use super::state::{Portal, STATUS_ACTIVE, STATUS_TERMINATED, SimGroup, SimUser};
use crate::Release;

/// Jane Doe (`jane.doe`): portal owner and administrator.
pub const ADMIN_ID: &str = "0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01";
/// Jane Doe's auth token.
pub const ADMIN_TOKEN: &str = "demo-admin-token";
/// Alex Admin (`alex.admin`): administrator, not the owner.
pub const SECOND_ADMIN_ID: &str = "5063bf71-d394-4f80-a1a2-b3c4d5e6f706";
/// Alex Admin's auth token.
pub const SECOND_ADMIN_TOKEN: &str = "demo-second-admin-token";
/// Mike Zanyatski (`mike.zanyatski`): a plain user with every profile field filled in.
pub const USER_ID: &str = "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302";
/// Mike Zanyatski's auth token.
pub const USER_TOKEN: &str = "demo-user-token";
/// Anna Guest (`anna.guest`): a guest (visitor).
pub const GUEST_ID: &str = "2d308c4e-a061-4c5d-9e7f-8091a2b3c403";
/// Anna Guest's auth token.
pub const GUEST_TOKEN: &str = "demo-guest-token";
/// Lee Ldap (`lee.ldap`): synchronised from LDAP, so names and location are read-only.
pub const LDAP_ID: &str = "3e419d5f-b172-4d6e-8f80-91a2b3c4d504";
/// Lee Ldap's auth token.
pub const LDAP_TOKEN: &str = "demo-ldap-token";
/// Sam Suspended (`sam.suspended`): terminated, no token.
pub const SUSPENDED_ID: &str = "4f52ae60-c283-4e7f-9091-a2b3c4d5e605";
/// The "Marketing" department, managed by jane.doe.
pub const MARKETING_GROUP_ID: &str = "6174c082-e4a5-4091-b2b3-c4d5e6f70807";
/// The "Sales & Support" department (its `&` shows HTML-encoded in `department`).
pub const SALES_GROUP_ID: &str = "7285d193-f5b6-41a2-83c4-d5e6f7081908";
/// Pat People (`pat.people`): administers the People module, not the portal.
pub const PEOPLE_ADMIN_ID: &str = "8396e2a4-06c7-42b3-94d5-e6f708192a09";
/// Pat People's auth token.
pub const PEOPLE_ADMIN_TOKEN: &str = "demo-people-admin-token";
/// Quinn Projects (`quinn.projects`): administers the Projects module only.
pub const MODULE_ADMIN_ID: &str = "94a7f3b5-17d8-43c4-a5e6-f708192a3b0a";
/// The tenant's time zone offset east of UTC, in minutes (UTC+3).
pub const TENANT_OFFSET_MINUTES: i32 = 180;
/// The DocSpace release the simulator follows unless told otherwise.
pub const DOCSPACE_RELEASE: Release = Release::new(3, 7, 2);
/// The Workspace release the simulator follows unless told otherwise.
pub const WORKSPACE_RELEASE: Release = Release::new(12, 7, 1);

/// Parses a seed id at compile time, so a typo fails the build instead of a request.
const fn seed_id(text: &str) -> Uuid {
    match Uuid::try_parse(text) {
        Ok(id) => id,
        Err(_) => panic!("seed ids are valid GUIDs"),
    }
}

pub(crate) const ADMIN: Uuid = seed_id(ADMIN_ID);
pub(crate) const SECOND_ADMIN: Uuid = seed_id(SECOND_ADMIN_ID);
pub(crate) const USER: Uuid = seed_id(USER_ID);
pub(crate) const GUEST: Uuid = seed_id(GUEST_ID);
pub(crate) const LDAP: Uuid = seed_id(LDAP_ID);
pub(crate) const SUSPENDED: Uuid = seed_id(SUSPENDED_ID);
pub(crate) const PEOPLE_ADMIN: Uuid = seed_id(PEOPLE_ADMIN_ID);
pub(crate) const MODULE_ADMIN: Uuid = seed_id(MODULE_ADMIN_ID);
pub(crate) const MARKETING: Uuid = seed_id(MARKETING_GROUP_ID);
pub(crate) const SALES: Uuid = seed_id(SALES_GROUP_ID);

/// The seeded departments.
pub(crate) fn groups() -> Vec<SimGroup> {
    vec![
        SimGroup {
            id: MARKETING,
            name: "Marketing".to_owned(),
            manager: Some(ADMIN),
        },
        SimGroup {
            id: SALES,
            name: "Sales & Support".to_owned(),
            manager: None,
        },
    ]
}

/// The seeded users, owner first.
pub(crate) fn users() -> Vec<SimUser> {
    vec![
        SimUser {
            title: Some("Director".to_owned()),
            location: Some("Riga".to_owned()),
            sex: Some(false),
            contacts: strings(&["phone", "+1 650 555 0101"]),
            group_ids: vec![MARKETING],
            culture_name: Some("en-US".to_owned()),
            registration_date: at(2014, 3, 2, 8, 0),
            token: Some(ADMIN_TOKEN.to_owned()),
            is_owner: true,
            is_admin: true,
            ..blank(ADMIN, "jane.doe", "Jane", "Doe")
        },
        SimUser {
            title: Some("IT administrator".to_owned()),
            group_ids: vec![SALES],
            registration_date: at(2016, 1, 11, 9, 30),
            token: Some(SECOND_ADMIN_TOKEN.to_owned()),
            is_admin: true,
            ..blank(SECOND_ADMIN, "alex.admin", "Alex", "Admin")
        },
        SimUser {
            email: "mike@example.com".to_owned(),
            title: Some("Manager".to_owned()),
            location: Some("Palo Alto".to_owned()),
            notes: Some("Prefers mail".to_owned()),
            sex: Some(true),
            // Workspace stores a birthday as tenant midnight.
            birthday: NaiveDate::from_ymd_opt(1985, 4, 10).and_then(|day| day.and_hms_opt(0, 0, 0)),
            // why: the portal defaults workFrom to the wall-clock time a user is created; late
            // enough that it shows as the next day in tenant time.
            work_from: NaiveDate::from_ymd_opt(2015, 9, 1)
                .and_then(|day| day.and_hms_opt(22, 30, 0)),
            contacts: strings(&[
                "mail",
                "mike@example.com",
                "skype",
                "mike.z",
                "phone",
                "+1 650 555 0100",
            ]),
            group_ids: vec![MARKETING],
            lead: Some(ADMIN),
            mobile_phone: Some("+16505550100".to_owned()),
            culture_name: Some("en-US".to_owned()),
            spam: Some(true),
            registration_date: at(2015, 9, 1, 7, 15),
            token: Some(USER_TOKEN.to_owned()),
            ..blank(USER, "mike.zanyatski", "Mike", "Zanyatski")
        },
        SimUser {
            is_visitor: true,
            registration_date: at(2023, 5, 20, 14, 0),
            token: Some(GUEST_TOKEN.to_owned()),
            ..blank(GUEST, "anna.guest", "Anna", "Guest")
        },
        SimUser {
            location: Some("Berlin".to_owned()),
            group_ids: vec![SALES],
            is_ldap: true,
            registration_date: at(2019, 10, 4, 6, 45),
            token: Some(LDAP_TOKEN.to_owned()),
            ..blank(LDAP, "lee.ldap", "Lee", "Ldap")
        },
        SimUser {
            status: STATUS_TERMINATED,
            terminated: Some(at(2024, 11, 30, 12, 0)),
            registration_date: at(2018, 2, 14, 10, 0),
            ..blank(SUSPENDED, "sam.suspended", "Sam", "Suspended")
        },
        SimUser {
            admin_modules: vec!["people".to_owned()],
            registration_date: at(2020, 6, 1, 9, 0),
            token: Some(PEOPLE_ADMIN_TOKEN.to_owned()),
            ..blank(PEOPLE_ADMIN, "pat.people", "Pat", "People")
        },
        SimUser {
            admin_modules: vec!["projects".to_owned()],
            registration_date: at(2021, 2, 3, 10, 0),
            ..blank(MODULE_ADMIN, "quinn.projects", "Quinn", "Projects")
        },
    ]
}

/// `Simulator::add_generated_users` numbers its users from 0 on; the `index`th one has this id:
/// `9e000000-0000-4000-8000-` and the index as twelve hex digits.
pub fn generated_user_id(index: usize) -> Uuid {
    const BASE: u128 = 0x9e00_0000_0000_4000_8000_0000_0000_0000;
    const INDEX_BITS: u128 = 0xffff_ffff_ffff;
    Uuid::from_u128(BASE | (index as u128 & INDEX_BITS))
}

/// The `index`th generated user: `P000123 Generated` (`p000123`, `p000123@example.com`), active,
/// no token; the zero-padded number makes names sort in index order (below a million).
pub(crate) fn generated_user(index: usize) -> SimUser {
    SimUser {
        registration_date: at(2022, 1, 3, 9, 0),
        ..blank(
            generated_user_id(index),
            &format!("p{index:06}"),
            &format!("P{index:06}"),
            "Generated",
        )
    }
}

/// An active, activated user with only the required fields set.
fn blank(id: Uuid, user_name: &str, first_name: &str, last_name: &str) -> SimUser {
    SimUser {
        id,
        user_name: user_name.to_owned(),
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        email: format!("{}@example.com", first_name.to_lowercase()),
        title: None,
        location: None,
        notes: None,
        sex: None,
        birthday: None,
        work_from: None,
        status: STATUS_ACTIVE,
        activation_status: 1,
        terminated: None,
        contacts: Vec::new(),
        group_ids: Vec::new(),
        lead: None,
        is_admin: false,
        admin_modules: Vec::new(),
        is_owner: false,
        is_visitor: false,
        is_ldap: false,
        is_sso: false,
        avatar_url: None,
        mobile_phone: None,
        culture_name: None,
        spam: None,
        registration_date: DateTime::UNIX_EPOCH,
        token: None,
        last_modified: 0,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The demo portal: the seeded users and departments, private data visible.
pub(crate) fn portal() -> Portal {
    Portal::new(
        users(),
        groups(),
        TENANT_OFFSET_MINUTES,
        (DOCSPACE_RELEASE, WORKSPACE_RELEASE),
    )
}
