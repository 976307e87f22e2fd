//! A DVC remote on S3 (AWS, MinIO, any S3-compatible server): directories are pushed and pulled
//! in DVC's remote layout, `<prefix>/files/md5/<2 hex>/<30 hex>[.dir]`, so `dvc pull` restores
//! what we push and we restore what `dvc push` uploaded.
//!
//! Every downloaded object is checked against the md5 its key names before anything is
//! written; a pulled directory is published atomically. Objects already in the bucket are not
//! uploaded again (content addressing makes the key a checksum). The SDK retries throttling,
//! transient and timeout errors with exponential backoff.
//!
//! Credentials come from the standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! (optional) `AWS_SESSION_TOKEN` variables; the region from `AWS_REGION` or
//! `AWS_DEFAULT_REGION` (default `us-east-1`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
pub use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;

use artifact_store::atomic;
use artifact_store::dvc::{self, is_md5, DirHash, DvcError, DvcPointer};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("bad remote URL {url:?}: {message}")]
    BadUrl { url: String, message: String },
    #[error(
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (remote {remote})"
    )]
    NoCredentials { remote: String },
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    /// The file named by an `AWS_*_FILE` variable cannot be read (the message names the path).
    #[error("{variable}: {message}")]
    CredentialFile { variable: String, message: String },
    #[error("s3://{bucket}/{key} does not exist (was it pushed?)")]
    Missing { bucket: String, key: String },
    #[error(
        "s3://{bucket}/{key} is corrupted: its bytes hash to {actual}, not {expected}; refused"
    )]
    Corrupted {
        bucket: String,
        key: String,
        expected: String,
        actual: String,
    },
    #[error("s3://{bucket}/{key}: not a DVC .dir manifest: {message}")]
    BadManifest {
        bucket: String,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Dvc(#[from] DvcError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0:?} is not a DVC hash (32 hex digits, `.dir` for a directory)")]
    BadHash(String),
    #[error("cannot start the S3 client's runtime: {0}")]
    Runtime(std::io::Error),
}

type Result<T> = std::result::Result<T, RemoteError>;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    pub pointer: DvcPointer,
    /// Objects uploaded (files and the manifest).
    pub uploaded: usize,
    /// Objects that were already in the bucket.
    pub skipped: usize,
}

