//! Accounts, the IAM roles they hold, and the sessions STS AssumeRole issues for those roles.
//!
//! A call acts in the account of the credentials that signed it: the emulator's base credentials
//! act in its home account (`EmulatorConfig::account_id`), session credentials in the account of
//! the role they were issued for. Trust is decided here, the way IAM reads a role's trust policy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sigv4::StaticCredentials;

/// The longest session IAM grants a role by default (its `MaxSessionDuration`), and the
/// `DurationSeconds` AssumeRole uses when the request has none.
pub const DEFAULT_SESSION_SECONDS: u64 = 3600;

/// The longest `MaxSessionDuration` IAM accepts for a role (12 hours).
pub const MAX_SESSION_SECONDS: u64 = 43_200;

/// An account and the roles it holds.
///
/// JSON: `{"accountId": "210987654321", "roles": [{"name": "SupplyChainInstanceDeletion",
/// "trusts": ["123456789012"]}]}` (camelCase, unknown fields refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    /// The 12-digit account id.
    pub account_id: String,
    /// The roles of the account.
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl Account {
    /// An account with the given roles.
    pub fn new(account_id: impl Into<String>, roles: Vec<Role>) -> Account {
        Account { account_id: account_id.into(), roles }
    }
}

/// An IAM role: its name and who its trust policy lets assume it.
///
/// JSON: `{"name": "SupplyChainInstanceDeletion", "trusts": ["123456789012"],
/// "maxSessionSeconds": 3600}`; `maxSessionSeconds` may be left out (3600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Role {
    /// The role name (the last part of its ARN; paths are not modelled).
    pub name: String,
    /// The principals of the trust policy: an account id or `arn:aws:iam::ACCOUNT:root` (every
    /// principal of that account), or a role ARN `arn:aws:iam::ACCOUNT:role/NAME` (that role's
    /// sessions, or the base credentials when `EmulatorConfig::home_principal_arn` names it).
    #[serde(default)]
    pub trusts: Vec<String>,
    /// The role's `MaxSessionDuration`: the longest `DurationSeconds` AssumeRole grants (3600
    /// when absent, as IAM creates roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_seconds: Option<u64>,
}

impl Role {
    /// A role trusting the given principals, with IAM's default maximum session.
    pub fn trusting(name: impl Into<String>, trusts: &[&str]) -> Role {
        Role { name: name.into(), trusts: trusts.iter().map(|t| (*t).to_owned()).collect(), max_session_seconds: None }
    }

    /// Whether the trust policy names `caller`.
    pub(crate) fn trusts(&self, caller: &Caller) -> bool {
        self.trusts.iter().any(|principal| {
            match account_of_principal(principal) {
                // An account principal delegates to the account: any of its principals may assume.
                Some(account) => account == caller.account_id,
                None => caller.principals().any(|arn| arn == principal),
            }
        })
    }
}

/// The account a trust principal names as a whole (`123456789012` or `arn:aws:iam::123456789012:root`).
fn account_of_principal(principal: &str) -> Option<&str> {
    let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if is_account(principal) {
        return Some(principal);
    }
    let parts: Vec<&str> = principal.split(':').collect();
    match parts[..] {
        ["arn", _, "iam", "", account, "root"] if is_account(account) => Some(account),
        _ => None,
    }
}

/// The parts of a role ARN `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleArn {
    pub(crate) partition: String,
    pub(crate) account_id: String,
    pub(crate) name: String,
}

impl RoleArn {
    pub(crate) fn parse(arn: &str) -> Option<RoleArn> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", partition, "iam", "", account, resource] = parts[..] else {
            return None;
        };
        let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
        if !partition.starts_with("aws") || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
            return None;
        }
        Some(RoleArn { partition: partition.into(), account_id: account.into(), name: name.into() })
    }
}

/// Credentials AssumeRole issued: who they stand for and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// Access key id (`ASIA…`), secret and session token.
    pub(crate) credentials: StaticCredentials,
    /// The account of the role.
    pub(crate) account_id: String,
    /// The role, `arn:aws:iam::ACCOUNT:role/NAME`.
    pub(crate) role_arn: String,
    /// The session's principal, `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`.
    pub(crate) assumed_role_arn: String,
    /// `AROA…:SESSION`, as STS answers it.
    pub(crate) assumed_role_id: String,
    /// When the credentials stop working, on the emulator clock (since the Unix epoch).
    pub(crate) expires: Duration,
}

