//! The metrics each outcome writes, read from the compiled binaries' output as CloudWatch Logs would
//! read it: every line with an `_aws` member is checked against the embedded metric format
//! specification (`crate::support::emf`), then its values against what the invocation did. Also the trace
//! header: the X-Ray trace id of each invocation reaches the services on every call.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::support::*;
use serde_json::{json, Map, Value};
use supplychain_delete_instance::metrics::{self, DEFAULT_NAMESPACE};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome};
use supplychain_emulator::{Emulator, Fault, FaultRule, SeedInstance};

/// Invokes `process` under a request id of the test's choosing, and returns the outcome and the
/// metrics the invocation wrote, keyed `Name` or `Name{Dimension=value}`.
async fn invoke(process: &FunctionProcess, payload: Value, arn: &str, request_id: &str) -> (Outcome, BTreeMap<String, Value>) {
    let options = Invoke {
        request_id: Some(request_id.to_owned()),
        function_arn: arn.to_owned(),
        deadline: Deadline::In(Duration::from_secs(20)),
        ..Default::default()
    };
    let outcome = process.invoke_with(payload, options).await;
    // The lines are written before the answer is posted, so they are in the log by now.
    // The function's name is the last part of its ARN, as the tests spawn it.
    (outcome, written(process, arn.rsplit(':').next().unwrap(), request_id))
}

/// The metrics of one invocation's EMF documents. Each metric appears once: the invocation flushed
/// once, whatever it did.
fn written(process: &FunctionProcess, function_name: &str, request_id: &str) -> BTreeMap<String, Value> {
    let logs = process.logs();
    let documents: Vec<Map<String, Value>> =
        crate::support::emf::documents(&logs).into_iter().filter(|document| document["requestId"] == request_id).collect();
    let mut found = BTreeMap::new();
    for document in &documents {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], DEFAULT_NAMESPACE);
        let sets = directive["Dimensions"].as_array().unwrap();
        // Every metric is by function, and low-cardinality dimensions only: never an instance id.
        assert!(sets.iter().all(|set| set.as_array().unwrap().contains(&json!(metrics::FUNCTION_NAME))), "{document:?}");
        assert!(sets.contains(&json!([metrics::FUNCTION_NAME])), "every metric is also summed by function alone: {document:?}");
        let mut extra = None;
        for key in sets.iter().flat_map(|set| set.as_array().unwrap()).map(|key| key.as_str().unwrap()) {
            assert!([metrics::FUNCTION_NAME, metrics::ERROR_TYPE, metrics::OUTCOME, metrics::REASON].contains(&key), "dimension {key}");
            if key != metrics::FUNCTION_NAME {
                extra = Some(format!("{{{key}={}}}", document[key].as_str().unwrap()));
            }
        }
        assert_eq!(document[metrics::FUNCTION_NAME], function_name);
        for definition in directive["Metrics"].as_array().unwrap() {
            let name = definition["Name"].as_str().unwrap();
            let unit = metrics::METRICS.iter().find(|(known, _)| *known == name).unwrap_or_else(|| panic!("{name} is not listed")).1;
            assert_eq!(definition["Unit"], unit, "{name}");
            let key = format!("{name}{}", extra.as_deref().unwrap_or(""));
            assert!(found.insert(key.clone(), document[name].clone()).is_none(), "{key} written twice:\n{logs}");
        }
    }
    found
}

