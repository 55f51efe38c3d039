//! The sweep's settings: its mode, its policy (the expiry tag, the age rule, protection), its cap,
//! its targets and its notice.

use std::time::Duration;

use super::{boolean, list, number, protection, tag, CommonSettings, ConfigError, Lookup};
use crate::model::{AccountId, DeletionProtection, Region};

/// What the sweep does with the instances it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepMode {
    /// Select and report; change nothing.
    Report,
    /// Also put one Deletion Requested event per selected instance on the bus, up to the cap.
    Delete,
}

impl SweepMode {
    /// The mode named exactly `report` or `delete`.
    pub fn parse(text: &str) -> Option<SweepMode> {
        match text {
            "report" => Some(SweepMode::Report),
            "delete" => Some(SweepMode::Delete),
            _ => None,
        }
    }
}

/// The optional age rule: an instance whose name starts with `name_prefix` and that was created more
/// than `max_age_days` days ago is expired.
#[derive(Debug, Clone, PartialEq)]
pub struct AgeRule {
    /// `MAX_AGE_DAYS`.
    pub max_age_days: u64,
    /// `NAME_PREFIX`.
    pub name_prefix: String,
}

/// Settings of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    /// `EVENT_BUS_NAME` is required: the report (and in delete mode each request) goes on the bus.
    pub common: CommonSettings,
    /// `SWEEP_MODE` (`report`): `report` or `delete`.
    pub mode: SweepMode,
    /// `EXPIRY_TAG` (`ExpiresAt`): the tag holding an RFC 3339 time or a `YYYY-MM-DD` date; empty
    /// turns the tag rule off.
    pub expiry_tag: Option<String>,
    /// `MAX_AGE_DAYS` with `NAME_PREFIX`: both or neither.
    pub age_rule: Option<AgeRule>,
    /// `DELETION_PROTECTION_TAG` (`DeletionProtection`), read as the delete function reads it;
    /// empty or blank turns the check off (the delete function still checks its own setting).
    pub protection: Option<DeletionProtection>,
    /// `MAX_DELETIONS_PER_SWEEP` (10): requests sent per run; the rest wait for the next run.
    pub max_deletions: u32,
    /// `SWEEP_CONCURRENCY` (8): tag reads in flight at once.
    pub concurrency: usize,
    /// `SWEEP_SEND_RESERVE_MS` (2000): examining stops this long before the budget ends, so that
    /// what was selected can still be sent and the report put on the bus.
    pub send_reserve: Duration,
    /// `SWEEP_ACCOUNTS` (empty: the function's own): the accounts a run with the configured
    /// settings sweeps, each in every region of `regions`.
    pub accounts: Vec<AccountId>,
    /// `SWEEP_REGIONS` (empty: the function's own): the regions it sweeps; each must be the
    /// function's own or in `ALLOWED_REGIONS`.
    pub regions: Vec<Region>,
    /// `NOTICE_HOURS` (168): how long before its deletion an instance is marked and its owner told;
    /// 0 requests deletions at once.
    pub notice: Duration,
    /// `SCHEDULE_TAG` (`DeletionScheduledFor`): the tag holding when a marked instance is due.
    pub schedule_tag: String,
    /// `NOTICE_KEY_ID`: the stack's KMS HMAC key (id, ARN or alias) that signs and checks the
    /// marks; required with notice, so that no mark the sweep did not write counts as notice.
    pub notice_key_id: Option<String>,
    /// `OWNER_TAG` (`Owner`): the tag naming an instance's owner, in its notices; empty: none.
    pub owner_tag: Option<String>,
    /// `PLAN_BUCKET`: the stack's bucket, where the organization sweep's plan writes its targets and
    /// its Distributed Map its results. Unset: the plan returns its targets inline (small runs,
    /// local runs).
    pub plan_bucket: Option<String>,
    /// `APPROVAL_REQUIRED` (`false`): a delete-mode organization sweep only plans, and requests
    /// only what a person approves of its plan file. Needs `PLAN_BUCKET`.
    pub approval_required: bool,
    /// `APPROVAL_TIMEOUT_HOURS` (72, from 1 to 8760): how long a plan waits for its approval.
    pub approval_timeout: Duration,
}

