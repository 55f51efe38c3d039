//! The sweep: lists every instance of each target (an account and region), decides for each one by
//! the policy (expiry tag, optional age rule, deletion protection, state), and reports. In delete
//! mode it asks the delete function to delete the selected instances, a capped number per run, with
//! Deletion Requested events on the bus; it never deletes anything itself. With notice
//! (`NOTICE_HOURS` above 0) it first marks a selected instance and announces when it will be
//! deleted, requests its deletion only once that time has passed and the policy still selects it,
//! and cancels the mark of one the policy no longer selects ([`notice`]).
//!
//! One run is, for each target, [`SweepFunction::list`] and [`SweepFunction::examine`] (each
//! instance's tags read and decided on); then, for all of them, the marks read (delete mode with
//! notice), [`sort`], the notices ([`notice::Notice::give`]), [`SweepFunction::request`] (delete
//! mode), and [`SweepFunction::report`]. The organization sweep's two steps are in [`organization`].

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use aws_sdk_supplychain::types::InstanceState;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::config::{SweepMode, SweepSettings};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::events::{Announcement, EventBus, DELETION_REQUESTED, SWEEP_COMPLETED, SWEEP_SOURCE};
use crate::input::sweep::{parse_sweep_event, SweepEvent, SweepRequest, SWEEP_SHAPES};
use crate::input::Payload;
use crate::metrics;
use crate::model::Target;
use crate::notice_key::NoticeKey;
use crate::supply_chain::{Listed, SupplyChain, SupplyChains};

mod notice;
pub mod organization;
mod policy;
mod report;

use notice::{Mark, Notice, NoticeWork};
pub use organization::{OrganizationPlan, OrganizationSummary, PlannedTarget};
pub use policy::Reason;
use policy::{decide, Decision};
pub use report::{SweepCounts, SweepDeletionRequest, SweepEntry, SweepReport, TargetReport, TargetStatus};

use report::within_event_limit;

/// The sweep's dependencies, built once at init.
#[derive(Debug, Clone)]
pub struct SweepFunction {
    supply_chains: SupplyChains,
    bus: EventBus,
    settings: SweepSettings,
    /// Lists the organization's accounts for the organization sweep's plan.
    organizations: Option<aws_sdk_organizations::Client>,
    /// Signs and checks the notice marks: required with notice (`NOTICE_KEY_ID`).
    notice_key: Option<NoticeKey>,
}

/// What one invocation answers: a run's report, or a step of the organization sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SweepOutput {
    Report(Box<SweepReport>),
    Plan(OrganizationPlan),
    Summary(Box<OrganizationSummary>),
}

/// One examined instance: what the report says of it, where it lives, its ARN for a request's
/// `resources`, the tags the notice needs, and its decision.
struct Examined {
    instance_id: String,
    instance_name: Option<String>,
    state: InstanceState,
    /// As the report names it: empty for the function's own account and region in a one-target run.
    target: Target,
    /// The account and region in words, for notices: always named.
    account_id: String,
    region: String,
    client: SupplyChain,
    arn: String,
    tags: HashMap<String, String>,
    decision: Decision,
}

impl Examined {
    /// Whether the sweep could delete it: only `Active` and `DeleteFailed` instances are deleted.
    fn deletable(&self) -> bool {
        policy::deletable(&self.state)
    }

    fn entry(&self, reason: Reason, detail: &str) -> SweepEntry {
        SweepEntry {
            instance_id: self.instance_id.clone(),
            target: self.target.clone(),
            instance_name: self.instance_name.clone(),
            state: self.state.as_str().to_owned(),
            reason,
            detail: detail.to_owned(),
        }
    }
}

/// A selected instance to ask the delete function about: its report entry, its ARN, and the time
/// it was scheduled for when it was given notice.
struct ToRequest {
    entry: SweepEntry,
    arn: String,
    scheduled_for: Option<String>,
}

/// One target's examination.
struct Swept {
    examined: Vec<Examined>,
    complete: bool,
}

