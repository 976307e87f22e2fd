use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = patient_pull::Cli::parse();
    telemetry::init(cli.log.log_format);
    telemetry::exit_code(patient_pull::run(cli))
}
