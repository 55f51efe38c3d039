//! Notice before deletion. With `NOTICE_HOURS` above 0, the sweep in delete mode:
//!
//! 1. gives notice for a selected instance that has no mark this sweep wrote: it announces
//!    `Supply Chain Instance Deletion Scheduled` (naming its owner, `OWNER_TAG`, and how to keep
//!    it), and only once the bus has accepted that announcement writes the mark, the tag
//!    `SCHEDULE_TAG` holding the time of the deletion (now + notice) and its signature;
//! 2. requests its deletion once that time has passed, if the policy still selects it for the same
//!    reason;
//! 3. removes the mark of an instance the policy no longer selects (its expiry tag moved, protection
//!    set, the age rule no longer applying) and announces `Supply Chain Instance Deletion Cancelled`.
//!
//! A mark counts as notice only if its signature verifies ([`crate::notice_key`]): a MAC made with
//! the stack's KMS HMAC key over the instance's ARN, the mark's time and what the instance was
//! selected on (the expiry tag's value, or the age rule). So a mark written by anyone else (a
//! tagger, a pipeline copying tags from another instance), a mark copied from another instance, one
//! whose time was edited, and one written for a selection that has since changed never count:
//! each is reported (`InvalidScheduleTag`) and replaced by a fresh notice, which starts the whole
//! notice again. A mark never shortens the notice.

use std::collections::HashMap;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use tracing::{info, warn};

use super::examine::Examined;
use super::policy::{why_kept, Decision};
use crate::config::SweepSettings;
use crate::contract::{Announcement, DeletionCancelled, DeletionScheduled, NoticeSubject, Reason, SweepEntry};
use crate::deadline::Budget;
use crate::error::Error;
use crate::events::EventBus;
use crate::model::{timestamp, PlanId};
use crate::notice_key::NoticeKey;

/// What comes between a mark's time and its signature: `2026-12-13T09:00:00Z sig=<base64>`.
const SIGNATURE: &str = " sig=";

/// The notice rules of one run, with its clock and the key that signs and checks marks.
pub(super) struct Notice {
    pub tag: String,
    /// The instant the notice of this run counts from, in whole seconds: the Deletion Scheduled
    /// events are put with this time, so that `scheduledFor` minus the event's `time` is exactly
    /// `NOTICE_HOURS`.
    pub now: DateTime,
    /// The time a mark set in this run holds: now + notice.
    pub scheduled_for: String,
    /// How an owner keeps an instance, in words, from the settings.
    keep: String,
    settings: SweepSettings,
    key: NoticeKey,
    /// The organization sweep's plan the run belongs to, named in its notices.
    plan_id: Option<PlanId>,
}

/// What a selected instance's mark says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mark {
    /// No mark: notice is to be given.
    Missing,
    /// A mark that does not count (not written by this sweep, copied, edited, or for another
    /// selection): why, in words. A fresh notice replaces it.
    Invalid(String),
    /// The mark could not be checked (KMS failed): nothing is done with the instance this run.
    Unchecked(String),
    /// Notice given; its time has not come.
    Pending,
    /// Notice given and its time has passed: the mark's time.
    Due(String),
}

impl Notice {
    pub fn new(settings: &SweepSettings, key: NoticeKey, now: DateTime) -> Notice {
        let now = DateTime::from_secs(now.secs());
        let ends = DateTime::from_secs(now.secs().saturating_add(settings.notice.as_secs() as i64));
        let mut ways = Vec::new();
        if let Some(protection) = &settings.protection {
            ways.push(format!("set the tag {}=true", protection.tag()));
        }
        if let Some(expiry) = &settings.expiry_tag {
            // "add": an instance the age rule selected has no expiry tag yet.
            ways.push(format!("add or move the tag {expiry} to a later time"));
        }
        let keep = if ways.is_empty() {
            "Ask the sweep's operators to keep it.".to_owned()
        } else {
            format!("To keep it, {}.", ways.join(", or "))
        };
        Notice {
            tag: settings.schedule_tag.clone(),
            now,
            scheduled_for: timestamp(ends),
            keep,
            settings: settings.clone(),
            key,
            plan_id: None,
        }
    }

