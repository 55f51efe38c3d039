//! Bad input, fuzzed: property tests over both parsers and over the runtime's deserialisation of
//! the raw bytes, and the inputs kept in `tests/corpus/` sent through the compiled binaries.
//!
//! The property, for both functions: whatever the bytes, nothing panics; bytes that are not JSON
//! are `InvalidInput`; a JSON event is accepted only when it is one of the accepted shapes with no
//! near miss of an accepted member and a valid lowercase UUID taken verbatim from the event, its
//! other members kept as metadata exactly; anything else is `InvalidInput` with a short message that
//! names the problem. Invalid input reaches no service.

use crate::support::*;
use serde_json::{json, Map, Value};
use supplychain_delete_instance::input::{
    near_miss, parse_check_event, parse_delete_event, CheckEvent, DeleteEvent, Payload, REQUEST_MEMBERS,
};
use supplychain_delete_instance::model::DeleteRequest;
use supplychain_delete_instance::Error;
use supplychain_emulator::runtime_api::{Invoke, Outcome};
use supplychain_testkit::soak::random::Random;

const VALID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";

/// Deserialises the bytes as `lambda_runtime` does before calling the handler.
fn payload(bytes: &[u8]) -> Payload {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).expect("a Payload always deserialises")
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { matches!(c, '0'..='9' | 'a'..='f') })
}

/// The message of an `InvalidInput`: it names the problem and never carries the payload.
fn assert_names_the_problem(error: &Error) {
    let Error::InvalidInput(message) = error else { panic!("expected InvalidInput, got {error:?}") };
    assert!(message.len() < 1_200, "the message is too long to be only the problem: {} bytes", message.len());
    let words = [
        "must",
        "accepted",
        "not JSON",
        "unknown member",
        "not a valid",
        "names no instance",
        "both",
        "own announcement",
        "no \"",
        "not follow",
        "not an RFC 3339",
        "did you mean",
        "appears twice",
    ];
    assert!(words.iter().any(|w| message.contains(w)), "{message}");
}

