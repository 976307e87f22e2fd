//! Artifact storage shared by every pipeline stage.
//!
//! * [`atomic`]: publish a file or a whole directory so that readers see the old version or
//!   the new one, never a half-written one.
//! * [`dvc`]: DVC 3's content addressing (`md5`, byte-exact `.dir` manifests), `.dvc` pointer
//!   files and the local cache, so the real `dvc` CLI can read what we write.
//! * [`s3`]: a DVC remote on S3 (push, verified pull), shared with `dvc push` / `dvc pull`.
//! * [`paths`]: joining paths named by others without leaving the destination.

pub mod atomic;
pub mod dvc;
pub mod paths;
pub mod s3;
