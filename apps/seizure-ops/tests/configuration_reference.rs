//! `docs/configuration-reference.md` is what the command lines accept: regenerated from them
//! here, and compared (`UPDATE_REFERENCE=1` rewrites it).

use std::path::Path;

#[test]
fn the_configuration_reference_matches_the_command_lines() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(seizure_ops::reference::REFERENCE_FILE);
    let rendered = seizure_ops::reference::render();
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::write(&path, &rendered)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let written =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if written != rendered {
        let first = written
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| written.lines().count().min(rendered.lines().count()));
        panic!(
            "{} is stale (first difference at line {}): regenerate it with \
             UPDATE_REFERENCE=1 cargo test -p seizure-ops --test configuration_reference",
            path.display(),
            first + 1
        );
    }
}
