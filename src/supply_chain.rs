//! The adapter to AWS Supply Chain: the calls the functions make, each bounded by the
//! invocation's budget and each failure classified into [`Error`].

use std::collections::HashMap;

use aws_sdk_supplychain::Client;

use crate::deadline::Budget;
use crate::error::Error;
use crate::model::{InstanceId, InstanceRecord, UnusableInstance};

/// Supply Chain calls on one SDK client, built once at init.
#[derive(Debug, Clone)]
pub struct SupplyChain {
    client: Client,
}

impl SupplyChain {
    pub fn new(client: Client) -> Self {
        SupplyChain { client }
    }

    /// The region the client calls, which is the region of the instances it can delete.
    pub fn region(&self) -> Option<&str> {
        self.client.config().region().map(|r| r.as_ref())
    }

    /// The ARN of instance `id`: partition and account from the invoked function's ARN; where that
    /// is a placeholder (local runtimes), the account from the instance's own `record`
    /// (`awsAccountId`) and the partition from the region. `None` when neither names an account.
    pub fn instance_arn(&self, id: &InstanceId, function_arn: &str, record: Option<&InstanceRecord>) -> Option<String> {
        let region = self.region()?;
        let (partition, account) = match partition_and_account(function_arn) {
            Some(parts) => parts,
            None => (partition_of(region).to_owned(), record?.aws_account_id.clone()),
        };
        Some(instance_arn(&partition, region, &account, id))
    }

    pub async fn get_instance(&self, id: &InstanceId, budget: &Budget) -> Result<InstanceRecord, Error> {
        const OP: &str = "GetInstance";
        let output = budget
            .within(OP, self.client.get_instance().instance_id(id.as_str()).send())
            .await?
            .map_err(|e| Error::from_supply_chain(OP, e))?;
        record_of(OP, output.instance())
    }

    pub async fn delete_instance(&self, id: &InstanceId, budget: &Budget) -> Result<InstanceRecord, Error> {
        const OP: &str = "DeleteInstance";
        let output = budget
            .within(OP, self.client.delete_instance().instance_id(id.as_str()).send())
            .await?
            .map_err(|e| Error::from_supply_chain(OP, e))?;
        record_of(OP, output.instance())
    }

    /// One page of ListInstances, every state included, with the token of the next page if there is
    /// one. Pages are asked at the service's largest size (20 instances), to make the fewest calls.
    /// An instance listed with an id that is not an instance id is kept as [`UnusableInstance`].
    pub(crate) async fn list_instances_page(
        &self,
        next_token: Option<&str>,
        budget: &Budget,
    ) -> Result<(Vec<Listed>, Option<String>), Error> {
        const OP: &str = "ListInstances";
        const PAGE_SIZE: i32 = 20;
        let call = self.client.list_instances().max_results(PAGE_SIZE).set_next_token(next_token.map(str::to_owned));
        let output = budget.within(OP, call.send()).await?.map_err(|e| Error::from_supply_chain(OP, e))?;
        let instances = output.instances().iter().map(InstanceRecord::try_from).collect();
        Ok((instances, output.next_token().filter(|token| !token.is_empty()).map(str::to_owned)))
    }

    pub async fn tags(&self, resource_arn: &str, budget: &Budget) -> Result<HashMap<String, String>, Error> {
        const OP: &str = "ListTagsForResource";
        let output = budget
            .within(OP, self.client.list_tags_for_resource().resource_arn(resource_arn).send())
            .await?
            .map_err(|e| Error::from_supply_chain(OP, e))?;
        Ok(output.tags)
    }
}

/// One instance of a ListInstances page.
pub(crate) type Listed = Result<InstanceRecord, UnusableInstance>;

fn record_of(operation: &str, instance: Option<&aws_sdk_supplychain::types::Instance>) -> Result<InstanceRecord, Error> {
    let instance = instance.ok_or_else(|| Error::Unexpected(format!("{operation} answered without the required \"instance\"")))?;
    InstanceRecord::try_from(instance).map_err(|unusable| unusable.into_error(operation))
}

/// The partition and account of the invoked function's ARN
/// (`arn:{partition}:lambda:{region}:{account}:function:...`), or `None` when the ARN does not name
/// them: local runtimes send placeholders (cargo-lambda sends `function-arn`).
pub(crate) fn partition_and_account(function_arn: &str) -> Option<(String, String)> {
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
pub(crate) fn partition_of(region: &str) -> &'static str {
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
