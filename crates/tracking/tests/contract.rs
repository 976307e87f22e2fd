//! The same contract, checked on both stores: the local directory and a real MLflow server
//! (started by ./scripts/test.sh, which exports MLFLOW_TEST_URI).

use std::fs;

use tracking::local::LocalTracker;
use tracking::mlflow::MlflowTracker;
use tracking::{Metric, RunStatus, Tracker, TrackingError, PRODUCTION_ALIAS};

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        artifact_store::dvc::bytes_md5(format!("{:?}", std::time::SystemTime::now()).as_bytes())
            [..8]
            .to_owned()
    )
}

fn exercise(tracker: &dyn Tracker) {
    let experiment = unique("contract");
    let model = unique("model");
    let run = tracker.create_run(&experiment, "train-1").unwrap();
    assert_eq!(tracker.run_status(&run.run_id).unwrap(), "RUNNING");

    let params = vec![
        ("lr".to_string(), "0.001".to_string()),
        ("epochs".into(), "3".into()),
    ];
    tracker.log_params(&run.run_id, &params).unwrap();
    tracker.log_params(&run.run_id, &params).unwrap(); // the same values again: fine
    let changed = tracker.log_params(&run.run_id, &[("lr".into(), "0.1".into())]);
    assert!(changed.is_err(), "param values are immutable");
    let logged = tracker.run_params(&run.run_id).unwrap();
    assert_eq!(logged["lr"], "0.001");
    assert_eq!(logged["epochs"], "3");

    let metrics: Vec<Metric> = (0..3)
        .map(|step| Metric::now("val_loss", 1.0 / (step + 1) as f64, step))
        .chain([Metric::now("odd", f64::NAN, 0)])
        .collect();
    tracker.log_metrics(&run.run_id, &metrics).unwrap();
    let history = tracker.metric_history(&run.run_id, "val_loss").unwrap();
    let steps: Vec<(i64, f64)> = history.iter().map(|m| (m.step, m.value)).collect();
    assert_eq!(steps, [(0, 1.0), (1, 0.5), (2, 1.0 / 3.0)]);
    assert!(history.iter().all(|m| m.timestamp_ms > 0));
    assert!(tracker.metric_history(&run.run_id, "odd").unwrap()[0]
        .value
        .is_nan());

    let files = tempfile::tempdir().unwrap();
    fs::create_dir(files.path().join("sub")).unwrap();
    fs::write(files.path().join("model.json"), b"{\"a\": 1}").unwrap();
    fs::write(files.path().join("sub/weights.bin"), [0u8, 1, 2, 255]).unwrap();
    tracker
        .log_artifacts(&run.run_id, files.path(), "model")
        .unwrap();
    assert_eq!(
        tracker.list_artifacts(&run.run_id).unwrap(),
        ["model/model.json", "model/sub/weights.bin"]
    );
    tracker
        .set_tags(&run.run_id, &[("data_md5".into(), "abc.dir".into())])
        .unwrap();
    tracker
        .finish_run(&run.run_id, RunStatus::Finished)
        .unwrap();
    assert_eq!(tracker.run_status(&run.run_id).unwrap(), "FINISHED");

    // Registry: no alias yet, then versions and alias moves.
    assert_eq!(tracker.alias(&model, PRODUCTION_ALIAS).unwrap(), None);
    let v1 = tracker
        .register_version(&model, &run.run_id, "model")
        .unwrap();
    assert_eq!(v1.version, "1");
    assert_eq!(tracker.alias(&model, PRODUCTION_ALIAS).unwrap(), None);
    tracker
        .set_alias(&model, PRODUCTION_ALIAS, &v1.version)
        .unwrap();
    assert_eq!(
        tracker.alias(&model, PRODUCTION_ALIAS).unwrap(),
        Some(v1.clone())
    );
    let v2 = tracker
        .register_version(&model, &run.run_id, "model")
        .unwrap();
    assert_eq!(v2.version, "2");
    tracker.set_alias(&model, PRODUCTION_ALIAS, "2").unwrap();
    assert_eq!(
        tracker
            .alias(&model, PRODUCTION_ALIAS)
            .unwrap()
            .unwrap()
            .version,
        "2"
    );
    assert_eq!(tracker.model_version(&model, "1").unwrap(), v1);
    assert!(matches!(
        tracker.model_version(&model, "9"),
        Err(TrackingError::NotFound(_))
    ));

    let dest = tempfile::tempdir().unwrap();
    tracker.download_version(&v2, dest.path()).unwrap();
    assert_eq!(
        fs::read(dest.path().join("sub/weights.bin")).unwrap(),
        [0u8, 1, 2, 255]
    );
    assert_eq!(
        fs::read(dest.path().join("model.json")).unwrap(),
        b"{\"a\": 1}"
    );

    // A model logged as a model (on MLflow 3 also a logged model, which the registry then
    // versions) lists, registers and downloads like plain artifacts.
    let run2 = tracker.create_run(&experiment, "train-2").unwrap();
    tracker
        .log_model(&run2.run_id, files.path(), "model")
        .unwrap();
    assert_eq!(
        tracker.list_artifacts(&run2.run_id).unwrap(),
        ["model/model.json", "model/sub/weights.bin"]
    );
    tracker
        .finish_run(&run2.run_id, RunStatus::Finished)
        .unwrap();
    let v3 = tracker
        .register_version(&model, &run2.run_id, "model")
        .unwrap();
    assert_eq!(
        (v3.version.as_str(), v3.run_id.as_str()),
        ("3", run2.run_id.as_str())
    );
    let dest = tempfile::tempdir().unwrap();
    tracker.download_version(&v3, dest.path()).unwrap();
    assert_eq!(
        fs::read(dest.path().join("sub/weights.bin")).unwrap(),
        [0u8, 1, 2, 255]
    );

    // One artifact file read back; a path that leaves the run's artifacts is refused.
    assert_eq!(
        tracker
            .read_artifact(&run.run_id, "model/sub/weights.bin")
            .unwrap(),
        [0u8, 1, 2, 255]
    );
    assert!(tracker.read_artifact(&run.run_id, "model/absent").is_err());
    assert!(tracker.read_artifact(&run.run_id, "../x").is_err());

    // Runs found by a tag, oldest first, with their status and tags; nothing in another
    // experiment or with another value; an experiment that does not exist has none.
    tracker
        .set_tags(&run2.run_id, &[("data_md5".into(), "abc.dir".into())])
        .unwrap();
    let run3 = tracker.create_run(&experiment, "train-3").unwrap();
    tracker
        .set_tags(&run3.run_id, &[("data_md5".into(), "other".into())])
        .unwrap();
    let elsewhere = tracker.create_run(&unique("elsewhere"), "x").unwrap();
    tracker
        .set_tags(&elsewhere.run_id, &[("data_md5".into(), "abc.dir".into())])
        .unwrap();
    let found = tracker
        .search_runs(&experiment, "data_md5", "abc.dir")
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, [run.run_id.as_str(), run2.run_id.as_str()]);
    assert!(found.iter().all(|r| r.status == "FINISHED"));
    assert_eq!(found[0].tags["data_md5"], "abc.dir");
    assert!(tracker
        .search_runs(&unique("no-such-experiment"), "data_md5", "abc.dir")
        .unwrap()
        .is_empty());
    // A value a filter language could read as syntax is refused, not searched for.
    for hostile in ["x' OR '1'='1", "", "a b", "`x`"] {
        assert!(
            matches!(
                tracker.search_runs(&experiment, "data_md5", hostile),
                Err(TrackingError::Invalid(_))
            ),
            "{hostile:?}"
        );
    }
}

