//! The DVC remote as the stages see it, whether or not this build carries the S3 client.

use std::path::Path;

#[cfg(feature = "s3")]
mod imp {
    pub type Client = dvc_remote::S3Remote;
    pub type Error = dvc_remote::RemoteError;

    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Client, Error> {
        Client::from_env(url, endpoint)
    }

    pub fn is_integrity(error: &Error) -> bool {
        matches!(error, Error::Corrupted { .. } | Error::BadManifest { .. })
    }
}

#[cfg(not(feature = "s3"))]
mod imp {
    /// No client can exist in a build without S3: [`open`] always refuses.
    pub enum Client {}

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error(
            "DVC remote {0} is configured, but this build has no S3 support: \
             build with `--features fleet` (the Docker image and CI do), or unset DVC_REMOTE_URL"
        )]
        NoS3Support(String),
    }

    pub fn open(url: &str, _endpoint: Option<&str>) -> Result<Client, Error> {
        Err(Error::NoS3Support(url.to_owned()))
    }

    pub fn is_integrity(_error: &Error) -> bool {
        false
    }
}

/// Why the remote could not be opened or could not move a directory.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RemoteFailure(Box<imp::Error>);

impl RemoteFailure {
    /// The remote answered with bytes that do not match their content hash (a corrupted
    /// object or manifest), as opposed to being unreachable.
    pub fn is_integrity(&self) -> bool {
        imp::is_integrity(&self.0)
    }
}

impl From<imp::Error> for RemoteFailure {
    fn from(error: imp::Error) -> Self {
        Self(Box::new(error))
    }
}

/// An opened DVC remote.
pub struct Remote {
    client: imp::Client,
}

/// A remote opened with explicit settings (credentials not from the environment).
#[cfg(feature = "s3")]
impl From<dvc_remote::S3Remote> for Remote {
    fn from(client: dvc_remote::S3Remote) -> Self {
        Self { client }
    }
}

impl Remote {
    /// The remote at `url` (`s3://bucket/prefix`), credentials from the standard variables.
    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Self, RemoteFailure> {
        Ok(Self {
            client: imp::open(url, endpoint)?,
        })
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        #[cfg(feature = "s3")]
        return self.client.url();
        #[cfg(not(feature = "s3"))]
        match self.client {}
    }

    /// Uploads a directory (objects already there are skipped).
    pub async fn push_dir(&self, dir: &Path) -> Result<(), RemoteFailure> {
        #[cfg(feature = "s3")]
        return self
            .client
            .push_dir(dir)
            .await
            .map(drop)
            .map_err(Into::into);
        #[cfg(not(feature = "s3"))]
        {
            let _ = dir;
            match self.client {}
        }
    }

    /// Uploads one file under the key of its md5 (skipped when already there); its md5.
    pub async fn push_file(&self, path: &Path) -> Result<String, RemoteFailure> {
        #[cfg(feature = "s3")]
        return self.client.push_file(path).await.map_err(Into::into);
        #[cfg(not(feature = "s3"))]
        {
            let _ = path;
            match self.client {}
        }
    }

    /// The bytes of the object with this md5, checked against it.
    pub async fn fetch_file(&self, md5: &str) -> Result<Vec<u8>, RemoteFailure> {
        #[cfg(feature = "s3")]
        return self.client.get_verified(md5).await.map_err(Into::into);
        #[cfg(not(feature = "s3"))]
        {
            let _ = md5;
            match self.client {}
        }
    }

    /// Brings `dir` to the version the pointer file `pointer` names, pulling (verified) only
    /// when it differs. Returns whether it pulled.
    pub async fn sync_pointer(&self, pointer: &Path, dir: &Path) -> Result<bool, RemoteFailure> {
        #[cfg(feature = "s3")]
        return self
            .client
            .sync_pointer(pointer, dir)
            .await
            .map_err(Into::into);
        #[cfg(not(feature = "s3"))]
        {
            let _ = (pointer, dir);
            match self.client {}
        }
    }
}
