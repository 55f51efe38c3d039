//! Drives the emulator with the real AWS SDK for Supply Chain over HTTP.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_supplychain::config::retry::RetryConfig;
use aws_sdk_supplychain::config::timeout::TimeoutConfig;
use aws_sdk_supplychain::config::{Credentials, Region};
use aws_sdk_supplychain::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_supplychain::operation::RequestId;
use aws_sdk_supplychain::types::InstanceState;
use aws_sdk_supplychain::Client;
use serde_json::json;
use supplychain_emulator::{
    Emulator, EmulatorConfig, Fault, FaultRule, SeedInstance, StaticCredentials,
};
use support::raw;

const ID: &str = "0123abcd-0123-4567-89ab-0123456789ab";
const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn config_builder(emulator: &Emulator) -> aws_sdk_supplychain::config::Builder {
    aws_sdk_supplychain::Config::builder()
        .endpoint_url(emulator.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(AKID, SECRET, None, None, "test"))
        .behavior_version_latest()
}

/// A client that does not retry, so each SDK call is exactly one HTTP call.
fn client(emulator: &Emulator) -> Client {
    Client::from_conf(
        config_builder(emulator)
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

async fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("start emulator")
}

/// Status, error code and message of a failed SDK call.
fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, aws_sdk_supplychain::config::http::HttpResponse>,
) -> (u16, String, String) {
    let status = err
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|| panic!("no HTTP response: {err:?}"));
    (
        status,
        err.code().unwrap_or_default().to_owned(),
        err.message().unwrap_or_default().to_owned(),
    )
}

fn seed_active(emulator: &Emulator, id: &str) {
    emulator.seed(SeedInstance {
        instance_id: Some(id.into()),
        instance_name: Some("seeded".into()),
        ..Default::default()
    });
}

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

    let got = client
        .get_instance()
        .instance_id(&id)
        .send()
        .await
        .expect("get");
    let got = got.instance().expect("instance");
    assert_eq!(got.state(), &InstanceState::Active, "create_delay is zero");
    assert_eq!(got.instance_name(), Some("Plant 7"));
    assert_eq!(got.instance_description(), Some("Main plant, 2024"));
    assert_eq!(got.web_app_dns_domain(), Some("plant-seven"));
    assert!(got.kms_key_arn().is_some());
    assert_eq!(got.version_number(), Some(1.0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let created_time = got.created_time().expect("createdTime").secs();
    assert!((created_time - now).abs() < 60, "{created_time} vs {now}");
    assert!(got.last_modified_time().unwrap() >= got.created_time().unwrap());
    assert_eq!(got.error_message(), None);
}

#[tokio::test]
async fn absent_optional_members_are_left_out_of_the_json() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        ..Default::default()
    });
    let response = raw(
        emulator.addr(),
        "GET",
        &format!("/api/instance/{ID}"),
        &fake_signature_headers(),
        b"",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let instance = &response.json()["instance"];
    let keys: Vec<&str> = instance
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for absent in [
        "errorMessage",
        "instanceName",
        "kmsKeyArn",
        "webAppDnsDomain",
        "instanceDescription",
    ] {
        assert!(!keys.contains(&absent), "{absent} present in {instance}");
    }
    assert!(instance["createdTime"].is_number());
}

