//! Where an instance lives: its account and region. A request may name them (`accountId`,
//! `region`); without them it means the function's own. Which targets a request may reach is
//! decided here, in one place, before any call ([`Target::resolve`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{kind_of, quoted, Error};

/// An AWS account id: 12 decimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// A region name such as `eu-west-1` or `us-gov-west-1`: lowercase words joined by `-`, ending in
/// a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl AccountId {
    /// Validates `value`, naming `field` in the error.
    pub fn parse(field: &str, value: &Value) -> Result<AccountId, Error> {
        let text = string(field, value)?;
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(text.to_owned()))
        } else {
            Err(Error::InvalidInput(format!("{field} {} is not an AWS account id: 12 digits are expected", quoted(text))))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Region {
    /// Validates `value`, naming `field` in the error.
    pub fn parse(field: &str, value: &Value) -> Result<Region, Error> {
        let text = string(field, value)?;
        let words: Vec<&str> = text.split('-').collect();
        let well_formed = words.len() >= 3
            && text.len() <= 32
            && words[..words.len() - 1].iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
            && words.last().is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()));
        if well_formed {
            Ok(Region(text.to_owned()))
        } else {
            Err(Error::InvalidInput(format!(
                "{field} {} is not an AWS region name such as \"eu-west-1\" or \"us-gov-west-1\"",
                quoted(text)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn string<'v>(field: &str, value: &'v Value) -> Result<&'v str, Error> {
    value.as_str().ok_or_else(|| Error::InvalidInput(format!("{field} must be a string, got {}", kind_of(value))))
}

macro_rules! text_wire_form {
    ($type:ident, $field:literal) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        /// Read back with the same validation as `parse`.
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $type::parse($field, &Value::String(text)).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_wire_form!(AccountId, "accountId");
text_wire_form!(Region, "region");

/// The account and region a request names, each optional: absent means the function's own. On the
/// wire, `accountId` and `region` beside `instanceId`; both left out for the function's own, so
/// that records and events of the function's own account read exactly as before.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

/// The one rule of `ALLOWED_ACCOUNT_IDS`: an account other than the function's own is allowed when
/// the list names it, or when the list is empty.
pub fn account_allowed(allowed: &[AccountId], account: &AccountId) -> bool {
    allowed.is_empty() || allowed.contains(account)
}

/// Every (account, region) pair, accounts first: the targets of a sweep of `accounts` x `regions`.
pub fn every_pair<A: Clone, R: Clone>(accounts: &[A], regions: &[R]) -> Vec<(A, R)> {
    accounts.iter().flat_map(|account| regions.iter().map(move |region| (account.clone(), region.clone()))).collect()
}

/// The request members that name a target.
pub const TARGET_MEMBERS: [&str; 2] = ["accountId", "region"];

/// Where the function itself runs, and which other targets it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The function's own account, from its ARN; `None` where a local runtime sends a placeholder.
    pub home_account: Option<AccountId>,
    /// The function's own region.
    pub home_region: Region,
    /// `ALLOWED_ACCOUNT_IDS`: the other accounts it may act in; empty: any whose role it can assume.
    pub accounts: Vec<AccountId>,
    /// `ALLOWED_REGIONS`: the other regions it may act in; empty: its own only.
    pub regions: Vec<Region>,
}

impl Target {
    /// The target members of a request object (`what` names it in errors).
    pub fn read(what: &str, object: &Map<String, Value>) -> Result<Target, Error> {
        let field = |name: &str| if what == "the event" { name.to_owned() } else { format!("{name} in {what}") };
        Ok(Target {
            account_id: object.get("accountId").map(|value| AccountId::parse(&field("accountId"), value)).transpose()?,
            region: object.get("region").map(|value| Region::parse(&field("region"), value)).transpose()?,
        })
    }

    /// Whether the target is the function's own account and region.
    pub fn is_home(&self) -> bool {
        self.account_id.is_none() && self.region.is_none()
    }

    /// Decides where a request may act, before any call. `sender` is the account an EventBridge
    /// event came from (its top-level `account`, set by EventBridge and not forgeable by the
    /// sender).
    ///
    /// - A request from another account may target only that account: without `accountId` it
    ///   targets the sender, and naming a third account is `AccountNotAllowed`. Otherwise one
    ///   account could have the functions delete in another (a confused deputy).
    /// - An account other than the function's own must be in `ALLOWED_ACCOUNT_IDS`, when that is set.
    /// - A region other than the function's own must be in `ALLOWED_REGIONS`.
    ///
    /// The result names only what differs from the function's own account and region, so a
    /// request for its own account and region acts exactly as one that names neither.
    pub fn resolve(&self, sender: Option<&AccountId>, reach: &Reach) -> Result<Target, Error> {
        let is_home = |account: &AccountId| reach.home_account.as_ref() == Some(account);
        let mut account = self.account_id.clone();
        if let Some(sender) = sender.filter(|sender| reach.home_account.is_some() && !is_home(sender)) {
            match &account {
                Some(named) if named != sender => {
                    return Err(Error::AccountNotAllowed(format!(
                        "the event comes from account {sender} but names accountId {named}: a request from another account may \
                         only target that account"
                    )))
                }
                _ => account = Some(sender.clone()),
            }
        }
        let account = account.filter(|account| !is_home(account));
        if let Some(account) = &account {
            if !account_allowed(&reach.accounts, account) {
                return Err(Error::AccountNotAllowed(format!(
                    "account {account} is not in ALLOWED_ACCOUNT_IDS ({})",
                    list(&reach.accounts)
                )));
            }
        }
        let region = self.region.clone().filter(|region| *region != reach.home_region);
        if let Some(region) = &region {
            if !reach.regions.contains(region) {
                return Err(Error::RegionNotAllowed(format!(
                    "region {region} is not allowed: the function acts in its own region {} and in ALLOWED_REGIONS ({})",
                    reach.home_region,
                    if reach.regions.is_empty() { "empty".to_owned() } else { list(&reach.regions) }
                )));
            }
        }
        Ok(Target { account_id: account, region })
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn account(text: &str) -> AccountId {
        AccountId::parse("accountId", &json!(text)).unwrap()
    }

    fn region(text: &str) -> Region {
        Region::parse("region", &json!(text)).unwrap()
    }

    fn reach(accounts: &[&str], regions: &[&str]) -> Reach {
        Reach {
            home_account: Some(account("111111111111")),
            home_region: region("us-east-1"),
            accounts: accounts.iter().map(|a| account(a)).collect(),
            regions: regions.iter().map(|r| region(r)).collect(),
        }
    }

    fn target(account_id: Option<&str>, region_name: Option<&str>) -> Target {
        Target { account_id: account_id.map(account), region: region_name.map(region) }
    }

    #[test]
    fn account_ids_are_twelve_digits_and_regions_are_region_names() {
        for bad in ["12345678901", "1234567890123", "12345678901a", ""] {
            let error = AccountId::parse("accountId", &json!(bad)).unwrap_err();
            assert_eq!(error.error_type(), "InvalidInput", "{bad}");
            assert!(error.to_string().contains("12 digits"), "{error}");
        }
        assert_eq!(AccountId::parse("accountId", &json!(123456789012u64)).unwrap_err().error_type(), "InvalidInput");
        for good in ["us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1", "eu-isoe-west-1", "ap-southeast-10"] {
            assert_eq!(region(good).as_str(), good);
        }
        for bad in ["US-EAST-1", "us-east", "useast1", "us-east-1 ", "us--1", "-east-1", "us-east-123"] {
            assert_eq!(Region::parse("region", &json!(bad)).unwrap_err().error_type(), "InvalidInput", "{bad:?}");
        }
    }

    #[test]
    fn a_request_without_a_target_or_naming_the_functions_own_acts_at_home() {
        let reach = reach(&[], &[]);
        assert_eq!(target(None, None).resolve(None, &reach), Ok(Target::default()));
        assert_eq!(target(Some("111111111111"), Some("us-east-1")).resolve(None, &reach), Ok(Target::default()));
        let own = account("111111111111");
        assert_eq!(target(None, None).resolve(Some(&own), &reach), Ok(Target::default()));
    }

    #[test]
    fn an_event_from_another_account_targets_that_account_and_no_other() {
        let reach = reach(&[], &[]);
        let sender = account("222222222222");
        assert_eq!(target(None, None).resolve(Some(&sender), &reach), Ok(target(Some("222222222222"), None)));
        assert_eq!(target(Some("222222222222"), None).resolve(Some(&sender), &reach), Ok(target(Some("222222222222"), None)));
        for named in ["333333333333", "111111111111"] {
            let error = target(Some(named), None).resolve(Some(&sender), &reach).unwrap_err();
            assert_eq!(error.error_type(), "AccountNotAllowed", "{named}");
            assert!(error.to_string().contains("comes from account 222222222222"), "{error}");
        }
    }

    #[test]
    fn the_functions_own_account_may_target_any_allowed_account() {
        let own = account("111111111111");
        let open = reach(&[], &[]);
        assert_eq!(target(Some("333333333333"), None).resolve(Some(&own), &open), Ok(target(Some("333333333333"), None)));
        let listed = reach(&["222222222222"], &[]);
        assert_eq!(target(Some("222222222222"), None).resolve(None, &listed), Ok(target(Some("222222222222"), None)));
        let error = target(Some("333333333333"), None).resolve(None, &listed).unwrap_err();
        assert_eq!(error.error_type(), "AccountNotAllowed");
        assert!(error.to_string().contains("not in ALLOWED_ACCOUNT_IDS (222222222222)"), "{error}");
        let error = target(None, None).resolve(Some(&account("333333333333")), &listed).unwrap_err();
        assert_eq!(error.error_type(), "AccountNotAllowed");
    }

    #[test]
    fn another_region_must_be_allowed_and_none_is_by_default() {
        let error = target(None, Some("eu-west-1")).resolve(None, &reach(&[], &[])).unwrap_err();
        assert_eq!(error.error_type(), "RegionNotAllowed");
        assert!(error.to_string().contains("ALLOWED_REGIONS (empty)"), "{error}");
        let allowed = reach(&[], &["eu-west-1"]);
        assert_eq!(target(None, Some("eu-west-1")).resolve(None, &allowed), Ok(target(None, Some("eu-west-1"))));
        assert_eq!(target(None, Some("eu-central-1")).resolve(None, &allowed).unwrap_err().error_type(), "RegionNotAllowed");
    }

    #[test]
    fn without_its_own_account_a_function_takes_the_senders_as_its_own() {
        // Local runtimes send a placeholder ARN: nothing tells the sender's account from the function's.
        let reach = Reach { home_account: None, ..reach(&[], &[]) };
        let sender = account("222222222222");
        assert_eq!(target(None, None).resolve(Some(&sender), &reach), Ok(Target::default()));
        assert_eq!(target(Some("333333333333"), None).resolve(Some(&sender), &reach), Ok(target(Some("333333333333"), None)));
    }

    #[test]
    fn a_target_reads_back_as_it_was_written_and_the_functions_own_writes_nothing() {
        assert_eq!(serde_json::to_value(Target::default()).unwrap(), json!({}));
        let written = json!({"accountId": "222222222222", "region": "eu-west-1"});
        let read: Target = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), written);
        assert!(serde_json::from_value::<Target>(json!({"accountId": "2222"})).is_err());
    }
}
