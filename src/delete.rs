//! The delete function: check deletion protection, delete (or describe, in a dry run), treat a
//! deletion already under way as success, and announce each deletion on the bus.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use tracing::{info, warn};

use aws_lambda_events::event::sqs::SqsBatchResponse;

use crate::config::DeleteSettings;
use crate::dead_letters::DeadLetterQueue;
use crate::deadline::Invocation;
use crate::error::Error;
use crate::events::{Announcement, EventBus, DELETION_STARTED};
use crate::input::{home_account, parse_delete_event, DeleteEvent, Payload, SqsItem, DELETE_SHAPES};
use crate::metrics;
use crate::model::{
    DeleteOutput, DeleteRequest, DeletionProtection, DeletionStarted, InstanceId, InstanceRecord, ReportedInstance, Target,
};
use crate::supply_chain::{SupplyChain, SupplyChains};

/// What one invocation returns: the record for a single request, the partial batch response for SQS.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one value per invocation, serialised once
pub enum DeleteResponse {
    Instance(DeleteOutput),
    Batch(SqsBatchResponse),
}

/// The delete function's dependencies, built once at init and borrowed by every invocation.
#[derive(Debug, Clone)]
pub struct DeleteFunction {
    supply_chains: SupplyChains,
    bus: Option<EventBus>,
    settings: DeleteSettings,
    dead_letters: Option<DeadLetterQueue>,
}

impl DeleteFunction {
    /// `supply_chains` is the function's own client ([`SupplyChain`]), or the clients of every target.
    pub fn new(supply_chains: impl Into<SupplyChains>, bus: Option<EventBus>, settings: DeleteSettings) -> Self {
        DeleteFunction { supply_chains: supply_chains.into(), bus, settings, dead_letters: None }
    }

    /// The queue (`DEAD_LETTER_QUEUE_URL`) that an SQS message failing for good is moved to at once,
    /// rather than listed in `batchItemFailures` to fail again on every delivery.
    pub fn with_dead_letters(self, dead_letters: Option<DeadLetterQueue>) -> Self {
        DeleteFunction { dead_letters, ..self }
    }

