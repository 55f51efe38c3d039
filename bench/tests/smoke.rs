//! Runs the benchmark once in its short mode, on the debug binaries, so it cannot rot: every subject
//! must start, answer each invocation correctly and be measured (the one naming another account
//! with exactly one AssumeRole per process), the organization sweep and the notice runs (small
//! fleets; the notice's KMS calls included) must make exactly the calls their fleets require, the
//! cost must be priced from BENCHMARKS.md's table, and the results table must be complete.
//! The organization sweep at scale runs alone at its smallest size, against moto's S3, its S3 calls
//! checked. Benchmarks are not tests: no time is checked here. Beside it, the checks the harness relies on are shown to fail when they must.

use std::path::PathBuf;
use std::process::Command;

/// Rows the short run's table must hold: every subject, floor and target, the sweeps with the calls
/// their fleets require, and the cost.
const ROWS: &[&str] = &[
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
    // The organization: first run, 3 AssumeRole (one per account, shared by its 2 regions),
    // 6 targets x 2 pages, 6 x 23 tag reads, 5 requests in one PutEvents and the report.
    "| One invocation (SWEEP_ACCOUNTS x SWEEP_REGIONS), first run |",
    "| 3 | 12 | 138 | 2 | 5 |",
    "| One invocation, later runs |",
    "| Plan, 6 one-target invokes and summary on one warm process, first round |",
    "| Plan, one-target invokes and summary, later rounds |",
    "| Against the sweep of 500 instances in one target (its later runs) |",
    // Notice: day 0 signs, announces and marks all 30; day 3 checks every mark (pending) and
    // neither marks nor requests; day 8 checks every mark (due) and requests the cap.
    "| day 0 |",
    "| 2 | 30 | 30 | 0 | 30 | 4 | 30 | 0 | 30 | 0 | 0 |",
    "| day 3 |",
    "| 2 | 30 | 0 | 30 | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
    "| day 8 |",
    "| 2 | 30 | 0 | 30 | 0 | 2 | 0 | 10 | 0 | 30 | 10 |",
    "| day 0: a mark each (GenerateMac, Deletion Scheduled, TagResource) |",
    "| day 3: a check each (VerifyMac), pending |",
    "| day 8: a check each (VerifyMac), due; the cap requested |",
    "| This project, every invocation warm |",
    "| boto3 peer, every invocation cold |",
    "| Step Functions polling loop (Wait, GetInstance, Choice per check) |",
    "| This project, OrganizationSweep (Distributed Map, one child per target) |",
    "| Step Functions alone (SDK integrations in each child, no function) |",
];

#[test]
fn the_benchmark_runs_in_its_short_mode_and_writes_a_complete_table() {
    let results = run_short_benchmark();

    let table = std::fs::read_to_string(&results).unwrap();
    for row in ROWS {
        assert!(table.contains(row), "no row {row} in:\n{table}");
    }
    // Every subject was measured: no empty cell in the timing table.
    let timings = table.split("\n\n").find(|block| block.contains("| Subject |")).unwrap();
    for line in timings.lines().skip(2).filter(|line| !line.contains(" floor) |")) {
        assert!(!line.contains("| – |"), "a subject without measurements: {line}");
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.with_extension("json")).unwrap()).unwrap();
    assert_subjects_and_organization(&json);
    assert_notice_days(json["notice"]["days"].as_array().unwrap());
    // Every row of the cost is priced.
    for table in ["followedDeletion", "organizationSweep"] {
        for row in json["cost"][table]["rows"].as_array().unwrap() {
            assert!(row["usd"].as_f64().unwrap() > 0.0, "{row}");
        }
    }
    let _ = std::fs::remove_dir_all(results.parent().unwrap());
}

/// Runs the benchmark in its short mode with the levers, on the debug binaries and small fleets;
/// returns where it wrote its table.
fn run_short_benchmark() -> PathBuf {
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
    let python = venv_python();
    let mut command = Command::new(&bench);
    command.args(["--quick", "--levers", "--results"]).arg(&results).arg("--python").arg(&python);
    // Small fleets: 3 accounts x 2 regions x 25 instances (2 pages, 2 Deleted, 5 expired a target), a
    // cap of 5 across the 6 targets; 30 instances given notice.
    command.args(["--org-accounts", "3", "--org-instances", "25", "--org-cap", "5", "--notice-instances", "30"]);

    let output = command.output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    results
}

