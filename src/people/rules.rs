//! The portal's update rules as data: for each product and release range, which
//! `UpdateUser` fields exist, which the portal applies only in some situations
//! (one's own profile, someone else's, an administrator's call, a user not
//! managed by a directory), and which it resets when they are absent. One pure
//! [`check`] turns a change and the facts about who edits whom into "send it"
//! or the [`Refusal`] that names what the portal would silently drop.
//!
//! A portal release that changes a rule is a change to one entry of [`TABLE`].
//! Each entry cites the source it was read from (`repo@rev:path:lines`; CS is
//! ONLYOFFICE/CommunityServer, DS is ONLYOFFICE/DocSpace-server).

use crate::domain::Product;
use crate::domain::{Field, FieldSet, PortalVersion, ProfileChanges};
use crate::domain::{Refusal, RefusalKind};

use Field::*;

/// What one product release range does with `PUT /api/2.0/people/{userid}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductRules {
    /// The product.
    pub product: Product,
    /// The releases described, as shown to callers and in the README.
    pub releases: &'static str,
    /// Fields the update reads at all; anything else it never applies.
    pub supported: FieldSet,
    /// Applied only when users edit their own profile.
    pub self_only: FieldSet,
    /// Applied only when someone else is edited.
    pub others_only: FieldSet,
    /// Applied only when the caller administers people on the portal.
    pub admin_only: FieldSet,
    /// Ignored when the user is managed by LDAP or SSO.
    pub directory_managed: FieldSet,
    /// Reset by the portal when absent: the gateway sends the current value.
    pub reset_when_absent: FieldSet,
    /// Reset by the portal on every write of one's own profile and never shown
    /// back, so the caller must send it.
    pub required_on_own_profile: FieldSet,
    /// Making the owner, an administrator or a module administrator a guest is ignored.
    pub privileged_never_become_guests: bool,
    /// `disabled` is ignored for the owner, and for an administrator unless
    /// the owner sends it.
    pub privileged_status_ignored: bool,
    /// Whether a date can be cleared by the day the portal reads as "clear".
    pub dates_clearable: bool,
    /// Fields the write's answer never shows, so the gateway cannot verify them.
    pub unverifiable: FieldSet,
    /// Whether a text sent that is wholly a date-time is stored rewritten.
    pub reads_dates_in_text: bool,
    /// Whether `PUT /people/{id}/contacts` exists, through which an
    /// administrator edits someone else's contacts (DocSpace's update applies
    /// contacts to one's own profile only).
    pub contacts_route_for_others: bool,
}

/// Workspace (CommunityServer) 12.5 and later, read at CS@7c503dfb5 (12.7) and
/// v12.5.2: `module/ASC.Api/ASC.Employee/EmployeeApi.cs` (`EmpApi` below).
pub const WORKSPACE: ProductRules = ProductRules {
    product: Product::Workspace,
    releases: "Workspace 12.5 and later",
    // `UpdateMember(bool isVisitor, …, bool? disable, Guid? lead)`: no spam (EmpApi:725).
    supported: FieldSet::of(&[
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
    ]),
    self_only: FieldSet::EMPTY,
    // `canBeGuestFlag = … && !user.IsMe()` and `if (!self && !isVisitor …)` (EmpApi:806-826).
    others_only: FieldSet::of(&[IsGuest]),
    // title and lead need `IsProductAdministrator(People)` (EmpApi:744,754-757,782-785;
    // CS@7c503dfb5:web/core/ASC.Web.Core/WebItemSecurity.cs:263-267); departments need
    // `Action_EditGroups` (EmpApi:610), held by the same people (WebItemSecurity.cs:299-309).
    admin_only: FieldSet::of(&[Title, LeadId, DepartmentIds]),
    // `if (!isLdap && !isSso)` around names, location and title (EmpApi:746-758).
    directory_managed: FieldSet::of(&[FirstName, LastName, Location, Title]),
    // A missing `isVisitor` binds as false, `contacts` and `department` as empty lists,
    // and `lead` is assigned whenever an admin calls (EmpApi:782-788, 806-826); missing
    // keys are filled by CS@7c503dfb5:module/ASC.Api/ASC.Api/Impl/ApiArgumentBuilder.cs:75-132
    // and bound by module/ASC.Api/ASC.Api/Utils/Binder.cs:85-106, 214-263.
    reset_when_absent: FieldSet::of(&[Contacts, IsGuest, LeadId, DepartmentIds]),
    required_on_own_profile: FieldSet::EMPTY,
    // `!user.IsOwner() && !user.IsAdmin() && !user.GetListAdminModules().Any()` (EmpApi:806).
    privileged_never_become_guests: true,
    privileged_status_ignored: false,
    // `1900-01-01` read as tenant-local midnight clears the date (EmpApi:767-780).
    dates_clearable: true,
    // `EmployeeWraperFull` shows every field the update takes.
    unverifiable: FieldSet::EMPTY,
    // Every JSON body becomes XML through `JsonConvert.DeserializeXNode(value, "request",
    // false)` with Json.NET 13.0.1's default `DateParseHandling.DateTime`
    // (CS@7c503dfb5:module/ASC.Api/ASC.Api/Impl/ApiArgumentBuilder.cs:192;
    // module/ASC.Api/ASC.Api/ASC.Api.Core.csproj:183-185): a string that is wholly an
    // ISO-8601 date-time or `/Date(ms)/` is parsed and written back by `XmlConvert`,
    // normalised or moved to the server's zone (Json.NET@13.0.1
    // Src/Newtonsoft.Json/Utilities/DateTimeUtils.cs:344-378, 492-547;
    // Converters/XmlNodeConverter.cs:1773-1788). Run under mono against that DLL.
    reads_dates_in_text: true,
    contacts_route_for_others: true,
};

