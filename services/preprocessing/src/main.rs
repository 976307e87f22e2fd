use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = preprocessing::Cli::parse();
    telemetry::init(cli.log.log_format);
    telemetry::exit_code(preprocessing::run(cli))
}
