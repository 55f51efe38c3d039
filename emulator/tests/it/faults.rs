//! Faults injected into the emulator's own API (errors, throttling, canned answers, delay, drop, hang) as the SDK
//! sees them, and the call log that records each call. The fault proxy in front of moto is
//! tested in `proxy.rs`.

use std::time::{Duration, Instant};

use crate::support::supply_chain::{client, config_builder, failure, seed_active, start, AKID, ID};
use aws_sdk_supplychain::config::retry::RetryConfig;
use aws_sdk_supplychain::config::timeout::TimeoutConfig;
use aws_sdk_supplychain::error::SdkError;
use aws_sdk_supplychain::operation::RequestId;
use aws_sdk_supplychain::types::InstanceState;
use aws_sdk_supplychain::Client;
use supplychain_emulator::{Fault, FaultRule};

// ----- call log -----------------------------------------------------------------------------

#[tokio::test]
async fn every_response_carries_a_request_id_that_the_call_log_records() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let c = client(&emulator);
    let ok = c.get_instance().instance_id(ID).send().await.unwrap();
    let err = c.get_instance().instance_id("bad").send().await.unwrap_err();
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
    let deleted = retrying.delete_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(deleted.instance().unwrap().state(), &InstanceState::Deleting);
    let statuses: Vec<(u16, Option<String>)> = emulator.calls().into_iter().map(|c| (c.status, c.fault)).collect();
    assert_eq!(statuses, [(429, Some("throttle".into())), (429, Some("throttle".into())), (200, None)]);
}

#[tokio::test]
async fn error_faults_answer_with_their_status_and_error_type() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Throttle));
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Internal));
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::Unavailable));
    emulator.inject(FaultRule::new("GetInstance", 1, Fault::error(402, "ServiceQuotaExceededException", "too many")));
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
    assert!(c.get_instance().instance_id(ID).send().await.is_ok(), "rules are used up");
}

#[tokio::test]
async fn a_respond_fault_answers_its_canned_response_instead_of_serving_the_call() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    let failed = serde_json::json!({"instance": {"instanceId": ID, "awsAccountId": "123456789012", "state": "DeleteFailed"}});
    emulator.inject(FaultRule::new("DeleteInstance", 1, Fault::respond(200, failed.to_string())));
    let c = client(&emulator);

    let answered = c.delete_instance().instance_id(ID).send().await.unwrap();

    assert_eq!(answered.instance().unwrap().state(), &InstanceState::DeleteFailed);
    let calls = emulator.calls();
    assert_eq!((calls[0].status, calls[0].fault.as_deref()), (200, Some("respond")));
    assert_eq!(answered.request_id(), Some(calls[0].request_id.as_str()));
    // The call was not served: the instance is as it was.
    let read = c.get_instance().instance_id(ID).send().await.unwrap();
    assert_eq!(read.instance().unwrap().state(), &InstanceState::Active);
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
    let got = client(&emulator).get_instance().instance_id(ID).send().await.unwrap();
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
    let err = client(&emulator).delete_instance().instance_id(ID).send().await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    let call = &emulator.calls()[0];
    assert_eq!((call.status, call.fault.as_deref()), (0, Some("drop")));
    assert_eq!(emulator.instance(ID).unwrap().state, "Active", "the call never ran");

    // On the wire: not a single byte comes back.
    emulator.inject(FaultRule::new("ListInstances", 1, Fault::Drop));
    let bytes = crate::support::raw_bytes(emulator.addr(), "GET", "/api/instance", &[], b"").await;
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
}

#[tokio::test]
async fn the_sdk_retries_dropped_connections_and_the_call_log_counts_each_attempt() {
    let emulator = start().await;
    seed_active(&emulator, ID);
    emulator.inject(FaultRule::new("GetInstance", 2, Fault::Drop));
    let retrying = Client::from_conf(
        config_builder(&emulator)
            .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)))
            .build(),
    );
    retrying.get_instance().instance_id(ID).send().await.unwrap();
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
            .timeout_config(TimeoutConfig::builder().operation_attempt_timeout(Duration::from_millis(300)).build())
            .build(),
    );
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    let call = &emulator.calls()[0];
    assert_eq!((call.status, call.fault.as_deref()), (0, Some("hang")));
    assert!(c.get_instance().instance_id(ID).send().await.is_ok());
}
