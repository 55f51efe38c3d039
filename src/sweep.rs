//! The sweep: lists every instance, decides for each one by the policy (expiry tag, optional age
//! rule, deletion protection, state), and reports. In delete mode it asks the delete function to
//! delete the selected instances, a capped number per run, with Deletion Requested events on the
//! bus; it never deletes anything itself.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::config::{SweepMode, SweepSettings};
use crate::deadline::{Budget, Invocation};
use crate::error::Error;
use crate::events::{Announcement, EventBus};
use crate::input::{InstanceId, Payload};
use crate::record::InstanceRecord;
use crate::supply_chain::SupplyChain;
use crate::sweep_input::{parse_sweep_event, SWEEP_SHAPES};

/// The `source` of every event the sweep puts on the bus.
pub const SWEEP_SOURCE: &str = "supplychain-instance-sweep";
/// The detail-type of a request to delete one selected instance; the delete function's rule routes it.
pub const DELETION_REQUESTED: &str = "Supply Chain Instance Deletion Requested";
/// The detail-type of the report.
pub const SWEEP_COMPLETED: &str = "Supply Chain Instance Sweep Completed";

/// PutEvents takes at most 256 KiB an entry, counting the source, detail-type and resources too:
/// the report's detail keeps 1 KiB free for them.
const MAX_REPORT_BYTES: usize = 255 * 1024;

/// Why an instance was selected or skipped: stable names, for rules and people reading reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Selected: its expiry tag holds a time (or a day) that has passed.
    ExpiryTagPassed,
    /// Selected: no expiry tag, its name starts with `NAME_PREFIX` and it is older than `MAX_AGE_DAYS`.
    MaxAgeExceeded,
    /// Skipped: its expiry tag is neither an RFC 3339 time nor a `YYYY-MM-DD` date.
    InvalidExpiryTag,
    /// Skipped: expired, but protected by the deletion-protection tag.
    DeletionProtected,
    /// Skipped: expired, but neither `Active` nor `DeleteFailed` (for example `Initializing`, `Deleting`).
    StateNotEligible,
    /// Skipped: its tags could not be read, so nothing is known about its expiry or protection.
    TagsUnreadable,
}

/// One instance in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepEntry {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    pub state: String,
    pub reason: Reason,
    /// The reason in words: the tag and its value, the age, the error.
    pub detail: String,
}

/// The length of each list of the report, kept when the lists are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepCounts {
    pub selected: usize,
    pub requested: usize,
    pub deferred: usize,
    pub skipped: usize,
}

/// What the sweep returns and puts on the bus as `Supply Chain Instance Sweep Completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// The invocation's request id: a retry of the same invocation keeps it.
    pub sweep_id: String,
    pub mode: SweepMode,
    /// Instances decided on (listed and, unless `Deleted`, their tags read).
    pub examined: usize,
    /// `false` when the deadline came before every instance was listed and examined.
    pub complete: bool,
    /// Every instance selected for deletion.
    pub selected: Vec<SweepEntry>,
    /// In delete mode, the selected instances whose Deletion Requested event was put on the bus.
    pub requested: Vec<SweepEntry>,
    /// In delete mode, the selected instances beyond the cap, left for the next run.
    pub deferred: Vec<SweepEntry>,
    /// Instances not selected for a reason worth reporting.
    pub skipped: Vec<SweepEntry>,
    pub counts: SweepCounts,
    /// `true` when the lists were cut to keep the report within PutEvents' 256 KiB; `counts` are whole.
    pub truncated: bool,
}

/// The detail of one Deletion Requested event, as the delete function reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepDeletionRequest {
    pub instance_id: String,
    pub reason: Reason,
    pub sweep_id: String,
}

/// What the policy made of one instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not expired, or already `Deleted`: nothing to report.
    Kept,
    Selected(Reason, String),
    Skipped(Reason, String),
}

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
        let outcomes: Vec<Result<Option<Examined>, Error>> =
            stream::iter(checks).buffered(self.settings.concurrency).collect().await;
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
        if instance.state == "Deleted" {
            return Ok(Some(Examined { instance, arn: String::new(), decision: Decision::Kept }));
        }
        let id = match InstanceId::parse("instanceId", &Value::String(instance.instance_id.clone())) {
            Ok(id) => id,
            Err(error) => {
                let decision = Decision::Skipped(Reason::TagsUnreadable, format!("ListInstances answered an instance id that cannot be used: {error}"));
                return Ok(Some(Examined { instance, arn: String::new(), decision: log(instance, decision) }));
            }
        };
        // The listed record names its account, so a placeholder function ARN (local runtimes) is no obstacle.
        let arn = self.supply_chain.instance_arn(&id, &invocation.function_arn, Some(instance)).ok_or_else(|| {
            Error::Unexpected("the Supply Chain client has no region, so the instance's ARN cannot be built".to_owned())
        })?;
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

