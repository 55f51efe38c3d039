//! Unit tests of the parent module.

//! The error mapping and the decisions, with a real SDK client talking HTTP to the Supply Chain
//! emulator, whose faults and canned answers stand for what the service can answer.
use super::*;
use aws_sdk_supplychain::types::InstanceState;
use aws_sdk_supplychain::Client;
use serde_json::json;
use supplychain_emulator::{Emulator, EmulatorConfig, Fault, FaultRule, SeedInstance};
use supplychain_testkit::{emulator_with, SECRET_ACCESS_KEY};

const ID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:delete-instance";

/// An emulator holding the instance `ID` in `state` (none when `None`), with `tags`; an instance
/// stays `Initializing` or `Deleting` for the whole test.
async fn emulator_holding(state: Option<&str>, tags: &[(&str, &str)]) -> Emulator {
    let hour = std::time::Duration::from_secs(3_600);
    let emulator = emulator_with(EmulatorConfig { create_delay: hour, delete_delay: hour, ..EmulatorConfig::default() }).await;
    if let Some(state) = state {
        emulator.seed(SeedInstance {
            instance_id: Some(ID.into()),
            state: Some(state.into()),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        });
    }
    emulator
}

/// The next `count` calls of `operation` answer the modeled error `error_type` with `status`. The
/// message does not name the error type, so that an error that names it read it from the answer's
/// `x-amzn-errortype`.
fn fail(emulator: &Emulator, operation: &str, count: u32, status: u16, error_type: &str) {
    emulator.inject(FaultRule::new(operation, count, Fault::error(status, error_type, "refused by the test")));
}

async fn sdk_config(emulator: &Emulator) -> aws_config::SdkConfig {
    supplychain_testkit::sdk_config(&emulator.endpoint(), SECRET_ACCESS_KEY).await
}

async fn function(emulator: &Emulator) -> DeleteFunction {
    let client = Client::new(&sdk_config(emulator).await);
    DeleteFunction::new(SupplyChain::new(client), None, DeleteSettings::from_lookup(&|_| None).unwrap())
}

/// How many calls of each of ListTagsForResource, DeleteInstance and GetInstance the emulator took.
fn calls(emulator: &Emulator) -> (usize, usize, usize) {
    let count = |operation| emulator.call_count(operation);
    (count("ListTagsForResource"), count("DeleteInstance"), count("GetInstance"))
}

async fn invoke(function: &DeleteFunction, payload: serde_json::Value) -> Result<DeleteResponse, Error> {
    let mut context = lambda_runtime::Context::default();
    context.invoked_function_arn = FUNCTION_ARN.to_owned();
    function.handle(LambdaEvent::new(Payload::Json(payload), context)).await
}

fn state_of(response: DeleteResponse) -> String {
    match response {
        DeleteResponse::Instance(output) => output.instance.state.as_str().to_owned(),
        other => panic!("expected a record, got {other:?}"),
    }
}

/// Each modeled DeleteInstance error: its HTTP status and error type as the service model gives
/// them, the errorType it maps to, and how many attempts it takes. Throttling and server errors are
/// retried by the SDK (three attempts in standard mode) first.
const DELETE_INSTANCE_ERRORS: [(u16, &str, &str, usize); 6] = [
    (404, "ResourceNotFoundException", "InstanceNotFound", 1),
    (403, "AccessDeniedException", "AccessDenied", 1),
    (402, "ServiceQuotaExceededException", "QuotaExceeded", 1),
    (429, "ThrottlingException", "Throttled", 3),
    (500, "InternalServerException", "ServiceUnavailable", 3),
    (400, "ValidationException", "InvalidInput", 1),
];

#[tokio::test]
async fn each_delete_instance_error_maps_to_its_error_type_and_keeps_the_aws_code() {
    for (status, code, error_type, attempts) in DELETE_INSTANCE_ERRORS {
        let emulator = emulator_holding(Some("Active"), &[]).await;
        fail(&emulator, "DeleteInstance", 3, status, code);
        // A 404 is read back once: an instance found deleted would be a deletion under way.
        fail(&emulator, "GetInstance", 1, 404, "ResourceNotFoundException");
        let error = invoke(&function(&emulator).await, json!({"instanceId": ID})).await.unwrap_err();
        assert_eq!(error.error_type(), error_type);
        assert!(error.to_string().contains(code), "{error}");
        assert!(error.to_string().contains("DeleteInstance failed"), "{error}");
        let read_back = usize::from(error_type == "InstanceNotFound");
        assert_eq!(calls(&emulator), (1, attempts, read_back), "{error_type}");
    }
}