impl SweepSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: Lookup) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_lookup(get)?;
        if common.event_bus.is_none() {
            return Err(ConfigError(
                "EVENT_BUS_NAME is not set, but the sweep needs it: it puts its report, and in delete mode its \
                 deletion requests, on that bus"
                    .to_owned(),
            ));
        }
        let mode = mode(get)?;
        let expiry_tag = tag(get, "EXPIRY_TAG", "ExpiresAt");
        let age_rule = age_rule(get)?;
        if expiry_tag.is_none() && age_rule.is_none() {
            return Err(ConfigError(
                "EXPIRY_TAG is empty and no age rule is set (MAX_AGE_DAYS with NAME_PREFIX), so the sweep could never \
                 select an instance"
                    .to_owned(),
            ));
        }
        let settings = SweepSettings {
            common,
            mode,
            expiry_tag,
            age_rule,
            protection: protection(get),
            max_deletions: u32::try_from(number(get, "MAX_DELETIONS_PER_SWEEP", 10, 1)?)
                .map_err(|_| ConfigError("MAX_DELETIONS_PER_SWEEP is larger than 4294967295".to_owned()))?,
            concurrency: number(get, "SWEEP_CONCURRENCY", 8, 1)? as usize,
            send_reserve: Duration::from_millis(number(get, "SWEEP_SEND_RESERVE_MS", 2_000, 0)?),
            accounts: list(get, "SWEEP_ACCOUNTS", AccountId::parse)?,
            regions: list(get, "SWEEP_REGIONS", Region::parse)?,
            notice: Duration::from_secs(number(get, "NOTICE_HOURS", 168, 0)?.checked_mul(3_600).ok_or_else(|| {
                ConfigError("NOTICE_HOURS is too large: it must be a whole number of hours, such as 168 (7 days)".to_owned())
            })?),
            schedule_tag: tag(get, "SCHEDULE_TAG", "DeletionScheduledFor").ok_or_else(|| {
                ConfigError("SCHEDULE_TAG is empty, but the sweep needs a tag to mark the instances it schedules".to_owned())
            })?,
            owner_tag: tag(get, "OWNER_TAG", "Owner"),
            notice_key_id: get("NOTICE_KEY_ID").map(|key| key.trim().to_owned()).filter(|key| !key.is_empty()),
            plan_bucket: get("PLAN_BUCKET").map(|bucket| bucket.trim().to_owned()).filter(|bucket| !bucket.is_empty()),
            approval_required: boolean(get, "APPROVAL_REQUIRED", false)?,
            approval_timeout: approval_timeout(get)?,
        };
        if !settings.notice.is_zero() && settings.notice_key_id.is_none() {
            return Err(ConfigError(format!(
                "NOTICE_KEY_ID is not set, but NOTICE_HOURS is {}: the sweep signs every mark it writes with that KMS HMAC key \
                 (template.yaml's NoticeKey), so that a mark it did not write never counts as notice; set it, or set \
                 NOTICE_HOURS=0 for deletions without notice",
                settings.notice.as_secs() / 3_600
            )));
        }
        schedule_tag_of_its_own(&settings)?;
        approval_in_the_bucket(&settings)?;
        Ok(settings)
    }
}

/// `SWEEP_MODE`: `report` unless set.
fn mode(get: Lookup) -> Result<SweepMode, ConfigError> {
    match get("SWEEP_MODE").as_deref().map(str::trim) {
        None | Some("") => Ok(SweepMode::Report),
        Some(text) => SweepMode::parse(text).ok_or_else(|| ConfigError(format!("SWEEP_MODE is {text:?}, but it must be report or delete"))),
    }
}

/// The most instances a plan that awaits approval may hold: each target's planned instances travel in
/// its item of the organization sweep's Map, which Step Functions bounds to 256 KiB, one target's
/// share can be the whole cap, and a planned instance takes up to about 1.4 KB (a name, an owner
/// tag and an expiry tag of the longest, the expiry in both `detail` and `selectedOn`). A list for a
/// person to read has no need of more.
pub const MAX_PLANNED: u32 = 150;

/// An approved plan is a file of the stack's bucket: approval needs it, and a cap a plan can hold.
fn approval_in_the_bucket(settings: &SweepSettings) -> Result<(), ConfigError> {
    if settings.approval_required && settings.plan_bucket.is_none() {
        return Err(ConfigError(
            "APPROVAL_REQUIRED is true, but PLAN_BUCKET is not set: an approved plan is a file of the stack's bucket \
             (plans/<planId>/plan.jsonl); set PLAN_BUCKET, or APPROVAL_REQUIRED=false"
                .to_owned(),
        ));
    }
    if settings.approval_required && settings.max_deletions > MAX_PLANNED {
        return Err(ConfigError(format!(
            "APPROVAL_REQUIRED is true with MAX_DELETIONS_PER_SWEEP {}, but a plan that awaits approval holds at most \
             {MAX_PLANNED} instances; set MAX_DELETIONS_PER_SWEEP from 1 to {MAX_PLANNED}",
            settings.max_deletions
        )));
    }
    Ok(())
}

