//! The sweep: lists every instance, decides for each one by the policy (expiry tag, optional age
//! rule, deletion protection, state), and reports. In delete mode it asks the delete function to
//! delete the selected instances, a capped number per run, with Deletion Requested events on the
//! bus; it never deletes anything itself.
//!
//! One run is four steps, one method each: [`SweepFunction::list`], [`SweepFunction::examine`] (each
//! instance's tags read and decided on), [`SweepFunction::request`] (delete mode), and
//! [`SweepFunction::report`].

use std::time::{Instant, SystemTime};

use aws_sdk_supplychain::types::InstanceState;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use tracing::{debug, info, warn};

use crate::config::{SweepMode, SweepSettings};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::events::{Announcement, EventBus, DELETION_REQUESTED, SWEEP_COMPLETED, SWEEP_SOURCE};
use crate::input::sweep::{parse_sweep_event, SWEEP_SHAPES};
use crate::input::Payload;
use crate::metrics;
use crate::supply_chain::{Listed, SupplyChain};

mod policy;
mod report;

pub use policy::Reason;
use policy::{decide, Decision};
pub use report::{SweepCounts, SweepDeletionRequest, SweepEntry, SweepReport};

use report::within_event_limit;

/// The sweep's dependencies, built once at init.
#[derive(Debug, Clone)]
pub struct SweepFunction {
    supply_chain: SupplyChain,
    bus: EventBus,
    settings: SweepSettings,
}

/// One examined instance: what the report says of it, its ARN for a request's `resources`, and its
/// decision.
struct Examined {
    instance_id: String,
    instance_name: Option<String>,
    state: InstanceState,
    arn: String,
    decision: Decision,
}

impl Examined {
    fn entry(&self, reason: Reason, detail: &str) -> SweepEntry {
        SweepEntry {
            instance_id: self.instance_id.clone(),
            instance_name: self.instance_name.clone(),
            state: self.state.as_str().to_owned(),
            reason,
            detail: detail.to_owned(),
        }
    }
}

/// A selected instance to ask the delete function about: its report entry and its ARN.
type ToRequest = (SweepEntry, String);

impl SweepFunction {
    /// `bus` announces under [`SWEEP_SOURCE`], whatever source it was built with.
    pub fn new(supply_chain: SupplyChain, bus: EventBus, settings: SweepSettings) -> Self {
        SweepFunction { supply_chain, bus: bus.with_source(SWEEP_SOURCE), settings }
    }

