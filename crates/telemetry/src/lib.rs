//! Logging shared by every binary.
//!
//! Logs go to stderr, filtered by `RUST_LOG` (default `info`). The format is `text` for people
//! and `json` (one object per line) for containers, chosen with `--log-format` or `LOG_FORMAT`.
//! Text logs escape control characters ([`EscapingWriter`]); JSON escapes them by itself.

mod escape;
#[cfg(feature = "otlp")]
mod otlp;

use std::io::IsTerminal;

pub use escape::EscapingWriter;

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// The formats by name, as `LOG_FORMAT` takes them.
    pub const NAMES: [&'static str; 2] = ["text", "json"];
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("no log format {other:?}: text or json")),
        }
    }
}

/// How a binary logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// Also log each span as it closes, with the time it was busy and idle: a request's work
    /// (its handler, the scoring, the audit write) can then be followed in the logs, each
    /// line carrying the spans it ran in (the request's id among them).
    pub span_events: bool,
    /// An OpenTelemetry collector's OTLP/HTTP base URL (`/v1/traces` is added): spans are
    /// exported there too. Needs the `otlp` feature; a build without it refuses to start
    /// with one configured rather than drop the traces silently.
    pub otlp_endpoint: Option<String>,
}

/// What must outlive the program's work: the trace exporter, flushed when dropped.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    traces: Option<otlp::Traces>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(traces) = self.traces.take() {
            traces.shutdown();
        }
    }
}

/// Installs the global subscriber (later calls, e.g. from tests, are ignored) for the
/// program `service`, the name its spans are exported under.
pub fn init(settings: &LogSettings, service: &'static str) -> anyhow::Result<Telemetry> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colours = std::io::stderr().is_terminal();
    let spans = if settings.span_events {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_span_events(spans)
        .with_ansi(colours);
    let fmt = match settings.format {
        LogFormat::Text => fmt
            .with_writer(move || EscapingWriter::new(std::io::stderr(), colours))
            .with_target(false)
            .boxed(),
        LogFormat::Json => fmt
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .boxed(),
    };
    #[cfg(feature = "otlp")]
    let (traces, exported) = match &settings.otlp_endpoint {
        Some(endpoint) => {
            let (traces, layer) = otlp::Traces::start(endpoint, service)?;
            (Some(traces), Some(layer))
        }
        None => (None, None),
    };
    #[cfg(not(feature = "otlp"))]
    let exported: Option<tracing_subscriber::layer::Identity> = match &settings.otlp_endpoint {
        Some(endpoint) => anyhow::bail!(
            "{service}: an OTLP endpoint is configured ({endpoint}, OTEL_EXPORTER_OTLP_ENDPOINT) \
             but this build exports no traces: build with `--features fleet` (the Docker image \
             and CI do), or unset it"
        ),
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(exported)
        .try_init();
    Ok(Telemetry {
        #[cfg(feature = "otlp")]
        traces,
    })
}

/// A binary's `main`: logging and trace export set up, `work` run, the traces flushed, and
/// the exit code for its result.
pub fn main_with(
    settings: &LogSettings,
    service: &'static str,
    work: impl FnOnce() -> anyhow::Result<()>,
) -> std::process::ExitCode {
    exit_code(init(settings, service).and_then(|telemetry| {
        let result = work();
        drop(telemetry);
        result
    }))
}

/// The process exit code for a binary's result, printing the error chain on one line.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message
/// already contains (many errors quote their source).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "otlp"))]
    #[test]
    fn a_build_without_export_refuses_an_endpoint_rather_than_drop_traces() {
        let settings = LogSettings {
            otlp_endpoint: Some("http://collector:4318".into()),
            ..LogSettings::default()
        };
        let error = init(&settings, "test").err().expect("refused").to_string();
        assert!(error.contains("--features fleet"), "{error}");
    }

    #[test]
    fn log_formats_parse_by_name_only() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("JSON ".parse::<LogFormat>().is_err());
    }
}
