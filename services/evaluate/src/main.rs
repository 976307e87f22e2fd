use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = evaluate::Cli::parse();
    telemetry::init(cli.log.log_format);
    telemetry::exit_code(evaluate::run(cli))
}
