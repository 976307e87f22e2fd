use std::path::PathBuf;

use secrecy::SecretString;
use sql_pool::DatabaseSettings;

/// Where a service keeps its SQL database; the same flags for auth (users) and inference
/// (the prediction audit log).
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// A SQLite file path, or a `postgres://` URL (best without a password: see
    /// DATABASE_PASSWORD_FILE). Default: the service's own SQLite file. Kept secret: never
    /// printed, and shown without its password in messages.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = crate::secret)]
    pub database_url: Option<SecretString>,
    /// A file holding the PostgreSQL password (a Docker secret), added to DATABASE_URL.
    #[arg(long, env = "DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
    /// Connections the service's pool opens at most.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = DatabaseSettings::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
}

impl Default for DatabaseArgs {
    fn default() -> Self {
        Self {
            database_url: None,
            database_password_file: None,
            database_max_connections: DatabaseSettings::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl DatabaseArgs {
    /// The database, `default_file` (a SQLite file) unless a URL is configured.
    pub fn settings(&self, default_file: &str) -> DatabaseSettings {
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| SecretString::from(default_file));
        DatabaseSettings::new(url)
            .with_password_file(self.database_password_file.clone())
            .with_max_connections(self.database_max_connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        database: DatabaseArgs,
    }

    #[test]
    fn a_password_in_the_url_never_shows() {
        let cli = Cli::try_parse_from([
            "x",
            "--database-url",
            "postgres://user:hunter2@db:5432/auth",
        ])
        .unwrap();
        assert!(!format!("{:?}", cli.database).contains("hunter2"));
        let settings = cli.database.settings("auth.db");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(!settings.redacted().contains("hunter2"));
        assert!(settings.redacted().contains("db:5432/auth"));
    }

    #[test]
    fn the_default_is_the_services_own_file() {
        let settings = DatabaseArgs::default().settings("predictions.db");
        assert_eq!(settings.redacted(), "predictions.db");
        assert_eq!(
            settings.max_connections(),
            DatabaseSettings::DEFAULT_MAX_CONNECTIONS
        );
    }
}