/// Workspace before 12.5: CS@v12.0.1 and v12.1.0 `UpdateMember(…, bool? disable)` has no
/// `lead` (EmployeeApi.cs:769); it first appears by CS@v12.5.2 (EmployeeApi.cs:725).
/// Both report `12.0.0` (web/studio/ASC.Web.Studio/web.appsettings.config:64, :70).
pub const WORKSPACE_12_0: ProductRules = ProductRules {
    releases: "Workspace before 12.5",
    supported: WORKSPACE.supported.without(FieldSet::of(&[LeadId])),
    admin_only: WORKSPACE.admin_only.without(FieldSet::of(&[LeadId])),
    reset_when_absent: WORKSPACE.reset_when_absent.without(FieldSet::of(&[LeadId])),
    ..WORKSPACE
};

/// Workspace whose release is not known.
pub const WORKSPACE_UNKNOWN: ProductRules =
    WORKSPACE_12_0.strictest_with(&WORKSPACE, "Workspace of unknown release");

/// DocSpace 3.2.1 to 3.6.x: DS@v3.6.1-server `products/ASC.People/Server/Api/UserController.cs`
/// (`UserCtl` below; the same method in v3.1.1, v3.2.1, v3.5.0 and v3.6.0).
pub const DOCSPACE_3_2: ProductRules = ProductRules {
    product: Product::Docspace,
    releases: "DocSpace 3.2.1 to 3.6.x",
    // `UpdateMemberRequestDto` has no lead (DS@v3.6.1:…/RequestDto/MemberRequestDto.cs:218-304).
    supported: FieldSet::of(&[
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
        Spam,
    ]),
    // Everything but the status fields sits in `if (self)` (UserCtl:1769-1831).
    self_only: FieldSet::of(&[
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
        Spam,
    ]),
    // `canBeGuestFlag = … && !self`, and un-guesting needs `!self` (UserCtl:1851-1880).
    others_only: FieldSet::of(&[IsGuest]),
    // title needs `currentUserIsDocSpaceAdmin` (UserCtl:1790-1793); departments need
    // `Action_EditGroups` (UserCtl:2343-2347).
    admin_only: FieldSet::of(&[Title, DepartmentIds]),
    // `if (!isLdap && !isSso)` around names, location and title (UserCtl:1774-1794).
    directory_managed: FieldSet::of(&[FirstName, LastName, Location, Title]),
    reset_when_absent: FieldSet::EMPTY,
    // `user.Spam = inDto.UpdateMember.Spam` whenever one edits oneself (UserCtl:1805).
    required_on_own_profile: FieldSet::of(&[Spam]),
    // `canBeGuestFlag = !userIsOwner && !IsDocSpaceAdmin && no admin modules` (UserCtl:1851-1854).
    privileged_never_become_guests: true,
    // `(self || currentUserIsOwner || admin && !userIsOwner && userType != DocSpaceAdmin)` (UserCtl:1842).
    privileged_status_ignored: true,
    // The JSON reader takes `1900-01-01` as server-local time, so it is only
    // tenant-local midnight where both zones agree (UserCtl:1807-1823;
    // DS@v3.6.1:common/ASC.Api.Core/Core/ApiDateTime.cs:385-404).
    dates_clearable: false,
    // `EmployeeFullDto` has no `spam` (DS@v3.6.1:common/ASC.Api.Core/Model/EmployeeFullDto.cs).
    unverifiable: FieldSet::of(&[Spam]),
    // System.Text.Json binds strings as they are.
    reads_dates_in_text: false,
    // The contacts controller is commented out from 3.2.1 (commit 793bbe4875).
    contacts_route_for_others: false,
};

