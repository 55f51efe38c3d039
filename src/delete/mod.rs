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
use crate::contract::{Announcement, DeletionStarted};
use crate::dead_letters::DeadLetterQueue;
use crate::deadline::Invocation;
use crate::error::Error;
use crate::events::EventBus;
use crate::input::{parse_delete_event, DeleteEvent, Payload, SqsItem, DELETE_SHAPES};
use crate::metrics;
use crate::model::{DeleteOutput, DeleteRequest, DeletionProtection, InstanceId, InstanceRecord, ReportedInstance, Target};
use crate::supply_chain::{SupplyChain, TargetClients};

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
    supply_chains: TargetClients,
    bus: Option<EventBus>,
    settings: DeleteSettings,
    dead_letters: Option<DeadLetterQueue>,
}

impl DeleteFunction {
    /// `supply_chains` is the function's own client ([`SupplyChain`]), or the clients of every target.
    pub fn new(supply_chains: impl Into<TargetClients>, bus: Option<EventBus>, settings: DeleteSettings) -> Self {
        DeleteFunction { supply_chains: supply_chains.into(), bus, settings, dead_letters: None }
    }

    /// The queue (`DEAD_LETTER_QUEUE_URL`) that an SQS message failing for good is moved to at once,
    /// rather than listed in `batchItemFailures` to fail again on every delivery.
    pub fn with_dead_letters(self, dead_letters: Option<DeadLetterQueue>) -> Self {
        DeleteFunction { dead_letters, ..self }
    }

    /// Handles one invocation of any accepted shape.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<DeleteResponse, Error> {
        let home = self.supply_chains.home_of(&event.context.invoked_function_arn)?;
        let invocation = Invocation::new(&event.context, &self.settings.common, home);
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
        request.refuse_borrowed_source(invocation.home.account.as_ref())?;
        let (target, supply_chain) =
            self.supply_chains.reaching(&request.target, request.sender.as_ref(), &self.settings.common, &invocation.home).await?;
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
        let arn =
            deletion.arn.clone().or_else(|| deletion.supply_chain.instance_arn(&request.instance_id, &invocation.home, instance.record()));
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
        Some(Announcement::new(&detail, arn.into_iter().collect()))
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
    if let Some(arn) = supply_chain.instance_arn(id, &invocation.home, None) {
        return Ok(Located { arn, read: None });
    }
    let record = supply_chain.get_instance(id, &invocation.budget).await?;
    let arn = supply_chain
        .instance_arn(id, &invocation.home, Some(&record))
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
mod tests;
