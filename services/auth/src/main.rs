use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = auth::Cli::parse();
    telemetry::init(cli.log.log_format);
    telemetry::exit_code(auth::run(cli))
}
