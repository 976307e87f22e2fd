//! DVC 3 compatibility: content hashes, `.dvc` pointers and the local cache.
//!
//! A tracked directory is identified by the md5 of its `.dir` manifest: the JSON list of
//! `{"md5", "relpath"}` entries for every regular file, sorted by relpath and serialised exactly
//! as Python's `json.dumps(..., sort_keys=True)` does (`", "` and `": "` separators, non-ASCII
//! as lowercase `\uXXXX`). Objects live at `files/md5/<2 hex>/<30 hex>[.dir]`, in the cache and
//! in a remote alike.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::atomic;
use crate::s3::{RemoteArgs, RemoteError};

#[derive(Debug, thiserror::Error)]
pub enum DvcError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: path is not valid UTF-8, which DVC cannot record", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error("{}: {message}", path.display())]
    BadPointer { path: PathBuf, message: String },
    #[error("{} is not inside the DVC repository at {}", path.display(), root.display())]
    OutsideRepo { path: PathBuf, root: PathBuf },
    #[error(transparent)]
    Remote(Box<RemoteError>),
    /// The remote could not take or give a tracked directory (an object-store outage, bad
    /// credentials): the stage stops here, its local output intact.
    #[error("cannot {action} {} (DVC remote {remote}): {source}", path.display())]
    Transfer {
        action: &'static str,
        path: PathBuf,
        remote: String,
        source: Box<RemoteError>,
    },
}

impl From<RemoteError> for DvcError {
    fn from(error: RemoteError) -> Self {
        Self::Remote(Box::new(error))
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DvcError + '_ {
    move |source| DvcError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The lowercase hex md5 of a file's raw bytes.
pub fn file_md5(path: &Path) -> Result<String, DvcError> {
    let mut file = fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn bytes_md5(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One file of a tracked directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub md5: String,
    /// Relative to the directory, with `/` separators.
    pub relpath: String,
    pub size: u64,
}

/// One file named by a `.dir` manifest read from elsewhere (a remote).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ManifestEntry {
    pub md5: String,
    pub relpath: String,
}

/// Whether `text` is an md5 in hex, as DVC names objects.
pub fn is_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a `.dir` manifest that came from elsewhere: a JSON list of `{md5, relpath}`, each
/// md5 32 hex digits, each relpath a safe relative path
/// ([`contained_join`](crate::paths::contained_join)), no relpath twice.
pub fn parse_dir_manifest(bytes: &[u8]) -> Result<Vec<ManifestEntry>, String> {
    let entries: Vec<ManifestEntry> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut seen = std::collections::HashSet::new();
    for entry in &entries {
        crate::paths::contained_join(Path::new("."), &entry.relpath).map_err(|e| e.to_string())?;
        if !is_md5(&entry.md5) {
            return Err(format!("bad md5 {:?} for {:?}", entry.md5, entry.relpath));
        }
        if !seen.insert(entry.relpath.as_str()) {
            return Err(format!("{:?} appears twice", entry.relpath));
        }
    }
    Ok(entries)
}

/// The DVC identity of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirHash {
    /// `<md5 of the manifest>.dir`.
    pub md5: String,
    pub size: u64,
    pub nfiles: usize,
    /// The exact bytes of the `.dir` manifest.
    pub manifest: Vec<u8>,
    /// Sorted by relpath.
    pub entries: Vec<DirEntry>,
}

/// Every regular file under `dir`, recursively, as (relpath with `/` separators, full path),
/// sorted by relpath. Empty directories contribute nothing.
pub fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, DvcError> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Hashes every regular file under `dir`, recursively (empty directories are not recorded).
pub fn hash_dir(dir: &Path) -> Result<DirHash, DvcError> {
    let mut entries = Vec::new();
    for (relpath, path) in list_files(dir)? {
        let size = fs::metadata(&path).map_err(io_error(&path))?.len();
        entries.push(DirEntry {
            md5: file_md5(&path)?,
            relpath,
            size,
        });
    }
    let manifest = dir_manifest(&entries);
    Ok(DirHash {
        md5: format!("{}.dir", bytes_md5(&manifest)),
        size: entries.iter().map(|e| e.size).sum(),
        nfiles: entries.len(),
        manifest,
        entries,
    })
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), DvcError> {
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let file_type = fs::metadata(&path).map_err(io_error(&path))?.file_type();
        if file_type.is_dir() {
            collect_files(root, &path, out)?;
        } else if file_type.is_file() {
            let relative = path.strip_prefix(root).expect("walk stays under its root");
            let relpath = relative
                .to_str()
                .ok_or_else(|| DvcError::NonUtf8Path { path: path.clone() })?
                .replace(std::path::MAIN_SEPARATOR, "/");
            out.push((relpath, path));
        }
    }
    Ok(())
}

