//! Prometheus metrics shared by every HTTP service.
//!
//! [`HttpMetrics::layer`] records, for every request, `http_requests_total{method,route,status}`
//! and the `http_request_duration_seconds{method,route}` histogram. `route` is the matched route
//! template (`/users/{username}`), never the raw path, so ids such as usernames or patient ids
//! never become labels; unmatched requests are labelled `unmatched`. Services register their
//! own metrics in the same [`Registry`] and expose it with [`HttpMetrics::handler`].

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: fine below 10 ms (where the services answer), up to 10 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

#[derive(Clone)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// A registry with the HTTP metrics and the process collector (CPU, memory, file
    /// descriptors).
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route template and status",
            ),
            &["method", "route", "status"],
        )
        .expect("a valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route template",
            )
            .buckets(BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("a valid metric");
        let requests = register(&registry, requests);
        let duration = register(&registry, duration);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        Self {
            registry,
            requests,
            duration,
        }
    }

    /// Where services register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Middleware for `Router::layer(axum::middleware::from_fn_with_state(metrics, HttpMetrics::layer))`.
    pub async fn layer(
        State(metrics): State<HttpMetrics>,
        request: Request,
        next: Next,
    ) -> Response {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned());
        let method = method_label(request.method()).to_owned();
        let started = Instant::now();
        let response = next.run(request).await;
        let status = response.status().as_u16().to_string();
        metrics
            .requests
            .with_label_values(&[&method, &route, &status])
            .inc();
        metrics
            .duration
            .with_label_values(&[&method, &route])
            .observe(started.elapsed().as_secs_f64());
        response
    }

    /// `GET /metrics`: the registry in Prometheus' text format.
    pub async fn handler(State(metrics): State<HttpMetrics>) -> Response {
        metrics.render().into_response()
    }

    pub fn render(&self) -> ([(axum::http::HeaderName, String); 1], String) {
        let encoder = TextEncoder::new();
        let mut buffer = Vec::new();
        encoder
            .encode(&self.registry.gather(), &mut buffer)
            .expect("metrics encode");
        (
            [(CONTENT_TYPE, encoder.format_type().to_owned())],
            String::from_utf8(buffer).expect("the text format is UTF-8"),
        )
    }
}

/// Registers `metric` in `registry` and hands it back, for services' own metrics.
pub fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

/// The methods that get their own label value; anything else (clients may send any token as
/// a method) is `other`, so made-up methods cannot grow the label set.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    /// `router` (plus `/metrics`) behind the metrics layer on a random port: its base URL.
    async fn serve(router: Router<HttpMetrics>) -> String {
        let metrics = HttpMetrics::new();
        let app = router
            .route("/metrics", get(HttpMetrics::handler))
            .with_state(metrics.clone())
            .layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                HttpMetrics::layer,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    async fn scrape(client: &reqwest::Client, base: &str) -> String {
        let response = client.get(format!("{base}/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_not_raw_path() {
        let base = serve(Router::new().route("/patients/{id}", get(|| async { "ok" }))).await;
        let client = reqwest::Client::new();
        for id in [17, 42] {
            client
                .get(format!("{base}/patients/{id}"))
                .send()
                .await
                .unwrap();
        }
        client
            .get(format!("{base}/nowhere/99"))
            .send()
            .await
            .unwrap();
        let text = scrape(&client, &base).await;
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/patients/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"route="unmatched",status="404"} 1"#),
            "{text}"
        );
        assert!(!text.contains("/patients/42"), "no raw ids in labels");
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }

    #[tokio::test]
    async fn made_up_methods_share_one_label_and_metrics_stay_small() {
        let base = serve(Router::new()).await;
        let client = reqwest::Client::new();
        let before = scrape(&client, &base).await.len();
        for i in 0..200 {
            let method =
                reqwest::Method::from_bytes(format!("X{i:03}{}", "Y".repeat(40)).as_bytes())
                    .unwrap();
            client
                .request(method, format!("{base}/metrics"))
                .send()
                .await
                .unwrap();
        }
        let text = scrape(&client, &base).await;
        assert!(text.contains(r#"method="other""#), "{text}");
        assert!(!text.contains("YYYY"), "no made-up method became a label");
        assert!(
            text.len() < before + 4096,
            "200 made-up methods grew /metrics from {before} to {} bytes",
            text.len()
        );
    }
}
