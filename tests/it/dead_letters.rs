//! SQS messages that fail for good: the delete function moves them to the dead-letter queue at once,
//! with their errorType and errorMessage, so that only retryable failures are delivered again.
//! Against the emulator (Supply Chain) and moto's SQS, through the fault proxy in front of moto.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use supplychain_delete_instance::DeadLetterQueue;
use supplychain_delete_instance::DeleteFunction;
use supplychain_emulator::{Emulator, Fault, FaultRule};

const RETRYABLE_ID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";
const PROTECTED_ID: &str = "2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

/// A message kept in the dead-letter queue: its body and string attributes.
#[derive(Debug, PartialEq)]
struct DeadLetter {
    body: String,
    attributes: BTreeMap<String, String>,
}

struct Stack {
    emulator: Emulator,
    moto: Moto,
    dead_letter_url: String,
}

impl Stack {
    /// Three instances: one that deletes, one whose `DeleteInstance` is throttled longer than the
    /// SDK retries (the first three calls), one protected by its tag.
    async fn start() -> Stack {
        let emulator = emulator().await;
        seed(&emulator, FIXTURE_ID);
        seed(&emulator, RETRYABLE_ID);
        seed_with_tags(&emulator, PROTECTED_ID, &[("DeletionProtection", "true")]);
        emulator.inject(FaultRule::new("DeleteInstance", 3, Fault::Throttle));
        let moto = Moto::start().await;
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config);
        let queue = format!("requests-dlq-{}", moto.group.trim_start_matches("group-"));
        let dead_letter_url = sqs.create_queue().queue_name(queue).send().await.expect("create queue").queue_url.unwrap();
        Stack { emulator, moto, dead_letter_url }
    }

    /// The delete function, one message at a time so the throttled calls are the retryable
    /// message's, with its SQS calls through the fault proxy.
    async fn function(&self, dead_letters: bool) -> DeleteFunction {
        let queue = DeadLetterQueue::new(aws_sdk_sqs::Client::new(&self.moto.function_config), &self.dead_letter_url);
        delete_function(&self.emulator, &[("SQS_CONCURRENCY", "1")]).await.with_dead_letters(dead_letters.then_some(queue))
    }

    /// Every message of the dead-letter queue, removed from it.
    async fn dead_letters(&self) -> Vec<DeadLetter> {
        let sqs = aws_sdk_sqs::Client::new(&self.moto.sdk_config);
        let mut found = Vec::new();
        loop {
            let batch = sqs
                .receive_message()
                .queue_url(&self.dead_letter_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let messages = batch.messages.unwrap_or_default();
            if messages.is_empty() {
                found.sort_by(|a: &DeadLetter, b| a.body.cmp(&b.body));
                return found;
            }
            for message in messages {
                let attributes = message
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| {
                        assert_eq!(value.data_type(), "String", "{name}");
                        (name.clone(), value.string_value().unwrap_or_default().to_owned())
                    })
                    .collect();
                found.push(DeadLetter { body: message.body().unwrap().to_owned(), attributes });
                sqs.delete_message()
                    .queue_url(&self.dead_letter_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn body(id: &str) -> String {
    json!({ "instanceId": id }).to_string()
}

const INVALID_BODY: &str = "{\"instanceId\": \"not-an-id\"}";

/// A batch mixing a retryable failure, two permanent ones (a protected instance and a malformed
/// id) and a success.
fn batch() -> Value {
    let record = |id: &str, body: &str| json!({ "messageId": id, "eventSource": "aws:sqs", "body": body });
    json!({ "Records": [
        record("retryable", &body(RETRYABLE_ID)),
        record("protected", &body(PROTECTED_ID)),
        record("invalid", INVALID_BODY),
        record("succeeds", &body(FIXTURE_ID)),
    ]})
}

fn failures(response: supplychain_delete_instance::DeleteResponse) -> Vec<String> {
    let response = serde_json::to_value(response).unwrap();
    let mut ids: Vec<String> =
        response["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn permanent_failures_are_moved_to_the_dead_letter_queue_with_their_error_and_only_retryable_ones_come_back() {
    let stack = Stack::start().await;

    let response = stack.function(true).await.handle(event(batch())).await.unwrap();

    assert_eq!(failures(response), ["retryable"]);
    let dead_letters = stack.dead_letters().await;
    assert_eq!(dead_letters.len(), 2, "{dead_letters:?}");
    let protected = dead_letters.iter().find(|d| d.body == body(PROTECTED_ID)).expect("the protected request, unchanged");
    assert_eq!(protected.attributes["errorType"], "DeletionProtected");
    assert!(protected.attributes["errorMessage"].contains("protected from deletion by its tag DeletionProtection"), "{protected:?}");
    let invalid = dead_letters.iter().find(|d| d.body == INVALID_BODY).expect("the malformed request, unchanged");
    assert_eq!(invalid.attributes["errorType"], "InvalidInput");
    assert!(invalid.attributes["errorMessage"].contains("not-an-id"), "{invalid:?}");
    assert_eq!(protected.attributes.len(), 2);
    assert_eq!(stack.moto.proxy.call_count("SendMessage"), 2);
    // The success was made, the retryable one throttled on every SDK attempt, the protected one never deleted.
    assert_eq!(states(&stack.emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"]);
    assert_eq!(states(&stack.emulator, RETRYABLE_ID), ["Active"]);
    assert_eq!(states(&stack.emulator, PROTECTED_ID), ["Active"]);
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 4);
}

#[tokio::test]
async fn a_permanent_failure_that_cannot_be_moved_stays_in_the_batch_failures() {
    let stack = Stack::start().await;
    // Every attempt of every SendMessage answers 500, past the SDK's retries.
    stack.moto.proxy.inject(FaultRule::new("SendMessage", 100, Fault::Internal));

    let response = stack.function(true).await.handle(event(batch())).await.unwrap();

    assert_eq!(failures(response), ["invalid", "protected", "retryable"]);
    assert_eq!(stack.moto.proxy.call_count("SendMessage"), 6, "two messages, three attempts each");
    assert!(stack.dead_letters().await.is_empty());
    assert_eq!(states(&stack.emulator, FIXTURE_ID), ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn without_a_dead_letter_queue_every_failure_is_in_the_batch_failures() {
    let stack = Stack::start().await;

    let response = stack.function(false).await.handle(event(batch())).await.unwrap();

    assert_eq!(failures(response), ["invalid", "protected", "retryable"]);
    assert_eq!(stack.moto.proxy.call_count("SendMessage"), 0);
    assert!(stack.dead_letters().await.is_empty());
}

#[tokio::test]
async fn the_binary_moves_permanent_failures_to_the_queue_its_environment_names() {
    let stack = Stack::start().await;
    let env = [
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN", stack.emulator.endpoint()),
        ("AWS_ENDPOINT_URL_SQS", stack.moto.proxy.endpoint()),
        ("DEAD_LETTER_QUEUE_URL", stack.dead_letter_url.clone()),
        ("SQS_CONCURRENCY", "1".to_owned()),
    ];
    let function = FunctionProcess::spawn(env!("CARGO_BIN_EXE_delete-instance"), "delete-instance", &env).await;

    let outcome = function.invoke(batch(), DELETE_ARN, Duration::from_secs(20)).await;

    let response = outcome.response().unwrap_or_else(|| panic!("{outcome:?}\n{}", function.logs()));
    assert_eq!(response, &json!({ "batchItemFailures": [{ "itemIdentifier": "retryable" }] }));
    let dead_letters = stack.dead_letters().await;
    let kept: Vec<(&str, &str)> = dead_letters.iter().map(|d| (d.body.as_str(), d.attributes["errorType"].as_str())).collect();
    let protected = body(PROTECTED_ID);
    let mut expected = vec![(protected.as_str(), "DeletionProtected"), (INVALID_BODY, "InvalidInput")];
    expected.sort();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn a_message_whose_member_role_cannot_be_assumed_goes_to_the_queue_at_once_and_deletes_nothing() {
    let stack = Stack::start().await;
    let env = [
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN", stack.emulator.endpoint()),
        // The emulator serves STS too; account 333333333333 has no member role there.
        ("AWS_ENDPOINT_URL_STS", stack.emulator.endpoint()),
        ("AWS_ENDPOINT_URL_SQS", stack.moto.proxy.endpoint()),
        ("DEAD_LETTER_QUEUE_URL", stack.dead_letter_url.clone()),
    ];
    let function = FunctionProcess::spawn(env!("CARGO_BIN_EXE_delete-instance"), "delete-instance", &env).await;
    let other_account = json!({ "instanceId": FIXTURE_ID, "accountId": "333333333333" }).to_string();
    let batch = json!({ "Records": [{ "messageId": "elsewhere", "eventSource": "aws:sqs", "body": other_account }] });

    let outcome = function.invoke(batch, DELETE_ARN, Duration::from_secs(20)).await;

    let response = outcome.response().unwrap_or_else(|| panic!("{outcome:?}\n{}", function.logs()));
    assert_eq!(response, &json!({ "batchItemFailures": [] }), "moved, not delivered again");
    let dead_letters = stack.dead_letters().await;
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");
    assert_eq!(
        (dead_letters[0].body.as_str(), dead_letters[0].attributes["errorType"].as_str()),
        (other_account.as_str(), "RoleNotAssumable")
    );
    assert!(dead_letters[0].attributes["errorMessage"].contains("arn:aws:iam::333333333333:role/SupplyChainInstanceDeletion"));
    assert_eq!(stack.emulator.call_count("AssumeRole"), 1);
    assert_eq!(stack.emulator.call_count("DeleteInstance"), 0);
    assert_eq!(states(&stack.emulator, FIXTURE_ID), ["Active"]);
}

/// The delete binary with its dead-letter queue, calling Supply Chain and STS at the emulator.
async fn binary_with_dead_letters(stack: &Stack) -> FunctionProcess {
    let env = [
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN", stack.emulator.endpoint()),
        ("AWS_ENDPOINT_URL_STS", stack.emulator.endpoint()),
        ("AWS_ENDPOINT_URL_SQS", stack.moto.proxy.endpoint()),
        ("DEAD_LETTER_QUEUE_URL", stack.dead_letter_url.clone()),
    ];
    FunctionProcess::spawn(env!("CARGO_BIN_EXE_delete-instance"), "delete-instance", &env).await
}

#[tokio::test]
async fn a_replayed_or_borrowed_sweep_message_fails_alone_goes_to_the_queue_as_permanent_and_reaches_no_service() {
    let stack = Stack::start().await;
    let function = binary_with_dead_letters(&stack).await;
    let replayed = fixture("invalid/replayed-request.json").to_string();
    let borrowed = fixture("invalid/sweep-request-from-another-account.json").to_string();
    let record = |id: &str, body: &str| json!({ "messageId": id, "eventSource": "aws:sqs", "body": body });
    let batch = json!({ "Records": [record("replayed", &replayed), record("borrowed", &borrowed)] });

    let outcome = function.invoke(batch, DELETE_ARN, Duration::from_secs(20)).await;

    let response = outcome.response().unwrap_or_else(|| panic!("{outcome:?}\n{}", function.logs()));
    assert_eq!(response, &json!({ "batchItemFailures": [] }), "moved at once, not delivered again");
    let dead_letters = stack.dead_letters().await;
    let mut expected = vec![(borrowed.as_str(), "InvalidInput"), (replayed.as_str(), "InvalidInput")];
    expected.sort();
    let kept: Vec<(&str, &str)> = dead_letters.iter().map(|d| (d.body.as_str(), d.attributes["errorType"].as_str())).collect();
    assert_eq!(kept, expected);
    assert!(stack.emulator.calls().is_empty(), "{:?}", stack.emulator.calls());
}

#[tokio::test]
async fn a_request_redriven_through_the_queue_with_its_envelope_is_judged_by_its_senders_rule() {
    let stack = Stack::start().await;
    let function = binary_with_dead_letters(&stack).await;
    // Re-driven as docs/operating.md says: the SQS body is the whole EventBridge envelope, `account` included.
    let third_account = fixture_now("eventbridge-confused-deputy.json").to_string();
    let member = fixture_now("eventbridge-forwarded-from-member.json").to_string();
    let record = |id: &str, body: &str| json!({ "messageId": id, "eventSource": "aws:sqs", "body": body });
    let batch = json!({ "Records": [record("third-account", &third_account), record("member", &member)] });

    let outcome = function.invoke(batch, DELETE_ARN, Duration::from_secs(20)).await;

    let response = outcome.response().unwrap_or_else(|| panic!("{outcome:?}\n{}", function.logs()));
    assert_eq!(response, &json!({ "batchItemFailures": [] }));
    let dead_letters = stack.dead_letters().await;
    let by_body = |body: &str| dead_letters.iter().find(|d| d.body == body).unwrap_or_else(|| panic!("{dead_letters:?}"));
    // Account 333333333333 may not name 210987654321: refused before any call.
    let refused = by_body(&third_account);
    assert_eq!(refused.attributes["errorType"], "AccountNotAllowed");
    assert!(refused.attributes["errorMessage"].contains("comes from account 333333333333"), "{refused:?}");
    // The member's request acts in the member's account only, through its role (which this
    // emulator does not have), never with the central account's own authority.
    let member_failed = by_body(&member);
    assert_eq!(member_failed.attributes["errorType"], "RoleNotAssumable");
    assert!(member_failed.attributes["errorMessage"].contains("arn:aws:iam::210987654321:role/"), "{member_failed:?}");
    assert_eq!(stack.emulator.call_count("AssumeRole"), 1);
    assert_eq!(stack.emulator.calls().iter().filter(|c| c.operation != "AssumeRole").count(), 0, "{:?}", stack.emulator.calls());
}
