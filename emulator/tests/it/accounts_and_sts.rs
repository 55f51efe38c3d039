//! Several accounts and regions, and STS AssumeRole: the SDK's own assume-role credentials
//! provider (`aws_config::sts::AssumeRoleProvider`) gets session credentials from the emulator with
//! the home credentials, and a Supply Chain client signing with them acts in the role's account and
//! in the region it signs for.

use std::time::Duration;

use crate::support::raw;
use crate::support::supply_chain::{failure, AKID, SECRET};
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_supplychain::config::{Credentials, IdentityCache, ProvideCredentials};
use aws_sdk_supplychain::error::DisplayErrorContext;
use aws_sdk_supplychain::Client;
use serde_json::json;
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Fault, FaultRule, Role, SeedInstance, StaticCredentials};

const HOME: &str = "123456789012";
const MEMBER: &str = "210987654321";
const OTHER: &str = "345678901234";
const ROLE: &str = "SupplyChainInstanceDeletion";
const HOME_REGION: &str = "us-east-1";
const MEMBER_REGION: &str = "eu-west-1";

const HOME_ID: &str = "00000000-0000-4000-8000-000000000001";
const MEMBER_HOME_REGION_ID: &str = "00000000-0000-4000-8000-000000000002";
const MEMBER_ID: &str = "00000000-0000-4000-8000-000000000003";
const OTHER_ID: &str = "00000000-0000-4000-8000-000000000004";

fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/{ROLE}")
}

/// Three accounts, two regions: the member trusts the home account, the other account trusts
/// nobody but itself; the base credentials are checked.
fn config() -> EmulatorConfig {
    EmulatorConfig {
        credentials: Some(StaticCredentials::new(AKID, SECRET)),
        extra_regions: vec![MEMBER_REGION.into()],
        accounts: vec![
            Account::new(MEMBER, vec![Role::trusting(ROLE, &[HOME])]),
            Account::new(OTHER, vec![Role::trusting(ROLE, &[OTHER])]),
        ],
        ..Default::default()
    }
}

/// One instance in each account and region the tests look at.
async fn start(config: EmulatorConfig) -> Emulator {
    let emulator = Emulator::start(config).await.expect("start emulator");
    for (id, account, region) in [
        (HOME_ID, HOME, HOME_REGION),
        (MEMBER_HOME_REGION_ID, MEMBER, HOME_REGION),
        (MEMBER_ID, MEMBER, MEMBER_REGION),
        (OTHER_ID, OTHER, MEMBER_REGION),
    ] {
        emulator.seed(SeedInstance {
            instance_id: Some(id.into()),
            aws_account_id: Some(account.into()),
            region: Some(region.into()),
            ..Default::default()
        });
    }
    emulator
}

/// The SDK configuration a function holds: the home credentials, the emulator as every endpoint.
async fn sdk_config(emulator: &Emulator, region: &str, retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emulator.endpoint())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(AKID, SECRET, None, None, "home"))
        .retry_config(retry)
        .load()
        .await
}

async fn provider(emulator: &Emulator, region: &str, role: &str, session_length: Option<Duration>) -> AssumeRoleProvider {
    let mut builder = AssumeRoleProvider::builder(role)
        .session_name("delete-instance")
        .configure(&sdk_config(emulator, region, RetryConfig::disabled()).await);
    if let Some(length) = session_length {
        builder = builder.session_length(length);
    }
    builder.build().await
}

/// A Supply Chain client for `region` with the given credentials provider, not retrying.
fn client(emulator: &Emulator, region: &str, credentials: impl ProvideCredentials + 'static) -> Client {
    client_with_cache(emulator, region, credentials, IdentityCache::lazy().build())
}

fn client_with_cache(
    emulator: &Emulator,
    region: &str,
    credentials: impl ProvideCredentials + 'static,
    cache: aws_sdk_supplychain::config::SharedIdentityCache,
) -> Client {
    Client::from_conf(
        aws_sdk_supplychain::Config::builder()
            .endpoint_url(emulator.endpoint())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .identity_cache(cache)
            .retry_config(aws_sdk_supplychain::config::retry::RetryConfig::disabled())
            .behavior_version_latest()
            .build(),
    )
}

async fn listed(client: &Client) -> Vec<String> {
    let page = client.list_instances().send().await.expect("ListInstances");
    page.instances().iter().map(|i| i.instance_id().to_owned()).collect()
}

