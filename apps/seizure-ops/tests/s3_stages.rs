//! The stages exchanging artifacts only through an S3 DVC remote (a real S3-compatible server,
//! started by scripts/test.sh), as the compose services do: each stage runs in its own
//! directory holding nothing but the `.dvc` pointers of its inputs; inference pulls production.
//! And an inference replica riding out object-store outages behind a switchable TCP proxy: a
//! store that hangs at start, and one that goes away while the pointer moves.

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

#[cfg(not(feature = "fleet"))]
#[test]
fn the_one_command_pipeline_uses_mlflow_and_the_dvc_remote_when_set() {
    test_support::skip("built without the fleet feature (S3): cargo test --features fleet");
}

#[cfg(not(feature = "fleet"))]
#[test]
fn an_inference_replica_rides_out_object_store_outages() {
    test_support::skip("built without the fleet feature (S3): cargo test --features fleet");
}

#[cfg(feature = "fleet")]
mod with_s3 {
    use super::common;

    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use auth_tokens::{Issuer, Jwks, Role, SigningAlgorithm, SigningKey};
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
        /// Stages exchanging artifacts under a fresh prefix of the test bucket (the S3 server
        /// started by scripts/test.sh), or `None` (a loud skip) without one.
        fn under(prefix: &str) -> Option<Self> {
            let (endpoint, bucket) = s3_server()?;
            Some(Self {
                url: format!("s3://{bucket}/{}", unique_prefix(prefix)),
                endpoint,
                tracking: tempfile::tempdir().unwrap(),
            })
        }

        /// A fresh directory where the synthetic set was preprocessed and pushed; its log.
        fn preprocessed(&self) -> (tempfile::TempDir, String) {
            let prep = tempfile::tempdir().unwrap();
            run_ok(Command::new(BIN).current_dir(prep.path()).args([
                "preprocessing",
                "synth",
                "--out",
                "raw.csv",
                "--segments-per-class",
                "10",
            ]));
            let log = self.run(prep.path(), &["preprocessing", "run", "--input", "raw.csv"]);
            (prep, log)
        }

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
        let Some(stages) = Stages::under("stages") else {
            return;
        };
        let (url, endpoint) = (stages.url.clone(), stages.endpoint.clone());

        let (prep, log) = stages.preprocessed();
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

