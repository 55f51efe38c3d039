//! Shapes and constraints of the Supply Chain instance API, taken from the service model.
//!
//! Every check here mirrors a trait of the model (`pattern`, `min`/`max` length, enum values,
//! ranges, required members). Patterns are matched against the whole value. The model's
//! `InstanceName` and `InstanceWebAppDnsDomain` patterns start with a negative lookahead, which
//! `regex-lite` does not support, so that part is checked by hand before the regex runs.

use std::sync::OnceLock;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};

/// The instance states of the `InstanceState` enum, in model order.
pub const INSTANCE_STATES: [&str; 6] = ["Initializing", "Active", "CreateFailed", "DeleteFailed", "Deleting", "Deleted"];

/// An AWS Supply Chain instance as the API returns it (the model's `Instance` shape).
///
/// Timestamps are epoch seconds, as restJson1 puts them on the wire. Optional members that are
/// `None` are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// The instance id, a lowercase UUID.
    pub instance_id: String,
    /// The account that owns the instance.
    pub aws_account_id: String,
    /// One of [`INSTANCE_STATES`].
    pub state: String,
    /// Why the instance is unhealthy (set in `CreateFailed` and `DeleteFailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The web application's DNS label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_app_dns_domain: Option<String>,
    /// Creation time, epoch seconds.
    pub created_time: f64,
    /// Time of the last change (state transition or update), epoch seconds.
    pub last_modified_time: f64,
    /// The instance name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// The instance description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_description: Option<String>,
    /// The customer managed KMS key, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// The version number of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_number: Option<f64>,
}

/// A `ValidationException` message in the wording AWS services use.
pub fn violation(value: &str, field: &str, constraint: &str) -> String {
    format!("1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}")
}

/// The message for a missing required member.
pub fn missing(field: &str) -> String {
    format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null")
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(&format!("^(?:{pattern})$")).expect("model pattern compiles"))
}

/// Checks a string length (in characters, as Smithy counts them) against the model's bounds.
fn check_length(value: &str, field: &str, min: usize, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len < min {
        return Err(violation(value, field, &format!("Member must have length greater than or equal to {min}")));
    }
    if len > max {
        return Err(violation(value, field, &format!("Member must have length less than or equal to {max}")));
    }
    Ok(())
}

fn check_pattern(value: &str, field: &str, regex: &Regex, shown: &str) -> Result<(), String> {
    if regex.is_match(value) {
        Ok(())
    } else {
        Err(violation(value, field, &format!("Member must satisfy regular expression pattern: {shown}")))
    }
}

/// Pattern of the `UUID` shape.
pub const UUID_PATTERN: &str = "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}";
const INSTANCE_NAME_PATTERN: &str = "(?![ _ʼ'%-])[a-zA-Z0-9 _ʼ'%-]{0,62}[a-zA-Z0-9]";
const DESCRIPTION_PATTERN: &str = "([a-zA-Z0-9., _ʼ'%-]){0,500}";
const KMS_KEY_ARN_PATTERN: &str = "arn:[a-z0-9][-.a-z0-9]{0,62}:kms:([a-z0-9][-.a-z0-9]{0,62})?:([a-z0-9][-.a-z0-9]{0,62})?:key/.{0,1019}";
const DNS_DOMAIN_PATTERN: &str = "(?![-])[a-zA-Z0-9-]{1,62}[a-zA-Z0-9]";
const ARN_PATTERN: &str =
    "arn:aws:scn(?::([a-z0-9-]+):([0-9]+):instance)?/([a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})[-_./A-Za-z0-9]*";

/// Validates a value of the `UUID` shape (instance ids).
pub fn validate_uuid(value: &str, field: &str) -> Result<(), String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check_length(value, field, 36, 36)?;
    check_pattern(value, field, regex(&RE, UUID_PATTERN), UUID_PATTERN)
}

/// Validates a value of the `InstanceName` shape.
pub fn validate_instance_name(value: &str, field: &str) -> Result<(), String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check_length(value, field, 0, 63)?;
    // Hand-coded `(?![ _ʼ'%-])`: the name may not start with a separator character.
    let lookahead_ok = !value.starts_with([' ', '_', 'ʼ', '\'', '%', '-']);
    let re = regex(&RE, "[a-zA-Z0-9 _ʼ'%-]{0,62}[a-zA-Z0-9]");
    if lookahead_ok && re.is_match(value) {
        Ok(())
    } else {
        Err(violation(value, field, &format!("Member must satisfy regular expression pattern: {INSTANCE_NAME_PATTERN}")))
    }
}

/// Validates a value of the `InstanceDescription` shape.
pub fn validate_description(value: &str, field: &str) -> Result<(), String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check_length(value, field, 0, 501)?;
    check_pattern(value, field, regex(&RE, DESCRIPTION_PATTERN), DESCRIPTION_PATTERN)
}

/// Validates a value of the `KmsKeyArn` shape.
pub fn validate_kms_key_arn(value: &str, field: &str) -> Result<(), String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check_length(value, field, 0, 2048)?;
    check_pattern(value, field, regex(&RE, KMS_KEY_ARN_PATTERN), KMS_KEY_ARN_PATTERN)
}