#[tokio::test]
async fn a_session_from_the_assume_role_provider_lists_and_deletes_only_the_member_accounts_instances_in_its_region() {
    let emulator = start(config()).await;
    let member = client(&emulator, MEMBER_REGION, provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), None).await);

    assert_eq!(listed(&member).await, vec![MEMBER_ID]);
    let got = member.get_instance().instance_id(MEMBER_ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().aws_account_id(), MEMBER);
    for elsewhere in [MEMBER_HOME_REGION_ID, OTHER_ID, HOME_ID] {
        let err = member.get_instance().instance_id(elsewhere).send().await.unwrap_err();
        assert_eq!(failure(&err).0, 404, "{elsewhere}");
        let err = member.delete_instance().instance_id(elsewhere).send().await.unwrap_err();
        assert!(err.into_service_error().is_resource_not_found_exception(), "{elsewhere}");
    }
    let deleted = member.delete_instance().instance_id(MEMBER_ID).send().await.unwrap();
    assert_eq!(deleted.instance().unwrap().state().as_str(), "Deleting");
    assert_eq!(emulator.history(MEMBER_ID).last().unwrap().state, "Deleted");
    for untouched in [MEMBER_HOME_REGION_ID, OTHER_ID, HOME_ID] {
        assert_eq!(emulator.instance(untouched).unwrap().state, "Active", "{untouched}");
    }

    // The same role, signing for the home region, sees the member's instance there.
    let member_home_region = client(&emulator, HOME_REGION, provider(&emulator, HOME_REGION, &role_arn(MEMBER), None).await);
    assert_eq!(listed(&member_home_region).await, vec![MEMBER_HOME_REGION_ID]);
    // The base credentials act in the home account.
    let home = client(&emulator, HOME_REGION, Credentials::new(AKID, SECRET, None, None, "home"));
    assert_eq!(listed(&home).await, vec![HOME_ID]);
    let created = home.create_instance().send().await.unwrap();
    assert_eq!(created.instance().unwrap().aws_account_id(), HOME);
}

#[tokio::test]
async fn assuming_a_role_that_does_not_exist_is_refused_with_access_denied() {
    let emulator = start(config()).await;
    let missing = format!("arn:aws:iam::{MEMBER}:role/NoSuchRole");
    let err = provider(&emulator, HOME_REGION, &missing, None).await.provide_credentials().await.unwrap_err();
    let shown = DisplayErrorContext(&err).to_string();
    assert!(shown.contains("AccessDenied") && shown.contains(&missing), "{shown}");
    let call = emulator.calls().pop().unwrap();
    assert_eq!((call.operation.as_str(), call.status, call.role_arn.as_deref()), ("AssumeRole", 403, Some(missing.as_str())));
}

#[tokio::test]
async fn assuming_a_role_whose_trust_policy_does_not_name_the_caller_is_refused_with_access_denied() {
    let emulator = start(config()).await;
    let err = provider(&emulator, HOME_REGION, &role_arn(OTHER), None).await.provide_credentials().await.unwrap_err();
    let shown = DisplayErrorContext(&err).to_string();
    assert!(shown.contains("AccessDenied"), "{shown}");
    assert!(shown.contains(&format!("arn:aws:iam::{HOME}:root")), "the message names the caller: {shown}");

    // The same call through a Supply Chain client fails before any Supply Chain call is made.
    let other = client(&emulator, MEMBER_REGION, provider(&emulator, MEMBER_REGION, &role_arn(OTHER), None).await);
    let err = other.list_instances().send().await.unwrap_err();
    assert!(DisplayErrorContext(&err).to_string().contains("AccessDenied"), "{}", DisplayErrorContext(&err));
    assert_eq!(emulator.call_count("ListInstances"), 0);
}

