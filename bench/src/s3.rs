//! moto's S3 for the organization sweep at scale: moto's server started from the project's venv on
//! a free loopback port, a bare HTTP client that makes the bucket and reads and writes its objects,
//! and the S3 calls a fault proxy in front of it saw, by operation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use supplychain_emulator::faults::CallRecord;

use crate::options::ACCESS_KEY_ID;

/// moto reads the form of a signature, not its value: the access key names the account.
fn authorization() -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={}",
        "0".repeat(64)
    )
}

/// moto's server, as `scripts/lib/moto.sh` starts it; ended when dropped.
pub(crate) struct MotoServer {
    child: tokio::process::Child,
    /// `127.0.0.1:PORT`.
    pub(crate) address: String,
    log_path: PathBuf,
}

impl MotoServer {
    /// Starts `moto_server` of the venv whose `python` is given, and waits until it answers (at
    /// most 30 s).
    pub(crate) async fn start(python: &Path, work_dir: &Path) -> Result<MotoServer, String> {
        let program = python.parent().map(|bin| bin.join("moto_server")).unwrap_or_default();
        if !program.is_file() {
            return Err(format!(
                "{} is missing: the plan and summary at scale run against moto's S3; `scripts/setup run` installs it in .venv",
                program.display()
            ));
        }
        // A free loopback port, as the kernel hands out: bound once to port 0, then released for the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| format!("a free port: {e}"))?.port();
        let log_path = work_dir.join("moto.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = tokio::process::Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let mut moto = MotoServer { child, address: format!("127.0.0.1:{port}"), log_path };
        moto.wait_until_it_answers().await?;
        Ok(moto)
    }

    async fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if request(&self.address, "GET", "/moto-api/", Bytes::new()).await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto's server ended ({status}) before it answered; its log:\n{}", self.logs()));
            }
            if Instant::now() > deadline {
                return Err(format!("moto's server did not answer on {} within 30 s; its log:\n{}", self.address, self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub(crate) async fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        request(&self.address, "PUT", &format!("/{bucket}"), Bytes::new()).await.map(|_| ())
    }

    pub(crate) async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
        request(&self.address, "PUT", &format!("/{bucket}/{key}"), Bytes::from(body)).await.map(|_| ())
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Bytes, String> {
        request(&self.address, "GET", &format!("/{bucket}/{key}"), Bytes::new()).await
    }
}

/// One request on a connection of its own; the answer's body, or an error unless it is a 200.
async fn request(address: &str, method: &str, path: &str, body: Bytes) -> Result<Bytes, String> {
    let what = format!("S3 {method} {path}");
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("{what}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| format!("{what}: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", address)
        .header("authorization", authorization())
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        // Without a content type moto reads a body as a form, and keeps none of it.
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| format!("{what}: {e}"))?;
    let answer = sender.send_request(request).await.map_err(|e| format!("{what}: {e}"))?;
    let status = answer.status();
    let body = answer.into_body().collect().await.map_err(|e| format!("{what}: {e}"))?.to_bytes();
    if status != 200 {
        return Err(format!("{what}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}

/// S3 calls by operation: the SDK names GetObject and PutObject in the query (`x-id`); any other
/// call by its method and path, so that it shows in a count that expects none.
pub(crate) fn s3_calls(calls: &[CallRecord]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        let named = call.path.split_once('?').and_then(|(_, query)| query.split('&').find_map(|pair| pair.strip_prefix("x-id=")));
        let operation = named.map_or_else(|| format!("{} {}", call.method, call.path), str::to_owned);
        *counts.entry(operation).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str) -> CallRecord {
        CallRecord {
            operation: "Unknown".into(),
            method: method.into(),
            path: path.into(),
            instance_id: None,
            status: 200,
            fault: None,
            request_id: String::new(),
            signed: true,
            access_key_id: None,
            account_id: None,
            region: None,
            caller_arn: None,
            role_arn: None,
            at_millis: 0,
            trace_id: None,
        }
    }

    #[test]
    fn s3_calls_are_named_by_the_sdks_operation_and_any_other_by_method_and_path() {
        let calls = [
            call("PUT", "/plans/plans/s/targets.jsonl?x-id=PutObject"),
            call("GET", "/plans/results/m.json?x-id=GetObject"),
            call("GET", "/plans/results/f.json?x-id=GetObject"),
            call("GET", "/plans?list-type=2"),
        ];

        let counts = s3_calls(&calls);

        assert_eq!(counts.get("PutObject"), Some(&1));
        assert_eq!(counts.get("GetObject"), Some(&2));
        assert_eq!(counts.get("GET /plans?list-type=2"), Some(&1));
    }
}
