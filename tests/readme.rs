//! The README's rule tables are generated from the code: this test fails when
//! they drift. `UPDATE_README=1 cargo test --test readme` rewrites them. The
//! generators live here, beside the check, and read the code's own tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use std::fmt::Write as _;

use people_gateway::domain::{Field, FieldSet, RefusalKind};
use people_gateway::people::rules;
use people_gateway::status::{code_name, portal_status_code, refusal_status};

/// Each generated block: its marker name and what the code says it holds.
fn blocks() -> [(&'static str, String); 4] {
    [
        ("field-rules", field_table()),
        ("verification", verification_table()),
        ("refusals", refusal_table()),
        ("portal-statuses", portal_status_table()),
    ]
}

#[test]
fn the_readme_tables_match_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let mut expected = readme.clone();
    for (name, table) in blocks() {
        let begin = format!("<!-- generated:{name} -->\n");
        let end = format!("<!-- /generated:{name} -->");
        let start = expected
            .find(&begin)
            .unwrap_or_else(|| panic!("README lacks {begin}"))
            + begin.len();
        let stop = expected[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("README lacks {end}"))
            + start;
        expected.replace_range(start..stop, &table);
    }
    if expected == readme {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let first_difference = readme
        .lines()
        .zip(expected.lines())
        .find(|(have, want)| have != want)
        .map(|(have, want)| format!("README has:\n{have}\nthe code says:\n{want}"))
        .unwrap_or_else(|| "the tables differ in length".into());
    panic!(
        "the README's generated tables are out of date; run `UPDATE_README=1 cargo test --test readme`\n{first_difference}"
    );
}

/// The README's table of what `UpdateUser` does with each field, one column per rule set.
fn field_table() -> String {
    let mut table = String::from("| field |");
    for range in rules::TABLE {
        let _ = write!(table, " {} |", range.rules.releases);
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(rules::TABLE.len()));
    table.push('\n');
    for field in Field::ALL {
        let _ = write!(table, "| `{field}` |");
        for range in rules::TABLE {
            let _ = write!(table, " {} |", range.rules.describe(field));
        }
        table.push('\n');
    }
    table
}

/// The README's table of how each write's answer is checked, one column per rule set.
fn verification_table() -> String {
    let mut table = String::from("| field |");
    for range in rules::TABLE {
        let _ = write!(table, " {} |", range.rules.releases);
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(rules::TABLE.len()));
    table.push('\n');
    for field in Field::ALL {
        let _ = write!(table, "| `{field}` |");
        for range in rules::TABLE {
            let _ = write!(
                table,
                " {} |",
                people_gateway::people::how_verified(range.rules, field)
            );
        }
        table.push('\n');
    }
    table
}

/// The README's table of refusals: one row per code and reason.
fn refusal_table() -> String {
    use RefusalKind as K;
    let rows: [(RefusalKind, FieldSet, &str); 12] = [
        (
            K::Unsupported,
            FieldSet::EMPTY,
            "the release has no such field (DocSpace 3.7.1+: `title`, `sex`, `birthday`, `works_from`; DocSpace: `lead_id`; Workspace: `spam`)",
        ),
        (
            K::SelfOnly,
            FieldSet::EMPTY,
            "DocSpace: profile fields or contacts of another user (3.0–3.1.x: contacts of another user unless the caller is an administrator)",
        ),
        (
            K::OthersOnly,
            FieldSet::EMPTY,
            "`is_guest` on one's own profile; DocSpace 3.7.1+: also `disabled`",
        ),
        (
            K::AdminOnly,
            FieldSet::EMPTY,
            "an administrators-only field from a caller who is not one",
        ),
        (
            K::DirectoryManaged,
            FieldSet::EMPTY,
            "names, location (and title) of an LDAP or SSO user",
        ),
        (
            K::PrivilegedCannotBecomeGuest,
            FieldSet::EMPTY,
            "making the owner, an administrator or any module administrator a guest",
        ),
        (
            K::PrivilegedStatusIgnored,
            FieldSet::EMPTY,
            "DocSpace 3.0–3.6.x: `disabled` for the owner, or for an administrator when the caller is not the owner",
        ),
        (
            K::DateNotClearable,
            FieldSet::EMPTY,
            "DocSpace 3.0–3.6.x: clearing `birthday` or `works_from`",
        ),
        (
            K::NotVisible,
            Field::Contacts.into(),
            "Workspace: the write would reset contacts the caller cannot see",
        ),
        (
            K::NotVisible,
            Field::DepartmentIds.into(),
            "Workspace: the write would reset departments the caller cannot see",
        ),
        (
            K::RequiredOnOwnProfile,
            FieldSet::EMPTY,
            "DocSpace: a write of one's own profile without `spam`",
        ),
        (
            K::ReadAsDate,
            FieldSet::EMPTY,
            "Workspace: a name, comment, title, location or contact (sent or resent) that is wholly an ISO-8601 date-time or `/Date(…)/`, which Workspace's JSON reader would store rewritten",
        ),
    ];
    let mut table = String::from("| case | code | reason |\n|---|---|---|\n");
    for (kind, fields, when) in rows {
        let _ = writeln!(
            table,
            "| {when} | {} | `{}` |",
            code_name(refusal_status(kind, fields).0),
            refusal_status(kind, fields).1
        );
    }
    table
}

/// The README's table of portal answers: each row is computed by
/// `portal_status_code` from a status (and, for Workspace's catch-all 500, a message).
fn portal_status_table() -> String {
    let rows: [(&str, u16, Option<&str>, &str); 21] = [
        (
            "400 (either envelope)",
            400,
            None,
            "the portal's message; BadRequest for named fields",
        ),
        ("401", 401, None, ""),
        ("402", 402, None, ""),
        ("403", 403, None, ""),
        ("404", 404, None, ""),
        ("408", 408, None, ""),
        ("409", 409, None, ""),
        (
            "415",
            415,
            None,
            "the gateway sends JSON only, so this is never the caller's fault",
        ),
        ("429", 429, None, "RetryInfo from `Retry-After`"),
        (
            "500 whose message says \"access denied\" (Workspace)",
            500,
            Some("access denied"),
            "",
        ),
        (
            "500 \"The user is suspended\" (Workspace)",
            500,
            Some("The user is suspended"),
            "",
        ),
        (
            "500 \"Incorrect firstname or lastname\" (Workspace)",
            500,
            Some("Incorrect firstname or lastname"),
            "BadRequest for `first_name` and `last_name`",
        ),
        (
            "500 \"Exceeds the maximum active users\", \"Maximum number of users/visitors exceeded\" (Workspace)",
            500,
            Some("Exceeds the maximum active users"),
            "",
        ),
        ("other 500", 500, None, ""),
        ("501", 501, None, ""),
        (
            "502, 503",
            503,
            None,
            "RetryInfo when `Retry-After` is sent",
        ),
        ("504", 504, None, ""),
        (
            "3xx (redirects are not followed: the API never redirects)",
            302,
            None,
            "usually a wrong `--portal-url`",
        ),
        ("other 4xx", 418, None, ""),
        ("other 5xx", 599, None, ""),
        (
            "`status: 1` inside a 2xx envelope",
            400,
            None,
            "read as its `statusCode` when that is 400–599, as 400 when absent, and as 500 \
             (INTERNAL `PORTAL_ERROR`) when it names no error (200, 70000)",
        ),
    ];
    let mut table =
        String::from("| portal answer | gRPC code | reason | details |\n|---|---|---|---|\n");
    for (answer, status, message, details) in rows {
        let (code, reason) = portal_status_code(status, message);
        let _ = writeln!(
            table,
            "| {answer} | {} | `{reason}` | {details} |",
            code_name(code)
        );
    }
    table
}