    /// Handles one invocation of any accepted shape.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<DeleteResponse, Error> {
        let invocation = Invocation::new(&event.context, &self.settings.common);
        let parsed = event.payload.json(DELETE_SHAPES).and_then(parse_delete_event).inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "event refused");
            metrics::refused(error);
        })?;
        match parsed {
            DeleteEvent::Direct(request) | DeleteEvent::EventBridge(request) => {
                let deletion = self.delete(&request, &invocation).await?;
                if let (Some(bus), Some(announcement)) = (&self.bus, self.announcement(&request, &deletion, &invocation)) {
                    let published = bus.publish(&[announcement], &invocation.budget).await;
                    if let Some(Err(error)) = published.into_iter().next() {
                        warn!(instance_id = %request.instance_id, error_type = error.error_type(), error = %error, "announcement failed");
                        return Err(error);
                    }
                }
                deletion.answer.map(DeleteResponse::Instance).map_err(|not_found| not_found.error)
            }
            DeleteEvent::Sqs(items) => Ok(DeleteResponse::Batch(self.handle_batch(items, &invocation).await)),
        }
    }

    /// Processes each distinct request of the batch once, a few at a time, and lists exactly the
    /// messages that failed so that only those are delivered again. With a dead-letter queue, a
    /// message that failed for good (a permanent errorType) is moved there instead, unless the move
    /// itself fails.
    async fn handle_batch(&self, items: Vec<SqsItem>, invocation: &Invocation) -> SqsBatchResponse {
        // Duplicates inside one batch (at-least-once delivery) reach the service once.
        let mut distinct: Vec<&DeleteRequest> = Vec::new();
        for request in items.iter().filter_map(|item| item.request.as_ref().ok()) {
            if !distinct.contains(&request) {
                distinct.push(request);
            }
        }
        let outcomes = self.delete_and_announce(&distinct, invocation).await;

        let mut response = SqsBatchResponse::default();
        let mut permanent = Vec::new();
        for item in &items {
            let error = match &item.request {
                Err(error) => Some(error).inspect(|error| metrics::refused(error)),
                Ok(request) => {
                    let position = distinct.iter().position(|r| *r == request).expect("every request is in the list");
                    outcomes[position].as_ref().map_or_else(Some, Deletion::error)
                }
            };
            if let Some(error) = error {
                warn!(message_id = %item.message_id, error_type = error.error_type(), error = %error, "message failed");
                metrics::count_by(metrics::SQS_MESSAGES_FAILED, metrics::ERROR_TYPE, error.error_type());
                match (&self.dead_letters, &item.body) {
                    (Some(_), Some(body)) if !error.is_retryable() => permanent.push((item, body.as_str(), error)),
                    _ => response.add_failure(item.message_id.clone()),
                }
            }
        }
        for message_id in self.move_to_dead_letters(permanent, invocation).await {
            response.add_failure(message_id);
        }
        response
    }

    /// Deletes each request's instance, a few at a time, then announces the deletions started in
    /// one go; a request whose announcement failed has failed.
    async fn delete_and_announce(&self, requests: &[&DeleteRequest], invocation: &Invocation) -> Vec<Result<Deletion, Error>> {
        // The futures are built before the stream runs them, so no closure is held across an await
        // (which keeps the handler's future `Send` for concurrent invocations).
        let deletions: Vec<_> = requests.iter().map(|request| self.delete(request, invocation)).collect();
        let mut outcomes: Vec<Result<Deletion, Error>> = stream::iter(deletions).buffered(self.settings.batch_concurrency).collect().await;
        if let Some(bus) = &self.bus {
            let (positions, announcements): (Vec<usize>, Vec<Announcement>) = outcomes
                .iter()
                .enumerate()
                .filter_map(|(i, outcome)| Some((i, self.announcement(requests[i], outcome.as_ref().ok()?, invocation)?)))
                .unzip();
            let published = bus.publish(&announcements, &invocation.budget).await;
            for (position, result) in positions.into_iter().zip(published) {
                if let Err(error) = result {
                    outcomes[position] = Err(error);
                }
            }
        }
        outcomes
    }

    /// Moves the messages that failed for good to the dead-letter queue; returns the ids of those
    /// that could not be moved. Nothing is lost: they come back, and the queue's redrive policy
    /// moves them later.
    async fn move_to_dead_letters(&self, permanent: Vec<(&SqsItem, &str, &Error)>, invocation: &Invocation) -> Vec<String> {
        let Some(dead_letters) = &self.dead_letters else {
            return Vec::new();
        };
        let sends: Vec<_> = permanent.iter().map(|(_, body, error)| dead_letters.send(body, error, &invocation.budget)).collect();
        let sent: Vec<Result<(), String>> = stream::iter(sends).buffered(self.settings.batch_concurrency).collect().await;
        let mut not_moved = Vec::new();
        for ((item, _, error), sent) in permanent.into_iter().zip(sent) {
            match sent {
                Ok(()) => info!(message_id = %item.message_id, error_type = error.error_type(), "message moved to the dead-letter queue"),
                Err(reason) => {
                    warn!(message_id = %item.message_id, error_type = error.error_type(), reason = %reason,
                        "message not moved to the dead-letter queue");
                    not_moved.push(item.message_id.clone());
                }
            }
        }
        not_moved
    }

    /// Deletes one instance, or describes it in a dry run; never deletes a protected instance.
    async fn delete(&self, request: &DeleteRequest, invocation: &Invocation) -> Result<Deletion, Error> {
        metrics::instance(request.instance_id.as_str());
        let result = self.try_delete(request, invocation).await;
        if let Some(error) = result.as_ref().map_or_else(Some, Deletion::error) {
            metrics::refused(error);
            warn!(instance_id = %request.instance_id, error_type = error.error_type(), error = %error, "deletion not made");
        }
        result
    }

    async fn try_delete(&self, request: &DeleteRequest, invocation: &Invocation) -> Result<Deletion, Error> {
        // Whether the request may be the sweep's, and where it may act, are decided before any call.
        request.refuse_borrowed_source(home_account(&invocation.function_arn).as_ref())?;
        let (target, supply_chain) =
            self.supply_chains.reaching(&request.target, request.sender.as_ref(), &self.settings.common, &invocation.function_arn).await?;
        // Boxed: the futures of one request, nested, would otherwise pass the compiler's layout depth limit.
        match Box::pin(self.delete_at(request, &target, &supply_chain, invocation)).await {
            Err(Error::InstanceNotFound(reason)) if !request.dry_run => {
                Box::pin(self.not_found(request, target, supply_chain, reason, invocation)).await
            }
            result => result,
        }
    }

    /// Deletes the instance in `target` with its client, or describes it in a dry run.
    async fn delete_at(
        &self,
        request: &DeleteRequest,
        target: &Target,
        supply_chain: &SupplyChain,
        invocation: &Invocation,
    ) -> Result<Deletion, Error> {
        let id = &request.instance_id;
        let budget = &invocation.budget;
        let located = match &self.settings.protection {
            Some(protection) => Some(refuse_if_protected(supply_chain, protection, id, invocation).await?),
            None => None,
        };
        let (arn, read) = located.map_or((None, None), |located| (Some(located.arn), located.read));
        let answered = |instance, dry_run, started_at| Deletion {
            answer: Ok(DeleteOutput { instance, target: target.clone(), dry_run }),
            arn,
            supply_chain: supply_chain.clone(),
            started_at,
        };
        if request.dry_run {
            let instance = match read {
                Some(record) => record,
                None => supply_chain.get_instance(id, budget).await?,
            };
            info!(instance_id = %id, state = instance.state.as_str(), outcome = "dry run", "instance would be deleted");
            metrics::count(metrics::DRY_RUNS, 1);
            return Ok(answered(instance, true, None));
        }
        // The start of the deletion as its final announcement records it.
        let started_at = DateTime::from(SystemTime::now());
        let instance = match supply_chain.delete_instance(id, budget).await {
            Ok(instance) => {
                info!(instance_id = %id, state = instance.state.as_str(), outcome = "deletion started", "instance deletion requested");
                instance
            }
            // Another change is under way: a deletion (this same event delivered twice) is success.
            Err(Error::Conflict(conflict)) => {
                let instance = supply_chain.get_instance(id, budget).await?;
                if !instance.deletion_started() {
                    return Err(Error::Conflict(format!(
                        "{conflict}; the instance is {}, so its deletion was not started",
                        instance.state.as_str()
                    )));
                }
                info!(instance_id = %id, state = instance.state.as_str(), outcome = "deletion already under way",
                    "instance deletion requested");
                instance
            }
            Err(error) => return Err(error),
        };
        metrics::count(metrics::DELETIONS_STARTED, 1);
        Ok(answered(instance, false, Some(started_at)))
    }

    /// A deletion whose instance the service did not find: its tags, or `DeleteInstance`, answered
    /// 404. The instance is read once more. Found with its deletion started or ended (a service may
    /// answer 404 for a deleted instance's tags, or to deleting it again), the request is a deletion
    /// already under way, as after a conflict. Not found, it ends in `InstanceNotFound`, but with a
    /// bus its end is announced first, as for an instance already deleted (`instanceNotFound`):
    /// nothing tells a deletion that an earlier attempt of this same request sent (whose
    /// announcement failed, so that attempt failed and was retried) from an instance that was never
    /// there, and a deletion that was sent must never go unannounced.
    async fn not_found(
        &self,
        request: &DeleteRequest,
        target: Target,
        supply_chain: SupplyChain,
        reason: String,
        invocation: &Invocation,
    ) -> Result<Deletion, Error> {
        let id = &request.instance_id;
        let seen_at = DateTime::from(SystemTime::now());
        match supply_chain.get_instance(id, &invocation.budget).await {
            Ok(instance) if instance.deletion_started() => {
                info!(instance_id = %id, state = instance.state.as_str(), outcome = "deletion already under way",
                    "instance deletion requested");
                metrics::count(metrics::DELETIONS_STARTED, 1);
                let answer = Ok(DeleteOutput { instance, target, dry_run: false });
                Ok(Deletion { answer, arn: None, supply_chain, started_at: Some(seen_at) })
            }
            Err(Error::InstanceNotFound(_)) if self.bus.is_some() => {
                let error = Error::InstanceNotFound(format!(
                    "{reason}; its end is announced all the same (a Deletion Started event with \"instanceNotFound\": true), as \
                     an earlier attempt of this request may have deleted it, and a deletion that was sent is never left unannounced"
                ));
                Ok(Deletion { answer: Err(NotFound { target, error }), arn: None, supply_chain, started_at: None })
            }
            Ok(_) | Err(Error::InstanceNotFound(_)) => Err(Error::InstanceNotFound(reason)),
            Err(error) => Err(error),
        }
    }

    /// The Deletion Started announcement of a deletion: of every deletion the service answered,
    /// so that the checker follows each one to its end and announces it, even one that the answer
    /// already shows ended (`Deleted`, or `DeleteFailed` at once), and of a request whose instance
    /// was not found (see [`DeleteFunction::not_found`]). A dry run deletes nothing.
    fn announcement(&self, request: &DeleteRequest, deletion: &Deletion, invocation: &Invocation) -> Option<Announcement> {
        let (instance, target, instance_not_found) = match &deletion.answer {
            Ok(output) if output.dry_run => return None,
            Ok(output) => (ReportedInstance::Record(output.instance.clone()), output.target.clone(), false),
            Err(not_found) => (ReportedInstance::Id { instance_id: request.instance_id.clone() }, not_found.target.clone(), true),
        };
        // The ARN found for the protection check, else built from the record's own account.
        let arn = deletion
            .arn
            .clone()
            .or_else(|| deletion.supply_chain.instance_arn(&request.instance_id, &invocation.function_arn, instance.record()));
        let detail = DeletionStarted {
            instance,
            target,
            started_at: deletion.started_at,
            // The request event's `account`, so that the archive records who truly asked.
            sender: request.sender.clone(),
            instance_not_found,
            sweep: request.sweep.clone(),
            // Who asked and why, as the producer put it: bounded by `MAX_METADATA_BYTES` at parsing.
            request: (!request.metadata.is_empty()).then(|| request.metadata.clone()),
        };
        let detail = serde_json::to_value(detail).expect("a record always serialises");
        Some(Announcement { detail_type: DELETION_STARTED, detail, resources: arn.into_iter().collect() })
    }
}