/// A request object with no near miss of an accepted member, whose id is valid and verbatim, and
/// whose other members are its metadata, exactly.
fn request_matches(object: &Map<String, Value>, request: &DeleteRequest) -> bool {
    let id = request.instance_id.as_str();
    let others: Map<String, Value> =
        object.iter().filter(|(k, _)| !REQUEST_MEMBERS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    object.keys().all(|k| near_miss(k, &REQUEST_MEMBERS).is_none())
        && request.metadata == others
        && is_uuid(id)
        && (object.get("instanceId") == Some(&json!(id)) || object.get("instance").and_then(|i| i.get("instanceId")) == Some(&json!(id)))
        && request.dry_run == (object.get("dryRun") == Some(&json!(true)))
}

/// The delete property for one JSON event.
fn delete_property(event: &Value) {
    match parse_delete_event(event) {
        Err(error) => assert_names_the_problem(&error),
        Ok(DeleteEvent::Direct(request)) => {
            assert!(request_matches(event.as_object().unwrap(), &request), "accepted {event}")
        }
        Ok(DeleteEvent::EventBridge(request)) => {
            let detail = event.get("detail").and_then(Value::as_object).expect("an EventBridge event has a detail object");
            assert_ne!(event.get("source"), Some(&json!("supplychain-delete-instance")), "accepted {event}");
            assert!(request_matches(detail, &request), "accepted {event}");
        }
        Ok(DeleteEvent::Sqs(items)) => {
            let records = event["Records"].as_array().expect("Records is an array");
            assert_eq!(records.len(), items.len());
            for (record, item) in records.iter().zip(&items) {
                assert_eq!(record.get("messageId").and_then(Value::as_str), Some(item.message_id.as_str()));
                match &item.request {
                    Err(error) => assert_names_the_problem(error),
                    Ok(request) => {
                        let body = record["body"].as_str().expect("an accepted body is a string");
                        let body: Value = serde_json::from_str(body).expect("an accepted body is JSON");
                        let object = body.get("detail").and_then(Value::as_object).unwrap_or_else(|| body.as_object().unwrap());
                        assert!(request_matches(object, request), "accepted {body}");
                    }
                }
            }
        }
    }
}

/// The checker property for one JSON event: an accepted event names a valid id found in it.
fn check_property(event: &Value) {
    let now = aws_smithy_types::DateTime::from_secs(1_800_000_000);
    let id = match parse_check_event(event, now) {
        Err(error) => return assert_names_the_problem(&error),
        Ok(CheckEvent::Report(report)) => report.instance_id,
        Ok(CheckEvent::Follow(follow)) => follow.instance_id,
        Ok(CheckEvent::DryRun(id)) | Ok(CheckEvent::MarkerExpired(id)) => id,
    };
    assert!(is_uuid(id.as_str()), "accepted {event}");
    assert!(event.to_string().contains(&format!("\"{}\"", id.as_str())), "accepted {event}");
}

fn bytes_property(bytes: &[u8]) {
    match payload(bytes) {
        Payload::NotJson(_) => {
            for shapes in [supplychain_delete_instance::input::DELETE_SHAPES, supplychain_delete_instance::input::CHECK_SHAPES] {
                let error = payload(bytes).json(shapes).unwrap_err();
                assert!(matches!(&error, Error::InvalidInput(m) if m.contains("is not JSON") || m.contains("appears twice")), "{error:?}");
            }
        }
        Payload::Json(value) => {
            delete_property(&value);
            check_property(&value);
        }
    }
}

/// The inputs' source of chance: each case is drawn from a seed of its own, so that a failing case
/// is drawn again from the seed its failure names.
struct Draw(Random);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }

    fn bool(&mut self) -> bool {
        self.below(2) == 1
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// Any Unicode scalar value, half of them ASCII.
    fn char(&mut self) -> char {
        let code = if self.bool() { self.below(0x80) } else { self.below(0x11_0000) } as u32;
        char::from_u32(code).unwrap_or('\u{fffd}')
    }

    fn string(&mut self) -> String {
        let length = self.below(16);
        (0..length).map(|_| self.char()).collect()
    }

    /// Ids near the valid one: case, whitespace, look-alikes, path characters, lengths.
    fn near_miss_id(&mut self) -> Value {
        match self.below(14) {
            0 => json!(VALID),
            1 => json!(VALID.to_uppercase()),
            2 => json!(format!(" {VALID}")),
            3 => json!(format!("{VALID}\n")),
            4 => json!(VALID.replace('e', "е")),
            5 => json!(VALID.replacen('-', "/", 1)),
            6 => json!(format!("../{}", &VALID[3..])),
            7 => json!(VALID.replacen("-", "%2F", 1)),
            8 => json!(&VALID[..35]),
            9 => {
                let mut chars: Vec<char> = VALID.chars().collect();
                let at = self.below(chars.len());
                chars[at] = self.char();
                json!(chars.into_iter().collect::<String>())
            }
            10 => {
                let length = 30 + self.below(11);
                json!((0..length).map(|_| self.pick(&"0123456789abcdef-".chars().collect::<Vec<_>>())).collect::<String>())
            }
            11 => json!(self.string()),
            12 => json!(self.0.next_u64() as i64),
            _ => Value::Null,
        }
    }

    fn scalar(&mut self) -> Value {
        match self.below(8) {
            0 => self.near_miss_id(),
            1 => json!(self.bool()),
            2 => json!("Supply Chain Instance Deletion Started"),
            3 => json!("Lambda Function Invocation Result - Success"),
            4 => json!("supplychain-delete-instance"),
            5 => json!("aws:sqs"),
            6 => json!("2026-01-02T03:04:05Z"),
            _ => json!(1),
        }
    }

    /// Arbitrary JSON built from the accepted shapes' own vocabulary, so that it lands near them:
    /// up to `depth` levels of arrays, objects and JSON held in strings (as an SQS body is).
    fn near_miss_json(&mut self, depth: u32) -> Value {
        if depth == 0 || self.below(4) == 0 {
            return self.scalar();
        }
        match self.below(3) {
            0 => Value::from((0..self.below(4)).map(|_| self.near_miss_json(depth - 1)).collect::<Vec<_>>()),
            1 => Value::Object((0..self.below(5)).map(|_| (self.pick(&KEYS).to_owned(), self.near_miss_json(depth - 1))).collect()),
            _ => Value::String(self.near_miss_json(depth - 1).to_string()),
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(256)).map(|_| self.0.next_u64() as u8).collect()
    }
}

