//! Runs the benchmark once in its short mode, on the debug binaries, so it cannot rot: every subject
//! must start, answer each invocation correctly and be measured (the one naming another account
//! with exactly one AssumeRole per process), and the results table must be complete. Benchmarks are not tests: no time is checked here.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_benchmark_runs_in_its_short_mode_and_writes_a_complete_table() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench"));
    let bin_dir = bench.parent().unwrap().to_path_buf();
    for name in ["delete-instance", "check-instance-status", "sweep-instances"] {
        assert!(
            bin_dir.join(name).is_file(),
            "{name} is not built in {}: run the workspace's tests (scripts/test), which build every binary",
            bin_dir.display()
        );
    }
    let results = std::env::temp_dir().join(format!("supplychain-bench-smoke-{}", std::process::id())).join("results.md");
    let venv = std::env::var_os("SUPPLYCHAIN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: the boto3 peer runs from the project's venv, which scripts/test (or scripts/setup) installs",
        python.display()
    );
    let mut command = Command::new(&bench);
    command.args(["--quick", "--levers", "--results"]).arg(&results).arg("--python").arg(&python);

    let output = command.output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    let table = std::fs::read_to_string(&results).unwrap();
    for row in [
        "| delete-instance |",
        "| delete-instance (default: tag check + delete) |",
        "| check-instance-status |",
        "| noop-function (runtime floor) |",
        "| raw HTTP client (service floor) |",
        "| aws-sdk-supplychain call in-process (SDK floor) |",
        "| lever: connection opened at first call, not at init |",
        "| lever: multi-threaded Tokio runtime |",
        "| lever: the platform's trust store file (SSL_CERT_FILE) |",
        "| delete-instance (x86_64) |",
        "| Warm invocation vs the service floor's request |",
        "| Runtime's own per-invocation overhead",
        "| Sum of the two floors |",
        "| boto3 peer (awslambdaric) |",
        "| Init vs boto3's |",
        "| sweep-instances, first run |",
        "| sweep-instances, later runs |",
        "| delete-instance, own account named |",
        "| delete-instance, another account (member role) |",
        "| First invocation (another account: assumes the member role) |",
        "| Warm invocation in another account (client kept) vs in its own |",
        // Every process naming another account assumed its role once, and no other process did.
        "| AssumeRole calls per process | 0 in each of 2 | 1 in each of 2 | |",
    ] {
        assert!(table.contains(row), "no row {row} in:\n{table}");
    }
    // Every subject was measured: no empty cell in the timing table.
    let timings = table.split("\n\n").find(|block| block.contains("| Subject |")).unwrap();
    for line in timings.lines().skip(2).filter(|line| !line.contains(" floor) |")) {
        assert!(!line.contains("| – |"), "a subject without measurements: {line}");
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.with_extension("json")).unwrap()).unwrap();
    for subject in json["subjects"].as_array().unwrap() {
        assert_eq!(subject["samples"]["first"], 2, "{subject}");
        assert_eq!(subject["samples"]["warm"], 10, "{subject}");
        assert!(subject["peakRssKib"].as_u64().unwrap() > 0, "{subject}");
    }
    assert_eq!(json["manyAccounts"]["assumeRolesPerProcess"], serde_json::json!([1, 1]), "{}", json["manyAccounts"]);
    assert!(json["manyAccounts"]["warmRatio"].as_f64().unwrap() > 0.0, "{}", json["manyAccounts"]);
    let _ = std::fs::remove_dir_all(results.parent().unwrap());
}
