//! Configuration: environment variables read once at init, with a clear message for a bad value.

use std::time::Duration;

use crate::model::{AccountId, DeletionProtection, Region};

/// A configuration value that cannot be used; the function stops at init with this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Settings shared by every function.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonSettings {
    /// `EVENT_BUS_NAME`: where announcements go; unset or empty: none are made.
    pub event_bus: Option<String>,
    /// `DEADLINE_MARGIN_MS` (500): kept free before the invocation deadline to report a `Timeout`.
    pub deadline_margin: Duration,
    /// `FALLBACK_TIMEOUT_MS` (20000): the budget when the runtime sends no usable deadline.
    pub fallback_timeout: Duration,
    /// `ATTEMPT_TIMEOUT_MS` (5000): one HTTP attempt's limit, so a stalled answer is retried.
    pub attempt_timeout: Duration,
    /// `CONNECT_AT_INIT` (`true`): open the Supply Chain connection during init, so the first
    /// invocation does not pay the TLS handshake.
    pub connect_at_init: bool,
    /// `ALLOWED_ACCOUNT_IDS` (comma list): the other accounts requests may target; empty: any
    /// account whose member role can be assumed.
    pub allowed_accounts: Vec<AccountId>,
    /// `ALLOWED_REGIONS` (comma list): the other regions requests may target; empty: only the
    /// function's own.
    pub allowed_regions: Vec<Region>,
    /// `MEMBER_ROLE_NAME` (`SupplyChainInstanceDeletion`): the role assumed in another account.
    pub member_role_name: String,
    /// `MEMBER_SESSION_SECONDS` (3600): how long the member role's credentials last. STS accepts
    /// 900 up to the role's maximum session duration; the local emulator accepts less, for tests.
    pub member_session: Duration,
}

/// Settings of the delete function.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteSettings {
    pub common: CommonSettings,
    /// `DELETION_PROTECTION_TAG` (`DeletionProtection`); empty or blank turns the check off.
    pub protection: Option<DeletionProtection>,
    /// `SQS_CONCURRENCY` (4): messages of one batch processed at a time.
    pub batch_concurrency: usize,
    /// `DEAD_LETTER_QUEUE_URL`: where an SQS message that failed for good (a non-retryable
    /// errorType) is moved at once; unset or empty: it is listed in `batchItemFailures` like any other.
    pub dead_letter_queue_url: Option<String>,
}

/// Settings of the status checker.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSettings {
    pub common: CommonSettings,
    /// `SCHEDULE_GROUP` (`default`): where re-check schedules are created.
    pub schedule_group: String,
    /// `SCHEDULER_ROLE_ARN`: the role EventBridge Scheduler assumes to invoke the checker.
    pub scheduler_role_arn: Option<String>,
    /// `SCHEDULE_DEAD_LETTER_ARN`: the SQS queue that keeps a re-check Scheduler could not deliver.
    pub schedule_dead_letter_arn: Option<String>,
    /// `POLL_INTERVAL_SECONDS` (60): the wait before the first re-check; it doubles up to the cap.
    pub poll_interval: Duration,
    /// `MAX_POLL_INTERVAL_SECONDS` (900): the longest wait between re-checks.
    pub max_poll_interval: Duration,
    /// `MAX_WAIT_SECONDS` (7200): after this long since the start, a deletion still under way has timed out.
    pub max_wait: Duration,
}

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
        let mode = match get("SWEEP_MODE").as_deref().map(str::trim) {
            None | Some("") => SweepMode::Report,
            Some(text) => {
                SweepMode::parse(text).ok_or_else(|| ConfigError(format!("SWEEP_MODE is {text:?}, but it must be report or delete")))?
            }
        };
        let expiry_tag = tag(get, "EXPIRY_TAG", "ExpiresAt");
        let max_age = get("MAX_AGE_DAYS").filter(|v| !v.trim().is_empty());
        let prefix = get("NAME_PREFIX").filter(|v| !v.is_empty());
        let age_rule = match (max_age, prefix) {
            (None, None) => None,
            (Some(_), Some(name_prefix)) => Some(AgeRule { max_age_days: number(get, "MAX_AGE_DAYS", 0, 1)?, name_prefix }),
            (Some(_), None) => {
                return Err(ConfigError(
                    "MAX_AGE_DAYS is set without NAME_PREFIX; the age rule needs both, so that it only ever applies \
                     to instances named for it"
                        .to_owned(),
                ))
            }
            (None, Some(_)) => return Err(ConfigError("NAME_PREFIX is set without MAX_AGE_DAYS; the age rule needs both".to_owned())),
        };
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
        Ok(settings)
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

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl CommonSettings {
    pub fn from_lookup(get: Lookup) -> Result<Self, ConfigError> {
        Ok(CommonSettings {
            event_bus: get("EVENT_BUS_NAME").filter(|name| !name.trim().is_empty()),
            deadline_margin: Duration::from_millis(number(get, "DEADLINE_MARGIN_MS", 500, 0)?),
            fallback_timeout: Duration::from_millis(number(get, "FALLBACK_TIMEOUT_MS", 20_000, 1)?),
            attempt_timeout: Duration::from_millis(number(get, "ATTEMPT_TIMEOUT_MS", 5_000, 1)?),
            connect_at_init: boolean(get, "CONNECT_AT_INIT", true)?,
            member_session: Duration::from_secs(number(get, "MEMBER_SESSION_SECONDS", 3_600, 1)?),
            allowed_accounts: list(get, "ALLOWED_ACCOUNT_IDS", AccountId::parse)?,
            allowed_regions: list(get, "ALLOWED_REGIONS", Region::parse)?,
            member_role_name: match get("MEMBER_ROLE_NAME").map(|name| name.trim().to_owned()) {
                None => "SupplyChainInstanceDeletion".to_owned(),
                Some(name) if role_name(&name) => name,
                Some(name) => {
                    return Err(ConfigError(format!(
                        "MEMBER_ROLE_NAME is {name:?}, but it must be an IAM role name: 1 to 64 of the characters \
                         A-Z a-z 0-9 + = , . @ _ -"
                    )))
                }
            },
        })
    }
}

