//! The process's one HTTP client, shared by every SDK client it builds.
//!
//! Lambda runs a function with no proxy and no trust store of its own, and that case gets
//! [`Direct`]: hyper 1 and rustls with AWS-LC, as the SDK's default client, but trusting Mozilla's
//! root certificates compiled into the binary (`webpki-roots`, as reqwest and hyper-rustls offer)
//! instead of reading the platform's bundle. Reading a bundle means base64-decoding and parsing
//! every certificate (about 140) at every cold start, and the SDK's own client does it again for
//! every service client it is given to; BENCHMARKS.md measures the cost. Failures are classified,
//! and connections handed to the SDK's retry logic, as the SDK's own client does, since its retry
//! decisions rest on both: `tests/it/http_client.rs` holds each kind of failure against the SDK's
//! own client, so an SDK that classifies differently fails the tests.
//!
//! - `SSL_CERT_FILE` or `SSL_CERT_DIR` set: those certificates are trusted instead, read at init
//!   the way the SDK reads them; none usable stops init with a clear message.
//! - A proxy set (`HTTPS_PROXY`, `ALL_PROXY`, ...): the SDK's own default client, which speaks to
//!   proxies, built once for all service clients ([`SdkDefault`]).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection, HttpConnector as TcpConnector, HttpInfo};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::ConfigError;

/// The HTTP client for every SDK client of the process, chosen from the environment as the module
/// documentation says.
pub fn shared() -> Result<SharedHttpClient, ConfigError> {
    shared_from(&|name| std::env::var_os(name).filter(|value| !value.is_empty()).map(|v| v.to_string_lossy().into_owned()))
}

fn shared_from(get: &dyn Fn(&str) -> Option<String>) -> Result<SharedHttpClient, ConfigError> {
    let proxied =
        ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"].iter().any(|name| get(name).is_some());
    if proxied {
        return Ok(SdkDefault::new().into_shared());
    }
    let roots = if get("SSL_CERT_FILE").is_some() || get("SSL_CERT_DIR").is_some() {
        configured_roots()?
    } else {
        rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
    };
    Ok(Direct::new(roots).into_shared())
}

/// The client `shared` builds without a proxy, trusting only the PEM certificates given (a local
/// HTTPS endpoint's authority, for instance).
pub fn trusting(certificates_pem: &[u8]) -> Result<SharedHttpClient, ConfigError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(certificates_pem) {
        let certificate = certificate.map_err(|e| ConfigError(format!("not a PEM certificate: {e}")))?;
        roots.add(certificate).map_err(|e| ConfigError(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(ConfigError("no certificate to trust".into()));
    }
    Ok(Direct::new(roots).into_shared())
}

/// The certificates of `SSL_CERT_FILE` / `SSL_CERT_DIR`, read as the SDK's default client reads them.
fn configured_roots() -> Result<rustls::RootCertStore, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
        return Err(ConfigError(format!(
            "no usable certificate in SSL_CERT_FILE ({}) or SSL_CERT_DIR ({}){}; set them to PEM certificate files and \
             directories, or unset both to trust the root certificates built into the function",
            std::env::var("SSL_CERT_FILE").unwrap_or_default(),
            std::env::var("SSL_CERT_DIR").unwrap_or_default(),
            if errors.is_empty() { String::new() } else { format!(": {}", errors.join("; ")) }
        )));
    }
    Ok(roots)
}

/// Connect and read timeouts: what distinguishes one connection pool from another.
type PoolKey = (Option<Duration>, Option<Duration>);

/// HTTPS (and plain HTTP, for local endpoints) with one TLS configuration built at init; one
/// connection pool per distinct connect and read timeouts, as the SDK's client keeps them.
#[derive(Debug)]
struct Direct {
    tls: Arc<rustls::ClientConfig>,
    connectors: Mutex<HashMap<PoolKey, SharedHttpConnector>>,
}

impl Direct {
    fn new(roots: rustls::RootCertStore) -> Direct {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the AWS-LC provider supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Direct { tls: Arc::new(tls), connectors: Mutex::new(HashMap::new()) }
    }

    fn connector(&self, connect_timeout: Option<Duration>, read_timeout: Option<Duration>) -> Pooled {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        // Requests are written whole; Nagle's algorithm would only delay them.
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_timer(TokioTimer::new());
        Pooled { client: builder.build(connector), read_timeout }
    }
}

