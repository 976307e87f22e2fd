//! Bedside monitoring over two transports on one session registry: plain HTTP ([`http`])
//! and a WebSocket ([`socket`]).

pub(crate) mod http;
mod socket;

use axum::routing::{get, post};
use axum::Router;

use crate::state::SharedState;
use http::{close_session, open_session, push_samples, session_status};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/monitor", get(socket::monitor_socket))
        .route("/monitor/sessions", post(open_session))
        .route(
            "/monitor/sessions/{id}",
            get(session_status).delete(close_session),
        )
        .route("/monitor/sessions/{id}/samples", post(push_samples))
}
