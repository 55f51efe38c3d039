//! The build that template.yaml deploys, made by `scripts/build-arm64` (`sam build`, into
//! `.aws-sam/build`): every function's `bootstrap` is an ELF executable for the function's
//! architecture, and the aarch64 binaries, run under `qemu-aarch64` through the Lambda Runtime API,
//! answer exactly as the x86_64 binaries do.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::Outcome;
use supplychain_emulator::SeedInstance;

/// Debian's qemu-user, with the aarch64 loader and C library of libc6-arm64-cross (scripts/setup).
const QEMU: &[&str] = &["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"];
/// ELF `e_machine` of each Lambda architecture.
const MACHINES: &[(&str, u16)] = &[("arm64", 183), ("x86_64", 62)];

/// `.aws-sam/build`, or `SUPPLYCHAIN_SAM_BUILD_DIR`.
fn build_dir() -> PathBuf {
    std::env::var_os("SUPPLYCHAIN_SAM_BUILD_DIR").map(PathBuf::from).unwrap_or_else(|| repo_path(".aws-sam/build"))
}

/// The `bootstrap` `sam build` made for the function `logical_id`.
fn bootstrap(logical_id: &str) -> String {
    let path = build_dir().join(logical_id).join("bootstrap");
    assert!(path.exists(), "{} is missing: run scripts/build-arm64 (scripts/test runs it before the tests)", path.display());
    path.to_str().unwrap().to_owned()
}

/// Every function of the template, by logical id, with its architecture.
fn template_functions() -> Vec<(String, String)> {
    let resources = crate::support::tools::transformed_template()["Resources"].as_object().unwrap();
    resources
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::Lambda::Function")
        .map(|(id, resource)| {
            // Lambda's default architecture is x86_64.
            let architecture = resource["Properties"]["Architectures"][0].as_str().unwrap_or("x86_64");
            (id.clone(), architecture.to_owned())
        })
        .collect()
}

#[test]
fn every_function_of_the_template_is_built_as_an_elf_executable_for_its_architecture() {
    let functions = template_functions();
    assert!(functions.len() >= 2, "{functions:?}");
    for (id, architecture) in functions {
        let path = bootstrap(&id);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 64 && bytes[..4] == *b"\x7fELF", "{path}: not an ELF file");
        assert_eq!((bytes[4], bytes[5]), (2, 1), "{path}: not a 64-bit little-endian ELF file");
        let e_type = u16::from_le_bytes([bytes[16], bytes[17]]);
        assert!(e_type == 2 || e_type == 3, "{path}: ELF type {e_type} is neither an executable nor a position-independent one");
        let e_machine = u16::from_le_bytes([bytes[18], bytes[19]]);
        let expected =
            MACHINES.iter().find(|(name, _)| *name == architecture).unwrap_or_else(|| panic!("{id}: architecture {architecture}")).1;
        assert_eq!(e_machine, expected, "{path}: machine {e_machine}, but {id} deploys on {architecture}");
        use std::os::unix::fs::PermissionsExt;
        assert!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o111 != 0, "{path} is not executable");
    }
}

/// What an invocation answered: the response, or the error's type and message.
fn answer(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Response(value) => value.clone(),
        Outcome::Error { error_type, error_message, .. } => json!({"errorType": error_type, "errorMessage": error_message}),
    }
}

