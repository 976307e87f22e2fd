use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = training::Cli::parse();
    let log = cli.log.settings();
    telemetry::main_with(&log, "training", || training::run(cli))
}
