//! The adapter to AWS Supply Chain: the calls the functions make, each bounded by the
//! invocation's budget and each failure classified into [`Error`].

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_supplychain::error::SdkError;
use aws_sdk_supplychain::Client;

use crate::config::CommonSettings;
use crate::deadline::Budget;
use crate::error::{Error, ServiceErrorKind};
use crate::model::arn::instance_arn;
use crate::model::{AccountId, Home, InstanceId, InstanceRecord, Reach, Target, UnusableInstance};

/// Supply Chain calls on one SDK client.
#[derive(Debug, Clone)]
pub struct SupplyChain {
    client: Client,
    /// The account the client acts in, when it is another than the function's own.
    account: Option<String>,
    /// The member role the client's credentials come from, when it acts in another account.
    role_arn: Option<String>,
}

impl SupplyChain {
    /// The client of the function's own account and region, with its own credentials.
    pub fn new(client: Client) -> Self {
        SupplyChain { client, account: None, role_arn: None }
    }

    /// Classifies a failed call, naming the member role when its credentials were the failure.
    fn failed<E>(&self, operation: &str, err: SdkError<E>) -> Error
    where
        E: ServiceErrorKind + aws_sdk_supplychain::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match (Error::from_supply_chain(operation, err), &self.role_arn) {
            (Error::RoleNotAssumable(message), Some(role)) => Error::RoleNotAssumable(format!("role {role} cannot be assumed: {message}")),
            (error, _) => error,
        }
    }

    /// The region the client calls, which is the region of the instances it can delete.
    pub fn region(&self) -> Option<&str> {
        self.client.config().region().map(|r| r.as_ref())
    }

    /// The ARN of instance `id`, in the client's region and account: the member account it acts
    /// in, else the function's own ([`Home`]); where that is unknown (a local runtime's placeholder
    /// ARN), the instance's own `record` (`awsAccountId`). `None` when none names an account.
    pub fn instance_arn(&self, id: &InstanceId, home: &Home, record: Option<&InstanceRecord>) -> Option<String> {
        let account = match (&self.account, &home.account) {
            (Some(account), _) => account.clone(),
            (None, Some(account)) => account.to_string(),
            (None, None) => record?.aws_account_id.clone(),
        };
        Some(instance_arn(&home.partition, self.region()?, &account, id))
    }

    pub async fn get_instance(&self, id: &InstanceId, budget: &Budget) -> Result<InstanceRecord, Error> {
        const OP: &str = "GetInstance";
        let output =
            budget.within(OP, self.client.get_instance().instance_id(id.as_str()).send()).await?.map_err(|e| self.failed(OP, e))?;
        record_of(OP, output.instance())
    }

    pub async fn delete_instance(&self, id: &InstanceId, budget: &Budget) -> Result<InstanceRecord, Error> {
        const OP: &str = "DeleteInstance";
        let output =
            budget.within(OP, self.client.delete_instance().instance_id(id.as_str()).send()).await?.map_err(|e| self.failed(OP, e))?;
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
        let output = budget.within(OP, call.send()).await?.map_err(|e| self.failed(OP, e))?;
        let instances = output.instances().iter().map(InstanceRecord::try_from).collect();
        Ok((instances, output.next_token().filter(|token| !token.is_empty()).map(str::to_owned)))
    }

    pub async fn tags(&self, resource_arn: &str, budget: &Budget) -> Result<HashMap<String, String>, Error> {
        const OP: &str = "ListTagsForResource";
        let output = budget
            .within(OP, self.client.list_tags_for_resource().resource_arn(resource_arn).send())
            .await?
            .map_err(|e| self.failed(OP, e))?;
        Ok(output.tags)
    }

    /// Sets one tag on an instance (the sweep's schedule mark).
    pub async fn tag(&self, resource_arn: &str, key: &str, value: &str, budget: &Budget) -> Result<(), Error> {
        const OP: &str = "TagResource";
        let call = self.client.tag_resource().resource_arn(resource_arn).tags(key, value);
        budget.within(OP, call.send()).await?.map_err(|e| self.failed(OP, e))?;
        Ok(())
    }

    /// Removes one tag from an instance (a schedule mark no longer meant).
    pub async fn untag(&self, resource_arn: &str, key: &str, budget: &Budget) -> Result<(), Error> {
        const OP: &str = "UntagResource";
        let call = self.client.untag_resource().resource_arn(resource_arn).tag_keys(key);
        budget.within(OP, call.send()).await?.map_err(|e| self.failed(OP, e))?;
        Ok(())
    }

    /// The account the client acts in, when it is another than the function's own.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

/// The Supply Chain clients of every target: the function's own, built at init, and one for each
/// other account and region, built on first use and kept for the warm invocations after it. In
/// another account, the client's credentials are the member role's (`MEMBER_ROLE_NAME`), from the
/// SDK's own assume-role provider, which the client's identity cache refreshes before they expire:
/// a warm invocation for an account already seen makes no STS call.
#[derive(Debug, Clone)]
pub struct TargetClients {
    home: SupplyChain,
    members: Option<Arc<Members>>,
    /// Where the function runs, once known ([`TargetClients::home_of`]).
    resolved: Arc<std::sync::OnceLock<Home>>,
}

