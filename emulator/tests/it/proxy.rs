//! Drives the fault proxy with the real AWS SDK clients for EventBridge, EventBridge Scheduler and
//! SQS, over HTTP through the proxy to moto's server.
//!
//! Moto is the one `MOTO_ENDPOINT_URL` names (`scripts/test` starts it); when that is unset, these
//! tests start their own `moto_server` from the project's virtual environment. Moto's state is
//! shared by every test of a run, so each test names its resources uniquely.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::raw;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::config::{Credentials, Region};
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use supplychain_emulator::{CallRecord, Fault, FaultProxy, FaultRule};

// ----- moto ---------------------------------------------------------------------------------

/// The moto endpoint for this run, started on first use when the environment names none.
fn moto() -> &'static str {
    static MOTO: OnceLock<String> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("MOTO_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => start_moto(),
    })
}

/// Starts `moto_server` on a free port and waits (bounded) until it answers HTTP.
///
/// Moto runs under a small shell that kills it once its stdin reaches end of file; the write end
/// of that pipe belongs to this process, so moto goes away with the test binary however it ends.
fn start_moto() -> String {
    static CHILD: OnceLock<Child> = OnceLock::new();
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    assert!(server.exists(), "{} is missing: run scripts/setup", server.display());
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port();
    let child = Command::new("sh")
        .args(["-c", r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & cat >/dev/null; kill $!"#])
        .arg(&server)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .expect("start moto_server");
    let _ = CHILD.set(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !moto_answers(addr) {
        assert!(Instant::now() < deadline, "moto_server did not answer on {addr} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://{addr}")
}

fn moto_answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let mut answer = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok() && stream.read_exact(&mut answer).is_ok() && answer.starts_with(b"HTTP/1.")
}

// ----- helpers ------------------------------------------------------------------------------

async fn proxy() -> FaultProxy {
    FaultProxy::start(moto()).await.expect("start proxy")
}

/// A name no other test of this run uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn credentials() -> Credentials {
    Credentials::new("AKIATEST", "secret", None, None, "t")
}

/// Standard retries (three attempts) with short backoffs, so retried tests stay quick.
fn quick_retries() -> RetryConfig {
    RetryConfig::standard().with_initial_backoff(Duration::from_millis(5)).with_max_backoff(Duration::from_millis(20))
}

fn events(proxy: &FaultProxy, retry: RetryConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::Config::builder()
            .behavior_version_latest()
            .endpoint_url(proxy.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials())
            .retry_config(retry)
            .build(),
    )
}

fn scheduler(proxy: &FaultProxy, retry: RetryConfig) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::from_conf(
        aws_sdk_scheduler::Config::builder()
            .behavior_version_latest()
            .endpoint_url(proxy.endpoint())
            .region(aws_sdk_scheduler::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .retry_config(retry)
            .build(),
    )
}

fn sqs(proxy: &FaultProxy) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(proxy.endpoint())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .build(),
    )
}

fn entry(source: &str, n: u32) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder().source(source).detail_type("Proxy test").detail(json!({ "n": n }).to_string()).build()
}

/// Sends `count` entries with a fresh source and returns the SDK's answer.
async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    count: u32,
) -> Result<aws_sdk_eventbridge::operation::put_events::PutEventsOutput, SdkError<aws_sdk_eventbridge::operation::put_events::PutEventsError>>
{
    let source = unique("proxy.test");
    client.put_events().set_entries(Some((0..count).map(|n| entry(&source, n)).collect())).send().await
}

async fn create_schedule(
    client: &aws_sdk_scheduler::Client,
    name: &str,
) -> Result<
    aws_sdk_scheduler::operation::create_schedule::CreateScheduleOutput,
    aws_sdk_scheduler::error::SdkError<aws_sdk_scheduler::operation::create_schedule::CreateScheduleError>,
