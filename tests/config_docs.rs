//! The configuration reference (`docs/config-reference.md`) and the JSON Schemas
//! (`docs/schema/*.json`) are generated from the structs the files are read into; this test
//! fails when they are stale (`CUTOVER_UPDATE_DOCS=1 cargo test --test config_docs` rewrites
//! them) and when a key a person writes has no doc comment.

use std::path::Path;

#[test]
fn the_config_reference_and_schemas_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("CUTOVER_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (path, text) in scenarios::config_docs::generate(rehearse::config_kinds()) {
        let full = root.join(&path);
        if update {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &text).unwrap();
        } else if std::fs::read_to_string(&full).ok().as_deref() != Some(text.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {stale:?}; regenerate with CUTOVER_UPDATE_DOCS=1 cargo test --test config_docs"
    );
}

#[test]
fn every_key_a_person_writes_is_documented() {
    let missing = scenarios::config_docs::undocumented(rehearse::config_kinds());
    assert!(
        missing.is_empty(),
        "{} keys without a doc comment (say what it is, its unit and its default):\n{}",
        missing.len(),
        missing.join("\n")
    );
}