impl DeleteSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: Lookup) -> Result<Self, ConfigError> {
        Ok(DeleteSettings {
            common: CommonSettings::from_lookup(get)?,
            protection: protection(get),
            batch_concurrency: number(get, "SQS_CONCURRENCY", 4, 1)? as usize,
            dead_letter_queue_url: get("DEAD_LETTER_QUEUE_URL").filter(|url| !url.trim().is_empty()),
        })
    }
}

impl CheckSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: Lookup) -> Result<Self, ConfigError> {
        let poll_interval = Duration::from_secs(number(get, "POLL_INTERVAL_SECONDS", 60, 1)?);
        let max_poll_interval = Duration::from_secs(number(get, "MAX_POLL_INTERVAL_SECONDS", 900, 1)?);
        if max_poll_interval < poll_interval {
            return Err(ConfigError(format!(
                "MAX_POLL_INTERVAL_SECONDS ({}) is shorter than POLL_INTERVAL_SECONDS ({})",
                max_poll_interval.as_secs(),
                poll_interval.as_secs()
            )));
        }
        Ok(CheckSettings {
            common: CommonSettings::from_lookup(get)?,
            schedule_group: get("SCHEDULE_GROUP").filter(|g| !g.is_empty()).unwrap_or_else(|| "default".to_owned()),
            scheduler_role_arn: get("SCHEDULER_ROLE_ARN").filter(|arn| !arn.is_empty()),
            schedule_dead_letter_arn: get("SCHEDULE_DEAD_LETTER_ARN").filter(|arn| !arn.is_empty()),
            poll_interval,
            max_poll_interval,
            max_wait: Duration::from_secs(number(get, "MAX_WAIT_SECONDS", 7_200, 1)?),
        })
    }
}

/// A comma list of values each read with `parse`; unset or empty is an empty list.
fn list<T>(get: Lookup, name: &str, parse: fn(&str, &serde_json::Value) -> Result<T, crate::error::Error>) -> Result<Vec<T>, ConfigError> {
    let text = get(name).unwrap_or_default();
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| parse(name, &serde_json::Value::String(item.to_owned())).map_err(|error| ConfigError(error.to_string())))
        .collect()
}

fn role_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// A setting naming a tag: unset means `default`; empty or blank turns what the tag does off.
fn tag(get: Lookup, name: &str, default: &str) -> Option<String> {
    match get(name) {
        None => Some(default.to_owned()),
        Some(tag) if tag.trim().is_empty() => None,
        Some(tag) => Some(tag),
    }
}

/// `DELETION_PROTECTION_TAG`, read the same way by every function that asks the rule.
fn protection(get: Lookup) -> Option<DeletionProtection> {
    tag(get, "DELETION_PROTECTION_TAG", DeletionProtection::DEFAULT_TAG).map(DeletionProtection::new)
}

fn boolean(get: Lookup, name: &str, default: bool) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
        Some(value) => Err(ConfigError(format!("{name} is {value:?}, but it must be true or false"))),
    }
}

