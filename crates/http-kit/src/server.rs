//! Serving a router with the limits a public socket needs, which `axum::serve` does not set:
//! * a header-read timeout: a client must send a request's headers within it. hyper starts
//!   the timer whenever the connection waits for a request, so it also closes idle
//!   keep-alive connections and connections that never send anything (slowloris);
//! * a write timeout: a client that stops reading its answer (a slow reader holding a
//!   connection slot) is cut off once a write has waited that long;
//! * a cap on open connections: at the cap the server stops accepting until one closes, so
//!   sockets, file descriptors and memory stay bounded;
//! * graceful shutdown: no new connections, in-flight requests finish (bounded by `drain`).
//!
//! Request bodies and handlers are bounded by the request timeout of
//! [`standard_layers`](crate::standard_layers).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// What one server allows its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// The most time to send a request's headers, counted from when the connection starts
    /// waiting for a request (so also the idle keep-alive limit).
    pub header_read_timeout: Duration,
    /// The most time one write to the client may wait (a client not reading its answer).
    pub write_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain: Duration,
}

impl ServerLimits {
    /// The limits a service has unless configured otherwise (the flags' defaults).
    pub const DEFAULT: Self = Self {
        header_read_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(30),
        max_connections: 1024,
        drain: Duration::from_secs(30),
    };
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains. Handlers can read
/// the peer address with `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let stopping = tokio::sync::watch::Sender::new(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let stream = Box::pin(stream);
        let service =
            router
                .clone()
                .map_request(move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.map(axum::body::Body::new)
                });
        // With upgrades: a WebSocket route (inference's /monitor) takes the connection over
        // and runs in its own task (bounded by that route), returning this slot.
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stop = stopping.subscribe();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                    // Finish the request in flight, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection closed: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Drained when every connection has given its slot back.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests did not finish within {} s",
            limits.drain.as_secs()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn spawn(limits: ServerLimits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        address
    }

    fn limits(header_read_timeout_ms: u64, max_connections: usize) -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_millis(header_read_timeout_ms),
            write_timeout: Duration::from_millis(header_read_timeout_ms),
            max_connections,
            drain: Duration::from_secs(1),
        }
    }

    /// Reads until the server closes the connection; returns what came and when it closed.
    async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
        let started = Instant::now();
        let mut text = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => text.extend_from_slice(&buffer[..n]),
                Err(_) => panic!("the server kept the connection open for {limit:?}"),
            }
        }
        (
            String::from_utf8_lossy(&text).into_owned(),
            started.elapsed(),
        )
    }

    #[tokio::test]
    async fn a_slow_header_is_cut_off() {
        let address = spawn(limits(500, 16)).await;
        let mut slow = TcpStream::connect(address).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let (_, closed_after) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
        assert!(closed_after < Duration::from_secs(3), "{closed_after:?}");
    }

    #[tokio::test]
    async fn silent_and_idle_connections_are_closed() {
        let address = spawn(limits(500, 16)).await;
        let mut silent = TcpStream::connect(address).await.unwrap();
        let (_, closed_after) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
        assert!(closed_after < Duration::from_secs(3));

        let mut idle = TcpStream::connect(address).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let (text, closed_after) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("127.0.0.1"), "handlers see the peer: {text}");
        assert!(
            closed_after < Duration::from_secs(3),
            "idle keep-alive closed"
        );
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // An answer far larger than the socket buffers.
        let big = "x".repeat(64 * 1024 * 1024);
        let router = Router::new().route("/", get(move || async move { big.clone() }));
        tokio::spawn(serve(
            listener,
            router,
            limits(500, 16),
            std::future::pending(),
        ));
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut reader = socket.connect(address).await.unwrap();
        reader
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        // Read a little, then stop reading: the server's writes stall and time out.
        let mut first = [0u8; 1024];
        let _ = reader.read(&mut first).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let started = Instant::now();
        let mut total = 0usize;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => total += n,
                Err(_) => panic!("the connection stayed open"),
            }
        }
        assert!(
            total < 64 * 1024 * 1024,
            "the answer was cut off ({total} bytes read)"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn at_the_connection_cap_new_clients_wait() {
        let address = spawn(limits(800, 2)).await;
        let _a = TcpStream::connect(address).await.unwrap();
        let _b = TcpStream::connect(address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let mut c = TcpStream::connect(address).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let (text, _) = read_until_closed(&mut c, Duration::from_secs(5)).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        // Served only once one of the two silent connections timed out.
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
}
