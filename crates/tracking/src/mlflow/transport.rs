//! HTTP to the MLflow REST API: every call has a timeout, and idempotent calls are retried with
//! exponential backoff on transport errors, 429 and 5xx. Errors are `{"error_code", "message"}`,
//! and callers branch on `error_code` ([`is_code`]), not the HTTP status.

use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::Method;
use serde_json::Value;

use crate::{Result, TrackingError};

const API: &str = "/api/2.0/mlflow";
/// Tries of an idempotent call, the first included.
const ATTEMPTS: usize = 4;

/// A connection to one MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    pub(super) base: String,
    pub(super) http: Client,
    /// Delay before the first retry, doubled before each further one (tests shorten it).
    backoff: Duration,
}

impl MlflowClient {
    pub fn new(base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TrackingError::Invalid(format!(
                "MLflow tracking URI {base_url:?} is not an http(s) URL"
            )));
        }
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TrackingError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            backoff: Duration::from_millis(250),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request, retrying it on transient errors if `idempotent`; returns the successful
    /// response, or the last error.
    pub(super) fn send(
        &self,
        endpoint: &str,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let once = || -> Result<Response> {
            let response = build().send().map_err(|e| TrackingError::Transport {
                endpoint: endpoint.to_owned(),
                message: e.to_string(),
            })?;
            if response.status().is_success() {
                Ok(response)
            } else {
                Err(api_error(endpoint, response))
            }
        };
        let retries = if idempotent { ATTEMPTS - 1 } else { 0 };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.backoff)
            .with_factor(2.0)
            .with_max_times(retries);
        let mut attempt = 0u32;
        once.retry(backoff)
            .when(is_transient)
            .notify(|error: &TrackingError, delay: Duration| {
                attempt += 1;
                tracing::warn!(
                    endpoint,
                    attempt,
                    %error,
                    "MLflow call failed, retrying in {delay:?}"
                );
            })
            .call()
    }

    pub(super) fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}{API}/{endpoint}", self.base);
        let response = self.send(endpoint, true, || self.http.get(&url).query(query))?;
        read_json(endpoint, response)
    }

    pub(super) fn post(&self, endpoint: &str, body: &Value, idempotent: bool) -> Result<Value> {
        self.send_json(Method::POST, endpoint, body, idempotent)
    }

    /// PATCH: setting a status is idempotent, so it is retried.
    pub(super) fn patch(&self, endpoint: &str, body: &Value) -> Result<Value> {
        self.send_json(Method::PATCH, endpoint, body, true)
    }

    fn send_json(
        &self,
        method: Method,
        endpoint: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<Value> {
        let url = format!("{}{API}/{endpoint}", self.base);
        let response = self.send(endpoint, idempotent, || {
            self.http
                .request(method.clone(), &url)
                .header("Content-Type", "application/json")
                .body(body.to_string())
        })?;
        read_json(endpoint, response)
    }
}

fn api_error(endpoint: &str, response: Response) -> TrackingError {
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[name].as_str())
            .map(str::to_owned)
    };
    TrackingError::Api {
        endpoint: endpoint.to_owned(),
        status,
        error_code: field("error_code").unwrap_or_else(|| "HTTP_ERROR".into()),
        message: field("message").unwrap_or_else(|| body.chars().take(200).collect()),
    }
}

pub(super) fn read_json(endpoint: &str, response: Response) -> Result<Value> {
    response.json().map_err(|e| TrackingError::Transport {
        endpoint: endpoint.to_owned(),
        message: format!("invalid JSON answer: {e}"),
    })
}

/// Worth retrying: the server was not reached, throttled (429) or failed (5xx).
fn is_transient(error: &TrackingError) -> bool {
    match error {
        TrackingError::Transport { .. } => true,
        TrackingError::Api { status, .. } => *status == 429 || (500..600).contains(status),
        _ => false,
    }
}

/// Whether `error` is MLflow's answer with `error_code` `code`.
pub(super) fn is_code(error: &TrackingError, code: &str) -> bool {
    matches!(error, TrackingError::Api { error_code, .. } if error_code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(MlflowClient::new("localhost:5000").is_err());
        assert!(MlflowClient::new("http://127.0.0.1:5000/").is_ok());
    }

    #[test]
    fn only_transport_errors_429_and_5xx_are_retried() {
        let api = |status| TrackingError::Api {
            endpoint: "x".into(),
            status,
            error_code: "E".into(),
            message: String::new(),
        };
        assert!(is_transient(&TrackingError::Transport {
            endpoint: "x".into(),
            message: "refused".into(),
        }));
        assert!(is_transient(&api(429)));
        assert!(is_transient(&api(500)));
        assert!(is_transient(&api(503)));
        assert!(!is_transient(&api(400)));
        assert!(!is_transient(&api(404)));
        assert!(!is_transient(&TrackingError::NotFound("run".into())));
    }

    #[test]
    fn an_unreachable_server_is_a_transport_error_after_retries() {
        let mut client = MlflowClient::new("http://127.0.0.1:9").unwrap();
        client.backoff = Duration::from_millis(1);
        let err = client.get("experiments/get-by-name", &[]).unwrap_err();
        assert!(matches!(err, TrackingError::Transport { .. }), "{err}");
    }
}