impl SweepFunction {
    /// `bus` announces under [`SWEEP_SOURCE`], whatever source it was built with.
    pub fn new(supply_chains: impl Into<SupplyChains>, bus: EventBus, settings: SweepSettings) -> Self {
        SweepFunction {
            supply_chains: supply_chains.into(),
            bus: bus.with_source(SWEEP_SOURCE),
            settings,
            organizations: None,
            notice_key: None,
        }
    }

    /// The stack's HMAC key, which signs and checks the notice marks.
    pub fn with_notice_key(self, key: Option<NoticeKey>) -> Self {
        SweepFunction { notice_key: key, ..self }
    }

    /// The Organizations client the plan lists accounts with.
    pub fn with_organizations(self, organizations: aws_sdk_organizations::Client) -> Self {
        SweepFunction { organizations: Some(organizations), ..self }
    }

    /// Handles one invocation: a run (scheduled, or a direct invoke's overrides), or a step of the
    /// organization sweep.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<SweepOutput, Error> {
        let started = Instant::now();
        let invocation = Invocation::new(&event.context, &self.settings.common);
        let parsed = event.payload.json(SWEEP_SHAPES).and_then(parse_sweep_event).inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "event refused");
        })?;
        let sweep_id = event.context.request_id.clone();
        let output = match parsed {
            SweepEvent::Run(request) => SweepOutput::Report(Box::new(self.run(request, sweep_id, started, &invocation).await?)),
            SweepEvent::Plan(plan) => SweepOutput::Plan(self.plan(plan, sweep_id, &invocation).await?),
            SweepEvent::Summarize(results) => SweepOutput::Summary(Box::new(self.summarize(&results, &invocation).await?)),
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
        let mut report = SweepReport::new(sweep_id, mode, true);
        let mut examined = Vec::new();
        let targets = match request.target {
            Some(target) => vec![target],
            None => self.configured_targets(),
        };
        match <[Target; 1]>::try_from(targets) {
            // One target, named or the only one configured: its failure is the run's, and the
            // report names it at the top where it is another than the function's own.
            Ok([target]) => {
                let (resolved, swept) = self.sweep_target(&target, false, invocation, &examining, now).await?;
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
        let notice = self.notice(mode, now)?;
        let marks = match &notice {
            Some(notice) => notice.read_all(&examined, self.settings.concurrency, &invocation.budget).await,
            None => HashMap::new(),
        };
        let (mut report, to_request, work) = sort(examined, report, cap, notice.as_ref(), marks);
        if let Some(notice) = &notice {
            let given = notice.give(&self.bus, work, &report.sweep_id, self.settings.concurrency, &invocation.budget).await;
            report.counts.marked = Some(given.marked.len());
            report.counts.cancelled = Some(given.cancelled.len());
            report.marked = given.marked;
            report.cancelled = given.cancelled;
            report.skipped.extend(given.failed);
        }
        self.request(&mut report, to_request, invocation).await?;
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
        accounts
            .iter()
            .flat_map(|account| regions.iter().map(move |region| Target { account_id: account.clone(), region: region.clone() }))
            .collect()
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
        match self.sweep_target(target, true, invocation, examining, now).await {
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

    /// Lists and examines one target; `named` keeps the target in each entry even where it is the
    /// function's own (a run of several targets names every one). Answers the target as resolved.
    async fn sweep_target(
        &self,
        target: &Target,
        named: bool,
        invocation: &Invocation,
        examining: &Budget,
        now: DateTime,
    ) -> Result<(Target, Swept), Error> {
        let (resolved, client) =
            self.supply_chains.reaching(target, None, &self.settings.common, &invocation.function_arn).await.inspect_err(|error| {
                warn!(error_type = error.error_type(), error = %error, "target refused");
            })?;
        let (listed, listed_all) = self.list(&client, examining).await.inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "instances not listed");
        })?;
        let shown = if named { target.clone() } else { resolved.clone() };
        let examined = self.examine(&client, &shown, &listed, invocation, examining, now).await?;
        let complete = listed_all && examined.len() == listed.len();
        Ok((resolved, Swept { examined, complete }))
    }

    /// Every instance, page by page; `false` when the budget ended before the last page.
    async fn list(&self, client: &SupplyChain, budget: &Budget) -> Result<(Vec<Listed>, bool), Error> {
        let mut instances = Vec::new();
        let mut token: Option<String> = None;
        loop {
            match client.list_instances_page(token.as_deref(), budget).await {
                Ok((page, next)) => {
                    instances.extend(page);
                    match next {
                        None => return Ok((instances, true)),
                        // A service answering the same token again would keep the sweep listing forever.
                        Some(next) if token.as_deref() == Some(next.as_str()) => {
                            return Err(Error::Unexpected(format!(
                                "ListInstances answered the page token it was given ({next:?}) as the next one"
                            )));
                        }
                        Some(next) => token = Some(next),
                    }
                }
                // The examination budget ran out: what is listed is examined with the time left (none).
                Err(Error::Timeout(_)) if budget.remaining().is_none() => return Ok((instances, false)),
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads the tags of the listed instances, a few at a time, and decides for each one; those the
    /// budget ended before are left out.
    async fn examine(
        &self,
        client: &SupplyChain,
        target: &Target,
        listed: &[Listed],
        invocation: &Invocation,
        budget: &Budget,
        now: DateTime,
    ) -> Result<Vec<Examined>, Error> {
        let checks: Vec<_> = listed.iter().map(|instance| self.examine_one(client, target, instance, invocation, budget, now)).collect();
        let outcomes: Vec<Result<Option<Examined>, Error>> = stream::iter(checks).buffered(self.settings.concurrency).collect().await;
        let mut examined = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            examined.extend(outcome?);
        }
        Ok(examined)
    }

    /// Reads one instance's tags and decides; `None` when the budget ended before it was examined.
    async fn examine_one(
        &self,
        client: &SupplyChain,
        target: &Target,
        listed: &Listed,
        invocation: &Invocation,
        budget: &Budget,
        now: DateTime,
    ) -> Result<Option<Examined>, Error> {
        let region = client.region().unwrap_or_default().to_owned();
        let instance = match listed {
            Ok(instance) => instance,
            Err(unusable) => {
                let detail = format!("ListInstances answered an instance id that cannot be used: {}", unusable.problem);
                return Ok(Some(Examined {
                    instance_id: unusable.instance_id.clone(),
                    instance_name: unusable.instance_name.clone(),
                    state: unusable.state.clone(),
                    target: target.clone(),
                    account_id: client.account().unwrap_or_default().to_owned(),
                    region,
                    client: client.clone(),
                    arn: String::new(),
                    tags: HashMap::new(),
                    decision: log(&unusable.instance_id, &unusable.state, Decision::Skipped(Reason::TagsUnreadable, detail)),
                }));
            }
        };
        let examined = |arn: String, tags, decision| Examined {
            instance_id: instance.instance_id.to_string(),
            instance_name: instance.instance_name.clone(),
            state: instance.state.clone(),
            target: target.clone(),
            account_id: client.account().unwrap_or(&instance.aws_account_id).to_owned(),
            region: region.clone(),
            client: client.clone(),
            arn,
            tags,
            decision,
        };
        // Listed for a while after its deletion: nothing to decide, and its tags may be gone.
        if instance.state == InstanceState::Deleted {
            return Ok(Some(examined(String::new(), HashMap::new(), Decision::Kept)));
        }
        // The listed record names its account, so a placeholder function ARN (local runtimes) is no obstacle.
        let arn = client
            .instance_arn(&instance.instance_id, &invocation.function_arn, Some(instance))
            .ok_or_else(|| Error::Unexpected("the Supply Chain client has no region, so the instance's ARN cannot be built".to_owned()))?;
        let (tags, decision) = match client.tags(&arn, budget).await {
            Ok(tags) => {
                let decision = decide(&self.settings, instance, &tags, now);
                (tags, decision)
            }
            Err(_) if budget.remaining().is_none() => return Ok(None),
            Err(error) => (HashMap::new(), Decision::Skipped(Reason::TagsUnreadable, format!("{}: {error}", error.error_type()))),
        };
        let decision = log(instance.instance_id.as_str(), &instance.state, decision);
        Ok(Some(examined(arn, tags, decision)))
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
            .map(|request| Announcement {
                detail_type: DELETION_REQUESTED,
                detail: serde_json::to_value(SweepDeletionRequest {
                    instance_id: request.entry.instance_id.clone(),
                    target: request.entry.target.clone(),
                    reason: request.entry.reason,
                    sweep_id: report.sweep_id.clone(),
                    // Without notice the request reads as it always has: the reason's name is enough.
                    detail: request.scheduled_for.as_ref().map(|_| request.entry.detail.clone()),
                    scheduled_for: request.scheduled_for.clone(),
                })
                .expect("a request always serialises"),
                resources: vec![request.arn.clone()],
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
        report.examined = report.examined.max(report.targets.iter().map(|t| t.examined).sum());
        record_metrics(&report, started);
        let report = within_event_limit(report);
        let announcement = Announcement {
            detail_type: SWEEP_COMPLETED,
            detail: serde_json::to_value(&report).expect("a report always serialises"),
            resources: Vec::new(),
        };
        if let Some(Err(error)) = self.bus.publish(&[announcement], &invocation.budget).await.into_iter().next() {
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
            "sweep completed"
        );
        Ok(report)
    }
}

/// Sorts the decisions into the report's lists: every selected instance is listed as selected; in
/// delete mode the first `cap` of those to request are requested and the rest deferred to the next
/// run. With notice, an instance is requested only when its mark (read in `marks`, by place) counts
/// and is due; one without a mark that counts is to be given notice, and a marked one the policy no
/// longer selects is to be cancelled.
fn sort(
    examined: Vec<Examined>,
    mut report: SweepReport,
    cap: usize,
    notice: Option<&Notice>,
    mut marks: HashMap<usize, Mark>,
) -> (SweepReport, Vec<ToRequest>, NoticeWork) {
    report.examined = examined.len();
    let mut to_request = Vec::new();
    let mut work = NoticeWork::default();
    let mut due = 0;
    for (index, done) in examined.into_iter().enumerate() {
        let (reason, detail) = match &done.decision {
            Decision::Selected(reason, detail) => (*reason, detail.clone()),
            Decision::Kept | Decision::Skipped(..) => {
                if let Decision::Skipped(reason, detail) = &done.decision {
                    report.skipped.push(done.entry(*reason, detail));
                }
                if let Some(why) = notice.and_then(|notice| notice.cancels(&done)) {
                    work.to_cancel.push((done, why));
                }
                continue;
            }
        };
        report.selected.push(done.entry(reason, &detail));
        if report.mode != SweepMode::Delete {
            continue;
        }
        let scheduled_for = match notice.map(|_| marks.remove(&index).unwrap_or(Mark::Missing)) {
            None => None,
            Some(Mark::Due(when)) => {
                due += 1;
                Some(when)
            }
            Some(Mark::Pending) => continue,
            Some(Mark::Unchecked(words)) => {
                report.skipped.push(done.entry(Reason::MarkFailed, &words));
                continue;
            }
            Some(Mark::Missing) => {
                work.to_mark.push((done, reason, detail));
                continue;
            }
            Some(Mark::Invalid(problem)) => {
                report.skipped.push(done.entry(Reason::InvalidScheduleTag, &problem));
                work.to_mark.push((done, reason, detail));
                continue;
            }
        };
        let detail = match &scheduled_for {
            Some(when) => format!("scheduled for deletion at {when}, with notice: {detail}"),
            None => detail,
        };
        if to_request.len() < cap {
            to_request.push(ToRequest { entry: done.entry(reason, &detail), arn: done.arn.clone(), scheduled_for });
        } else {
            report.deferred.push(done.entry(reason, &detail));
        }
    }
    if notice.is_some() {
        report.counts.due = Some(due);
    }
    (report, to_request, work)
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

fn log(id: &str, state: &InstanceState, decision: Decision) -> Decision {
    let state = state.as_str();
    match &decision {
        Decision::Kept => debug!(instance_id = %id, state, outcome = "kept", "instance not expired"),
        Decision::Selected(reason, _) => {
            info!(instance_id = %id, state, outcome = "selected", reason = ?reason, "instance selected")
        }
        Decision::Skipped(reason, detail) => {
            info!(instance_id = %id, state, outcome = "skipped", reason = ?reason, detail = %detail, "instance skipped")
        }
    }
    decision
}
