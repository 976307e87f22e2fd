//! Publication that never exposes half-written data.
//!
//! Everything is first written into a hidden sibling of the destination and then renamed into
//! place: a rename within one directory is atomic, so an interrupted run leaves the previous
//! version (and at worst a hidden temporary) behind.

use fs_err as fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A hidden sibling of `dest` named after it and `tag`, unique to this process.
fn sibling(dest: &Path, tag: &str) -> io::Result<PathBuf> {
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "destination has no name"))?
        .to_string_lossy();
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    Ok(dest.with_file_name(format!(".{name}.{tag}-{}-{unique}", std::process::id())))
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `dest` through a synced temporary file and a rename.
pub fn write_file(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(dest, bytes, 0o666)
}

/// [`write_file`] for secrets: readable and writable by the owner only, from the first byte.
pub fn write_private_file(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(dest, bytes, 0o600)
}

fn write_with_mode(dest: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    fs::create_dir_all(parent_dir(dest))?;
    let tmp = sibling(dest, "tmp")?;
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Error of [`replace_dir`]: either the caller's build step or the publication failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError<E> {
    #[error("{0:#}")]
    Build(E),
    #[error("cannot publish {}: {source}", dest.display())]
    Io { dest: PathBuf, source: io::Error },
}

/// Builds a new version of directory `dest` and swaps it in.
///
/// `build` fills an empty staging directory next to `dest`. Only if it succeeds is the staging
/// directory renamed to `dest`; the previous `dest`, if any, is removed afterwards. On failure
/// the staging directory is deleted and `dest` is untouched.
pub fn replace_dir<T, E>(
    dest: &Path,
    build: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, PublishError<E>> {
    let io_err = |source| PublishError::Io {
        dest: dest.to_owned(),
        source,
    };
    fs::create_dir_all(parent_dir(dest)).map_err(io_err)?;
    let staging = sibling(dest, "staging").map_err(io_err)?;
    fs::create_dir(&staging).map_err(io_err)?;
    let value = match build(&staging) {
        Ok(value) => value,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(PublishError::Build(e));
        }
    };
    swap_in(&staging, dest).map_err(|e| {
        let _ = fs::remove_dir_all(&staging);
        io_err(e)
    })?;
    Ok(value)
}

fn swap_in(staging: &Path, dest: &Path) -> io::Result<()> {
    sync_dir(staging)?;
    if !dest.exists() {
        fs::rename(staging, dest)?;
        return sync_dir(parent_dir(dest));
    }
    // Two renames: between them `dest` is briefly absent, but never partial.
    let old = sibling(dest, "old")?;
    fs::rename(dest, &old)?;
    if let Err(e) = fs::rename(staging, dest) {
        let _ = fs::rename(&old, dest);
        return Err(e);
    }
    sync_dir(parent_dir(dest))?;
    fs::remove_dir_all(&old)
}

/// Makes every file and directory under `dir` durable before it becomes visible.
fn sync_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            sync_dir(&entry.path())?;
        } else if file_type.is_file() {
            fs::File::open(entry.path())?.sync_all()?;
        }
    }
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        write_file(&dest, b"one").unwrap();
        write_file(&dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_dir_swaps_a_complete_new_version_in() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        replace_dir(&dest, |d| fs::write(d.join("old.txt"), "old")).unwrap();
        replace_dir(&dest, |d| fs::write(d.join("new.txt"), "new")).unwrap();
        let names: Vec<_> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["new.txt"]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no leftovers");
    }

    #[test]
    fn failed_build_leaves_the_previous_version_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        replace_dir(&dest, |d| fs::write(d.join("good.txt"), "good")).unwrap();
        let result = replace_dir(&dest, |d| {
            fs::write(d.join("half.txt"), "half")?;
            Err::<(), _>(io::Error::other("interrupted"))
        });
        assert!(matches!(result, Err(PublishError::Build(_))));
        assert_eq!(fs::read_to_string(dest.join("good.txt")).unwrap(), "good");
        assert!(!dest.join("half.txt").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no leftovers");
    }
}
