//! The instance record: the API's `Instance` with the API's own member names, timestamps as RFC 3339
//! UTC strings, absent members left out, and an unknown future `state` passed through as its string.

use aws_sdk_supplychain::types::{Instance, InstanceState};
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::InstanceId;
use crate::error::Error;

/// One Supply Chain instance as this project returns and announces it. The id is validated and the
/// state is the SDK's enum; on the wire both are the API's strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub instance_id: InstanceId,
    pub aws_account_id: String,
    #[serde(serialize_with = "write_state", deserialize_with = "read_state")]
    pub state: InstanceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_app_dns_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_number: Option<f64>,
}

impl InstanceRecord {
    /// A record with only the members the API always sends, as a partial record reads.
    pub fn new(instance_id: InstanceId, aws_account_id: impl Into<String>, state: InstanceState) -> InstanceRecord {
        InstanceRecord {
            instance_id,
            aws_account_id: aws_account_id.into(),
            state,
            error_message: None,
            web_app_dns_domain: None,
            created_time: None,
            last_modified_time: None,
            instance_name: None,
            instance_description: None,
            kms_key_arn: None,
            version_number: None,
        }
    }

    /// Whether the instance's deletion has started: `Deleting` or `Deleted`.
    pub fn deletion_started(&self) -> bool {
        matches!(self.state, InstanceState::Deleting | InstanceState::Deleted)
    }
}

/// The instance as a report or an announcement shows it: a record the service answered, or
/// `{"instanceId": ...}` alone when there is none (the instance was not found, or only its id is
/// known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one short-lived value per request or check
pub enum ReportedInstance {
    Record(InstanceRecord),
    Id {
        #[serde(rename = "instanceId")]
        instance_id: InstanceId,
    },
}

impl ReportedInstance {
    /// The record, when there is one.
    pub fn record(&self) -> Option<&InstanceRecord> {
        match self {
            ReportedInstance::Record(record) => Some(record),
            ReportedInstance::Id { .. } => None,
        }
    }
}

/// An instance the service answered with an id that is not an instance id: nothing can be asked
/// about it, but it is reported, not dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct UnusableInstance {
    /// The id as the service wrote it.
    pub instance_id: String,
    pub instance_name: Option<String>,
    pub state: InstanceState,
    /// What is wrong with the id.
    pub problem: String,
}

impl TryFrom<&Instance> for InstanceRecord {
    type Error = UnusableInstance;

    fn try_from(instance: &Instance) -> Result<Self, UnusableInstance> {
        let time = |t: Option<&aws_smithy_types::DateTime>| t.map(|t| timestamp(*t));
        let instance_id =
            InstanceId::parse("instanceId", &Value::String(instance.instance_id().to_owned())).map_err(|error| UnusableInstance {
                instance_id: instance.instance_id().to_owned(),
                instance_name: instance.instance_name().map(str::to_owned),
                state: instance.state().clone(),
                problem: error.to_string(),
            })?;
        Ok(InstanceRecord {
            instance_id,
            aws_account_id: instance.aws_account_id().to_owned(),
            // `InstanceState::Unknown` keeps the wire value of states this SDK does not know yet.
            state: instance.state().clone(),
            error_message: instance.error_message().map(str::to_owned),
            web_app_dns_domain: instance.web_app_dns_domain().map(str::to_owned),
            created_time: time(instance.created_time()),
            last_modified_time: time(instance.last_modified_time()),
            instance_name: instance.instance_name().map(str::to_owned),
            instance_description: instance.instance_description().map(str::to_owned),
            kms_key_arn: instance.kms_key_arn().map(str::to_owned),
            version_number: instance.version_number(),
        })
    }
}

impl UnusableInstance {
    /// The error of an operation that needed a usable record of one instance.
    pub(crate) fn into_error(self, operation: &str) -> Error {
        Error::Unexpected(format!("{operation} answered an instance id that cannot be used: {}", self.problem))
    }
}

fn write_state<S: Serializer>(state: &InstanceState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(state.as_str())
}

fn read_state<'de, D: Deserializer<'de>>(deserializer: D) -> Result<InstanceState, D::Error> {
    Ok(InstanceState::from(String::deserialize(deserializer)?.as_str()))
}