/// The policy, for one instance whose tags were read.
///
/// 1. An expiry tag that is neither an RFC 3339 time nor a `YYYY-MM-DD` date is never acted on.
/// 2. A valid expiry tag decides: expired once its time has passed (a date: once that day has ended,
///    UTC). The age rule applies only to instances without the tag, so that a tag moved into the
///    future always keeps an instance.
/// 3. An expired instance is skipped when protected, or when neither `Active` nor `DeleteFailed`.
pub fn decide(settings: &SweepSettings, instance: &InstanceRecord, tags: &HashMap<String, String>, now: DateTime) -> Decision {
    let tagged = settings.expiry_tag.as_ref().and_then(|tag| tags.get(tag).map(|value| (tag, value)));
    let (reason, detail) = match tagged {
        Some((tag, value)) => match expiry_of(value) {
            None => {
                return Decision::Skipped(
                    Reason::InvalidExpiryTag,
                    format!("tag {tag}={value:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"),
                )
            }
            Some(ends) if ends <= now => (Reason::ExpiryTagPassed, format!("tag {tag}={value:?} has passed")),
            Some(_) => return Decision::Kept,
        },
        None => match too_old(settings, instance, now) {
            Some(detail) => (Reason::MaxAgeExceeded, detail),
            None => return Decision::Kept,
        },
    };
    if let Some(tag) = &settings.protection_tag {
        if let Some(value) = tags.get(tag).filter(|value| value.trim().eq_ignore_ascii_case("true")) {
            return Decision::Skipped(Reason::DeletionProtected, format!("{detail}, but the instance is protected by its tag {tag}={value:?}"));
        }
    }
    if !matches!(instance.state.as_str(), "Active" | "DeleteFailed") {
        return Decision::Skipped(
            Reason::StateNotEligible,
            format!("{detail}, but the instance is {}; only Active and DeleteFailed instances are deleted", instance.state),
        );
    }
    Decision::Selected(reason, detail)
}

/// When an expiry tag's value ends: an RFC 3339 time (any offset), or the end of a `YYYY-MM-DD` day, UTC.
pub fn expiry_of(value: &str) -> Option<DateTime> {
    let value = value.trim();
    if value.len() == 10 && value.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() }) {
        let start = DateTime::from_str(&format!("{value}T00:00:00Z"), Format::DateTime).ok()?;
        return Some(DateTime::from_secs(start.secs() + 86_400));
    }
    DateTime::from_str(value, Format::DateTimeWithOffset).ok()
}

/// The age rule's reason, when it applies to the instance.
fn too_old(settings: &SweepSettings, instance: &InstanceRecord, now: DateTime) -> Option<String> {
    let rule = settings.age_rule.as_ref()?;
    let name = instance.instance_name.as_deref().filter(|name| name.starts_with(&rule.name_prefix))?;
    let created_text = instance.created_time.as_deref()?;
    let created = DateTime::from_str(created_text, Format::DateTime).ok()?;
    let max_age = i64::try_from(rule.max_age_days).ok()?.checked_mul(86_400)?;
    (now.secs() - created.secs() > max_age).then(|| {
        format!(
            "name {name:?} starts with {:?} and the instance was created at {created_text}, more than {} days ago",
            rule.name_prefix, rule.max_age_days
        )
    })
}

