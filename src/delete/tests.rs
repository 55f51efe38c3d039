//! Unit tests of the parent module.

//! The error mapping and the decisions, with a real SDK client whose answers are stubbed.
use super::*;
use aws_sdk_supplychain::operation::delete_instance::{DeleteInstanceError, DeleteInstanceOutput};
use aws_sdk_supplychain::operation::get_instance::{GetInstanceError, GetInstanceOutput};
use aws_sdk_supplychain::operation::list_tags_for_resource::{ListTagsForResourceError, ListTagsForResourceOutput};
use aws_sdk_supplychain::types::error::{
    AccessDeniedException, ConflictException, InternalServerException, ResourceNotFoundException, ServiceQuotaExceededException,
    ThrottlingException, ValidationException,
};
use aws_sdk_supplychain::types::{Instance, InstanceState};
use aws_sdk_supplychain::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use serde_json::json;

const ID: &str = "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:delete-instance";

/// The error code the SDK would have read from the `x-amzn-errortype` header.
fn meta(code: &str) -> aws_sdk_supplychain::error::ErrorMetadata {
    aws_sdk_supplychain::error::ErrorMetadata::builder().code(code).build()
}

fn instance(state: InstanceState) -> Instance {
    Instance::builder().instance_id(ID).aws_account_id("123456789012").state(state).build().unwrap()
}

fn no_tags() -> Rule {
    mock!(Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().set_tags(Some(Default::default())).build().unwrap())
}

fn function(rules: &[&Rule]) -> DeleteFunction {
    let client = mock_client!(aws_sdk_supplychain, RuleMode::MatchAny, rules);
    DeleteFunction::new(SupplyChain::new(client), None, DeleteSettings::from_lookup(&|_| None).unwrap())
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

/// Each DeleteInstance error: the modeled error, the errorType it maps to, the AWS code its
/// message keeps, and how many attempts it takes. Throttling and server errors are retried by the
/// SDK (three attempts in standard mode) first.
type Case = (fn() -> DeleteInstanceError, &'static str, &'static str, usize);
const DELETE_INSTANCE_ERRORS: [Case; 6] = [
    (
        || {
            DeleteInstanceError::ResourceNotFoundException(
                ResourceNotFoundException::builder().message("gone").meta(meta("ResourceNotFoundException")).build(),
            )
        },
        "InstanceNotFound",
        "ResourceNotFoundException",
        1,
    ),
    (
        || {
            DeleteInstanceError::AccessDeniedException(
                AccessDeniedException::builder().message("no").meta(meta("AccessDeniedException")).build(),
            )
        },
        "AccessDenied",
        "AccessDeniedException",
        1,
    ),
    (
        || {
            DeleteInstanceError::ServiceQuotaExceededException(
                ServiceQuotaExceededException::builder().message("q").meta(meta("ServiceQuotaExceededException")).build(),
            )
        },
        "QuotaExceeded",
        "ServiceQuotaExceededException",
        1,
    ),
    (
        || {
            DeleteInstanceError::ThrottlingException(
                ThrottlingException::builder().message("slow").meta(meta("ThrottlingException")).build(),
            )
        },
        "Throttled",
        "ThrottlingException",
        3,
    ),
    (
        || {
            DeleteInstanceError::InternalServerException(
                InternalServerException::builder().message("oops").meta(meta("InternalServerException")).build(),
            )
        },
        "ServiceUnavailable",
        "InternalServerException",
        3,
    ),
    (
        || {
            DeleteInstanceError::ValidationException(
                ValidationException::builder().message("bad").meta(meta("ValidationException")).build(),
            )
        },
        "InvalidInput",
        "ValidationException",
        1,
    ),
];

#[tokio::test]
async fn each_delete_instance_error_maps_to_its_error_type_and_keeps_the_aws_code() {
    for (make, error_type, code, attempts) in DELETE_INSTANCE_ERRORS {
        let tags = no_tags();
        let delete = mock!(Client::delete_instance).then_error(make);
        // A 404 is read back once: an instance found deleted would be a deletion under way.
        let get = missing();
        let error = invoke(&function(&[&tags, &delete, &get]), json!({"instanceId": ID})).await.unwrap_err();
        assert_eq!(error.error_type(), error_type);
        assert!(error.to_string().contains(code), "{error}");
        assert!(error.to_string().contains("DeleteInstance failed"), "{error}");
        let read_back = usize::from(error_type == "InstanceNotFound");
        assert_eq!((tags.num_calls(), delete.num_calls(), get.num_calls()), (1, attempts, read_back), "{error_type}");
    }
}

#[tokio::test]
async fn an_unmodeled_503_is_service_unavailable() {
    let tags = no_tags();
    let delete = mock!(Client::delete_instance).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
            aws_smithy_types::body::SdkBody::from("{\"message\":\"busy\"}"),
        )
    });
    let error = invoke(&function(&[&tags, &delete]), json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "ServiceUnavailable", "{error}");
    assert!(delete.num_calls() >= 1);
}

