//! The events of one deletion: asked for, started, finished.

use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Detail, Event, Reason};
use crate::model::{optional_time, AccountId, Outcome, PlanId, ReportedInstance, SweepOrigin, Target};

/// `Supply Chain Instance Deletion Requested`, as the sweep puts it: the delete function reads
/// the same detail-type from any source, with the members it documents (docs/inputs-and-outputs.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionRequested {
    pub instance_id: String,
    /// Where the instance lives, when another than the function's own account and region.
    #[serde(flatten)]
    pub target: Target,
    pub reason: Reason,
    pub sweep_id: String,
    /// The reason in words; with notice, also when the deletion was scheduled for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// With notice: the schedule mark's time, which has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    /// The organization sweep's plan the request comes from: its run, or its approved execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<PlanId>,
}

impl Detail for DeletionRequested {
    fn event(&self) -> Event {
        Event::DeletionRequested
    }
}

/// The detail of a `Supply Chain Instance Deletion Started` announcement: the instance as the
/// service answered the deletion, when `DeleteInstance` was sent, who sent the request, the sweep
/// behind the deletion, and the request's metadata. The delete function writes it; the checker
/// reads its members back and carries them to the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionStarted {
    /// The record the service answered; `{"instanceId"}` alone when the instance was not found
    /// (`instanceNotFound`).
    pub instance: ReportedInstance,
    /// Where the instance is, when another account or region than the function's own.
    #[serde(flatten)]
    pub target: Target,
    /// When the delete function sent `DeleteInstance`. Left out by versions before it was written,
    /// and when the instance was not found.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub started_at: Option<DateTime>,
    /// The account that sent the request: the request event's `account`, which EventBridge sets
    /// and no sender can choose. Left out for a request that came without an EventBridge envelope
    /// (a direct invocation, or a plain SQS message body), which only principals of the stack's
    /// own account can send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<AccountId>,
    /// True when the instance was not found: it was deleted before (for example by an earlier
    /// attempt of this same request, whose announcement failed), or it never was in that account
    /// and region. This request sent no deletion; its end is announced all the same, so that no
    /// deletion that was sent goes unannounced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub instance_not_found: bool,
    #[serde(flatten)]
    pub sweep: Option<SweepOrigin>,
    /// Who asked and why, as the producer put it: bounded at parsing (`MAX_METADATA_BYTES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Map<String, Value>>,
}

impl Detail for DeletionStarted {
    fn event(&self) -> Event {
        Event::DeletionStarted
    }
}

/// The detail of a final announcement: the deletion's audit record. From it alone a reader knows
/// what was deleted (`instance`, the target, `resources`), why and at whose request (`request`, the
/// sending account `sender`, and for the sweep's requests `sweepId`, `reason`, `reasonDetail`,
/// `scheduledFor`) and when (`startedAt`, when `DeleteInstance` was sent; `finishedAt`, when the end was seen).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionFinished<'a> {
    pub instance: &'a ReportedInstance,
    /// Where the instance is, when another account or region than the function's own.
    #[serde(flatten)]
    pub target: &'a Target,
    /// Who asked for the deletion and why, as the Deletion Started event had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<&'a Map<String, Value>>,
    /// The sweep run and the policy's reason, when the sweep asked for the deletion.
    #[serde(flatten)]
    pub sweep: Option<&'a SweepOrigin>,
    /// The account that sent the request, as the Deletion Started event had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<&'a AccountId>,
    /// The instance was not found when the request was handled, as the Deletion Started event had it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub instance_not_found: bool,
    pub outcome: &'a Outcome,
    pub attempts: u32,
    pub started_at: String,
    pub finished_at: String,
    pub deduplication_id: &'a str,
}

impl Detail for DeletionFinished<'_> {
    fn event(&self) -> Event {
        match self.outcome {
            Outcome::Deleted => Event::Deleted,
            Outcome::TimedOut => Event::DeletionTimedOut,
            _ => Event::DeletionFailed,
        }
    }
}
