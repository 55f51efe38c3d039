//! Shared test support: the harness of `testkit` (function binaries, the emulator, moto), and what
//! the tests add to it: fixtures from `events/`, the functions built in-process, Lambda contexts.
#![allow(dead_code)]

pub mod fleet;
pub mod policies;
/// The sweep's events the tests read back off the bus, named by the one catalogue of the bus
/// contract (`supplychain_delete_instance::contract::Event`).
pub mod events {
    use supplychain_delete_instance::contract::Event;

    pub const SWEEP_SOURCE: &str = Event::SweepCompleted.source();
    pub const REQUESTED: &str = Event::DeletionRequested.detail_type();
    pub const SCHEDULED: &str = Event::DeletionScheduled.detail_type();
    pub const CANCELLED: &str = Event::DeletionCancelled.detail_type();
    pub const COMPLETED: &str = Event::SweepCompleted.detail_type();
    pub const SUMMARY: &str = Event::OrganizationSweepCompleted.detail_type();
    pub const PLAN_READY: &str = Event::PlanReady.detail_type();
    pub const PLAN_APPROVED: &str = Event::PlanApproved.detail_type();
    pub const PLAN_REJECTED: &str = Event::PlanRejected.detail_type();
    pub const PLAN_EXPIRED: &str = Event::PlanExpired.detail_type();
}

pub mod runner;
pub mod tools;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use supplychain_delete_instance::config::DeleteSettings;
pub use supplychain_delete_instance::input::Payload;
use supplychain_delete_instance::DeleteFunction;
use supplychain_delete_instance::SupplyChain;
use supplychain_emulator::Emulator;
pub use supplychain_testkit::*;

/// The compiled binaries of the three functions.
pub const DELETE_BIN: &str = env!("CARGO_BIN_EXE_delete-instance");
pub const CHECK_BIN: &str = env!("CARGO_BIN_EXE_check-instance-status");
pub const SWEEP_BIN: &str = env!("CARGO_BIN_EXE_sweep-instances");
/// The instance the fixtures in `events/` name.
pub const FIXTURE_ID: &str = "0c3b2f4e-8a1d-4c6e-9f2b-7d5a1e3c9b40";
/// The second instance of `events/sqs-batch.json`.
pub const FIXTURE_ID_2: &str = "5e7a9c1b-3d2f-4a6e-8b0c-1f3e5a7c9d2b";

/// A fixture exactly as a user passes it to `cargo lambda invoke --data-file events/...`.
pub fn fixture(name: &str) -> Value {
    let path = repo_path("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The real time `offset` seconds from now, as RFC 3339 UTC: the tests' expiry tags do not depend on
/// today's date.
pub fn time_from_now(offset: i64) -> String {
    let now = aws_smithy_types::DateTime::from(SystemTime::now()).secs();
    aws_smithy_types::DateTime::from_secs(now + offset).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap()
}

/// A fixture whose times (every `time`, `timestamp` and `startedAt` member, at any depth) are
/// moved to `at`, so that a test reads it as if it had been sent then, whatever today's date. The
/// files keep fixed times, as users read them.
pub fn fixture_at(name: &str, at: SystemTime) -> Value {
    fn move_times(value: &mut Value, at: &str) {
        match value {
            Value::Object(object) => {
                for (key, member) in object.iter_mut() {
                    if matches!(key.as_str(), "time" | "timestamp" | "startedAt") && member.is_string() {
                        *member = Value::String(at.to_owned());
                    } else {
                        move_times(member, at);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| move_times(item, at)),
            _ => {}
        }
    }
    let mut value = fixture(name);
    move_times(&mut value, &supplychain_delete_instance::model::timestamp(aws_smithy_types::DateTime::from(at)));
    value
}

/// A fixture as if it had just been sent: [`fixture_at`] now.
pub fn fixture_now(name: &str) -> Value {
    fixture_at(name, SystemTime::now())
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

pub fn check_settings(env: &[(&str, &str)]) -> supplychain_delete_instance::CheckSettings {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    supplychain_delete_instance::CheckSettings::from_lookup(&|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
}

pub fn check_event(payload: Value) -> LambdaEvent<Payload> {
    LambdaEvent::new(Payload::Json(payload), context(CHECK_ARN, Duration::from_secs(30)))
}

/// The functions' own clients on a [`Moto`]: its bus and schedule group, through the fault proxy.
pub trait MotoClients {
    fn bus_client(&self) -> supplychain_delete_instance::EventBus;
    fn scheduler_client(&self) -> supplychain_delete_instance::Scheduler;
}

impl MotoClients for Moto {
    fn bus_client(&self) -> supplychain_delete_instance::EventBus {
        supplychain_delete_instance::EventBus::new(aws_sdk_eventbridge::Client::new(&self.function_config), &self.bus)
    }

    fn scheduler_client(&self) -> supplychain_delete_instance::Scheduler {
        supplychain_delete_instance::Scheduler::new(
            aws_sdk_scheduler::Client::new(&self.function_config),
            &self.group,
            Some(SCHEDULER_ROLE_ARN.to_owned()),
        )
        .with_dead_letter_arn(Some(self.schedule_dead_letter_arn.clone()))
    }
}

/// The delete function's binary running against a Runtime API of its own, calling Supply Chain at
/// `emulator` and taking `env` besides.
pub async fn delete_process(emulator: &Emulator, env: &[(&str, String)]) -> FunctionProcess {
    let mut all = vec![("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint())];
    all.extend_from_slice(env);
    FunctionProcess::spawn(DELETE_BIN, "delete-instance", &all).await
}

/// Asserts that a state machine definition's text is JSON as it is, before any substitution, with
/// every `${placeholder}` inside a string; returns its placeholders, sorted.
pub fn assert_placeholders_inside_strings(text: &str) -> Vec<String> {
    fn collect(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(s) => found.extend(tools::placeholders(s)),
            Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
            Value::Object(members) => members.values().for_each(|v| collect(v, found)),
            _ => {}
        }
    }
    let definition: Value = serde_json::from_str(text).expect("the definition is JSON before any substitution");
    let mut inside_strings = Vec::new();
    collect(&definition, &mut inside_strings);
    inside_strings.sort();
    inside_strings.dedup();
    let mut everywhere = tools::placeholders(text);
    everywhere.sort();
    assert_eq!(inside_strings, everywhere);
    everywhere
}
