//! The bedside page at `/ui/`: a self-contained viewer (HTML, script and style compiled into
//! the binary; nothing from a CDN) that logs in with the auth service, draws a patient's EEG
//! with the per-recording seizure probability and threshold under it, and replays a patient
//! as a live monitoring session (the HTTP form of `/monitor/sessions`) with its alarms.
//!
//! The page calls this service's API with the bearer token like any client; to log in it
//! calls the auth service at `UI_AUTH_URL` (cross-origin: the auth service answers CORS for
//! its token endpoints). Its content security policy allows scripts and styles from this
//! service only, and connections to this service and that one origin.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::settings::AuthUrl;
use crate::state::SharedState;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");
/// A small icon, so that browsers do not ask for a `/favicon.ico` that is not there.
const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#1f3a5f\"/>\
<path d=\"M1 9h4l2-6 2 10 2-4h4\" fill=\"none\" stroke=\"#fff\" stroke-width=\"1.5\"/></svg>";

/// The page's content security policy: its own assets, and connections to this service and
/// the auth service only.
fn policy(auth: Option<&AuthUrl>) -> HeaderValue {
    let connect = auth.map_or(String::new(), |a| format!(" {}", a.origin));
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'{connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("web_url keeps header-safe characters")
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `/ui` (redirected to `/ui/`), `/ui/`, its script, style and configuration; no token
/// needed to load them (they hold no data).
pub fn routes(auth: Option<AuthUrl>) -> Router<SharedState> {
    let config = json!({
        "auth_url": auth.as_ref().map(|a| a.base.clone()),
    });
    let csp = policy(auth.as_ref());
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/ui/favicon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
        .route(
            "/ui/config.json",
            get(move || {
                let config = config.clone();
                async move { Json(config) }
            }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::auth_url;

    #[test]
    fn the_policy_allows_connections_to_the_auth_origin_only() {
        let auth = auth_url("http://127.0.0.1:8001/x").unwrap();
        let with = policy(Some(&auth));
        let with = with.to_str().unwrap();
        assert!(
            with.contains("connect-src 'self' http://127.0.0.1:8001;"),
            "{with}"
        );
        assert!(with.contains("script-src 'self';"), "{with}");
        assert!(!with.contains("unsafe"), "{with}");
        let without = policy(None);
        assert!(without.to_str().unwrap().contains("connect-src 'self';"));
        assert!(auth_url("http://auth; script-src *")
            .unwrap_err()
            .to_string()
            .starts_with("UI_AUTH_URL"));
    }
}
