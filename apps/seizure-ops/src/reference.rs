//! The configuration reference (`docs/configuration-reference.md`), generated from the command
//! lines themselves: every flag of every command, its environment variable, its default and
//! its help text, as clap has them. The settings each service runs with are parsed from exactly
//! these flags, so the reference cannot drift from what the binaries accept
//! (`tests/configuration_reference.rs` fails when the file differs from this rendering).

use std::fmt::Write;

use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::Cli;

/// Where the reference lives, relative to the workspace root.
pub const REFERENCE_FILE: &str = "docs/configuration-reference.md";

/// The reference as Markdown.
pub fn render() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the command lines (`apps/seizure-ops/src/reference.rs`); do not edit by \
         hand. `cargo test -p seizure-ops --test configuration_reference` fails when this file \
         differs from what the binaries accept, and `UPDATE_REFERENCE=1` with the same command \
         rewrites it. How the settings combine (remotes, secrets, build features) is in \
         [configuration.md](configuration.md).\n\n\
         A flag with an environment variable named beside it can be set either way; the command \
         line wins. Each service parses these once into its typed settings: a malformed or \
         out-of-range value is refused naming its flag before the service opens or reads \
         anything (what only trying can tell, such as a key file or a database, is refused at \
         start when it is tried).\n",
    );
    let root = Cli::command();
    for command in root.get_subcommands() {
        section(
            &mut out,
            &format!("seizure-ops {}", command.get_name()),
            command,
        );
    }
    out
}

fn section(out: &mut String, path: &str, command: &Command) {
    let args: Vec<&Arg> = command.get_arguments().filter(|a| shown(a)).collect();
    if !args.is_empty() || command.get_subcommands().next().is_none() {
        let _ = write!(out, "\n## `{path}`\n\n");
        if let Some(about) = command.get_about() {
            let _ = writeln!(out, "{}\n", one_line(&about.to_string()));
        }
        if args.is_empty() {
            out.push_str("No flags.\n");
        } else {
            out.push_str("| flag | env | default | meaning |\n|---|---|---|---|\n");
            for arg in args {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    flag(arg),
                    arg.get_env()
                        .map_or(String::new(), |e| format!("`{}`", e.to_string_lossy())),
                    default(arg),
                    cell(&arg.get_help().map(ToString::to_string).unwrap_or_default()),
                );
            }
        }
    }
    for sub in command.get_subcommands() {
        section(out, &format!("{path} {}", sub.get_name()), sub);
    }
}

fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

fn flag(arg: &Arg) -> String {
    match arg.get_long() {
        Some(long) => format!("`--{long}`"),
        None => format!("`<{}>`", arg.get_id().as_str().to_uppercase()),
    }
}

fn default(arg: &Arg) -> String {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return "off".into();
    }
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    values.join(", ")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_and_its_secrets_are_listed_without_values() {
        let text = render();
        for heading in [
            "## `seizure-ops auth`",
            "## `seizure-ops inference`",
            "## `seizure-ops training`",
            "## `seizure-ops evaluate run`",
            "## `seizure-ops preprocessing run`",
            "## `seizure-ops patient-pull`",
            "## `seizure-ops up`",
        ] {
            assert!(text.contains(heading), "{heading}");
        }
        assert!(text.contains("| `--threshold` | `PREDICTION_THRESHOLD` |"));
        assert!(text.contains("| `--admin-password` | `ADMIN_PASSWORD` |  |"));
        assert!(!text.contains("--help"));
    }
}