#[tokio::test]
async fn a_role_trusting_a_role_arn_admits_the_base_credentials_only_when_they_stand_for_that_role() {
    let central = format!("arn:aws:iam::{HOME}:role/DeleteFunctionRole");
    let trusting_central = Account::new(MEMBER, vec![Role::trusting(ROLE, &[&central])]);
    let named = EmulatorConfig { home_principal_arn: Some(central.clone()), accounts: vec![trusting_central.clone()], ..config() };
    let emulator = start(named).await;
    provider(&emulator, HOME_REGION, &role_arn(MEMBER), None).await.provide_credentials().await.expect("the named role is trusted");
    assert_eq!(emulator.calls()[0].caller_arn.as_deref(), Some(central.as_str()));

    let unnamed = start(EmulatorConfig { accounts: vec![trusting_central], ..config() }).await;
    let err = provider(&unnamed, HOME_REGION, &role_arn(MEMBER), None).await.provide_credentials().await.unwrap_err();
    assert!(DisplayErrorContext(&err).to_string().contains("AccessDenied"));
}

#[tokio::test]
async fn a_tag_call_naming_another_accounts_instance_arn_is_refused_with_access_denied() {
    let emulator = start(config()).await;
    let member = client(&emulator, MEMBER_REGION, provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), None).await);
    let other_arn = emulator.instance_arn(OTHER_ID);
    assert_eq!(other_arn, format!("arn:aws:scn:{MEMBER_REGION}:{OTHER}:instance/{OTHER_ID}"));
    let err = member.list_tags_for_resource().resource_arn(&other_arn).send().await.unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains(&format!("arn:aws:sts::{MEMBER}:assumed-role/{ROLE}/delete-instance")), "{message}");
    let err = member.tag_resource().resource_arn(&other_arn).tags("k", "v").send().await.unwrap_err();
    assert!(err.into_service_error().is_access_denied_exception());

    // The member's own ARN works; the same ARN rewritten to the other region is not found there.
    let own = emulator.instance_arn(MEMBER_ID);
    member.tag_resource().resource_arn(&own).tags("k", "v").send().await.unwrap();
    let tags = member.list_tags_for_resource().resource_arn(&own).send().await.unwrap();
    assert_eq!(tags.tags().get("k").map(String::as_str), Some("v"));
    let err = member.list_tags_for_resource().resource_arn(own.replace(MEMBER_REGION, HOME_REGION)).send().await.unwrap_err();
    assert_eq!(failure(&err).1, "ResourceNotFoundException");
}

#[tokio::test]
async fn a_call_signed_with_expired_session_credentials_is_refused_with_expired_token() {
    let emulator = start(config()).await;
    let credentials = provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), None).await.provide_credentials().await.unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));
    let expiry = credentials.expiry().expect("session credentials expire");
    let left = expiry.duration_since(emulator.now()).unwrap();
    assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600), "the default session is an hour: {left:?}");

    let fixed = client(&emulator, MEMBER_REGION, credentials.clone());
    assert_eq!(listed(&fixed).await, vec![MEMBER_ID]);
    emulator.advance_clock(Duration::from_secs(3601));
    let err = fixed.list_instances().send().await.unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "ExpiredTokenException"));
    assert!(message.contains("expired"), "{message}");
    let call = emulator.calls().pop().unwrap();
    assert_eq!((call.account_id.as_deref(), call.caller_arn), (Some(MEMBER), None));
}

#[tokio::test]
async fn session_credentials_are_checked_with_their_own_secret_and_token() {
    let emulator = start(config()).await;
    let credentials = provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), None).await.provide_credentials().await.unwrap();
    let token = credentials.session_token().map(str::to_owned);
    let wrong_secret = Credentials::new(credentials.access_key_id(), SECRET, token, None, "forged");
    let err = client(&emulator, MEMBER_REGION, wrong_secret).list_instances().send().await.unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains("signature"), "{message}");
    let no_token = Credentials::new(credentials.access_key_id(), credentials.secret_access_key(), None, None, "forged");
    let err = client(&emulator, MEMBER_REGION, no_token).list_instances().send().await.unwrap_err();
    assert_eq!(failure(&err).1, "AccessDeniedException");
}