/// DocSpace 3.0 to 3.1.x: `UpdateMember` as in 3.1.1 (DS@v3.0.0-server and v3.1.1-server
/// `products/ASC.People/Server/Api/UserController.cs`, the same rules; 3.0 answers a
/// permission denial or a refused name with 500 rather than 403 or 400), plus
/// `PUT /people/{userid}/contacts`, which replaces the list for the user or an
/// administrator (DS@v3.1.1-server:products/ASC.People/Server/Api/ContactsController.cs:104-118;
/// its POST clears then fails with no contacts, its DELETE saves nothing: 49-91, 120-140).
pub const DOCSPACE_3_0: ProductRules = ProductRules {
    releases: "DocSpace 3.0 to 3.1.x",
    contacts_route_for_others: true,
    ..DOCSPACE_3_2
};

/// DocSpace 3.7.1 and later: DS@v3.7.2-server `products/ASC.People/Server/Api/UserController.cs`
/// (`UserCtl` below; the same method in v3.7.1). Commit 031127419d removed title, sex,
/// birthday and works_from from the update.
pub const DOCSPACE_3_7: ProductRules = ProductRules {
    product: Product::Docspace,
    releases: "DocSpace 3.7.1 and later",
    // `UpdateMemberRequestDto` (DS@v3.7.2:…/RequestDto/MemberRequestDto.cs:281-383).
    supported: FieldSet::of(&[
        FirstName,
        LastName,
        Comment,
        Location,
        DepartmentIds,
        Contacts,
        AvatarUrl,
        Disabled,
        IsGuest,
        Spam,
    ]),
    // `if (self) { … }` (UserCtl:1926-1993).
    self_only: FieldSet::of(&[
        FirstName,
        LastName,
        Comment,
        Location,
        DepartmentIds,
        Contacts,
        AvatarUrl,
        Spam,
    ]),
    // `if (!self && inDto.UpdateMember.Disable.HasValue)`, `if (!self && … IsUser …)` (UserCtl:1995-2042).
    others_only: FieldSet::of(&[Disabled, IsGuest]),
    // `Action_EditGroups` (UserCtl:2527-2532).
    admin_only: FieldSet::of(&[DepartmentIds]),
    // `if (!isLdap && !isSso)` (UserCtl:1931-1946).
    directory_managed: FieldSet::of(&[FirstName, LastName, Location]),
    reset_when_absent: FieldSet::EMPTY,
    // `user.Spam = inDto.UpdateMember.Spam` (UserCtl:1963).
    required_on_own_profile: FieldSet::of(&[Spam]),
    // (UserCtl:2009-2012)
    privileged_never_become_guests: true,
    // Editing the owner, or an administrator as a non-owner, is a 403 (UserCtl:1915-1921):
    // the portal says so itself, nothing is ignored.
    privileged_status_ignored: false,
    dates_clearable: true,
    // `EmployeeFullDto` has no `spam` (DS@v3.7.2:common/ASC.Api.Core/Model/EmployeeFullDto.cs).
    unverifiable: FieldSet::of(&[Spam]),
    reads_dates_in_text: false,
    contacts_route_for_others: false,
};

/// DocSpace whose release is not known: every rule of every known release at once,
/// so nothing some release would drop is sent.
pub const DOCSPACE_UNKNOWN: ProductRules = DOCSPACE_3_0
    .strictest_with(&DOCSPACE_3_2, "")
    .strictest_with(&DOCSPACE_3_7, "DocSpace of unknown release");

/// Which rules hold for which releases, oldest first. `until` is exclusive.
pub const TABLE: &[RuleRange] = &[
    RuleRange {
        from: None,
        until: Some(PortalVersion::new(12, 5, 0)),
        rules: &WORKSPACE_12_0,
    },
    RuleRange {
        from: Some(PortalVersion::new(12, 5, 0)),
        until: None,
        rules: &WORKSPACE,
    },
    RuleRange {
        from: Some(PortalVersion::new(3, 0, 0)),
        until: Some(PortalVersion::new(3, 2, 1)),
        rules: &DOCSPACE_3_0,
    },
    RuleRange {
        from: Some(PortalVersion::new(3, 2, 1)),
        until: Some(PortalVersion::new(3, 7, 1)),
        rules: &DOCSPACE_3_2,
    },
    RuleRange {
        from: Some(PortalVersion::new(3, 7, 1)),
        until: None,
        rules: &DOCSPACE_3_7,
    },
];

/// One row of [`TABLE`]: rules and the releases they hold for.
#[derive(Debug)]
pub struct RuleRange {
    /// First release (inclusive); `None`: every earlier one.
    pub from: Option<PortalVersion>,
    /// First release no longer covered; `None`: every later one.
    pub until: Option<PortalVersion>,
    /// The rules.
    pub rules: &'static ProductRules,
}

