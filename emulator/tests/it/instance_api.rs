//! The instance operations through the real SDK: what they answer (members, shapes, request
//! ids, unknown instances and routes) and how their input is validated against the service model.

use std::time::Duration;

use crate::support::raw;
use crate::support::supply_chain::{client, failure, seed_active, start, ID};
use aws_sdk_supplychain::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_supplychain::operation::RequestId;
use aws_sdk_supplychain::types::InstanceState;
use supplychain_emulator::SeedInstance;

// ----- operations ---------------------------------------------------------------------------

#[tokio::test]
async fn create_then_get_returns_every_member_with_epoch_second_timestamps() {
    let emulator = start().await;
    let client = client(&emulator);
    let created = client
        .create_instance()
        .instance_name("Plant 7")
        .instance_description("Main plant, 2024")
        .web_app_dns_domain("plant-seven")
        .kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        .tags("team", "ops")
        .send()
        .await
        .expect("create");
    assert!(created.request_id().is_some_and(|id| id.len() == 36));
    let instance = created.instance().expect("instance");
    assert_eq!(instance.state(), &InstanceState::Initializing);
    assert_eq!(instance.aws_account_id(), "123456789012");
    let id = instance.instance_id().to_owned();

    let got = client.get_instance().instance_id(&id).send().await.expect("get");
    let got = got.instance().expect("instance");
    assert_eq!(got.state(), &InstanceState::Active, "create_delay is zero");
    assert_eq!(got.instance_name(), Some("Plant 7"));
    assert_eq!(got.instance_description(), Some("Main plant, 2024"));
    assert_eq!(got.web_app_dns_domain(), Some("plant-seven"));
    assert!(got.kms_key_arn().is_some());
    assert_eq!(got.version_number(), Some(1.0));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let created_time = got.created_time().expect("createdTime").secs();
    assert!((created_time - now).abs() < 60, "{created_time} vs {now}");
    assert!(got.last_modified_time().unwrap() >= got.created_time().unwrap());
    assert_eq!(got.error_message(), None);
}

#[tokio::test]
async fn absent_optional_members_are_left_out_of_the_json() {
    let emulator = start().await;
    emulator.seed(SeedInstance { instance_id: Some(ID.into()), ..Default::default() });
    let response = raw(emulator.addr(), "GET", &format!("/api/instance/{ID}"), &fake_signature_headers(), b"").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let instance = &response.json()["instance"];
    let keys: Vec<&str> = instance.as_object().unwrap().keys().map(String::as_str).collect();
    for absent in ["errorMessage", "instanceName", "kmsKeyArn", "webAppDnsDomain", "instanceDescription"] {
        assert!(!keys.contains(&absent), "{absent} present in {instance}");
    }
    assert!(instance["createdTime"].is_number());
}

#[tokio::test]
async fn create_with_the_same_client_token_returns_the_same_instance() {
    let emulator = start().await;
    let client = client(&emulator);
    let token = "a".repeat(40);
    let first = client.create_instance().client_token(&token).send().await.unwrap();
    let second = client.create_instance().client_token(&token).send().await.unwrap();
    assert_eq!(first.instance().unwrap().instance_id(), second.instance().unwrap().instance_id());
    assert_eq!(emulator.instances().len(), 1);
}

#[tokio::test]
async fn update_changes_name_and_description_and_moves_last_modified_time() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.advance_clock(Duration::from_secs(5));
    let before = emulator.instance(ID).unwrap();
    let updated = client(&emulator)
        .update_instance()
        .instance_id(ID)
        .instance_name("Renamed")
        .instance_description("New words")
        .send()
        .await
        .unwrap();
    let instance = updated.instance().unwrap();
    assert_eq!(instance.instance_name(), Some("Renamed"));
    assert_eq!(instance.instance_description(), Some("New words"));
    let after = emulator.instance(ID).unwrap();
    assert!(after.last_modified_time > before.last_modified_time);
}

