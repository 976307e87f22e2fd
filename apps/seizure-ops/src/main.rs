use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = seizure_ops::Cli::parse();
    telemetry::init(cli.log_format());
    telemetry::exit_code(seizure_ops::run(cli))
}
