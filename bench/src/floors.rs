//! The floors: the raw request on one kept-alive TLS connection, and the SDK call in-process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use supplychain_emulator::tls::TlsIdentity;
use supplychain_emulator::{Emulator, SeedInstance};

use supplychain_testkit::REGION;

use crate::measure::Samples;
use crate::options::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// The service floor: one TLS connection (its handshake is returned), then `requests` DELETE
/// requests on it, each timed from sending to the last byte of the answer.
pub(crate) async fn measure_service_floor(
    emulator: &Emulator,
    identity: &TlsIdentity,
    requests: usize,
    samples: &mut Samples,
) -> Result<Duration, String> {
    let ids: Vec<String> = (0..requests).map(|_| emulator.seed(SeedInstance::default()).instance_id).collect();
    let addr = emulator.addr();
    let ca = identity.ca_der().to_vec();
    let (handshake, times) = on_own_thread("service floor", move || raw_client(addr, ca, ids)).await?;
    samples.record_calls(times);
    Ok(handshake)
}

/// Runs a floor's client on a thread and single-threaded runtime of its own, like a function
/// process, away from the emulator's.
pub(crate) async fn on_own_thread<T, F>(floor: &str, client: impl FnOnce() -> F + Send + 'static) -> Result<T, String>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>>,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(client())
    })
    .await
    .map_err(|e| format!("{floor}: {e}"))?
}

pub(crate) async fn raw_client(addr: std::net::SocketAddr, ca_der: Vec<u8>, ids: Vec<String>) -> Result<(Duration, Vec<Duration>), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca_der)).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("service floor: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::from(addr.ip());
    let tls = connector.connect(name, tcp).await.map_err(|e| format!("service floor TLS: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| format!("service floor: {e}"))?;
    let handshake = started.elapsed();
    tokio::spawn(connection);
    let host = addr.to_string();
    let mut times = Vec::with_capacity(ids.len());
    for id in ids {
        // A well-formed SigV4 header: the emulator runs without credentials and checks only its form.
        let request = hyper::Request::delete(format!("/api/instance/{id}"))
            .header("host", &host)
            .header("x-amz-date", "20260101T000000Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/scn/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={}",
                    "0".repeat(64)
                ),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let response = sender.send_request(request).await.map_err(|e| format!("service floor: {e}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("service floor: {e}"))?.to_bytes();
        times.push(sent.elapsed());
        if status != 200 {
            return Err(format!("service floor: DELETE answered {status}: {}", String::from_utf8_lossy(&body)));
        }
    }
    Ok((handshake, times))
}

/// The SDK floor: `aws-sdk-supplychain` as the functions set it up (their HTTP client, trusting
/// the benchmark's authority, and their attempt timeout), on a thread and single-threaded runtime
/// of its own like the service floor, sending `requests` DeleteInstance calls one after the other.
/// Each is timed from `send` to the parsed answer; the first includes the connection.
pub(crate) async fn measure_sdk_floor(
    emulator: &Emulator,
    identity: &TlsIdentity,
    requests: usize,
    samples: &mut Samples,
) -> Result<(), String> {
    let ids: Vec<String> = (0..requests).map(|_| emulator.seed(SeedInstance::default()).instance_id).collect();
    let endpoint = emulator.endpoint();
    let ca_pem = identity.ca_pem().to_owned();
    samples.record_calls(on_own_thread("SDK floor", move || sdk_client(endpoint, ca_pem, ids)).await?);
    Ok(())
}

pub(crate) async fn sdk_client(endpoint: String, ca_pem: String, ids: Vec<String>) -> Result<Vec<Duration>, String> {
    use aws_config::{BehaviorVersion, Region};
    let http = supplychain_delete_instance::trusting(ca_pem.as_bytes()).map_err(|e| format!("SDK floor: {e}"))?;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_supplychain::config::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "bench"))
        .http_client(http)
        .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(5)).build())
        .load()
        .await;
    let client = aws_sdk_supplychain::Client::new(&config);
    let mut times = Vec::with_capacity(ids.len());
    for id in ids {
        let sent = Instant::now();
        let output = client
            .delete_instance()
            .instance_id(&id)
            .send()
            .await
            .map_err(|e| format!("SDK floor: {}", aws_sdk_supplychain::error::DisplayErrorContext(&e)))?;
        times.push(sent.elapsed());
        let state = output.instance().map(|instance| instance.state().as_str().to_owned());
        if state.as_deref() != Some("Deleting") {
            return Err(format!("SDK floor: DeleteInstance answered state {state:?}"));
        }
    }
    Ok(times)
}

/// What the functions are measured against: the raw request and its handshakes, and the SDK call.
pub(crate) struct Floors {
    pub(crate) service: Samples,
    pub(crate) handshakes: Vec<Duration>,
    pub(crate) sdk: Samples,
}