    /// `seizure-ops pipeline` with MLFLOW_TRACKING_URI and DVC_REMOTE_URL set: it says so,
    /// its runs and the registered production model are on the MLflow server, and a fresh
    /// directory holding only its `production.dvc` pulls the release from the remote.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_one_command_pipeline_uses_mlflow_and_the_dvc_remote_when_set() {
        let Some((endpoint, bucket)) = s3_server() else {
            return;
        };
        let Some(mlflow) = test_support::mlflow_uri() else {
            test_support::skip("no MLflow server (MLFLOW_TEST_URI)");
            return;
        };
        let url = format!("s3://{bucket}/{}", unique_prefix("pipeline"));
        let experiment = unique_prefix("pipeline-experiment");
        let model = unique_prefix("pipeline-model");
        let home = tempfile::tempdir().unwrap();
        let output = {
            let mut command = common::seizure_ops(home.path());
            command
                .arg("pipeline")
                .args(common::QUICK)
                .env("MLFLOW_TRACKING_URI", &mlflow)
                .env("MLFLOW_EXPERIMENT_NAME", &experiment)
                .env("REGISTERED_MODEL_NAME", &model)
                .env("DVC_REMOTE_URL", &url)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_DEFAULT_REGION", "us-east-1");
            tokio::task::spawn_blocking(move || run_ok(&mut command))
                .await
                .unwrap()
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!(
                "tracking: the MLflow server at {mlflow}, experiment {experiment:?}"
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "artifacts: pushed to the DVC remote {url} at {endpoint}"
            )),
            "{stdout}"
        );

        // The registry on the server: the model, its production alias, a run behind it.
        let http = reqwest::Client::new();
        let alias: serde_json::Value = http
            .get(format!("{mlflow}/api/2.0/mlflow/registered-models/alias"))
            .query(&[("name", model.as_str()), ("alias", "production")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let version = &alias["model_version"];
        assert_eq!(version["version"], "1", "{alias}");
        let run_id = version["run_id"].as_str().unwrap();
        let run: serde_json::Value = http
            .get(format!("{mlflow}/api/2.0/mlflow/runs/get"))
            .query(&[("run_id", run_id)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["run"]["info"]["status"], "FINISHED", "{run}");

        // The remote holds the release production.dvc names.
        let serving = stage_dir(home.path(), &["production.dvc"]);
        let credentials = Credentials::new("testing", "testing", None, None, "test");
        let remote = S3Remote::new(&url, Some(&endpoint), "us-east-1", credentials).unwrap();
        let source = ReleaseSource {
            dir: serving.path().join("production"),
            remote: Some((remote.into(), serving.path().join("production.dvc"))),
        };
        let loaded = source.fetch_and_load().await.unwrap();
        assert_eq!(loaded.version, "1");

        // Cross-validation fanned out as the Kubernetes Indexed Job runs it: each fold in a
        // fresh directory (no shared volume), its raw data the production model's, fetched
        // from the DVC remote by md5; the group gathered through the MLflow server.
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.path().join("data/manifest.json")).unwrap(),
        )
        .unwrap();
        let source_md5 = manifest["source"]["md5"].as_str().unwrap().to_owned();
        let group = unique_prefix("cv-group").replace('/', "-");
        let cv = |args: Vec<String>| {
            let dir = tempfile::tempdir().unwrap();
            let mut command = common::seizure_ops(dir.path());
            command
                .arg("cv")
                .args(["--folds", "2", "--group", group.as_str()])
                .args(args)
                .args(["--epochs", "1", "--max-train-rows", "230"])
                .env("MLFLOW_TRACKING_URI", &mlflow)
                .env("MLFLOW_EXPERIMENT_NAME", &experiment)
                .env("REGISTERED_MODEL_NAME", &model)
                .env("DVC_REMOTE_URL", &url)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_DEFAULT_REGION", "us-east-1");
            let output = run_ok(&mut command);
            (dir, String::from_utf8_lossy(&output.stdout).into_owned())
        };
        // Both folds at once, as the Job's pods run.
        let members = std::thread::scope(|scope| {
            let cv = &cv;
            let handles: Vec<_> = ["0", "1"]
                .into_iter()
                .map(|fold| {
                    scope.spawn(move || {
                        cv(vec![
                            "--fold".into(),
                            fold.into(),
                            "--source".into(),
                            "production".into(),
                        ])
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        for (dir, stdout) in &members {
            assert!(
                stdout.contains(&format!("raw data: {source_md5}")),
                "{stdout}"
            );
            // Nothing but what it fetched and made: no raw data of its own.
            assert!(!dir.path().join("raw").exists());
        }
        let (gathered, _) = cv(vec!["--gather".into()]);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(gathered.path().join("cv/cv.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["folds"], 2, "{report}");
        assert_eq!(report["source_csv"], format!("md5:{source_md5}"));
        let parent = report["parent_run_id"].as_str().unwrap();
        let run: serde_json::Value = http
            .get(format!("{mlflow}/api/2.0/mlflow/runs/get"))
            .query(&[("run_id", parent)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["run"]["info"]["status"], "FINISHED", "{run}");
        let metrics = run["run"]["data"]["metrics"].as_array().unwrap();
        assert!(
            metrics.iter().any(|m| m["key"] == "cv_roc_auc_mean"),
            "{run}"
        );
    }

    /// Two production releases in the bucket (versions 1 and 2, both pushed by the stages),
    /// the bytes of each `production.dvc` pointer.
    fn two_releases(stages: &Stages) -> (Vec<u8>, Vec<u8>) {
        let (prep, _) = stages.preprocessed();
        let work = stage_dir(prep.path(), &["data.dvc"]);
        let quick = ["--epochs", "1", "--max-train-rows", "230"];
        stages.run(work.path(), &[&["training"][..], &quick].concat());
        stages.run(work.path(), &["evaluate", "run"]);
        let v1 = std::fs::read(work.path().join("production.dvc")).unwrap();
        stages.run(
            work.path(),
            &[&["training", "--seed", "7"][..], &quick].concat(),
        );
        stages.run(
            work.path(),
            &[
                "evaluate",
                "run",
                "--force",
                "--force-reason",
                "a second release for the outage test",
            ],
        );
        let v2 = std::fs::read(work.path().join("production.dvc")).unwrap();
        assert_ne!(v1, v2);
        (v1, v2)
    }

    /// What the proxy does with connections to the object store.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Store {
        /// Forwarded.
        Up,
        /// Closed at once, and every open connection cut (the store went away).
        Down,
        /// Accepted and never answered (a store that hangs); cut when the mode changes.
        Hangs,
    }

    /// A TCP proxy in front of the real S3 server whose behaviour the test switches.
    struct StoreProxy {
        endpoint: String,
        mode: tokio::sync::watch::Sender<Store>,
    }

    impl StoreProxy {
        async fn start(upstream: &str, mode: Store) -> Self {
            let upstream = upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let endpoint = format!("http://{}", listener.local_addr().unwrap());
            let (sender, receiver) = tokio::sync::watch::channel(mode);
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    let mut mode = receiver.clone();
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let now = *mode.borrow_and_update();
                        match now {
                            Store::Down => {}
                            Store::Hangs => {
                                let _ = mode.wait_for(|m| *m != Store::Hangs).await;
                            }
                            Store::Up => {
                                let Ok(mut server) =
                                    tokio::net::TcpStream::connect(&upstream).await
                                else {
                                    return;
                                };
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                    _ = mode.wait_for(|m| *m != Store::Up) => {}
                                }
                            }
                        }
                    });
                }
            });
            Self {
                endpoint,
                mode: sender,
            }
        }

        fn set(&self, mode: Store) {
            self.mode.send_replace(mode);
        }
    }

    /// `seizure-ops inference` as a process, killed on drop.
    struct Replica {
        child: std::process::Child,
        base: String,
        http: reqwest::Client,
        /// Its stderr.
        log: std::path::PathBuf,
    }

    impl Drop for Replica {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Replica {
        async fn get(&self, path: &str) -> (u16, String) {
            match self.http.get(format!("{}{path}", self.base)).send().await {
                Ok(answer) => (
                    answer.status().as_u16(),
                    answer.text().await.unwrap_or_default(),
                ),
                Err(_) => (0, String::new()),
            }
        }

        async fn version(&self) -> Option<String> {
            let (status, body) = self.get("/model-info").await;
            (status == 200).then(|| {
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        }

        async fn metric(&self, line_prefix: &str) -> Option<f64> {
            let (_, text) = self.get("/metrics").await;
            text.lines()
                .find_map(|l| l.strip_prefix(line_prefix))
                .and_then(|v| v.trim().parse().ok())
        }

        /// Polls until `check` holds, for at most `limit`; returns how long it took.
        async fn until<F, Fut>(&self, limit: Duration, what: &str, check: F) -> Duration
        where
            F: Fn() -> Fut,
            Fut: std::future::Future<Output = bool>,
        {
            let start = Instant::now();
            while !check().await {
                assert!(
                    start.elapsed() < limit,
                    "not within {limit:?}: {what}; the replica's log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            start.elapsed()
        }
    }

    /// A replica whose object store hangs when it starts and goes away while the pointer
    /// moves: it starts live but not ready after MODEL_STARTUP_FETCH_SECONDS, its watch loads
    /// the release once the store answers; during the outage it keeps serving the model it
    /// has (predictions answered, `model_behind_pointer` 1, failed reloads counted) and it
    /// catches up with the pointer when the store is back. The real S3 server and the real
    /// binary; only the network between them is switched.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_inference_replica_rides_out_object_store_outages() {
        let Some(stages) = Stages::under("outage") else {
            return;
        };
        let (url, endpoint) = (stages.url.clone(), stages.endpoint.clone());
        let (v1, v2) = tokio::task::spawn_blocking(move || (two_releases(&stages), stages))
            .await
            .unwrap()
            .0;

        let proxy = StoreProxy::start(&endpoint, Store::Hangs).await;
        let serving = tempfile::tempdir().unwrap();
        let pointer = serving.path().join("production.dvc");
        std::fs::write(&pointer, &v1).unwrap();
        let key = SigningKey::generate(SigningAlgorithm::RS256).unwrap();
        let jwks = serving.path().join("jwks.json");
        std::fs::write(&jwks, Jwks::of(&[&key]).to_json().to_string()).unwrap();
        let token = Issuer::new(key, "seizure-ops-auth", "seizure-ops", 900)
            .issue("ada", Role::Clinician)
            .unwrap()
            .0;
        let port = test_support::free_port();
        let log = serving.path().join("inference.log");
        let started = Instant::now();
        let child = Command::new(BIN)
            .current_dir(serving.path())
            .arg("inference")
            .env("INFERENCE_LISTEN", format!("127.0.0.1:{port}"))
            .env("PRODUCTION_DIR", serving.path().join("production"))
            .env("PRODUCTION_POINTER", &pointer)
            .env("PATIENT_STORE", serving.path().join("patients/store"))
            .env("DATABASE_URL", serving.path().join("predictions.db"))
            .env("AUDIT_SPILL_FILE", serving.path().join("spill.jsonl"))
            .env("AUTH_PUBLIC_KEY_FILE", &jwks)
            .env("DVC_REMOTE_URL", &url)
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("MODEL_WATCH_SECONDS", "1")
            .env("MODEL_STARTUP_FETCH_SECONDS", "2")
            .env("RUST_LOG", "info")
            .env_remove("AUTH_JWKS_URL")
            .env_remove("MLFLOW_TRACKING_URI")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let replica = Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            log: log.clone(),
        };
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

        // 1. The store hangs: the start gives up after 2 s, live but not ready.
        replica
            .until(Duration::from_secs(30), "the replica answers", || async {
                replica.get("/health/live").await.0 == 200
            })
            .await;
        let up_after = started.elapsed();
        assert!(up_after >= Duration::from_secs(2), "{up_after:?}");
        assert_eq!(replica.get("/health/ready").await.0, 503);
        assert_eq!(replica.version().await, None);
        assert_eq!(replica.metric("model_behind_pointer ").await, Some(1.0));
        assert!(
            log_text().contains("was not fetched within 2 s"),
            "{}",
            log_text()
        );

        // 2. The store answers again: the watch loads version 1, nobody asks.
        proxy.set(Store::Up);
        let took = replica
            .until(Duration::from_secs(30), "version 1 loaded", || async {
                replica.version().await.as_deref() == Some("1")
                    && replica.get("/health/ready").await.0 == 200
            })
            .await;
        eprintln!("started after {up_after:?} (store hanging); ready on version 1 {took:?} after the store came back");
        assert_eq!(replica.metric("model_behind_pointer ").await, Some(0.0));

        // 3. The store goes away, then production moves to version 2.
        let failure = "model_reloads_total{result=\"failure\"} ";
        let failed_before = replica.metric(failure).await.unwrap_or(0.0);
        proxy.set(Store::Down);
        let moved = serving.path().join("production.dvc.tmp");
        std::fs::write(&moved, &v2).unwrap();
        std::fs::rename(&moved, &pointer).unwrap();
        replica
            .until(
                Duration::from_secs(30),
                "a failed reload counted",
                || async {
                    replica
                        .metric(failure)
                        .await
                        .is_some_and(|n| n > failed_before)
                },
            )
            .await;
        assert_eq!(replica.version().await.as_deref(), Some("1"));
        assert_eq!(replica.get("/health/ready").await.0, 200);
        assert_eq!(replica.metric("model_behind_pointer ").await, Some(1.0));
        let prediction = replica
            .http
            .post(format!("{}/predict", replica.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"recordings": [vec![0.0; 178]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(prediction.status().as_u16(), 200, "predictions go on");
        let body: serde_json::Value = prediction.json().await.unwrap();
        assert_eq!(body["model_version"], "1", "{body}");

        // 4. The store is back: the replica catches up with the pointer.
        proxy.set(Store::Up);
        let took = replica
            .until(Duration::from_secs(30), "version 2 loaded", || async {
                replica.version().await.as_deref() == Some("2")
            })
            .await;
        eprintln!("caught up with version 2 {took:?} after the store came back");
        assert_eq!(replica.metric("model_behind_pointer ").await, Some(0.0));
        assert_eq!(replica.get("/health/ready").await.0, 200);
    }
}
