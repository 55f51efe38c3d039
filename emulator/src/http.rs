//! The HTTP/1.1 serving every server of the crate is built on: the emulator, the Lambda Runtime and
//! Invoke APIs and the fault proxy.
//!
//! Each server is a single async handler function over fully buffered requests and responses;
//! this module owns everything else: accepting connections, running hyper on each of them, and
//! stopping gracefully when asked. It also builds the JSON answers and reads the headers the
//! handlers share, the answers of the Lambda Runtime and Extensions APIs among them.
//!
//! A handler may answer [`Err(Dropped)`](Dropped) instead of a response: hyper then closes the
//! connection without writing a single byte, which is how the emulator simulates a network drop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::common::lock;

/// A request whose body has been read completely.
pub type Request = hyper::Request<Bytes>;

/// A response with a fully buffered body.
pub type Response = hyper::Response<Full<Bytes>>;

/// How long connections still busy with a request may take to finish once the server stops.
const GRACE: Duration = Duration::from_secs(2);

/// Returned by a handler to close the connection without sending any response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

/// The owning side of a stop signal: dropping it (or calling [`StopHandle::stop`]) stops the server.
#[derive(Debug)]
pub struct StopHandle {
    _sender: watch::Sender<()>,
}

impl StopHandle {
    /// Stops the server; equivalent to dropping the handle.
    pub fn stop(self) {}
}

/// The listening side of a stop signal; cheap to clone, so handlers can also wait on it.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<()>);

impl StopSignal {
    /// Resolves once the matching [`StopHandle`] is gone.
    pub async fn stopped(&mut self) {
        // Nothing is ever sent on the channel: `changed` only fails when the sender is dropped.
        while self.0.changed().await.is_ok() {}
    }
}

/// Creates a linked stop handle and signal.
pub fn stop_pair() -> (StopHandle, StopSignal) {
    let (tx, rx) = watch::channel(());
    (StopHandle { _sender: tx }, StopSignal(rx))
}

/// Binds a TCP listener; port 0 picks a free port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves HTTP/1.1 on `listener` until `stop` fires.
///
/// Every request body is read completely before `handler` runs. On stop, the loop stops accepting,
/// asks every open connection to finish its current exchange and close, and aborts the ones that
/// are still busy after a short grace period, so a handler that never answers cannot keep the
/// server alive.
pub async fn serve<H, F>(listener: TcpListener, handler: H, stop: StopSignal)
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response, Dropped>> + Send + 'static,
{
    serve_upgraded(listener, |stream| async move { Some(stream) }, handler, stop).await
}

/// Like [`serve`], but each accepted connection first goes through `upgrade` (for instance a TLS
/// handshake), inside the connection's own task so a slow client cannot hold up accepting; a
/// connection `upgrade` turns into `None` is closed.
pub(crate) async fn serve_upgraded<U, UF, IO, H, F>(listener: TcpListener, upgrade: U, handler: H, stop: StopSignal)
where
    U: Fn(TcpStream) -> UF + Clone + Send + Sync + 'static,
    UF: Future<Output = Option<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response, Dropped>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let mut accept_stop = stop.clone();
    loop {
        tokio::select! {
            _ = accept_stop.stopped() => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Accept errors (for instance too many open files) are transient: keep serving.
                    continue;
                };
                let handler = handler.clone();
                let upgrade = upgrade.clone();
                let mut conn_stop = stop.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            // A client that goes away mid-body leaves nothing worth answering.
                            let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
                            handler(hyper::Request::from_parts(parts, body)).await
                        }
                    });
                    let _ = stream.set_nodelay(true);
                    let io = tokio::select! {
                        io = upgrade(stream) => match io {
                            Some(io) => io,
                            None => return,
                        },
                        _ = conn_stop.stopped() => return,
                    };
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = conn_stop.stopped() => {}
                    }
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACE, conn).await;
                });
            }
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// What keeps a server running: owned by its handles only (never by the server task), so that the
/// last handle going away drops the stop handle and thereby stops the server.
pub(crate) struct Lifetime {
    stop: std::sync::Mutex<Option<StopHandle>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Lifetime {
    pub(crate) fn new(stop: StopHandle, task: tokio::task::JoinHandle<()>) -> std::sync::Arc<Lifetime> {
        std::sync::Arc::new(Lifetime { stop: std::sync::Mutex::new(Some(stop)), task: std::sync::Mutex::new(Some(task)) })
    }

    /// Stops the server for every handle and waits until its port is closed.
    pub(crate) async fn shutdown(&self) {
        drop(lock(&self.stop).take());
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Builds a JSON response with the given status and extra headers.
pub fn json_response(status: u16, body: Vec<u8>, headers: &[(&str, String)]) -> Response {
    let mut builder = hyper::Response::builder().status(status).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| internal_error())
}

/// Like [`json_response`], with `body` serialised.
pub(crate) fn json(status: u16, body: &serde_json::Value, headers: &[(&str, String)]) -> Response {
    json_response(status, body.to_string().into_bytes(), headers)
}

/// An XML response (`text/xml`, as the Query protocol answers) carrying `x-amzn-requestid`.
pub(crate) fn xml(status: u16, body: String, request_id: &str) -> Response {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", request_id)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| internal_error())
}

/// An error answer of the Lambda Runtime and Extensions APIs: `{"errorMessage", "errorType"}`.
pub(crate) fn lambda_error(status: u16, error_type: &str, message: String) -> Response {
    json(status, &serde_json::json!({ "errorMessage": message, "errorType": error_type }), &[])
}

/// 202 `{"status": "OK"}`: how the Lambda Runtime and Extensions APIs accept a report.
pub(crate) fn accepted() -> Response {
    json(202, &serde_json::json!({ "status": "OK" }), &[])
}

/// A posted body as JSON, or as a JSON string when it is not JSON.
pub(crate) fn body_value(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A header's value, when present and visible ASCII.
pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn internal_error() -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
