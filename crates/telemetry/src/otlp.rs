//! Span export to an OpenTelemetry collector over OTLP/HTTP (protobuf), batched on the SDK's
//! own thread. The standard `OTEL_EXPORTER_OTLP_HEADERS` adds headers (a collector's token,
//! MLflow's `x-mlflow-experiment-id`).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, TracerProviderBuilder};
use opentelemetry_sdk::Resource;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take before it is given up (the SDK then drops that batch).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The exporter's HTTP client: the workspace's reqwest (rustls, the system's certificates),
/// blocking, on the SDK's own export thread.
#[derive(Debug)]
struct Blocking(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for Blocking {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, HttpError> {
        let request = reqwest::blocking::Request::try_from(request)?;
        let response = self.0.execute(request)?.error_for_status()?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut answer = http::Response::builder()
            .status(status)
            .body(response.bytes()?)?;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

/// The tracer provider's settings, shared by the exporter and the tests: every span is
/// recorded and exported, whatever a caller's `traceparent` says of sampling (a client cannot
/// switch the tracing of its own requests off by sending the flag 00).
pub(crate) fn provider_builder() -> TracerProviderBuilder {
    SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOn)
}

/// The running exporter.
pub(crate) struct Traces {
    provider: SdkTracerProvider,
}

/// `base` with the traces path, as the OTLP/HTTP specification builds it from
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

impl Traces {
    pub(crate) fn start<S>(
        endpoint: &str,
        service: &'static str,
    ) -> anyhow::Result<(
        Self,
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
    )>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let url = traces_url(endpoint);
        let client = reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot make the trace exporter's HTTP client: {e}"))?;
        let exporter = SpanExporter::builder()
            .with_http()
            .with_http_client(Blocking(client))
            .with_timeout(EXPORT_TIMEOUT)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(&url)
            .build()
            .map_err(|e| {
                anyhow::anyhow!("cannot export traces to {}: {e}", crate::shown_url(&url))
            })?;
        let provider = provider_builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
        Ok((Self { provider }, layer))
    }

    /// Sends what is still batched and stops.
    pub(crate) fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: the last traces could not be exported: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
