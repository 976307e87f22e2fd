use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use http_kit::ServerLimits;

const DEFAULTS: ServerLimits = ServerLimits::DEFAULT;

/// The flags for a server's [`ServerLimits`], flattened into each service's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = DEFAULTS.header_read_timeout.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_seconds: u64,
    /// Open connections at most; further clients wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULTS.max_connections,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,
}

impl Default for ServerArgs {
    fn default() -> Self {
        Self {
            header_read_timeout_seconds: DEFAULTS.header_read_timeout.as_secs(),
            max_connections: DEFAULTS.max_connections,
        }
    }
}

impl ServerArgs {
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
            max_connections: self.max_connections,
            ..DEFAULTS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn defaults_are_the_libraries_and_bounds_hold() {
        assert_eq!(ServerArgs::default().limits(), ServerLimits::default());
        for bad in ["0", "-1", "1e9", "9999999999"] {
            assert!(
                Cli::try_parse_from(["x", "--max-connections", bad]).is_err(),
                "{bad}"
            );
            assert!(
                Cli::try_parse_from(["x", "--header-read-timeout-seconds", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
