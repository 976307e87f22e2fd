//! DVC 3 compatibility: content hashes, `.dvc` pointers and the local cache.
//!
//! A tracked directory is identified by the md5 of its `.dir` manifest: the JSON list of
//! `{"md5", "relpath"}` entries for every regular file, sorted by relpath and serialised exactly
//! as Python's `json.dumps(..., sort_keys=True)` does (`", "` and `": "` separators, non-ASCII
//! as lowercase `\uXXXX`). Objects live at `files/md5/<2 hex>/<30 hex>[.dir]`, in the cache and
//! in a remote alike.
//!
//! * [`hash`]: file md5s, the `.dir` manifest and a directory's identity.
//! * [`pointer`]: `.dvc` pointer files and object paths.
//! * [`repo`]: a repository and its cache (`dvc init`, `dvc add`).
//!
//! Moving tracked directories to and from a remote is not here: see the `dvc-remote` crate
//! (S3) and `stage-kit` (what a pipeline stage does with its outputs).

use std::path::PathBuf;

pub mod hash;
pub mod pointer;
pub mod repo;
#[cfg(test)]
mod tests;

pub use hash::{
    bytes_md5, dir_manifest, file_md5, hash_dir, is_md5, list_files, parse_dir_manifest, DirEntry,
    DirHash, ManifestEntry,
};
pub use pointer::{object_path, pointer_path, DvcPointer};
pub use repo::DvcRepo;

#[derive(Debug, thiserror::Error)]
pub enum DvcError {
    /// Reading or walking files (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: path is not valid UTF-8, which DVC cannot record", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error("{}: {message}", path.display())]
    BadPointer { path: PathBuf, message: String },
    #[error("{} is not inside the DVC repository at {}", path.display(), root.display())]
    OutsideRepo { path: PathBuf, root: PathBuf },
}