    /// The same rules, naming `plan_id` in every notice.
    pub fn of_plan(self, plan_id: Option<PlanId>) -> Notice {
        Notice { plan_id, ..self }
    }

    /// The text the key signs for a mark of `examined` at `time`: the instance, the time, and what
    /// it is selected on ([`super::policy::selected_on`]), so that when the selection changes an
    /// earlier mark no longer counts.
    fn signed_text(&self, examined: &Examined, time: &str) -> String {
        format!(
            "supplychain-delete-instance notice mark v1\ninstance {}\nscheduledFor {time}\nselected {}",
            examined.arn,
            examined.selected_on.as_deref().unwrap_or_default()
        )
    }

    /// The mark of a selected instance, its signature checked with `VerifyMac`; a mark that could
    /// not be checked is `Unchecked`, with why.
    pub async fn read(&self, examined: &Examined, budget: &Budget) -> Mark {
        self.check(examined, budget).await.unwrap_or_else(|error| {
            Mark::Unchecked(format!(
                "the mark {:?} could not be checked ({}: {error}), so nothing is done with the instance this run",
                examined.tags.get(&self.tag).map(String::as_str).unwrap_or_default(),
                error.error_type()
            ))
        })
    }

    /// The mark of a selected instance, its signature checked with `VerifyMac`, or the error that
    /// kept it from being checked.
    pub async fn check(&self, examined: &Examined, budget: &Budget) -> Result<Mark, Error> {
        let Some(value) = examined.tags.get(&self.tag) else {
            return Ok(Mark::Missing);
        };
        let Some((time, mac)) = value.trim().split_once(SIGNATURE) else {
            return Ok(Mark::Invalid(self.invalid_mark(value, "it carries no signature of this sweep")));
        };
        let Ok(when) = DateTime::from_str(time, Format::DateTimeWithOffset) else {
            return Ok(Mark::Invalid(self.invalid_mark(value, "it does not start with an RFC 3339 time")));
        };
        Ok(match self.key.verifies(&self.signed_text(examined, time), mac, budget).await? {
            false => Mark::Invalid(self.invalid_mark(
                value,
                "its signature does not match: this sweep did not write it for this instance, this time and what the instance is \
                 selected on now",
            )),
            true if when.secs() <= self.now.secs() => Mark::Due(time.to_owned()),
            true => Mark::Pending,
        })
    }

    /// The marks of the selected instances (by their place in `examined`), checked a few at a time.
    pub async fn read_all(&self, examined: &[Examined], concurrency: usize, budget: &Budget) -> HashMap<usize, Mark> {
        let selected = examined.iter().enumerate().filter(|(_, e)| matches!(e.decision, Decision::Selected(..)));
        let reads: Vec<_> = selected.map(|(index, examined)| async move { (index, self.read(examined, budget).await) }).collect();
        stream::iter(reads).buffer_unordered(concurrency).collect().await
    }

    /// The value of a fresh mark of `examined`: this run's time and its signature (`GenerateMac`).
    pub async fn sign(&self, examined: &Examined, budget: &Budget) -> Result<String, Error> {
        let mac = self.key.sign(&self.signed_text(examined, &self.scheduled_for), budget).await?;
        Ok(format!("{}{SIGNATURE}{mac}", self.scheduled_for))
    }

