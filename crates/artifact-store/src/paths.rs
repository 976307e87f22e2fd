//! Paths named by someone else (an MLflow artifact listing, a model card's `weights_file`,
//! a DVC `.dir` manifest) are joined only through [`contained_join`]: a relative path of
//! plain components that stays under its destination, or an error naming it.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{relpath:?} is not a safe relative path under {}: {reason}", base.display())]
pub struct UnsafePath {
    pub base: PathBuf,
    pub relpath: String,
    pub reason: &'static str,
}

/// `base/relpath`, if `relpath` (with `/` separators) is relative, not empty, and made of
/// plain names only: no `..`, no `.`, no empty segment, no root or drive, no backslash, no
/// NUL or other control character.
pub fn contained_join(base: &Path, relpath: &str) -> Result<PathBuf, UnsafePath> {
    let fail = |reason| UnsafePath {
        base: base.to_owned(),
        relpath: relpath.to_owned(),
        reason,
    };
    if relpath.is_empty() {
        return Err(fail("it is empty"));
    }
    if relpath.chars().any(|c| c.is_control() || c == '\\') {
        return Err(fail("it has a control character or a backslash"));
    }
    let mut path = base.to_owned();
    for segment in relpath.split('/') {
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if name == segment => path.push(name),
            _ => {
                return Err(fail(
                    "it leaves its directory or has an empty, '.' or '..' part",
                ))
            }
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_join() {
        let base = Path::new("/data/out");
        assert_eq!(
            contained_join(base, "a/b.bin").unwrap(),
            PathBuf::from("/data/out/a/b.bin")
        );
        assert_eq!(
            contained_join(base, "weights.bpk").unwrap(),
            PathBuf::from("/data/out/weights.bpk")
        );
    }

    #[test]
    fn escapes_and_oddities_are_refused() {
        let base = Path::new("/data/out");
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/.",
            "a/",
            "..",
            "a\\..\\b",
            "a\u{0}b",
            "line\nbreak",
        ] {
            let error = contained_join(base, bad).unwrap_err();
            assert_eq!(error.relpath, bad);
        }
    }
}