> {
    client
        .create_schedule()
        .name(name)
        .schedule_expression("at(2030-01-01T00:00:00)")
        .flexible_time_window(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().expect("window"))
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn("arn:aws:lambda:us-east-1:123456789012:function:check-instance-status")
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .input(r#"{"instanceId":"x"}"#)
                .build()
                .expect("target"),
        )
        .send()
        .await
}

/// The (operation, status, fault) of every logged call.
fn log(proxy: &FaultProxy) -> Vec<(String, u16, Option<String>)> {
    proxy.calls().into_iter().map(|CallRecord { operation, status, fault, .. }| (operation, status, fault)).collect()
}

fn call(operation: &str, status: u16, fault: Option<&str>) -> (String, u16, Option<String>) {
    (operation.into(), status, fault.map(str::to_owned))
}

// ----- pass-through -------------------------------------------------------------------------

#[tokio::test]
async fn put_events_passes_through_and_a_rule_delivers_the_event_to_an_sqs_queue() {
    let proxy = proxy().await;
    let events = events(&proxy, RetryConfig::disabled());
    let sqs = sqs(&proxy);

    let queue_url = sqs.create_queue().queue_name(unique("proxy-queue")).send().await.expect("create queue").queue_url.expect("queue url");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("queue arn");
    let source = unique("proxy.test");
    let rule = unique("proxy-rule");
    events.put_rule().name(&rule).event_pattern(json!({ "source": [source] }).to_string()).send().await.expect("put rule");
    events
        .put_targets()
        .rule(&rule)
        .targets(Target::builder().id("queue").arn(&queue_arn).build().expect("target"))
        .send()
        .await
        .expect("put targets");

    let sent = events.put_events().entries(entry(&source, 7)).send().await.expect("put events");
    assert_eq!(sent.failed_entry_count(), 0);
    assert!(sent.entries()[0].event_id().is_some());

    let received = sqs.receive_message().queue_url(&queue_url).wait_time_seconds(5).send().await.expect("receive message");
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let event: serde_json::Value = serde_json::from_str(messages[0].body().expect("body")).expect("event JSON");
    assert_eq!(event["source"], source.as_str());
    assert_eq!(event["detail"], json!({ "n": 7 }));

    let operations: Vec<String> = proxy.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(operations, ["CreateQueue", "GetQueueAttributes", "PutRule", "PutTargets", "PutEvents", "ReceiveMessage"]);
    assert!(proxy.calls().iter().all(|c| c.status == 200 && c.fault.is_none()));
}

#[tokio::test]
async fn create_schedule_passes_through_and_the_schedule_reads_back() {
    let proxy = proxy().await;
    let client = scheduler(&proxy, RetryConfig::disabled());
    let name = unique("proxy-schedule");

    let created = create_schedule(&client, &name).await.expect("create schedule");
    assert!(created.schedule_arn().ends_with(&format!("schedule/default/{name}")));
    let read = client.get_schedule().name(&name).send().await.expect("get schedule");
    assert_eq!(read.schedule_expression(), Some("at(2030-01-01T00:00:00)"));

    assert_eq!(log(&proxy), [call("CreateSchedule", 200, None), call("GetSchedule", 200, None)]);
    assert_eq!(proxy.calls()[0].path, format!("/schedules/{name}"));
}

// ----- throttling ---------------------------------------------------------------------------

#[tokio::test]
async fn put_events_throttled_twice_succeeds_on_the_sdks_third_attempt() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("PutEvents", 2, Fault::Throttle));
    let client = events(&proxy, quick_retries());

    let sent = put_events(&client, 1).await.expect("put events after retries");
    assert_eq!(sent.failed_entry_count(), 0);
    assert_eq!(proxy.call_count("PutEvents"), 3);
    assert_eq!(
        log(&proxy),
        [call("PutEvents", 400, Some("throttle")), call("PutEvents", 400, Some("throttle")), call("PutEvents", 200, None),]
    );
    assert!(proxy.faults().is_empty());
}

