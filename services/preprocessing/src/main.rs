use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = preprocessing::Cli::parse();
    let log = cli.log.settings();
    telemetry::main_with(&log, "preprocessing", || preprocessing::run(cli))
}