impl Session {
    /// Issues fresh credentials for `role` with the session name `session_name`.
    pub(crate) fn issue(role: &RoleArn, session_name: &str, expires: Duration) -> Session {
        let hex = |n: usize| uuid::Uuid::new_v4().simple().to_string().to_ascii_uppercase()[..n].to_owned();
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let token = format!("FwoGZXIvYXdzE{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let RoleArn { partition, account_id, name } = role;
        Session {
            credentials: StaticCredentials {
                access_key_id: format!("ASIA{}", hex(16)),
                secret_access_key: secret,
                session_token: Some(token),
            },
            account_id: account_id.clone(),
            role_arn: format!("arn:{partition}:iam::{account_id}:role/{name}"),
            assumed_role_arn: format!("arn:{partition}:sts::{account_id}:assumed-role/{name}/{session_name}"),
            assumed_role_id: format!("AROA{}:{session_name}", hex(17)),
            expires,
        }
    }
}

/// Who signed a call, once its signature is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The account the call acts in.
    pub(crate) account_id: String,
    /// The principal: the home principal for base credentials, the assumed-role ARN for a session.
    pub(crate) arn: String,
    /// For a session: the role it was issued for, which trust policies name.
    pub(crate) role_arn: Option<String>,
}

impl Caller {
    /// The ARNs a trust policy may name this caller by.
    fn principals(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.arn.as_str()).chain(self.role_arn.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Caller {
        Caller { account_id: "123456789012".into(), arn: "arn:aws:iam::123456789012:role/Central".into(), role_arn: None }
    }

    #[test]
    fn an_account_principal_trusts_every_principal_of_that_account() {
        assert!(Role::trusting("R", &["123456789012"]).trusts(&home()));
        assert!(Role::trusting("R", &["arn:aws:iam::123456789012:root"]).trusts(&home()));
        assert!(!Role::trusting("R", &["210987654321"]).trusts(&home()));
        assert!(!Role::trusting("R", &[]).trusts(&home()));
    }

    #[test]
    fn a_role_principal_trusts_only_that_role() {
        assert!(Role::trusting("R", &["arn:aws:iam::123456789012:role/Central"]).trusts(&home()));
        assert!(!Role::trusting("R", &["arn:aws:iam::123456789012:role/Other"]).trusts(&home()));
        let session = Caller {
            account_id: "210987654321".into(),
            arn: "arn:aws:sts::210987654321:assumed-role/Hop/s".into(),
            role_arn: Some("arn:aws:iam::210987654321:role/Hop".into()),
        };
        assert!(Role::trusting("R", &["arn:aws:iam::210987654321:role/Hop"]).trusts(&session));
    }

    #[test]
    fn role_arns_yield_partition_account_and_name() {
        let arn = RoleArn::parse("arn:aws:iam::210987654321:role/path/to/Deleter").unwrap();
        assert_eq!((arn.partition.as_str(), arn.account_id.as_str(), arn.name.as_str()), ("aws", "210987654321", "Deleter"));
        assert!(RoleArn::parse("arn:aws:iam::21098765432:role/X").is_none());
        assert!(RoleArn::parse("arn:aws:s3:::bucket").is_none());
        assert!(RoleArn::parse("arn:aws:iam::210987654321:user/X").is_none());
    }

    #[test]
    fn issued_sessions_look_like_sts_credentials() {
        let role = RoleArn::parse("arn:aws:iam::210987654321:role/Deleter").unwrap();
        let session = Session::issue(&role, "sweep", Duration::from_secs(1));
        assert!(session.credentials.access_key_id.starts_with("ASIA") && session.credentials.access_key_id.len() == 20);
        assert_eq!(session.credentials.secret_access_key.len(), 40);
        assert_eq!(session.assumed_role_arn, "arn:aws:sts::210987654321:assumed-role/Deleter/sweep");
        assert!(session.assumed_role_id.ends_with(":sweep"));
    }
}
