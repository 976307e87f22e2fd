//! A DVC repository and its local cache: `dvc init` and `dvc add` for directories.

use std::io;
use std::path::{Path, PathBuf};

use fs_err as fs;

use super::{hash_dir, object_path, pointer_path, DirHash, DvcError, DvcPointer};
use crate::atomic;

/// A DVC repository: the directory holding `.dvc/`.
#[derive(Debug, Clone)]
pub struct DvcRepo {
    pub root: PathBuf,
}

impl DvcRepo {
    /// The nearest enclosing DVC repository of `start`, if any.
    pub fn find(start: &Path) -> Option<Self> {
        let start = fs::canonicalize(start).ok()?;
        start
            .ancestors()
            .find(|dir| dir.join(".dvc").is_dir())
            .map(|root| Self {
                root: root.to_owned(),
            })
    }

    /// Opens the repository at `root`, initialising it as `dvc init` would if needed
    /// (with `no_scm` when `root` is not a git work tree).
    pub fn open_or_init(root: &Path) -> Result<Self, DvcError> {
        let dvc_dir = root.join(".dvc");
        if !dvc_dir.is_dir() {
            let mut config = String::from("[core]\n    analytics = false\n");
            if !root.join(".git").exists() {
                config.push_str("    no_scm = True\n");
            }
            atomic::write_file(&dvc_dir.join("config"), config.as_bytes())
                .map_err(write_error(&dvc_dir))?;
            atomic::write_file(
                &dvc_dir.join(".gitignore"),
                b"/config.local\n/tmp\n/cache\n",
            )
            .map_err(write_error(&dvc_dir))?;
            let dvcignore = root.join(".dvcignore");
            if !dvcignore.exists() {
                atomic::write_file(
                    &dvcignore,
                    b"# Add patterns of files dvc should ignore, which could improve\n\
                      # the performance. Learn more at\n\
                      # https://dvc.org/doc/user-guide/dvcignore\n",
                )
                .map_err(write_error(&dvcignore))?;
            }
        }
        let root = fs::canonicalize(root)?;
        Ok(Self { root })
    }

    /// The repository that tracks output directory `dir`: the one at `root` if given, else the
    /// nearest one above `dir`, else a new one initialised in `dir`'s parent.
    pub fn for_output(dir: &Path, root: Option<&Path>) -> Result<Self, DvcError> {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match root {
            Some(root) => Self::open_or_init(root),
            None => Self::find(parent).map_or_else(|| Self::open_or_init(parent), Ok),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".dvc").join("cache")
    }

    /// Records directory `dir` as `dvc add` would: fills the cache, writes `<dir>.dvc` next to
    /// it and, in a git work tree, lists the directory in the sibling `.gitignore`.
    pub fn add_dir(&self, dir: &Path) -> Result<DvcPointer, DvcError> {
        let dir = fs::canonicalize(dir)?;
        if !dir.starts_with(&self.root) || dir == self.root {
            return Err(DvcError::OutsideRepo {
                path: dir,
                root: self.root.clone(),
            });
        }
        let hash = hash_dir(&dir)?;
        self.cache_dir_objects(&dir, &hash)?;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| DvcError::NonUtf8Path { path: dir.clone() })?;
        let pointer = DvcPointer::for_dir(&hash, name);
        let pointer_path = pointer_path(&dir);
        atomic::write_file(&pointer_path, pointer.to_yaml().as_bytes())
            .map_err(write_error(&pointer_path))?;
        if self.root.join(".git").exists() {
            ignore_in_git(&dir)?;
        }
        Ok(pointer)
    }

    /// Copies the files and the `.dir` manifest of a hashed directory into the cache.
    pub fn cache_dir_objects(&self, dir: &Path, hash: &DirHash) -> Result<(), DvcError> {
        let cache = self.cache_dir();
        for entry in &hash.entries {
            let source = dir.join(&entry.relpath);
            cache_object(&object_path(&cache, &entry.md5), |dest| {
                fs::copy(&source, dest).map(|_| ())
            })?;
        }
        cache_object(&object_path(&cache, &hash.md5), |dest| {
            fs::write(dest, &hash.manifest)
        })
    }
}

/// Writes one read-only cache object unless it is already there (objects are immutable).
fn cache_object(dest: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> Result<(), DvcError> {
    if dest.exists() {
        return Ok(());
    }
    let parent = dest.parent().expect("object paths have a parent");
    fs::create_dir_all(parent)?;
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    let result = write(&tmp).and_then(|()| {
        let mut permissions = fs::metadata(&tmp)?.permissions();
        permissions.set_readonly(true);
        fs::set_permissions(&tmp, permissions)?;
        fs::rename(&tmp, dest)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(result?)
}

/// Adds `/<name>` to the `.gitignore` beside `dir`, as `dvc add` does.
fn ignore_in_git(dir: &Path) -> Result<(), DvcError> {
    let name = dir.file_name().expect("a tracked dir has a name");
    let gitignore = dir.with_file_name(".gitignore");
    let line = format!("/{}", name.to_string_lossy());
    let current = match fs::read_to_string(&gitignore) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    if current.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let mut updated = current;
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&line);
    updated.push('\n');
    atomic::write_file(&gitignore, updated.as_bytes()).map_err(write_error(&gitignore))
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> DvcError + '_ {
    move |source| DvcError::Write {
        path: path.to_owned(),
        source,
    }
}