const KEYS: [&str; 20] = [
    "instanceId",
    "instance",
    "dryRun",
    "dry_run",
    "instanceid",
    "InstanceId",
    "Records",
    "messageId",
    "body",
    "eventSource",
    "detail",
    "detail-type",
    "source",
    "statusCheck",
    "attempt",
    "startedAt",
    "deletionAnnounced",
    "responsePayload",
    "time",
    "done",
];

/// Runs `property` on `cases` inputs, each drawn by `draw` from a seed of its own; a failure names
/// the seed and the input.
fn for_each_case<T: std::fmt::Debug>(cases: u64, draw: impl Fn(&mut Draw) -> T, property: impl Fn(&T)) {
    for seed in 0..cases {
        let input = draw(&mut Draw(Random::new(seed)));
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(&input))) {
            eprintln!("the property failed on the input of seed {seed}: {input:?}");
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic_and_anything_not_json_is_invalid_input() {
    for_each_case(2_000, Draw::bytes, |bytes| bytes_property(bytes));
}

#[test]
fn arbitrary_json_is_accepted_only_in_an_accepted_shape_with_a_valid_id() {
    for_each_case(
        2_000,
        |draw| draw.near_miss_json(4),
        |event| {
            delete_property(event);
            check_property(event);
            bytes_property(event.to_string().as_bytes());
        },
    );
}

/// A request near the accepted one: its id, the id's key, `dryRun`, and perhaps a member too many.
fn near_miss_request(draw: &mut Draw) -> Value {
    let id = draw.near_miss_id();
    let key = draw.pick(&["instanceId", "instanceid", "instance_id", "InstanceId"]);
    let mut request = json!({ key: id, "dryRun": draw.bool() });
    if draw.bool() {
        request[draw.pick(&["dry_run", "dryrun", "extra"])] = json!(true);
    }
    request
}

#[test]
fn near_misses_of_each_accepted_shape_are_refused_unless_exactly_right() {
    for_each_case(1_000, near_miss_request, |request| {
        let eventbridge = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "detail": request});
        let sqs = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": request.to_string()}]});
        let previous = json!({"instance": {"instanceId": request.get("instanceId").cloned().unwrap_or(Value::Null)}});
        for event in [request, &eventbridge, &sqs, &previous] {
            delete_property(event);
            check_property(event);
        }
    });
}