#[tokio::test]
async fn the_sdk_refreshes_short_sessions_before_they_expire_when_the_emulator_allows_them() {
    let short = Duration::from_secs(3);
    let strict = start(config()).await;
    let err = provider(&strict, MEMBER_REGION, &role_arn(MEMBER), Some(short)).await.provide_credentials().await.unwrap_err();
    let shown = DisplayErrorContext(&err).to_string();
    assert!(shown.contains("ValidationError") && shown.contains("900"), "STS's minimum is 900 seconds: {shown}");

    let emulator = start(EmulatorConfig { min_session_seconds: 1, ..config() }).await;
    // Refresh one second (less a jitter of at most a half) before the expiry.
    let cache = IdentityCache::lazy().buffer_time(Duration::from_secs(1)).build();
    let provider = provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), Some(short)).await;
    let member = client_with_cache(&emulator, MEMBER_REGION, provider, cache);
    assert_eq!(listed(&member).await, vec![MEMBER_ID]);
    assert_eq!(listed(&member).await, vec![MEMBER_ID]);
    assert_eq!(emulator.call_count("AssumeRole"), 1, "the credentials are reused while they are fresh");

    // Keep calling until the SDK has fetched new credentials: every call is served meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while emulator.call_count("AssumeRole") < 2 {
        assert!(std::time::Instant::now() < deadline, "no refresh within 30 s: {:?}", emulator.calls());
        assert_eq!(listed(&member).await, vec![MEMBER_ID]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed(&member).await, vec![MEMBER_ID]);
    let calls = emulator.calls();
    assert!(calls.iter().all(|c| c.status == 200), "{calls:?}");
    let keys: std::collections::BTreeSet<_> =
        calls.iter().filter(|c| c.operation == "ListInstances").filter_map(|c| c.access_key_id.clone()).collect();
    assert_eq!(keys.len(), 2, "the calls after the refresh sign with the new session: {keys:?}");
}

#[tokio::test]
async fn throttled_and_unavailable_sts_answers_come_from_the_fault_system() {
    let emulator = start(config()).await;
    emulator.inject(FaultRule::new("AssumeRole", 1, Fault::Throttle));
    let retrying = RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)).with_max_attempts(3);
    let sdk = sdk_config(&emulator, HOME_REGION, retrying).await;
    let provider = AssumeRoleProvider::builder(role_arn(MEMBER)).session_name("sweep").configure(&sdk).build().await;
    provider.provide_credentials().await.expect("the throttled call is retried");
    let outcomes: Vec<(u16, Option<String>)> = emulator.calls().into_iter().map(|c| (c.status, c.fault)).collect();
    assert_eq!(outcomes, vec![(400, Some("throttle".into())), (200, None)]);

    emulator.clear_calls();
    emulator.inject(FaultRule::new("AssumeRole", 3, Fault::Unavailable));
    let err = provider.provide_credentials().await.unwrap_err();
    assert!(DisplayErrorContext(&err).to_string().contains("ServiceUnavailable"), "{}", DisplayErrorContext(&err));
    assert_eq!(emulator.call_count("AssumeRole"), 3);
}

#[tokio::test]
async fn the_call_log_records_each_calls_account_and_region_and_each_assume_role() {
    let emulator = start(config()).await;
    let home = client(&emulator, HOME_REGION, Credentials::new(AKID, SECRET, None, None, "home"));
    listed(&home).await;
    assert_eq!(emulator.call_count("AssumeRole"), 0);
    let member = client(&emulator, MEMBER_REGION, provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), None).await);
    listed(&member).await;
    listed(&member).await;
    assert_eq!(emulator.call_count("AssumeRole"), 1);

    let calls = emulator.calls();
    let summary: Vec<(&str, Option<&str>, Option<&str>)> =
        calls.iter().map(|c| (c.operation.as_str(), c.account_id.as_deref(), c.region.as_deref())).collect();
    assert_eq!(
        summary,
        vec![
            ("ListInstances", Some(HOME), Some(HOME_REGION)),
            ("AssumeRole", Some(HOME), Some(MEMBER_REGION)),
            ("ListInstances", Some(MEMBER), Some(MEMBER_REGION)),
            ("ListInstances", Some(MEMBER), Some(MEMBER_REGION)),
        ]
    );
    let home_principal = format!("arn:aws:iam::{HOME}:root");
    assert_eq!(calls[0].caller_arn.as_deref(), Some(home_principal.as_str()));
    assert_eq!(calls[1].role_arn.as_deref(), Some(role_arn(MEMBER).as_str()));
    assert_eq!(calls[1].caller_arn.as_deref(), Some(home_principal.as_str()));
    assert_eq!(calls[1].access_key_id.as_deref(), Some(AKID));
    let session = format!("arn:aws:sts::{MEMBER}:assumed-role/{ROLE}/delete-instance");
    assert_eq!(calls[2].caller_arn.as_deref(), Some(session.as_str()));
    assert!(calls[2].access_key_id.as_deref().is_some_and(|k| k.starts_with("ASIA")));
    assert_eq!(calls[0].role_arn, None);
}

