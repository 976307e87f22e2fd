use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = patient_pull::Cli::parse();
    let log = cli.log.settings();
    telemetry::main_with(&log, "patient-pull", || patient_pull::run(cli))
}