/// `value` without what differs from one run to the next: times, event ids, and the names of the
/// run's own bus and schedule group.
fn comparable(value: &Value, names: &[(&str, &str)]) -> Value {
    match value {
        Value::String(text) if has_timestamp(text) => json!("<time>"),
        Value::String(text) => {
            let mut text = text.clone();
            for (name, placeholder) in names {
                text = text.replace(name, placeholder);
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| comparable(item, names)).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, member)| (key.clone(), if key == "id" { json!("<event id>") } else { comparable(member, names) }))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `text` holds a date and time such as `2026-11-28T09:00:05`.
fn has_timestamp(text: &str) -> bool {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    text.as_bytes()
        .windows(shape.len())
        .any(|window| window.iter().zip(shape).all(|(c, s)| if *s == b'd' { c.is_ascii_digit() } else { c == s }))
}

/// One deletion followed to its end through EventBridge and Scheduler (moto): the delete function
/// announces it, the checker gets the Deletion Started event as a subscriber receives it, then each
/// re-check its schedule carries, until it announces the end. Returns every answer and every
/// announcement, in order, and the states the instance went through.
async fn follow_a_deletion(launcher: &[&str], delete_bin: &str, check_bin: &str) -> (Vec<Value>, Vec<String>) {
    let emulator = emulator().await;
    emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), delete_polls: Some(1), ..Default::default() });
    let moto = Moto::start().await;
    let env = moto.function_env(emulator.endpoint());
    let delete = FunctionProcess::spawn_through(launcher, delete_bin, "delete-instance", &env).await;
    let check = FunctionProcess::spawn_through(launcher, check_bin, "check-instance-status", &env).await;
    let names = [(moto.bus.as_str(), "<bus>"), (moto.group.as_str(), "<group>")];
    let mut transcript = Vec::new();

    let deleted = answer(&delete.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await);
    transcript.push(comparable(&deleted, &names));
    let mut announced = moto.received().await;
    assert_eq!(announced.len(), 1, "one Deletion Started event: {announced:?}; logs:\n{}", delete.logs());
    let mut input = announced.remove(0);
    transcript.push(comparable(&input, &names));
    for _ in 0..5 {
        let checked = answer(&check.invoke(input, CHECK_ARN, Duration::from_secs(20)).await);
        transcript.push(comparable(&checked, &names));
        transcript.extend(moto.received().await.iter().map(|event| comparable(event, &names)));
        if checked["done"] == json!(true) || checked.get("errorType").is_some() {
            break;
        }
        let schedule = checked["nextCheck"]["scheduleName"].as_str().unwrap_or_else(|| panic!("no next check in {checked}"));
        input = moto.fire(schedule).await;
    }
    (transcript, states(&emulator, FIXTURE_ID))
}

#[tokio::test]
async fn a_deletion_followed_to_its_end_by_the_aarch64_binaries_goes_as_with_the_x86_64_ones() {
    let (delete_arm64, check_arm64) = (bootstrap("DeleteInstanceFunction"), bootstrap("CheckInstanceStatusFunction"));

    let (arm64, arm64_states) = follow_a_deletion(QEMU, &delete_arm64, &check_arm64).await;
    let (x86_64, x86_64_states) = follow_a_deletion(&[], DELETE_BIN, CHECK_BIN).await;

    // Deleting, Deletion Started, a check that schedules the next, the check that sees the end, and
    // the end announced.
    let kinds: Vec<Value> = arm64
        .iter()
        .map(|step| json!([step["detail-type"], step["instance"]["state"], step["outcome"], step["done"], step["errorType"]]))
        .collect();
    assert_eq!(
        kinds,
        [
            json!([null, "Deleting", null, null, null]),
            json!(["Supply Chain Instance Deletion Started", null, null, null, null]),
            json!([null, "Deleting", "Deleting", false, null]),
            json!([null, "Deleted", "Deleted", true, null]),
            json!(["Supply Chain Instance Deleted", null, null, null, null]),
        ],
        "{arm64:#?}"
    );
    assert_eq!(arm64[4]["detail"]["outcome"], "Deleted");
    assert_eq!(arm64_states, ["Active", "Deleting", "Deleted"]);
    assert_eq!(arm64, x86_64);
    assert_eq!(arm64_states, x86_64_states);
}

/// The answer to `events/sqs-batch.json`, with its second instance protected, and the states of
/// both instances.
async fn answer_an_sqs_batch(launcher: &[&str], delete_bin: &str) -> (Value, Vec<String>, Vec<String>) {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed_with_tags(&emulator, FIXTURE_ID_2, &[("DeletionProtection", "true")]);
    let env = [("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint())];
    let delete = FunctionProcess::spawn_through(launcher, delete_bin, "delete-instance", &env).await;
    let answered = answer(&delete.invoke(fixture("sqs-batch.json"), DELETE_ARN, Duration::from_secs(20)).await);
    (answered, states(&emulator, FIXTURE_ID), states(&emulator, FIXTURE_ID_2))
}

#[tokio::test]
async fn an_sqs_batch_answered_by_the_aarch64_binary_gets_the_answer_of_the_x86_64_one() {
    let arm64 = answer_an_sqs_batch(QEMU, &bootstrap("DeleteInstanceFunction")).await;
    let x86_64 = answer_an_sqs_batch(&[], DELETE_BIN).await;

    assert_eq!(arm64.0, json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]}));
    assert_eq!(arm64.1, ["Active", "Deleting", "Deleted"]);
    assert_eq!(arm64.2, ["Active"], "the protected instance is not deleted");
    assert_eq!(arm64, x86_64);
}