/// The `.dir` manifest bytes, exactly as Python's `json.dumps(entries, sort_keys=True)`.
pub fn dir_manifest(sorted_entries: &[DirEntry]) -> Vec<u8> {
    let mut out = String::from("[");
    for (i, entry) in sorted_entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"md5\": ");
        push_python_json_string(&mut out, &entry.md5);
        out.push_str(", \"relpath\": ");
        push_python_json_string(&mut out, &entry.relpath);
        out.push('}');
    }
    out.push(']');
    out.into_bytes()
}

/// A JSON string as Python's `json.dumps` writes it with `ensure_ascii=True`.
fn push_python_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='\u{7f}' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Where an object with hash `md5` (with or without `.dir`) lives under a cache or remote root.
pub fn object_path(root: &Path, md5: &str) -> PathBuf {
    root.join("files")
        .join("md5")
        .join(&md5[..2])
        .join(&md5[2..])
}

/// `<dir>.dvc`: where `dvc add` puts the pointer of `dir`.
pub fn pointer_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".dvc");
    dir.with_file_name(name)
}

/// The content of a `.dvc` pointer file for one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvcPointer {
    /// A file md5, or a directory's `<md5>.dir`.
    pub md5: String,
    pub size: u64,
    /// Present for directories only.
    pub nfiles: Option<usize>,
    /// The output's path relative to the pointer file.
    pub path: String,
}

impl DvcPointer {
    pub fn for_dir(hash: &DirHash, path: &str) -> Self {
        Self {
            md5: hash.md5.clone(),
            size: hash.size,
            nfiles: Some(hash.nfiles),
            path: path.to_owned(),
        }
    }

    /// The YAML `dvc add` writes.
    pub fn to_yaml(&self) -> String {
        let mut yaml = format!("outs:\n- md5: {}\n  size: {}\n", self.md5, self.size);
        if let Some(nfiles) = self.nfiles {
            let _ = writeln!(yaml, "  nfiles: {nfiles}");
        }
        let _ = write!(yaml, "  hash: md5\n  path: {}\n", yaml_scalar(&self.path));
        yaml
    }