#[tokio::test]
async fn get_and_delete_of_an_unknown_instance_are_resource_not_found() {
    let emulator = start().await;
    let client = client(&emulator);
    let err = client.get_instance().instance_id(ID).send().await.unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert!(message.contains(ID));
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client.delete_instance().instance_id(ID).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

// ----- validation ---------------------------------------------------------------------------

async fn expect_validation<T, E>(result: Result<T, SdkError<E, aws_sdk_supplychain::config::http::HttpResponse>>, field: &str)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    T: std::fmt::Debug,
{
    let err = result.expect_err("should be refused");
    let (status, code, message) = failure(&err);
    assert_eq!(status, 400, "{message}");
    assert_eq!(code, "ValidationException");
    assert!(message.contains(&format!("'{field}'")), "message should name {field}: {message}");
}

#[tokio::test]
async fn every_model_constraint_is_enforced_with_a_validation_exception_naming_the_field() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);

    // pattern of a path label
    expect_validation(c.get_instance().instance_id("NOT-A-UUID").send().await, "instanceId").await;
    // length of a path label
    expect_validation(c.delete_instance().instance_id("0123abcd").send().await, "instanceId").await;
    // pattern with the hand-coded lookahead
    expect_validation(c.create_instance().instance_name("-starts-with-dash").send().await, "instanceName").await;
    // length
    expect_validation(c.create_instance().instance_name("a".repeat(64)).send().await, "instanceName").await;
    expect_validation(c.create_instance().instance_description("d".repeat(502)).send().await, "instanceDescription").await;
    expect_validation(c.create_instance().instance_description("no/slashes").send().await, "instanceDescription").await;
    expect_validation(c.create_instance().kms_key_arn("not-an-arn").send().await, "kmsKeyArn").await;
    expect_validation(c.create_instance().web_app_dns_domain("-bad").send().await, "webAppDnsDomain").await;
    expect_validation(c.create_instance().client_token("too-short").send().await, "clientToken").await;
    expect_validation(c.create_instance().tags("", "v").send().await, "tags.key").await;
    expect_validation(c.update_instance().instance_id(ID).instance_name("bad name!").send().await, "instanceName").await;
    // range
    expect_validation(c.list_instances().max_results(21).send().await, "maxResults").await;
    expect_validation(c.list_instances().max_results(-1).send().await, "maxResults").await;
    // enum
    expect_validation(c.list_instances().instance_state_filter(InstanceState::from("Sleeping")).send().await, "instanceStateFilter.member")
        .await;
    // list length
    let mut too_many = c.list_instances();
    for i in 0..11 {
        too_many = too_many.instance_name_filter(format!("n{i}"));
    }
    expect_validation(too_many.send().await, "instanceNameFilter").await;
    // ARN pattern
    expect_validation(c.list_tags_for_resource().resource_arn("arn:aws:s3:::my-bucket-name").send().await, "resourceArn").await;
    // an invalid page token
    let err = c.list_instances().next_token("garbage").send().await.unwrap_err();
    assert_eq!(failure(&err).1, "ValidationException");
}

/// Headers of a structurally valid signature: enough when the emulator has no credentials.
fn fake_signature_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/scn/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ),
        ("x-amz-date", "20240101T000000Z"),
    ]
}

#[tokio::test]
async fn missing_required_members_are_validation_exceptions() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let arn_path = format!("/api/tags/{}", emulator.instance_arn(ID).replace(':', "%3A").replace('/', "%2F"));
    let headers = fake_signature_headers();

    let no_tags = raw(emulator.addr(), "POST", &arn_path, &headers, b"{}").await;
    assert_eq!(no_tags.status, 400);
    assert_eq!(no_tags.header("x-amzn-errortype"), Some("ValidationException"));
    assert!(no_tags.json()["message"].as_str().unwrap().contains("'tags'"));

    let no_keys = raw(emulator.addr(), "DELETE", &arn_path, &headers, b"").await;
    assert_eq!(no_keys.status, 400);
    assert!(no_keys.json()["message"].as_str().unwrap().contains("'tagKeys'"));

    let bad_json = raw(emulator.addr(), "POST", "/api/instance", &headers, b"{not json").await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.header("x-amzn-errortype"), Some("ValidationException"));

    let wrong_type = raw(emulator.addr(), "POST", "/api/instance", &headers, br#"{"instanceName": 7}"#).await;
    assert_eq!(wrong_type.status, 400);
    assert!(wrong_type.json()["message"].as_str().unwrap().contains("'instanceName'"));
}

#[tokio::test]
async fn an_unknown_route_answers_404_unknown_operation_with_a_request_id() {
    let emulator = start().await;
    for (method, path) in [("GET", "/api/nothing"), ("PUT", "/api/instance"), ("GET", "/")] {
        let response = raw(emulator.addr(), method, path, &[], b"").await;
        assert_eq!(response.status, 404, "{method} {path}");
        assert_eq!(response.header("x-amzn-errortype"), Some("UnknownOperationException"));
        assert!(response.header("x-amzn-requestid").is_some());
        assert!(response.json()["message"].is_string());
    }
}
