//! The S3 remote against a real S3-compatible server (moto, started by scripts/test.sh) and
//! the real `dvc` CLI: what we push, `dvc pull` restores; what `dvc push` uploads, we pull;
//! pushes skip what is there; corrupted or missing objects are refused without touching the
//! destination.

use std::path::{Path, PathBuf};
use std::process::Command;

use artifact_store::dvc::{self, DvcPointer, DvcRepo};
use aws_sdk_s3::config::Credentials;
use dvc_remote::{parse_url, RemoteError, S3Remote};
use test_support::{run_ok, s3_server, unique_prefix};

struct Bucket {
    endpoint: String,
    bucket: String,
    prefix: String,
}

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

impl Bucket {
    fn new(test: &str) -> Option<Self> {
        let (endpoint, bucket) = s3_server()?;
        Some(Self {
            endpoint,
            bucket,
            prefix: unique_prefix(test),
        })
    }

    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn remote(&self) -> S3Remote {
        S3Remote::new(
            &self.url(),
            Some(&self.endpoint),
            "us-east-1",
            credentials(),
        )
        .unwrap()
    }

    /// The real dvc CLI in `repo`.
    fn dvc(&self, repo: &Path, args: &[&str]) -> String {
        let dvc = test_support::dvc().expect("dvc is installed by scripts/test.sh");
        let output = run_ok(
            Command::new(dvc)
                .current_dir(repo)
                .args(args)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("DVC_NO_ANALYTICS", "1"),
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A DVC repository whose default remote is this bucket and prefix.
    fn dvc_repo(&self) -> tempfile::TempDir {
        let repo = tempfile::tempdir().unwrap();
        self.dvc(repo.path(), &["init", "--no-scm", "-q"]);
        self.dvc(repo.path(), &["remote", "add", "-d", "store", &self.url()]);
        self.dvc(
            repo.path(),
            &["remote", "modify", "store", "endpointurl", &self.endpoint],
        );
        repo
    }
}

fn sample_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("nested/deeper")).unwrap();
    let weights: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    std::fs::write(dir.join("weights.bin"), weights).unwrap();
    std::fs::write(dir.join("model.json"), br#"{"name": "seizure"}"#).unwrap();
    std::fs::write(dir.join("nested/deeper/notes.txt"), "pr\u{e9}-ictal\n").unwrap();
    std::fs::write(dir.join("nested/empty-file"), b"").unwrap();
    dir
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    dvc::list_files(dir)
        .unwrap()
        .into_iter()
        .map(|(relpath, path)| (relpath, std::fs::read(path).unwrap()))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn what_we_push_dvc_pull_restores_and_a_second_push_uploads_nothing() {
    let Some(bucket) = Bucket::new("ours-to-dvc") else {
        return;
    };
    let repo = bucket.dvc_repo();
    let dir = sample_dir(repo.path(), "models");
    let original = files_of(&dir);
    DvcRepo::open_or_init(repo.path())
        .unwrap()
        .add_dir(&dir)
        .unwrap();

    let remote = bucket.remote();
    let rt = runtime();
    let pushed = rt.block_on(remote.push_dir(&dir)).unwrap();
    assert_eq!(
        (pushed.uploaded, pushed.skipped),
        (5, 0),
        "4 files + the manifest"
    );
    let again = rt.block_on(remote.push_dir(&dir)).unwrap();
    assert_eq!((again.uploaded, again.skipped), (0, 5));
    assert_eq!(
        again.pointer,
        DvcPointer::read(&repo.path().join("models.dvc")).unwrap()
    );

    let status = bucket.dvc(repo.path(), &["status", "--cloud"]);
    assert!(status.contains("in sync"), "{status}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(repo.path().join(".dvc/cache")).unwrap();
    bucket.dvc(repo.path(), &["pull"]);
    assert_eq!(files_of(&dir), original);
}

#[test]
fn what_dvc_push_uploads_we_pull_byte_for_byte() {
    let Some(bucket) = Bucket::new("dvc-to-ours") else {
        return;
    };
    let repo = bucket.dvc_repo();
    let dir = sample_dir(repo.path(), "data");
    bucket.dvc(repo.path(), &["add", "data"]);
    bucket.dvc(repo.path(), &["push"]);
    let pointer = DvcPointer::read(&repo.path().join("data.dvc")).unwrap();

    let dest = tempfile::tempdir().unwrap();
    let target = dest.path().join("data");
    let remote = bucket.remote();
    let rt = runtime();
    assert_eq!(
        rt.block_on(remote.pull_dir(&pointer.md5, &target)).unwrap(),
        4
    );
    assert_eq!(files_of(&target), files_of(&dir));
    assert!(
        !rt.block_on(remote.sync_dir(&pointer.md5, &target)).unwrap(),
        "already there"
    );
}

#[test]
fn a_corrupted_or_missing_object_is_refused_and_the_destination_kept() {
    let Some(bucket) = Bucket::new("corrupted") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = sample_dir(work.path(), "production");
    let remote = bucket.remote();
    let rt = runtime();
    let pushed = rt.block_on(remote.push_dir(&dir)).unwrap();
    let hash = dvc::hash_dir(&dir).unwrap();
    let weights = hash
        .entries
        .iter()
        .find(|e| e.relpath == "weights.bin")
        .unwrap();

    // Same key, other bytes: what a bit flip or a tampered bucket looks like.
    let raw = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .endpoint_url(&bucket.endpoint)
            .force_path_style(true)
            .build(),
    );
    rt.block_on(
        raw.put_object()
            .bucket(&bucket.bucket)
            .key(remote.key(&weights.md5))
            .body(b"not the weights".to_vec().into())
            .send(),
    )
    .unwrap();

    let dest = sample_dir(work.path(), "serving");
    std::fs::write(dest.join("marker"), b"previous version").unwrap();
    let before = files_of(&dest);
    let error = rt
        .block_on(remote.pull_dir(&pushed.pointer.md5, &dest))
        .unwrap_err();
    assert!(matches!(error, RemoteError::Corrupted { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("corrupted") && message.contains(&weights.md5[2..]),
        "{message}"
    );
    assert_eq!(files_of(&dest), before, "the destination is untouched");

    let missing = rt
        .block_on(remote.pull_dir("0123456789abcdef0123456789abcdef.dir", &dest))
        .unwrap_err();
    assert!(matches!(missing, RemoteError::Missing { .. }), "{missing}");
    assert_eq!(files_of(&dest), before);
    let bad = rt
        .block_on(remote.pull_dir("../../etc.dir", &dest))
        .unwrap_err();
    assert!(matches!(bad, RemoteError::BadHash(_)), "{bad}");
}

#[test]
fn remote_urls_are_checked() {
    assert_eq!(
        parse_url("s3://seizure-ops/dvcstore/").unwrap(),
        ("seizure-ops".into(), "dvcstore".into())
    );
    assert_eq!(
        parse_url("s3://bucket").unwrap(),
        ("bucket".into(), String::new())
    );
    for bad in ["seizure-ops/dvcstore", "s3:///x", "gs://bucket/x"] {
        assert!(parse_url(bad).is_err(), "{bad}");
    }
}