#[tokio::test]
async fn create_with_the_same_client_token_returns_the_same_instance() {
    let emulator = start().await;
    let client = client(&emulator);
    let token = "a".repeat(40);
    let first = client
        .create_instance()
        .client_token(&token)
        .send()
        .await
        .unwrap();
    let second = client
        .create_instance()
        .client_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.instance().unwrap().instance_id(),
        second.instance().unwrap().instance_id()
    );
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
async fn list_instances_pages_through_every_instance_with_opaque_tokens() {
    let emulator = start().await;
    for _ in 0..25 {
        emulator.seed(SeedInstance::default());
    }
    let client = client(&emulator);
    let first = client
        .list_instances()
        .max_results(10)
        .send()
        .await
        .unwrap();
    assert_eq!(first.instances().len(), 10);
    let token = first.next_token().expect("more pages").to_owned();
    assert!(
        !token.chars().all(|c| c.is_ascii_digit()),
        "token should be opaque"
    );

    let mut seen = Vec::new();
    let mut pages = client
        .list_instances()
        .max_results(10)
        .into_paginator()
        .send();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        page_count += 1;
        seen.extend(
            page.unwrap()
                .instances()
                .iter()
                .map(|i| i.instance_id().to_owned()),
        );
    }
    assert_eq!(page_count, 3);
    let expected: Vec<String> = emulator
        .instances()
        .into_iter()
        .map(|i| i.instance_id)
        .collect();
    assert_eq!(seen, expected, "every instance once, in creation order");

    let default_page = client.list_instances().send().await.unwrap();
    assert_eq!(default_page.instances().len(), 10, "default page size");
}

#[tokio::test]
async fn list_instances_filters_by_name_and_by_state() {
    let emulator = start().await;
    let named = |name: &str, state: &str| SeedInstance {
        instance_name: Some(name.into()),
        state: Some(state.into()),
        ..Default::default()
    };
    emulator.seed(named("alpha", "Active"));
    emulator.seed(named("beta", "Active"));
    emulator.seed(named("alpha", "DeleteFailed"));
    emulator.seed(named("gamma", "CreateFailed"));
    let client = client(&emulator);

    let by_name = client
        .list_instances()
        .instance_name_filter("alpha")
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.instances().len(), 2);

    let by_names = client
        .list_instances()
        .instance_name_filter("alpha")
        .instance_name_filter("gamma")
        .send()
        .await
        .unwrap();
    assert_eq!(by_names.instances().len(), 3);

    let by_state = client
        .list_instances()
        .instance_state_filter(InstanceState::DeleteFailed)
        .instance_state_filter(InstanceState::CreateFailed)
        .send()
        .await
        .unwrap();
    assert_eq!(by_state.instances().len(), 2);

    let both = client
        .list_instances()
        .instance_name_filter("alpha")
        .instance_state_filter(InstanceState::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(both.instances().len(), 1);
    assert_eq!(both.instances()[0].instance_name(), Some("alpha"));
}

#[tokio::test]
async fn tag_untag_and_list_tags_work_on_percent_encoded_arns() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        tags: [("DeletionProtection".into(), "true".into())].into(),
        ..Default::default()
    });
    let client = client(&emulator);
    let arn = emulator.instance_arn(ID);
    assert_eq!(
        arn,
        format!("arn:aws:scn:us-east-1:123456789012:instance/{ID}")
    );

    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags().get("DeletionProtection").map(String::as_str),
        Some("true")
    );

    client
        .tag_resource()
        .resource_arn(&arn)
        .tags("owner", "me")
        .tags("env", "dev")
        .send()
        .await
        .unwrap();
    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("DeletionProtection")
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags().get("owner").map(String::as_str), Some("me"));

    let call = emulator
        .calls()
        .into_iter()
        .find(|c| c.operation == "ListTagsForResource")
        .unwrap();
    assert!(
        call.path.contains("%3A"),
        "the label arrives encoded: {}",
        call.path
    );
    assert_eq!(call.instance_id.as_deref(), Some(ID));
}

#[tokio::test]
async fn tag_operations_on_an_unknown_instance_are_resource_not_found() {
    let emulator = start().await;
    let client = client(&emulator);
    let arn = emulator.instance_arn(ID);
    let err = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&err).0, 404);
    assert_eq!(failure(&err).1, "ResourceNotFoundException");
    let err = client
        .tag_resource()
        .resource_arn(&arn)
        .tags("a", "b")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn get_and_delete_of_an_unknown_instance_are_resource_not_found() {
    let emulator = start().await;
    let client = client(&emulator);
    let err = client
        .get_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert!(message.contains(ID));
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client
        .delete_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

// ----- validation ---------------------------------------------------------------------------

async fn expect_validation<T, E>(
    result: Result<T, SdkError<E, aws_sdk_supplychain::config::http::HttpResponse>>,
    field: &str,
) where
    E: ProvideErrorMetadata + std::fmt::Debug,
    T: std::fmt::Debug,
{
    let err = result.expect_err("should be refused");
    let (status, code, message) = failure(&err);
    assert_eq!(status, 400, "{message}");
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains(&format!("'{field}'")),
        "message should name {field}: {message}"
    );
}

