//! Content hashes as DVC 3 computes them: file md5s and the byte-exact `.dir` manifest.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use fs_err as fs;
use md5::{Digest, Md5};

use super::DvcError;

/// The lowercase hex md5 of a file's raw bytes.
pub fn file_md5(path: &Path) -> Result<String, DvcError> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
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
        let size = fs::metadata(&path)?.len();
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
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = fs::metadata(&path)?.file_type();
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
pub(super) fn push_python_json_string(out: &mut String, text: &str) {
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
