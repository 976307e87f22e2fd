use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = training::Cli::parse();
    telemetry::init(cli.log.log_format);
    telemetry::exit_code(training::run(cli))
}