#[tokio::test]
async fn every_model_constraint_is_enforced_with_a_validation_exception_naming_the_field() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);

    // pattern of a path label
    expect_validation(
        c.get_instance().instance_id("NOT-A-UUID").send().await,
        "instanceId",
    )
    .await;
    // length of a path label
    expect_validation(
        c.delete_instance().instance_id("0123abcd").send().await,
        "instanceId",
    )
    .await;
    // pattern with the hand-coded lookahead
    expect_validation(
        c.create_instance()
            .instance_name("-starts-with-dash")
            .send()
            .await,
        "instanceName",
    )
    .await;
    // length
    expect_validation(
        c.create_instance()
            .instance_name("a".repeat(64))
            .send()
            .await,
        "instanceName",
    )
    .await;
    expect_validation(
        c.create_instance()
            .instance_description("d".repeat(502))
            .send()
            .await,
        "instanceDescription",
    )
    .await;
    expect_validation(
        c.create_instance()
            .instance_description("no/slashes")
            .send()
            .await,
        "instanceDescription",
    )
    .await;
    expect_validation(
        c.create_instance().kms_key_arn("not-an-arn").send().await,
        "kmsKeyArn",
    )
    .await;
    expect_validation(
        c.create_instance().web_app_dns_domain("-bad").send().await,
        "webAppDnsDomain",
    )
    .await;
    expect_validation(
        c.create_instance().client_token("too-short").send().await,
        "clientToken",
    )
    .await;
    expect_validation(c.create_instance().tags("", "v").send().await, "tags.key").await;
    expect_validation(
        c.update_instance()
            .instance_id(ID)
            .instance_name("bad name!")
            .send()
            .await,
        "instanceName",
    )
    .await;
    // range
    expect_validation(
        c.list_instances().max_results(21).send().await,
        "maxResults",
    )
    .await;
    expect_validation(
        c.list_instances().max_results(-1).send().await,
        "maxResults",
    )
    .await;
    // enum
    expect_validation(
        c.list_instances()
            .instance_state_filter(InstanceState::from("Sleeping"))
            .send()
            .await,
        "instanceStateFilter.member",
    )
    .await;
    // list length
    let mut too_many = c.list_instances();
    for i in 0..11 {
        too_many = too_many.instance_name_filter(format!("n{i}"));
    }
    expect_validation(too_many.send().await, "instanceNameFilter").await;
    // ARN pattern
    expect_validation(
        c.list_tags_for_resource()
            .resource_arn("arn:aws:s3:::my-bucket-name")
            .send()
            .await,
        "resourceArn",
    )
    .await;
    // an invalid page token
    let err = c
        .list_instances()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
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
    let arn_path = format!(
        "/api/tags/{}",
        emulator
            .instance_arn(ID)
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    let headers = fake_signature_headers();

    let no_tags = raw(emulator.addr(), "POST", &arn_path, &headers, b"{}").await;
    assert_eq!(no_tags.status, 400);
    assert_eq!(
        no_tags.header("x-amzn-errortype"),
        Some("ValidationException")
    );
    assert!(no_tags.json()["message"]
        .as_str()
        .unwrap()
        .contains("'tags'"));

    let no_keys = raw(emulator.addr(), "DELETE", &arn_path, &headers, b"").await;
    assert_eq!(no_keys.status, 400);
    assert!(no_keys.json()["message"]
        .as_str()
        .unwrap()
        .contains("'tagKeys'"));

    let bad_json = raw(
        emulator.addr(),
        "POST",
        "/api/instance",
        &headers,
        b"{not json",
    )
    .await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(
        bad_json.header("x-amzn-errortype"),
        Some("ValidationException")
    );

    let wrong_type = raw(
        emulator.addr(),
        "POST",
        "/api/instance",
        &headers,
        br#"{"instanceName": 7}"#,
    )
    .await;
    assert_eq!(wrong_type.status, 400);
    assert!(wrong_type.json()["message"]
        .as_str()
        .unwrap()
        .contains("'instanceName'"));
}

