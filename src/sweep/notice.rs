//! Notice before deletion. With `NOTICE_HOURS` above 0, the sweep in delete mode:
//!
//! 1. marks a selected instance that has no mark: the tag `SCHEDULE_TAG` set to now + notice, and
//!    `Supply Chain Instance Deletion Scheduled` announced, naming its owner (`OWNER_TAG`) and how
//!    to keep it;
//! 2. requests its deletion once that time has passed, if the policy still selects it;
//! 3. removes the mark of an instance the policy no longer selects (its expiry tag moved, protection
//!    set, the age rule no longer applying) and announces `Supply Chain Instance Deletion Cancelled`.
//!
//! A mark that is not a time is replaced by a fresh one, which restarts the notice: a mark never
//! shortens it. A mark counts as notice given only when it was set *and* announced; when the
//! announcement fails the mark is removed again, so that the next run gives notice anew.

use aws_sdk_supplychain::types::InstanceState;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::{Examined, Notices, Reason, SweepEntry, SweepFunction, SweepReport};
use crate::config::SweepSettings;
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::events::{Announcement, DELETION_CANCELLED, DELETION_SCHEDULED};
use crate::model::timestamp;
use crate::sweep::policy::{why_kept, Decision};

/// The notice rules of one run, with its clock.
pub(super) struct Notice {
    tag: String,
    owner_tag: Option<String>,
    now: DateTime,
    /// The time a mark set in this run holds: now + notice.
    scheduled_for: String,
    /// How an owner keeps an instance, in words, from the settings.
    keep: String,
    settings: SweepSettings,
}

/// What a selected instance's mark says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mark {
    /// No mark: notice is to be given.
    Missing,
    /// A mark that is not an RFC 3339 time.
    Invalid(String),
    /// Notice given; its time has not come.
    Pending,
    /// Notice given and its time has passed: the mark's value.
    Due(String),
}

impl Notice {
    pub fn new(settings: &SweepSettings, now: DateTime) -> Notice {
        let ends = DateTime::from_secs(now.secs().saturating_add(settings.notice.as_secs() as i64));
        let mut ways = Vec::new();
        if let Some(protection) = &settings.protection {
            ways.push(format!("set the tag {}=true", protection.tag()));
        }
        if let Some(expiry) = &settings.expiry_tag {
            ways.push(format!("move the tag {expiry} to a later time"));
        }
        let keep = if ways.is_empty() {
            "Ask the sweep's operators to keep it.".to_owned()
        } else {
            format!("To keep it, {}.", ways.join(", or "))
        };
        Notice {
            tag: settings.schedule_tag.clone(),
            owner_tag: settings.owner_tag.clone(),
            now,
            scheduled_for: timestamp(ends),
            keep,
            settings: settings.clone(),
        }
    }

    /// The mark of a selected instance.
    pub fn state_of(&self, examined: &Examined) -> Mark {
        match examined.tags.get(&self.tag) {
            None => Mark::Missing,
            Some(value) => match DateTime::from_str(value.trim(), Format::DateTimeWithOffset) {
                Err(_) => Mark::Invalid(value.clone()),
                Ok(when) if when.secs() <= self.now.secs() => Mark::Due(value.clone()),
                Ok(_) => Mark::Pending,
            },
        }
    }

    /// Why a marked instance the policy does not select is no longer scheduled, or `None` when
    /// there is nothing to cancel: no mark; its tags unread; or a state in which the mark needs no
    /// action (being deleted, deleted, or not yet created).
    pub fn cancels(&self, examined: &Examined) -> Option<String> {
        examined.tags.get(&self.tag)?;
        // Only an instance the sweep could still delete has a deletion to cancel: one already being
        // deleted keeps its mark, which records the notice it was given.
        if !matches!(examined.state, InstanceState::Active | InstanceState::DeleteFailed) {
            return None;
        }
        match &examined.decision {
            Decision::Kept => Some(format!("the policy no longer selects it: {}", why_kept(&self.settings, &examined.tags))),
            Decision::Skipped(Reason::DeletionProtected | Reason::InvalidExpiryTag, detail) => {
                Some(format!("the policy no longer selects it: {detail}"))
            }
            _ => None,
        }
    }

    /// The report's words for a mark that is not a time.
    pub fn invalid_mark(&self, value: &str) -> String {
        format!("tag {}={value:?} is not an RFC 3339 time; a fresh mark replaces it and the notice starts again", self.tag)
    }

    fn owner(&self, examined: &Examined) -> Option<String> {
        self.owner_tag.as_ref().and_then(|tag| examined.tags.get(tag)).cloned()
    }

    /// The detail of Deletion Scheduled.
    fn scheduled(&self, examined: &Examined, reason: Reason, detail: &str, sweep_id: &str) -> Value {
        let mut event = self.about(examined);
        event.insert("scheduledFor".into(), json!(self.scheduled_for));
        event.insert("reason".into(), json!(detail));
        event.insert("policy".into(), json!(reason));
        event.insert("sweepId".into(), json!(sweep_id));
        if let Some(owner) = self.owner(examined) {
            event.insert("owner".into(), json!(owner));
        }
        event.insert("keep".into(), json!(self.keep));
        Value::Object(event)
    }

    /// The detail of Deletion Cancelled.
    fn cancelled(&self, examined: &Examined, why: &str, sweep_id: &str) -> Value {
        let mut event = self.about(examined);
        event.insert("scheduledFor".into(), json!(examined.tags.get(&self.tag)));
        event.insert("reason".into(), json!(why));
        event.insert("sweepId".into(), json!(sweep_id));
        if let Some(owner) = self.owner(examined) {
            event.insert("owner".into(), json!(owner));
        }
        Value::Object(event)
    }

