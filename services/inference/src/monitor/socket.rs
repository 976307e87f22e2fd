//! The WebSocket form of a monitoring session: `GET /monitor` (the settings of
//! [`OpenBody`] as query parameters) upgrades to a socket carrying JSON text messages.
//!
//! * server -> client first: `{"type": "session", ...SessionInfo}`;
//! * client -> server: `{"type": "samples", "samples": [...]}`; the server answers each with
//!   `{"type": "update", ...PushAnswer}`, or `{"type": "error", "status", "error", "message"}`
//!   (nothing of a refused message is appended; the session goes on);
//! * client -> server `{"type": "close"}`: the server answers `{"type": "closed", ...}` (an
//!   open seizure closed) and closes. A plain close frame, a dropped connection, the idle
//!   timeout (no push for `MONITOR_IDLE_SECONDS`), the token expiring or being revoked, or the
//!   service shutting down (after a `closed` message) end the session too.
//!
//! A socket is a session: their number is bounded by `MAX_MONITOR_SESSIONS` (an upgraded
//! connection leaves the HTTP connection count). A message holds at most one push.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use http_kit::{ApiError, Authenticated};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{finish, info, open_entry, push_and_record, Entry, OpenBody};
use crate::api::{SharedState, PREDICTING_ROLES};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Samples {
        samples: Vec<f64>,
        #[serde(default)]
        offset: Option<u64>,
    },
    Close,
}

pub(crate) async fn monitor_socket(
    State(state): State<SharedState>,
    caller: Authenticated,
    query: Result<Query<OpenBody>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    let Query(body) = query.map_err(|e| ApiError::unprocessable(e.body_text()))?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            format!("GET /monitor is a WebSocket ({e}); without one, use /monitor/sessions"),
        )
    })?;
    let entry = open_entry(&state, &claims.sub, body)?;
    // A message holds at most one push: about 24 bytes per sample as JSON text.
    let push_bytes = state.sessions.limits.max_monitor_push_samples * 24 + 1024;
    let max_bytes = state.settings.max_message_bytes.min(push_bytes);
    Ok(upgrade
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
        .on_upgrade(move |socket| run(socket, state, claims, entry)))
}

fn error_message(error: &ApiError) -> Value {
    json!({
        "type": "error",
        "status": error.status.as_u16(),
        "error": error.code,
        "message": error.message,
    })
}

async fn send(socket: &mut WebSocket, message: impl ToString) -> bool {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .is_ok()
}

/// `value`'s fields with `"type": kind` first, as JSON text (numbers printed as their own
/// type: an f32 probability as the HTTP answers print it).
fn tagged(kind: &str, value: impl serde::Serialize) -> String {
    #[derive(serde::Serialize)]
    struct Tagged<'a, T> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(flatten)]
        value: T,
    }
    serde_json::to_string(&Tagged { kind, value }).expect("answers serialise")
}

async fn close(mut socket: WebSocket, reason: &str) {
    let frame = CloseFrame {
        code: 1000,
        reason: reason.to_owned().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

const TOKEN_ENDED: &str = "the access token expired or was revoked; reconnect with a fresh one";

async fn run(
    mut socket: WebSocket,
    state: SharedState,
    claims: auth_tokens::Claims,
    entry: Arc<Entry>,
) {
    let _running = state.sessions.socket();
    let first = tagged("session", info(&entry, &entry.lock(), &state.sessions));
    let idle = state.sessions.idle_timeout();
    // Idle means no push (pings and bad messages do not keep a session open).
    let mut last_push = tokio::time::Instant::now();
    let mut reason = "closed by the client";
    if send(&mut socket, first).await {
        loop {
            let message = tokio::select! {
                received = tokio::time::timeout_at(last_push + idle, socket.recv()) => received,
                () = state.sessions.closing() => {
                    let _ = send(&mut socket, tagged("closed", finish(&entry))).await;
                    reason = "the service is shutting down";
                    break;
                }
            };
            let message = match message {
                Err(_) => {
                    reason = "idle timeout";
                    break;
                }
                Ok(Some(Ok(message))) => message,
                Ok(_) => break,
            };
            if claims.exp <= auth_tokens::now_seconds() || state.verifier.is_revoked(&claims) {
                reason = TOKEN_ENDED;
                break;
            }
            let text = match message {
                Message::Text(text) => text,
                Message::Binary(_) => {
                    let error = ApiError::bad_request("send JSON text messages");
                    if send(&mut socket, error_message(&error)).await {
                        continue;
                    }
                    break;
                }
                Message::Close(_) => break,
                // axum answers pings itself.
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            let (samples, offset) = match serde_json::from_str::<ClientMessage>(text.as_str()) {
                Ok(ClientMessage::Samples { samples, offset }) => (samples, offset),
                Ok(ClientMessage::Close) => {
                    let _ = send(&mut socket, tagged("closed", finish(&entry))).await;
                    reason = "closed at the client's request";
                    break;
                }
                Err(e) => {
                    let error = ApiError::unprocessable(format!("invalid message: {e}"));
                    if send(&mut socket, error_message(&error)).await {
                        continue;
                    }
                    break;
                }
            };
            let answer = push(&state, &claims, &entry, samples, offset).await;
            if answer.is_ok() {
                last_push = tokio::time::Instant::now();
            }
            let message = match &answer {
                Ok(answer) => tagged("update", answer),
                Err(error) => error_message(error).to_string(),
            };
            if !send(&mut socket, message).await {
                break;
            }
            if answer.is_err() && state.sessions.get(&entry.id, &claims.sub, true).is_none() {
                reason = "the session expired";
                break;
            }
        }
    }
    if state
        .sessions
        .remove(&entry.id, &claims.sub, true)
        .is_some()
    {
        let end = match reason {
            "idle timeout" => "idle",
            TOKEN_ENDED => "token",
            _ => "client",
        };
        state
            .metrics
            .monitor_sessions_closed
            .with_label_values(&[end])
            .inc();
    }
    state
        .metrics
        .monitor_sessions
        .set(state.sessions.len() as i64);
    tracing::info!(session_id = %entry.id, %reason, "monitoring socket closed");
    close(socket, reason).await;
}

async fn push(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    entry: &Arc<Entry>,
    samples: Vec<f64>,
    offset: Option<u64>,
) -> Result<super::PushAnswer, ApiError> {
    // Touch the session (the idle sweep), or find it swept.
    let entry = state
        .sessions
        .get(&entry.id, &claims.sub, true)
        .ok_or_else(|| super::no_session(&entry.id))?;
    push_and_record(state, claims, None, entry, samples, offset).await
}
