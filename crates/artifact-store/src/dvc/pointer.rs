//! `.dvc` pointer files: what `dvc add` writes next to a tracked output, and where objects
//! live under a cache or remote root.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fs_err as fs;

use super::{DirHash, DvcError};

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
        let text = fs::read_to_string(path)?;
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