#[tokio::test]
async fn accounts_roles_and_regional_seeds_are_accepted_over_the_admin_api() {
    let emulator = Emulator::start(EmulatorConfig { extra_regions: vec![MEMBER_REGION.into()], ..Default::default() }).await.unwrap();
    let addr = emulator.addr();
    let account = json!({ "accountId": MEMBER, "roles": [{ "name": ROLE, "trusts": [HOME], "maxSessionSeconds": 7200 }] });
    let added = raw(addr, "POST", "/_emulator/accounts", &[], account.to_string().as_bytes()).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.json(), json!([account]));
    assert_eq!(raw(addr, "GET", "/_emulator/accounts", &[], b"").await.json(), json!([account]));
    let bad = raw(addr, "POST", "/_emulator/accounts", &[], br#"{"accountId":"12","roles":[]}"#).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let seed = json!({ "instanceId": MEMBER_ID, "awsAccountId": MEMBER, "region": MEMBER_REGION });
    assert_eq!(raw(addr, "POST", "/_emulator/instances", &[], seed.to_string().as_bytes()).await.status, 200);
    let unserved = json!({ "region": "ap-south-1" });
    let refused = raw(addr, "POST", "/_emulator/instances", &[], unserved.to_string().as_bytes()).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("ap-south-1"), "{}", refused.body);

    let two_hours = provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), Some(Duration::from_secs(7200))).await;
    let member = client(&emulator, MEMBER_REGION, two_hours);
    assert_eq!(listed(&member).await, vec![MEMBER_ID]);
    let too_long = provider(&emulator, MEMBER_REGION, &role_arn(MEMBER), Some(Duration::from_secs(7201))).await;
    let err = too_long.provide_credentials().await.unwrap_err();
    assert!(DisplayErrorContext(&err).to_string().contains("MaxSessionDuration"), "{}", DisplayErrorContext(&err));
}

#[tokio::test]
async fn sts_answers_in_the_query_protocols_xml_and_refuses_other_actions() {
    let emulator = start(config()).await;
    let unsigned = raw(
        emulator.addr(),
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2FR&RoleSessionName=s",
    )
    .await;
    assert_eq!(unsigned.status, 403);
    assert_eq!(unsigned.header("content-type"), Some("text/xml"));
    assert!(
        unsigned.body.starts_with("<ErrorResponse") && unsigned.body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{}",
        unsigned.body
    );
    let request_id = unsigned.header("x-amzn-requestid").unwrap();
    assert!(unsigned.body.contains(&format!("<RequestId>{request_id}</RequestId>")), "{}", unsigned.body);

    let other = raw(emulator.addr(), "POST", "/", &[], b"Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(other.status, 400);
    assert!(other.body.contains("<Code>InvalidAction</Code>"), "{}", other.body);
    assert_eq!(emulator.calls()[1].operation, "GetCallerIdentity");
}

#[tokio::test]
async fn the_binary_loads_accounts_and_regional_instances_from_its_seed_file() {
    let dir = std::env::temp_dir().join(format!("scn-emulator-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_file = dir.join("seed.json");
    let seed = json!({
        "instances": [{ "instanceId": MEMBER_ID, "awsAccountId": MEMBER, "region": MEMBER_REGION }],
        "accounts": [{ "accountId": MEMBER, "roles": [{ "name": ROLE, "trusts": [HOME] }] }],
    });
    std::fs::write(&seed_file, seed.to_string()).unwrap();
    let args = ["--port", "0", "--extra-region", MEMBER_REGION, "--min-session-seconds", "60", "--seed"];
    let mut args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    args.push(seed_file.as_os_str());
    let (mut child, endpoint) = crate::support::spawn_binary(&args).await;

    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new(MEMBER_REGION))
        .credentials_provider(Credentials::new(AKID, SECRET, None, None, "home"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let provider = AssumeRoleProvider::builder(role_arn(MEMBER)).session_length(Duration::from_secs(60)).configure(&sdk).build().await;
    let member = Client::from_conf(aws_sdk_supplychain::config::Builder::from(&sdk).credentials_provider(provider).build());
    assert_eq!(listed(&member).await, vec![MEMBER_ID]);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