impl RuleRange {
    fn covers(&self, version: PortalVersion) -> bool {
        self.from.is_none_or(|from| version >= from)
            && self.until.is_none_or(|until| version < until)
    }
}

/// The rules for a product at a release; an unknown release, or one older than
/// any read, gets the strictest rules of that product.
pub fn rules_for(product: Product, version: Option<PortalVersion>) -> &'static ProductRules {
    let matching = version.and_then(|version| {
        TABLE
            .iter()
            .filter(|range| range.rules.product == product)
            .find(|range| range.covers(version))
    });
    match (matching, product) {
        (Some(range), _) => range.rules,
        (None, Product::Docspace) => &DOCSPACE_UNKNOWN,
        (None, Product::Workspace) => &WORKSPACE_UNKNOWN,
    }
}

impl ProductRules {
    /// Rules that refuse whatever either set would drop.
    const fn strictest_with(&self, other: &ProductRules, releases: &'static str) -> ProductRules {
        ProductRules {
            product: self.product,
            releases,
            supported: self.supported.intersection(other.supported),
            self_only: self.self_only.union(other.self_only),
            others_only: self.others_only.union(other.others_only),
            admin_only: self.admin_only.union(other.admin_only),
            directory_managed: self.directory_managed.union(other.directory_managed),
            reset_when_absent: self.reset_when_absent.union(other.reset_when_absent),
            required_on_own_profile: self
                .required_on_own_profile
                .union(other.required_on_own_profile),
            privileged_never_become_guests: self.privileged_never_become_guests
                || other.privileged_never_become_guests,
            privileged_status_ignored: self.privileged_status_ignored
                || other.privileged_status_ignored,
            dates_clearable: self.dates_clearable && other.dates_clearable,
            unverifiable: self.unverifiable.union(other.unverifiable),
            reads_dates_in_text: self.reads_dates_in_text || other.reads_dates_in_text,
            contacts_route_for_others: self.contacts_route_for_others
                && other.contacts_route_for_others,
        }
    }

    fn refusal(&'static self, kind: RefusalKind, fields: FieldSet) -> Refusal {
        Refusal {
            kind,
            fields,
            product: self.product,
            releases: self.releases,
        }
    }

    /// What the release does with `field`, in words, for the README.
    pub fn describe(&self, field: Field) -> String {
        if !self.supported.contains(field) {
            return "refused: not in this release".into();
        }
        let mut parts = Vec::new();
        if self.self_only.contains(field) {
            parts.push("own profile only");
        }
        if self.others_only.contains(field) {
            parts.push("others only");
        }
        if self.admin_only.contains(field) {
            parts.push("administrators only");
        }
        if self.directory_managed.contains(field) {
            parts.push("not for LDAP/SSO users");
        }
        if self.required_on_own_profile.contains(field) {
            parts.push("required on own-profile writes");
        }
        if self.reset_when_absent.contains(field) {
            parts.push("current value resent when unset");
        }
        if field == IsGuest && self.privileged_never_become_guests {
            parts.push("the owner, admins and module admins never become guests");
        }
        if field == Contacts && self.self_only.contains(Contacts) && self.contacts_route_for_others
        {
            parts.push("administrators edit others' with the contacts RPCs");
        }
        if field == Disabled && self.privileged_status_ignored {
            parts.push("not for the owner, nor admins unless the owner calls");
        }
        if matches!(field, Birthday | WorksFrom) && !self.dates_clearable {
            parts.push("set only, not cleared");
        }
        if parts.is_empty() {
            "applied".into()
        } else {
            parts.join("; ")
        }
    }
}

/// The facts about a target user that rules depend on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target {
    /// The portal owner.
    pub is_owner: bool,
    /// A portal (DocSpace) administrator.
    pub is_admin: bool,
    /// Administers at least one module (`listAdminModules` is not empty).
    pub is_module_admin: bool,
    /// A guest already.
    pub is_guest: bool,
    /// Managed by LDAP or SSO.
    pub is_directory_user: bool,
}

/// Who edits whom. The caller facts matter only for fields whose rules name
/// them; the caller may be left unread (all `false`) when no such field is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subject {
    /// The caller edits their own profile.
    pub own_profile: bool,
    /// The caller administers people (product-specific, see each write).
    pub caller_is_admin: bool,
    /// The caller is the portal owner.
    pub caller_is_owner: bool,
    /// The user being edited.
    pub target: Target,
}

/// Fields whose rules depend on who the caller is.
pub fn caller_dependent(rules: &ProductRules) -> FieldSet {
    rules
        .self_only
        .union(rules.others_only)
        .union(rules.admin_only)
        .union(rules.required_on_own_profile)
}

/// Refuses fields the release does not have; needs no facts, so it runs before any read.
pub fn check_supported(rules: &'static ProductRules, set: FieldSet) -> Result<(), Refusal> {
    let unsupported = set.without(rules.supported);
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(rules.refusal(RefusalKind::Unsupported, unsupported))
    }
}