    /// Handles one run: a scheduled one with the configured settings, or a direct invoke's overrides.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<SweepReport, Error> {
        let started = Instant::now();
        let invocation = Invocation::new(&event.context, &self.settings.common);
        let request = event.payload.json(SWEEP_SHAPES).and_then(parse_sweep_event).inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "event refused");
        })?;
        let mode = request.mode.unwrap_or(self.settings.mode);
        let cap = request.max_deletions.unwrap_or(self.settings.max_deletions) as usize;
        let sweep_id = event.context.request_id.clone();
        let now = DateTime::from(SystemTime::now());
        // Examining stops early enough to leave time to send what was selected and the report.
        let examining = invocation.budget.ending_before(self.settings.send_reserve);

        let (listed, listed_all) = self.list(&examining).await.inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "instances not listed");
        })?;
        let examined = self.examine(&listed, &invocation, &examining, now).await?;
        let complete = listed_all && examined.len() == listed.len();
        let (mut report, to_request) = sort(examined, SweepReport::new(sweep_id, mode, complete), cap);
        self.request(&mut report, to_request, &invocation).await?;
        self.report(report, started, &invocation).await
    }

    /// Every instance, page by page; `false` when the budget ended before the last page.
    async fn list(&self, budget: &Budget) -> Result<(Vec<Listed>, bool), Error> {
        let mut instances = Vec::new();
        let mut token: Option<String> = None;
        loop {
            match self.supply_chain.list_instances_page(token.as_deref(), budget).await {
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
    async fn examine(&self, listed: &[Listed], invocation: &Invocation, budget: &Budget, now: DateTime) -> Result<Vec<Examined>, Error> {
        let checks: Vec<_> = listed.iter().map(|instance| self.examine_one(instance, invocation, budget, now)).collect();
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
        listed: &Listed,
        invocation: &Invocation,
        budget: &Budget,
        now: DateTime,
    ) -> Result<Option<Examined>, Error> {
        let instance = match listed {
            Ok(instance) => instance,
            Err(unusable) => {
                let detail = format!("ListInstances answered an instance id that cannot be used: {}", unusable.problem);
                return Ok(Some(Examined {
                    instance_id: unusable.instance_id.clone(),
                    instance_name: unusable.instance_name.clone(),
                    state: unusable.state.clone(),
                    arn: String::new(),
                    decision: log(&unusable.instance_id, &unusable.state, Decision::Skipped(Reason::TagsUnreadable, detail)),
                }));
            }
        };
        let examined = |arn: String, decision| Examined {
            instance_id: instance.instance_id.to_string(),
            instance_name: instance.instance_name.clone(),
            state: instance.state.clone(),
            arn,
            decision,
        };
        // Listed for a while after its deletion: nothing to decide, and its tags may be gone.
        if instance.state == InstanceState::Deleted {
            return Ok(Some(examined(String::new(), Decision::Kept)));
        }
        // The listed record names its account, so a placeholder function ARN (local runtimes) is no obstacle.
        let arn = self
            .supply_chain
            .instance_arn(&instance.instance_id, &invocation.function_arn, Some(instance))
            .ok_or_else(|| Error::Unexpected("the Supply Chain client has no region, so the instance's ARN cannot be built".to_owned()))?;
        let decision = match self.supply_chain.tags(&arn, budget).await {
            Ok(tags) => decide(&self.settings, instance, &tags, now),
            Err(_) if budget.remaining().is_none() => return Ok(None),
            Err(error) => Decision::Skipped(Reason::TagsUnreadable, format!("{}: {error}", error.error_type())),
        };
        let decision = log(instance.instance_id.as_str(), &instance.state, decision);
        Ok(Some(examined(arn, decision)))
    }

    /// In delete mode, puts one Deletion Requested event per instance to request on the bus; each
    /// one put is listed as requested. A request that could not be put fails the run, so that the
    /// schedule's retry sends it again.
    async fn request(&self, report: &mut SweepReport, to_request: Vec<ToRequest>, invocation: &Invocation) -> Result<(), Error> {
        if to_request.is_empty() {
            return Ok(());
        }
        let announcements: Vec<Announcement> = to_request
            .iter()
            .map(|(entry, arn)| Announcement {
                detail_type: DELETION_REQUESTED,
                detail: serde_json::to_value(SweepDeletionRequest {
                    instance_id: entry.instance_id.clone(),
                    reason: entry.reason,
                    sweep_id: report.sweep_id.clone(),
                })
                .expect("a request always serialises"),
                resources: vec![arn.clone()],
            })
            .collect();
        let published = self.bus.publish(&announcements, &invocation.budget).await;
        for ((entry, _), result) in to_request.into_iter().zip(published) {
            if let Err(error) = result {
                warn!(instance_id = %entry.instance_id, error_type = error.error_type(), error = %error, "deletion request not sent");
                return Err(error);
            }
            info!(instance_id = %entry.instance_id, outcome = "deletion requested", "deletion requested");
            report.requested.push(entry);
        }
        Ok(())
    }

    /// Counts the report, writes the run's metrics, and puts the report on the bus as
    /// `Supply Chain Instance Sweep Completed`.
    async fn report(&self, mut report: SweepReport, started: Instant, invocation: &Invocation) -> Result<SweepReport, Error> {
        report.counts = SweepCounts {
            selected: report.selected.len(),
            requested: report.requested.len(),
            deferred: report.deferred.len(),
            skipped: report.skipped.len(),
        };
        record_metrics(&report, started);
        let report = within_event_limit(report);
        let announcement = Announcement {
            detail_type: SWEEP_COMPLETED,
            detail: serde_json::to_value(&report).expect("a report always serialises"),
            resources: Vec::new(),
        };
        if let Some(Err(error)) = self.bus.publish(&[announcement], &invocation.budget).await.into_iter().next() {
            warn!(error_type = error.error_type(), error = %error, "report not put on the bus");
            return Err(error);
        }
        info!(
            sweep_id = %report.sweep_id,
            examined = report.examined,
            selected = report.counts.selected,
            requested = report.counts.requested,
            deferred = report.counts.deferred,
            skipped = report.counts.skipped,
            complete = report.complete,
            "sweep completed"
        );
        Ok(report)
    }
}

/// Sorts the decisions into the report's lists: every selected instance is listed as selected; in
/// delete mode the first `cap` of them are to be requested and the rest deferred to the next run.
fn sort(examined: Vec<Examined>, mut report: SweepReport, cap: usize) -> (SweepReport, Vec<ToRequest>) {
    report.examined = examined.len();
    let mut to_request = Vec::new();
    for done in &examined {
        match &done.decision {
            Decision::Kept => {}
            Decision::Selected(reason, detail) => {
                report.selected.push(done.entry(*reason, detail));
                if report.mode == SweepMode::Delete {
                    if to_request.len() < cap {
                        to_request.push((done.entry(*reason, detail), done.arn.clone()));
                    } else {
                        report.deferred.push(done.entry(*reason, detail));
                    }
                }
            }
            Decision::Skipped(reason, detail) => report.skipped.push(done.entry(*reason, detail)),
        }
    }
    (report, to_request)
}

/// The run's EMF metrics: how many instances were examined, selected, requested, deferred and
/// skipped (also by reason), and how long the run took.
fn record_metrics(report: &SweepReport, started: Instant) {
    metrics::count(metrics::INSTANCES_EXAMINED, report.examined as u64);
    metrics::count(metrics::INSTANCES_SELECTED, report.counts.selected as u64);
    metrics::count(metrics::DELETIONS_REQUESTED, report.counts.requested as u64);
    metrics::count(metrics::DELETIONS_DEFERRED, report.counts.deferred as u64);
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
