//! The soak (`--only soak`): the whole pipeline under load, faults and crashes
//! ([`supplychain_testkit::soak`]), run at each fault rate of [`RATES`], its verdict and figures
//! side by side. The run fails when any rate's verdict finds a difference.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use supplychain_testkit::soak::{run, Settings};

use crate::options::Options;
use crate::report::Report;

/// The fault rates of the soak, each with its kill rate: a quarter of the fault rate of the
/// invocations have their process killed.
pub const RATES: [f64; 3] = [0.0, 0.05, 0.20];

/// Runs the soak at each rate and reports them; `Err` when a soak could not run or found a difference.
pub async fn run_soak(options: &Options) -> Result<Report, String> {
    let python = options.python.clone().ok_or("the soak reads template.yaml with the project's venv (--python)")?;
    let mut runs = Vec::new();
    let mut differences = Vec::new();
    for rate in RATES {
        let mut settings = Settings::new(options.soak_requests, rate, rate / 4.0, options.bin_dir.clone(), python.clone());
        // The processes mostly wait (the SDK's backoff after a fault), so more of them than cores.
        settings.processes = 8;
        eprintln!("bench: soak of {} requests at a fault rate of {:.0} %", settings.requests, rate * 100.0);
        let soak = run(&settings).await?;
        for difference in soak.verdict.differences.iter().take(20) {
            differences.push(format!("at {:.0} %: {difference}", rate * 100.0));
        }
        if soak.verdict.differences.len() > 20 {
            differences.push(format!("at {:.0} %: and {} more", rate * 100.0, soak.verdict.differences.len() - 20));
        }
        runs.push(soak.figures);
    }
    let markdown = table(options, &runs);
    if !differences.is_empty() {
        return Err(format!("{markdown}\nthe soak found differences:\n{}", differences.join("\n")));
    }
    Ok(Report { markdown, json: json!({ "profile": options.profile, "soak": runs }) })
}

fn percent(value: &Value) -> String {
    format!("{:.2} %", value.as_f64().unwrap_or(0.0) * 100.0)
}