/// The project's venv's Python: the boto3 peer's, beside moto's server.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SUPPLYCHAIN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: the boto3 peer and moto's server run from the project's venv, which scripts/test (or scripts/setup) installs",
        python.display()
    );
    python
}

/// Every subject measured in each round, the member role assumed once per process naming another
/// account, and the organization's calls: the roles kept after the first run, a report per target.
fn assert_subjects_and_organization(json: &serde_json::Value) {
    for subject in json["subjects"].as_array().unwrap() {
        assert_eq!(subject["samples"]["first"], 2, "{subject}");
        assert_eq!(subject["samples"]["warm"], 10, "{subject}");
        assert!(subject["peakRssKib"].as_u64().unwrap() > 0, "{subject}");
    }
    assert_eq!(json["manyAccounts"]["assumeRolesPerProcess"], serde_json::json!([1, 1]), "{}", json["manyAccounts"]);
    assert!(json["manyAccounts"]["warmRatio"].as_f64().unwrap() > 0.0, "{}", json["manyAccounts"]);
    let organization = &json["organization"];
    assert_eq!(organization["oneInvocation"]["firstCalls"]["AssumeRole"], 3, "{organization}");
    assert!(organization["oneInvocation"]["laterCalls"].get("AssumeRole").is_none(), "the roles are kept: {organization}");
    assert_eq!(organization["stateMachineSteps"]["entries"]["Supply Chain Instance Sweep Completed"], 6, "{organization}");
    assert_eq!(organization["stateMachineSteps"]["entries"]["Supply Chain Organization Sweep Completed"], 1, "{organization}");
}

/// The notice's days: one GenerateMac and one mark per instance on day 0, one VerifyMac per
/// instance on days 3 and 8, each day measured against report mode on its fleet.
fn assert_notice_days(days: &[serde_json::Value]) {
    assert_eq!(days.len(), 3, "{days:?}");
    assert_eq!((&days[0]["calls"]["GenerateMac"], &days[0]["calls"]["TagResource"]), (&30.into(), &30.into()), "{days:?}");
    assert!(days[0]["calls"].get("VerifyMac").is_none(), "no mark to check on day 0: {days:?}");
    for day in &days[1..] {
        assert_eq!(day["calls"]["VerifyMac"], 30, "{day}");
        assert!(day["calls"].get("GenerateMac").is_none() && day["calls"].get("TagResource").is_none(), "{day}");
    }
    assert!(days[1]["entries"].get("Supply Chain Instance Deletion Requested").is_none(), "{days:?}");
    assert_eq!(days[2]["entries"]["Supply Chain Instance Deletion Requested"], 10, "{days:?}");
    for day in days {
        assert_eq!(day["kmsCalls"], 30, "{day}");
        assert!(day["reportModeMedianMs"].is_f64() && day["addedMedianMs"].is_f64() && day["kmsSpanMedianMs"].is_f64(), "{day}");
    }
}

