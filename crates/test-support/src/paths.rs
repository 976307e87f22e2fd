//! Where things are: the repository, the project's tool venvs, the real data set.

use std::path::{Path, PathBuf};

use crate::skip;

/// The repository root: the nearest directory with a `Cargo.lock` above the package under
/// test. Found at run time (cargo sets `CARGO_MANIFEST_DIR` for test processes), since a
/// shared target directory may hold a build compiled from another checkout of the repository.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&manifest_dir)
        .to_owned()
}

/// Where `scripts/install-test-tools.sh` puts its virtual environments.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEIZURE_OPS_TOOLS") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/seizure-ops")
}

/// The real UCI data set: `SEIZURE_OPS_REAL_CSV`, or `../shared/data/` beside the repository.
pub fn real_data_csv() -> Option<PathBuf> {
    let path = std::env::var_os("SEIZURE_OPS_REAL_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("../shared/data/epileptic_seizure_recognition.csv")
        });
    path.is_file().then_some(path)
}

/// The real data set for a test that needs it, or `None` after a visible [`skip`] (a failure
/// under CI, where `scripts/fetch-real-data.sh` or `../shared/data` provides it).
pub fn require_real_data() -> Option<PathBuf> {
    let csv = real_data_csv();
    if csv.is_none() {
        skip("the real UCI CSV is not in ../shared/data (or SEIZURE_OPS_REAL_CSV)");
    }
    csv
}