/// A time as this project writes it everywhere (records, events, reports): RFC 3339 in UTC, rounded
/// to the millisecond, with no fraction for whole seconds (`2026-12-01T22:13:56.188Z`,
/// `2026-12-01T22:13:56Z`). The service sends epoch seconds with millisecond precision as a JSON
/// number, which the SDK reads into binary floating point: without the rounding, `.188` would be
/// written as `.187999`.
pub fn timestamp(time: aws_smithy_types::DateTime) -> String {
    let millis = i128::from(time.secs()) * 1000 + i128::from((time.subsec_nanos() + 500_000) / 1_000_000);
    let rounded = aws_smithy_types::DateTime::from_millis(millis as i64);
    // Only years past 9999 cannot be written in RFC 3339; no answer of the service has them, and a
    // number is better than a panic.
    rounded.fmt(Format::DateTime).unwrap_or_else(|_| rounded.secs().to_string())
}

/// What the delete function returns for one instance: `{"instance": {...}}`, plus `"dryRun": true`
/// when nothing was deleted, and `accountId` and `region` when the instance is in another account
/// or region than the function's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutput {
    pub instance: InstanceRecord,
    #[serde(flatten)]
    pub target: super::Target,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_member_keeps_the_api_name_and_times_are_rfc3339_utc() {
        let instance = Instance::builder()
            .instance_id("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1")
            .aws_account_id("123456789012")
            .state(InstanceState::Deleting)
            .error_message("e")
            .web_app_dns_domain("example")
            .created_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .last_modified_time(aws_smithy_types::DateTime::from_millis(1_700_000_001_500))
            .instance_name("n")
            .instance_description("d")
            .kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/k")
            .version_number(2.0)
            .build()
            .unwrap();
        let output = DeleteOutput { instance: InstanceRecord::try_from(&instance).unwrap(), target: Default::default(), dry_run: false };
        assert_eq!(
            serde_json::to_value(&output).unwrap(),
            json!({"instance": {
                "instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1", "awsAccountId": "123456789012",
                "state": "Deleting", "errorMessage": "e", "webAppDnsDomain": "example",
                "createdTime": "2023-11-14T22:13:20Z", "lastModifiedTime": "2023-11-14T22:13:21.5Z",
                "instanceName": "n", "instanceDescription": "d",
                "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k", "versionNumber": 2.0
            }})
        );
    }

    #[test]
    fn times_are_rounded_to_the_millisecond() {
        // What the SDK reads from the service's 1796163236.188.
        let read = aws_smithy_types::DateTime::from_fractional_secs(1_796_163_236, 0.187_999_963_760_376);
        assert_eq!(timestamp(read), "2026-12-01T22:13:56.188Z");
        assert_eq!(timestamp(aws_smithy_types::DateTime::from_fractional_secs(1_796_163_236, 0.999_9)), "2026-12-01T22:13:57Z");
        assert_eq!(timestamp(aws_smithy_types::DateTime::from_secs(1_796_163_236)), "2026-12-01T22:13:56Z");
        assert_eq!(timestamp(aws_smithy_types::DateTime::from_millis(1_796_163_236_500)), "2026-12-01T22:13:56.5Z");
    }

    #[test]
    fn absent_members_are_left_out_and_unknown_states_pass_through() {
        let instance = Instance::builder()
            .instance_id("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1")
            .aws_account_id("123456789012")
            .state(InstanceState::from("Archiving"))
            .build()
            .unwrap();
        let output = DeleteOutput { instance: InstanceRecord::try_from(&instance).unwrap(), target: Default::default(), dry_run: true };
        assert_eq!(
            serde_json::to_value(&output).unwrap(),
            json!({"instance": {"instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1",
                "awsAccountId": "123456789012", "state": "Archiving"}, "dryRun": true})
        );
    }

    #[test]
    fn a_record_reads_back_as_it_was_written_and_an_unknown_state_keeps_its_name() {
        let written = json!({"instanceId": "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1", "awsAccountId": "123456789012",
            "state": "Archiving", "createdTime": "2023-11-14T22:13:20Z"});
        let record: InstanceRecord = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(record.state, InstanceState::from("Archiving"));
        assert_eq!(serde_json::to_value(&record).unwrap(), written);
    }

    #[test]
    fn an_instance_whose_id_is_not_an_instance_id_is_unusable_and_says_why() {
        let instance = Instance::builder().instance_id("../x").aws_account_id("123456789012").state(InstanceState::Active).build().unwrap();
        let unusable = InstanceRecord::try_from(&instance).unwrap_err();
        assert_eq!((unusable.instance_id.as_str(), &unusable.state), ("../x", &InstanceState::Active));
        assert!(unusable.problem.contains("not a valid Supply Chain instance id"), "{}", unusable.problem);
    }
}
