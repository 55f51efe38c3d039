//! The soak's small version ([`supplychain_testkit::soak`]; the full one is `scripts/bench soak`,
//! BENCHMARKS.md "Soak"): a few hundred requests of every shape and kind through the stack as
//! deployed (the request queue's event source, the bus and its rules read from template.yaml, the
//! checker's re-checks fired by the emulator's clock, Lambda's retries, the state machine's task),
//! with every call the functions make faulted at 5 % and 2 % of the invocations killed
//! mid-invocation. The verdict is read from the emulator's call log and from what reached the bus
//! and the queues.

use std::path::PathBuf;

use supplychain_testkit::soak::{run, Settings};

use crate::support::{tools::venv_bin, DELETE_BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_ends_exactly_as_it_must_under_faults_and_killed_processes() {
    let bin_dir = PathBuf::from(DELETE_BIN).parent().unwrap().to_path_buf();
    let mut settings = Settings::new(300, 0.05, 0.02, bin_dir, venv_bin("python"));
    settings.spread = std::time::Duration::from_secs(60);
    let soak = run(&settings).await.unwrap_or_else(|e| panic!("the soak did not run to its end: {e}"));
    let figures = &soak.figures;
    assert!(
        soak.verdict.differences.is_empty(),
        "the soak found {} differences:\n{}\nfigures: {figures:#}",
        soak.verdict.differences.len(),
        soak.verdict.differences.join("\n")
    );
    // The run was the one stated: faults of each kind reached both servers, processes were
    // killed, and every kind of end was seen.
    for server in ["Supply Chain / STS", "EventBridge / Scheduler / SQS"] {
        let injected: u64 = figures["faultsInjected"][server].as_object().unwrap().values().filter_map(|v| v.as_u64()).sum();
        assert!(injected > 0, "no fault reached {server}: {figures:#}");
    }
    let killed = figures["functions"]["delete-instance"]["killed"].as_u64().unwrap()
        + figures["functions"]["check-instance-status"]["killed"].as_u64().unwrap();
    assert!(killed > 0, "no process was killed: {figures:#}");
    assert_eq!(figures["lost"], 0);
    for outcome in ["Supply Chain Instance Deleted", "Supply Chain Instance Deletion Failed"] {
        assert!(figures["outcomes"][outcome].as_u64().unwrap_or(0) > 0, "no {outcome}: {figures:#}");
    }
}
