//! Train a tiny model, evaluate and promote it, refuse a deliberately worse candidate, force a
//! promotion and roll it back: against the local tracking store and a real MLflow server.

use std::path::Path;

use artifact_store::dvc::{hash_dir, DvcPointer};
use eeg_data::prepare::{prepare, PrepareOptions};
use evaluate::registry;
use evaluate::{EvaluateArgs, PrimaryMetric};
use pipeline_tests::Workspace;
use tracking::{Tracker, PRODUCTION_ALIAS};

fn production_version(tracker: &dyn Tracker, model: &str) -> String {
    tracker
        .alias(model, PRODUCTION_ALIAS)
        .unwrap()
        .unwrap()
        .version
}

fn exercise(tracking_uri: Option<String>) {
    let ws = Workspace::new(tracking_uri);
    let tracker = ws.tracking.open().unwrap();
    let model = ws.registry().model_name;

    // 1. A tiny model, one epoch on a subset: tracked, written, promoted (no production yet).
    let trained = ws.train(1, 3e-3);
    let run = &trained.run_id;
    let params = tracker.run_params(run).unwrap();
    assert_eq!(params["epochs"], "1");
    assert_eq!(params["train_rows"], "230");
    assert_eq!(params["data_md5"], hash_dir(&ws.path("data")).unwrap().md5);
    let history = tracker.metric_history(run, "val_loss").unwrap();
    assert_eq!(history.len(), trained.history.len());
    assert_eq!(history[0].step, 1);
    assert!(tracker.metric_history(run, "train_accuracy").unwrap().len() == history.len());
    let artifacts = tracker.list_artifacts(run).unwrap();
    assert!(
        artifacts.contains(&"model/model.json".to_string()),
        "{artifacts:?}"
    );
    assert!(
        artifacts.contains(&"model/weights.bpk".to_string()),
        "{artifacts:?}"
    );
    assert_eq!(tracker.run_status(run).unwrap(), "FINISHED");
    let models_pointer = DvcPointer::read(&ws.path("models.dvc")).unwrap();
    assert_eq!(
        models_pointer.md5,
        hash_dir(&ws.path("models")).unwrap().md5
    );

    let (report, promoted) = ws.evaluate(0.0);
    let first = promoted.expect("the first model is promoted");
    assert_eq!(first.to_version, "1");
    assert!(
        report.candidate.recordings.roc_auc > 0.8,
        "{:?}",
        report.candidate.recordings
    );
    assert_eq!(production_version(tracker.as_ref(), &model), "1");
    let release = registry::installed_release(&ws.path("production"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (release.version.as_str(), release.run_id.as_str()),
        ("1", run.as_str())
    );
    for file in ["metrics.json", "roc.svg", "pr.svg", "confusion.svg"] {
        assert!(ws.path("reports").join(file).is_file(), "{file}");
    }
    let production_v1 = hash_dir(&ws.path("production")).unwrap();
    assert_eq!(
        DvcPointer::read(&ws.path("production.dvc")).unwrap().md5,
        production_v1.md5
    );

    // 2. A deliberately worse candidate (a diverging learning rate of 100) is refused.
    ws.train(1, 100.0);
    let (report, promoted) = ws.evaluate(0.0);
    assert!(promoted.is_none(), "{}", report.decision.reason);
    assert!(
        report.decision.reason.contains("does not beat"),
        "{}",
        report.decision.reason
    );
    assert_eq!(production_version(tracker.as_ref(), &model), "1");
    assert_eq!(
        hash_dir(&ws.path("production")).unwrap(),
        production_v1,
        "production untouched"
    );
    assert_eq!(
        registry::read_audit(&ws.path("audit/promotions.jsonl"))
            .unwrap()
            .len(),
        1
    );

    // 3. A margin of -1 forces it through; rollback then restores version 1 byte for byte.
    let (_, promoted) = ws.evaluate(-1.0);
    assert_eq!(promoted.unwrap().from_version.as_deref(), Some("1"));
    assert_eq!(production_version(tracker.as_ref(), &model), "2");
    let rolled_back = registry::rollback(&ws.registry()).unwrap();
    assert_eq!(
        (
            rolled_back.from_version.as_deref(),
            rolled_back.to_version.as_str()
        ),
        (Some("2"), "1")
    );
    assert_eq!(production_version(tracker.as_ref(), &model), "1");
    let restored = registry::installed_release(&ws.path("production"))
        .unwrap()
        .unwrap();
    assert_eq!(restored.version, "1");
    let files = |dir: &Path| {
        hash_dir(dir)
            .unwrap()
            .entries
            .into_iter()
            .filter(|e| e.relpath != registry::RELEASE_FILE)
            .collect::<Vec<_>>()
    };
    assert_eq!(files(&ws.path("production")), files_of(&production_v1));
    let err = registry::rollback(&ws.registry()).unwrap_err();
    assert!(
        format!("{err:#}").contains("nothing to roll back to"),
        "{err:#}"
    );

    // data.dvc, models.dvc and production.dvc all describe what is on disk.
    test_support::assert_dvc_status_clean(ws.dir.path());

    // 4. A candidate is only ever scored on the data version it was trained on.
    let mut other = PrepareOptions::new(ws.path("raw/eeg.csv"), ws.path("data"));
    other.split.seed = 99;
    prepare(&other).unwrap();
    let err = evaluate::evaluate(&EvaluateArgs {
        candidate: ws.path("models"),
        data: ws.path("data"),
        reports: ws.path("reports"),
        primary_metric: PrimaryMetric::RocAuc,
        min_improvement: 0.0,
        threshold: 0.5,
        registry: ws.registry(),
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("evaluate a model on the data version it was trained on"));
}

fn files_of(hash: &artifact_store::dvc::DirHash) -> Vec<artifact_store::dvc::DirEntry> {
    hash.entries
        .iter()
        .filter(|e| e.relpath != registry::RELEASE_FILE)
        .cloned()
        .collect()
}

#[test]
fn promotion_flow_on_the_local_tracking_store() {
    exercise(None);
}

#[test]
fn promotion_flow_on_a_real_mlflow_server() {
    let Some(uri) = test_support::mlflow_uri() else {
        test_support::skip("no MLflow server (MLFLOW_TEST_URI)");
        return;
    };
    exercise(Some(uri));
}
