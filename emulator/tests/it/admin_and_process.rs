//! The emulator's admin API over HTTP (seeds, faults, call log, states, clock, reset), its
//! shutdown, and the `supplychain-emulator` binary's flags.

use std::time::Duration;

use crate::support::raw;
use crate::support::supply_chain::{client, failure, start, AKID, ID, SECRET};
use aws_sdk_supplychain::config::retry::RetryConfig;
use aws_sdk_supplychain::config::{Credentials, Region};
use aws_sdk_supplychain::Client;
use serde_json::json;
use supplychain_emulator::SeedInstance;

// ----- admin API ----------------------------------------------------------------------------

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

    let bad = raw(addr, "POST", "/_emulator/instances", &[], br#"{"instanceId":"nope"}"#).await;
    assert_eq!(bad.status, 400);

    let fault = raw(addr, "POST", "/_emulator/faults", &[], br#"{"operation":"GetInstance","count":1,"fault":{"type":"throttle"}}"#).await;
    assert_eq!(fault.status, 200, "{}", fault.body);
    let c = client(&emulator);
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert_eq!(failure(&err).0, 429);

    raw(addr, "POST", "/_emulator/faults", &[], br#"[{"operation":"*","count":5,"fault":{"type":"internal"}}]"#).await;
    assert_eq!(raw(addr, "DELETE", "/_emulator/faults", &[], b"").await.status, 200);
    c.get_instance().instance_id(ID).send().await.unwrap();

    let calls = raw(addr, "GET", "/_emulator/calls", &[], b"").await.json();
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert_eq!(calls[0]["operation"], "GetInstance");
    assert_eq!(calls[0]["fault"], "throttle");
    assert_eq!(calls[0]["instanceId"], ID);
    assert!(calls[0]["atMillis"].is_u64());

    let state =
        raw(addr, "PUT", &format!("/_emulator/instances/{ID}/state"), &[], br#"{"state":"DeleteFailed","errorMessage":"boom"}"#).await;
    assert_eq!(state.json()["state"], "DeleteFailed");
    let history = raw(addr, "GET", &format!("/_emulator/instances/{ID}/history"), &[], b"").await.json();
    assert_eq!(history[1]["state"], "DeleteFailed");
    assert_eq!(history[1]["errorMessage"], "boom");
    assert!(history[1]["at"].is_f64());

    let clock = raw(addr, "POST", "/_emulator/clock", &[], br#"{"advanceMillis":1000}"#).await;
    assert!(clock.json()["nowMillis"].is_u64());

    assert_eq!(raw(addr, "DELETE", &format!("/_emulator/instances/{ID}"), &[], b"").await.status, 200);
    let err = c.get_instance().instance_id(ID).send().await.unwrap_err();
    assert_eq!(failure(&err).0, 404);

    assert_eq!(raw(addr, "DELETE", "/_emulator/calls", &[], b"").await.status, 200);
    assert!(emulator.calls().is_empty());
    emulator.seed(SeedInstance::default());
    assert_eq!(raw(addr, "POST", "/_emulator/reset", &[], b"").await.status, 200);
    assert!(emulator.instances().is_empty());
    assert!(emulator.history(ID).is_empty());
    assert_eq!(raw(addr, "GET", "/_emulator/nothing", &[], b"").await.status, 404);
}

// ----- process ------------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_closes_the_port_for_every_clone() {
    let emulator = start().await;
    let clone = emulator.clone();
    let addr = emulator.addr();
    drop(emulator);
    assert_eq!(raw(addr, "GET", "/_emulator/calls", &[], b"").await.status, 200, "a clone keeps it alive");
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
    let dir = std::env::temp_dir().join(format!("scn-emulator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_file = dir.join("seed.json");
    std::fs::write(&seed_file, json!([{ "instanceId": ID, "instanceName": "from-file" }]).to_string()).unwrap();
    let mut args: Vec<&std::ffi::OsStr> = vec!["--port".as_ref(), "0".as_ref(), "--seed".as_ref(), seed_file.as_os_str()];
    args.extend(["--access-key-id", AKID, "--secret-access-key", SECRET, "--delete-delay-ms", "5"].map(std::ffi::OsStr::new));
    let (mut child, endpoint) = crate::support::spawn_binary(&args).await;
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
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplychain-emulator")).arg("--help").output().await.unwrap();
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
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_supplychain-emulator")).arg("--bogus").output().await.unwrap();
    assert!(!bad.status.success());
}