#[test]
fn json_nested_past_the_parser_limit_or_trailing_bytes_are_handled_as_the_runtime_reads_them() {
    let deep = format!("{{\"instanceId\": {}{}}}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(payload(deep.as_bytes()), Payload::NotJson(m) if m.contains("recursion limit")));
    // Just under the limit: JSON, but not a string id.
    let nested = format!("{{\"instanceId\": {}{}}}", "[".repeat(100), "]".repeat(100));
    bytes_property(nested.as_bytes());
    // The runtime's deserializer stops after the first value; what follows is not read.
    let trailing = format!("{{\"instanceId\": \"{VALID}\"}} trailing");
    assert_eq!(payload(trailing.as_bytes()), Payload::Json(json!({"instanceId": VALID})));
}

/// A request whose metadata could not be announced within PutEvents' limit: refused by the delete
/// function, while the checker, which announces no request, may take it.
fn oversized_metadata() -> (String, Vec<u8>) {
    ("6 MB padding member".into(), json!({"instanceId": VALID, "padding": "x".repeat(6 * 1024 * 1024 - 200)}).to_string().into_bytes())
}

/// Every file in `tests/corpus/` (invalid for both functions) and `tests/corpus/delete-only/`.
fn corpus(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(repo_path(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir} is empty");
    files
}

/// Oversized payloads: Lambda's 6 MB synchronous and 256 KB asynchronous limits, just under each.
fn oversized() -> Vec<(String, Vec<u8>)> {
    let pad = |size: usize| "x".repeat(size - 200);
    vec![
        ("256 KB id".into(), json!({"instanceId": pad(256 * 1024)}).to_string().into_bytes()),
        ("6 MB of nesting".into(), format!("{}{}", "[".repeat(3 * 1024 * 1024 - 100), "]".repeat(3 * 1024 * 1024 - 100)).into_bytes()),
    ]
}

#[test]
fn every_corpus_input_is_invalid_in_process() {
    for (name, bytes) in corpus("tests/corpus").into_iter().chain(oversized()) {
        let payload = payload(&bytes);
        let delete = payload.json("").and_then(|v| parse_delete_event(v).map(|_| ()));
        let check = payload.json("").and_then(|v| parse_check_event(v, aws_smithy_types::DateTime::from_secs(0)).map(|_| ()));
        for result in [delete, check] {
            assert_names_the_problem(&result.expect_err(&name));
        }
    }
    for (name, bytes) in corpus("tests/corpus/delete-only").into_iter().chain([oversized_metadata()]) {
        let result = payload(&bytes).json("").and_then(|v| parse_delete_event(v).map(|_| ()));
        assert_names_the_problem(&result.expect_err(&name));
    }
}

async fn assert_refused_without_a_call(binary: &str, name: &str, arn: &str, inputs: &[(String, Vec<u8>)]) {
    let emulator = emulator().await;
    seed(&emulator, VALID);
    let process =
        FunctionProcess::spawn(binary, name, &[("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint()), ("EVENT_BUS_NAME", "unused".into())])
            .await;
    for (input, bytes) in inputs {
        let options = Invoke { function_arn: arn.into(), ..Default::default() };
        let completed = process.runtime.invoke_raw(bytes::Bytes::from(bytes.clone()), options).await.unwrap();
        match &completed.outcome {
            Outcome::Error { error_type, error_message, .. } => {
                assert_eq!(error_type, "InvalidInput", "{name} {input}: {error_message}");
                assert_names_the_problem(&Error::InvalidInput(error_message.clone()));
            }
            other => panic!("{name} {input}: {other:?}"),
        }
    }
    assert!(emulator.calls().is_empty(), "{name}: {:?}", emulator.calls());
    let logs = process.logs();
    assert!(!logs.contains(&"x".repeat(200)), "{name}: a payload reached the logs");
}

#[tokio::test]
async fn the_binaries_refuse_the_corpus_the_oversized_payloads_and_generated_inputs_before_any_call() {
    let mut inputs: Vec<(String, Vec<u8>)> = corpus("tests/corpus").into_iter().chain(oversized()).collect();
    // A few generated near misses too, end to end.
    for index in 0..24 {
        let event = Draw(Random::new(index)).near_miss_json(4);
        let now = aws_smithy_types::DateTime::from_secs(0);
        if parse_delete_event(&event).is_err() && parse_check_event(&event, now).is_err() {
            inputs.push((format!("generated {index}"), event.to_string().into_bytes()));
        }
    }
    let delete_only: Vec<(String, Vec<u8>)> =
        inputs.iter().cloned().chain(corpus("tests/corpus/delete-only")).chain([oversized_metadata()]).collect();
    tokio::join!(
        assert_refused_without_a_call(DELETE_BIN, "delete-instance", DELETE_ARN, &delete_only),
        assert_refused_without_a_call(CHECK_BIN, "check-instance-status", CHECK_ARN, &inputs),
    );
}
