//! Configuration: environment variables read once at init, with a clear message for a bad value.

use std::time::Duration;

use crate::model::{AccountId, DeletionProtection, Region};

mod sweep;

pub use sweep::{AgeRule, SweepMode, SweepSettings, MAX_PLANNED};

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

    /// The sweep's settings with its bus and key, and `pairs` over them.
    fn sweep_settings(pairs: &[(&str, &str)]) -> Result<SweepSettings, ConfigError> {
        let mut all = vec![("EVENT_BUS_NAME", "bus"), ("NOTICE_KEY_ID", "alias/notice")];
        all.extend_from_slice(pairs);
        SweepSettings::from_lookup(&lookup(&all))
    }

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
            assert_eq!(sweep_settings(&[("DELETION_PROTECTION_TAG", blank)]).unwrap().protection, None, "{blank:?}");
            assert_eq!(sweep_settings(&[("EXPIRY_TAG", blank), ("MAX_AGE_DAYS", "1"), ("NAME_PREFIX", "t-")]).unwrap().expiry_tag, None);
        }
        let named = [("DELETION_PROTECTION_TAG", "Keep")];
        assert_eq!(DeleteSettings::from_lookup(&lookup(&named)).unwrap().protection, Some(DeletionProtection::new("Keep")));
        assert_eq!(sweep_settings(&named).unwrap().protection, Some(DeletionProtection::new("Keep")));
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
}
