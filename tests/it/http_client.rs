//! The project's HTTP client (`src/http_client.rs`) against the SDK's own default client, failure by
//! failure: the SDK's retry decisions rest on how the client classifies a failed exchange, so ours
//! must classify each one as the SDK's does. A new SDK that classifies differently fails this test
//! instead of silently changing which failures are retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_supplychain::config::Credentials;
use aws_sdk_supplychain::error::SdkError;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ID: &str = "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40";

/// How a server misbehaves, once per connection.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Nothing listens on the port.
    Refused,
    /// Reads the request, then resets the connection.
    Reset,
    /// Reads the request, then closes the connection without an answer.
    ClosedWithoutAnswer,
    /// Reads the request and never answers.
    Silent,
    /// Answers a TLS client with bytes that are not TLS.
    NotTls,
    /// Answers `503 Service Unavailable`.
    Status503,
    /// Answers `500 Internal Server Error`.
    Status500,
}

/// A server on a free loopback port, counting the connections it accepted.
async fn serve(misbehaviour: Misbehaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let scheme = if matches!(misbehaviour, Misbehaviour::NotTls) { "https" } else { "http" };
    if matches!(misbehaviour, Misbehaviour::Refused) {
        drop(listener);
        return (format!("http://{address}"), accepted);
    }
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(misbehave(stream, misbehaviour));
        }
    });
    (format!("{scheme}://{address}"), accepted)
}

async fn misbehave(mut stream: TcpStream, misbehaviour: Misbehaviour) {
    let mut buffer = vec![0u8; 16 * 1024];
    let _ = stream.read(&mut buffer).await;
    match misbehaviour {
        Misbehaviour::Refused => unreachable!(),
        Misbehaviour::Reset => {
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
        Misbehaviour::ClosedWithoutAnswer => drop(stream),
        Misbehaviour::Silent => {
            let _ = stream.read(&mut buffer).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Misbehaviour::NotTls => {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        }
        Misbehaviour::Status503 | Misbehaviour::Status500 => {
            let status =
                if matches!(misbehaviour, Misbehaviour::Status503) { "503 Service Unavailable" } else { "500 Internal Server Error" };
            let body = r#"{"message":"unavailable"}"#;
            let answer = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.read(&mut buffer).await;
        }
    }
}

/// A Supply Chain client on `http_client`, with the standard retries (3 attempts, short backoff)
/// and a short read timeout.
fn client(endpoint: &str, http_client: SharedHttpClient) -> aws_sdk_supplychain::Client {
    let config = aws_sdk_supplychain::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKIATESTKEY000000001", "secret", None, None, "tests"))
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(5)))
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).read_timeout(Duration::from_millis(300)).build())
        .http_client(http_client)
        .build();
    aws_sdk_supplychain::Client::from_conf(config)
}

/// What the SDK made of a failure: the kind of error it ended in, how its client classified it,
/// and how many connections the server saw (so, with the retries, how many attempts were made).
#[derive(Debug, PartialEq)]
struct Verdict {
    kind: &'static str,
    classification: String,
    connections: usize,
}

async fn verdict(misbehaviour: Misbehaviour, http_client: SharedHttpClient) -> Verdict {
    let (endpoint, accepted) = serve(misbehaviour).await;
    let error = client(&endpoint, http_client).get_instance().instance_id(ID).send().await.expect_err("the exchange fails");
    let (kind, classification) = match &error {
        SdkError::DispatchFailure(failure) => (
            "dispatch failure",
            format!("io {}, timeout {}, user {}, other {}", failure.is_io(), failure.is_timeout(), failure.is_user(), failure.is_other()),
        ),
        SdkError::TimeoutError(_) => ("timeout", String::new()),
        SdkError::ResponseError(context) => ("response error", context.raw().status().as_u16().to_string()),
        SdkError::ServiceError(context) => ("service error", context.raw().status().as_u16().to_string()),
        other => ("other", format!("{other:?}")),
    };
    Verdict { kind, classification, connections: accepted.load(Ordering::SeqCst) }
}

fn project_client() -> SharedHttpClient {
    // Any certificate will do: no server here completes a TLS handshake.
    let identity = supplychain_emulator::tls::TlsIdentity::generate().unwrap();
    supplychain_delete_instance::trusting(identity.ca_pem().as_bytes()).unwrap()
}

fn sdk_default_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::AwsLc)).build_https()
}

#[tokio::test]
async fn each_failure_is_classified_and_retried_as_the_sdk_default_client_does() {
    let cases = [
        Misbehaviour::Refused,
        Misbehaviour::Reset,
        Misbehaviour::ClosedWithoutAnswer,
        Misbehaviour::Silent,
        Misbehaviour::NotTls,
        Misbehaviour::Status503,
        Misbehaviour::Status500,
    ];
    for misbehaviour in cases {
        let ours = verdict(misbehaviour, project_client()).await;
        let sdk = verdict(misbehaviour, sdk_default_client()).await;
        assert_eq!(ours, sdk, "{misbehaviour:?}");
    }
}

#[tokio::test]
async fn each_failure_ends_as_pinned_here_after_the_standard_retries() {
    // Pinned as well, so that both clients changing the same way fails too. Every failure here is
    // transient to the SDK: three attempts, each on a connection of its own, since the SDK takes a
    // connection out of the pool after a transient failure on it.
    let io = "io true, timeout false, user false, other false";
    let cases = [
        (Misbehaviour::Refused, "dispatch failure", io, 0),
        (Misbehaviour::Reset, "dispatch failure", io, 3),
        (Misbehaviour::ClosedWithoutAnswer, "dispatch failure", "io false, timeout false, user false, other true", 3),
        (Misbehaviour::Silent, "dispatch failure", "io false, timeout true, user false, other false", 3),
        (Misbehaviour::NotTls, "dispatch failure", io, 3),
        (Misbehaviour::Status503, "service error", "503", 3),
        (Misbehaviour::Status500, "service error", "500", 3),
    ];
    for (misbehaviour, kind, classification, connections) in cases {
        let expected = Verdict { kind, classification: classification.to_owned(), connections };
        assert_eq!(verdict(misbehaviour, project_client()).await, expected, "{misbehaviour:?}");
    }
}
