//! Logging shared by every binary.
//!
//! Logs go to stderr, filtered by `RUST_LOG` (default `info`). The format is `text` for people
//! and `json` (one object per line) for containers, chosen with `--log-format` or `LOG_FORMAT`.
//! Text logs escape control characters ([`EscapingWriter`]); JSON escapes them by itself.

mod escape;
#[cfg(feature = "otlp")]
mod otlp;
mod trace_context;

use std::io::IsTerminal;

pub use escape::EscapingWriter;
pub use trace_context::continue_trace;

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
    /// exported there too. Needs the `otlp` feature; a build without it says in a warning
    /// that the spans are not exported rather than drop them silently.
    pub otlp_endpoint: Option<String>,
}

/// What must outlive the program's work: the trace exporter, flushed when dropped.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    traces: Option<otlp::Traces>,
    warning: Option<String>,
}

impl Telemetry {
    /// Why spans configured for export are not exported, if they are not.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }
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
pub fn init(settings: &LogSettings, service: &'static str) -> Telemetry {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    // The logs follow RUST_LOG; the exported spans do not (see `exported_spans`).
    let log_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
            .with_filter(log_filter())
            .boxed(),
        LogFormat::Json => fmt
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_filter(log_filter())
            .boxed(),
    };
    // Trace export is observability, not the service: a collector that cannot be set up
    // leaves a warning in the logs, never a service that refuses to start.
    let mut warning = None;
    #[cfg(feature = "otlp")]
    let (traces, exported) = match &settings.otlp_endpoint {
        Some(endpoint) => match otlp::Traces::start(endpoint, service) {
            Ok((traces, layer)) => (Some(traces), Some(layer.with_filter(exported_spans()))),
            Err(e) => {
                warning = Some(format!("{e}; spans are not exported"));
                (None, None)
            }
        },
        None => (None, None),
    };
    #[cfg(not(feature = "otlp"))]
    let exported: Option<tracing_subscriber::layer::Identity> = {
        if let Some(endpoint) = &settings.otlp_endpoint {
            warning = Some(format!(
                "{service}: an OTLP endpoint is configured ({}, \
                 OTEL_EXPORTER_OTLP_ENDPOINT) but this build exports no traces: build with \
                 `--features fleet` (the Docker image and CI do), or unset it",
                shown_url(endpoint)
            ));
        }
        None
    };
    let _ = tracing_subscriber::registry()
        .with(exported)
        .with(fmt)
        .try_init();
    if let Some(warning) = &warning {
        tracing::warn!("{warning}");
    }
    Telemetry {
        #[cfg(feature = "otlp")]
        traces,
        warning,
    }
}

/// `url` for a message: any user info (`user:token@`) left out.
fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// What a collector receives: the info spans (requests, handlers, service steps, stages)
/// whatever RUST_LOG says, and nothing of the exporter's own HTTP stack (no feedback loop).
#[cfg(feature = "otlp")]
fn exported_spans() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::INFO)
        // Targets match by prefix: these cover `opentelemetry_sdk`, `opentelemetry-otlp`,
        // `hyper_util` and the like.
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
}

/// A binary's `main`: logging and trace export set up, `work` run, the traces flushed, and
/// the exit code for its result.
pub fn main_with(
    settings: &LogSettings,
    service: &'static str,
    work: impl FnOnce() -> anyhow::Result<()>,
) -> std::process::ExitCode {
    let telemetry = init(settings, service);
    let result = work();
    drop(telemetry);
    exit_code(result)
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
    fn a_build_without_export_warns_that_an_endpoint_is_not_used() {
        let settings = LogSettings {
            otlp_endpoint: Some("http://collector:4318".into()),
            ..LogSettings::default()
        };
        let telemetry = init(&settings, "test");
        let warning = telemetry.warning().expect("a warning");
        assert!(warning.contains("--features fleet"), "{warning}");
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn an_endpoint_the_exporter_cannot_use_is_a_warning_not_a_failure() {
        let settings = LogSettings {
            otlp_endpoint: Some("not a url at all".into()),
            ..LogSettings::default()
        };
        let telemetry = init(&settings, "test");
        let warning = telemetry.warning().expect("a warning");
        assert!(warning.contains("not exported"), "{warning}");
    }

    #[test]
    fn endpoints_are_shown_without_their_user_info() {
        assert_eq!(
            shown_url("https://user:token@collector:4318/v1/traces"),
            "https://collector:4318/v1/traces"
        );
        assert_eq!(shown_url("http://collector:4318"), "http://collector:4318");
        assert_eq!(shown_url("not a url"), "not a url");
    }

    #[test]
    fn log_formats_parse_by_name_only() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("JSON ".parse::<LogFormat>().is_err());
    }
}