fn number(value: &Value) -> String {
    match value {
        Value::Null => "0".to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Every key of the object at `path` in any run, so each run shows every row.
fn keys(runs: &[Value], path: &str) -> BTreeSet<String> {
    let path = path.replace(" / ", " ~1 ");
    runs.iter().filter_map(|r| r.pointer(&path).and_then(Value::as_object)).flat_map(|o| o.keys().cloned()).collect()
}

/// The table of BENCHMARKS.md's "Soak": a row per figure, a column per fault rate.
fn table(options: &Options, runs: &[Value]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: String, cell: &dyn Fn(&Value) -> String| rows.push((label, runs.iter().map(cell).collect()));
    row("Fault rate of every call / kill rate of invocations".into(), &|r| {
        format!("{} / {}", percent(&r["settings"]["faultRate"]), percent(&r["settings"]["killRate"]))
    });
    row("Requests (repeats, in a member account)".into(), &|r| {
        format!("{} ({}, {})", number(&r["requests"]), number(&r["repeats"]), number(&r["memberAccount"]))
    });
    for kind in keys(runs, "/byKind") {
        let pointer = format!("/byKind/{kind}");
        row(format!("… {kind}"), &|r| r.pointer(&pointer).map_or("0".into(), number));
    }
    for outcome in keys(runs, "/outcomes") {
        let pointer = format!("/outcomes/{outcome}");
        row(format!("Outcome: {outcome}"), &|r| r.pointer(&pointer).map_or("0".into(), number));
    }
    row("**Lost**: valid requests without an outcome, and no trace of why".into(), &|r| format!("**{}**", number(&r["lost"])));
    for why in keys(runs, "/unannounced") {
        let pointer = format!("/unannounced/{why}");
        row(format!("Not announced: {why}"), &|r| r.pointer(&pointer).map_or("0".into(), number));
    }
    row("Duplicate announcements (same deduplicationId)".into(), &|r| number(&r["duplicateAnnouncements"]));
    row("Failed deletions started again by a late DeleteInstance attempt, not followed".into(), &|r| {
        number(&r["failedDeletionsRestartedByALateAttempt"])
    });
    for place in keys(runs, "/deadLettered") {
        let pointer = format!("/deadLettered/{}", place.replace('~', "~0").replace('/', "~1"));
        row(format!("Dead-lettered: {place}"), &|r| r.pointer(&pointer).map_or("0".into(), number));
    }
    for (label, path) in [("Supply Chain / STS", "supplyChainAndSts"), ("EventBridge / Scheduler / SQS", "eventBridgeSchedulerSqs")] {
        for operation in keys(runs, &format!("/{path}Calls")) {
            let pointer = format!("/{path}Calls/{operation}");
            row(format!("Calls: {operation} ({label})"), &|r| r.pointer(&pointer).map_or("0".into(), number));
        }
        for kind in keys(runs, &format!("/faultsInjected/{label}")) {
            let pointer = format!("/faultsInjected/{}/{kind}", label.replace('/', "~1"));
            row(format!("Faults injected: {kind} ({label})"), &|r| r.pointer(&pointer).map_or("0".into(), number));
        }
    }
    row("Scheduler deliveries refused (retried)".into(), &|r| number(&r["schedulerDeliveriesRefused"]));
    row("Processes killed mid-invocation (delete / check)".into(), &|r| {
        format!("{} / {}", number(&r["functions"]["delete-instance"]["killed"]), number(&r["functions"]["check-instance-status"]["killed"]))
    });
    row("Invocations (delete / check)".into(), &|r| {
        format!(
            "{} / {}",
            number(&r["functions"]["delete-instance"]["invocations"]),
            number(&r["functions"]["check-instance-status"]["invocations"])
        )
    });
    row("Asynchronous retries; SQS batches (messages delivered again)".into(), &|r| {
        format!("{}; {} ({})", number(&r["asyncRetries"]), number(&r["sqsBatches"]), number(&r["sqsRedeliveries"]))
    });
    row("Re-checks scheduled / fired / already there".into(), &|r| {
        let s = &r["schedules"];
        format!("{} / {} / {}", number(&s["created"]), number(&s["fired"]), number(&s["conflicts"]))
    });
    row("Request to outcome, emulator's clock: p50 / p99 / max (s)".into(), &|r| {
        let t = &r["secondsToOutcome"];
        format!("{} / {} / {}", number(&t["p50"]), number(&t["p99"]), number(&t["max"]))
    });
    row("Peak RSS (delete / check, MiB)".into(), &|r| {
        let mib = |v: &Value| format!("{:.1}", v.as_f64().unwrap_or(0.0) / 1024.0);
        format!(
            "{} / {}",
            mib(&r["functions"]["delete-instance"]["peakRssKiB"]),
            mib(&r["functions"]["check-instance-status"]["peakRssKiB"])
        )
    });
    row("RSS of delete-instance by tenth of the run (MiB)".into(), &|r| rss_line(&r["memory"]["rssKiBByTenthOfTheRun"]["delete-instance"]));
    row("RSS of check-instance-status by tenth of the run (MiB)".into(), &|r| {
        rss_line(&r["memory"]["rssKiBByTenthOfTheRun"]["check-instance-status"])
    });
    row("Emulator's clock / real time (s)".into(), &|r| {
        format!("{} / {:.0}", number(&r["emulatorClockSeconds"]), r["realSeconds"].as_f64().unwrap_or(0.0))
    });
    let mut text = format!(
        "Build: {}. The soak (--only soak): {} requests at each fault rate, {} processes of each function.\n\n| Figure |{}\n|---|{}\n",
        options.profile,
        options.soak_requests,
        runs.first().map_or("0".into(), |r| number(&r["settings"]["processesPerFunction"])),
        runs.iter().map(|r| format!(" {} faults |", percent(&r["settings"]["faultRate"]))).collect::<String>(),
        "---|".repeat(runs.len())
    );
    for (label, cells) in rows {
        text.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    text
}

fn rss_line(values: &Value) -> String {
    values.as_array().into_iter().flatten().map(|v| format!("{:.1}", v.as_f64().unwrap_or(0.0) / 1024.0)).collect::<Vec<_>>().join(" ")
}