fn number(get: Lookup, name: &str, default: u64, min: u64) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(value) if value >= min => Ok(value),
            _ => Err(ConfigError(format!("{name} is {text:?}, but it must be a whole number of at least {min}"))),
        },
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

    #[test]
    fn defaults_protect_by_the_deletion_protection_tag_and_announce_nothing() {
        let settings = DeleteSettings::from_lookup(&lookup(&[])).unwrap();
        assert_eq!(settings.protection, Some(DeletionProtection::new("DeletionProtection")));
        assert_eq!(settings.common.event_bus, None);
        assert_eq!(settings.common.deadline_margin, Duration::from_millis(500));
        assert_eq!(settings.batch_concurrency, 4);
    }

    #[test]
    fn an_empty_or_blank_protection_tag_turns_the_check_off_for_the_delete_function_and_the_sweep_alike() {
        for blank in ["", "  "] {
            let settings = DeleteSettings::from_lookup(&lookup(&[("DELETION_PROTECTION_TAG", blank)])).unwrap();
            assert_eq!(settings.protection, None, "{blank:?}");
            assert_eq!(sweep(&[("DELETION_PROTECTION_TAG", blank)]).unwrap().protection, None, "{blank:?}");
            assert_eq!(sweep(&[("EXPIRY_TAG", blank), ("MAX_AGE_DAYS", "1"), ("NAME_PREFIX", "t-")]).unwrap().expiry_tag, None);
        }
        let named = [("DELETION_PROTECTION_TAG", "Keep")];
        assert_eq!(DeleteSettings::from_lookup(&lookup(&named)).unwrap().protection, Some(DeletionProtection::new("Keep")));
        assert_eq!(sweep(&named).unwrap().protection, Some(DeletionProtection::new("Keep")));
    }

    #[test]
    fn the_reach_of_a_function_is_read_from_comma_lists_and_a_bad_entry_names_the_variable() {
        let settings = DeleteSettings::from_lookup(&lookup(&[])).unwrap();
        assert!(settings.common.allowed_accounts.is_empty() && settings.common.allowed_regions.is_empty());
        assert_eq!(settings.common.member_role_name, "SupplyChainInstanceDeletion");
        let settings = DeleteSettings::from_lookup(&lookup(&[
            ("ALLOWED_ACCOUNT_IDS", "222222222222, 333333333333,"),
            ("ALLOWED_REGIONS", "eu-west-1"),
            ("MEMBER_ROLE_NAME", "Cleaner"),
        ]))
        .unwrap();
        let accounts: Vec<&str> = settings.common.allowed_accounts.iter().map(AccountId::as_str).collect();
        assert_eq!(accounts, ["222222222222", "333333333333"]);
        assert_eq!(settings.common.allowed_regions[0].as_str(), "eu-west-1");
        assert_eq!(settings.common.member_role_name, "Cleaner");
        for (name, value) in [("ALLOWED_ACCOUNT_IDS", "2222"), ("ALLOWED_REGIONS", "Europe"), ("MEMBER_ROLE_NAME", "a role")] {
            let error = CheckSettings::from_lookup(&lookup(&[(name, value)])).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let error = DeleteSettings::from_lookup(&lookup(&[("SQS_CONCURRENCY", "many")])).unwrap_err();
        assert!(error.to_string().contains("SQS_CONCURRENCY is \"many\""), "{error}");
        let error = CheckSettings::from_lookup(&lookup(&[("POLL_INTERVAL_SECONDS", "0")])).unwrap_err();
        assert!(error.to_string().contains("at least 1"), "{error}");
    }

    #[test]
    fn the_dead_letter_queues_are_read_and_an_empty_one_is_none() {
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/requests-dlq";
        let delete = DeleteSettings::from_lookup(&lookup(&[("DEAD_LETTER_QUEUE_URL", url)])).unwrap();
        assert_eq!(delete.dead_letter_queue_url.as_deref(), Some(url));
        let delete = DeleteSettings::from_lookup(&lookup(&[("DEAD_LETTER_QUEUE_URL", " ")])).unwrap();
        assert_eq!(delete.dead_letter_queue_url, None);
        let arn = "arn:aws:sqs:us-east-1:123456789012:status-checks-dlq";
        let check = CheckSettings::from_lookup(&lookup(&[("SCHEDULE_DEAD_LETTER_ARN", arn)])).unwrap();
        assert_eq!(check.schedule_dead_letter_arn.as_deref(), Some(arn));
        assert_eq!(CheckSettings::from_lookup(&lookup(&[])).unwrap().schedule_dead_letter_arn, None);
    }

    #[test]
    fn the_poll_cap_may_not_be_below_the_first_interval() {
        let error =
            CheckSettings::from_lookup(&lookup(&[("POLL_INTERVAL_SECONDS", "120"), ("MAX_POLL_INTERVAL_SECONDS", "60")])).unwrap_err();
        assert!(error.to_string().contains("shorter than"), "{error}");
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
