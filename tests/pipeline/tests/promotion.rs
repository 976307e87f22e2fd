//! Train a tiny model, evaluate and promote it, refuse really diverged candidates and one that
//! is only retrained with another seed, force a promotion (recorded as forced) and roll it
//! back: against the local tracking store and a real MLflow server.

use std::path::Path;

use artifact_store::dvc::{hash_dir, DvcPointer};
use eeg_data::prepare::{prepare, PrepareOptions};
use evaluate::registry;
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

    let (report, promoted) = ws.evaluate();
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

    // 2. Really diverged trainings are refused, whatever the margin or --force: a learning
    //    rate of 1e4 saturates the network (constant scores: the floor refuses it), one of
    //    3e38 overflows it to NaN (refused as non-finite).
    let audit_len = || {
        registry::read_audit(&ws.path("audit/promotions.jsonl"))
            .unwrap()
            .len()
    };
    for (learning_rate, words) in [(1e4, "below the floor"), (3e38, "NaN")] {
        ws.train(1, learning_rate);
        let (report, promoted) = ws.evaluate_forced("trying to force a diverged model");
        assert!(
            promoted.is_none(),
            "lr {learning_rate}: {}",
            report.decision.reason
        );
        assert!(
            report.decision.reason.contains(words),
            "lr {learning_rate}: {}",
            report.decision.reason
        );
        assert_eq!(production_version(tracker.as_ref(), &model), "1");
        assert_eq!(
            hash_dir(&ws.path("production")).unwrap(),
            production_v1,
            "production untouched"
        );
        assert_eq!(audit_len(), 1);
    }

    // 3. The same recipe with another seed is not shown better at 95%: not promoted, and
    //    the decision states the difference with its interval.
    ws.train_seeded(1, 3e-3, 2);
    let (report, promoted) = ws.evaluate();
    assert!(promoted.is_none(), "{}", report.decision.reason);
    let comparison = report.decision.comparison.as_ref().unwrap();
    assert!(comparison.interval.contains(comparison.difference));
    assert!(
        report.decision.reason.contains("not shown better")
            && report.decision.reason.contains("CI"),
        "{}",
        report.decision.reason
    );
    assert_eq!(production_version(tracker.as_ref(), &model), "1");

    // 4. Forcing it through is recorded as forced, with who and why; rollback then restores
    //    version 1 byte for byte.
    let (_, promoted) = ws.evaluate_forced("clinical review of the new recipe");
    let forced = promoted.unwrap();
    assert_eq!(forced.from_version.as_deref(), Some("1"));
    assert!(forced.forced);
    assert_eq!(
        forced.force_reason.as_deref(),
        Some("clinical review of the new recipe")
    );
    assert!(forced.reason.starts_with("FORCED by "), "{}", forced.reason);
    let recorded = &registry::read_audit(&ws.path("audit/promotions.jsonl")).unwrap()[1];
    assert_eq!(
        (
            recorded.forced,
            &recorded.force_reason,
            &recorded.actor,
            &recorded.reason
        ),
        (true, &forced.force_reason, &forced.actor, &forced.reason)
    );
    assert_eq!(production_version(tracker.as_ref(), &model), "2");
    let rolled_back = registry::rollback(&ws.registry().settings()).unwrap();
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
    let err = registry::rollback(&ws.registry().settings()).unwrap_err();
    assert!(
        format!("{err:#}").contains("nothing to roll back to"),
        "{err:#}"
    );

    // data.dvc, models.dvc and production.dvc all describe what is on disk.
    test_support::assert_dvc_status_clean(ws.dir.path());

    // 5. A candidate is only ever scored on the data version it was trained on.
    let mut other = PrepareOptions::new(ws.path("raw/eeg.csv"), ws.path("data"));
    other.split.seed = 99;
    prepare(&other).unwrap();
    let err = evaluate::evaluate(&ws.evaluate_args().settings().unwrap()).unwrap_err();
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
