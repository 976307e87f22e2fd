use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = inference::Cli::parse();
    let log = cli.log.settings();
    telemetry::main_with(&log, "inference", || inference::run(cli))
}
