//! The status checker: follows a deletion with `GetInstance` until the instance is `Deleted` or
//! `DeleteFailed`, re-checking through one-time schedules, and announces the outcome on the bus.
//! As a Step Functions task it only reports, and the state machine loops.

use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::CheckSettings;
use crate::contract::{Announcement, DeletionFinished, Detail};
use crate::deadline::Invocation;
use crate::error::Error;
use crate::events::EventBus;
use crate::input::{parse_check_event, refuse_event_from_elsewhere, CheckEvent, Payload, CHECK_SHAPES};
use crate::metrics;
pub use crate::model::ReportedInstance;
use crate::model::{timestamp, AnnouncedMarker, FollowRequest, InstanceId, InstanceRecord, Outcome, Recheck, ReportRequest, Target};
use crate::scheduler::{Scheduled, ScheduledCheck, Scheduler};
use crate::supply_chain::{SupplyChain, TargetClients};

/// What a Step Functions task gets: `{"instance": {...}, "done": bool, "outcome": "..."}`.
/// `outcome` is `Deleted`, `DeleteFailed`, `Deleting`, or any other state the instance is in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub instance: ReportedInstance,
    /// The instance's account and region, when another than the function's own: the state
    /// machine feeds the report back in, target included.
    #[serde(flatten)]
    pub target: Target,
    pub done: bool,
    pub outcome: Outcome,
}

/// What an EventBridge-driven check did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowReport {
    pub instance: ReportedInstance,
    #[serde(flatten)]
    pub target: Target,
    pub done: bool,
    /// As in [`StatusReport`], plus `TimedOut`.
    pub outcome: Outcome,
    pub attempt: u32,
    /// The schedule of the next check, while the deletion is under way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_check: Option<NextCheck>,
    /// The detail-type of the final announcement, once there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announced: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextCheck {
    pub schedule_name: String,
    pub at: String,
    /// False when a duplicate event had already scheduled it.
    pub created: bool,
}

/// The checker's response, by the kind of input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one value per invocation, serialised once
pub enum CheckResponse {
    Report(StatusReport),
    Follow(FollowReport),
    /// A destination record of a dry run: nothing was deleted, so nothing is followed.
    Ignored {
        ignored: String,
    },
}

/// One look at the instance.
#[allow(clippy::large_enum_variant)] // one short-lived value per check
enum Seen {
    Found(InstanceRecord),
    /// 404 after a deletion was seen: the instance is gone, so the deletion succeeded.
    Gone,
}

impl Seen {
    fn outcome(&self) -> Outcome {
        match self {
            Seen::Gone => Outcome::Deleted,
            Seen::Found(record) => Outcome::of(&record.state),
        }
    }

    /// The record to report: the one just read, else the last one seen before.
    fn record<'a>(&'a self, last_seen: Option<&'a InstanceRecord>) -> Option<&'a InstanceRecord> {
        match self {
            Seen::Found(record) => Some(record),
            Seen::Gone => last_seen,
        }
    }

    fn reported(&self, id: &InstanceId, last_seen: Option<&InstanceRecord>) -> ReportedInstance {
        match self.record(last_seen) {
            Some(record) => ReportedInstance::Record(record.clone()),
            None => ReportedInstance::Id { instance_id: id.clone() },
        }
    }
}

/// The status checker's dependencies, built once at init.
#[derive(Debug, Clone)]
pub struct CheckFunction {
    supply_chains: TargetClients,
    bus: Option<EventBus>,
    scheduler: Scheduler,
    settings: CheckSettings,
}

