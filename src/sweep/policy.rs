//! The sweep's policy: which instances are expired, and which of those may be deleted.

use std::collections::HashMap;

use aws_sdk_supplychain::types::InstanceState;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::config::SweepSettings;
use crate::contract::Reason;
use crate::model::InstanceRecord;

/// What the policy made of one instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Not expired, or already `Deleted`: nothing to report.
    Kept,
    Selected(Reason, String),
    Skipped(Reason, String),
}

/// The policy, for one instance whose tags were read.
///
/// 1. An expiry tag that is neither an RFC 3339 time nor a `YYYY-MM-DD` date is never acted on.
/// 2. A valid expiry tag decides: expired once its time has passed (a date: once that day has ended,
///    UTC). The age rule applies only to instances without the tag, so that a tag moved into the
///    future always keeps an instance.
/// 3. An expired instance is skipped when protected, or when neither `Active` nor `DeleteFailed`.
pub(crate) fn decide(settings: &SweepSettings, instance: &InstanceRecord, tags: &HashMap<String, String>, now: DateTime) -> Decision {
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
    if let Some(protection) = &settings.protection {
        if let Some(value) = protection.protecting_value(tags) {
            return Decision::Skipped(
                Reason::DeletionProtected,
                format!("{detail}, but the instance is protected by {}", protection.explain(value)),
            );
        }
    }
    if !deletable(&instance.state) {
        return Decision::Skipped(
            Reason::StateNotEligible,
            format!("{detail}, but the instance is {}; only Active and DeleteFailed instances are deleted", instance.state.as_str()),
        );
    }
    Decision::Selected(reason, detail)
}

/// The one rule of which states the sweep may ask to delete: `Active` and `DeleteFailed`.
pub(crate) fn deletable(state: &InstanceState) -> bool {
    matches!(state, InstanceState::Active | InstanceState::DeleteFailed)
}

/// What a selected instance is selected on, in words that change whenever its selection does: the
/// reason with the expiry tag's value, or with the age rule; `None` when it is not selected. A notice
/// mark's signature covers it and a plan records it, so that neither a mark nor an approval given
/// for another selection counts.
pub(crate) fn selected_on(settings: &SweepSettings, decision: &Decision, tags: &HashMap<String, String>) -> Option<String> {
    match decision {
        Decision::Selected(Reason::MaxAgeExceeded, _) => Some(match &settings.age_rule {
            Some(rule) => format!("MaxAgeExceeded name prefix {:?} older than {} days", rule.name_prefix, rule.max_age_days),
            None => "MaxAgeExceeded".to_owned(),
        }),
        Decision::Selected(reason, _) => {
            let tag = settings.expiry_tag.as_deref().unwrap_or_default();
            Some(format!("{} tag {tag:?}={:?}", reason.as_str(), tags.get(tag).map(String::as_str).unwrap_or_default()))
        }
        Decision::Kept | Decision::Skipped(..) => None,
    }
}

/// Why the policy keeps an instance it does not select, in words (for a cancelled notice).
pub(crate) fn why_kept(settings: &SweepSettings, tags: &HashMap<String, String>) -> String {
    match settings.expiry_tag.as_ref().map(|tag| (tag, tags.get(tag))) {
        Some((tag, Some(value))) => format!("its tag {tag}={value:?} has not passed"),
        Some((tag, None)) if settings.age_rule.is_some() => format!("it has no tag {tag} and the age rule does not apply to it"),
        Some((tag, None)) => format!("it no longer has the tag {tag}"),
        None => "the age rule no longer applies to it".to_owned(),
    }
}

/// When an expiry tag's value ends: an RFC 3339 time (any offset), or the end of a `YYYY-MM-DD` day, UTC.
pub(crate) fn expiry_of(value: &str) -> Option<DateTime> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgeRule;

    const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

    fn settings(age_rule: Option<AgeRule>) -> SweepSettings {
        let mut settings = SweepSettings::from_lookup(&|name| match name {
            "EVENT_BUS_NAME" => Some("bus".to_owned()),
            "NOTICE_HOURS" => Some("0".to_owned()),
            _ => None,
        })
        .unwrap();
        settings.age_rule = age_rule;
        settings
    }

    fn instance(state: &str, name: Option<&str>, created: i64) -> InstanceRecord {
        let id = crate::model::InstanceId::parse("instanceId", &"1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1".into()).unwrap();
        InstanceRecord {
            created_time: DateTime::from_secs(created).fmt(Format::DateTime).ok(),
            instance_name: name.map(str::to_owned),
            ..InstanceRecord::new(id, "123456789012", InstanceState::from(state))
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
}