    /// Why a marked instance the policy does not select is no longer scheduled, or `None` when
    /// there is nothing to cancel: no mark; its tags unread; or a state in which the mark needs no
    /// action (being deleted, deleted, or not yet created).
    pub fn cancels(&self, examined: &Examined) -> Option<String> {
        examined.tags.get(&self.tag)?;
        // Only an instance the sweep could still delete has a deletion to cancel: one already being
        // deleted keeps its mark, which records the notice it was given.
        if !examined.deletable() {
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

    /// The report's words for a mark that does not count.
    fn invalid_mark(&self, value: &str, why: &str) -> String {
        format!("tag {}={value:?} does not count as notice: {why}; a fresh notice replaces it and the notice starts again", self.tag)
    }

    /// The detail of Deletion Scheduled.
    pub fn scheduled(&self, examined: &Examined, reason: Reason, detail: &str, sweep_id: &str) -> DeletionScheduled {
        DeletionScheduled {
            instance: self.about(examined),
            scheduled_for: self.scheduled_for.clone(),
            reason: detail.to_owned(),
            policy: reason,
            sweep_id: sweep_id.to_owned(),
            plan_id: self.plan_id.clone(),
            owner: examined.owner.clone(),
            keep: self.keep.clone(),
        }
    }

    /// The detail of Deletion Cancelled.
    pub fn cancelled(&self, examined: &Examined, why: &str, sweep_id: &str) -> DeletionCancelled {
        // The mark's time, without its signature: what the owner was told.
        let mark = examined.tags.get(&self.tag).map(|value| value.split(SIGNATURE).next().unwrap_or_default().trim().to_owned());
        DeletionCancelled {
            instance: self.about(examined),
            scheduled_for: mark,
            reason: why.to_owned(),
            sweep_id: sweep_id.to_owned(),
            plan_id: self.plan_id.clone(),
            owner: examined.owner.clone(),
        }
    }

    fn about(&self, examined: &Examined) -> NoticeSubject {
        NoticeSubject {
            instance_id: examined.instance_id.clone(),
            instance_arn: examined.arn.clone(),
            instance_name: examined.instance_name.clone(),
            account_id: examined.account_id.clone(),
            region: examined.region.clone(),
        }
    }
}

/// What the notice step has to do: instances to give notice for (with the reason they were
/// selected and its words) and marks to cancel (with the reason in words).
#[derive(Default)]
pub(super) struct NoticeWork {
    pub to_mark: Vec<(Examined, Reason, String)>,
    pub to_cancel: Vec<(Examined, String)>,
}

/// What the notice step did: the entries of the report's lists.
#[derive(Default)]
pub(super) struct NoticeGiven {
    pub marked: Vec<SweepEntry>,
    pub cancelled: Vec<SweepEntry>,
    /// Instances whose notice or cancellation failed (`MarkFailed`), with why.
    pub failed: Vec<SweepEntry>,
}

impl Notice {
    /// Gives notice for the instances to mark, and cancels the marks to cancel, a few at a time. A
    /// failure is reported for its instance (`MarkFailed`) and the others go on.
    pub(super) async fn give(&self, bus: &EventBus, work: NoticeWork, sweep_id: &str, concurrency: usize, budget: &Budget) -> NoticeGiven {
        let mut given = NoticeGiven::default();
        self.mark(bus, work.to_mark, sweep_id, concurrency, budget, &mut given).await;
        self.cancel(bus, work.to_cancel, sweep_id, concurrency, budget, &mut given).await;
        given
    }

    /// Signs each mark, announces the notices, and only then writes the marks of the notices the
    /// bus accepted: a mark never exists without its announcement. A mark that could not be written
    /// after its announcement leaves the instance unmarked, so the next run announces again.
    async fn mark(
        &self,
        bus: &EventBus,
        to_mark: Vec<(Examined, Reason, String)>,
        sweep_id: &str,
        concurrency: usize,
        budget: &Budget,
        given: &mut NoticeGiven,
    ) {
        let signing: Vec<_> = to_mark.iter().map(|(examined, _, _)| self.sign(examined, budget)).collect();
        let signed: Vec<Result<String, Error>> = stream::iter(signing).buffered(concurrency).collect().await;
        let mut to_announce = Vec::new();
        for ((examined, reason, detail), value) in to_mark.into_iter().zip(signed) {
            match value {
                Ok(value) => to_announce.push((examined, reason, detail, value)),
                Err(error) => given.failed.push(failed(
                    &examined,
                    &format!("the mark could not be signed, so no notice was given: {}: {error}", error.error_type()),
                )),
            }
        }
        let announcements: Vec<Announcement> = to_announce
            .iter()
            .map(|(examined, reason, detail, _)| {
                Announcement::new(&self.scheduled(examined, *reason, detail, sweep_id), vec![examined.arn.clone()])
            })
            .collect();
        let published = bus.dated(self.now).publish(&announcements, budget).await;
        let mut announced = Vec::new();
        for ((examined, reason, detail, value), result) in to_announce.into_iter().zip(published) {
            match result {
                Ok(()) => announced.push((examined, reason, detail, value)),
                Err(error) => {
                    warn!(instance_id = %examined.instance_id, error_type = error.error_type(), error = %error, "notice not announced");
                    let words = format!("the notice could not be announced, so no mark was written: {}: {error}", error.error_type());
                    given.failed.push(failed(&examined, &words));
                }
            }
        }
        let writing: Vec<_> =
            announced.iter().map(|(examined, _, _, value)| examined.client.tag(&examined.arn, &self.tag, value, budget)).collect();
        let written: Vec<Result<(), Error>> = stream::iter(writing).buffered(concurrency).collect().await;
        for ((examined, reason, detail, _), result) in announced.into_iter().zip(written) {
            match result {
                Ok(()) => {
                    info!(instance_id = %examined.instance_id, scheduled_for = %self.scheduled_for, outcome = "marked", "deletion scheduled");
                    given.marked.push(examined.entry(reason, &format!("scheduled for deletion at {}: {detail}", self.scheduled_for)));
                }
                Err(error) => {
                    warn!(instance_id = %examined.instance_id, error_type = error.error_type(), error = %error, "announced notice not marked");
                    let words = format!(
                        "the notice was announced, but the mark could not be written ({}: {error}); it does not count, and the next \
                         run gives notice again",
                        error.error_type()
                    );
                    given.failed.push(failed(&examined, &words));
                }
            }
        }
    }

    /// Removes each mark to cancel, then announces the cancellations.
    async fn cancel(
        &self,
        bus: &EventBus,
        to_cancel: Vec<(Examined, String)>,
        sweep_id: &str,
        concurrency: usize,
        budget: &Budget,
        given: &mut NoticeGiven,
    ) {
        let calls: Vec<_> = to_cancel.iter().map(|(examined, _)| examined.client.untag(&examined.arn, &self.tag, budget)).collect();
        let untagged: Vec<Result<(), Error>> = stream::iter(calls).buffered(concurrency).collect().await;
        let mut unmarked = Vec::new();
        for ((examined, why), result) in to_cancel.into_iter().zip(untagged) {
            match result {
                Ok(()) => unmarked.push((examined, why)),
                Err(error) => given.failed.push(failed(
                    &examined,
                    &format!("UntagResource failed, so the scheduled deletion stands: {}: {error}", error.error_type()),
                )),
            }
        }
        let announcements: Vec<Announcement> = unmarked
            .iter()
            .map(|(examined, why)| Announcement::new(&self.cancelled(examined, why, sweep_id), vec![examined.arn.clone()]))
            .collect();
        let published = bus.publish(&announcements, budget).await;
        for ((examined, why), result) in unmarked.into_iter().zip(published) {
            info!(instance_id = %examined.instance_id, outcome = "cancelled", reason = %why, "scheduled deletion cancelled");
            let words = match result {
                Ok(()) => why,
                Err(error) => {
                    warn!(instance_id = %examined.instance_id, error_type = error.error_type(), error = %error, "cancellation not announced");
                    format!("{why} (the mark was removed, but the cancellation could not be announced: {}: {error})", error.error_type())
                }
            };
            given.cancelled.push(examined.entry(Reason::NotSelected, &words));
        }
    }
}

fn failed(examined: &Examined, words: &str) -> SweepEntry {
    examined.entry(Reason::MarkFailed, words)
}
