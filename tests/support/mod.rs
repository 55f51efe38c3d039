//! Shared test support: fixtures from `events/`, an emulator with signature checking, SDK clients
//! that talk HTTP to it (and to moto's server), and Lambda contexts.
#![allow(dead_code)]

pub mod emf;
pub mod tools;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_supplychain::config::Credentials;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use supplychain_delete_instance::config::DeleteSettings;
pub use supplychain_delete_instance::input::Payload;
use supplychain_delete_instance::supply_chain::SupplyChain;
use supplychain_delete_instance::DeleteFunction;
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance, StaticCredentials};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const DELETE_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:delete-instance";
pub const CHECK_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:check-instance-status";
pub const ACCESS_KEY_ID: &str = "AKIATESTKEY000000001";
pub const SECRET_ACCESS_KEY: &str = "test/secret/key/for/the/local/emulator";
/// The instance the fixtures in `events/` name.
pub const FIXTURE_ID: &str = "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40";
/// The second instance of `events/sqs-batch.json`.
pub const FIXTURE_ID_2: &str = "5e7a9c1b-3d2f-4a6e-8b0c-1f3e5a7c9d2b";

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A fixture exactly as a user passes it to `cargo lambda invoke --data-file events/...`.
pub fn fixture(name: &str) -> Value {
    let path = repo_path("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture file under `events/<dir>`, by name.
pub fn fixtures_in(dir: &str) -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(repo_path("events").join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), fixture(&format!("{dir}/{n}")))).collect()
}

/// An emulator that checks every request's SigV4 signature against the test credentials.
pub async fn emulator() -> Emulator {
    emulator_with(EmulatorConfig::default()).await
}

pub async fn emulator_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(checking_signatures(config)).await.expect("emulator starts")
}

/// Like [`emulator`], serving HTTPS with `identity`'s certificate.
pub async fn https_emulator(identity: &supplychain_emulator::tls::TlsIdentity) -> Emulator {
    Emulator::start_tls(checking_signatures(EmulatorConfig::default()), identity).await.expect("emulator starts")
}

fn checking_signatures(config: EmulatorConfig) -> EmulatorConfig {
    let credentials = StaticCredentials {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET_ACCESS_KEY.into(),
        session_token: None,
    };
    EmulatorConfig { credentials: Some(credentials), ..config }
}

pub fn seed(emulator: &Emulator, id: &str) {
    emulator.seed(SeedInstance { instance_id: Some(id.into()), ..Default::default() });
}

pub fn seed_with_tags(emulator: &Emulator, id: &str, tags: &[(&str, &str)]) {
    emulator.seed(SeedInstance {
        instance_id: Some(id.into()),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    });
}

/// SDK configuration as the functions load it, pointed at `endpoint`, with short retry backoff
/// so retry tests stay quick (the attempt count is the SDK's standard one).
pub async fn sdk_config(endpoint: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, secret, None, None, "tests"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(10)))
        .load()
        .await
}

pub async fn supply_chain(endpoint: &str) -> SupplyChain {
    SupplyChain::new(aws_sdk_supplychain::Client::new(&sdk_config(endpoint, SECRET_ACCESS_KEY).await))
}