#[tokio::test]
async fn persistent_throttling_ends_in_the_sdks_throttling_exception() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("*", 10, Fault::Throttle));

    let err = put_events(&events(&proxy, quick_retries()), 1).await.expect_err("throttled");
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(proxy.call_count("PutEvents"), 3);

    let err = create_schedule(&scheduler(&proxy, quick_retries()), &unique("proxy-throttled")).await.expect_err("throttled");
    assert!(err.as_service_error().is_some_and(|e| e.is_throttling_exception()), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert_eq!(proxy.call_count("CreateSchedule"), 3);
    proxy.clear_faults();
}

// ----- entry failures -----------------------------------------------------------------------

#[tokio::test]
async fn a_canned_put_events_answer_reports_a_failed_entry_to_the_sdk() {
    let proxy = proxy().await;
    let body = json!({
        "FailedEntryCount": 1,
        "Entries": [{ "ErrorCode": "InternalFailure", "ErrorMessage": "Injected failure" }]
    });
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::respond(200, body.to_string())));
    let client = events(&proxy, RetryConfig::disabled());

    let sent = put_events(&client, 1).await.expect("put events");
    assert_eq!(sent.failed_entry_count(), 1);
    assert_eq!(sent.entries()[0].error_code(), Some("InternalFailure"));
    assert_eq!(sent.entries()[0].error_message(), Some("Injected failure"));
    assert_eq!(log(&proxy), [call("PutEvents", 200, Some("respond"))]);

    // The rule is used up: the next call reaches moto.
    let sent = put_events(&client, 1).await.expect("put events");
    assert_eq!(sent.failed_entry_count(), 0);
}

#[tokio::test]
async fn fail_entries_marks_every_entry_of_the_upstream_answer_as_failed() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entries("ThrottlingException", "Rate exceeded")));

    let sent = put_events(&events(&proxy, RetryConfig::disabled()), 3).await.expect("put events");
    assert_eq!(sent.failed_entry_count(), 3);
    assert_eq!(sent.entries().len(), 3);
    for entry in sent.entries() {
        assert_eq!(entry.error_code(), Some("ThrottlingException"));
        assert_eq!(entry.error_message(), Some("Rate exceeded"));
        assert_eq!(entry.event_id(), None);
    }
    assert_eq!(log(&proxy), [call("PutEvents", 200, Some("failEntries"))]);
}

#[tokio::test]
async fn fail_entry_fails_only_the_chosen_entry_and_keeps_the_others() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entry(1, "InternalFailure", "Injected failure")));

    let sent = put_events(&events(&proxy, RetryConfig::disabled()), 2).await.expect("put events");
    assert_eq!(sent.failed_entry_count(), 1);
    let [first, second] = sent.entries() else {
        panic!("two entries expected: {sent:?}");
    };
    assert!(first.event_id().is_some());
    assert_eq!(first.error_code(), None);
    assert_eq!(second.event_id(), None);
    assert_eq!(second.error_code(), Some("InternalFailure"));
}

// ----- broken calls -------------------------------------------------------------------------

#[tokio::test]
async fn a_dropped_connection_fails_the_call_and_the_sdk_retry_gets_through() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::Drop));
    let err = put_events(&events(&proxy, RetryConfig::disabled()), 1).await.expect_err("dropped");
    assert!(err.raw_response().is_none(), "no response expected: {err:?}");
    assert_eq!(log(&proxy), [call("PutEvents", 0, Some("drop"))]);

    proxy.clear_calls();
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::Drop));
    put_events(&events(&proxy, quick_retries()), 1).await.expect("retried after the drop");
    assert_eq!(log(&proxy), [call("PutEvents", 0, Some("drop")), call("PutEvents", 200, None)]);
}