/// Refuses the change when the portal would drop any part of it; checks run in
/// a fixed order, and the first that fails names every field it concerns.
pub fn check(
    rules: &'static ProductRules,
    changes: &ProfileChanges,
    subject: &Subject,
) -> Result<(), Refusal> {
    let set = changes.fields();
    let refuse_if = |kind, fields: FieldSet| {
        if fields.is_empty() {
            Ok(())
        } else {
            Err(rules.refusal(kind, fields))
        }
    };
    check_supported(rules, set)?;
    if subject.own_profile {
        refuse_if(RefusalKind::OthersOnly, set.intersection(rules.others_only))?;
    } else {
        refuse_if(RefusalKind::SelfOnly, set.intersection(rules.self_only))?;
    }
    if !subject.caller_is_admin {
        refuse_if(RefusalKind::AdminOnly, set.intersection(rules.admin_only))?;
    }
    if subject.target.is_directory_user {
        refuse_if(
            RefusalKind::DirectoryManaged,
            set.intersection(rules.directory_managed),
        )?;
    }
    let target = subject.target;
    let privileged = target.is_owner || target.is_admin || target.is_module_admin;
    if rules.privileged_never_become_guests
        && changes.is_guest == Some(true)
        && !target.is_guest
        && privileged
    {
        return Err(rules.refusal(RefusalKind::PrivilegedCannotBecomeGuest, IsGuest.into()));
    }
    if rules.privileged_status_ignored
        && !subject.own_profile
        && changes.disabled.is_some()
        && (target.is_owner || (target.is_admin && !subject.caller_is_owner))
    {
        return Err(rules.refusal(RefusalKind::PrivilegedStatusIgnored, Disabled.into()));
    }
    if !rules.dates_clearable {
        let cleared = [
            (Birthday, changes.birthday == Some(None)),
            (WorksFrom, changes.works_from == Some(None)),
        ];
        refuse_if(
            RefusalKind::DateNotClearable,
            cleared
                .into_iter()
                .filter_map(|(field, cleared)| cleared.then_some(field))
                .collect(),
        )?;
    }
    if subject.own_profile {
        refuse_if(
            RefusalKind::RequiredOnOwnProfile,
            rules.required_on_own_profile.without(set),
        )?;
    }
    Ok(())
}

/// Refuses a write whose texts the portal would store rewritten as dates:
/// `texts` pairs each text sent with the field it belongs to (resent values
/// included, which the portal would rewrite just the same).
pub fn check_texts<'a>(
    rules: &'static ProductRules,
    texts: impl IntoIterator<Item = (Field, &'a str)>,
) -> Result<(), Refusal> {
    if !rules.reads_dates_in_text {
        return Ok(());
    }
    let read_as_dates: FieldSet = texts
        .into_iter()
        .filter(|(_, text)| reads_as_date(text) && !written_back_the_same(text))
        .map(|(field, _)| field)
        .collect();
    if read_as_dates.is_empty() {
        Ok(())
    } else {
        Err(rules.refusal(RefusalKind::ReadAsDate, read_as_dates))
    }
}

/// Whether Json.NET's reader takes the whole string as a date: `/Date(ms[±hhmm])/`, or
/// `yyyy-MM-ddTHH:mm:ss`, an optional fraction, and nothing, `Z`, `±hh`, `±hhmm` or
/// `±hh:mm` (Json.NET@13.0.1 Src/Newtonsoft.Json/Utilities/DateTimeParser.cs:91-232,
/// DateTimeUtils.cs:344-378, 492-547). It also accepts a few ill-formed tails, so this
/// errs towards refusing.
fn reads_as_date(text: &str) -> bool {
    if text.starts_with("/Date(") && text.ends_with(")/") {
        return true;
    }
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    (19..=40).contains(&bytes.len())
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19..]
            .iter()
            .all(|byte| byte.is_ascii_digit() || b".Zz+-:".contains(byte))
}

/// Whether a text read as a date comes back from `XmlConvert`'s round-trip
/// form unchanged: `yyyy-MM-ddTHH:mm:ss`, a fraction of at most seven digits
/// without trailing zeros, then nothing or `Z` (Json.NET@13.0.1
/// Src/Newtonsoft.Json/Converters/XmlNodeConverter.cs:1773-1788). An offset
/// is moved to the server's zone, whose offset the gateway does not know.
fn written_back_the_same(text: &str) -> bool {
    let body = text.strip_suffix('Z').unwrap_or(text);
    let (clock, fraction) = match body.get(19..) {
        Some("") => (body, None),
        Some(rest) => match rest.strip_prefix('.') {
            Some(digits) => (&body[..19], Some(digits)),
            None => return false,
        },
        None => return false,
    };
    let fraction_kept = fraction.is_none_or(|digits| {
        (1..=7).contains(&digits.len())
            && digits.bytes().all(|byte| byte.is_ascii_digit())
            && !digits.ends_with('0')
    });
    fraction_kept && clock.get(11..13) != Some("24")
}

