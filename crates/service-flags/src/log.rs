use clap::builder::{PossibleValuesParser, TypedValueParser};
use telemetry::{LogFormat, LogSettings};

/// The log flag every binary flattens into its command line.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true,
        value_parser = PossibleValuesParser::new(LogFormat::NAMES)
            .map(|name| name.parse::<LogFormat>().expect("one of the possible values")))]
    pub log_format: LogFormat,
    /// Also log every span as it closes (handlers, scoring, audit writes, stages) with its
    /// busy and idle time: a request's work can be followed line by line.
    #[arg(long, env = "LOG_SPANS", default_value_t = false, action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub log_spans: bool,
    /// An OpenTelemetry collector (OTLP/HTTP base URL, e.g. http://collector:4318): spans are
    /// exported there as well; `OTEL_EXPORTER_OTLP_HEADERS` adds headers. Unset: none are.
    /// Builds without the `fleet` feature export nothing and say so in a warning.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
}

impl LogArgs {
    pub fn settings(&self) -> LogSettings {
        LogSettings {
            format: self.log_format,
            span_events: self.log_spans,
            otlp_endpoint: self.otlp_endpoint.clone().filter(|e| !e.trim().is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
    }

    #[test]
    fn formats_parse_and_others_are_refused() {
        let cli = Cli::try_parse_from(["x", "--log-format", "json"]).unwrap();
        assert_eq!(cli.log.log_format, LogFormat::Json);
        let error = Cli::try_parse_from(["x", "--log-format", "xml"])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("text") && error.contains("json"), "{error}");
    }
}
