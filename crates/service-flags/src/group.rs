//! A flag group read without a command line: from the environment (what a stage run inside
//! another command is configured by), or from its defaults alone (what tests and code that
//! builds arguments start from, so the defaults are written once, in the flags, and no
//! variable of the shell leaks in).

use clap::{Args, Command, FromArgMatches};

/// The group `T` as the environment variables its flags name set it, else its defaults: what
/// its own binary would get with no flags. `seizure-ops pipeline`, `serve` and `up` run several
/// services in one process, whose flags would collide (`--data`, `--listen`), so each is
/// configured this way and the app then sets the paths it owns.
pub fn from_env<T: Args + FromArgMatches>() -> Result<T, clap::Error> {
    let command = T::augment_args(Command::new("seizure-ops").no_binary_name(true));
    T::from_arg_matches(&command.try_get_matches_from(Vec::<String>::new())?)
}

/// The group `T` as `flags` and its defaults set it, the environment ignored.
pub fn parse_without_env<T: Args + FromArgMatches>(flags: &[&str]) -> Result<T, clap::Error> {
    let command = T::augment_args(Command::new("flags").no_binary_name(true))
        .mut_args(|arg| arg.env(None::<&'static str>));
    T::from_arg_matches(&command.try_get_matches_from(flags)?)
}

/// Whether the group `T` refuses `flag` set to `value` (as `--flag=value`, so that a negative
/// value is the flag's value, not another flag), the environment ignored.
pub fn refuses<T: Args + FromArgMatches>(flag: &str, value: &str) -> bool {
    parse_without_env::<T>(&[format!("{flag}={value}").as_str()]).is_err()
}

/// The group `T` as its defaults make it, the environment ignored.
///
/// # Panics
/// When a flag of `T` is required (a group with defaults for everything has none).
pub fn defaults<T: Args + FromArgMatches>() -> T {
    parse_without_env(&[]).unwrap_or_else(|e| panic!("a flag group's defaults: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogArgs;

    #[derive(Debug, clap::Args)]
    struct Example {
        /// A value with a default and an environment variable no shell sets.
        #[arg(long, env = "SERVICE_FLAGS_GROUP_TEST_UNSET", default_value_t = 7)]
        count: u32,
        #[arg(long, env = "PATH")]
        path: Option<String>,
    }

    #[test]
    fn defaults_ignore_the_environment_and_from_env_reads_it() {
        // PATH is set in every test environment: from_env reads it, defaults do not.
        let plain: Example = defaults();
        assert_eq!((plain.count, plain.path.as_deref()), (7, None));
        let read: Example = from_env().unwrap();
        assert_eq!(read.count, 7);
        assert_eq!(read.path, std::env::var("PATH").ok());
        let parsed: Example = parse_without_env(&["--count=9"]).unwrap();
        assert_eq!(parsed.count, 9);
        assert!(parse_without_env::<Example>(&["--count=-1"]).is_err());
        assert!(parse_without_env::<Example>(&["--unknown"]).is_err());
        let _: LogArgs = defaults();
    }
}
