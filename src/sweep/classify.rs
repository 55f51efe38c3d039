//! What becomes of each examined instance: selected, requested (up to the cap) or deferred, given
//! notice, cancelled, or skipped, as the report lists them.

use std::collections::HashMap;

use super::examine::Examined;
use super::notice::{Mark, Notice, NoticeWork};
use super::policy::Decision;
use crate::config::SweepMode;
use crate::contract::{Reason, SweepEntry, SweepReport};

/// A selected instance to ask the delete function about: its report entry, its ARN, and the time
/// it was scheduled for when it was given notice.
pub(super) struct ToRequest {
    pub(super) entry: SweepEntry,
    pub(super) arn: String,
    pub(super) scheduled_for: Option<String>,
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
