//! Where a service's database is, with its password kept secret: the URL (or SQLite path)
//! may carry one, and a password file (a Docker secret) may add one.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::PoolError;

/// A service's database: a SQLite file path or a URL, an optional password file, and the
/// pool's size. `Debug` and [`DatabaseSettings::redacted`] never show a password.
#[derive(Clone)]
pub struct DatabaseSettings {
    url: SecretString,
    password_file: Option<PathBuf>,
    max_connections: u32,
}

impl DatabaseSettings {
    /// Connections a pool opens at most unless configured.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

    pub fn new(url: impl Into<SecretString>) -> Self {
        Self {
            url: url.into(),
            password_file: None,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// A SQLite file.
    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self::new(SecretString::from(path.display().to_string()))
    }

    pub fn with_password_file(mut self, password_file: Option<PathBuf>) -> Self {
        self.password_file = password_file;
        self
    }

    pub fn with_max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The URL to connect to: the configured one, with the password file's password added.
    pub fn resolve(&self) -> Result<SecretString, PoolError> {
        match &self.password_file {
            Some(file) => {
                crate::with_password_file(self.url.expose_secret(), file).map(SecretString::from)
            }
            None => Ok(self.url.clone()),
        }
    }

    /// The configured URL for messages and logs: any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(self.url.expose_secret())
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.redacted())
            .field("password_file", &self.password_file)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `url` with the password of its user info (`scheme://user:password@host`, everything
/// between the user's `:` and the last `@`, whatever characters the password holds) and any
/// `password=` query parameter replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let mut shown = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user_info, host_and_tail)) => match user_info.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host_and_tail}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    if let Some(query_start) = shown.find('?') {
        let (base, query) = shown.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{base}{}", query.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            (
                "postgres://u:hunter2@db:5432/auth",
                "postgres://u:***@db:5432/auth",
            ),
            ("postgres://u:hun:ter@2@db/auth", "postgres://u:***@db/auth"),
            ("postgres://u:pa/ss@db/auth", "postgres://u:***@db/auth"),
            ("postgres://u:pa?ss#x@db/auth", "postgres://u:***@db/auth"),
            (
                "postgres://u@db/auth?password=hunter2&x=1",
                "postgres://u@db/auth?password=***&x=1",
            ),
            ("postgres://u@db/auth", "postgres://u@db/auth"),
            ("auth.db", "auth.db"),
            ("sqlite://auth.db?mode=rwc", "sqlite://auth.db?mode=rwc"),
        ] {
            let settings = DatabaseSettings::new(url.to_owned());
            assert_eq!(settings.redacted(), shown, "{url}");
            assert!(!format!("{settings:?}").contains("hunter2"), "{url}");
            assert!(!format!("{settings:?}").contains("ter@2"), "{url}");
            assert!(!settings.redacted().contains("pa/ss"), "{url}");
            assert!(!settings.redacted().contains("pa?ss"), "{url}");
        }
    }

    #[test]
    fn a_password_file_is_added_and_stays_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret/+\n").unwrap();
        let settings =
            DatabaseSettings::new("postgres://u@db/auth".to_owned()).with_password_file(Some(file));
        assert_eq!(
            settings.resolve().unwrap().expose_secret(),
            "postgres://u:s3cret%2F%2B@db/auth"
        );
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert_eq!(settings.redacted(), "postgres://u@db/auth");
        // An `@` in the query is not the user's.
        let at_in_query =
            DatabaseSettings::new("postgres://u@db/auth?sslrootcert=/c/ca@1.pem".to_owned())
                .with_password_file(Some(dir.path().join("password")));
        assert_eq!(
            at_in_query.resolve().unwrap().expose_secret(),
            "postgres://u:s3cret%2F%2B@db/auth?sslrootcert=/c/ca@1.pem"
        );
        // A query right after the host keeps its place.
        let with_query = DatabaseSettings::new("postgres://u@db?sslmode=require".to_owned())
            .with_password_file(Some(dir.path().join("password")));
        assert_eq!(
            with_query.resolve().unwrap().expose_secret(),
            "postgres://u:s3cret%2F%2B@db?sslmode=require"
        );
    }

    #[test]
    fn a_password_in_the_url_and_a_password_file_never_show_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "other\n").unwrap();
        for url in [
            "postgres://u:hunter2@db/auth",
            "postgres://u:hun/ter2@db/auth",
        ] {
            let error = DatabaseSettings::new(url.to_owned())
                .with_password_file(Some(file.clone()))
                .resolve()
                .expect_err("refused")
                .to_string();
            // Refused either way (a `/` in the password ends the authority before its `@`, so
            // that URL names no user), and the password never shows.
            assert!(
                error.contains("already has a password") || error.contains("names no user"),
                "{error}"
            );
            assert!(
                !error.contains("hunter2") && !error.contains("ter2"),
                "{error}"
            );
        }
    }
}
