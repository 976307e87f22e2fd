use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = preprocessing::Cli::parse();
    telemetry::init(cli.log.log_format);
    match preprocessing::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