/// `APPROVAL_TIMEOUT_HOURS`: 72 unless set; at most a year, as a plan waiting longer is no plan.
fn approval_timeout(get: Lookup) -> Result<Duration, ConfigError> {
    const MAX_HOURS: u64 = 8_760;
    match number(get, "APPROVAL_TIMEOUT_HOURS", 72, 1)? {
        hours if hours <= MAX_HOURS => Ok(Duration::from_secs(hours * 3_600)),
        hours => {
            Err(ConfigError(format!("APPROVAL_TIMEOUT_HOURS is \"{hours}\", but it must be a whole number of hours from 1 to {MAX_HOURS}")))
        }
    }
}

/// The age rule: `MAX_AGE_DAYS` with `NAME_PREFIX`, both or neither.
fn age_rule(get: Lookup) -> Result<Option<AgeRule>, ConfigError> {
    let max_age = get("MAX_AGE_DAYS").filter(|v| !v.trim().is_empty());
    let prefix = get("NAME_PREFIX").filter(|v| !v.is_empty());
    match (max_age, prefix) {
        (None, None) => Ok(None),
        (Some(_), Some(name_prefix)) => Ok(Some(AgeRule { max_age_days: number(get, "MAX_AGE_DAYS", 0, 1)?, name_prefix })),
        (Some(_), None) => Err(ConfigError(
            "MAX_AGE_DAYS is set without NAME_PREFIX; the age rule needs both, so that it only ever applies to instances \
             named for it"
                .to_owned(),
        )),
        (None, Some(_)) => Err(ConfigError("NAME_PREFIX is set without MAX_AGE_DAYS; the age rule needs both".to_owned())),
    }
}

