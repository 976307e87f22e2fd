use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = auth::Cli::parse();
    let log = cli.log.settings();
    telemetry::main_with(&log, "auth", || auth::run(cli))
}
