//! The composition root: each function built from the environment, with every adapter it uses
//! (Supply Chain, the event bus, the scheduler, the dead-letter queue) made here, once at init, from
//! one SDK configuration shared by every invocation.

use crate::check::CheckFunction;
use crate::config::{CheckSettings, CommonSettings, ConfigError, DeleteSettings, SweepSettings};
use crate::dead_letters::DeadLetterQueue;
use crate::delete::DeleteFunction;
use crate::events::EventBus;
use crate::http_client;
use crate::notice_key::NoticeKey;
use crate::plan_store::PlanStore;
use crate::scheduler::Scheduler;
use crate::supply_chain::{SupplyChain, TargetClients};
use crate::sweep::SweepFunction;

/// Builds the delete function from the environment: settings first (so a bad value stops init with a
/// clear message), then the SDK clients from `aws-config` defaults (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL_SUPPLYCHAIN`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL_SQS`, ...).
pub async fn delete_function_from_env() -> Result<DeleteFunction, ConfigError> {
    let settings = DeleteSettings::from_env()?;
    let adapters = Adapters::load(&settings.common).await?;
    let dead_letters = settings.dead_letter_queue_url.as_ref().map(|url| adapters.dead_letter_queue(url));
    let supply_chains = adapters.supply_chains(&settings.common, "supplychain-delete-instance");
    Ok(DeleteFunction::new(supply_chains, adapters.bus, settings).with_dead_letters(dead_letters))
}

/// Builds the status checker from the environment, as [`delete_function_from_env`] does
/// (`AWS_ENDPOINT_URL_SCHEDULER` and the other standard variables apply).
pub async fn check_function_from_env() -> Result<CheckFunction, ConfigError> {
    let settings = CheckSettings::from_env()?;
    let adapters = Adapters::load(&settings.common).await?;
    let scheduler = adapters.scheduler(&settings);
    let supply_chains = adapters.supply_chains(&settings.common, "supplychain-check-instance-status");
    Ok(CheckFunction::new(supply_chains, adapters.bus, scheduler, settings))
}

/// Builds the sweep from the environment, as [`delete_function_from_env`] does; its settings
/// require `EVENT_BUS_NAME`.
pub async fn sweep_function_from_env() -> Result<SweepFunction, ConfigError> {
    let settings = SweepSettings::from_env()?;
    let adapters = Adapters::load(&settings.common).await?;
    let bus = adapters.bus.clone().ok_or_else(|| ConfigError("EVENT_BUS_NAME is not set, but the sweep needs it".to_owned()))?;
    let supply_chains = adapters.supply_chains(&settings.common, "supplychain-instance-sweep");
    let organizations = aws_sdk_organizations::Client::new(&adapters.sdk_config);
    // The key is the stack's, in the function's own account and region, whatever target is swept.
    let notice_key = settings.notice_key_id.as_ref().map(|key| NoticeKey::new(aws_sdk_kms::Client::new(&adapters.sdk_config), key));
    let plans = settings.plan_bucket.as_ref().map(|bucket| PlanStore::new(aws_sdk_s3::Client::new(&adapters.sdk_config), bucket));
    Ok(SweepFunction::new(supply_chains, bus, settings).with_organizations(organizations, plans).with_notice_key(notice_key))
}

/// The adapters, all made from one SDK configuration.
struct Adapters {
    sdk_config: aws_config::SdkConfig,
    supply_chain: SupplyChain,
    bus: Option<EventBus>,
}

impl Adapters {
    /// With `CONNECT_AT_INIT` (default `true`) the Supply Chain connection is opened here, during
    /// init: see [`open_connection`].
    async fn load(settings: &CommonSettings) -> Result<Adapters, ConfigError> {
        let sdk_config = load_sdk_config(settings).await?;
        let client = aws_sdk_supplychain::Client::new(&sdk_config);
        if settings.connect_at_init {
            open_connection(&client).await;
        }
        let bus = settings.event_bus.as_ref().map(|name| EventBus::new(aws_sdk_eventbridge::Client::new(&sdk_config), name));
        Ok(Adapters { supply_chain: SupplyChain::new(client), bus, sdk_config })
    }

    /// The Supply Chain clients of every target; `session_name` says which function asks, in the
    /// member accounts' records of the role sessions.
    fn supply_chains(&self, settings: &CommonSettings, session_name: &str) -> TargetClients {
        TargetClients::new(
            self.supply_chain.clone(),
            self.sdk_config.clone(),
            &settings.member_role_name,
            settings.member_session,
            session_name,
        )
    }

    fn dead_letter_queue(&self, url: &str) -> DeadLetterQueue {
        DeadLetterQueue::new(aws_sdk_sqs::Client::new(&self.sdk_config), url)
    }

    fn scheduler(&self, settings: &CheckSettings) -> Scheduler {
        Scheduler::new(
            aws_sdk_scheduler::Client::new(&self.sdk_config),
            settings.schedule_group.clone(),
            settings.scheduler_role_arn.clone(),
        )
        .with_dead_letter_arn(settings.schedule_dead_letter_arn.clone())
    }
}

/// The SDK configuration of every client: `aws-config`'s defaults (`AWS_REGION`, credentials, the
/// `AWS_ENDPOINT_URL_*` variables, retries), with
/// - each HTTP attempt limited to `ATTEMPT_TIMEOUT_MS`, so a stalled answer is retried (each whole
///   call, retries included, is limited by the invocation's budget: [`crate::deadline::Budget::within`]);
/// - one HTTP client for all of them, trusting the root certificates built in ([`crate::http_client`]).
pub(crate) async fn load_sdk_config(settings: &CommonSettings) -> Result<aws_config::SdkConfig, ConfigError> {
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
pub(crate) async fn open_connection(client: &aws_sdk_supplychain::Client) {
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