#[tokio::test]
async fn an_unknown_route_answers_404_unknown_operation_with_a_request_id() {
    let emulator = start().await;
    for (method, path) in [
        ("GET", "/api/nothing"),
        ("PUT", "/api/instance"),
        ("GET", "/"),
    ] {
        let response = raw(emulator.addr(), method, path, &[], b"").await;
        assert_eq!(response.status, 404, "{method} {path}");
        assert_eq!(
            response.header("x-amzn-errortype"),
            Some("UnknownOperationException")
        );
        assert!(response.header("x-amzn-requestid").is_some());
        assert!(response.json()["message"].is_string());
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_the_call_log_records() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let ok = c.get_instance().instance_id(ID).send().await.unwrap();
    let err = c
        .get_instance()
        .instance_id("bad")
        .send()
        .await
        .unwrap_err();
    let calls = emulator.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(ok.request_id(), Some(calls[0].request_id.as_str()));
    assert_eq!(err.request_id(), Some(calls[1].request_id.as_str()));
    assert_eq!(calls[0].status, 200);
    assert_eq!(calls[1].status, 400);
    assert!(calls[0].signed);
    assert_eq!(calls[0].access_key_id.as_deref(), Some(AKID));
    assert_eq!(emulator.call_count("GetInstance"), 2);
}

// ----- lifecycle ----------------------------------------------------------------------------

#[tokio::test]
async fn delete_of_an_active_instance_answers_deleting_and_the_next_read_shows_deleted() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let deleted = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(
        deleted.instance().unwrap().state(),
        &InstanceState::Deleting
    );
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleted);
    let states: Vec<String> = emulator.history(ID).into_iter().map(|h| h.state).collect();
    assert_eq!(states, ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn delete_polls_keep_the_instance_deleting_for_exactly_that_many_reads() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        delete_polls: Some(3),
        ..Default::default()
    });
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    // Reads outside the API do not count as polls.
    assert_eq!(emulator.instance(ID).unwrap().state, "Deleting");
    for _ in 0..3 {
        let got = c.get_instance().instance_id(ID).send().await.unwrap();
        assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleting);
    }
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleted);
}

#[tokio::test]
async fn a_deletion_seeded_to_fail_ends_in_delete_failed_with_its_error_message() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        fail_deletion: Some("KMS key is pending deletion".into()),
        delete_polls: Some(1),
        ..Default::default()
    });
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    let first = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(first.instance().unwrap().state(), &InstanceState::Deleting);
    let failed = c.get_instance().instance_id(ID).send().await.unwrap();
    let failed = failed.instance().unwrap();
    assert_eq!(failed.state(), &InstanceState::DeleteFailed);
    assert_eq!(failed.error_message(), Some("KMS key is pending deletion"));
    let last = emulator.history(ID).pop().unwrap();
    assert_eq!(last.state, "DeleteFailed");
    assert_eq!(
        last.error_message.as_deref(),
        Some("KMS key is pending deletion")
    );

    // Without `failDeletionAttempts`, every attempt fails.
    let again = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(again.instance().unwrap().state(), &InstanceState::Deleting);
    assert_eq!(again.instance().unwrap().error_message(), None);
    c.get_instance().instance_id(ID).send().await.unwrap();
    let failed = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(
        failed.instance().unwrap().state(),
        &InstanceState::DeleteFailed
    );
}

#[tokio::test]
async fn a_retried_deletion_succeeds_once_the_failing_attempts_are_used_up() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        fail_deletion: Some("transient".into()),
        fail_deletion_attempts: Some(1),
        ..Default::default()
    });
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(emulator.instance(ID).unwrap().state, "DeleteFailed");
    c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(emulator.instance(ID).unwrap().state, "Deleted");
}

