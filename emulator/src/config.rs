//! How an emulator behaves: its home account and regions, the accounts and roles it holds, the
//! credentials it checks, and the timing of an instance's lifecycle.

use std::time::Duration;

use crate::accounts::Account;
use crate::sigv4::StaticCredentials;

/// How an `Emulator` behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The home account (default `123456789012`): calls signed with the base credentials act in
    /// it, and instances seeded without an account belong to it.
    pub account_id: String,
    /// The home region (default `us-east-1`): served, and the region of instances seeded without one.
    pub region: String,
    /// More regions served besides `region` (none by default). A call acts in the region of its
    /// signature's credential scope; a region not served is refused (403).
    pub extra_regions: Vec<String>,
    /// The accounts and their roles, for STS AssumeRole (none by default). The home account may be
    /// listed too, for roles of its own.
    pub accounts: Vec<Account>,
    /// The shortest `DurationSeconds` AssumeRole accepts (default 900, as STS); lower it so tests
    /// can see sessions expire.
    pub min_session_seconds: u64,
    /// The principal the base credentials stand for in trust policies, for example the function's
    /// role `arn:aws:iam::123456789012:role/DeleteFunctionRole`; `arn:aws:iam::ACCOUNT:root` of the
    /// home account when absent.
    pub home_principal_arn: Option<String>,
    /// When set, the access key must match and signatures are recomputed and compared.
    pub credentials: Option<StaticCredentials>,
    /// Time an instance stays `Initializing` after CreateInstance.
    pub create_delay: Duration,
    /// Time an instance stays `Deleting` (unless it was seeded with `deletePolls`).
    pub delete_delay: Duration,
    /// Time a `Deleted` instance stays readable before it answers 404 (default 60 s).
    pub deleted_retention: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            extra_regions: Vec::new(),
            accounts: Vec::new(),
            min_session_seconds: 900,
            home_principal_arn: None,
            credentials: None,
            create_delay: Duration::ZERO,
            delete_delay: Duration::ZERO,
            deleted_retention: Duration::from_secs(60),
        }
    }
}

impl EmulatorConfig {
    /// Every region served: `region`, then `extra_regions`.
    pub fn regions(&self) -> Vec<String> {
        let mut regions = vec![self.region.clone()];
        regions.extend(self.extra_regions.iter().filter(|r| **r != self.region).cloned());
        regions
    }

    /// The principal of the base credentials: `home_principal_arn`, or the home account's root.
    pub fn home_principal(&self) -> String {
        self.home_principal_arn.clone().unwrap_or_else(|| format!("arn:aws:iam::{}:root", self.account_id))
    }

    /// Adds `account`, or merges its roles into the account of the same id (a role of the same
    /// name is replaced).
    pub(crate) fn add_account(&mut self, account: Account) {
        match self.accounts.iter_mut().find(|a| a.account_id == account.account_id) {
            None => self.accounts.push(account),
            Some(existing) => {
                for role in account.roles {
                    existing.roles.retain(|r| r.name != role.name);
                    existing.roles.push(role);
                }
            }
        }
    }
}
