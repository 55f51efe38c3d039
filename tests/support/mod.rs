//! Shared test support: fixtures from `events/`, an emulator with signature checking, SDK clients
//! that talk HTTP to it (and to moto's server), and Lambda contexts.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_supplychain::config::Credentials;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use supplychain_delete_instance::config::DeleteSettings;
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
    let credentials = StaticCredentials {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET_ACCESS_KEY.into(),
        session_token: None,
    };
    Emulator::start(EmulatorConfig { credentials: Some(credentials), ..config }).await.expect("emulator starts")
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

pub fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, context(DELETE_ARN, Duration::from_secs(30)))
}

/// The states an instance went through, as the emulator recorded them.
pub fn states(emulator: &Emulator, id: &str) -> Vec<String> {
    emulator.history(id).into_iter().map(|change| change.state).collect()
}
