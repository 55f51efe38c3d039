//! The sweep: lists every instance, decides for each one by the policy (expiry tag, optional age
//! rule, deletion protection, state), and reports. In delete mode it asks the delete function to
//! delete the selected instances, a capped number per run, with Deletion Requested events on the
//! bus; it never deletes anything itself.

use std::time::SystemTime;

use aws_sdk_supplychain::types::InstanceState;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::config::{SweepMode, SweepSettings};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::events::{Announcement, EventBus, DELETION_REQUESTED, SWEEP_COMPLETED, SWEEP_SOURCE};
use crate::input::sweep::{parse_sweep_event, SWEEP_SHAPES};
use crate::input::Payload;
use crate::model::{InstanceId, InstanceRecord};
use crate::supply_chain::SupplyChain;

mod policy;
mod report;

pub use policy::{decide, expiry_of, Decision, Reason};
pub use report::{SweepCounts, SweepDeletionRequest, SweepEntry, SweepReport};

use report::within_event_limit;

/// The sweep's dependencies, built once at init.
#[derive(Debug, Clone)]
pub struct SweepFunction {
    supply_chain: SupplyChain,
    bus: EventBus,
    settings: SweepSettings,
}

/// One examined instance: its decision, and its ARN for the request's `resources`.
struct Examined<'a> {
    instance: &'a InstanceRecord,
    arn: String,
    decision: Decision,
}

impl SweepFunction {
    /// `bus` announces under [`SWEEP_SOURCE`], whatever source it was built with.
    pub fn new(supply_chain: SupplyChain, bus: EventBus, settings: SweepSettings) -> Self {
        SweepFunction { supply_chain, bus: bus.with_source(SWEEP_SOURCE), settings }
    }

    /// Handles one run: a scheduled one with the configured settings, or a direct invoke's overrides.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<SweepReport, Error> {
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

        let (instances, listed_all) = self.list(&examining).await.inspect_err(|error| {
            warn!(error_type = error.error_type(), error = %error, "instances not listed");
        })?;
        let checks: Vec<_> = instances.iter().map(|instance| self.examine(instance, &invocation, &examining, now)).collect();
        let outcomes: Vec<Result<Option<Examined>, Error>> = stream::iter(checks).buffered(self.settings.concurrency).collect().await;
        let mut examined = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            if let Some(done) = outcome? {
                examined.push(done);
            }
        }
        let complete = listed_all && examined.len() == instances.len();

        let mut report = SweepReport {
            sweep_id: sweep_id.clone(),
            mode,
            examined: examined.len(),
            complete,
            selected: Vec::new(),
            requested: Vec::new(),
            deferred: Vec::new(),
            skipped: Vec::new(),
            counts: SweepCounts::default(),
            truncated: false,
        };
        let mut to_request = Vec::new();
        for done in &examined {
            let entry = |reason: Reason, detail: &str| SweepEntry {
                instance_id: done.instance.instance_id.clone(),
                instance_name: done.instance.instance_name.clone(),
                state: done.instance.state.clone(),
                reason,
                detail: detail.to_owned(),
            };
            match &done.decision {
                Decision::Kept => {}
                Decision::Selected(reason, detail) => {
                    report.selected.push(entry(*reason, detail));
                    if mode == SweepMode::Delete {
                        if to_request.len() < cap {
                            to_request.push((entry(*reason, detail), done.arn.clone()));
                        } else {
                            report.deferred.push(entry(*reason, detail));
                        }
                    }
                }
                Decision::Skipped(reason, detail) => report.skipped.push(entry(*reason, detail)),
            }
        }

        if !to_request.is_empty() {
            let announcements: Vec<Announcement> = to_request
                .iter()
                .map(|(entry, arn)| Announcement {
                    detail_type: DELETION_REQUESTED,
                    detail: serde_json::to_value(SweepDeletionRequest {
                        instance_id: entry.instance_id.clone(),
                        reason: entry.reason,
                        sweep_id: sweep_id.clone(),
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
        }

        report.counts = SweepCounts {
            selected: report.selected.len(),
            requested: report.requested.len(),
            deferred: report.deferred.len(),
            skipped: report.skipped.len(),
        };
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

    /// Every instance, page by page; `false` when the budget ended before the last page.
    async fn list(&self, budget: &Budget) -> Result<(Vec<InstanceRecord>, bool), Error> {
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

    /// Reads the instance's tags and decides; `None` when the budget ended before it was examined.
    async fn examine<'a>(
        &self,
        instance: &'a InstanceRecord,
        invocation: &Invocation,
        budget: &Budget,
        now: DateTime,
    ) -> Result<Option<Examined<'a>>, Error> {
        // Listed for a while after its deletion: nothing to decide, and its tags may be gone.
        if instance.state() == InstanceState::Deleted {
            return Ok(Some(Examined { instance, arn: String::new(), decision: Decision::Kept }));
        }
        let id = match InstanceId::parse("instanceId", &Value::String(instance.instance_id.clone())) {
            Ok(id) => id,
            Err(error) => {
                let decision = Decision::Skipped(
                    Reason::TagsUnreadable,
                    format!("ListInstances answered an instance id that cannot be used: {error}"),
                );
                return Ok(Some(Examined { instance, arn: String::new(), decision: log(instance, decision) }));
            }
        };
        // The listed record names its account, so a placeholder function ARN (local runtimes) is no obstacle.
        let arn = self
            .supply_chain
            .instance_arn(&id, &invocation.function_arn, Some(instance))
            .ok_or_else(|| Error::Unexpected("the Supply Chain client has no region, so the instance's ARN cannot be built".to_owned()))?;
        let decision = match self.supply_chain.tags(&arn, budget).await {
            Ok(tags) => decide(&self.settings, instance, &tags, now),
            Err(_) if budget.remaining().is_none() => return Ok(None),
            Err(error) => Decision::Skipped(Reason::TagsUnreadable, format!("{}: {error}", error.error_type())),
        };
        Ok(Some(Examined { instance, arn, decision: log(instance, decision) }))
    }
}

fn log(instance: &InstanceRecord, decision: Decision) -> Decision {
    let id = &instance.instance_id;
    match &decision {
        Decision::Kept => debug!(instance_id = %id, state = %instance.state, outcome = "kept", "instance not expired"),
        Decision::Selected(reason, _) => {
            info!(instance_id = %id, state = %instance.state, outcome = "selected", reason = ?reason, "instance selected")
        }
        Decision::Skipped(reason, detail) => {
            info!(instance_id = %id, state = %instance.state, outcome = "skipped", reason = ?reason, detail = %detail, "instance skipped")
        }
    }
    decision
}