/// One S3 bucket and key prefix holding a DVC remote.
#[derive(Debug, Clone)]
pub struct S3Remote {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// `s3://bucket/some/prefix` as (bucket, prefix without slashes at either end).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let bad = |message: &str| RemoteError::BadUrl {
        url: url.to_owned(),
        message: message.to_owned(),
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("must start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket name"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl S3Remote {
    /// The remote at `url` with credentials and region from the standard AWS variables. Each
    /// credential may instead come from a file named by `<VARIABLE>_FILE` (a Docker secret).
    pub fn from_env(url: &str, endpoint: Option<&str>) -> Result<Self> {
        // A `<VARIABLE>_FILE` that cannot be read is an error naming it, never a silent fall
        // back to the variable (a mistyped secret path would otherwise pick other credentials).
        let var = |name: &str| -> Result<Option<String>> {
            let from_file = match std::env::var_os(format!("{name}_FILE")) {
                Some(path) => Some(
                    fs_err::read_to_string(&path)
                        .map_err(|e| RemoteError::CredentialFile {
                            variable: format!("{name}_FILE"),
                            message: e.to_string(),
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                ),
                None => None,
            };
            Ok(from_file
                .or_else(|| std::env::var(name).ok())
                .filter(|v| !v.is_empty()))
        };
        let (Some(key_id), Some(secret)) =
            (var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?)
        else {
            return Err(RemoteError::NoCredentials {
                remote: url.to_owned(),
            });
        };
        let credentials = Credentials::new(
            key_id,
            secret,
            var("AWS_SESSION_TOKEN")?,
            None,
            "environment",
        );
        let region = match var("AWS_REGION")? {
            Some(region) => region,
            None => var("AWS_DEFAULT_REGION")?.unwrap_or_else(|| "us-east-1".into()),
        };
        Self::new(url, endpoint, &region, credentials)
    }

    pub fn new(
        url: &str,
        endpoint: Option<&str>,
        region: &str,
        credentials: Credentials,
    ) -> Result<Self> {
        let (bucket, prefix) = parse_url(url)?;
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(300))
                    .build(),
            );
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket,
            prefix,
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The key of the object with this md5 (`<md5>.dir` for a directory manifest).
    pub fn key(&self, md5: &str) -> String {
        let object = format!("files/md5/{}/{}", &md5[..2], &md5[2..]);
        if self.prefix.is_empty() {
            object
        } else {
            format!("{}/{object}", self.prefix)
        }
    }

    fn s3_error(
        &self,
        operation: &'static str,
        key: &str,
        error: impl std::fmt::Display,
    ) -> RemoteError {
        RemoteError::S3 {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message: error.to_string(),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(e) => {
                Err(self.s3_error("HeadObject", key, aws_sdk_s3::error::DisplayErrorContext(e)))
            }
        }
    }

    /// Uploads `bytes` under `key` unless an object is already there.
    async fn put_once(&self, key: &str, bytes: Vec<u8>) -> Result<bool> {
        if self.exists(key).await? {
            return Ok(false);
        }
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| {
                self.s3_error("PutObject", key, aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
        Ok(true)
    }

    /// Downloads the object with this md5 and checks its bytes against it.
    pub async fn get_verified(&self, md5: &str) -> Result<Vec<u8>> {
        if !is_md5(md5.trim_end_matches(".dir")) {
            return Err(RemoteError::BadHash(md5.to_owned()));
        }
        let key = self.key(md5);
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(RemoteError::Missing {
                    bucket: self.bucket.clone(),
                    key,
                })
            }
            Err(e) => {
                return Err(self.s3_error(
                    "GetObject",
                    &key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                ))
            }
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| self.s3_error("GetObject", &key, e))?
            .into_bytes()
            .to_vec();
        let expected = md5.trim_end_matches(".dir");
        let actual = dvc::bytes_md5(&bytes);
        if actual != expected {
            return Err(RemoteError::Corrupted {
                bucket: self.bucket.clone(),
                key,
                expected: expected.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Pushes one file as `dvc push` pushes a file tracked on its own: its bytes under the key
    /// of their md5 (skipped when already there). Returns the md5.
    pub async fn push_file(&self, path: &Path) -> Result<String> {
        let bytes = fs_err::read(path).map_err(DvcError::Io)?;
        let md5 = dvc::bytes_md5(&bytes);
        let uploaded = self.put_once(&self.key(&md5), bytes).await?;
        tracing::info!(file = %path.display(), md5 = %md5, uploaded, remote = %self.url(), "pushed");
        Ok(md5)
    }

    /// Pushes directory `dir` as `dvc push` would: every file, then its `.dir` manifest (so a
    /// manifest in the bucket means all its files are there too).
    pub async fn push_dir(&self, dir: &Path) -> Result<PushOutcome> {
        let hash: DirHash = dvc::hash_dir(dir)?;
        let (mut uploaded, mut skipped) = (0, 0);
        for entry in &hash.entries {
            let path = dir.join(&entry.relpath);
            let bytes = fs_err::read(&path).map_err(DvcError::Io)?;
            if self.put_once(&self.key(&entry.md5), bytes).await? {
                uploaded += 1;
            } else {
                skipped += 1;
            }
        }
        if self
            .put_once(&self.key(&hash.md5), hash.manifest.clone())
            .await?
        {
            uploaded += 1;
        } else {
            skipped += 1;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tracing::info!(dir = %dir.display(), md5 = %hash.md5, uploaded, skipped, remote = %self.url(), "pushed");
        Ok(PushOutcome {
            pointer: DvcPointer::for_dir(&hash, &name),
            uploaded,
            skipped,
        })
    }

    /// Replaces `dest` with the directory whose DVC hash is `dir_md5` (`<md5>.dir`), every
    /// object verified before anything is written. Returns the number of files.
    pub async fn pull_dir(&self, dir_md5: &str, dest: &Path) -> Result<usize> {
        if !dir_md5.strip_suffix(".dir").is_some_and(is_md5) {
            return Err(RemoteError::BadHash(dir_md5.to_owned()));
        }
        let manifest = self.get_verified(dir_md5).await?;
        let entries =
            dvc::parse_dir_manifest(&manifest).map_err(|message| RemoteError::BadManifest {
                bucket: self.bucket.clone(),
                key: self.key(dir_md5),
                message,
            })?;
        let mut files = Vec::with_capacity(entries.len());
        for entry in entries {
            let bytes = self.get_verified(&entry.md5).await?;
            files.push((entry.relpath, bytes));
        }
        let count = files.len();
        atomic::replace_dir(dest, |staging| -> std::io::Result<()> {
            for (relpath, bytes) in &files {
                let path = artifact_store::paths::contained_join(staging, relpath)
                    .map_err(std::io::Error::other)?;
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                fs_err::write(path, bytes)?;
            }
            Ok(())
        })
        .map_err(|e| RemoteError::Write {
            path: dest.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        tracing::info!(dest = %dest.display(), md5 = dir_md5, files = count, remote = %self.url(), "pulled");
        Ok(count)
    }

    /// Brings `dir` to the version its `<dir>.dvc` pointer names (pulling only if it differs).
    pub async fn sync_tracked(&self, dir: &Path) -> Result<bool> {
        self.sync_pointer(&dvc::pointer_path(dir), dir).await
    }

    /// Brings `dir` to the version the pointer file `pointer` names.
    pub async fn sync_pointer(&self, pointer: &Path, dir: &Path) -> Result<bool> {
        let pointer = DvcPointer::read(pointer)?;
        self.sync_dir(&pointer.md5, dir).await
    }

    /// Pulls `dest` unless it already holds exactly `dir_md5`. Returns whether it pulled.
    pub async fn sync_dir(&self, dir_md5: &str, dest: &Path) -> Result<bool> {
        if dest.is_dir() && dvc::hash_dir(dest).is_ok_and(|hash| hash.md5 == dir_md5) {
            return Ok(false);
        }
        self.pull_dir(dir_md5, dest).await?;
        Ok(true)
    }
}

/// [`S3Remote`] for synchronous callers (the pipeline stages), on its own small runtime.
pub struct BlockingRemote {
    remote: S3Remote,
    runtime: tokio::runtime::Runtime,
}

impl BlockingRemote {
    pub fn new(remote: S3Remote) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self { remote, runtime })
    }

    /// The remote's `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        self.remote.url()
    }

    pub fn push_dir(&self, dir: &Path) -> Result<PushOutcome> {
        self.runtime.block_on(self.remote.push_dir(dir))
    }

    pub fn sync_tracked(&self, dir: &Path) -> Result<bool> {
        self.runtime.block_on(self.remote.sync_tracked(dir))
    }
}