#[tokio::test]
async fn an_unmodeled_503_is_service_unavailable() {
    let emulator = emulator_holding(Some("Active"), &[]).await;
    emulator.inject(FaultRule::new("DeleteInstance", 3, Fault::respond(503, "{\"message\":\"busy\"}")));
    let error = invoke(&function(&emulator).await, json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "ServiceUnavailable", "{error}");
    assert!(emulator.call_count("DeleteInstance") >= 1);
}

#[tokio::test]
async fn a_conflict_during_a_deletion_already_under_way_is_success() {
    let emulator = emulator_holding(Some("Deleting"), &[]).await;
    fail(&emulator, "DeleteInstance", 1, 409, "ConflictException");
    let response = invoke(&function(&emulator).await, json!({"instanceId": ID})).await.unwrap();
    assert_eq!(state_of(response), "Deleting");
    assert_eq!(calls(&emulator), (1, 1, 1));
}

#[tokio::test]
async fn a_conflict_with_another_change_is_a_retryable_conflict() {
    // The emulator itself refuses to delete an instance still Initializing, with a 409.
    let emulator = emulator_holding(Some("Initializing"), &[]).await;
    let error = invoke(&function(&emulator).await, json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "Conflict");
    assert!(error.to_string().contains("the instance is Initializing"), "{error}");
    assert_eq!(calls(&emulator), (1, 1, 1));
}

#[tokio::test]
async fn a_protected_instance_is_never_deleted() {
    let emulator = emulator_holding(Some("Active"), &[("DeletionProtection", "TRUE")]).await;
    let error = invoke(&function(&emulator).await, json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "DeletionProtected");
    let tag_reads = emulator.calls().into_iter().filter(|call| call.operation == "ListTagsForResource");
    let paths: Vec<String> = tag_reads.map(|call| call.path).collect();
    // The tags read are those of the instance's own ARN, in the function's account and region.
    assert_eq!(paths, [format!("/api/tags/{}", percent_encoded(&format!("arn:aws:scn:us-east-1:123456789012:instance/{ID}")))]);
    assert_eq!(emulator.instance(ID).unwrap().state, "Active");
    assert_eq!(calls(&emulator), (1, 0, 0));
}

/// `text` percent-encoded as the SDK writes a path label.
fn percent_encoded(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test]
async fn tags_of_a_missing_instance_mean_instance_not_found() {
    let emulator = emulator_holding(None, &[]).await;
    let error = invoke(&function(&emulator).await, json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "InstanceNotFound");
    assert!(error.to_string().contains("ListTagsForResource failed"), "{error}");
    assert!(!error.to_string().contains("announced"), "no bus, so nothing is announced: {error}");
    assert_eq!(calls(&emulator), (1, 0, 1));
}

#[tokio::test]
async fn an_instance_whose_tags_are_not_found_but_which_reads_as_deleted_is_a_deletion_that_ended() {
    let emulator = emulator_holding(Some("Deleted"), &[]).await;
    fail(&emulator, "ListTagsForResource", 1, 404, "ResourceNotFoundException");
    let function = function(&emulator).await;
    let (request, invocation) = request_and_invocation(&function, json!({"instanceId": ID}));

    let deletion = function.delete(&request, &invocation).await.unwrap();

    assert_eq!(deletion.answer.as_ref().unwrap().instance.state, InstanceState::Deleted);
    let announcement = function.announcement(&request, &deletion, &invocation).expect("announced, so that its end is too");
    assert_eq!(announcement.detail_json()["instance"]["state"], "Deleted");
    assert!(announcement.detail_json().get("instanceNotFound").is_none(), "{}", announcement.detail_json());
    assert_eq!(calls(&emulator), (1, 0, 1));
}