#[tokio::test]
async fn a_deleted_instance_stays_readable_for_the_retention_then_answers_404_everywhere() {
    let emulator = Emulator::start(EmulatorConfig {
        delete_delay: Duration::from_secs(120),
        deleted_retention: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .unwrap();
    seed_active(&emulator, ID);
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    emulator.advance_clock(Duration::from_secs(119));
    assert_eq!(emulator.instance(ID).unwrap().state, "Deleting");
    emulator.advance_clock(Duration::from_secs(1));
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Deleted);
    let listed = c.list_instances().send().await.unwrap();
    assert_eq!(listed.instances().len(), 1);

    emulator.advance_clock(Duration::from_secs(600));
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .delete_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    assert!(c
        .list_instances()
        .send()
        .await
        .unwrap()
        .instances()
        .is_empty());
    // The history outlives the instance, with each transition stamped when it was due.
    let history = emulator.history(ID);
    let states: Vec<&str> = history.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(states, ["Active", "Deleting", "Deleted"]);
    assert!((history[2].at - history[1].at - 120.0).abs() < 0.01);
}

#[tokio::test]
async fn repeat_delete_of_a_deleting_instance_returns_the_current_record() {
    let emulator = Emulator::start(EmulatorConfig {
        delete_delay: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let first = c.delete_instance().instance_id(ID).send().await.unwrap();
    emulator.advance_clock(Duration::from_secs(10));
    let second = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(second.instance().unwrap().state(), &InstanceState::Deleting);
    assert_eq!(
        first.instance().unwrap().last_modified_time(),
        second.instance().unwrap().last_modified_time(),
        "nothing new was started"
    );
    assert_eq!(emulator.history(ID).len(), 2);
}

#[tokio::test]
async fn repeat_delete_of_a_deleted_instance_returns_the_deleted_record() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    c.delete_instance().instance_id(ID).send().await.unwrap();
    let again = c.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(again.instance().unwrap().state(), &InstanceState::Deleted);
    assert_eq!(emulator.history(ID).len(), 3);
}

#[tokio::test]
async fn deleting_an_initializing_instance_is_a_conflict() {
    let emulator = Emulator::start(EmulatorConfig {
        create_delay: Duration::from_secs(60),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&emulator);
    let created = c.create_instance().send().await.unwrap();
    let id = created.instance().unwrap().instance_id().to_owned();
    let err = c
        .delete_instance()
        .instance_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&err).0, 409);
    assert!(err.into_service_error().is_conflict_exception());

    emulator.advance_clock(Duration::from_secs(60));
    let got = c.get_instance().instance_id(&id).send().await.unwrap();
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Active);
    let history = emulator.history(&id);
    assert_eq!(history[1].state, "Active");
    assert!((history[1].at - history[0].at - 60.0).abs() < 0.01);
    assert_eq!(
        got.instance()
            .unwrap()
            .last_modified_time()
            .unwrap()
            .as_secs_f64(),
        history[1].at
    );
}

#[tokio::test]
async fn updating_a_deleting_or_deleted_instance_is_a_conflict() {
    let emulator = start().await;
    emulator.seed(SeedInstance {
        instance_id: Some(ID.into()),
        state: Some("Deleting".into()),
        delete_polls: Some(5),
        ..Default::default()
    });
    let c = client(&emulator);
    let err = c
        .update_instance()
        .instance_id(ID)
        .instance_name("x1")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_conflict_exception());
    emulator.set_state(ID, "Deleted", None);
    let err = c
        .update_instance()
        .instance_id(ID)
        .instance_name("x1")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_conflict_exception());
}

#[tokio::test]
async fn forced_states_and_removal_are_seen_by_the_api() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    emulator.set_state(ID, "DeleteFailed", Some("stuck".into()));
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(
        got.instance().unwrap().state(),
        &InstanceState::DeleteFailed
    );
    assert_eq!(got.instance().unwrap().error_message(), Some("stuck"));
    emulator.remove(ID);
    assert!(emulator.instance(ID).is_none());
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