impl CheckFunction {
    /// `supply_chains` is the function's own client ([`SupplyChain`]), or the clients of every target.
    pub fn new(supply_chains: impl Into<TargetClients>, bus: Option<EventBus>, scheduler: Scheduler, settings: CheckSettings) -> Self {
        CheckFunction { supply_chains: supply_chains.into(), bus, scheduler, settings }
    }

    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<CheckResponse, Error> {
        let home = self.supply_chains.home_of(&event.context.invoked_function_arn)?;
        let invocation = Invocation::new(&event.context, &self.settings.common, home);
        let now = DateTime::from(SystemTime::now());
        let home = invocation.home.account.clone();
        let parsed = event
            .payload
            .json(CHECK_SHAPES)
            .and_then(|json| {
                // Deletion Started comes from the stack's own delete function: another account's is refused before any call.
                refuse_event_from_elsewhere(json, home.as_ref(), "the status checker")?;
                parse_check_event(json, now)
            })
            .inspect_err(|error| {
                warn!(error_type = error.error_type(), error = %error, "event refused");
            })?;
        let result = match parsed {
            CheckEvent::Report(request) => self.report(&request, &invocation).await.map(CheckResponse::Report),
            CheckEvent::Follow(request) => self.follow(&request, &invocation).await.map(CheckResponse::Follow),
            CheckEvent::DryRun(instance_id) => {
                info!(instance_id = %instance_id, outcome = "ignored", "dry run: no deletion to follow");
                Ok(CheckResponse::Ignored { ignored: format!("dry run of instance {instance_id}: nothing was deleted") })
            }
            CheckEvent::MarkerExpired(instance_id) => {
                info!(instance_id = %instance_id, outcome = "ignored", "announcement marker expired");
                Ok(CheckResponse::Ignored { ignored: format!("the announcement marker of instance {instance_id} expired") })
            }
        };
        result.inspect_err(|error| warn!(error_type = error.error_type(), error = %error, "status check failed"))
    }

    /// Reads the instance in its account and region (which must be within the function's reach, as
    /// for the delete function); returns what was seen and the client of that account and region.
    async fn look(
        &self,
        id: &InstanceId,
        target: &Target,
        not_found: NotFound,
        invocation: &Invocation,
    ) -> Result<(Seen, SupplyChain), Error> {
        metrics::instance(id.as_str());
        let (_, supply_chain) = self.supply_chains.reaching(target, None, &self.settings.common, &invocation.home).await?;
        metrics::count(metrics::STATUS_CHECKS, 1);
        match supply_chain.get_instance(id, &invocation.budget).await {
            Ok(record) => Ok((Seen::Found(record), supply_chain)),
            Err(Error::InstanceNotFound(_)) if not_found == NotFound::MeansDeleted => Ok((Seen::Gone, supply_chain)),
            Err(error) => Err(error),
        }
    }

    async fn report(&self, request: &ReportRequest, invocation: &Invocation) -> Result<StatusReport, Error> {
        let (seen, _) = self.look(&request.instance_id, &request.target, NotFound::after(request.deletion_seen), invocation).await?;
        let outcome = seen.outcome();
        let instance = seen.reported(&request.instance_id, request.last_seen.as_ref());
        info!(instance_id = %request.instance_id, outcome = %outcome, done = outcome.is_done(), "status reported");
        if outcome.is_done() {
            metrics::finished(&outcome, None);
        }
        Ok(StatusReport { instance, target: request.target.clone(), done: outcome.is_done(), outcome })
    }

    /// One check of a deletion being followed: look, decide, then schedule the next check or
    /// announce the end.
    async fn follow(&self, request: &FollowRequest, invocation: &Invocation) -> Result<FollowReport, Error> {
        // Checked first, so a missing bus fails the first check instead of the last one.
        let bus = self.bus.as_ref().ok_or_else(|| {
            Error::PublishFailed(
                "EVENT_BUS_NAME is not set: the status checker needs a bus to announce outcomes when driven by EventBridge".to_owned(),
            )
        })?;
        let (seen, supply_chain) = self.look(&request.instance_id, &request.target, NotFound::MeansDeleted, invocation).await?;
        let now = DateTime::from(SystemTime::now());
        match self.decide(request, &seen, now) {
            Outcome::Pending => self.schedule_next(request, &seen, now, invocation).await,
            end => self.announce_end(bus, &supply_chain, request, &seen, end, now, invocation).await,
        }
    }

    /// What the check saw, except that a deletion still under way after `MAX_WAIT_SECONDS` has
    /// timed out.
    fn decide(&self, request: &FollowRequest, seen: &Seen, now: DateTime) -> Outcome {
        let elapsed = request.elapsed(now);
        match seen.outcome() {
            Outcome::Pending if elapsed >= self.settings.max_wait => Outcome::TimedOut,
            outcome => outcome,
        }
    }