#[tokio::test]
async fn an_instance_not_found_anywhere_is_announced_by_id_as_not_found_with_the_request_and_its_sender() {
    let emulator = emulator_holding(None, &[]).await;
    let config = sdk_config(&emulator).await;
    // The bus's calls would reach the emulator and be logged there: the announcement is built, not put, here.
    let bus = EventBus::new(aws_sdk_eventbridge::Client::new(&config), "bus");
    let function = DeleteFunction::new(SupplyChain::new(Client::new(&config)), Some(bus), DeleteSettings::from_lookup(&|_| None).unwrap());
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "ops", "account": "123456789012",
        "detail": {"instanceId": ID, "ticket": "OPS-9"}});
    let Ok(DeleteEvent::EventBridge(request)) = parse_delete_event(&event) else { panic!("not an EventBridge request") };
    let (_, invocation) = request_and_invocation(&function, json!({"instanceId": ID}));

    let deletion = function.delete(&request, &invocation).await.unwrap();

    let error = deletion.error().expect("the request still ends in InstanceNotFound");
    assert_eq!(error.error_type(), "InstanceNotFound");
    assert!(error.to_string().contains("its end is announced all the same"), "{error}");
    let announcement = function.announcement(&request, &deletion, &invocation).expect("announced");
    assert_eq!(
        announcement.detail_json(),
        json!({"instance": {"instanceId": ID}, "sender": "123456789012", "instanceNotFound": true, "request": {"ticket": "OPS-9"}})
    );
    assert_eq!(announcement.resources(), [format!("arn:aws:scn:us-east-1:123456789012:instance/{ID}")]);
    let operations: Vec<String> = emulator.calls().into_iter().map(|call| call.operation).collect();
    assert_eq!(operations, ["ListTagsForResource", "GetInstance"]);
}

#[tokio::test]
async fn a_sweep_request_from_another_account_is_refused_before_any_call() {
    let emulator = emulator_holding(Some("Active"), &[]).await;
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "supplychain-instance-sweep",
        "account": "210987654321", "detail": {"instanceId": ID, "sweepId": "s-1", "reason": "ExpiryTagPassed"}});
    let error = invoke(&function(&emulator).await, event).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
    assert!(error.to_string().contains("comes from account 210987654321"), "{error}");
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}

/// A request read as the function reads it, and the invocation it is made in.
fn request_and_invocation(function: &DeleteFunction, payload: serde_json::Value) -> (DeleteRequest, Invocation) {
    let Ok(DeleteEvent::Direct(request)) = parse_delete_event(&payload) else { panic!("not a direct request") };
    let mut context = lambda_runtime::Context::default();
    context.invoked_function_arn = FUNCTION_ARN.to_owned();
    let home = function.supply_chains.home_of(FUNCTION_ARN).unwrap();
    (request, Invocation::new(&context, &function.settings.common, home))
}

#[tokio::test]
async fn a_deletion_the_service_answers_as_failed_at_once_is_announced_with_when_it_was_sent() {
    let emulator = emulator_holding(Some("Active"), &[]).await;
    let failed = json!({"instance": {"instanceId": ID, "awsAccountId": "123456789012", "state": "DeleteFailed"}});
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::respond(200, failed.to_string())));
    let function = function(&emulator).await;
    let (request, invocation) = request_and_invocation(&function, json!({"instanceId": ID, "ticket": "OPS-7"}));
    let before = DateTime::from(SystemTime::now()).as_secs_f64();

    let deletion = function.delete(&request, &invocation).await.unwrap();
    let after = DateTime::from(SystemTime::now()).as_secs_f64();
    let announcement = function.announcement(&request, &deletion, &invocation).expect("announced, so that its end is too");

    assert_eq!(announcement.event(), crate::contract::Event::DeletionStarted);
    assert_eq!(announcement.detail_json()["instance"]["state"], "DeleteFailed");
    assert_eq!(announcement.detail_json()["request"], json!({"ticket": "OPS-7"}));
    let detail = announcement.detail_json();
    let started = detail["startedAt"].as_str().unwrap();
    let started = DateTime::from_str(started, aws_smithy_types::date_time::Format::DateTime).unwrap().as_secs_f64();
    // Written to the millisecond, rounded to the nearest.
    assert!(started >= before - 0.001 && started <= after + 0.001, "{before} <= {started} <= {after}");
    assert!(announcement.detail_json().get("sweepId").is_none(), "{}", announcement.detail_json());
    assert_eq!(calls(&emulator), (1, 1, 0));
}

#[tokio::test]
async fn a_dry_run_is_not_announced_and_has_no_start() {
    let emulator = emulator_holding(Some("Active"), &[]).await;
    let function = function(&emulator).await;
    let (request, invocation) = request_and_invocation(&function, json!({"instanceId": ID, "dryRun": true}));

    let deletion = function.delete(&request, &invocation).await.unwrap();

    assert_eq!(deletion.started_at, None);
    assert_eq!(function.announcement(&request, &deletion, &invocation), None);
    assert_eq!(emulator.instance(ID).unwrap().state, "Active");
    assert_eq!(calls(&emulator), (1, 0, 1));
}

#[tokio::test]
async fn invalid_input_reaches_no_service() {
    let emulator = emulator_holding(Some("Active"), &[]).await;
    let error = invoke(&function(&emulator).await, json!({"instanceId": "nope"})).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
    assert!(emulator.calls().is_empty(), "{:?}", emulator.calls());
}