// ----- faults -------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_faults_answer_429_and_the_sdk_retries_through_them() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("DeleteInstance", 2, Fault::Throttle));
    let retrying = Client::from_conf(
        config_builder(&emulator)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(5)),
            )
            .build(),
    );
    let deleted = retrying
        .delete_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.instance().unwrap().state(),
        &InstanceState::Deleting
    );
    let statuses: Vec<(u16, Option<String>)> = emulator
        .calls()
        .into_iter()
        .map(|c| (c.status, c.fault))
        .collect();
    assert_eq!(
        statuses,
        [
            (429, Some("throttle".into())),
            (429, Some("throttle".into())),
            (200, None)
        ]
    );
}

#[tokio::test]
async fn error_faults_answer_with_their_status_and_error_type() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Throttle));
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Internal));
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Unavailable));
    emulator.inject(FaultRule::new(
        "GetInstance",
        1,
        Fault::error(402, "ServiceQuotaExceededException", "too many"),
    ));
    let c = client(&emulator);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
        let (status, code, _) = failure(&err);
        seen.push((status, code));
    }
    assert_eq!(
        seen,
        [
            (429, "ThrottlingException".to_owned()),
            (500, "InternalServerException".to_owned()),
            (503, "ServiceUnavailableException".to_owned()),
            (402, "ServiceQuotaExceededException".to_owned()),
        ]
    );
    assert!(
        c.get_instance().instance_id(ID).send().await.is_ok(),
        "rules are used up"
    );
}

#[tokio::test]
async fn wildcard_rules_hit_any_operation_in_insertion_order() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("*", 1, Fault::Internal));
    emulator.inject(FaultRule::new("ListInstances", 1, Fault::Throttle));
    let c = client(&emulator);
    let err = c.list_instances().send().await.unwrap_err();
    assert_eq!(failure(&err).1, "InternalServerException");
    let err = c.list_instances().send().await.unwrap_err();
    assert_eq!(failure(&err).1, "ThrottlingException");
    assert!(c.list_instances().send().await.is_ok());
}

#[tokio::test]
async fn a_delay_fault_waits_then_serves_the_call_normally() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::delay(200)));
    let started = Instant::now();
    let got = client(&emulator)
        .get_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(got.instance().unwrap().state(), &InstanceState::Active);
    let call = &emulator.calls()[0];
    assert_eq!((call.status, call.fault.as_deref()), (200, Some("delay")));
}

#[tokio::test]
async fn a_drop_fault_closes_the_connection_and_the_sdk_sees_a_dispatch_failure() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::Drop));
    let err = client(&emulator)
        .delete_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    let call = &emulator.calls()[0];
    assert_eq!((call.status, call.fault.as_deref()), (0, Some("drop")));
    assert_eq!(
        emulator.instance(ID).unwrap().state,
        "Active",
        "the call never ran"
    );

    // On the wire: not a single byte comes back.
    emulator.inject(FaultRule::new("ListInstances", 1, Fault::Drop));
    let bytes = support::raw_bytes(emulator.addr(), "GET", "/api/instance", &[], b"").await;
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
}

#[tokio::test]
async fn the_sdk_retries_dropped_connections_and_the_call_log_counts_each_attempt() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("GetInstance", 2, Fault::Drop));
    let retrying = Client::from_conf(
        config_builder(&emulator)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build(),
    );
    retrying
        .get_instance()
        .instance_id(ID)
        .send()
        .await
        .unwrap();
    assert_eq!(emulator.call_count("GetInstance"), 3);
}

#[tokio::test]
async fn a_hang_fault_never_answers_and_the_sdk_times_out() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Hang));
    let c = Client::from_conf(
        config_builder(&emulator)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(300))
                    .build(),
            )
            .build(),
    );
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    let call = &emulator.calls()[0];
    assert_eq!((call.status, call.fault.as_deref()), (0, Some("hang")));
    assert!(c.get_instance().instance_id(ID).send().await.is_ok());
}