#[test]
fn the_notice_subject_runs_alone_and_writes_its_table_only() {
    let results = std::env::temp_dir().join(format!("supplychain-bench-notice-{}", std::process::id())).join("notice.md");
    let mut command = Command::new(env!("CARGO_BIN_EXE_bench"));
    command.args(["--only", "notice", "--rounds", "2", "--notice-instances", "30", "--results"]).arg(&results);

    let output = command.output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench --only notice failed: {stderr}");
    let table = std::fs::read_to_string(&results).unwrap();
    assert!(table.contains("| 2 | 30 | 30 | 0 | 30 | 4 | 30 | 0 | 30 | 0 | 0 |"), "{table}");
    assert!(table.contains("| Against report mode on the same fleet, same process (paired by round) |"), "{table}");
    assert!(!table.contains("| Subject |") && !table.contains("Organization sweep"), "the notice's tables only: {table}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.with_extension("json")).unwrap()).unwrap();
    assert_notice_days(json["notice"]["days"].as_array().unwrap());
    let _ = std::fs::remove_dir_all(results.parent().unwrap());
}

#[test]
fn the_organization_sweep_at_scale_runs_alone_against_moto_and_checks_its_s3_calls() {
    let results = std::env::temp_dir().join(format!("supplychain-bench-scale-{}", std::process::id())).join("scale.md");
    let mut command = Command::new(env!("CARGO_BIN_EXE_bench"));
    command.args(["--only", "organization-scale", "--rounds", "1", "--scale-targets", "1000", "--results"]).arg(&results);
    command.arg("--python").arg(venv_python());

    let output = command.output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench --only organization-scale failed: {stderr}");
    let table = std::fs::read_to_string(&results).unwrap();
    assert!(table.contains("| 1000 (200 x 5) |"), "{table}");
    assert!(table.contains("| 1000 targets | 1 | 2 |"), "one PutObject, two GetObject: {table}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.with_extension("json")).unwrap()).unwrap();
    let size = &json["organizationScale"]["sizes"][0];
    assert_eq!((&size["putObjectCalls"], &size["getObjectCalls"], &size["failedChildren"]), (&1.into(), &2.into(), &1.into()), "{size}");
    assert!(size["summaryPeakRssKib"].as_u64().unwrap() > 0 && size["putObjectBytes"].as_u64().unwrap() > 0, "{size}");
    let _ = std::fs::remove_dir_all(results.parent().unwrap());
}

#[test]
fn only_a_subject_that_runs_alone_is_accepted() {
    let output = Command::new(env!("CARGO_BIN_EXE_bench")).args(["--only", "organization"]).output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--only takes `notice`, `organization-scale` or `soak`"), "{stderr}");
}

#[test]
fn a_call_count_that_differs_from_the_fleets_fails_the_check_and_names_the_rule() {
    use supplychain_bench::{check_calls, ExpectedCalls};
    let expected = [
        ExpectedCalls::new("ListInstances", 6, "3 targets x 2 pages of 20"),
        ExpectedCalls::new("AssumeRole", 3, "one per member account and process"),
    ];
    let measured = |calls: &[(&str, usize)]| calls.iter().map(|(op, n)| (op.to_string(), *n)).collect();

    assert_eq!(check_calls("run 1", &expected, &measured(&[("ListInstances", 6), ("AssumeRole", 3)])), Ok(()));
    // One AssumeRole per account and region instead of per account.
    let error = check_calls("run 1", &expected, &measured(&[("ListInstances", 6), ("AssumeRole", 6)])).unwrap_err();
    assert!(error.starts_with("run 1: "), "{error}");
    assert!(error.contains("AssumeRole 6, expected exactly 3 (one per member account and process)"), "{error}");
    // A call of an operation the run must not make at all.
    let error = check_calls("run 1", &expected, &measured(&[("ListInstances", 6), ("AssumeRole", 3), ("TagResource", 1)])).unwrap_err();
    assert!(error.contains("TagResource 1, expected none"), "{error}");
}

#[test]
fn the_price_table_of_benchmarks_md_names_every_price_once() {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md")).unwrap();

    let prices = supplychain_bench::parse_prices(&text).unwrap();

    for key in supplychain_bench::PRICE_KEYS {
        assert!(prices.get(key) > 0.0, "{key}");
    }
}

#[test]
fn the_benchmark_stops_before_measuring_when_it_cannot_price_the_work() {
    let dir = std::env::temp_dir().join(format!("supplychain-bench-prices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prices = dir.join("no-prices.md");
    std::fs::write(&prices, "# Benchmarks\n\nNo price table here.\n").unwrap();

    let output =
        Command::new(env!("CARGO_BIN_EXE_bench")).arg("--prices").arg(&prices).arg("--results").arg(dir.join("r.md")).output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no row for lambda-arm64-gb-second"), "{stderr}");
    assert!(!dir.join("r.md").exists(), "nothing was measured");
    let _ = std::fs::remove_dir_all(&dir);
}
