use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = inference::Cli::parse();
    telemetry::init(cli.log.log_format);
    telemetry::exit_code(inference::run(cli))
}
