//! The SDK clients, built once at init from one SDK configuration and shared by every invocation.

use crate::config::{CommonSettings, ConfigError};
use crate::events::EventBus;
use crate::http_client;
use crate::supply_chain::SupplyChain;

/// The clients the functions share, built once at init from one SDK configuration.
pub(crate) struct Clients {
    pub(crate) sdk_config: aws_config::SdkConfig,
    pub(crate) supply_chain: SupplyChain,
    pub(crate) bus: Option<EventBus>,
}

impl Clients {
    /// With `CONNECT_AT_INIT` (default `true`) the Supply Chain connection is opened here, during
    /// init: see [`open_connection`].
    pub(crate) async fn load(settings: &CommonSettings) -> Result<Clients, ConfigError> {
        let sdk_config = load_sdk_config(settings).await?;
        let client = aws_sdk_supplychain::Client::new(&sdk_config);
        if settings.connect_at_init {
            open_connection(&client).await;
        }
        let bus = settings.event_bus.as_ref().map(|name| EventBus::new(aws_sdk_eventbridge::Client::new(&sdk_config), name));
        Ok(Clients { supply_chain: SupplyChain::new(client), bus, sdk_config })
    }
}

/// The SDK configuration of every client: `aws-config`'s defaults (`AWS_REGION`, credentials, the
/// `AWS_ENDPOINT_URL_*` variables, retries), with
/// - each HTTP attempt limited to `ATTEMPT_TIMEOUT_MS`, so a stalled answer is retried (each whole
///   call, retries included, is limited by the invocation's budget: [`crate::deadline::Budget::within`]);
/// - one HTTP client for all of them, trusting the root certificates built in ([`crate::http_client`]).
pub async fn load_sdk_config(settings: &CommonSettings) -> Result<aws_config::SdkConfig, ConfigError> {
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder().operation_attempt_timeout(settings.attempt_timeout).build();
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client::shared()?).timeout_config(timeouts);
    Ok(loader.load().await)
}

/// Opens the HTTPS connection to the Supply Chain endpoint during init, so the first invocation
/// finds it in the client's pool instead of paying the TCP and TLS handshakes itself: the
/// handshake is the largest single cost of a cold invocation, and at init it is outside the first
/// invocation's latency and deadline (BENCHMARKS.md measures both choices).
///
/// It goes through the client exactly as the calls do (endpoint resolution, credentials, the same
/// connector), but [`ConnectionOnly`] turns the request into an unsigned `HEAD /`: no operation
/// is performed and no permission is needed. Its answer does not matter, and a failure (or no
/// connection within 2 s) is only logged: the first call then connects as usual. Over plain HTTP
/// (local endpoints) nothing is sent, as there is no handshake worth moving.
pub async fn open_connection(client: &aws_sdk_supplychain::Client) {
    use aws_sdk_supplychain::config::retry::RetryConfig;
    // Only the retries are overridden: the connect and read timeouts stay the calls' own, and with
    // them the pooled connector the calls will use.
    let overrides = aws_sdk_supplychain::config::Builder::default().retry_config(RetryConfig::disabled());
    let sent = client
        .get_instance()
        .instance_id("00000000-0000-0000-0000-000000000000")
        .customize()
        .config_override(overrides)
        .interceptor(ConnectionOnly)
        .send();
    match tokio::time::timeout(std::time::Duration::from_secs(2), sent).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::debug!(error = %aws_sdk_supplychain::error::DisplayErrorContext(&error), "connection opened at init");
        }
        Err(_) => tracing::debug!("the connection was not opened at init within 2 s"),
    }
}

/// Rewrites a request, once endpoint and signature are done, into an unsigned `HEAD /` on the same
/// endpoint; refuses to send it over plain HTTP.
#[derive(Debug)]
struct ConnectionOnly;

impl aws_sdk_supplychain::config::Intercept for ConnectionOnly {
    fn name(&self) -> &'static str {
        "ConnectionOnly"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_supplychain::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_supplychain::config::RuntimeComponents,
        _cfg: &mut aws_sdk_supplychain::config::ConfigBag,
    ) -> Result<(), aws_sdk_supplychain::error::BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_owned();
        let Some(rest) = uri.strip_prefix("https://") else {
            return Err("not an https endpoint: no connection to open at init".into());
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        request.set_uri(format!("https://{authority}/"))?;
        request.set_method("HEAD")?;
        let headers = request.headers_mut();
        for name in ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "content-type", "content-length"] {
            headers.remove(name);
        }
        *request.body_mut() = aws_smithy_types::body::SdkBody::empty();
        Ok(())
    }
}