#[derive(Debug)]
struct Members {
    sdk_config: aws_config::SdkConfig,
    role_name: String,
    session_length: std::time::Duration,
    /// Which function asks, and for what: STS records it, and CloudTrail shows it, in the member account.
    session_name: String,
    clients: tokio::sync::Mutex<Clients>,
    /// One cache for every member client's credentials: with one provider per account (below), the
    /// clients of one account in several regions share its role session, so a sweep of an account
    /// in three regions assumes its role once.
    identity_cache: aws_smithy_runtime_api::client::identity::SharedIdentityCache,
}

#[derive(Debug, Default)]
struct Clients {
    by_target: HashMap<Target, SupplyChain>,
    credentials: HashMap<AccountId, aws_credential_types::provider::SharedCredentialsProvider>,
}

impl From<SupplyChain> for TargetClients {
    fn from(home: SupplyChain) -> TargetClients {
        TargetClients::home_only(home)
    }
}

impl TargetClients {
    /// The function's own client only: a request for another target fails with `Unexpected`.
    pub fn home_only(home: SupplyChain) -> TargetClients {
        TargetClients { home, members: None, resolved: Arc::default() }
    }

    /// Clients for every target: `sdk_config` holds the function's own credentials, which assume
    /// `role_name` in the other accounts.
    pub fn new(
        home: SupplyChain,
        sdk_config: aws_config::SdkConfig,
        role_name: &str,
        session_length: std::time::Duration,
        session_name: &str,
    ) -> TargetClients {
        let members = Members {
            sdk_config,
            role_name: role_name.to_owned(),
            session_length,
            session_name: session_name.to_owned(),
            clients: tokio::sync::Mutex::new(Clients::default()),
            identity_cache: aws_config::identity::IdentityCache::lazy().build(),
        };
        TargetClients { home, members: Some(Arc::new(members)), resolved: Arc::default() }
    }

    /// The function's own client.
    pub fn home(&self) -> &SupplyChain {
        &self.home
    }

    /// Where the function runs: resolved from the first invocation's ARN and the own client's
    /// region, then kept, as neither changes for the life of the process.
    pub fn home_of(&self, function_arn: &str) -> Result<Home, Error> {
        if let Some(home) = self.resolved.get() {
            return Ok(home.clone());
        }
        let region = self.home.region().ok_or_else(|| Error::Unexpected("the Supply Chain client has no region".to_owned()))?;
        let home = Home::resolve(function_arn, region)?;
        Ok(self.resolved.get_or_init(|| home).clone())
    }

    /// Where a request may act ([`Target::resolve`], from the function's `home` and the allow lists
    /// of `settings`), and the client to act there with: decided before any call, so a refusal
    /// costs none.
    pub async fn reaching(
        &self,
        requested: &Target,
        sender: Option<&AccountId>,
        settings: &CommonSettings,
        home: &Home,
    ) -> Result<(Target, SupplyChain), Error> {
        let reach = Reach {
            home_account: home.account.clone(),
            home_region: home.region.clone(),
            accounts: settings.allowed_accounts.clone(),
            regions: settings.allowed_regions.clone(),
        };
        let target = requested.resolve(sender, &reach)?;
        let client = self.at(&target, &home.partition).await?;
        Ok((target, client))
    }

    /// The client of `target` (as [`Target::resolve`] leaves it: what differs from the function's
    /// own); `partition` is the function's.
    async fn at(&self, target: &Target, partition: &str) -> Result<SupplyChain, Error> {
        if target.is_home() {
            return Ok(self.home.clone());
        }
        let members = self.members.as_ref().ok_or_else(|| {
            Error::Unexpected(format!("no client can be made for account {:?}, region {:?}", target.account_id, target.region))
        })?;
        // Held while a client is built (no network: the role is assumed at its first call), so
        // concurrent invocations for one new target build one client.
        let mut clients = members.clients.lock().await;
        if let Some(client) = clients.by_target.get(target) {
            return Ok(client.clone());
        }
        let mut config = aws_sdk_supplychain::config::Builder::from(&members.sdk_config).identity_cache(members.identity_cache.clone());
        if let Some(region) = &target.region {
            config = config.region(aws_config::Region::new(region.as_str().to_owned()));
        }
        let mut role_arn = None;
        if let Some(account) = &target.account_id {
            let role = format!("arn:{partition}:iam::{account}:role/{}", members.role_name);
            let provider = match clients.credentials.get(account) {
                Some(provider) => provider.clone(),
                None => {
                    let provider = AssumeRoleProvider::builder(&role)
                        .session_name(&members.session_name)
                        .session_length(members.session_length)
                        .configure(&members.sdk_config)
                        .build()
                        .await;
                    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(provider);
                    clients.credentials.insert(account.clone(), provider.clone());
                    provider
                }
            };
            // `set_`, not `credentials_provider(..)`: that wraps the provider anew, with a cache partition
            // of its own, and each region would assume the role again.
            config.set_credentials_provider(Some(provider));
            role_arn = Some(role);
        }
        let client = SupplyChain {
            client: Client::from_conf(config.build()),
            account: target.account_id.as_ref().map(ToString::to_string),
            role_arn,
        };
        clients.by_target.insert(target.clone(), client.clone());
        Ok(client)
    }
}

/// One instance of a ListInstances page.
pub(crate) type Listed = Result<InstanceRecord, UnusableInstance>;

fn record_of(operation: &str, instance: Option<&aws_sdk_supplychain::types::Instance>) -> Result<InstanceRecord, Error> {
    let instance = instance.ok_or_else(|| Error::Unexpected(format!("{operation} answered without the required \"instance\"")))?;
    InstanceRecord::try_from(instance).map_err(|unusable| unusable.into_error(operation))
}