    /// Reads a single-output pointer as `dvc add` writes it.
    pub fn read(path: &Path) -> Result<Self, DvcError> {
        let text = fs::read_to_string(path).map_err(io_error(path))?;
        Self::parse(&text).map_err(|message| DvcError::BadPointer {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses a single-output pointer (the text of a `.dvc` file).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fields = std::collections::HashMap::new();
        let mut outs = 0;
        for line in text.lines() {
            let line = line.trim_end();
            let item = if let Some(rest) = line.strip_prefix("- ") {
                outs += 1;
                rest
            } else if let Some(rest) = line.strip_prefix("  ") {
                rest
            } else {
                continue;
            };
            if outs == 1 {
                if let Some((key, value)) = item.split_once(": ") {
                    fields.insert(key.to_owned(), unquote_yaml(value));
                }
            }
        }
        if outs != 1 {
            return Err(format!("expected exactly one output, found {outs}"));
        }
        let field = |key: &str| {
            fields
                .get(key)
                .cloned()
                .ok_or_else(|| format!("the output has no `{key}`"))
        };
        if let Some(hash) = fields.get("hash") {
            if hash != "md5" {
                return Err(format!("unsupported hash `{hash}`"));
            }
        }
        let md5 = field("md5")?;
        let hex_part = md5.strip_suffix(".dir").unwrap_or(&md5);
        if hex_part.len() != 32 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{md5}` is not an md5"));
        }
        Ok(Self {
            size: field("size")?
                .parse()
                .map_err(|_| "`size` is not a number".to_owned())?,
            nfiles: fields
                .get("nfiles")
                .map(|n| n.parse().map_err(|_| "`nfiles` is not a number".to_owned()))
                .transpose()?,
            path: field("path")?,
            md5,
        })
    }
}

fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        && !text.starts_with(['-', '.']);
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

fn unquote_yaml(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => value.trim_matches('"').to_owned(),
    }
}

/// Whether and where an output is recorded for DVC, as every binary's command line takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DvcArgs {
    /// Do not write `<out>.dvc` or fill the DVC cache.
    #[arg(long)]
    pub no_dvc: bool,
    /// DVC repository root (default: the nearest one above the output, else its parent).
    #[arg(long, env = "DVC_ROOT")]
    pub dvc_root: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

impl DvcArgs {
    /// Records directory `dir` as `dvc add` would, unless disabled, and pushes it to the
    /// remote when one is configured.
    pub fn track(&self, dir: &Path) -> Result<Option<DvcPointer>, DvcError> {
        if self.no_dvc {
            return Ok(None);
        }
        let repo = DvcRepo::for_output(dir, self.dvc_root.as_deref())?;
        let pointer = repo.add_dir(dir)?;
        if let Some(remote) = self.remote.open_blocking()? {
            remote.push_dir(dir).map_err(|source| DvcError::Transfer {
                action: "push",
                path: dir.to_owned(),
                remote: remote.url(),
                source: Box::new(source),
            })?;
        }
        Ok(Some(pointer))
    }

    /// Before a stage reads `dir`: with a remote configured, brings `dir` to the version its
    /// `<dir>.dvc` pointer names, pulling (verified) only what differs. Without one, a no-op.
    pub fn fetch(&self, dir: &Path) -> Result<(), DvcError> {
        if let Some(remote) = self.remote.open_blocking()? {
            remote
                .sync_tracked(dir)
                .map_err(|source| DvcError::Transfer {
                    action: "pull",
                    path: dir.to_owned(),
                    remote: remote.url(),
                    source: Box::new(source),
                })?;
        }
        Ok(())
    }
}

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
                .map_err(io_error(&dvc_dir))?;
            atomic::write_file(
                &dvc_dir.join(".gitignore"),
                b"/config.local\n/tmp\n/cache\n",
            )
            .map_err(io_error(&dvc_dir))?;
            let dvcignore = root.join(".dvcignore");
            if !dvcignore.exists() {
                atomic::write_file(
                    &dvcignore,
                    b"# Add patterns of files dvc should ignore, which could improve\n\
                      # the performance. Learn more at\n\
                      # https://dvc.org/doc/user-guide/dvcignore\n",
                )
                .map_err(io_error(&dvcignore))?;
            }
        }
        let root = fs::canonicalize(root).map_err(io_error(root))?;
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
        let dir = fs::canonicalize(dir).map_err(io_error(dir))?;
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
            .map_err(io_error(&pointer_path))?;
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
    fs::create_dir_all(parent).map_err(io_error(parent))?;
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
    result.map_err(io_error(dest))
}

/// Adds `/<name>` to the `.gitignore` beside `dir`, as `dvc add` does.
fn ignore_in_git(dir: &Path) -> Result<(), DvcError> {
    let name = dir.file_name().expect("a tracked dir has a name");
    let gitignore = dir.with_file_name(".gitignore");
    let line = format!("/{}", name.to_string_lossy());
    let current = match fs::read_to_string(&gitignore) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_error(&gitignore)(e)),
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
    atomic::write_file(&gitignore, updated.as_bytes()).map_err(io_error(&gitignore))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(md5: &str, relpath: &str) -> DirEntry {
        DirEntry {
            md5: md5.into(),
            relpath: relpath.into(),
            size: 0,
        }
    }

    /// The worked example from DVC itself (see the components notes): 210 bytes, hash 1a734c9c.
    #[test]
    fn manifest_matches_dvc_byte_for_byte() {
        let entries = [
            entry("b1946ac92492d2347c6235b4d2611184", "sub/notes.txt"),
            entry("c28e7e30d1dd46f320e0c3c1bc967c77", "test.csv"),
            entry("e5ebd4c02cefbe7955977c67ada242b7", "train.csv"),
        ];
        let manifest = dir_manifest(&entries);
        assert_eq!(
            String::from_utf8(manifest.clone()).unwrap(),
            r#"[{"md5": "b1946ac92492d2347c6235b4d2611184", "relpath": "sub/notes.txt"}, {"md5": "c28e7e30d1dd46f320e0c3c1bc967c77", "relpath": "test.csv"}, {"md5": "e5ebd4c02cefbe7955977c67ada242b7", "relpath": "train.csv"}]"#
        );
        assert_eq!(manifest.len(), 210);
        assert_eq!(bytes_md5(&manifest), "1a734c9c1f2fbc0b44e1c7d6b591c2ac");
    }

    #[test]
    fn hash_dir_reproduces_dvcs_example_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        fs::create_dir_all(raw.join("sub")).unwrap();
        fs::create_dir_all(raw.join("empty")).unwrap();
        fs::write(raw.join("train.csv"), "a,b\n1,2\n").unwrap();
        fs::write(raw.join("test.csv"), "x,y\n3,4\n").unwrap();
        fs::write(raw.join("sub/notes.txt"), "hello\n").unwrap();
        let hash = hash_dir(&raw).unwrap();
        assert_eq!(hash.md5, "1a734c9c1f2fbc0b44e1c7d6b591c2ac.dir");
        assert_eq!((hash.size, hash.nfiles), (22, 3));
    }

    #[test]
    fn strings_are_escaped_like_python_json_dumps() {
        let mut out = String::new();
        push_python_json_string(&mut out, "Zed/\u{fc} \"q\"\\\t\u{1}/日本😀.txt");
        assert_eq!(
            out,
            r#""Zed/\u00fc \"q\"\\\t\u0001/\u65e5\u672c\ud83d\ude00.txt""#
        );
    }

    #[test]
    fn entries_sort_by_whole_relpath_in_code_point_order() {
        // Created in an order unlike the expected one; `list_files` (what hash_dir and the
        // manifest use) must give DVC's order: whole relpaths, by code point ("a.txt" before
        // "a/b c.txt" because '.' < '/'; uppercase before lowercase), not a directory walk's.
        let dir = tempfile::tempdir().unwrap();
        for name in ["a/b c.txt", "Zed/y", "a.txt", "a-b/x", ".hidden"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, name).unwrap();
        }
        let listed: Vec<String> = list_files(dir.path())
            .unwrap()
            .into_iter()
            .map(|(relpath, _)| relpath)
            .collect();
        assert_eq!(listed, [".hidden", "Zed/y", "a-b/x", "a.txt", "a/b c.txt"]);
    }

    #[test]
    fn pointer_yaml_is_what_dvc_add_writes_and_reads_back() {
        let pointer = DvcPointer {
            md5: "630b02676c8479105b83ee6e145ce069.dir".into(),
            size: 13,
            nfiles: Some(1),
            path: "models".into(),
        };
        let yaml = pointer.to_yaml();
        assert_eq!(
            yaml,
            "outs:\n- md5: 630b02676c8479105b83ee6e145ce069.dir\n  size: 13\n  nfiles: 1\n  hash: md5\n  path: models\n"
        );
        assert_eq!(DvcPointer::parse(&yaml).unwrap(), pointer);
        let odd = DvcPointer {
            path: "it's here".into(),
            ..pointer
        };
        assert_eq!(DvcPointer::parse(&odd.to_yaml()).unwrap(), odd);
    }

    #[test]
    fn malformed_pointers_are_refused() {
        assert!(DvcPointer::parse("outs: []\n").is_err());
        let bad_md5 = "outs:\n- md5: xyz\n  size: 1\n  path: a\n";
        assert!(DvcPointer::parse(bad_md5)
            .unwrap_err()
            .contains("not an md5"));
    }

    #[test]
    fn add_dir_fills_the_cache_and_writes_the_pointer() {
        let root = tempfile::tempdir().unwrap();
        let repo = DvcRepo::open_or_init(root.path()).unwrap();
        let data = root.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::write(data.join("a.bin"), b"abc").unwrap();
        let pointer = repo.add_dir(&data).unwrap();
        assert_eq!(pointer.nfiles, Some(1));
        let cached = object_path(&repo.cache_dir(), &bytes_md5(b"abc"));
        assert_eq!(fs::read(&cached).unwrap(), b"abc");
        assert!(fs::metadata(&cached).unwrap().permissions().readonly());
        let manifest = object_path(&repo.cache_dir(), &pointer.md5);
        assert_eq!(
            bytes_md5(&fs::read(manifest).unwrap()) + ".dir",
            pointer.md5
        );
        assert_eq!(
            DvcPointer::read(&root.path().join("data.dvc")).unwrap(),
            pointer
        );
        // Adding again is idempotent.
        assert_eq!(repo.add_dir(&data).unwrap(), pointer);
    }

    #[test]
    fn add_dir_refuses_paths_outside_the_repo() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let repo = DvcRepo::open_or_init(root.path()).unwrap();
        assert!(matches!(
            repo.add_dir(elsewhere.path()),
            Err(DvcError::OutsideRepo { .. })
        ));
    }
}
