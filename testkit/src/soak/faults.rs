//! Faults at a stated rate, through the project's one fault system: each call a server receives
//! (the emulator's Supply Chain and STS, and the fault proxy in front of EventBridge, Scheduler and
//! SQS) is hit with probability `rate`, by a kind drawn from [`KINDS`].
//!
//! The fault system takes counted rules; a rate is made of them. Rules that match every call
//! (`"*"`) apply in order, and a rule still skipping counts each call that no earlier rule took, so
//! a rule appended behind pending rules whose remaining skips are `b_0 <= ... <= b_(k-1)` with a
//! skip of `b_(k-1) + g - 1` takes the call `g` after the last of them: drawing each gap `g` from
//! the geometric distribution of `rate` makes every call a fault with probability `rate`. A few
//! rules are kept pending at a time (each call walks them all). The rate actually injected is
//! read back from the call logs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use supplychain_emulator::{Emulator, Fault, FaultProxy, FaultRule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::random::Random;

/// The kinds of fault, with their weights: throttling, 500, 503, a connection closed without an
/// answer (a reset), and an answer slower than the SDK's attempt timeout.
pub const KINDS: [(&str, u32); 5] = [("throttle", 3), ("internal", 2), ("unavailable", 2), ("drop", 2), ("timeout", 1)];

/// How many rules are kept pending on each server.
const PENDING: usize = 8;

/// The fault for a kind of [`KINDS`]; `timeout_ms` is the delay of `timeout`.
fn fault(kind: &str, timeout_ms: u64) -> Fault {
    match kind {
        "throttle" => Fault::Throttle,
        "internal" => Fault::Internal,
        "unavailable" => Fault::Unavailable,
        "drop" => Fault::Drop,
        _ => Fault::delay(timeout_ms),
    }
}

/// A server whose pending rules can be read and added to.
pub enum Server {
    Emulator(Emulator),
    Proxy(FaultProxy),
}

impl Server {
    async fn pending(&self) -> Result<Vec<FaultRule>, String> {
        match self {
            Server::Proxy(proxy) => Ok(proxy.faults()),
            // The emulator's pending rules are read through its admin API.
            Server::Emulator(emulator) => {
                let text = admin_get(emulator.addr(), "/_emulator/faults").await?;
                serde_json::from_value::<Vec<FaultRule>>(text).map_err(|e| format!("the emulator's faults: {e}"))
            }
        }
    }

    fn inject(&self, rule: FaultRule) {
        match self {
            Server::Proxy(proxy) => proxy.inject(rule),
            Server::Emulator(emulator) => emulator.inject(rule),
        }
    }

    fn clear(&self) {
        match self {
            Server::Proxy(proxy) => proxy.clear_faults(),
            Server::Emulator(emulator) => emulator.clear_faults(),
        }
    }
}

/// Keeps each server's pending rules topped up until `stop` is set, then removes them. Answers,
/// for each server, the faults injected by kind: rules apply in the order they were added, so the
/// first `added - pending` of them are the ones that applied. (A call left unanswered past the
/// client's timeout is cut off before the server logs it, so the call logs cannot count those.)
pub async fn feed(
    servers: Vec<Server>,
    rate: f64,
    timeout_ms: u64,
    seed: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<Vec<BTreeMap<&'static str, usize>>, String> {
    let mut random = Random::new(seed);
    let mut added: Vec<Vec<&'static str>> = vec![Vec::new(); servers.len()];
    let mut injected = vec![BTreeMap::new(); servers.len()];
    if rate <= 0.0 {
        return Ok(injected);
    }
    loop {
        let stopping = stop.load(std::sync::atomic::Ordering::Relaxed);
        for (index, server) in servers.iter().enumerate() {
            let pending = server.pending().await?;
            if stopping {
                server.clear();
                let applied = added[index].len().saturating_sub(pending.len());
                for kind in &added[index][..applied] {
                    *injected[index].entry(*kind).or_insert(0) += 1;
                }
                continue;
            }
            let mut last = pending.last().map(|rule| rule.skip);
            for _ in pending.len()..PENDING {
                let gap = random.geometric(rate);
                let skip = last.map_or(gap - 1, |b| b + gap - 1);
                let kind = random.weighted(&KINDS);
                server.inject(FaultRule::new("*", 1, fault(kind, timeout_ms)).after(skip));
                added[index].push(kind);
                last = Some(skip);
            }
        }
        if stopping {
            return Ok(injected);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `GET path` of a local HTTP/1.1 server, its body as JSON.
async fn admin_get(addr: std::net::SocketAddr, path: &str) -> Result<Value, String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body).ok_or("no HTTP answer")?;
    serde_json::from_str(body).map_err(|e| format!("GET {path}: {e}: {body}"))
}