/// The report, with its lists cut (each to the same length, the longest that fits) when it would
/// pass PutEvents' limit; `counts` keep the whole lengths.
fn within_event_limit(report: SweepReport) -> SweepReport {
    let size = |report: &SweepReport| serde_json::to_string(report).map_or(usize::MAX, |text| text.len());
    if size(&report) <= MAX_REPORT_BYTES {
        return report;
    }
    let cut = |keep: usize| {
        let mut cut = report.clone();
        for list in [&mut cut.selected, &mut cut.requested, &mut cut.deferred, &mut cut.skipped] {
            list.truncate(keep);
        }
        cut.truncated = true;
        cut
    };
    let longest = [&report.selected, &report.requested, &report.deferred, &report.skipped].iter().map(|l| l.len()).max().unwrap_or(0);
    // The largest `keep` that fits; 0 always does, as an entry-less report is a few hundred bytes.
    let (mut fits, mut too_big) = (0, longest);
    while too_big - fits > 1 {
        let middle = (fits + too_big) / 2;
        if size(&cut(middle)) <= MAX_REPORT_BYTES {
            fits = middle;
        } else {
            too_big = middle;
        }
    }
    cut(fits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgeRule;

    const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

    fn settings(age_rule: Option<AgeRule>) -> SweepSettings {
        let mut settings = SweepSettings::from_lookup(&|name| (name == "EVENT_BUS_NAME").then(|| "bus".to_owned())).unwrap();
        settings.age_rule = age_rule;
        settings
    }

    fn instance(state: &str, name: Option<&str>, created: i64) -> InstanceRecord {
        InstanceRecord {
            instance_id: "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1".into(),
            aws_account_id: "123456789012".into(),
            state: state.into(),
            error_message: None,
            web_app_dns_domain: None,
            created_time: DateTime::from_secs(created).fmt(Format::DateTime).ok(),
            last_modified_time: None,
            instance_name: name.map(str::to_owned),
            instance_description: None,
            kms_key_arn: None,
            version_number: None,
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn decision(state: &str, pairs: &[(&str, &str)]) -> Decision {
        decide(&settings(None), &instance(state, None, NOW), &tags(pairs), DateTime::from_secs(NOW))
    }

    fn reason(decision: Decision) -> Option<Reason> {
        match decision {
            Decision::Kept => None,
            Decision::Selected(reason, _) | Decision::Skipped(reason, _) => Some(reason),
        }
    }

    #[test]
    fn a_passed_time_or_day_in_the_expiry_tag_selects_the_instance() {
        for value in ["2027-01-15T07:59:59Z", "2027-01-15T09:59:59+02:00", "2027-01-14"] {
            assert!(matches!(decision("Active", &[("ExpiresAt", value)]), Decision::Selected(Reason::ExpiryTagPassed, _)), "{value}");
        }
    }

    #[test]
    fn a_day_lasts_until_its_end_in_utc() {
        assert_eq!(decision("Active", &[("ExpiresAt", "2027-01-15")]), Decision::Kept);
        assert_eq!(expiry_of("2027-01-15"), Some(DateTime::from_secs(1_800_057_600)));
    }

    #[test]
    fn a_future_expiry_or_no_tag_keeps_the_instance() {
        assert_eq!(decision("Active", &[("ExpiresAt", "2027-01-15T08:00:01Z")]), Decision::Kept);
        assert_eq!(decision("Active", &[]), Decision::Kept);
    }

    #[test]
    fn a_malformed_expiry_tag_is_never_acted_on() {
        for value in ["tomorrow", "2027-13-01", "2027-02-30", "15/01/2027", "2027-01-14 00:00:00Z", ""] {
            assert_eq!(reason(decision("Active", &[("ExpiresAt", value)])), Some(Reason::InvalidExpiryTag), "{value:?}");
        }
    }

    #[test]
    fn an_expired_instance_is_skipped_when_protected_or_not_active() {
        let expired = ("ExpiresAt", "2027-01-01");
        assert_eq!(reason(decision("Active", &[expired, ("DeletionProtection", "True")])), Some(Reason::DeletionProtected));
        assert_eq!(reason(decision("Active", &[expired, ("DeletionProtection", "false")])), Some(Reason::ExpiryTagPassed));
        assert_eq!(reason(decision("DeleteFailed", &[expired])), Some(Reason::ExpiryTagPassed));
        for state in ["Initializing", "Deleting", "CreateFailed"] {
            assert_eq!(reason(decision(state, &[expired])), Some(Reason::StateNotEligible), "{state}");
        }
    }

    #[test]
    fn the_age_rule_selects_old_instances_with_the_prefix_and_no_expiry_tag() {
        let settings = settings(Some(AgeRule { max_age_days: 30, name_prefix: "trial-".into() }));
        let now = DateTime::from_secs(NOW);
        let old = NOW - 31 * 86_400;
        let decide_for = |name: Option<&str>, created: i64, pairs: &[(&str, &str)]| {
            reason(decide(&settings, &instance("Active", name, created), &tags(pairs), now))
        };
        assert_eq!(decide_for(Some("trial-a"), old, &[]), Some(Reason::MaxAgeExceeded));
        assert_eq!(decide_for(Some("team-a"), old, &[]), None);
        assert_eq!(decide_for(None, old, &[]), None);
        assert_eq!(decide_for(Some("trial-a"), NOW - 29 * 86_400, &[]), None);
        assert_eq!(decide_for(Some("trial-a"), old, &[("ExpiresAt", "2027-02-01")]), None);
    }

    #[test]
    fn a_report_too_large_for_an_event_is_cut_and_keeps_its_counts() {
        let entry = |i: usize| SweepEntry {
            instance_id: format!("{i:036}"),
            instance_name: Some("n".repeat(60)),
            state: "Active".into(),
            reason: Reason::ExpiryTagPassed,
            detail: "d".repeat(200),
        };
        let selected: Vec<SweepEntry> = (0..2_000).map(entry).collect();
        let report = SweepReport {
            sweep_id: "s".into(),
            mode: SweepMode::Report,
            examined: 2_000,
            complete: true,
            counts: SweepCounts { selected: selected.len(), ..Default::default() },
            selected,
            requested: Vec::new(),
            deferred: Vec::new(),
            skipped: vec![entry(0)],
            truncated: false,
        };
        let cut = within_event_limit(report.clone());
        assert!(cut.truncated);
        assert_eq!(cut.counts, report.counts);
        let size = serde_json::to_string(&cut).unwrap().len();
        assert!(size <= MAX_REPORT_BYTES && size > MAX_REPORT_BYTES - 1_000, "{size}");
        assert!(cut.selected.len() < 2_000 && cut.skipped.len() == 1);

        let small = SweepReport { selected: report.selected[..3].to_vec(), ..report };
        assert_eq!(within_event_limit(small.clone()), small);
    }
}
