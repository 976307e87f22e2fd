//! The workspace's layering, checked on every test run (and so in CI).

use std::path::{Path, PathBuf};

use layering_tests::modules::CrateModules;
use layering_tests::upward_edges;
use layering_tests::workspace::{packages, Layer};

/// This workspace, or another checkout named by `LAYERING_WORKSPACE` (to see what the checks
/// say of an earlier commit).
fn workspace() -> PathBuf {
    if let Some(other) = std::env::var_os("LAYERING_WORKSPACE") {
        return PathBuf::from(other)
            .canonicalize()
            .expect("LAYERING_WORKSPACE exists");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

#[test]
fn packages_depend_downwards_only() {
    let packages = packages(&workspace());
    let layer = |name: &str| {
        packages
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.layer)
    };
    let mut wrong = Vec::new();
    for package in &packages {
        let Some(own) = package.layer else {
            wrong.push(format!(
                "{} lives outside crates/, services/, apps/, tests/",
                package.name
            ));
            continue;
        };
        for dependency in &package.dependencies {
            let Some(theirs) = layer(&dependency.name) else {
                continue;
            };
            if !own.may_use(theirs, dependency.kind == "dev") {
                wrong.push(format!(
                    "{} ({own:?}) depends on {} ({theirs:?}) as a {} dependency",
                    package.name, dependency.name, dependency.kind
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways dependencies:\n{}",
        wrong.join("\n")
    );
    assert!(packages.iter().any(|p| p.layer == Some(Layer::Service)));
}

#[test]
fn no_crate_has_an_import_cycle() {
    let mut found = Vec::new();
    let mut read = 0;
    for package in packages(&workspace()) {
        for root in &package.roots {
            let modules =
                CrateModules::read(root).unwrap_or_else(|e| panic!("{}: {e}", package.name));
            read += modules.names().count();
            for cycle in modules.sibling_graph().cycles() {
                let edges: Vec<String> = cycle
                    .iter()
                    .map(|(from, to, why)| format!("  {from} -> {to}: {why}"))
                    .collect();
                found.push(format!(
                    "{} ({}):\n{}",
                    package.name,
                    root.display(),
                    edges.join("\n")
                ));
            }
        }
    }
    assert!(
        read > 100,
        "only {read} modules read: the sources were not found"
    );
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// The inference service, as its crate documentation draws it: startup -> routes -> service
/// -> state, the command line and the memory footprint -> settings -> leaves.
const INFERENCE_LAYERS: &[(&str, usize)] = &[
    ("crate::admission", 0),
    ("crate::audit", 0),
    ("crate::fleet_drift", 0),
    ("crate::metrics", 0),
    ("crate::model", 0),
    ("crate::quota", 0),
    ("crate::sessions", 0),
    ("crate::signals", 0),
    ("crate::verdicts", 0),
    ("crate::settings", 1),
    ("crate::config", 2),
    ("crate::footprint", 2),
    ("crate::state", 2),
    ("crate::service", 3),
    ("crate::routes", 4),
    ("crate::startup", 5),
];

/// The auth service: startup over the HTTP layer and the command line, over the leaves (the
/// store, hashing, passwords, the client address, the settings); no leaf imports the API.
const AUTH_LAYERS: &[(&str, usize)] = &[
    ("crate::client_address", 0),
    ("crate::hashing", 0),
    ("crate::passwords", 0),
    ("crate::settings", 0),
    ("crate::store", 0),
    ("crate::api", 1),
    ("crate::config", 1),
    ("crate::startup", 2),
];

/// The training service: the network's kernels and the loop, what is chosen after training,
/// then the settings the command line is parsed into, then the run's steps.
const TRAINING_LAYERS: &[(&str, usize)] = &[
    ("crate::logged_model", 0),
    ("crate::profile", 0),
    ("crate::shards", 0),
    ("crate::windows", 0),
    ("crate::native", 1),
    ("crate::engine", 2),
    ("crate::train", 3),
    ("crate::card", 4),
    ("crate::oof", 4),
    ("crate::outcome", 4),
    ("crate::progress", 4),
    ("crate::settings", 5),
    ("crate::config", 6),
    ("crate::decide", 7),
    ("crate::report", 7),
    ("crate::tracking_log", 7),
    ("crate::inputs", 8),
    ("crate::publish", 9),
];

/// The evaluate service: metrics, then scoring, then the promotion rules and the registry,
/// then its settings and the command line they are parsed from, then the run's steps.
const EVALUATE_LAYERS: &[(&str, usize)] = &[
    ("crate::calibration", 0),
    ("crate::intervals", 0),
    ("crate::metrics", 0),
    ("crate::plots", 1),
    ("crate::robustness", 1),
    ("crate::scoring", 1),
    ("crate::registry", 0),
    ("crate::promotion", 2),
    ("crate::settings", 3),
    ("crate::config", 4),
    ("crate::inputs", 5),
    ("crate::report", 5),
    ("crate::compare", 6),
    ("crate::logged", 6),
    ("crate::promote", 6),
];

/// Every module of the crate at `lib` is in one layer of `layers` and imports no module of a
/// higher layer.
fn assert_layered(lib: &str, layers: &[(&str, usize)]) {
    let root = workspace().join(lib);
    let modules = CrateModules::read(&root).unwrap();
    let unplaced: Vec<&str> = modules
        .names()
        .filter(|m| *m != layering_tests::modules::ROOT)
        .filter(|m| {
            !layers
                .iter()
                .any(|(p, _)| m == p || layering_tests::modules::is_below(m, p))
        })
        .collect();
    assert!(
        unplaced.is_empty(),
        "{lib}: modules in no layer (add them to its table): {unplaced:?}"
    );
    let stale: Vec<&str> = layers
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !modules.names().any(|m| m == *p))
        .collect();
    assert!(
        stale.is_empty(),
        "{lib}: layers naming no module (remove them from its table): {stale:?}"
    );
    let upward = upward_edges(&modules.graph(), layers);
    assert!(
        upward.is_empty(),
        "{lib}: upward imports:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_inference_service_imports_downwards_only() {
    assert_layered("services/inference/src/lib.rs", INFERENCE_LAYERS);
}

#[test]
fn the_auth_service_imports_downwards_only() {
    assert_layered("services/auth/src/lib.rs", AUTH_LAYERS);
}

#[test]
fn the_training_service_imports_downwards_only() {
    assert_layered("services/training/src/lib.rs", TRAINING_LAYERS);
}

#[test]
fn the_evaluate_service_imports_downwards_only() {
    assert_layered("services/evaluate/src/lib.rs", EVALUATE_LAYERS);
}