    /// What every notice names: the instance, its account and its region.
    fn about(&self, examined: &Examined) -> Map<String, Value> {
        let mut event = Map::new();
        event.insert("instanceId".into(), json!(examined.instance_id));
        if let Some(name) = &examined.instance_name {
            event.insert("instanceName".into(), json!(name));
        }
        event.insert("accountId".into(), json!(examined.account_id));
        event.insert("region".into(), json!(examined.region));
        event
    }
}

impl SweepFunction {
    /// Marks and announces the instances to mark, and unmarks and announces the cancelled ones, a
    /// few at a time. A failure is reported for its instance (`MarkFailed`) and the others go on.
    pub(super) async fn give_notice(&self, report: &mut SweepReport, notices: Notices, notice: &Notice, invocation: &Invocation) {
        self.mark(report, notices.to_mark, notice, &invocation.budget).await;
        self.cancel(report, notices.to_cancel, notice, &invocation.budget).await;
    }

    /// Sets each mark, then announces the marks set; a mark whose notice could not be announced is
    /// removed again.
    async fn mark(&self, report: &mut SweepReport, to_mark: Vec<(Examined, Reason, String)>, notice: &Notice, budget: &Budget) {
        let concurrency = self.settings.concurrency;
        let calls: Vec<_> =
            to_mark.iter().map(|(examined, _, _)| examined.client.tag(&examined.arn, &notice.tag, &notice.scheduled_for, budget)).collect();
        let tagged: Vec<Result<(), Error>> = stream::iter(calls).buffered(concurrency).collect().await;
        let mut marked = Vec::new();
        for ((examined, reason, detail), result) in to_mark.into_iter().zip(tagged) {
            match result {
                Ok(()) => marked.push((examined, reason, detail)),
                Err(error) => report
                    .skipped
                    .push(failed(&examined, &format!("TagResource failed, so no notice was given: {}: {error}", error.error_type()))),
            }
        }
        let announcements: Vec<Announcement> = marked
            .iter()
            .map(|(examined, reason, detail)| Announcement {
                detail_type: DELETION_SCHEDULED,
                detail: notice.scheduled(examined, *reason, detail, &report.sweep_id),
                resources: vec![examined.arn.clone()],
            })
            .collect();
        let published = self.bus.publish(&announcements, budget).await;
        let mut marks = 0;
        for ((examined, reason, detail), result) in marked.into_iter().zip(published) {
            match result {
                Ok(()) => {
                    info!(instance_id = %examined.instance_id, scheduled_for = %notice.scheduled_for, outcome = "marked", "deletion scheduled");
                    marks += 1;
                    report.marked.push(examined.entry(reason, &format!("scheduled for deletion at {}: {detail}", notice.scheduled_for)));
                }
                Err(error) => {
                    // Not announced, so not notice: the mark goes, and the next run gives notice anew.
                    let removed = examined.client.untag(&examined.arn, &notice.tag, budget).await;
                    let words = match removed {
                        Ok(()) => format!("the notice could not be announced ({}: {error}); the mark was removed", error.error_type()),
                        Err(untag) => format!(
                            "the notice could not be announced ({}: {error}) and the mark could not be removed ({}: {untag})",
                            error.error_type(),
                            untag.error_type()
                        ),
                    };
                    warn!(instance_id = %examined.instance_id, error_type = error.error_type(), "{words}");
                    report.skipped.push(failed(&examined, &words));
                }
            }
        }
        report.counts.marked = Some(marks);
    }

    /// Removes each mark to cancel, then announces the cancellations.
    async fn cancel(&self, report: &mut SweepReport, to_cancel: Vec<(Examined, String)>, notice: &Notice, budget: &Budget) {
        let concurrency = self.settings.concurrency;
        let calls: Vec<_> = to_cancel.iter().map(|(examined, _)| examined.client.untag(&examined.arn, &notice.tag, budget)).collect();
        let untagged: Vec<Result<(), Error>> = stream::iter(calls).buffered(concurrency).collect().await;
        let mut unmarked = Vec::new();
        for ((examined, why), result) in to_cancel.into_iter().zip(untagged) {
            match result {
                Ok(()) => unmarked.push((examined, why)),
                Err(error) => report.skipped.push(failed(
                    &examined,
                    &format!("UntagResource failed, so the scheduled deletion stands: {}: {error}", error.error_type()),
                )),
            }
        }
        let announcements: Vec<Announcement> = unmarked
            .iter()
            .map(|(examined, why)| Announcement {
                detail_type: DELETION_CANCELLED,
                detail: notice.cancelled(examined, why, &report.sweep_id),
                resources: vec![examined.arn.clone()],
            })
            .collect();
        let published = self.bus.publish(&announcements, budget).await;
        let mut cancels = 0;
        for ((examined, why), result) in unmarked.into_iter().zip(published) {
            cancels += 1;
            if let Err(error) = &result {
                warn!(instance_id = %examined.instance_id, error_type = error.error_type(), error = %error, "cancellation not announced");
            }
            info!(instance_id = %examined.instance_id, outcome = "cancelled", reason = %why, "scheduled deletion cancelled");
            let words = match result {
                Ok(()) => why,
                Err(error) => {
                    format!("{why} (the mark was removed, but the cancellation could not be announced: {}: {error})", error.error_type())
                }
            };
            report.cancelled.push(examined.entry(Reason::NotSelected, &words));
        }
        report.counts.cancelled = Some(cancels);
    }
}

fn failed(examined: &Examined, words: &str) -> SweepEntry {
    examined.entry(Reason::MarkFailed, words)
}