#[test]
fn local_store_honours_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = LocalTracker::open(dir.path()).unwrap();
    exercise(&tracker);
    // Human-readable: the metric history is a CSV, the alias history a JSON-lines log.
    // The first run logged the metrics (the second only a model); directory order is arbitrary.
    let run_dir = fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|run| run.join("metrics/val_loss.csv").is_file())
        .expect("a run with metrics");
    let csv = fs::read_to_string(run_dir.join("metrics/val_loss.csv")).unwrap();
    assert!(csv.starts_with("step,timestamp_ms,value\n0,"), "{csv}");
    let models: Vec<_> = fs::read_dir(dir.path().join("models")).unwrap().collect();
    let history = fs::read_to_string(
        models[0]
            .as_ref()
            .unwrap()
            .path()
            .join("alias_history.jsonl"),
    )
    .unwrap();
    assert_eq!(history.lines().count(), 2);
    assert!(history.contains("\"from_version\":\"1\""), "{history}");
}

#[test]
fn local_store_refuses_names_that_escape_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = LocalTracker::open(dir.path()).unwrap();
    assert!(tracker.create_run("../evil", "x").is_err());
    assert!(tracker.alias("a/b", "production").is_err());
}

#[test]
fn mlflow_server_honours_the_contract() {
    let Some(uri) = test_support::mlflow_uri() else {
        test_support::skip("no MLflow server (MLFLOW_TEST_URI)");
        return;
    };
    exercise(&MlflowTracker::new(&uri).unwrap());
}