/// Validates a value of the `InstanceWebAppDnsDomain` shape.
pub fn validate_dns_domain(value: &str, field: &str) -> Result<(), String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Hand-coded `(?![-])`: a DNS label may not start with a hyphen.
    let re = regex(&RE, "[a-zA-Z0-9-]{1,62}[a-zA-Z0-9]");
    if !value.starts_with('-') && re.is_match(value) {
        Ok(())
    } else {
        Err(violation(value, field, &format!("Member must satisfy regular expression pattern: {DNS_DOMAIN_PATTERN}")))
    }
}

/// Validates a value of the `ClientToken` shape.
pub fn validate_client_token(value: &str, field: &str) -> Result<(), String> {
    check_length(value, field, 33, 126)
}

/// Validates a value of the `AwsAccountId` shape.
pub fn validate_account_id(value: &str, field: &str) -> Result<(), String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check_pattern(value, field, regex(&RE, "[0-9]{12}"), "[0-9]{12}")
}

/// Validates an `InstanceState` enum value.
pub fn validate_state(value: &str, field: &str) -> Result<(), String> {
    if INSTANCE_STATES.contains(&value) {
        Ok(())
    } else {
        Err(violation(value, field, &format!("Member must satisfy enum value set: [{}]", INSTANCE_STATES.join(", "))))
    }
}

/// Validates a `TagKey`.
pub fn validate_tag_key(value: &str, field: &str) -> Result<(), String> {
    check_length(value, field, 1, 128)
}

/// Validates a `TagValue`.
pub fn validate_tag_value(value: &str, field: &str) -> Result<(), String> {
    check_length(value, field, 0, 256)
}

/// Validates the size of a list or map member.
pub fn validate_count(count: usize, field: &str, max: usize) -> Result<(), String> {
    if count > max {
        Err(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        ))
    } else {
        Ok(())
    }
}

/// The parts of a valid `AscResourceArn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArn {
    /// The region, when the ARN carries one.
    pub region: Option<String>,
    /// The account, when the ARN carries one.
    pub account: Option<String>,
    /// The instance id the ARN points at.
    pub instance_id: String,
}

/// Validates an `AscResourceArn` and extracts the instance id from it.
pub fn parse_resource_arn(value: &str, field: &str) -> Result<ResourceArn, String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    check_length(value, field, 20, 1011)?;
    let re = regex(&RE, ARN_PATTERN);
    let Some(caps) = re.captures(value) else {
        return Err(violation(value, field, &format!("Member must satisfy regular expression pattern: {ARN_PATTERN}")));
    };
    Ok(ResourceArn {
        region: caps.get(1).map(|m| m.as_str().to_owned()),
        account: caps.get(2).map(|m| m.as_str().to_owned()),
        instance_id: caps[3].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_follow_the_model_pattern_including_its_lookahead() {
        assert!(validate_instance_name("My instance 1", "instanceName").is_ok());
        assert!(validate_instance_name("a", "instanceName").is_ok());
        assert!(validate_instance_name("-leading", "instanceName").is_err());
        assert!(validate_instance_name(" leading", "instanceName").is_err());
        assert!(validate_instance_name("trailing-", "instanceName").is_err());
        assert!(validate_instance_name("", "instanceName").is_err());
        assert!(validate_instance_name(&"a".repeat(63), "instanceName").is_ok());
        assert!(validate_instance_name(&"a".repeat(64), "instanceName").is_err());
        assert!(validate_instance_name("bad/char", "instanceName").is_err());
    }

    #[test]
    fn dns_domains_may_not_start_or_end_with_a_hyphen() {
        assert!(validate_dns_domain("my-app", "webAppDnsDomain").is_ok());
        assert!(validate_dns_domain("-app", "webAppDnsDomain").is_err());
        assert!(validate_dns_domain("app-", "webAppDnsDomain").is_err());
        assert!(validate_dns_domain("a", "webAppDnsDomain").is_err());
        assert!(validate_dns_domain("a.b", "webAppDnsDomain").is_err());
    }

    #[test]
    fn resource_arns_yield_their_instance_id() {
        let id = "0123abcd-0123-4567-89ab-0123456789ab";
        let arn = parse_resource_arn(&format!("arn:aws:scn:us-east-1:123456789012:instance/{id}"), "resourceArn").unwrap();
        assert_eq!(arn.instance_id, id);
        assert_eq!(arn.region.as_deref(), Some("us-east-1"));
        assert_eq!(arn.account.as_deref(), Some("123456789012"));
        assert_eq!(parse_resource_arn(&format!("arn:aws:scn/{id}"), "resourceArn").unwrap().region, None);
        assert!(parse_resource_arn("arn:aws:s3:::bucket/abcdefgh", "resourceArn").is_err());
    }

    #[test]
    fn validation_messages_name_the_field() {
        let message = validate_uuid("nope", "instanceId").unwrap_err();
        assert!(message.contains("'instanceId'"), "{message}");
    }
}
