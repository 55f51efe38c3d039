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

/// A JSON pointer to the value at `path`, each segment escaped (`~`, `/`).
fn pointer(path: &[&str]) -> String {
    path.iter().map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1"))).collect()
}

/// The table's rows, a label and a cell per run.
struct Rows<'a> {
    runs: &'a [Value],
    rows: Vec<(String, Vec<String>)>,
}

impl Rows<'_> {
    fn row(&mut self, label: impl Into<String>, cell: impl Fn(&Value) -> String) {
        let cells = self.runs.iter().map(cell).collect();
        self.rows.push((label.into(), cells));
    }

    /// A row per key of the object at `path` in any run, so each run shows every row; a run
    /// without the key shows 0.
    fn row_per_key(&mut self, path: &[&str], label: impl Fn(&str) -> String) {
        let at = pointer(path);
        let keys: BTreeSet<String> =
            self.runs.iter().filter_map(|r| r.pointer(&at).and_then(Value::as_object)).flat_map(|o| o.keys().cloned()).collect();
        for key in keys {
            let at = pointer(&[path, &[key.as_str()]].concat());
            self.row(label(&key), |r| r.pointer(&at).map_or("0".into(), number));
        }
    }
}

/// The table of BENCHMARKS.md's "Soak": a row per figure, a column per fault rate.
fn table(options: &Options, runs: &[Value]) -> String {
    let mut rows = Rows { runs, rows: Vec::new() };
    load_rows(&mut rows);
    verdict_rows(&mut rows);
    call_rows(&mut rows);
    function_rows(&mut rows);
    time_and_memory_rows(&mut rows);
    let mut text = format!(
        "Build: {}. The soak (--only soak): {} requests at each fault rate, {} processes of each function.\n\n| Figure |{}\n|---|{}\n",
        options.profile,
        options.soak_requests,
        runs.first().map_or("0".into(), |r| number(&r["settings"]["processesPerFunction"])),
        runs.iter().map(|r| format!(" {} faults |", percent(&r["settings"]["faultRate"]))).collect::<String>(),
        "---|".repeat(runs.len())
    );
    for (label, cells) in rows.rows {
        text.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    text
}

/// What was played: the rates, and the requests by kind.
fn load_rows(rows: &mut Rows) {
    rows.row("Fault rate of every call / kill rate of invocations", |r| {
        format!("{} / {}", percent(&r["settings"]["faultRate"]), percent(&r["settings"]["killRate"]))
    });
    rows.row("Requests (repeats, in a member account)", |r| {
        format!("{} ({}, {})", number(&r["requests"]), number(&r["repeats"]), number(&r["memberAccount"]))
    });
    rows.row_per_key(&["byKind"], |kind| format!("… {kind}"));
}

/// How the requests ended: outcomes, the lost, the unannounced and why, repeats, dead letters.
fn verdict_rows(rows: &mut Rows) {
    rows.row_per_key(&["outcomes"], |outcome| format!("Outcome: {outcome}"));
    rows.row("**Lost**: valid requests without an outcome, and no trace of why", |r| format!("**{}**", number(&r["lost"])));
    rows.row_per_key(&["unannounced"], |why| format!("Not announced: {why}"));
    rows.row("Duplicate announcements (same deduplicationId)", |r| number(&r["duplicateAnnouncements"]));
    rows.row("Failed deletions started again by a late DeleteInstance attempt, not followed", |r| {
        number(&r["failedDeletionsRestartedByALateAttempt"])
    });
    rows.row_per_key(&["deadLettered"], |place| format!("Dead-lettered: {place}"));
}

/// The calls the functions made and the faults injected, by server; Scheduler's refused deliveries.
fn call_rows(rows: &mut Rows) {
    for (label, path) in
        [("Supply Chain / STS", "supplyChainAndStsCalls"), ("EventBridge / Scheduler / SQS", "eventBridgeSchedulerSqsCalls")]
    {
        rows.row_per_key(&[path], |operation| format!("Calls: {operation} ({label})"));
        rows.row_per_key(&["faultsInjected", label], |kind| format!("Faults injected: {kind} ({label})"));
    }
    rows.row("Scheduler deliveries refused (retried)", |r| number(&r["schedulerDeliveriesRefused"]));
}

/// What Lambda, SQS and Scheduler did: kills, invocations, retries, batches, re-checks.
fn function_rows(rows: &mut Rows) {
    let both = |r: &Value, figure: &str| {
        format!("{} / {}", number(&r["functions"]["delete-instance"][figure]), number(&r["functions"]["check-instance-status"][figure]))
    };
    rows.row("Processes killed mid-invocation (delete / check)", |r| both(r, "killed"));
    rows.row("Invocations (delete / check)", |r| both(r, "invocations"));
    rows.row("Asynchronous retries; SQS batches (messages delivered again)", |r| {
        format!("{}; {} ({})", number(&r["asyncRetries"]), number(&r["sqsBatches"]), number(&r["sqsRedeliveries"]))
    });
    rows.row("Re-checks scheduled / fired / already there", |r| {
        let s = &r["schedules"];
        format!("{} / {} / {}", number(&s["created"]), number(&s["fired"]), number(&s["conflicts"]))
    });
}

/// Time to an outcome, the functions' memory, and how long the run took on each clock.
fn time_and_memory_rows(rows: &mut Rows) {
    rows.row("Request to outcome, emulator's clock: p50 / p99 / max (s)", |r| {
        let t = &r["secondsToOutcome"];
        format!("{} / {} / {}", number(&t["p50"]), number(&t["p99"]), number(&t["max"]))
    });
    rows.row("Peak RSS (delete / check, MiB)", |r| {
        let mib = |v: &Value| format!("{:.1}", v.as_f64().unwrap_or(0.0) / 1024.0);
        format!(
            "{} / {}",
            mib(&r["functions"]["delete-instance"]["peakRssKiB"]),
            mib(&r["functions"]["check-instance-status"]["peakRssKiB"])
        )
    });
    for function in ["delete-instance", "check-instance-status"] {
        rows.row(format!("RSS of {function} by tenth of the run (MiB)"), |r| rss_line(&r["memory"]["rssKiBByTenthOfTheRun"][function]));
    }
    rows.row("Emulator's clock / real time (s)", |r| {
        format!("{} / {:.0}", number(&r["emulatorClockSeconds"]), r["realSeconds"].as_f64().unwrap_or(0.0))
    });
}

fn rss_line(values: &Value) -> String {
    values.as_array().into_iter().flatten().map(|v| format!("{:.1}", v.as_f64().unwrap_or(0.0) / 1024.0)).collect::<Vec<_>>().join(" ")
}
