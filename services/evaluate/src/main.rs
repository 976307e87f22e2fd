use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = evaluate::Cli::parse();
    let log = cli.log.settings();
    telemetry::main_with(&log, "evaluate", || evaluate::run(cli))
}