// ----- SigV4 --------------------------------------------------------------------------------

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

fn client_with(
    emulator: &Emulator,
    akid: &str,
    secret: &str,
    token: Option<&str>,
    region: &str,
) -> Client {
    Client::from_conf(
        aws_sdk_supplychain::Config::builder()
            .endpoint_url(emulator.endpoint())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                akid,
                secret,
                token.map(str::to_owned),
                None,
                "test",
            ))
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
    c.update_instance()
        .instance_id(ID)
        .instance_description("signed, sealed")
        .send()
        .await
        .unwrap();
    c.tag_resource()
        .resource_arn(&arn)
        .tags("k", "v w")
        .send()
        .await
        .unwrap();
    c.list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("k")
        .tag_keys("other key")
        .send()
        .await
        .unwrap();
    c.create_instance()
        .instance_name("Created")
        .send()
        .await
        .unwrap();
    c.delete_instance().instance_id(ID).send().await.unwrap();
    assert!(emulator
        .calls()
        .iter()
        .all(|call| call.status == 200 && call.signed));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_access_denied() {
    let emulator = start_with_credentials(None).await;
    seed_active(&emulator, ID);
    let c = client_with(&emulator, AKID, "not-the-secret", None, "us-east-1");
    let err = c
        .list_tags_for_resource()
        .resource_arn(emulator.instance_arn(ID))
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains("signature"), "{message}");
    assert!(err.into_service_error().is_access_denied_exception());
}

#[tokio::test]
async fn an_unknown_access_key_is_refused_with_access_denied() {
    let emulator = start_with_credentials(None).await;
    let err = client_with(&emulator, "AKIDOTHER", SECRET, None, "us-east-1")
        .list_instances()
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = failure(&err);
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains("AKIDOTHER"), "{message}");
}

