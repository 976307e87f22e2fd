//! What a pipeline stage does with the directories it reads and writes: record an output for
//! DVC as `dvc add` would and, with a remote configured, push it; before reading an input,
//! bring it to the version its `.dvc` pointer names. [`settings`] holds what every stage is told
//! about its artifacts and runs (plain values; the flags that set them are at the edge).
//!
//! The S3 remote is behind the `s3` feature (the AWS SDK is most of a cold build; the Docker
//! image and CI enable it). Without it, configuring a remote is refused with an error that
//! says so, never silently ignored.

use std::future::Future;
use std::path::{Path, PathBuf};

use artifact_store::dvc::{pointer_path, DvcError, DvcPointer, DvcRepo};

mod remote;
pub mod settings;

pub use remote::{Remote, RemoteFailure};
pub use settings::{DvcSettings, RemoteSettings, TrackingSettings};

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Dvc(#[from] DvcError),
    #[error("cannot open the DVC remote: {0}")]
    Remote(#[from] RemoteFailure),
    /// The remote could not take or give a tracked directory (an object-store outage, bad
    /// credentials): the stage stops here, its local output intact.
    #[error("cannot {action} {} (DVC remote {remote}): {source}", path.display())]
    Transfer {
        action: &'static str,
        path: PathBuf,
        remote: String,
        source: RemoteFailure,
    },
    #[error("no DVC remote is configured (set DVC_REMOTE_URL, and AWS_ENDPOINT_URL for MinIO)")]
    NoRemote,
    #[error("cannot start the DVC remote's runtime: {0}")]
    Runtime(std::io::Error),
}

impl RemoteSettings {
    /// The configured remote, or `None` when artifacts stay local.
    pub fn open(&self) -> Result<Option<Remote>, RemoteFailure> {
        self.remote_url
            .as_deref()
            .map(|url| Remote::open(url, self.s3_endpoint.as_deref()))
            .transpose()
    }
}

impl RemoteSettings {
    /// Pushes the file `source` (a stage's raw input) to the remote, when one is configured,
    /// so that a process elsewhere can fetch exactly those bytes by their md5
    /// ([`RemoteSettings::fetch_file`]). Returns the md5, or `None` without a remote.
    pub fn push_file(&self, source: &Path) -> Result<Option<String>, StageError> {
        let Some(remote) = self.open()? else {
            return Ok(None);
        };
        let md5 =
            block_on(remote.push_file(source))?.map_err(|source_error| StageError::Transfer {
                action: "push",
                path: source.to_owned(),
                remote: remote.url(),
                source: source_error,
            })?;
        Ok(Some(md5))
    }

    /// The bytes of the file with this md5 from the configured remote (checked against it).
    pub fn fetch_file(&self, md5: &str) -> Result<Vec<u8>, StageError> {
        let remote = self.open()?.ok_or(StageError::NoRemote)?;
        block_on(remote.fetch_file(md5))?.map_err(|source| StageError::Transfer {
            action: "pull",
            path: PathBuf::from(md5),
            remote: remote.url(),
            source,
        })
    }
}

impl DvcSettings {
    /// Records directory `dir` as `dvc add` would, unless disabled, and pushes it to the
    /// remote when one is configured.
    pub fn track(&self, dir: &Path) -> Result<Option<DvcPointer>, StageError> {
        if self.no_dvc {
            return Ok(None);
        }
        let repo = DvcRepo::for_output(dir, self.dvc_root.as_deref())?;
        // Push before the pointer moves: a reader that follows the pointer (each inference
        // replica's watch) never finds it naming objects the remote does not hold yet.
        if let Some(remote) = self.remote.open()? {
            block_on(remote.push_dir(dir))?.map_err(|source| StageError::Transfer {
                action: "push",
                path: dir.to_owned(),
                remote: remote.url(),
                source,
            })?;
        }
        let pointer = repo.add_dir(dir)?;
        Ok(Some(pointer))
    }

    /// Before a stage reads `dir`: with a remote configured, brings `dir` to the version its
    /// `<dir>.dvc` pointer names, pulling (verified) only what differs. Without one, a no-op.
    pub fn fetch(&self, dir: &Path) -> Result<(), StageError> {
        if let Some(remote) = self.remote.open()? {
            block_on(remote.sync_pointer(&pointer_path(dir), dir))?.map_err(|source| {
                StageError::Transfer {
                    action: "pull",
                    path: dir.to_owned(),
                    remote: remote.url(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

/// Runs one remote operation from a synchronous stage, on a small runtime of its own.
#[cfg(feature = "s3")]
fn block_on<F: Future>(future: F) -> Result<F::Output, StageError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StageError::Runtime)?;
    Ok(runtime.block_on(future))
}

/// Never reached without S3: no [`Remote`] can be opened.
#[cfg(not(feature = "s3"))]
fn block_on<F: Future>(_future: F) -> Result<F::Output, StageError> {
    unreachable!("a Remote exists only in builds with the s3 feature")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_records_the_output_and_fetch_without_a_remote_is_a_no_op() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("data");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("a.bin"), b"abc").unwrap();
        let args = DvcSettings::default();
        let pointer = args.track(&out).unwrap().expect("tracked");
        assert_eq!(DvcPointer::read(&pointer_path(&out)).unwrap(), pointer);
        args.fetch(&out).unwrap();
        let disabled = DvcSettings {
            no_dvc: true,
            ..DvcSettings::default()
        };
        std::fs::remove_file(pointer_path(&out)).unwrap();
        assert!(disabled.track(&out).unwrap().is_none());
        assert!(!pointer_path(&out).exists());
    }

    #[cfg(not(feature = "s3"))]
    #[test]
    fn a_remote_in_a_build_without_s3_is_refused_not_ignored() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("data");
        std::fs::create_dir(&out).unwrap();
        let args = DvcSettings {
            remote: RemoteSettings {
                remote_url: Some("s3://bucket/prefix".into()),
                s3_endpoint: None,
            },
            ..DvcSettings::default()
        };
        let error = args.fetch(&out).unwrap_err().to_string();
        assert!(error.contains("no S3 support"), "{error}");
        assert!(args.track(&out).is_err());
    }
}
