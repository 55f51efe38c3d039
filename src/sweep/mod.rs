//! The sweep: lists every instance of each target (an account and region), decides for each one by
//! the policy (expiry tag, optional age rule, deletion protection, state), and reports. In delete
//! mode it asks the delete function to delete the selected instances, a capped number per run, with
//! Deletion Requested events on the bus; it never deletes anything itself. With notice
//! (`NOTICE_HOURS` above 0) it first marks a selected instance and announces when it will be
//! deleted, requests its deletion only once that time has passed and the policy still selects it,
//! and cancels the mark of one the policy no longer selects ([`notice`]).
//!
//! One run is, for each target, [`SweepFunction::list`] and [`SweepFunction::examine`] (each
//! instance's tags read and decided on, [`examine`]); then, for all of them, the marks read (delete
//! mode with notice), [`classify`], the notices ([`notice::Notice::give`]),
//! [`SweepFunction::request`] (delete mode; a run of an organization sweep's plan lists instead
//! what it would request), and [`SweepFunction::report`]. The organization sweep's steps are in
//! [`organization`].

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use aws_smithy_types::DateTime;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::{SweepMode, SweepSettings};
use crate::contract::{
    within_event_limit, Announcement, DeletionRequested, ExecutedInstance, OrganizationSummary, Reason, SweepEntry, SweepReport,
    TargetReport, TargetStatus,
};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::events::EventBus;
use crate::input::sweep::{parse_sweep_event, SweepEvent, SweepRequest, SWEEP_SHAPES};
use crate::input::Payload;
use crate::metrics;
use crate::model::{every_pair, Target};
use crate::notice_key::NoticeKey;
use crate::plan_store::PlanStore;
use crate::supply_chain::TargetClients;

mod classify;
mod examine;
mod notice;
pub mod organization;
mod policy;

use classify::{classify, ToRequest};
use examine::Swept;
use notice::Notice;
use organization::OrganizationSweep;
pub use organization::{ApprovalPlan, Approved, Awaiting, OrganizationPlan, PlanClosed, PlannedTarget};

/// The sweep's dependencies, built once at init.
#[derive(Debug, Clone)]
pub struct SweepFunction {
    supply_chains: TargetClients,
    bus: EventBus,
    settings: SweepSettings,
    /// The organization sweep's plan and summary.
    organization: OrganizationSweep,
    /// Signs and checks the notice marks: required with notice (`NOTICE_KEY_ID`).
    notice_key: Option<NoticeKey>,
}

/// How the report's entries of a target name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryTarget {
    /// As resolved: empty where it is the function's own account and region (a one-target run).
    AsResolved,
    /// As given, even where it is the function's own (a run of several targets names every one).
    AsGiven,
}

/// What one invocation answers: a run's report, or a step of the organization sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SweepOutput {
    Report(Box<SweepReport>),
    Plan(OrganizationPlan),
    Summary(Box<OrganizationSummary>),
    Awaiting(Awaiting),
    Approved(Approved),
    Executed(ExecutedInstance),
    Closed(PlanClosed),
}

impl SweepFunction {
    pub fn new(supply_chains: impl Into<TargetClients>, bus: EventBus, settings: SweepSettings) -> Self {
        let supply_chains: TargetClients = supply_chains.into();
        let organization = OrganizationSweep::new(bus.clone(), &settings, supply_chains.home().region());
        SweepFunction { supply_chains, bus, settings, organization, notice_key: None }
    }

    /// The stack's HMAC key, which signs and checks the notice marks.
    pub(crate) fn with_notice_key(self, key: Option<NoticeKey>) -> Self {
        SweepFunction { notice_key: key, ..self }
    }

    /// The Organizations client the plan lists accounts with, and the bucket of the plans and
    /// results (none: the plan's targets and the Map's results are passed inline).
    pub(crate) fn with_organizations(self, organizations: aws_sdk_organizations::Client, plans: Option<PlanStore>) -> Self {
        SweepFunction { organization: self.organization.with_organizations(organizations, plans), ..self }
    }

