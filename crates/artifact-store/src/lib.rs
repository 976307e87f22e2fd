//! Artifact storage shared by every pipeline stage, local and dependency-light.
//!
//! * [`atomic`]: publish a file or a whole directory so that readers see the old version or
//!   the new one, never a half-written one.
//! * [`dvc`]: DVC 3's content addressing (`md5`, byte-exact `.dir` manifests), `.dvc` pointer
//!   files and the local cache, so the real `dvc` CLI can read what we write.
//! * [`paths`]: joining paths named by others without leaving the destination.
//!
//! The S3 remote is the `dvc-remote` crate; what a stage does with both is `stage-kit`.

pub mod atomic;
pub mod dvc;
pub mod paths;