/// Refuses a write that would reset fields whose current value the caller cannot read:
/// `readable` holds the reset-when-absent fields whose value the read showed.
pub fn check_resend(
    rules: &'static ProductRules,
    set: FieldSet,
    readable: FieldSet,
) -> Result<(), Refusal> {
    let hidden = rules.reset_when_absent.without(set).without(readable);
    match hidden.iter().next() {
        None => Ok(()),
        Some(field) => Err(rules.refusal(RefusalKind::NotVisible, field.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Contact, Sex, UserId};

    /// Sets exactly `field` to a value the portal would change something with.
    fn change(field: Field) -> ProfileChanges {
        let mut changes = ProfileChanges::default();
        match field {
            FirstName => changes.first_name = Some("Mike".into()),
            LastName => changes.last_name = Some("Z".into()),
            Comment => changes.comment = Some("c".into()),
            Title => changes.title = Some("t".into()),
            Location => changes.location = Some("l".into()),
            Sex => changes.sex = Some(Sex::Male),
            Birthday => {
                changes.birthday = Some(chrono::NaiveDate::from_ymd_opt(1990, 1, 2));
            }
            WorksFrom => {
                changes.works_from = Some(chrono::NaiveDate::from_ymd_opt(2010, 1, 2));
            }
            DepartmentIds => changes.department_ids = Some(vec![uuid::Uuid::from_u128(7)]),
            Contacts => changes.contacts = Some(vec![Contact::new("mail", "a@b").unwrap()]),
            AvatarUrl => changes.avatar_url = Some("https://x.test/a.png".into()),
            Disabled => changes.disabled = Some(true),
            IsGuest => changes.is_guest = Some(true),
            LeadId => changes.lead = Some(Some(UserId::from(uuid::Uuid::from_u128(9)))),
            Spam => changes.spam = Some(true),
        }
        changes
    }

    fn with_spam(mut changes: ProfileChanges) -> ProfileChanges {
        changes.spam.get_or_insert(false);
        changes
    }

    const ADMIN_ON_SELF: Subject = Subject {
        own_profile: true,
        caller_is_admin: true,
        caller_is_owner: false,
        target: Target {
            is_owner: false,
            is_admin: true,
            is_module_admin: false,
            is_guest: false,
            is_directory_user: false,
        },
    };
    const USER_ON_SELF: Subject = Subject {
        own_profile: true,
        caller_is_admin: false,
        caller_is_owner: false,
        target: Target {
            is_owner: false,
            is_admin: false,
            is_module_admin: false,
            is_guest: false,
            is_directory_user: false,
        },
    };
    const ADMIN_ON_USER: Subject = Subject {
        own_profile: false,
        caller_is_admin: true,
        caller_is_owner: false,
        target: Target {
            is_owner: false,
            is_admin: false,
            is_module_admin: false,
            is_guest: false,
            is_directory_user: false,
        },
    };

    fn outcome(
        rules: &'static ProductRules,
        field: Field,
        subject: &Subject,
    ) -> Option<RefusalKind> {
        let mut changes = change(field);
        if subject.own_profile && rules.required_on_own_profile.contains(Spam) {
            changes = with_spam(changes);
        }
        check(rules, &changes, subject)
            .err()
            .map(|refusal| refusal.kind)
    }

    use RefusalKind as R;

    /// Rules, who edits whom, and per field: applied (`None`) or refused with which kind.
    type Row = (
        &'static ProductRules,
        Subject,
        &'static [(Field, Option<RefusalKind>)],
    );

    /// product × release × subject × field → applied (None) or refused (Some(kind)).
    #[test]
    fn the_table_as_a_table() {
        let expected: &[Row] = &[
            (
                &WORKSPACE,
                ADMIN_ON_USER,
                &[
                    (FirstName, None),
                    (Title, None),
                    (Sex, None),
                    (Birthday, None),
                    (DepartmentIds, None),
                    (Contacts, None),
                    (Disabled, None),
                    (IsGuest, None),
                    (LeadId, None),
                    (Spam, Some(R::Unsupported)),
                ],
            ),
            (
                &WORKSPACE,
                USER_ON_SELF,
                &[
                    (FirstName, None),
                    (Location, None),
                    (Disabled, None),
                    (Title, Some(R::AdminOnly)),
                    (LeadId, Some(R::AdminOnly)),
                    (DepartmentIds, Some(R::AdminOnly)),
                    (IsGuest, Some(R::OthersOnly)),
                ],
            ),
            (
                &DOCSPACE_3_2,
                ADMIN_ON_SELF,
                &[
                    (FirstName, None),
                    (Title, None),
                    (Sex, None),
                    (Birthday, None),
                    (WorksFrom, None),
                    (DepartmentIds, None),
                    (Disabled, None),
                    (IsGuest, Some(R::OthersOnly)),
                    (LeadId, Some(R::Unsupported)),
                ],
            ),
            (
                &DOCSPACE_3_2,
                USER_ON_SELF,
                &[
                    (Sex, None),
                    (Title, Some(R::AdminOnly)),
                    (DepartmentIds, Some(R::AdminOnly)),
                ],
            ),
            (
                &DOCSPACE_3_2,
                ADMIN_ON_USER,
                &[
                    (Disabled, None),
                    (IsGuest, None),
                    (FirstName, Some(R::SelfOnly)),
                    (Sex, Some(R::SelfOnly)),
                ],
            ),
            (
                &DOCSPACE_3_7,
                ADMIN_ON_SELF,
                &[
                    (FirstName, None),
                    (Contacts, None),
                    (DepartmentIds, None),
                    (Title, Some(R::Unsupported)),
                    (Sex, Some(R::Unsupported)),
                    (Birthday, Some(R::Unsupported)),
                    (WorksFrom, Some(R::Unsupported)),
                    (LeadId, Some(R::Unsupported)),
                    (Disabled, Some(R::OthersOnly)),
                    (IsGuest, Some(R::OthersOnly)),
                ],
            ),
            (
                &DOCSPACE_3_7,
                ADMIN_ON_USER,
                &[
                    (Disabled, None),
                    (IsGuest, None),
                    (Comment, Some(R::SelfOnly)),
                    (Spam, Some(R::SelfOnly)),
                ],
            ),
            (
                &DOCSPACE_UNKNOWN,
                ADMIN_ON_SELF,
                &[
                    (FirstName, None),
                    (Title, Some(R::Unsupported)),
                    (Sex, Some(R::Unsupported)),
                    (Disabled, Some(R::OthersOnly)),
                ],
            ),
        ];
        for (rules, subject, fields) in expected {
            for (field, kind) in *fields {
                assert_eq!(
                    outcome(rules, *field, subject),
                    *kind,
                    "{} {field} {subject:?}",
                    rules.releases
                );
            }
        }
    }

    #[test]
    fn releases_pick_their_rules() {
        let docspace = |text: &str| rules_for(Product::Docspace, text.parse().ok()).releases;
        assert_eq!(docspace("3.6.1"), DOCSPACE_3_2.releases);
        assert_eq!(docspace("3.2.1"), DOCSPACE_3_2.releases);
        assert_eq!(docspace("3.1.1"), DOCSPACE_3_0.releases);
        assert_eq!(docspace("3.0.4"), DOCSPACE_3_0.releases);
        assert_eq!(docspace("3.7.0"), DOCSPACE_3_2.releases);
        assert_eq!(docspace("3.7.1"), DOCSPACE_3_7.releases);
        assert_eq!(docspace("3.7.2.1517"), DOCSPACE_3_7.releases);
        assert_eq!(docspace("4.0"), DOCSPACE_3_7.releases);
        // Older than any release read, or not known: the strictest rules.
        assert_eq!(docspace("2.6.0"), DOCSPACE_UNKNOWN.releases);
        const { assert!(!DOCSPACE_UNKNOWN.contacts_route_for_others) };
        assert_eq!(
            rules_for(Product::Docspace, None).releases,
            DOCSPACE_UNKNOWN.releases
        );
        let workspace = |text: &str| rules_for(Product::Workspace, text.parse().ok()).releases;
        assert_eq!(workspace("12.7.0"), WORKSPACE.releases);
        assert_eq!(workspace("12.5.1"), WORKSPACE.releases);
        assert_eq!(workspace("12.0.0"), WORKSPACE_12_0.releases);
        assert_eq!(
            rules_for(Product::Workspace, None).releases,
            WORKSPACE_UNKNOWN.releases
        );
        const { assert!(!WORKSPACE_UNKNOWN.supported.contains(LeadId)) };
    }

    #[test]
    fn guests_owners_and_module_admins() {
        let module_admin = Subject {
            target: Target {
                is_module_admin: true,
                ..Target::default()
            },
            ..ADMIN_ON_USER
        };
        for rules in [&WORKSPACE, &DOCSPACE_3_2, &DOCSPACE_3_7] {
            let refused = check(rules, &change(IsGuest), &module_admin).unwrap_err();
            assert_eq!(
                refused.kind,
                R::PrivilegedCannotBecomeGuest,
                "{}",
                rules.releases
            );
            // Turning a guest back into a user is applied.
            let guest = Subject {
                target: Target {
                    is_guest: true,
                    ..Target::default()
                },
                ..ADMIN_ON_USER
            };
            let promote = ProfileChanges {
                is_guest: Some(false),
                ..ProfileChanges::default()
            };
            assert_eq!(check(rules, &promote, &guest), Ok(()));
        }
    }

    #[test]
    fn docspace_3_1_ignores_the_status_of_the_owner_and_of_admins_unless_the_owner_asks() {
        let on = |target: Target, caller_is_owner| Subject {
            caller_is_owner,
            target,
            ..ADMIN_ON_USER
        };
        let admin = Target {
            is_admin: true,
            ..Target::default()
        };
        let owner = Target {
            is_owner: true,
            ..Target::default()
        };
        let disable = change(Disabled);
        assert_eq!(
            check(&DOCSPACE_3_2, &disable, &on(admin, false)).map_err(|r| r.kind),
            Err(R::PrivilegedStatusIgnored)
        );
        assert_eq!(check(&DOCSPACE_3_2, &disable, &on(admin, true)), Ok(()));
        assert_eq!(
            check(&DOCSPACE_3_2, &disable, &on(owner, false)).map_err(|r| r.kind),
            Err(R::PrivilegedStatusIgnored)
        );
        // 3.7 answers 403 itself: nothing is ignored, so nothing is refused here.
        assert_eq!(check(&DOCSPACE_3_7, &disable, &on(owner, false)), Ok(()));
    }

    #[test]
    fn directory_users_and_cleared_dates_and_spam() {
        let ldap = Subject {
            target: Target {
                is_directory_user: true,
                ..Target::default()
            },
            ..USER_ON_SELF
        };
        assert_eq!(
            check(&WORKSPACE, &change(Location), &ldap).map_err(|r| r.kind),
            Err(R::DirectoryManaged)
        );
        assert_eq!(check(&WORKSPACE, &change(Comment), &ldap), Ok(()));

        let mut clear = ProfileChanges {
            birthday: Some(None),
            spam: Some(true),
            ..ProfileChanges::default()
        };
        assert_eq!(
            check(
                &WORKSPACE,
                &ProfileChanges {
                    spam: None,
                    ..clear.clone()
                },
                &ADMIN_ON_USER
            ),
            Ok(())
        );
        assert_eq!(
            check(&DOCSPACE_3_2, &clear, &ADMIN_ON_SELF).map_err(|r| r.kind),
            Err(R::DateNotClearable)
        );
        clear.birthday = chrono::NaiveDate::from_ymd_opt(1990, 1, 2).map(Some);
        assert_eq!(check(&DOCSPACE_3_2, &clear, &ADMIN_ON_SELF), Ok(()));
        clear.spam = None;
        let refused = check(&DOCSPACE_3_2, &clear, &ADMIN_ON_SELF).unwrap_err();
        assert_eq!(
            (refused.kind, refused.fields),
            (R::RequiredOnOwnProfile, Spam.into())
        );
    }

    #[test]
    fn texts_workspace_would_read_as_dates_are_refused() {
        for text in [
            "2020-01-02T03:04:05+03:00",
            "2020-01-02T03:04:05.000Z",
            "2020-01-02T03:04:05.1230000",
            "2020-01-02T03:04:05z",
            "2020-01-02T24:00:00",
            "2020-01-02T03:04:05.1234567+03:00",
            "/Date(1234567890000)/",
        ] {
            let refused = check_texts(&WORKSPACE, [(Comment, text)]).unwrap_err();
            assert_eq!(
                (refused.kind, refused.fields),
                (R::ReadAsDate, Comment.into()),
                "{text}"
            );
            assert_eq!(check_texts(&DOCSPACE_3_7, [(Comment, text)]), Ok(()));
        }
        for text in [
            "2020-01-02",
            "2020-01-02T03:04",
            " 2020-01-02T03:04:05Z",
            "met at 2020-01-02T03:04:05",
        ] {
            assert_eq!(check_texts(&WORKSPACE, [(Comment, text)]), Ok(()), "{text}");
        }
    }

    #[test]
    fn resending_needs_the_current_value() {
        let set = FieldSet::of(&[Title]);
        let readable = FieldSet::of(&[Contacts, IsGuest, LeadId]);
        let refused = check_resend(&WORKSPACE, set, readable).unwrap_err();
        assert_eq!(
            (refused.kind, refused.fields),
            (R::NotVisible, DepartmentIds.into())
        );
        // Setting the field itself needs no read of it.
        let set = FieldSet::of(&[Title, DepartmentIds]);
        assert_eq!(check_resend(&WORKSPACE, set, readable), Ok(()));
        assert_eq!(check_resend(&DOCSPACE_3_7, set, FieldSet::EMPTY), Ok(()));
    }
}
