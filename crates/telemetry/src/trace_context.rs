//! W3C trace context (`traceparent`, `tracestate`) on incoming requests: a request that arrives
//! inside a caller's trace (a client, the compose gateway passing the header on, another
//! service) continues that trace, so its spans join the caller's in the collector. Without the
//! `otlp` feature no trace is exported and the headers are ignored.

/// Makes `span` (a request's span, just made) a child of the trace context in `headers`, if
/// they carry a valid one; otherwise `span` starts its own trace. A malformed `traceparent` is
/// ignored, as the W3C specification asks.
#[cfg(feature = "otlp")]
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if !headers.contains_key("traceparent") {
        return;
    }
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    if context.span().span_context().is_valid() {
        // A span that is not recorded (a probe's, below the log level) has nothing to parent.
        let _ = span.set_parent(context);
    }
}

/// Without the `otlp` feature nothing is exported: the trace context is not needed.
#[cfg(not(feature = "otlp"))]
pub fn continue_trace(_span: &tracing::Span, _headers: &http::HeaderMap) {}

#[cfg(all(test, feature = "otlp"))]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    /// The trace id `span` ends up in, under a subscriber that exports to memory.
    fn trace_of(headers: &http::HeaderMap) -> (String, String) {
        let exporter = InMemorySpanExporter::default();
        let provider = crate::otlp::provider_builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            continue_trace(&span, headers);
            drop(span);
        });
        let spans = exporter.get_finished_spans().unwrap();
        let span = spans.first().expect("the request span is exported");
        (
            span.span_context.trace_id().to_string(),
            span.parent_span_id.to_string(),
        )
    }

    #[test]
    fn a_request_continues_its_callers_trace() {
        let (trace, parent) = trace_of(&headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]));
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent, "00f067aa0ba902b7");
    }

    #[test]
    fn a_caller_cannot_switch_the_tracing_of_its_request_off() {
        let (trace, parent) = trace_of(&headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )]));
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent, "00f067aa0ba902b7");
    }

    #[test]
    fn without_or_with_a_malformed_context_a_request_starts_its_own_trace() {
        for bad in [
            headers(&[]),
            headers(&[("traceparent", "garbage")]),
            // All-zero ids are invalid; so is an unknown version's malformed form.
            headers(&[(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )]),
            headers(&[(
                "traceparent",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )]),
            headers(&[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            )]),
        ] {
            let (trace, parent) = trace_of(&bad);
            assert_ne!(trace, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad:?}");
            assert_ne!(trace, "00000000000000000000000000000000", "{bad:?}");
            assert_eq!(parent, "0000000000000000", "{bad:?}");
        }
    }
}