/// The mark is written and removed by the sweep: were it the expiry or the protection tag, marking
/// would move an expiry, or removing a mark would lift a protection.
fn schedule_tag_of_its_own(settings: &SweepSettings) -> Result<(), ConfigError> {
    let taken = [
        ("EXPIRY_TAG", settings.expiry_tag.clone()),
        ("DELETION_PROTECTION_TAG", settings.protection.as_ref().map(|p| p.tag().to_owned())),
    ];
    match taken.iter().find(|(_, tag)| tag.as_deref() == Some(settings.schedule_tag.as_str())) {
        Some((name, _)) => Err(ConfigError(format!(
            "SCHEDULE_TAG is {:?}, the same tag as {name}; the sweep's mark needs a tag of its own",
            settings.schedule_tag
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    fn sweep(pairs: &[(&str, &str)]) -> Result<SweepSettings, ConfigError> {
        let mut all = vec![("EVENT_BUS_NAME", "bus"), ("NOTICE_KEY_ID", "alias/notice")];
        all.extend_from_slice(pairs);
        SweepSettings::from_lookup(&lookup(&all))
    }

    #[test]
    fn the_schedule_mark_needs_a_tag_of_its_own() {
        for (name, value) in [("EXPIRY_TAG", "Mark"), ("DELETION_PROTECTION_TAG", "Mark")] {
            let error = sweep(&[("SCHEDULE_TAG", "Mark"), (name, value)]).unwrap_err();
            assert!(error.0.contains(name) && error.0.contains("a tag of its own"), "{error:?}");
        }
        assert!(sweep(&[("SCHEDULE_TAG", "")]).unwrap_err().0.contains("SCHEDULE_TAG is empty"));
        let settings = sweep(&[]).unwrap();
        assert_eq!(
            (settings.notice.as_secs(), settings.schedule_tag.as_str(), settings.owner_tag.as_deref()),
            (168 * 3_600, "DeletionScheduledFor", Some("Owner"))
        );
        let settings = sweep(&[
            ("NOTICE_HOURS", "0"),
            ("OWNER_TAG", ""),
            ("SWEEP_ACCOUNTS", "111122223333, 444455556666"),
            ("SWEEP_REGIONS", "eu-west-1"),
        ])
        .unwrap();
        assert!(settings.notice.is_zero() && settings.owner_tag.is_none());
        assert_eq!((settings.accounts.len(), settings.regions.len()), (2, 1));
        assert!(sweep(&[("SWEEP_ACCOUNTS", "12345")]).is_err());
    }

    #[test]
    fn the_sweep_reports_by_the_expires_at_tag_by_default() {
        let settings = sweep(&[]).unwrap();
        assert_eq!(settings.mode, SweepMode::Report);
        assert_eq!(settings.expiry_tag.as_deref(), Some("ExpiresAt"));
        assert_eq!(settings.age_rule, None);
        assert_eq!(settings.protection, Some(DeletionProtection::new("DeletionProtection")));
        assert_eq!((settings.max_deletions, settings.concurrency), (10, 8));
    }

    #[test]
    fn notice_needs_the_key_that_signs_its_marks() {
        let error = SweepSettings::from_lookup(&lookup(&[("EVENT_BUS_NAME", "bus")])).unwrap_err();
        assert!(error.0.contains("NOTICE_KEY_ID is not set, but NOTICE_HOURS is 168"), "{error}");
        let without = SweepSettings::from_lookup(&lookup(&[("EVENT_BUS_NAME", "bus"), ("NOTICE_HOURS", "0")])).unwrap();
        assert_eq!(without.notice_key_id, None);
        assert_eq!(sweep(&[]).unwrap().notice_key_id.as_deref(), Some("alias/notice"));
    }

    #[test]
    fn approval_is_off_by_default_and_needs_the_plan_bucket_and_a_timeout_within_a_year() {
        let settings = sweep(&[]).unwrap();
        assert_eq!((settings.approval_required, settings.approval_timeout.as_secs()), (false, 72 * 3_600));
        let error = sweep(&[("APPROVAL_REQUIRED", "true")]).unwrap_err();
        assert!(error.0.contains("APPROVAL_REQUIRED is true, but PLAN_BUCKET is not set"), "{error}");
        let settings = sweep(&[("APPROVAL_REQUIRED", "true"), ("PLAN_BUCKET", "plans"), ("APPROVAL_TIMEOUT_HOURS", "8760")]).unwrap();
        assert_eq!((settings.approval_required, settings.approval_timeout.as_secs()), (true, 8_760 * 3_600));
        // A plan awaiting approval travels through the Map's items: its cap is bounded.
        let approving =
            |cap: &'static str| sweep(&[("APPROVAL_REQUIRED", "true"), ("PLAN_BUCKET", "plans"), ("MAX_DELETIONS_PER_SWEEP", cap)]);
        assert_eq!(approving("150").unwrap().max_deletions, MAX_PLANNED);
        assert!(approving("151").unwrap_err().0.contains("holds at most 150 instances"));
        assert_eq!(sweep(&[("MAX_DELETIONS_PER_SWEEP", "1000")]).unwrap().max_deletions, 1_000, "without approval, the cap is free");
        for bad in ["0", "8761", "3.5", "soon"] {
            let error = sweep(&[("APPROVAL_TIMEOUT_HOURS", bad)]).unwrap_err();
            assert!(error.0.contains("APPROVAL_TIMEOUT_HOURS is"), "{bad}: {error}");
        }
        assert!(sweep(&[("APPROVAL_REQUIRED", "yes")])
            .unwrap_err()
            .0
            .contains("APPROVAL_REQUIRED is \"yes\", but it must be true or false"));
    }

    #[test]
    fn the_sweep_needs_an_event_bus() {
        let error = SweepSettings::from_lookup(&lookup(&[])).unwrap_err();
        assert!(error.to_string().contains("EVENT_BUS_NAME is not set"), "{error}");
    }

    #[test]
    fn a_sweep_mode_other_than_report_or_delete_names_the_variable() {
        let error = sweep(&[("SWEEP_MODE", "Delete")]).unwrap_err();
        assert!(error.to_string().contains("SWEEP_MODE is \"Delete\", but it must be report or delete"), "{error}");
        assert_eq!(sweep(&[("SWEEP_MODE", "delete")]).unwrap().mode, SweepMode::Delete);
    }

    #[test]
    fn the_age_rule_needs_both_its_variables() {
        let error = sweep(&[("MAX_AGE_DAYS", "30")]).unwrap_err();
        assert!(error.to_string().contains("MAX_AGE_DAYS is set without NAME_PREFIX"), "{error}");
        let error = sweep(&[("NAME_PREFIX", "trial-")]).unwrap_err();
        assert!(error.to_string().contains("NAME_PREFIX is set without MAX_AGE_DAYS"), "{error}");
        let error = sweep(&[("NAME_PREFIX", "trial-"), ("MAX_AGE_DAYS", "0")]).unwrap_err();
        assert!(error.to_string().contains("MAX_AGE_DAYS is \"0\""), "{error}");
        let rule = sweep(&[("NAME_PREFIX", "trial-"), ("MAX_AGE_DAYS", "30")]).unwrap().age_rule.unwrap();
        assert_eq!((rule.max_age_days, rule.name_prefix.as_str()), (30, "trial-"));
    }

    #[test]
    fn a_sweep_without_any_rule_is_refused() {
        let error = sweep(&[("EXPIRY_TAG", "")]).unwrap_err();
        assert!(error.to_string().contains("could never select"), "{error}");
    }

    #[test]
    fn bad_sweep_numbers_name_their_variable() {
        for name in ["MAX_DELETIONS_PER_SWEEP", "SWEEP_CONCURRENCY"] {
            let error = sweep(&[(name, "0")]).unwrap_err();
            assert!(error.to_string().contains(&format!("{name} is \"0\"")), "{error}");
        }
    }
}