/// Asks the protection rule ([`DeletionProtection`]) about the instance's tags, and refuses a
/// protected instance. Returns where the instance was found, for the rest of the request.
async fn refuse_if_protected(
    supply_chain: &SupplyChain,
    protection: &DeletionProtection,
    id: &InstanceId,
    invocation: &Invocation,
) -> Result<Located, Error> {
    let located = locate(supply_chain, id, invocation).await?;
    let tags = supply_chain.tags(&located.arn, &invocation.budget).await?;
    if let Some(found) = protection.protecting_value(&tags) {
        return Err(Error::DeletionProtected(format!(
            "instance {id} is protected from deletion by {}; remove the tag or set it to false to allow the deletion",
            protection.explain(found)
        )));
    }
    Ok(located)
}

/// The instance's ARN, from the invoked function's ARN. Local runtimes send a placeholder ARN
/// (cargo-lambda: "function-arn"); then the instance's own record names its account, and
/// reading it needs no permission beyond the dry run's.
async fn locate(supply_chain: &SupplyChain, id: &InstanceId, invocation: &Invocation) -> Result<Located, Error> {
    if let Some(arn) = supply_chain.instance_arn(id, &invocation.function_arn, None) {
        return Ok(Located { arn, read: None });
    }
    let record = supply_chain.get_instance(id, &invocation.budget).await?;
    let arn = supply_chain
        .instance_arn(id, &invocation.function_arn, Some(&record))
        .ok_or_else(|| Error::Unexpected("the Supply Chain client has no region, so the instance's ARN cannot be built".to_owned()))?;
    Ok(Located { arn, read: Some(record) })
}