pub fn settings(env: &[(&str, &str)]) -> DeleteSettings {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    DeleteSettings::from_lookup(&|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
}

pub async fn delete_function(emulator: &Emulator, env: &[(&str, &str)]) -> DeleteFunction {
    DeleteFunction::new(supply_chain(&emulator.endpoint()).await, None, settings(env))
}

/// A Lambda context with a deadline `within` from now.
pub fn context(function_arn: &str, within: Duration) -> Context {
    let deadline = SystemTime::now() + within;
    context_at(function_arn, deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

pub fn context_at(function_arn: &str, deadline_ms: u64) -> Context {
    let mut context = Context::default();
    context.request_id = format!("test-{}", deadline_ms);
    context.invoked_function_arn = function_arn.to_owned();
    context.deadline = deadline_ms;
    context
}

pub fn event(payload: Value) -> LambdaEvent<Payload> {
    LambdaEvent::new(Payload::Json(payload), context(DELETE_ARN, Duration::from_secs(30)))
}

/// The states an instance went through, as the emulator recorded them.
pub fn states(emulator: &Emulator, id: &str) -> Vec<String> {
    emulator.history(id).into_iter().map(|change| change.state).collect()
}

/// moto's server, started by `scripts/test`, standing in for EventBridge, EventBridge Scheduler and SQS.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT_URL")
        .expect("MOTO_ENDPOINT_URL is not set: run the test suite with ./scripts/test, which starts moto's server")
}

/// A bus of its own for one test, with a rule delivering everything this project announces to an
/// SQS queue (read by the test as a subscriber would), and a schedule group of its own.
pub struct Moto {
    /// Where the functions send their calls: a fault proxy in front of moto, which forwards
    /// everything unless a test injects a fault.
    pub proxy: supplychain_emulator::FaultProxy,
    pub endpoint: String,
    pub bus: String,
    pub group: String,
    pub queue_url: String,
    pub sdk_config: SdkConfig,
    /// The functions' configuration, through the proxy.
    pub function_config: SdkConfig,
}

pub const SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-scheduler";

impl Moto {
    pub async fn start() -> Moto {
        let endpoint = moto_endpoint();
        let sdk_config = sdk_config(&endpoint, SECRET_ACCESS_KEY).await;
        let unique = format!("{:x}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
        let (bus, group, queue) = (format!("bus-{unique}"), format!("group-{unique}"), format!("queue-{unique}"));
        let events = aws_sdk_eventbridge::Client::new(&sdk_config);
        let sqs = aws_sdk_sqs::Client::new(&sdk_config);
        let scheduler = aws_sdk_scheduler::Client::new(&sdk_config);
        events.create_event_bus().name(&bus).send().await.expect("create bus");
        let queue_url = sqs.create_queue().queue_name(&queue).send().await.expect("create queue").queue_url.unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        events
            .put_rule()
            .name("announcements")
            .event_bus_name(&bus)
            .event_pattern(serde_json::json!({"source": ["supplychain-delete-instance"]}).to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule("announcements")
            .event_bus_name(&bus)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("subscriber").arn(queue_arn).build().unwrap())
            .send()
            .await
            .expect("put targets");
        scheduler.create_schedule_group().name(&group).send().await.expect("create schedule group");
        let proxy = supplychain_emulator::FaultProxy::start(&endpoint).await.expect("proxy starts");
        let function_config = self::sdk_config(&proxy.endpoint(), SECRET_ACCESS_KEY).await;
        Moto { proxy, endpoint, bus, group, queue_url, sdk_config, function_config }
    }

    /// Every event delivered to the subscriber queue so far, as the subscriber receives them.
    pub async fn received(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config);
        let mut events = Vec::new();
        loop {
            let batch = sqs.receive_message().queue_url(&self.queue_url).max_number_of_messages(10).send().await.unwrap();
            let messages = batch.messages.unwrap_or_default();
            if messages.is_empty() {
                return events;
            }
            for message in messages {
                events.push(serde_json::from_str(message.body().unwrap()).unwrap());
                sqs.delete_message().queue_url(&self.queue_url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
            }
        }
    }

    pub async fn schedule(&self, name: &str) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.sdk_config);
        scheduler.get_schedule().name(name).group_name(&self.group).send().await.ok()
    }

    pub async fn schedule_names(&self) -> Vec<String> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.sdk_config);
        let listed = scheduler.list_schedules().group_name(&self.group).send().await.unwrap();
        let mut names: Vec<String> = listed.schedules().iter().filter_map(|s| s.name().map(str::to_owned)).collect();
        names.sort();
        names
    }

    /// Fires a one-time schedule as Scheduler does: its input goes to the target, and the schedule
    /// is deleted after completion (`ActionAfterCompletion: DELETE`).
    pub async fn fire(&self, name: &str) -> Value {
        let schedule = self.schedule(name).await.unwrap_or_else(|| panic!("no schedule {name}"));
        let target = schedule.target().unwrap();
        assert_eq!(schedule.action_after_completion(), Some(&aws_sdk_scheduler::types::ActionAfterCompletion::Delete));
        let input = serde_json::from_str(target.input().unwrap()).unwrap();
        aws_sdk_scheduler::Client::new(&self.sdk_config)
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
            .unwrap();
        input
    }

    /// The environment that wires a function binary to Supply Chain at `supply_chain_endpoint` and to
    /// this bus, schedule group and scheduler role, with EventBridge and Scheduler through the proxy.
    pub fn function_env(&self, supply_chain_endpoint: String) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN", supply_chain_endpoint),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.proxy.endpoint()),
            ("AWS_ENDPOINT_URL_SCHEDULER", self.proxy.endpoint()),
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("SCHEDULE_GROUP", self.group.clone()),
            ("SCHEDULER_ROLE_ARN", SCHEDULER_ROLE_ARN.to_owned()),
        ]
    }

    pub fn bus_client(&self) -> supplychain_delete_instance::events::EventBus {
        supplychain_delete_instance::events::EventBus::new(aws_sdk_eventbridge::Client::new(&self.function_config), &self.bus)
    }

    pub fn scheduler_client(&self) -> supplychain_delete_instance::scheduler::Scheduler {
        supplychain_delete_instance::scheduler::Scheduler::new(
            aws_sdk_scheduler::Client::new(&self.function_config),
            &self.group,
            Some(SCHEDULER_ROLE_ARN.to_owned()),
        )
    }
}

