//! A JSON-over-HTTP client for tests of the services' APIs: every answer as (status, body).

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::Value;

/// One service's base URL and a client.
#[derive(Debug, Clone)]
pub struct JsonClient {
    /// `http://host:port`.
    pub base: String,
    pub http: Client,
}

impl JsonClient {
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, with a bearer token if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        send(self.http.get(self.url(path)), token).await
    }

    /// `POST path` with a JSON body, with a bearer token if given.
    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> (StatusCode, Value) {
        send(self.http.post(self.url(path)).json(&body), token).await
    }

    /// `DELETE path` with a bearer token.
    pub async fn delete(&self, path: &str, token: &str) -> StatusCode {
        send(self.http.delete(self.url(path)), Some(token)).await.0
    }

    /// The body of `GET path` as text (metrics, pages).
    pub async fn text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }
}

async fn send(mut request: RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

/// The status and the body: JSON when it parses, else the text as a JSON string (so a test
/// that expected JSON shows what came instead).
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// An error answer as every service gives it: `expected` status, a JSON body with an `error`
/// code and a `message` containing `words`.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, words: &str) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{message:?} should say {words:?}");
}
