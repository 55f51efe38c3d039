//! The adapter to AWS Supply Chain: the calls the functions make, each bounded by the
//! invocation's budget and each failure classified into [`Error`].

use std::collections::HashMap;

use aws_sdk_supplychain::Client;

use crate::deadline::Budget;
use crate::error::Error;
use crate::input::InstanceId;
use crate::record::InstanceRecord;

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
    pub async fn list_instances_page(
        &self,
        next_token: Option<&str>,
        budget: &Budget,
    ) -> Result<(Vec<InstanceRecord>, Option<String>), Error> {
        const OP: &str = "ListInstances";
        const PAGE_SIZE: i32 = 20;
        let call = self.client.list_instances().max_results(PAGE_SIZE).set_next_token(next_token.map(str::to_owned));
        let output = budget.within(OP, call.send()).await?.map_err(|e| Error::from_supply_chain(OP, e))?;
        let instances = output.instances().iter().map(InstanceRecord::from).collect();
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

fn record_of(operation: &str, instance: Option<&aws_sdk_supplychain::types::Instance>) -> Result<InstanceRecord, Error> {
    instance
        .map(InstanceRecord::from)
        .ok_or_else(|| Error::Unexpected(format!("{operation} answered without the required \"instance\"")))
}

/// The instance's ARN, `arn:{partition}:scn:{region}:{account}:instance/{id}`, with the partition and
/// account taken from the invoked function's ARN (`arn:{partition}:lambda:{region}:{account}:function:...`).
pub fn instance_arn(function_arn: &str, region: Option<&str>, id: &InstanceId) -> Result<String, Error> {
    let parts: Vec<&str> = function_arn.splitn(7, ':').collect();
    let (partition, function_region, account) = match parts.as_slice() {
        ["arn", partition, "lambda", region, account, "function", _] if !partition.is_empty() && account.len() == 12 => {
            (*partition, *region, *account)
        }
        _ => {
            return Err(Error::Unexpected(format!(
                "the invoked function ARN {function_arn:?} does not name a partition and account, so the instance's \
                 ARN for the deletion-protection check cannot be built"
            )))
        }
    };
    let region = region.unwrap_or(function_region);
    Ok(format!("arn:{partition}:scn:{region}:{account}:instance/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> InstanceId {
        InstanceId::parse("instanceId", &json!("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1")).unwrap()
    }

    #[test]
    fn the_instance_arn_takes_partition_and_account_from_the_function_arn() {
        let arn = instance_arn("arn:aws-cn:lambda:cn-north-1:210987654321:function:delete:live", Some("cn-north-1"), &id());
        assert_eq!(arn.unwrap(), "arn:aws-cn:scn:cn-north-1:210987654321:instance/1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1");
    }

    #[test]
    fn a_function_arn_without_account_is_an_error_not_a_guess() {
        let error = instance_arn("No header lambda-runtime-invoked-function-arn found.", None, &id()).unwrap_err();
        assert_eq!(error.error_type(), "Unexpected");
    }
}