fn counts(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The EMF document of `request_id` that carries `metric`, whole (for its properties).
fn document_with(process: &FunctionProcess, request_id: &str, metric: &str) -> Map<String, Value> {
    crate::support::emf::documents(&process.logs())
        .into_iter()
        .find(|document| document["requestId"] == request_id && document.contains_key(metric))
        .unwrap_or_else(|| panic!("no {metric} for {request_id}"))
}

#[test]
fn the_validator_accepts_the_example_of_the_specification_and_refuses_broken_copies() {
    let example = r#"{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics","Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds"}]}]},"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}"#;
    crate::support::emf::validate(example).unwrap();
    let many_keys: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
    let too_many_dimensions = {
        let mut root: Value = serde_json::from_str(example).unwrap();
        root["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([many_keys]);
        for key in &many_keys {
            root[key] = json!("v");
        }
        root.to_string()
    };
    let too_many_metrics = {
        let mut root: Value = serde_json::from_str(example).unwrap();
        root["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!((0..101).map(|i| json!({"Name": format!("m{i}")})).collect::<Vec<_>>());
        for i in 0..101 {
            root[format!("m{i}")] = json!(1);
        }
        root.to_string()
    };
    for (broken, rule) in [
        (example.replace(r#""time":100"#, r#""time":"100""#), "is not a number"),
        (example.replace(r#""time":100"#, &format!(r#""time":{:?}"#, vec![1; 101])), "at most 100 numbers"),
        (example.replace(r#","functionVersion":"$LATEST""#, ""), "has no member on the root"),
        (example.replace(r#""functionVersion":"$LATEST""#, r#""functionVersion":7"#), "is not a string"),
        (example.replace("Milliseconds", "Millis"), "is not a CloudWatch unit"),
        (example.replace(r#""Timestamp":1574109732004,"#, ""), "Timestamp"),
        (example.replace(r#"[["functionVersion"]]"#, "[]"), "at least one DimensionSet"),
        (example.replace(r#""Namespace":"lambda-function-metrics","#, ""), "no Namespace"),
        (example.replace(r#""Unit":"Milliseconds""#, r#""Unit":"Milliseconds","Extra":1"#), "does not define"),
        (format!("x{example}"), "not a JSON text"),
        (too_many_dimensions, "at most 30"),
        (too_many_metrics, "at most 100"),
    ] {
        let error = crate::support::emf::validate(&broken).unwrap_err();
        assert!(error.contains(rule), "{error} / expected: {rule}");
    }
}

#[tokio::test]
async fn a_deletion_counts_one_started_with_the_instance_as_a_property_not_a_dimension() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[]).await;

    let (outcome, written) = invoke(&function, fixture("direct.json"), DELETE_ARN, "request-delete").await;

    assert_eq!(outcome.response().unwrap()["instance"]["state"], "Deleting");
    assert_eq!(written, counts(&[(metrics::DELETIONS_STARTED, json!(1))]));
    let document = document_with(&function, "request-delete", metrics::DELETIONS_STARTED);
    assert_eq!(document["instanceId"], FIXTURE_ID);
    let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let timestamp = document["_aws"]["Timestamp"].as_u64().unwrap();
    assert!(timestamp <= now_ms && timestamp + 60_000 > now_ms, "{timestamp} vs {now_ms}");
}

#[tokio::test]
async fn each_refusal_is_counted_under_its_error_type() {
    let emulator = emulator().await;
    seed_with_tags(&emulator, FIXTURE_ID, &[("DeletionProtection", "true")]);
    let function = delete_process(&emulator, &[]).await;

    for (payload, error_type) in [
        (json!({"instanceId": FIXTURE_ID}), "DeletionProtected"),
        (json!({"instanceId": "99999999-9999-4999-8999-999999999999"}), "InstanceNotFound"),
        (json!({"instanceId": "not-an-id"}), "InvalidInput"),
    ] {
        let request_id = format!("request-{error_type}");
        let (outcome, written) = invoke(&function, payload, DELETE_ARN, &request_id).await;
        assert!(matches!(&outcome, Outcome::Error { error_type: e, .. } if e == error_type), "{outcome:?}");
        assert_eq!(written, counts(&[(&format!("{}{{ErrorType={error_type}}}", metrics::DELETIONS_REFUSED), json!(1))]));
    }
    assert_eq!(states(&emulator, FIXTURE_ID), ["Active"]);
}

#[tokio::test]
async fn a_dry_run_counts_a_dry_run_and_no_deletion() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[]).await;

    let (outcome, written) = invoke(&function, fixture("direct-dry-run.json"), DELETE_ARN, "request-dry-run").await;

    assert_eq!(outcome.response().unwrap()["dryRun"], true);
    assert_eq!(written, counts(&[(metrics::DRY_RUNS, json!(1))]));
}

#[tokio::test]
async fn an_sqs_batch_writes_its_metrics_once_with_its_failed_message_by_error_type() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed_with_tags(&emulator, FIXTURE_ID_2, &[("DeletionProtection", "true")]);
    let function = delete_process(&emulator, &[]).await;

    let (outcome, written) = invoke(&function, fixture("sqs-batch.json"), DELETE_ARN, "request-batch").await;

    assert_eq!(outcome.response().unwrap()["batchItemFailures"].as_array().unwrap().len(), 1);
    assert_eq!(
        written,
        counts(&[
            (metrics::DELETIONS_STARTED, json!(1)),
            ("DeletionsRefused{ErrorType=DeletionProtected}", json!(1)),
            ("SqsMessagesFailed{ErrorType=DeletionProtected}", json!(1)),
        ])
    );
    let document = document_with(&function, "request-batch", metrics::DELETIONS_STARTED);
    assert_eq!(document["instanceIds"], json!([FIXTURE_ID, FIXTURE_ID_2]));
    // One write: the invocation's lines are next to each other in the log.
    let logs = function.logs();
    let lines: Vec<usize> =
        logs.lines().enumerate().filter(|(_, line)| line.contains("\"_aws\"") && line.contains("request-batch")).map(|(i, _)| i).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1], lines[0] + 1, "{logs}");
}

#[tokio::test]
async fn an_announcement_the_bus_refuses_is_counted_beside_the_deletion_it_announced() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let moto = Moto::start().await;
    moto.proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entries("InternalFailure", "try again")));
    let function = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &moto.function_env(emulator.endpoint())).await;

    let (outcome, written) = invoke(&function, fixture("direct.json"), DELETE_ARN, "request-announce").await;

    assert!(matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "PublishFailed"), "{outcome:?}");
    assert_eq!(moto.proxy.call_count("PutEvents"), 1);
    assert_eq!(written, counts(&[(metrics::DELETIONS_STARTED, json!(1)), (metrics::ANNOUNCEMENTS_FAILED, json!(1))]));
}

#[tokio::test]
async fn a_sweep_counts_what_it_examined_selected_requested_deferred_and_skipped_by_reason_and_its_duration() {
    let emulator = emulator().await;
    let seed = |id: &str, tags: &[(&str, &str)]| {
        emulator.seed(SeedInstance {
            instance_id: Some(id.to_owned()),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        });
    };
    seed("00000001-0000-4000-8000-000000000001", &[("ExpiresAt", "2020-01-01")]);
    seed("00000001-0000-4000-8000-000000000002", &[("ExpiresAt", "2020-01-02")]);
    seed("00000001-0000-4000-8000-000000000003", &[("ExpiresAt", "2020-01-01"), ("DeletionProtection", "true")]);
    seed("00000001-0000-4000-8000-000000000004", &[("ExpiresAt", "someday")]);
    seed("00000001-0000-4000-8000-000000000005", &[("ExpiresAt", "9999-01-01")]);
    let moto = Moto::start().await;
    let sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &moto.function_env(emulator.endpoint())).await;

    let (outcome, written) = invoke(&sweep, json!({"mode": "delete", "maxDeletions": 1}), SWEEP_ARN, "request-sweep").await;

    assert_eq!(outcome.response().unwrap()["counts"], json!({"selected": 2, "requested": 1, "deferred": 1, "skipped": 2}));
    let duration = seconds(&written[metrics::SWEEP_DURATION]);
    assert!(duration > 0.0 && duration < 20.0, "{duration}");
    let mut expected = counts(&[
        (metrics::INSTANCES_EXAMINED, json!(5)),
        (metrics::INSTANCES_SELECTED, json!(2)),
        (metrics::DELETIONS_REQUESTED, json!(1)),
        (metrics::DELETIONS_DEFERRED, json!(1)),
        ("InstancesSkipped{Reason=DeletionProtected}", json!(1)),
        ("InstancesSkipped{Reason=InvalidExpiryTag}", json!(1)),
    ]);
    expected.insert(metrics::SWEEP_DURATION.to_owned(), written[metrics::SWEEP_DURATION].clone());
    assert_eq!(written, expected);
}

/// A checker wired to the emulator and to moto's EventBridge and Scheduler, and the fixture instance
/// in `state`.
async fn checker(state: &str, error_message: Option<&str>, env: &[(&str, String)]) -> (Emulator, Moto, FunctionProcess) {
    let emulator = emulator().await;
    // Polled a thousand times before it ends by itself: the test decides the state.
    emulator.seed(SeedInstance { instance_id: Some(FIXTURE_ID.into()), delete_polls: Some(1_000), ..Default::default() });
    emulator.set_state(FIXTURE_ID, state, error_message.map(str::to_owned));
    let moto = Moto::start().await;
    let mut all = moto.function_env(emulator.endpoint());
    all.extend_from_slice(env);
    let process = FunctionProcess::spawn(CHECK_BIN, "check-instance-status", &all).await;
    (emulator, moto, process)
}

/// The Deletion Started event of the fixtures, as if the deletion had started `ago` before now.
fn started(ago: Duration) -> Value {
    fixture_at("check/deletion-started.json", SystemTime::now() - ago)
}

fn seconds(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{value} is not one number of seconds"))
}

#[tokio::test]
async fn a_check_of_a_deletion_under_way_counts_one_status_check_and_no_end() {
    let (_emulator, moto, checker) = checker("Deleting", None, &[]).await;

    let (outcome, written) = invoke(&checker, started(Duration::from_secs(10)), CHECK_ARN, "check-pending").await;

    assert_eq!(outcome.response().unwrap()["outcome"], "Deleting");
    assert_eq!(moto.schedule_names().await.len(), 1, "the next check is scheduled");
    assert_eq!(written, counts(&[(metrics::STATUS_CHECKS, json!(1))]));
    assert_eq!(document_with(&checker, "check-pending", metrics::STATUS_CHECKS)["instanceId"], FIXTURE_ID);
}

#[tokio::test]
async fn a_deletion_seen_deleted_counts_a_success_and_its_time_to_delete() {
    let (_emulator, _moto, checker) = checker("Deleted", None, &[]).await;

    let (outcome, mut written) = invoke(&checker, started(Duration::from_secs(90)), CHECK_ARN, "check-deleted").await;

    assert_eq!(outcome.response().unwrap()["outcome"], "Deleted");
    let took = seconds(&written.remove("TimeToDelete{Outcome=Deleted}").expect("TimeToDelete by outcome"));
    assert!((90.0..120.0).contains(&took), "{took} s from a start 90 s ago");
    assert_eq!(written, counts(&[(metrics::STATUS_CHECKS, json!(1)), (metrics::DELETIONS_SUCCEEDED, json!(1))]));
}

#[tokio::test]
async fn a_deletion_that_failed_counts_a_failure_and_its_time() {
    let (_emulator, _moto, checker) = checker("DeleteFailed", Some("The KMS key is disabled"), &[]).await;

    let (outcome, mut written) = invoke(&checker, started(Duration::from_secs(30)), CHECK_ARN, "check-failed").await;

    assert_eq!(outcome.response().unwrap()["outcome"], "DeleteFailed");
    let took = seconds(&written.remove("TimeToDelete{Outcome=DeleteFailed}").expect("TimeToDelete by outcome"));
    assert!((30.0..60.0).contains(&took), "{took}");
    assert_eq!(written, counts(&[(metrics::STATUS_CHECKS, json!(1)), (metrics::DELETIONS_FAILED, json!(1))]));
}

#[tokio::test]
async fn a_deletion_past_the_maximum_wait_counts_a_timeout_and_its_time() {
    let (_emulator, _moto, checker) = checker("Deleting", None, &[("MAX_WAIT_SECONDS", "3600".into())]).await;

    let (outcome, mut written) = invoke(&checker, started(Duration::from_secs(7_200)), CHECK_ARN, "check-timed-out").await;

    assert_eq!(outcome.response().unwrap()["outcome"], "TimedOut");
    let took = seconds(&written.remove("TimeToDelete{Outcome=TimedOut}").expect("TimeToDelete by outcome"));
    assert!((7_200.0..7_230.0).contains(&took), "{took}");
    assert_eq!(written, counts(&[(metrics::STATUS_CHECKS, json!(1)), (metrics::DELETIONS_TIMED_OUT, json!(1))]));
}

#[tokio::test]
async fn a_repeated_final_check_counts_its_status_check_but_not_a_second_end() {
    let (_emulator, _moto, checker) = checker("Deleted", None, &[]).await;
    let event = started(Duration::from_secs(60));

    let (_, first) = invoke(&checker, event.clone(), CHECK_ARN, "check-first").await;
    let (_, second) = invoke(&checker, event, CHECK_ARN, "check-again").await;

    assert_eq!(first[metrics::DELETIONS_SUCCEEDED], 1);
    assert_eq!(second, counts(&[(metrics::STATUS_CHECKS, json!(1))]), "the end was announced and counted once");
}

#[tokio::test]
async fn the_metrics_lines_are_json_in_a_text_log_stream_too() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[("AWS_LAMBDA_LOG_FORMAT", "Text".into())]).await;

    let (_, written) = invoke(&function, fixture("direct.json"), DELETE_ARN, "request-text").await;

    assert_eq!(written, counts(&[(metrics::DELETIONS_STARTED, json!(1))]));
    let logs = function.logs();
    let decision = logs.lines().find(|line| line.contains("deletion started")).unwrap_or_else(|| panic!("{logs}"));
    assert!(serde_json::from_str::<Value>(decision).is_err(), "the log lines themselves are text: {decision}");
}

#[tokio::test]
async fn the_namespace_comes_from_metrics_namespace_and_a_bad_one_stops_init() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    let function = delete_process(&emulator, &[("METRICS_NAMESPACE", "Team/Deletions".into())]).await;
    function.invoke(fixture("direct-dry-run.json"), DELETE_ARN, Duration::from_secs(20)).await;
    let documents = crate::support::emf::documents(&function.logs());
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Team/Deletions");

    let mut refused = delete_process(&emulator, &[("METRICS_NAMESPACE", "AWS/Lambda".into())]).await;
    assert!(!refused.wait().await.success());
    let logs = refused.logs();
    assert!(logs.contains("METRICS_NAMESPACE") && logs.contains("not a CloudWatch namespace"), "{logs}");
}

#[tokio::test]
async fn every_call_carries_the_trace_header_of_the_invocation_it_serves() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    seed(&emulator, FIXTURE_ID_2);
    let function = delete_process(&emulator, &[]).await;
    let traces = [
        "Root=1-6750a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
        "Root=1-6750a1b3-89abcdef0123456789abcdef;Parent=1e2f3a4b5c6d7e8f;Sampled=0",
    ];

    for (id, trace) in [FIXTURE_ID, FIXTURE_ID_2].into_iter().zip(traces) {
        let options = Invoke { function_arn: DELETE_ARN.into(), trace_id: Some(trace.into()), ..Default::default() };
        let outcome = function.invoke_with(json!({ "instanceId": id }), options).await;
        assert_eq!(outcome.response().unwrap()["instance"]["state"], "Deleting");
    }

    let calls = emulator.calls();
    let by_instance = |id: &str| -> Vec<Option<String>> {
        calls.iter().filter(|call| call.path.contains(id)).map(|call| call.trace_id.clone()).collect()
    };
    // ListTagsForResource and DeleteInstance for each.
    assert_eq!(by_instance(FIXTURE_ID), vec![Some(traces[0].to_owned()); 2], "{calls:?}");
    assert_eq!(by_instance(FIXTURE_ID_2), vec![Some(traces[1].to_owned()); 2], "{calls:?}");
}

#[tokio::test]
async fn a_step_functions_report_of_a_finished_deletion_counts_its_end_without_a_time() {
    let (_emulator, _moto, checker) = checker("Deleted", None, &[]).await;

    let (outcome, written) = invoke(&checker, fixture("check/stepfunctions-instance-id.json"), CHECK_ARN, "check-task").await;

    assert_eq!(outcome.response().unwrap()["done"], true);
    // The task's input carries no start, so there is no time to delete to record.
    assert_eq!(written, counts(&[(metrics::STATUS_CHECKS, json!(1)), (metrics::DELETIONS_SUCCEEDED, json!(1))]));
}

#[tokio::test]
async fn metrics_that_cannot_be_written_never_fail_the_invocation() {
    let emulator = emulator().await;
    seed(&emulator, FIXTURE_ID);
    // Every write to /dev/full fails (ENOSPC), as a full or closed log pipe would.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let env = [("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint())];
    let function = FunctionProcess::spawn_with_stdout(DELETE_BIN, "delete-instance", &env, full).await;

    let outcome = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;

    assert_eq!(outcome.response().unwrap()["instance"]["state"], "Deleting", "{outcome:?}");
    let again = function.invoke(fixture("direct.json"), DELETE_ARN, Duration::from_secs(20)).await;
    assert!(again.response().is_some(), "the process lives on: {again:?}");
    assert!(states(&emulator, FIXTURE_ID).starts_with(&["Active".to_owned(), "Deleting".to_owned()]));
}