#[tokio::test]
async fn internal_and_unavailable_faults_answer_500_and_503_in_each_protocol() {
    let proxy = proxy().await;
    let events = events(&proxy, RetryConfig::disabled());
    let scheduler = scheduler(&proxy, RetryConfig::disabled());
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::Internal));
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::Unavailable));
    proxy.inject(FaultRule::new("CreateSchedule", 1, Fault::Internal));
    proxy.inject(FaultRule::new("CreateSchedule", 1, Fault::Unavailable));

    for (status, code) in [(500, "InternalException"), (503, "ServiceUnavailable")] {
        let err = put_events(&events, 1).await.expect_err("fault");
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(status));
    }
    for (status, code) in [(500, "InternalServerException"), (503, "ServiceUnavailableException")] {
        let err = create_schedule(&scheduler, &unique("proxy-fault")).await.expect_err("fault");
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(status));
    }

    // The wire format, as a JSON 1.1 client receives it.
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::Internal));
    let answer =
        raw(proxy.addr(), "POST", "/", &[("x-amz-target", "AWSEvents.PutEvents"), ("content-type", "application/x-amz-json-1.1")], b"{}")
            .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(answer.header("x-amzn-errortype"), Some("InternalException"));
    assert_eq!(answer.json()["__type"], "InternalException");
}

#[tokio::test]
async fn a_delay_holds_the_call_back_then_forwards_it() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::delay(200)));
    let started = Instant::now();
    let sent = put_events(&events(&proxy, RetryConfig::disabled()), 1).await.expect("put events");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(sent.failed_entry_count(), 0);
    assert_eq!(log(&proxy), [call("PutEvents", 200, Some("delay"))]);
}

#[tokio::test]
async fn a_hung_call_times_out_in_the_sdk_without_reaching_moto() {
    let proxy = proxy().await;
    proxy.inject(FaultRule::new("PutEvents", 1, Fault::Hang));
    let client = aws_sdk_eventbridge::Client::from_conf(
        events(&proxy, RetryConfig::disabled())
            .config()
            .to_builder()
            .timeout_config(TimeoutConfig::builder().operation_attempt_timeout(Duration::from_millis(300)).build())
            .build(),
    );
    let err = put_events(&client, 1).await.expect_err("timed out");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert_eq!(log(&proxy), [call("PutEvents", 0, Some("hang"))]);
}

// ----- admin API ----------------------------------------------------------------------------

#[tokio::test]
async fn the_admin_api_adds_rules_and_reads_and_clears_the_call_log() {
    let proxy = proxy().await;
    let rule = json!({
        "operation": "ListSchedules",
        "count": 1,
        "fault": { "type": "error", "status": 400, "errorType": "ValidationException", "message": "no" }
    });
    let added = raw(proxy.addr(), "POST", "/_proxy/faults", &[], rule.to_string().as_bytes()).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(proxy.faults(), [FaultRule::new("ListSchedules", 1, Fault::error(400, "ValidationException", "no"))]);

    let err = scheduler(&proxy, RetryConfig::disabled()).list_schedules().send().await.expect_err("injected error");
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(err.message(), Some("no"));

    let calls = raw(proxy.addr(), "GET", "/_proxy/calls", &[], b"").await.json();
    assert_eq!(calls[0]["operation"], "ListSchedules");
    assert_eq!(calls[0]["status"], 400);
    assert_eq!(calls[0]["fault"], "error");
    assert!(calls[0]["atMillis"].as_u64().is_some());
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "admin calls are not logged");

    raw(proxy.addr(), "POST", "/_proxy/faults", &[], br#"[{"operation":"*","count":5,"fault":{"type":"hang"}}]"#).await;
    assert_eq!(raw(proxy.addr(), "DELETE", "/_proxy/faults", &[], b"").await.status, 200);
    assert!(proxy.faults().is_empty());
    assert_eq!(raw(proxy.addr(), "DELETE", "/_proxy/calls", &[], b"").await.status, 200);
    assert!(proxy.calls().is_empty());
}