    async fn schedule_next(
        &self,
        request: &FollowRequest,
        seen: &Seen,
        now: DateTime,
        invocation: &Invocation,
    ) -> Result<FollowReport, Error> {
        let id = &request.instance_id;
        let next = self.next_check(request, seen, now, invocation)?;
        let scheduled = self.scheduler.schedule(&next, &invocation.budget).await?;
        let at = timestamp(next.at);
        info!(instance_id = %id, state = "Deleting", outcome = "pending", attempt = request.attempt,
            next_check = %at, schedule = %next.name, "deletion under way");
        Ok(FollowReport {
            instance: seen.reported(id, request.last_seen.as_ref()),
            target: request.target.clone(),
            done: false,
            outcome: Outcome::Pending,
            attempt: request.attempt,
            next_check: Some(NextCheck { schedule_name: next.name, at, created: scheduled == Scheduled::Created }),
            announced: None,
        })
    }

    /// Announces the end once: a marker schedule named after this end of the deletion records
    /// that it was announced, so a duplicate or late check announces nothing twice. It is written
    /// after the announcement: a failure in between repeats the announcement rather than losing it.
    #[allow(clippy::too_many_arguments)] // one check's whole context, passed down from `follow`
    async fn announce_end(
        &self,
        bus: &EventBus,
        supply_chain: &SupplyChain,
        request: &FollowRequest,
        seen: &Seen,
        outcome: Outcome,
        now: DateTime,
        invocation: &Invocation,
    ) -> Result<FollowReport, Error> {
        let id = &request.instance_id;
        let instance = seen.reported(id, request.last_seen.as_ref());
        let deduplication_id = deduplication_id(id, &outcome, seen, request);
        let marker = marker_name(id, &deduplication_id);
        let ended = |announced| FollowReport {
            instance: instance.clone(),
            target: request.target.clone(),
            done: true,
            outcome: outcome.clone(),
            attempt: request.attempt,
            next_check: None,
            announced,
        };
        if self.scheduler.exists(&marker, &invocation.budget).await? {
            info!(instance_id = %id, outcome = %outcome, attempt = request.attempt, "end already announced");
            return Ok(ended(None));
        }
        let detail = DeletionFinished {
            instance: &instance,
            target: &request.target,
            request: request.request.as_ref(),
            sweep: request.sweep.as_ref(),
            sender: request.sender.as_ref(),
            instance_not_found: request.instance_not_found,
            outcome: &outcome,
            attempts: request.attempt,
            started_at: timestamp(request.started_at),
            finished_at: timestamp(now),
            deduplication_id: &deduplication_id,
        };
        let resources = supply_chain.instance_arn(id, &invocation.home, instance.record()).into_iter().collect();
        let detail_type = detail.event().detail_type();
        bus.publish_one(Announcement::new(&detail, resources), &invocation.budget).await?;
        self.remember_announced(marker, id, &outcome, now, invocation).await?;
        let took = request.elapsed(now);
        metrics::finished(&outcome, Some(took));
        info!(instance_id = %id, outcome = %outcome, attempt = request.attempt, announced = detail_type, "deletion finished");
        Ok(ended(Some(detail_type)))
    }

    /// The marker schedule that records an end as announced, so that a later check of the same
    /// deletion does not announce it again.
    async fn remember_announced(
        &self,
        name: String,
        id: &InstanceId,
        outcome: &Outcome,
        now: DateTime,
        invocation: &Invocation,
    ) -> Result<(), Error> {
        let marker = ScheduledCheck {
            name,
            at: DateTime::from_secs(now.secs() + MARKER_LIFETIME.as_secs() as i64),
            target_arn: self.target_arn(invocation)?,
            input: serde_json::to_value(AnnouncedMarker::new(id.clone(), outcome.clone(), now)).expect("a marker always serialises"),
            description: "Marks the end of an AWS Supply Chain instance deletion as announced".to_owned(),
        };
        self.scheduler.schedule(&marker, &invocation.budget).await.map(|_| ())
    }

