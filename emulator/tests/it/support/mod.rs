//! Helpers shared by the integration tests: a minimal raw HTTP/1.1 client, and (`supply_chain`)
//! the emulator and SDK client the Supply Chain tests start.

#![allow(dead_code)]

pub mod supply_chain;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The address a local Lambda Runtime API listens on.
pub fn runtime_addr(api: &supplychain_emulator::runtime_api::RuntimeApi) -> SocketAddr {
    api.address().parse().unwrap()
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and returns the raw bytes of the
/// answer; an empty vector means the server closed the connection without answering.
pub async fn raw_bytes(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut answer = Vec::new();
    // A reset connection counts as "no answer", like a clean close.
    let _ = stream.read_to_end(&mut answer).await;
    answer
}

/// Sends one request and parses the response.
pub async fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let bytes = raw_bytes(addr, method, path, headers, body).await;
    parse(&bytes)
}

/// Parses an HTTP/1.1 response (a complete one, read until the connection closed).
pub fn parse(bytes: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("incomplete HTTP response: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    RawResponse { status, headers, body: body.to_owned() }
}

/// Starts the emulator's binary with `args` (a free port and a seed among them), and returns the
/// process, stopped when dropped, and the endpoint its first line announces.
pub async fn spawn_binary(args: &[&std::ffi::OsStr]) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplychain-emulator"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("a first line");
    let endpoint = line.strip_prefix("listening on ").expect("listening line").to_owned();
    (child, endpoint)
}