    /// Handles one invocation: a run (scheduled, or a direct invoke's overrides), or a step of the
    /// organization sweep.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<SweepOutput, Error> {
        let started = Instant::now();
        let home = self.supply_chains.home_of(&event.context.invoked_function_arn)?;
        let invocation = Invocation::new(&event.context, &self.settings.common, home);
        let parsed = event.payload.json(SWEEP_SHAPES).and_then(parse_sweep_event).inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "event refused");
        })?;
        let sweep_id = event.context.request_id.clone();
        let organization = &self.organization;
        let output = match parsed {
            SweepEvent::Run(request) => SweepOutput::Report(Box::new(self.run(request, sweep_id, started, &invocation).await?)),
            SweepEvent::Plan(plan) => SweepOutput::Plan(organization.plan(plan, sweep_id, &invocation).await?),
            SweepEvent::Summarize(results) => SweepOutput::Summary(Box::new(organization.summarize(&results, &invocation).await?)),
            SweepEvent::AwaitApproval(request) => SweepOutput::Awaiting(organization.await_approval(request, &invocation).await?),
            SweepEvent::Approve(request) => SweepOutput::Approved(organization.approve(request, &invocation).await?),
            SweepEvent::Execute(line) => SweepOutput::Executed(self.execute(*line, &invocation).await?),
            SweepEvent::ClosePlan(request) => SweepOutput::Closed(organization.close_plan(request, &invocation).await?),
        };
        Ok(output)
    }

    /// One run over its targets: the one the invoke names, or the configured ones. The cap bounds
    /// the requests of the whole run, across targets, in target order.
    async fn run(&self, request: SweepRequest, sweep_id: String, started: Instant, invocation: &Invocation) -> Result<SweepReport, Error> {
        let mode = request.mode.unwrap_or(self.settings.mode);
        let cap = request.max_deletions.unwrap_or(self.settings.max_deletions) as usize;
        let now = DateTime::from(SystemTime::now());
        // Examining stops early enough to leave time to send what was selected and the report.
        let examining = invocation.budget.ending_before(self.settings.send_reserve);
        let mut report = SweepReport::new(sweep_id, mode);
        report.plan_id = request.plan_id.clone();
        let mut examined = Vec::new();
        let targets = match request.target {
            Some(target) => vec![target],
            None => self.configured_targets(),
        };
        match <[Target; 1]>::try_from(targets) {
            // One target, named or the only one configured: its failure is the run's, and the
            // report names it at the top where it is another than the function's own.
            Ok([target]) => {
                let (resolved, swept) = self.sweep_target(&target, EntryTarget::AsResolved, invocation, &examining, now).await?;
                report.target = resolved;
                report.complete = swept.complete;
                examined = swept.examined;
            }
            Err(targets) => {
                for target in targets {
                    let (status, swept) = self.sweep_one_of_several(&target, invocation, &examining, now).await;
                    report.complete &= status.status == TargetStatus::Swept;
                    if let Some(swept) = swept {
                        examined.extend(swept.examined);
                    }
                    report.targets.push(status);
                }
            }
        }
        let notice = self.notice(mode, now)?.map(|notice| notice.of_plan(request.plan_id.clone()));
        let marks = match &notice {
            Some(notice) => notice.read_all(&examined, self.settings.concurrency, &invocation.budget).await,
            None => HashMap::new(),
        };
        let (mut report, to_request, work) = classify(examined, report, cap, notice.as_ref(), marks);
        if let Some(notice) = &notice {
            let given = notice.give(&self.bus, work, &report.sweep_id, self.settings.concurrency, &invocation.budget).await;
            report.counts.marked = Some(given.marked.len());
            report.counts.cancelled = Some(given.cancelled.len());
            report.marked = given.marked;
            report.cancelled = given.cancelled;
            report.skipped.extend(given.failed);
        }
        match (request.plan_only, &request.plan_id) {
            // A run of a plan awaiting approval: what it would request goes to the plan, and nothing is requested.
            (Some(true), Some(plan_id)) => {
                report.planned = Some(to_request.into_iter().map(|request| request.planned(plan_id)).collect::<Result<_, _>>()?);
            }
            (plan_only, _) => {
                report.planned = plan_only.map(|_| Vec::new());
                self.request(&mut report, to_request, invocation).await?;
            }
        }
        self.report(report, started, invocation).await
    }

    /// The notice rules of a run in `mode`: in delete mode with `NOTICE_HOURS` above 0.
    fn notice(&self, mode: SweepMode, now: DateTime) -> Result<Option<Notice>, Error> {
        if mode != SweepMode::Delete || self.settings.notice.is_zero() {
            return Ok(None);
        }
        // The settings require the key with notice; a function built without it never gives notice
        // it could not sign.
        let key = self.notice_key.clone().ok_or_else(|| {
            Error::Unexpected("notice is on (NOTICE_HOURS above 0), but the sweep has no key to sign its marks (NOTICE_KEY_ID)".to_owned())
        })?;
        Ok(Some(Notice::new(&self.settings, key, now)))
    }

    /// `SWEEP_ACCOUNTS` x `SWEEP_REGIONS`, each defaulting to the function's own.
    fn configured_targets(&self) -> Vec<Target> {
        let accounts: Vec<_> =
            if self.settings.accounts.is_empty() { vec![None] } else { self.settings.accounts.iter().cloned().map(Some).collect() };
        let regions: Vec<_> =
            if self.settings.regions.is_empty() { vec![None] } else { self.settings.regions.iter().cloned().map(Some).collect() };
        every_pair(&accounts, &regions).into_iter().map(|(account_id, region)| Target { account_id, region }).collect()
    }

    /// One of several configured targets: what became of it, and what it examined. A target the
    /// deadline came before is deferred, and one that fails is reported with its errorType while
    /// the run goes on with the others.
    async fn sweep_one_of_several(
        &self,
        target: &Target,
        invocation: &Invocation,
        examining: &Budget,
        now: DateTime,
    ) -> (TargetReport, Option<Swept>) {
        let status = |status, examined, error: Option<&Error>| TargetReport {
            target: target.clone(),
            status,
            examined,
            error_type: error.map(|e| e.error_type().to_owned()),
            // Cut: a credentials error carries the SDK's whole context (kilobytes), and a report
            // of many failed targets must stay readable and within an event.
            error: error.map(|e| e.to_string().chars().take(1_024).collect()),
        };
        if examining.remaining().is_none() {
            info!(account_id = ?target.account_id, region = ?target.region, outcome = "deferred", "target deferred to the next run");
            return (status(TargetStatus::Deferred, 0, None), None);
        }
        match self.sweep_target(target, EntryTarget::AsGiven, invocation, examining, now).await {
            Ok((_, swept)) => {
                let done = if swept.complete { TargetStatus::Swept } else { TargetStatus::Incomplete };
                (status(done, swept.examined.len(), None), Some(swept))
            }
            Err(error) => {
                warn!(account_id = ?target.account_id, region = ?target.region, error_type = error.error_type(), error = %error, "target not swept");
                metrics::count_by(metrics::TARGETS_FAILED, metrics::ERROR_TYPE, error.error_type());
                (status(TargetStatus::Failed, 0, Some(&error)), None)
            }
        }
    }

    /// Lists and examines one target, its entries naming it as `naming` says. Answers the target as
    /// resolved.
    async fn sweep_target(
        &self,
        target: &Target,
        naming: EntryTarget,
        invocation: &Invocation,
        examining: &Budget,
        now: DateTime,
    ) -> Result<(Target, Swept), Error> {
        let (resolved, client) =
            self.supply_chains.reaching(target, None, &self.settings.common, &invocation.home).await.inspect_err(|error| {
                warn!(error_type = error.error_type(), error = %error, "target refused");
            })?;
        let (listed, listed_all) = examine::list(&client, examining).await.inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "instances not listed");
        })?;
        let shown = match naming {
            EntryTarget::AsGiven => target.clone(),
            EntryTarget::AsResolved => resolved.clone(),
        };
        let examined = examine::examine(&self.settings, &client, &shown, &listed, invocation, examining, now).await?;
        let complete = listed_all && examined.len() == listed.len();
        Ok((resolved, Swept { examined, complete }))
    }

    /// In delete mode, puts one Deletion Requested event per instance to request on the bus; each
    /// one put is listed as requested. When none could be put, the run fails, so that the
    /// schedule's retry sends them again. Once any went out, the run no longer fails: a retry would
    /// request up to the cap again, beyond what this run already asked for. The ones that could not
    /// be put are reported (`RequestFailed`), and the next run selects them anew.
    async fn request(&self, report: &mut SweepReport, to_request: Vec<ToRequest>, invocation: &Invocation) -> Result<(), Error> {
        if to_request.is_empty() {
            return Ok(());
        }
        let announcements: Vec<Announcement> = to_request
            .iter()
            .map(|request| {
                let detail = DeletionRequested {
                    instance_id: request.entry.instance_id.clone(),
                    target: request.entry.target.clone(),
                    reason: request.entry.reason,
                    sweep_id: report.sweep_id.clone(),
                    // Without notice the request reads as it always has: the reason's name is enough.
                    detail: request.scheduled_for.as_ref().map(|_| request.entry.detail.clone()),
                    scheduled_for: request.scheduled_for.clone(),
                    plan_id: report.plan_id.clone(),
                };
                Announcement::new(&detail, vec![request.arn.clone()])
            })
            .collect();
        let published = self.bus.publish(&announcements, &invocation.budget).await;
        if let Some(Err(error)) = published.first().filter(|_| published.iter().all(Result::is_err)) {
            warn!(error_type = error.error_type(), error = %error, "no deletion request could be sent");
            return Err(error.clone());
        }
        for (request, result) in to_request.into_iter().zip(published) {
            match result {
                Ok(()) => {
                    info!(instance_id = %request.entry.instance_id, outcome = "deletion requested", "deletion requested");
                    report.requested.push(request.entry);
                }
                Err(error) => {
                    warn!(instance_id = %request.entry.instance_id, error_type = error.error_type(), error = %error, "deletion request not sent");
                    let words = format!(
                        "{} (the Deletion Requested event could not be put: {}: {error}; the next run selects it anew)",
                        request.entry.detail,
                        error.error_type()
                    );
                    report.skipped.push(SweepEntry { reason: Reason::RequestFailed, detail: words, ..request.entry });
                }
            }
        }
        Ok(())
    }

    /// Counts the report, writes the run's metrics, and puts the report on the bus as
    /// `Supply Chain Instance Sweep Completed`.
    async fn report(&self, mut report: SweepReport, started: Instant, invocation: &Invocation) -> Result<SweepReport, Error> {
        report.counts.selected = report.selected.len();
        report.counts.requested = report.requested.len();
        report.counts.deferred = report.deferred.len();
        report.counts.skipped = report.skipped.len();
        report.counts.planned = report.planned.as_ref().map(Vec::len);
        report.examined = report.examined.max(report.targets.iter().map(|t| t.examined).sum());
        record_metrics(&report, started);
        // The plan file needs every planned instance: the event's list may be cut, the answer's is whole.
        let planned = report.planned.clone();
        let mut report = within_event_limit(report);
        if let Err(error) = self.bus.publish_one(Announcement::new(&report, Vec::new()), &invocation.budget).await {
            warn!(error_type = error.error_type(), error = %error, "report not put on the bus");
            // Once a request went out, a retry of the run would request up to the cap again: the
            // report is still returned, and the failed announcement counted (AnnouncementsFailed).
            if report.requested.is_empty() {
                return Err(error);
            }
        }
        info!(
            sweep_id = %report.sweep_id,
            examined = report.examined,
            selected = report.counts.selected,
            requested = report.counts.requested,
            deferred = report.counts.deferred,
            skipped = report.counts.skipped,
            marked = report.counts.marked,
            cancelled = report.counts.cancelled,
            complete = report.complete,
            planned = report.counts.planned,
            "sweep completed"
        );
        report.planned = planned;
        Ok(report)
    }
}

/// The run's EMF metrics: how many instances were examined, selected, requested, deferred and
/// skipped (also by reason), marked and cancelled, and how long the run took.
fn record_metrics(report: &SweepReport, started: Instant) {
    metrics::count(metrics::INSTANCES_EXAMINED, report.examined as u64);
    metrics::count(metrics::INSTANCES_SELECTED, report.counts.selected as u64);
    metrics::count(metrics::DELETIONS_REQUESTED, report.counts.requested as u64);
    metrics::count(metrics::DELETIONS_DEFERRED, report.counts.deferred as u64);
    if let Some(marked) = report.counts.marked {
        metrics::count(metrics::INSTANCES_MARKED, marked as u64);
    }
    if let Some(cancelled) = report.counts.cancelled {
        metrics::count(metrics::DELETIONS_CANCELLED, cancelled as u64);
    }
    for entry in &report.skipped {
        metrics::count_by(metrics::INSTANCES_SKIPPED, metrics::REASON, entry.reason.as_str());
    }
    metrics::seconds(metrics::SWEEP_DURATION, started.elapsed().as_secs_f64());
}