impl HttpClient for Direct {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        connectors.entry(key).or_insert_with(|| self.connector(key.0, key.1).into_shared()).clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(std::borrow::Cow::Borrowed("1.x"))))
    }
}

/// One connection pool.
#[derive(Debug)]
struct Pooled {
    client: Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Pooled {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into()))),
        };
        // After a transient failure the SDK poisons the attempt's connection, so that the retry
        // opens a new one (behind a load balancer, likely to another host); this gives it the handle.
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>().cloned() {
            let captured = capture_connection(&mut request);
            smithy.set_connection_retriever(move || connection_metadata(&captured));
        }
        let sent = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|_| ConnectorError::timeout(format!("no response within the read timeout of {limit:?}").into()))?,
                None => sent.await,
            }
            .map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x)).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The connection a request went out on, as the SDK's retry logic sees it: its addresses, and a way
/// to take it out of the pool.
fn connection_metadata(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    let mut extensions = http::Extensions::new();
    captured.connection_metadata().as_ref()?.get_extras(&mut extensions);
    let info = extensions.get::<HttpInfo>();
    let poisoned = captured.clone();
    let mut builder = ConnectionMetadata::builder().proxied(false).poison_fn(move || {
        if let Some(connected) = poisoned.connection_metadata().as_ref() {
            connected.poison();
        }
    });
    builder.set_local_addr(info.map(HttpInfo::local_addr)).set_remote_addr(info.map(HttpInfo::remote_addr));
    Some(builder.build())
}

/// Sorts a failed exchange the way the SDK's own client does, because the SDK's retry decision
/// rests on it: no connection, a connection that broke or closed, and a timed-out connect are
/// transient (retried); anything else is not.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let timed_out = chain(&error).any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut));
    let hyper_error = chain(&error).find_map(|e| e.downcast_ref::<hyper::Error>());
    if timed_out || hyper_error.is_some_and(hyper::Error::is_timeout) {
        return ConnectorError::timeout(error.into());
    }
    if let Some(hyper_error) = hyper_error {
        if hyper_error.is_user() {
            return ConnectorError::user(error.into());
        }
        if hyper_error.is_incomplete_message() {
            return ConnectorError::other(error.into(), Some(ErrorKind::TransientError));
        }
        if hyper_error.is_closed() || hyper_error.is_canceled() {
            return ConnectorError::io(error.into());
        }
    }
    if error.is_connect() || chain(&error).any(|e| e.is::<std::io::Error>()) {
        return ConnectorError::io(error.into());
    }
    ConnectorError::other(error.into(), None)
}

/// `error` and each error after it in its chain.
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The SDK's default HTTPS client (with its proxy support and the platform's trust store), built
/// once for every service client. Given to several service clients as it is, it would build and
/// drop a connector, parsing the whole trust store, for each one as it is created; wrapped, that
/// check is skipped and the store is parsed once, for the first connection.
#[derive(Debug)]
struct SdkDefault(SharedHttpClient);

impl SdkDefault {
    fn new() -> SdkDefault {
        // How the SDK builds its default client for the current behavior version.
        SdkDefault(Builder::new().build_with_connector_fn(|settings, components| {
            let mut builder = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
            builder.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                builder.set_sleep_impl(components.sleep_impl());
            }
            builder.set_proxy_config(Some(ProxyConfig::from_env()));
            builder.build()
        }))
    }
}

impl HttpClient for SdkDefault {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn chosen(client: &SharedHttpClient) -> String {
        format!("{client:?}")
    }

    #[test]
    fn without_proxy_or_trust_store_settings_the_built_in_roots_are_used() {
        assert!(chosen(&shared_from(&env(&[])).unwrap()).contains("Direct"));
    }

    #[test]
    fn the_built_in_roots_include_those_aws_endpoints_chain_to() {
        let subjects: Vec<&[u8]> = webpki_roots::TLS_SERVER_ROOTS.iter().map(|anchor| anchor.subject.as_ref()).collect();
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(subjects.iter().any(|subject| subject.windows(name.len()).any(|w| w == name.as_bytes())), "{name} is missing");
        }
    }

    #[test]
    fn a_proxy_setting_selects_the_sdk_client_that_speaks_to_proxies() {
        let client = shared_from(&env(&[("HTTPS_PROXY", "http://127.0.0.1:3128")])).unwrap();
        assert!(chosen(&client).contains("SdkDefault"), "{client:?}");
    }
}
