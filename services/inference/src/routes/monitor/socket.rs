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
//! A socket and its session are one resource: whatever ends the session (the client, a
//! `DELETE /monitor/sessions/{id}` over HTTP, the idle sweep, the token, shutdown) closes the
//! socket at once with a close code and reason ([`End`]), and a closed socket ends its
//! session. Sockets count against `MAX_MONITOR_SESSIONS` (as sessions) and against caps of
//! their own, `MAX_MONITOR_SOCKETS` and `MAX_MONITOR_SOCKETS_PER_USER`, from the handshake
//! until the socket is closed (an upgraded connection leaves the HTTP connection count). A
//! message holds at most one push; a larger one closes the socket with 1009.

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

use crate::routes::PREDICTING_ROLES;
use crate::service::monitor::{
    check_push_text, finish, info, max_message_bytes, no_session, open_entry, push_and_record,
    refused, OpenBody, PushAnswer,
};
use crate::sessions::{End, Entry, SocketPermit, SOCKET_BUFFER_BYTES};
use crate::state::SharedState;
use tracing::Instrument;

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

#[tracing::instrument(skip_all)]
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
    let permit = state
        .sessions
        .admit_socket(&claims.sub)
        .map_err(|refusal| refused(refusal, "sockets", "too_many_sockets"))?;
    let entry = open_entry(&state, &claims, body)?;
    // Until the socket runs, the session is unclaimed: an upgrade that never completes (the
    // client gone before the 101) closes it at once instead of leaving it to the idle sweep.
    let unclaimed = Unclaimed {
        state: state.clone(),
        entry: Some(entry),
    };
    let max_bytes = max_message_bytes(&state);
    // The socket's life runs in a task axum spawns without a span: it follows the request
    // that opened it (its request id) through a span of its own, not by holding the request's
    // open for hours.
    let socket_span = tracing::info_span!(parent: None, "monitor_socket_session");
    socket_span.follows_from(tracing::Span::current());
    Ok(upgrade
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
        // tungstenite's defaults (128 KiB each) would hold a quarter of a megabyte per idle
        // socket; messages larger than a chunk still arrive whole (docs/hardening.md).
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .max_write_buffer_size(max_bytes + SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let entry = unclaimed.claim();
            run(socket, state, claims, entry, permit).instrument(socket_span)
        }))
}

/// A session opened for a socket that is not running yet.
struct Unclaimed {
    state: SharedState,
    entry: Option<Arc<Entry>>,
}

impl Unclaimed {
    fn claim(mut self) -> Arc<Entry> {
        self.entry.take().expect("claimed once")
    }
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            if let Some(entry) =
                self.state
                    .sessions
                    .remove(&entry.id, &entry.owner, true, End::ClientGone)
            {
                tracing::info!(session_id = %entry.id, "monitoring socket never opened: session closed");
                self.state
                    .metrics
                    .monitor_sessions_closed
                    .with_label_values(&[End::ClientGone.label()])
                    .inc();
                self.state
                    .metrics
                    .monitor_sessions
                    .set(self.state.sessions.len() as i64);
            }
        }
    }
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

async fn close(mut socket: WebSocket, end: End) {
    let frame = CloseFrame {
        code: end.close_code(),
        reason: end.reason().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Whether a receive error is a message over the size limit.
fn too_big(error: axum::Error) -> bool {
    matches!(
        error.into_inner().downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// How often an open socket checks whether its token was revoked (the revocation list is
/// polled every few seconds; this only bounds the delay after a poll).
const REVOCATION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

async fn run(
    mut socket: WebSocket,
    state: SharedState,
    claims: auth_tokens::Claims,
    entry: Arc<Entry>,
    _permit: SocketPermit,
) {
    let first = tagged("session", info(&entry, &state.sessions));
    let idle = state.sessions.idle_timeout();
    // Idle means no push (pings and bad messages do not keep a session open).
    let mut last_push = tokio::time::Instant::now();
    let expires = tokio::time::Instant::now()
        + std::time::Duration::from_secs(claims.exp.saturating_sub(auth_tokens::now_seconds()));
    let mut revocation = tokio::time::interval(REVOCATION_CHECK);
    let mut end = End::ClientGone;
    if send(&mut socket, first).await {
        loop {
            let message = tokio::select! {
                received = tokio::time::timeout_at(last_push + idle, socket.recv()) => received,
                () = state.sessions.closing() => {
                    let _ = send(&mut socket, tagged("closed", finish(&entry).await)).await;
                    end = End::Shutdown;
                    break;
                }
                // Closed elsewhere: over HTTP, or by the idle sweep.
                why = entry.ended() => {
                    end = why;
                    break;
                }
                () = tokio::time::sleep_until(expires) => {
                    end = End::Token;
                    break;
                }
                _ = revocation.tick() => {
                    if state.verifier.is_revoked(&claims) {
                        end = End::Token;
                        break;
                    }
                    continue;
                }
            };
            let message = match message {
                Err(_) => {
                    end = End::Idle;
                    break;
                }
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(error))) => {
                    if too_big(error) {
                        end = End::TooBig;
                    }
                    break;
                }
                Ok(None) => break,
            };
            if claims.exp <= auth_tokens::now_seconds() || state.verifier.is_revoked(&claims) {
                end = End::Token;
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
            if let Err(error) = check_push_text(&state, text.as_bytes()) {
                if send(&mut socket, error_message(&error)).await {
                    continue;
                }
                break;
            }
            let (samples, offset) = match serde_json::from_str::<ClientMessage>(text.as_str()) {
                Ok(ClientMessage::Samples { samples, offset }) => (samples, offset),
                Ok(ClientMessage::Close) => {
                    let _ = send(&mut socket, tagged("closed", finish(&entry).await)).await;
                    end = End::ClientAsked;
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
            drop(text);
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
                end = entry.ended().await;
                break;
            }
        }
    }
    // Ended here (not elsewhere, where it was counted already): count it.
    if state
        .sessions
        .remove(&entry.id, &claims.sub, true, end)
        .is_some()
    {
        state
            .metrics
            .monitor_sessions_closed
            .with_label_values(&[end.label()])
            .inc();
    }
    state
        .metrics
        .monitor_sessions
        .set(state.sessions.len() as i64);
    tracing::info!(session_id = %entry.id, reason = end.reason(), "monitoring socket closed");
    close(socket, end).await;
}

async fn push(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    entry: &Arc<Entry>,
    samples: Vec<f64>,
    offset: Option<u64>,
) -> Result<PushAnswer, ApiError> {
    // Touch the session (the idle sweep), or find it swept.
    let entry = state
        .sessions
        .get(&entry.id, &claims.sub, true)
        .ok_or_else(|| no_session(&entry.id))?;
    push_and_record(state, claims, None, entry, samples, offset).await
}