#[tokio::test]
async fn a_conflict_during_a_deletion_already_under_way_is_success() {
    let tags = no_tags();
    let delete = mock!(Client::delete_instance)
        .then_error(|| DeleteInstanceError::ConflictException(ConflictException::builder().message("busy").build()));
    let get = mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
    let response = invoke(&function(&[&tags, &delete, &get]), json!({"instanceId": ID})).await.unwrap();
    assert_eq!(state_of(response), "Deleting");
    assert_eq!((tags.num_calls(), delete.num_calls(), get.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn a_conflict_with_another_change_is_a_retryable_conflict() {
    let tags = no_tags();
    let delete = mock!(Client::delete_instance)
        .then_error(|| DeleteInstanceError::ConflictException(ConflictException::builder().message("busy").build()));
    let get =
        mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Initializing)).build());
    let error = invoke(&function(&[&tags, &delete, &get]), json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "Conflict");
    assert!(error.to_string().contains("the instance is Initializing"), "{error}");
    assert_eq!((delete.num_calls(), get.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_protected_instance_is_never_deleted() {
    let tags = mock!(Client::list_tags_for_resource)
        .match_requests(|r| r.resource_arn() == Some(&format!("arn:aws:scn:us-east-1:123456789012:instance/{ID}")))
        .then_output(|| ListTagsForResourceOutput::builder().tags("DeletionProtection", "TRUE").build().unwrap());
    let delete =
        mock!(Client::delete_instance).then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
    let error = invoke(&function(&[&tags, &delete]), json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "DeletionProtected");
    assert_eq!((tags.num_calls(), delete.num_calls()), (1, 0));
}

/// GetInstance answering 404.
fn missing() -> Rule {
    mock!(Client::get_instance)
        .then_error(|| GetInstanceError::ResourceNotFoundException(ResourceNotFoundException::builder().message("gone").build()))
}

fn tags_not_found() -> Rule {
    mock!(Client::list_tags_for_resource)
        .then_error(|| ListTagsForResourceError::ResourceNotFoundException(ResourceNotFoundException::builder().message("no").build()))
}

#[tokio::test]
async fn tags_of_a_missing_instance_mean_instance_not_found() {
    let tags = tags_not_found();
    let delete =
        mock!(Client::delete_instance).then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
    let get = missing();
    let error = invoke(&function(&[&tags, &delete, &get]), json!({"instanceId": ID})).await.unwrap_err();
    assert_eq!(error.error_type(), "InstanceNotFound");
    assert!(error.to_string().contains("ListTagsForResource failed"), "{error}");
    assert!(!error.to_string().contains("announced"), "no bus, so nothing is announced: {error}");
    assert_eq!((tags.num_calls(), delete.num_calls(), get.num_calls()), (1, 0, 1));
}

#[tokio::test]
async fn an_instance_whose_tags_are_not_found_but_which_reads_as_deleted_is_a_deletion_that_ended() {
    let tags = tags_not_found();
    let delete =
        mock!(Client::delete_instance).then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
    let get = mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Deleted)).build());
    let function = function(&[&tags, &delete, &get]);
    let (request, invocation) = request_and_invocation(&function, json!({"instanceId": ID}));

    let deletion = function.delete(&request, &invocation).await.unwrap();

    assert_eq!(deletion.answer.as_ref().unwrap().instance.state, InstanceState::Deleted);
    let announcement = function.announcement(&request, &deletion, &invocation).expect("announced, so that its end is too");
    assert_eq!(announcement.detail_json()["instance"]["state"], "Deleted");
    assert!(announcement.detail_json().get("instanceNotFound").is_none(), "{}", announcement.detail_json());
    assert_eq!((tags.num_calls(), delete.num_calls(), get.num_calls()), (1, 0, 1));
}

#[tokio::test]
async fn an_instance_not_found_anywhere_is_announced_by_id_as_not_found_with_the_request_and_its_sender() {
    let tags = tags_not_found();
    let get = missing();
    let client = mock_client!(aws_sdk_supplychain, RuleMode::MatchAny, &[&tags, &get]);
    // A bus that is never called: the announcement is built, not put, here.
    let bus = EventBus::new(mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, &[]), "bus");
    let function = DeleteFunction::new(SupplyChain::new(client), Some(bus), DeleteSettings::from_lookup(&|_| None).unwrap());
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
    assert_eq!((tags.num_calls(), get.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_sweep_request_from_another_account_is_refused_before_any_call() {
    let tags = no_tags();
    let delete =
        mock!(Client::delete_instance).then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
    let event = json!({"detail-type": "Supply Chain Instance Deletion Requested", "source": "supplychain-instance-sweep",
        "account": "210987654321", "detail": {"instanceId": ID, "sweepId": "s-1", "reason": "ExpiryTagPassed"}});
    let error = invoke(&function(&[&tags, &delete]), event).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
    assert!(error.to_string().contains("comes from account 210987654321"), "{error}");
    assert_eq!((tags.num_calls(), delete.num_calls()), (0, 0));
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
    let tags = no_tags();
    let delete = mock!(Client::delete_instance)
        .then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::DeleteFailed)).build());
    let function = function(&[&tags, &delete]);
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
    assert_eq!((tags.num_calls(), delete.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_dry_run_is_not_announced_and_has_no_start() {
    let tags = no_tags();
    let get = mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Active)).build());
    let function = function(&[&tags, &get]);
    let (request, invocation) = request_and_invocation(&function, json!({"instanceId": ID, "dryRun": true}));

    let deletion = function.delete(&request, &invocation).await.unwrap();

    assert_eq!(deletion.started_at, None);
    assert_eq!(function.announcement(&request, &deletion, &invocation), None);
    assert_eq!((tags.num_calls(), get.num_calls()), (1, 1));
}

#[tokio::test]
async fn invalid_input_reaches_no_service() {
    let tags = no_tags();
    let delete =
        mock!(Client::delete_instance).then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
    let error = invoke(&function(&[&tags, &delete]), json!({"instanceId": "nope"})).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
    assert_eq!((tags.num_calls(), delete.num_calls()), (0, 0));
}
