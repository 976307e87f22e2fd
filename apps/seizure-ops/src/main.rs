use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = seizure_ops::Cli::parse();
    let log = cli.log_settings();
    telemetry::main_with(&log, "seizure-ops", || seizure_ops::run(cli))
}
