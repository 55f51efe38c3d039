//! ListInstances (pages, tokens, filters) and the tag operations on instance ARNs, through the
//! real SDK.

use crate::support::supply_chain::{client, failure, start, ID};
use aws_sdk_supplychain::types::InstanceState;
use supplychain_emulator::SeedInstance;

#[tokio::test]
async fn list_instances_pages_through_every_instance_with_opaque_tokens() {
    let emulator = start().await;
    for _ in 0..25 {
        emulator.seed(SeedInstance::default());
    }
    let client = client(&emulator);
    let first = client.list_instances().max_results(10).send().await.unwrap();
    assert_eq!(first.instances().len(), 10);
    let token = first.next_token().expect("more pages").to_owned();
    assert!(!token.chars().all(|c| c.is_ascii_digit()), "token should be opaque");

    let mut seen = Vec::new();
    let mut pages = client.list_instances().max_results(10).into_paginator().send();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        page_count += 1;
        seen.extend(page.unwrap().instances().iter().map(|i| i.instance_id().to_owned()));
    }
    assert_eq!(page_count, 3);
    let expected: Vec<String> = emulator.instances().into_iter().map(|i| i.instance_id).collect();
    assert_eq!(seen, expected, "every instance once, in creation order");

    let default_page = client.list_instances().send().await.unwrap();
    assert_eq!(default_page.instances().len(), 10, "default page size");
}

#[tokio::test]
async fn list_instances_filters_by_name_and_by_state() {
    let emulator = start().await;
    let named =
        |name: &str, state: &str| SeedInstance { instance_name: Some(name.into()), state: Some(state.into()), ..Default::default() };
    emulator.seed(named("alpha", "Active"));
    emulator.seed(named("beta", "Active"));
    emulator.seed(named("alpha", "DeleteFailed"));
    emulator.seed(named("gamma", "CreateFailed"));
    let client = client(&emulator);

    let by_name = client.list_instances().instance_name_filter("alpha").send().await.unwrap();
    assert_eq!(by_name.instances().len(), 2);

    let by_names = client.list_instances().instance_name_filter("alpha").instance_name_filter("gamma").send().await.unwrap();
    assert_eq!(by_names.instances().len(), 3);

    let by_state = client
        .list_instances()
        .instance_state_filter(InstanceState::DeleteFailed)
        .instance_state_filter(InstanceState::CreateFailed)
        .send()
        .await
        .unwrap();
    assert_eq!(by_state.instances().len(), 2);

    let both = client.list_instances().instance_name_filter("alpha").instance_state_filter(InstanceState::Active).send().await.unwrap();
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
    assert_eq!(arn, format!("arn:aws:scn:us-east-1:123456789012:instance/{ID}"));

    let tags = client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().get("DeletionProtection").map(String::as_str), Some("true"));

    client.tag_resource().resource_arn(&arn).tags("owner", "me").tags("env", "dev").send().await.unwrap();
    client.untag_resource().resource_arn(&arn).tag_keys("DeletionProtection").tag_keys("env").send().await.unwrap();
    let tags = client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags().get("owner").map(String::as_str), Some("me"));

    let call = emulator.calls().into_iter().find(|c| c.operation == "ListTagsForResource").unwrap();
    assert!(call.path.contains("%3A"), "the label arrives encoded: {}", call.path);
    assert_eq!(call.instance_id.as_deref(), Some(ID));
}

#[tokio::test]
async fn tag_operations_on_an_unknown_instance_are_resource_not_found() {
    let emulator = start().await;
    let client = client(&emulator);
    let arn = emulator.instance_arn(ID);
    let err = client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap_err();
    assert_eq!(failure(&err).0, 404);
    assert_eq!(failure(&err).1, "ResourceNotFoundException");
    let err = client.tag_resource().resource_arn(&arn).tags("a", "b").send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}