#[tokio::test]
async fn a_request_signed_for_another_region_is_refused() {
    let emulator = start().await;
    let err = client_with(&emulator, AKID, SECRET, None, "eu-west-1")
        .list_instances()
        .send()
        .await
        .unwrap_err();
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
    let response = raw(
        emulator.addr(),
        "GET",
        &format!("/api/instance/{ID}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    assert!(response.header("x-amzn-requestid").is_some());
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .contains("Authorization"));
    let bogus = raw(
        emulator.addr(),
        "GET",
        "/api/instance",
        &[("authorization", "Bearer abc")],
        b"",
    )
    .await;
    assert_eq!(bogus.status, 403);
    let call = &emulator.calls()[0];
    assert!(!call.signed);
    assert_eq!(call.status, 403);
}

// ----- admin API and process ----------------------------------------------------------------

#[tokio::test]
async fn the_admin_api_seeds_injects_reads_and_resets_over_http() {
    let emulator = start().await;
    let addr = emulator.addr();
    let seeded = raw(
        addr,
        "POST",
        "/_emulator/instances",
        &[],
        json!({ "instanceId": ID, "instanceName": "admin", "deletePolls": 1, "tags": { "a": "b" } }).to_string().as_bytes(),
    )
    .await;
    assert_eq!(seeded.status, 200, "{}", seeded.body);
    assert_eq!(seeded.json()["state"], "Active");
    assert_eq!(seeded.json()["instanceName"], "admin");

    let bad = raw(
        addr,
        "POST",
        "/_emulator/instances",
        &[],
        br#"{"instanceId":"nope"}"#,
    )
    .await;
    assert_eq!(bad.status, 400);

    let fault = raw(
        addr,
        "POST",
        "/_emulator/faults",
        &[],
        br#"{"operation":"GetInstance","count":1,"fault":{"type":"throttle"}}"#,
    )
    .await;
    assert_eq!(fault.status, 200, "{}", fault.body);
    let c = client(&emulator);
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert_eq!(failure(&err).0, 429);

    raw(
        addr,
        "POST",
        "/_emulator/faults",
        &[],
        br#"[{"operation":"*","count":5,"fault":{"type":"internal"}}]"#,
    )
    .await;
    assert_eq!(
        raw(addr, "DELETE", "/_emulator/faults", &[], b"")
            .await
            .status,
        200
    );
    c.get_instance().instance_id(ID).send().await.unwrap();

    let calls = raw(addr, "GET", "/_emulator/calls", &[], b"").await.json();
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert_eq!(calls[0]["operation"], "GetInstance");
    assert_eq!(calls[0]["fault"], "throttle");
    assert_eq!(calls[0]["instanceId"], ID);
    assert!(calls[0]["atMillis"].is_u64());

    let state = raw(
        addr,
        "PUT",
        &format!("/_emulator/instances/{ID}/state"),
        &[],
        br#"{"state":"DeleteFailed","errorMessage":"boom"}"#,
    )
    .await;
    assert_eq!(state.json()["state"], "DeleteFailed");
    let history = raw(
        addr,
        "GET",
        &format!("/_emulator/instances/{ID}/history"),
        &[],
        b"",
    )
    .await
    .json();
    assert_eq!(history[1]["state"], "DeleteFailed");
    assert_eq!(history[1]["errorMessage"], "boom");
    assert!(history[1]["at"].is_f64());

    let clock = raw(
        addr,
        "POST",
        "/_emulator/clock",
        &[],
        br#"{"advanceMillis":1000}"#,
    )
    .await;
    assert!(clock.json()["nowMillis"].is_u64());

    assert_eq!(
        raw(
            addr,
            "DELETE",
            &format!("/_emulator/instances/{ID}"),
            &[],
            b""
        )
        .await
        .status,
        200
    );
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert_eq!(failure(&err).0, 404);

    assert_eq!(
        raw(addr, "DELETE", "/_emulator/calls", &[], b"")
            .await
            .status,
        200
    );
    assert!(emulator.calls().is_empty());
    emulator.seed(SeedInstance::default());
    assert_eq!(
        raw(addr, "POST", "/_emulator/reset", &[], b"").await.status,
        200
    );
    assert!(emulator.instances().is_empty());
    assert!(emulator.history(ID).is_empty());
    assert_eq!(
        raw(addr, "GET", "/_emulator/nothing", &[], b"")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn shutdown_closes_the_port_for_every_clone() {
    let emulator = start().await;
    let clone = emulator.clone();
    let addr = emulator.addr();
    drop(emulator);
    assert_eq!(
        raw(addr, "GET", "/_emulator/calls", &[], b"").await.status,
        200,
        "a clone keeps it alive"
    );
    clone.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let emulator = start().await;
    let addr = emulator.addr();
    drop(emulator);
    // The accept loop stops on its own task: give it the chance to run, without sleeping.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the port still accepts connections");
}

#[tokio::test]
async fn the_binary_prints_its_address_loads_seeds_and_checks_signatures() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = std::env::temp_dir().join(format!("scn-emulator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_file = dir.join("seed.json");
    std::fs::write(
        &seed_file,
        json!([{ "instanceId": ID, "instanceName": "from-file" }]).to_string(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplychain-emulator"))
        .args(["--port", "0", "--seed"])
        .arg(&seed_file)
        .args([
            "--access-key-id",
            AKID,
            "--secret-access-key",
            SECRET,
            "--delete-delay-ms",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("a first line");
    let endpoint = line
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"));

    let c = Client::from_conf(
        aws_sdk_supplychain::Config::builder()
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(AKID, SECRET, None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .behavior_version_latest()
            .build(),
    );
    let got = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(got.instance().unwrap().instance_name(), Some("from-file"));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_binary_explains_its_flags() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplychain-emulator"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--seed",
        "--account-id",
        "--region",
        "--create-delay-ms",
        "--delete-delay-ms",
        "--deleted-retention-ms",
        "--access-key-id",
        "--secret-access-key",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplychain-emulator"))
        .arg("--bogus")
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
}
