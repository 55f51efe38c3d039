//! SigV4: the emulator verifies the SDK's signatures for every operation, and refuses a wrong
//! secret, an unknown key, another region, a wrong session token and an unsigned request.

use crate::support::raw;
use crate::support::supply_chain::{client, failure, seed_active, start, AKID, ID, SECRET};
use aws_sdk_supplychain::config::retry::RetryConfig;
use aws_sdk_supplychain::config::{Credentials, Region};
use aws_sdk_supplychain::types::InstanceState;
use aws_sdk_supplychain::Client;
use supplychain_emulator::{Emulator, EmulatorConfig, StaticCredentials};

async fn start_with_credentials(session_token: Option<&str>) -> Emulator {
    Emulator::start(EmulatorConfig {
        credentials: Some(StaticCredentials {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            session_token: session_token.map(str::to_owned),
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn client_with(emulator: &Emulator, akid: &str, secret: &str, token: Option<&str>, region: &str) -> Client {
    Client::from_conf(
        aws_sdk_supplychain::Config::builder()
            .endpoint_url(emulator.endpoint())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(akid, secret, token.map(str::to_owned), None, "test"))
            .retry_config(RetryConfig::disabled())
            .behavior_version_latest()
            .build(),
    )
}

#[tokio::test]
async fn correctly_signed_sdk_requests_verify_for_every_operation() {
    let emulator = start_with_credentials(None).await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let arn = emulator.instance_arn(ID);
    c.list_instances()
        .instance_name_filter("seeded")
        .instance_name_filter("with space")
        .instance_state_filter(InstanceState::Active)
        .max_results(5)
        .send()
        .await
        .unwrap();
    c.get_instance().instance_id(ID).send().await.unwrap();
    c.update_instance().instance_id(ID).instance_description("signed, sealed").send().await.unwrap();
    c.tag_resource().resource_arn(&arn).tags("k", "v w").send().await.unwrap();
    c.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    c.untag_resource().resource_arn(&arn).tag_keys("k").tag_keys("other key").send().await.unwrap();
    c.create_instance().instance_name("Created").send().await.unwrap();
    c.delete_instance().instance_id(ID).send().await.unwrap();
    assert!(emulator.calls().iter().all(|call| call.status == 200 && call.signed));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_access_denied() {
    let emulator = start_with_credentials(None).await;
    seed_active(&emulator, ID);
    let c = client_with(&emulator, AKID, "not-the-secret", None, "us-east-1");
    let err = c.list_tags_for_resource().resource_arn(emulator.instance_arn(ID)).send().await.unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains("signature"), "{message}");
    assert!(err.into_service_error().is_access_denied_exception());
}

#[tokio::test]
async fn an_unknown_access_key_is_refused_with_access_denied() {
    let emulator = start_with_credentials(None).await;
    let err = client_with(&emulator, "AKIDOTHER", SECRET, None, "us-east-1").list_instances().send().await.unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains("AKIDOTHER"), "{message}");
}

#[tokio::test]
async fn a_request_signed_for_another_region_is_refused() {
    let emulator = start().await;
    let err = client_with(&emulator, AKID, SECRET, None, "eu-west-1").list_instances().send().await.unwrap_err();
    let (status, _, message) = failure(&err);
    assert_eq!(status, 403);
    assert!(message.contains("eu-west-1"), "{message}");
}

#[tokio::test]
async fn the_session_token_must_match_when_one_is_configured() {
    let emulator = start_with_credentials(Some("session-token")).await;
    let ok = client_with(&emulator, AKID, SECRET, Some("session-token"), "us-east-1");
    ok.list_instances().send().await.unwrap();
    let wrong = client_with(&emulator, AKID, SECRET, Some("another-token"), "us-east-1");
    let err = wrong.list_instances().send().await.unwrap_err();
    assert_eq!(failure(&err).1, "AccessDeniedException");
    let missing = client_with(&emulator, AKID, SECRET, None, "us-east-1");
    let err = missing.list_instances().send().await.unwrap_err();
    assert_eq!(failure(&err).1, "AccessDeniedException");
}

#[tokio::test]
async fn an_unsigned_request_is_refused_with_403_even_without_configured_credentials() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let response = raw(emulator.addr(), "GET", &format!("/api/instance/{ID}"), &[], b"").await;
    assert_eq!(response.status, 403);
    assert_eq!(response.header("x-amzn-errortype"), Some("AccessDeniedException"));
    assert!(response.header("x-amzn-requestid").is_some());
    assert!(response.json()["message"].as_str().unwrap().contains("Authorization"));
    let bogus = raw(emulator.addr(), "GET", "/api/instance", &[("authorization", "Bearer abc")], b"").await;
    assert_eq!(bogus.status, 403);
    let call = &emulator.calls()[0];
    assert!(!call.signed);
    assert_eq!(call.status, 403);
}
