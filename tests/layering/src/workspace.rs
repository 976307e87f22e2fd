//! The workspace's packages as `cargo metadata` lists them: each one's layer (by where it
//! lives), its dependencies on other workspace packages, and its lib and bin roots.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where a package lives, lowest first: apps compose services, services use crates, tests use
/// anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Crate,
    Service,
    App,
    Test,
}

impl Layer {
    fn of(workspace: &Path, manifest: &Path) -> Option<Layer> {
        let relative = manifest.strip_prefix(workspace).ok()?;
        match relative.components().next()?.as_os_str().to_str()? {
            "crates" => Some(Layer::Crate),
            "services" => Some(Layer::Service),
            "apps" => Some(Layer::App),
            "tests" => Some(Layer::Test),
            _ => None,
        }
    }

    /// Whether a package of this layer may depend on one of `other` (`dev`: for its tests).
    pub fn may_use(self, other: Layer, dev: bool) -> bool {
        match self {
            // A crate or a service stands on crates only (a service never on another).
            Layer::Crate | Layer::Service => other == Layer::Crate,
            Layer::App => matches!(other, Layer::Crate | Layer::Service) || dev,
            Layer::Test => true,
        }
    }
}

#[derive(Debug)]
pub struct Dependency {
    pub name: String,
    /// `normal`, `dev` or `build`.
    pub kind: String,
}

#[derive(Debug)]
pub struct Package {
    pub name: String,
    pub layer: Option<Layer>,
    pub dependencies: Vec<Dependency>,
    /// Root files of its library and binaries.
    pub roots: Vec<PathBuf>,
}

/// The workspace's own packages.
pub fn packages(workspace: &Path) -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(workspace)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| Package {
            name: text(&package["name"]),
            layer: Layer::of(workspace, Path::new(&text(&package["manifest_path"]))),
            dependencies: package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                // Workspace packages only: those with a path.
                .filter(|d| d["path"].is_string())
                .map(|d| Dependency {
                    name: text(&d["name"]),
                    kind: d["kind"].as_str().unwrap_or("normal").to_owned(),
                })
                .collect(),
            roots: package["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["kind"].as_array().is_some_and(|kinds| {
                        kinds.iter().any(|k| {
                            matches!(k.as_str(), Some("lib" | "bin" | "rlib" | "proc-macro"))
                        })
                    })
                })
                .map(|t| PathBuf::from(text(&t["src_path"])))
                .collect(),
        })
        .collect()
}