/// Where one request's instance was found: its ARN, and the record read to learn it, if one was.
struct Located {
    arn: String,
    read: Option<InstanceRecord>,
}

/// One request's result: the output (or, for an instance not found, why), the instance's ARN when
/// the request needed it, the client of the instance's account and region, and when
/// `DeleteInstance` was sent (none in a dry run, nor for an instance not found).
#[derive(Debug)]
struct Deletion {
    answer: Result<DeleteOutput, NotFound>,
    arn: Option<String>,
    supply_chain: SupplyChain,
    started_at: Option<DateTime>,
}

impl Deletion {
    /// The error the request ends in, once its end is announced: for an instance not found.
    fn error(&self) -> Option<&Error> {
        self.answer.as_ref().err().map(|not_found| &not_found.error)
    }
}

/// A request whose instance was not found: where it was looked for, and the `InstanceNotFound`
/// the request ends in.
#[derive(Debug)]
struct NotFound {
    target: Target,
    error: Error,
}

#[cfg(test)]
mod tests {
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

    #[tokio::test]
    async fn each_delete_instance_error_maps_to_its_error_type_and_keeps_the_aws_code() {
        // Throttling and server errors are retried by the SDK (three attempts in standard mode) first.
        type Case = (fn() -> DeleteInstanceError, &'static str, &'static str, usize);
        let cases: Vec<Case> = vec![
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
        for (make, error_type, code, attempts) in cases {
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
        let get =
            mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
        let response = invoke(&function(&[&tags, &delete, &get]), json!({"instanceId": ID})).await.unwrap();
        assert_eq!(state_of(response), "Deleting");
        assert_eq!((tags.num_calls(), delete.num_calls(), get.num_calls()), (1, 1, 1));
    }

    #[tokio::test]
    async fn a_conflict_with_another_change_is_a_retryable_conflict() {
        let tags = no_tags();
        let delete = mock!(Client::delete_instance)
            .then_error(|| DeleteInstanceError::ConflictException(ConflictException::builder().message("busy").build()));
        let get = mock!(Client::get_instance)
            .then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Initializing)).build());
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
        let delete = mock!(Client::delete_instance)
            .then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
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
        let delete = mock!(Client::delete_instance)
            .then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
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
        let delete = mock!(Client::delete_instance)
            .then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
        let get =
            mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Deleted)).build());
        let function = function(&[&tags, &delete, &get]);
        let (request, invocation) = request_and_invocation(&function, json!({"instanceId": ID}));

        let deletion = function.delete(&request, &invocation).await.unwrap();

        assert_eq!(deletion.answer.as_ref().unwrap().instance.state, InstanceState::Deleted);
        let announcement = function.announcement(&request, &deletion, &invocation).expect("announced, so that its end is too");
        assert_eq!(announcement.detail["instance"]["state"], "Deleted");
        assert!(announcement.detail.get("instanceNotFound").is_none(), "{}", announcement.detail);
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
            announcement.detail,
            json!({"instance": {"instanceId": ID}, "sender": "123456789012", "instanceNotFound": true, "request": {"ticket": "OPS-9"}})
        );
        assert_eq!(announcement.resources, [format!("arn:aws:scn:us-east-1:123456789012:instance/{ID}")]);
        assert_eq!((tags.num_calls(), get.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_sweep_request_from_another_account_is_refused_before_any_call() {
        let tags = no_tags();
        let delete = mock!(Client::delete_instance)
            .then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
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
        (request, Invocation::new(&context, &function.settings.common))
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

        assert_eq!(announcement.detail_type, DELETION_STARTED);
        assert_eq!(announcement.detail["instance"]["state"], "DeleteFailed");
        assert_eq!(announcement.detail["request"], json!({"ticket": "OPS-7"}));
        let started = announcement.detail["startedAt"].as_str().unwrap();
        let started = DateTime::from_str(started, aws_smithy_types::date_time::Format::DateTime).unwrap().as_secs_f64();
        // Written to the millisecond, rounded to the nearest.
        assert!(started >= before - 0.001 && started <= after + 0.001, "{before} <= {started} <= {after}");
        assert!(announcement.detail.get("sweepId").is_none(), "{}", announcement.detail);
        assert_eq!((tags.num_calls(), delete.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_dry_run_is_not_announced_and_has_no_start() {
        let tags = no_tags();
        let get =
            mock!(Client::get_instance).then_output(|| GetInstanceOutput::builder().instance(instance(InstanceState::Active)).build());
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
        let delete = mock!(Client::delete_instance)
            .then_output(|| DeleteInstanceOutput::builder().instance(instance(InstanceState::Deleting)).build());
        let error = invoke(&function(&[&tags, &delete]), json!({"instanceId": "nope"})).await.unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput");
        assert_eq!((tags.num_calls(), delete.num_calls()), (0, 0));
    }
}