    /// Schedules invoke the checker itself, by the ARN it was invoked with.
    fn target_arn(&self, invocation: &Invocation) -> Result<String, Error> {
        if invocation.function_arn.starts_with("arn:") {
            Ok(invocation.function_arn.clone())
        } else {
            Err(Error::ScheduleFailed(format!("the invoked function ARN {:?} cannot be the target of a schedule", invocation.function_arn)))
        }
    }

    /// The next check: its wait doubles from `POLL_INTERVAL_SECONDS` up to the cap, and never goes past
    /// the end of `MAX_WAIT_SECONDS`, so a timeout is announced on time.
    fn next_check(&self, request: &FollowRequest, seen: &Seen, now: DateTime, invocation: &Invocation) -> Result<ScheduledCheck, Error> {
        let doublings = request.attempt.saturating_sub(1).min(20);
        let wait = self.settings.poll_interval.saturating_mul(1 << doublings).min(self.settings.max_poll_interval);
        let give_up = request.started_at.as_secs_f64() + self.settings.max_wait.as_secs_f64();
        // Whole seconds: `at()` has no finer resolution, and at least one second ahead.
        let at_secs = (now.as_secs_f64() + wait.as_secs_f64()).min(give_up).max(now.as_secs_f64() + 1.0).ceil();
        let next = FollowRequest {
            instance_id: request.instance_id.clone(),
            target: request.target.clone(),
            request: request.request.clone(),
            sweep: request.sweep.clone(),
            sender: request.sender.clone(),
            instance_not_found: request.instance_not_found,
            attempt: request.attempt + 1,
            started_at: request.started_at,
            last_seen: seen.record(request.last_seen.as_ref()).cloned(),
        };
        Ok(ScheduledCheck {
            name: schedule_name(&request.instance_id, next.attempt),
            at: DateTime::from_secs(at_secs as i64),
            target_arn: self.target_arn(invocation)?,
            input: serde_json::to_value(Recheck { status_check: next }).expect("a re-check always serialises"),
            description: "Next status check of an AWS Supply Chain instance deletion".to_owned(),
        })
    }
}

/// Schedule names are unique in their group, and this one is the same for every duplicate of a
/// check: a second `CreateSchedule` answers `ConflictException`, so duplicates converge into one chain.
pub fn schedule_name(id: &InstanceId, attempt: u32) -> String {
    format!("scn-delete-{id}-{attempt}")
}

/// The marker of an announced end, named by the instance and a hash of the end's deduplication id
/// (schedule names hold at most 64 characters).
pub fn marker_name(id: &InstanceId, deduplication_id: &str) -> String {
    // FNV-1a: stable across builds and platforms, which the standard library's hasher is not.
    let hash = deduplication_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("scn-delete-{id}-{hash:016x}")
}

/// How long a marker keeps duplicates out: longer than any re-check can be late, which is bounded
/// by Scheduler's retry window for a target (24 hours).
const MARKER_LIFETIME: Duration = Duration::from_secs(25 * 3600);

/// The same for every announcement of the same end of the same deletion, so subscribers can drop a
/// repeat that at-least-once delivery lets through.
fn deduplication_id(id: &InstanceId, outcome: &Outcome, seen: &Seen, request: &FollowRequest) -> String {
    match (outcome, seen) {
        (Outcome::Deleted, _) => format!("{id}:Deleted"),
        (Outcome::TimedOut, _) => format!("{id}:TimedOut:{}", request.started_at.secs()),
        (_, Seen::Found(record)) => format!("{id}:{outcome}:{}", record.last_modified_time.as_deref().unwrap_or("")),
        (_, Seen::Gone) => format!("{id}:{outcome}"),
    }
}
/// What a `ResourceNotFoundException` from `GetInstance` means for the instance looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotFound {
    /// Its deletion was seen under way (or requested by this stack): gone is deleted.
    MeansDeleted,
    /// Nothing was seen of it yet: the id is unknown, an error.
    IsAnError,
}

impl NotFound {
    /// As a request that has (or has not) seen the deletion under way reads it.
    fn after(deletion_seen: bool) -> NotFound {
        if deletion_seen {
            NotFound::MeansDeleted
        } else {
            NotFound::IsAnError
        }
    }
}
