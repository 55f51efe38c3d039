//! ARNs: where the function runs ([`Home`], from the invoked function's ARN), the partition of a
//! region, and an instance's ARN.

use serde_json::Value;

use super::{AccountId, InstanceId, Region};
use crate::error::Error;

/// Where the function runs: the partition and account of its ARN, and the region of its own
/// client. Resolved once, from the first invocation's ARN (Lambda names the account nowhere else),
/// and asked by every place that needs one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub partition: String,
    /// `None` where a local runtime sends a placeholder ARN.
    pub account: Option<AccountId>,
    pub region: Region,
}

impl Home {
    /// The home of a function invoked as `function_arn` whose own client calls `region`. Where the
    /// ARN is a placeholder, the partition is the region's.
    pub fn resolve(function_arn: &str, region: &str) -> Result<Home, Error> {
        let region = Region::parse("the function's region", &Value::from(region))?;
        Ok(match partition_and_account(function_arn) {
            Some((partition, account)) => {
                Home { partition, account: AccountId::parse("the function's account", &Value::from(account)).ok(), region }
            }
            None => Home { partition: partition_of(region.as_str()).to_owned(), account: None, region },
        })
    }
}

/// The partition and account of the invoked function's ARN
/// (`arn:{partition}:lambda:{region}:{account}:function:...`), or `None` when the ARN does not name
/// them: local runtimes send placeholders (cargo-lambda sends `function-arn`).
pub fn partition_and_account(function_arn: &str) -> Option<(String, String)> {
    match function_arn.splitn(7, ':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, "lambda", _, account, "function", _]
            if !partition.is_empty() && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((partition.to_string(), account.to_string()))
        }
        _ => None,
    }
}

/// The partition a region belongs to, by the region name's prefix (AWS's partitions: `aws-cn` for
/// China, `aws-us-gov` for GovCloud, the `aws-iso*` partitions); every other region is in `aws`.
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
    ];
    PREFIXES.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("aws", |(_, partition)| partition)
}

/// The instance's ARN, `arn:{partition}:scn:{region}:{account}:instance/{id}`.
pub fn instance_arn(partition: &str, region: &str, account: &str, id: &InstanceId) -> String {
    format!("arn:{partition}:scn:{region}:{account}:instance/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> InstanceId {
        InstanceId::parse("instanceId", &json!("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1")).unwrap()
    }

    #[test]
    fn a_function_arn_names_partition_and_account() {
        assert_eq!(
            partition_and_account("arn:aws-cn:lambda:cn-north-1:210987654321:function:delete:live"),
            Some(("aws-cn".to_owned(), "210987654321".to_owned()))
        );
    }

    #[test]
    fn placeholders_of_local_runtimes_name_no_account() {
        for arn in [
            "function-arn",
            "No header lambda-runtime-invoked-function-arn found.",
            "arn:aws:lambda:us-east-1:012345678901:function",
            "arn:aws:lambda:us-east-1:account-id:function:f",
            "",
        ] {
            assert_eq!(partition_and_account(arn), None, "{arn}");
        }
    }

    #[test]
    fn the_partition_follows_the_region() {
        let cases = [
            ("us-east-1", "aws"),
            ("eu-central-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
        ];
        for (region, partition) in cases {
            assert_eq!(partition_of(region), partition, "{region}");
        }
    }

    #[test]
    fn the_instance_arn_is_built_from_its_parts() {
        assert_eq!(
            instance_arn("aws-cn", "cn-north-1", "210987654321", &id()),
            "arn:aws-cn:scn:cn-north-1:210987654321:instance/1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1"
        );
    }
}
