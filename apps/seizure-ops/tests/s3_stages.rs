//! The stages exchanging artifacts only through an S3 DVC remote (a real S3-compatible server,
//! started by scripts/test.sh), as the compose services do: each stage runs in its own
//! directory holding nothing but the `.dvc` pointers of its inputs; inference pulls production.

//!
//! The S3 client is the `fleet` feature (scripts/test.sh and CI build with it); without it the
//! test skips visibly (a failure under CI).

#[cfg(feature = "fleet")]
mod common;

#[cfg(not(feature = "fleet"))]
#[test]
fn stages_and_inference_exchange_artifacts_only_through_s3() {
    test_support::skip("built without the fleet feature (S3): cargo test --features fleet");
}

#[cfg(feature = "fleet")]
mod with_s3 {
    use super::common;

    use std::path::Path;
    use std::process::Command;

    use dvc_remote::{Credentials, S3Remote};
    use inference::model::ReleaseSource;
    use test_support::{run_ok, s3_server, unique_prefix};

    const BIN: &str = env!("CARGO_BIN_EXE_seizure-ops");

    struct Stages {
        url: String,
        endpoint: String,
        /// The one tracking store every stage shares (MLflow in the compose fleet).
        tracking: tempfile::TempDir,
    }

    impl Stages {
        fn run(&self, dir: &Path, args: &[&str]) -> String {
            let output = run_ok(
                Command::new(BIN)
                    .current_dir(dir)
                    .args(args)
                    .env("DVC_REMOTE_URL", &self.url)
                    .env("AWS_ENDPOINT_URL", &self.endpoint)
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    .env("AWS_DEFAULT_REGION", "us-east-1")
                    .env("TRACKING_DIR", self.tracking.path())
                    .env("RUST_LOG", "info")
                    .env("MIN_SENSITIVITY", common::TINY_MODEL_MIN_SENSITIVITY)
                    .env_remove("MLFLOW_TRACKING_URI"),
            );
            String::from_utf8_lossy(&output.stderr).into_owned()
        }
    }

    /// A fresh directory holding copies of `pointers` from `from`.
    fn stage_dir(from: &Path, pointers: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for pointer in pointers {
            std::fs::copy(from.join(pointer), dir.path().join(pointer)).unwrap();
        }
        dir
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stages_and_inference_exchange_artifacts_only_through_s3() {
        let Some((endpoint, bucket)) = s3_server() else {
            return;
        };
        let url = format!("s3://{bucket}/{}", unique_prefix("stages"));
        let stages = Stages {
            url: url.clone(),
            endpoint: endpoint.clone(),
            tracking: tempfile::tempdir().unwrap(),
        };

        let prep = tempfile::tempdir().unwrap();
        run_ok(Command::new(BIN).current_dir(prep.path()).args([
            "preprocessing",
            "synth",
            "--out",
            "raw.csv",
            "--segments-per-class",
            "10",
        ]));
        let log = stages.run(prep.path(), &["preprocessing", "run", "--input", "raw.csv"]);
        assert!(log.contains("pushed"), "{log}");

        let train = stage_dir(prep.path(), &["data.dvc"]);
        let log = stages.run(
            train.path(),
            &["training", "--epochs", "1", "--max-train-rows", "230"],
        );
        assert!(
            log.contains("pulled"),
            "training pulls data by data.dvc: {log}"
        );
        assert!(train.path().join("models.dvc").is_file());

        let evaluate = stage_dir(train.path(), &["data.dvc", "models.dvc"]);
        let log = stages.run(evaluate.path(), &["evaluate", "run"]);
        assert!(log.contains("pushed"), "evaluate pushes production: {log}");
        assert!(evaluate.path().join("production.dvc").is_file());

        let patients = stage_dir(prep.path(), &["data.dvc"]);
        stages.run(patients.path(), &["patient-pull"]);
        assert!(patients.path().join("patients/store/index.json").is_file());

        // Inference: an empty directory and production.dvc; the release comes from S3.
        let serving = stage_dir(evaluate.path(), &["production.dvc"]);
        let credentials = Credentials::new("testing", "testing", None, None, "test");
        let remote = S3Remote::new(&url, Some(&endpoint), "us-east-1", credentials).unwrap();
        let source = ReleaseSource {
            dir: serving.path().join("production"),
            remote: Some((remote.into(), serving.path().join("production.dvc"))),
        };
        let model = source.fetch_and_load().await.unwrap();
        assert_eq!(model.version, "1");
        assert_eq!(
            artifact_store::dvc::hash_dir(&serving.path().join("production"))
                .unwrap()
                .md5,
            artifact_store::dvc::DvcPointer::read(&serving.path().join("production.dvc"))
                .unwrap()
                .md5
        );
    }
}
