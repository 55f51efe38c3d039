//! What becomes of each examined instance: selected, requested (up to the cap) or deferred, given
//! notice, cancelled, or skipped, as the report lists them.

use std::collections::HashMap;

use serde_json::Value;

use super::examine::Examined;
use super::notice::{Mark, Notice, NoticeWork};
use super::policy::Decision;
use crate::config::SweepMode;
use crate::contract::{PlannedInstance, Reason, SweepEntry, SweepReport};
use crate::error::Error;
use crate::model::{AccountId, InstanceId, PlanId, Region};

/// A selected instance to ask the delete function about: its report entry, its ARN, the time
/// it was scheduled for when it was given notice, and what a plan's line says of it besides.
pub(super) struct ToRequest {
    pub(super) entry: SweepEntry,
    pub(super) arn: String,
    pub(super) scheduled_for: Option<String>,
    /// Where it lives, always named.
    account_id: String,
    region: String,
    selected_on: String,
    owner: Option<String>,
}

impl ToRequest {
    fn of(done: &Examined, entry: SweepEntry, scheduled_for: Option<String>) -> ToRequest {
        ToRequest {
            entry,
            arn: done.arn.clone(),
            scheduled_for,
            account_id: done.account_id.clone(),
            region: done.region.clone(),
            selected_on: done.selected_on.clone().unwrap_or_default(),
            owner: done.owner.clone(),
        }
    }

    /// The line of plan `plan_id` that lists it, instead of its request.
    pub(super) fn planned(self, plan_id: &PlanId) -> Result<PlannedInstance, Error> {
        let unexpected = |error: Error| Error::Unexpected(format!("a selected instance cannot be planned: {error}"));
        Ok(PlannedInstance {
            plan_id: plan_id.clone(),
            account_id: AccountId::parse("its account", &Value::from(self.account_id)).map_err(unexpected)?,
            region: Region::parse("its region", &Value::from(self.region)).map_err(unexpected)?,
            instance_id: InstanceId::parse("its instance id", &Value::from(self.entry.instance_id)).map_err(unexpected)?,
            instance_arn: self.arn,
            instance_name: self.entry.instance_name,
            reason: self.entry.reason,
            detail: self.entry.detail,
            selected_on: self.selected_on,
            owner: self.owner,
            scheduled_for: self.scheduled_for,
        })
    }
}

/// Classifies the decisions into the report's lists: every selected instance is listed as selected; in
/// delete mode the first `cap` of those to request are requested and the rest deferred to the next
/// run. With notice, an instance is requested only when its mark (read in `marks`, by place) counts
/// and is due; one without a mark that counts is to be given notice, and a marked one the policy no
/// longer selects is to be cancelled.
pub(super) fn classify(
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
        let (done, scheduled_for) = match notice.map(|_| marks.remove(&index).unwrap_or(Mark::Missing)) {
            None => (done, None),
            Some(mark) => match through_notice(mark, done, reason, &detail, &mut report, &mut work) {
                Some((done, when)) => {
                    due += 1;
                    (done, Some(when))
                }
                None => continue,
            },
        };
        let detail = match &scheduled_for {
            Some(when) => format!("scheduled for deletion at {when}, with notice: {detail}"),
            None => detail,
        };
        if to_request.len() < cap {
            to_request.push(ToRequest::of(&done, done.entry(reason, &detail), scheduled_for));
        } else {
            report.deferred.push(done.entry(reason, &detail));
        }
    }
    if notice.is_some() {
        report.counts.due = Some(due);
    }
    (report, to_request, work)
}

/// What a selected instance's mark allows in delete mode with notice: its request now, with the
/// mark's time, when the mark counts and is due; otherwise nothing yet, and why goes to the report
/// (a mark not checked, or not valid) or to the notice to give (no mark that counts).
fn through_notice(
    mark: Mark,
    done: Examined,
    reason: Reason,
    detail: &str,
    report: &mut SweepReport,
    work: &mut NoticeWork,
) -> Option<(Examined, String)> {
    match mark {
        Mark::Due(when) => return Some((done, when)),
        Mark::Pending => {}
        Mark::Unchecked(words) => report.skipped.push(done.entry(Reason::MarkFailed, &words)),
        Mark::Missing => work.to_mark.push((done, reason, detail.to_owned())),
        Mark::Invalid(problem) => {
            report.skipped.push(done.entry(Reason::InvalidScheduleTag, &problem));
            work.to_mark.push((done, reason, detail.to_owned()));
        }
    }
    None
}