pub fn check_settings(env: &[(&str, &str)]) -> supplychain_delete_instance::CheckSettings {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    supplychain_delete_instance::CheckSettings::from_lookup(&|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .unwrap()
}

pub fn check_event(payload: Value) -> LambdaEvent<Payload> {
    LambdaEvent::new(Payload::Json(payload), context(CHECK_ARN, Duration::from_secs(30)))
}

/// A compiled function binary running against a local Runtime API, as Lambda runs it.
pub struct FunctionProcess {
    pub runtime: std::sync::Arc<supplychain_emulator::runtime_api::RuntimeApi>,
    child: tokio::process::Child,
    log_path: PathBuf,
}

impl FunctionProcess {
    /// Starts `binary` with Lambda's environment, the test credentials and `env`; nothing else from
    /// the parent's environment reaches it, so no real AWS configuration can leak in.
    pub async fn spawn(binary: &str, function_name: &str, env: &[(&str, String)]) -> FunctionProcess {
        Self::spawn_with_stdout(binary, function_name, env, None).await
    }

    /// Like [`FunctionProcess::spawn`], with the process's stdout going to `stdout` instead of its
    /// log (stderr stays in the log).
    pub async fn spawn_with_stdout(
        binary: &str,
        function_name: &str,
        env: &[(&str, String)],
        stdout: Option<std::fs::File>,
    ) -> FunctionProcess {
        let runtime = std::sync::Arc::new(supplychain_emulator::runtime_api::RuntimeApi::start().await.expect("runtime API starts"));
        let log_path = std::env::temp_dir().join(format!(
            "{function_name}-{}-{}.log",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Short SDK backoff is not configurable by environment; the standard retry mode's
            // attempts are, and stay at their default of 3.
            .env("AWS_RETRY_MODE", "standard")
            .stdout(stdout.unwrap_or_else(|| log.try_clone().unwrap()))
            .stderr(log)
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("{binary}: {e}"));
        FunctionProcess { runtime, child, log_path }
    }

    /// Invokes the function with a deadline `within` from now.
    pub async fn invoke(&self, payload: Value, function_arn: &str, within: Duration) -> supplychain_emulator::runtime_api::Outcome {
        let options = supplychain_emulator::runtime_api::Invoke {
            function_arn: function_arn.to_owned(),
            deadline: supplychain_emulator::runtime_api::Deadline::In(within),
            ..Default::default()
        };
        self.invoke_with(payload, options).await
    }

    pub async fn invoke_with(&self, payload: Value, options: supplychain_emulator::runtime_api::Invoke) -> supplychain_emulator::runtime_api::Outcome {
        self.runtime.invoke(payload, options).await.unwrap_or_else(|e| panic!("invocation: {e}; logs:\n{}", self.logs())).outcome
    }

    /// Makes the function reachable as `arn` through a local Lambda Invoke API.
    pub fn register(&self, api: &supplychain_emulator::invoke_api::InvokeApi, arn: &str) {
        api.register(supplychain_emulator::invoke_api::Function::new(arn.to_owned(), self.runtime.clone()));
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends the process SIGTERM, as Lambda does at the start of its Shutdown phase.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the process is running");
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// The exit status, if the process ends within `within`.
    pub async fn exit_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait()).await.ok().map(|status| status.unwrap())
    }

    /// Waits for the process to end (for init failures) and returns its exit status.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.expect("the process ends").unwrap()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log_path);
    }
}
