//! The README's rule tables are generated from the code: this test fails when
//! they drift. `UPDATE_README=1 cargo test --test readme` rewrites them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use people_gateway::{error, people::rules};

/// Each generated block: its marker name and what the code says it holds.
fn blocks() -> [(&'static str, String); 3] {
    [
        ("field-rules", rules::readme_field_table()),
        ("refusals", error::readme_refusal_table()),
        ("portal-statuses", error::readme_portal_status_table()),
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
