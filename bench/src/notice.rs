//! The notice before deletion, through the real `sweep-instances` binary against the emulator (plain
//! HTTP) and the stand-ins: the bus, and KMS holding the notice key that signs and checks the marks.
//!
//! `notice_instances` instances, all expired, an owner each, `NOTICE_HOURS=168`, cap 10, delete
//! mode: a run on day 0, then one on day 3 and one on day 8 of the same instances, each in a process
//! whose wall clock Debian's libfaketime moves ahead. Day 0 gives notice (one GenerateMac, one
//! Deletion Scheduled and one TagResource per instance); on day 3 every mark is checked (one
//! VerifyMac each) and pending; on day 8 every mark is checked and due, and the cap is requested.
//! libfaketime is required: a later day's marks can only be the ones the sweep signed on day 0.
//!
//! What a mark and a check cost in time is measured against a peer in the same process: each day's
//! process runs the sweep in report mode first (the same list and tag reads, no mark read, no KMS
//! call; a warm-up, so the day's run is not the process's first), then the day's run, then report
//! mode again, the peer. The day's run minus its peer, round by round, is what notice added to that
//! run. The KMS stand-in's clock gives the span of the run's KMS calls (first one read to last one
//! answered) and its own handling time per call.
//!
//! Every run's calls are counted (the emulator's log, the bus's PutEvents, KMS's calls) and must be
//! exactly the ones its fleet requires, computed here from what was seeded: the run fails otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance};

use supplychain_testkit::{ACCOUNT, REGION};

use crate::options::Options;
use crate::organization::{count, DELETION_REQUESTED, SWEEP_COMPLETED};
use crate::stats::{in_micros, in_ms, median, micros, ms, quantile, quantile_f64, spread};
use crate::sweeps::*;

pub(crate) const DELETION_SCHEDULED: &str = "Supply Chain Instance Deletion Scheduled";
/// The notice period of the subject, the stack's default (7 days).
const NOTICE_HOURS: u64 = 168;
/// The cap of the subject's runs, the stack's default.
const NOTICE_CAP: usize = 10;
/// The days the subject sweeps on, after the first run.
const DAYS: [(&str, i64); 3] = [("day 0", 0), ("day 3", 3), ("day 8", 8)];

/// One day of the notice subject, over every round.
#[derive(Debug, Clone, Default)]
pub(crate) struct Day {
    pub(crate) label: &'static str,
    /// The day's run, each round.
    pub(crate) runs: Vec<Duration>,
    /// The report-mode run of the same fleet right after it, in the same process, each round.
    pub(crate) peers: Vec<Duration>,
    /// The day's run minus its peer, each round, in ms (negative when the peer took longer).
    pub(crate) added_ms: Vec<f64>,
    /// From the stand-in reading the run's first KMS call to its answering the last, each round.
    pub(crate) kms_spans: Vec<Duration>,
    /// The stand-in's own time for each KMS call of every round: the request read to the answer built.
    pub(crate) kms_handling: Vec<Duration>,
    /// The calls of the last round's run, by operation, and its bus entries by detail-type.
    pub(crate) calls: BTreeMap<String, usize>,
    pub(crate) entries: BTreeMap<String, usize>,
    /// The run's report counts.
    pub(crate) counts: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct NoticeSamples {
    pub(crate) instances: usize,
    /// How the later days' clock was moved.
    pub(crate) clock: String,
    pub(crate) days: Vec<Day>,
}

/// libfaketime as Debian installs it (the `faketime` package, which `scripts/setup bench` installs).
///
/// It is preloaded into the sweep directly rather than through the `faketime` command: that wrapper
/// keeps a semaphore and a shared-memory file in /dev/shm named by its pid, which a killed process
/// leaves behind, and a later wrapper that happens to get the same pid then fails to start
/// (`sem_open: File exists`). Preloaded with `FAKETIME` set, the library needs neither.
fn libfaketime() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path().join("faketime")).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/lib/faketime", "/usr/local/lib/faketime"].map(PathBuf::from));
    dirs.into_iter().map(|dir| dir.join("libfaketime.so.1")).find(|lib| lib.is_file())
}

pub(crate) async fn measure_notice(options: &Options, rounds: usize) -> Result<NoticeSamples, String> {
    let instances = options.notice_instances;
    // The later days read the marks the day-0 run signed: without a clock moved ahead there are no
    // such marks, and making them here would copy the sweep's signed text.
    let lib = libfaketime().ok_or(
        "the notice subject needs Debian's libfaketime (package faketime: `scripts/setup bench` installs it, or \
         `apt-get install faketime`), which moves the later days' clock ahead; no libfaketime.so.1 in /usr/lib/*/faketime",
    )?;
    let clock = format!(
        "each later day's run in a process whose wall clock is N days ahead (LD_PRELOAD={}, FAKETIME=+Nd, \
         FAKETIME_DONT_FAKE_MONOTONIC=1), on the instances the day-0 run marked",
        lib.display()
    );
    let mut days: Vec<Day> = DAYS.iter().map(|&(label, _)| Day { label, ..Default::default() }).collect();
    for round in 0..rounds.max(1) {
        let fleet = NoticeFleet::start(instances).await?;
        for (index, (label, offset_days)) in DAYS.into_iter().enumerate() {
            let what = format!("notice, {label} (round {})", round + 1);
            let mut env = sweep_env(
                &fleet.emulator,
                &fleet.stand_ins,
                &[("NOTICE_HOURS", NOTICE_HOURS.to_string()), ("MAX_DELETIONS_PER_SWEEP", NOTICE_CAP.to_string())],
            );
            if offset_days > 0 {
                env.extend([
                    ("LD_PRELOAD".to_owned(), lib.display().to_string()),
                    ("FAKETIME".to_owned(), format!("+{offset_days}d")),
                    // The wall clock only: timers and the invocation's budget keep the real monotonic clock.
                    ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
                ]);
            }
            let process = SweepProcess::start(options, &env, &format!("sweep-notice-{index}")).await?;
            let outcome = run_day(&process, &fleet, index, &what, &mut days[index]).await;
            process.stop().await;
            outcome?;
        }
    }
    Ok(NoticeSamples { instances, clock, days })
}

/// One day in its process: report mode (the warm-up), the day's run in delete mode, report mode
/// again (the peer), each run's calls checked; the day's figures added to `day`.
async fn run_day(process: &SweepProcess, fleet: &NoticeFleet, index: usize, what: &str, day: &mut Day) -> Result<(), String> {
    report_mode(process, fleet, &format!("{what}, report mode before the run")).await?;
    let (report, took) = process.invoke(json!({ "mode": "delete" })).await.map_err(|e| format!("{what}: {e}"))?;
    let taken = fleet.stand_ins.take(&fleet.emulator);
    let entries = entries_by_type(&taken.puts);
    let (expected_calls, expected_entries) = expected(index, fleet.instances);
    check_calls(what, &expected_calls, &taken.calls)?;
    check_calls(what, &expected_entries, &entries)?;
    let counts = &report["counts"];
    if !counts_hold(index, fleet.instances, counts) || report["complete"] != true {
        return Err(format!("{what}: unexpected report counts {counts} (complete: {})", report["complete"]));
    }
    let peer = report_mode(process, fleet, &format!("{what}, report mode after the run (its peer)")).await?;
    day.runs.push(took);
    day.peers.push(peer);
    day.added_ms.push((took.as_secs_f64() - peer.as_secs_f64()) * 1000.0);
    let first = taken.kms.iter().map(|call| call.received).min();
    let last = taken.kms.iter().map(|call| call.answered).max();
    day.kms_spans.extend(first.zip(last).map(|(first, last)| last - first));
    day.kms_handling.extend(taken.kms.iter().map(|call| call.answered - call.received));
    day.calls = taken.calls;
    day.entries = entries;
    day.counts = counts.clone();
    Ok(())
}

/// A report-mode run of the fleet: the same list and tag reads as the day's run, no mark read, no
/// KMS call, one report. Its time.
async fn report_mode(process: &SweepProcess, fleet: &NoticeFleet, what: &str) -> Result<Duration, String> {
    fleet.stand_ins.clear(&fleet.emulator);
    let (report, took) = process.invoke(json!({ "mode": "report" })).await.map_err(|e| format!("{what}: {e}"))?;
    let taken = fleet.stand_ins.take(&fleet.emulator);
    let mut calls = listed(fleet.instances);
    calls.push(ExpectedCalls::new("PutEvents", 1, "the report; report mode reads no mark, so no KMS call"));
    check_calls(what, &calls, &taken.calls)?;
    check_calls(what, &[ExpectedCalls::new(SWEEP_COMPLETED, 1, "one report")], &entries_by_type(&taken.puts))?;
    let counts = &report["counts"];
    if counts["selected"] != fleet.instances || counts["requested"] != 0 || report["complete"] != true {
        return Err(format!("{what}: expected {} selected and none requested, answered {counts}", fleet.instances));
    }
    Ok(took)
}

/// The reads every run makes: the pages of the list, and each instance's tags.
fn listed(instances: usize) -> Vec<ExpectedCalls> {
    vec![
        ExpectedCalls::new("ListInstances", pages(instances), "pages of 20"),
        ExpectedCalls::new("ListTagsForResource", instances, "one per instance"),
    ]
}

/// The calls the run of day `index` must make, and the bus entries it must put.
fn expected(index: usize, instances: usize) -> (Vec<ExpectedCalls>, Vec<ExpectedCalls>) {
    let mut calls = listed(instances);
    let report = ExpectedCalls::new(SWEEP_COMPLETED, 1, "one report");
    let check = ExpectedCalls::new("VerifyMac", instances, "one check per selected instance carrying a signed mark");
    match index {
        0 => {
            calls.extend([
                ExpectedCalls::new("GenerateMac", instances, "one signature per instance given notice"),
                ExpectedCalls::new("TagResource", instances, "one mark per instance whose notice the bus accepted"),
                ExpectedCalls::new("PutEvents", batches(instances) + 1, "one Deletion Scheduled each, 10 an entry list, and the report"),
            ]);
            (calls, vec![ExpectedCalls::new(DELETION_SCHEDULED, instances, "one per instance given notice"), report])
        }
        1 => {
            calls.extend([check, ExpectedCalls::new("PutEvents", 1, "the report only: every mark is pending")]);
            (calls, vec![report])
        }
        _ => {
            let requested = NOTICE_CAP.min(instances);
            let why = format!("{requested} Deletion Requested (every mark due, the cap {NOTICE_CAP}) and the report");
            calls.extend([check, ExpectedCalls::new("PutEvents", batches(requested) + 1, why)]);
            (calls, vec![ExpectedCalls::new(DELETION_REQUESTED, requested, format!("the cap of {NOTICE_CAP}")), report])
        }
    }
}

/// Whether the report of day `index` counts what that day must do.
fn counts_hold(index: usize, instances: usize, counts: &Value) -> bool {
    match index {
        0 => counts["marked"] == instances && counts["requested"] == 0,
        1 => counts["marked"] == 0 && counts["due"] == 0 && counts["requested"] == 0,
        _ => counts["due"] == instances && counts["requested"] == NOTICE_CAP.min(instances) && counts["marked"] == 0,
    }
}

/// An emulator holding the subject's instances (all expired, an owner each), and its stand-ins.
struct NoticeFleet {
    emulator: Emulator,
    stand_ins: StandIns,
    instances: usize,
}

impl NoticeFleet {
    async fn start(instances: usize) -> Result<NoticeFleet, String> {
        let config = EmulatorConfig { account_id: ACCOUNT.into(), region: REGION.into(), ..Default::default() };
        let emulator = Emulator::start(config).await.map_err(|e| format!("notice emulator: {e}"))?;
        for _ in 0..instances {
            let tags = [("ExpiresAt".to_owned(), "2020-01-31".to_owned()), ("Owner".to_owned(), "team-bench".to_owned())].into();
            emulator.seed(SeedInstance { tags, ..Default::default() });
        }
        Ok(NoticeFleet { emulator, stand_ins: StandIns::start().await?, instances })
    }
}

// ----- the report ------------------------------------------------------------------------------

/// The "Notice" tables and their JSON.
pub(crate) fn notice_report(notice: &NoticeSamples) -> (String, Value) {
    let mut md = format!(
        "\n| Notice: {} instances, all expired, NOTICE_HOURS={NOTICE_HOURS}, delete mode, cap {NOTICE_CAP} | ms | ListInstances | \
         ListTagsForResource | GenerateMac | VerifyMac | TagResource | PutEvents | Deletion Scheduled | Deletion Requested | \
         Marked | Due | Requested |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        notice.instances
    );
    for day in &notice.days {
        let number = |name: &str| day.counts[name].as_u64().map_or("–".to_owned(), |n| n.to_string());
        let calls: Vec<String> = ["ListInstances", "ListTagsForResource", "GenerateMac", "VerifyMac", "TagResource", "PutEvents"]
            .iter()
            .map(|operation| count(&day.calls, operation).to_string())
            .collect();
        md.push_str(&format!(
            "| {} | {}{} | {} | {} | {} | {} | {} | {} |\n",
            day.label,
            ms(median(&day.runs)),
            spread(&day.runs),
            calls.join(" | "),
            count(&day.entries, DELETION_SCHEDULED),
            count(&day.entries, DELETION_REQUESTED),
            number("marked"),
            number("due"),
            number("requested"),
        ));
    }
    let (cost_md, days) = cost_per_instance(notice);
    md.push_str(&cost_md);
    let handling: Vec<Duration> = notice.days.iter().flat_map(|day| day.kms_handling.iter().copied()).collect();
    md.push_str(&format!(
        "\nKMS stand-in: answers at once on loopback HTTP/1.1, no latency added; its own time per call (request read to answer \
         built) {} µs median, {} µs p99, over {} calls.\n\nClock: {}.\n",
        micros(median(&handling)),
        micros(quantile(&handling, 0.99)),
        handling.len(),
        notice.clock
    ));
    let json = json!({
        "instances": notice.instances, "clock": notice.clock, "days": days,
        "kmsHandlingMedianMicros": in_micros(median(&handling)),
        "kmsHandlingP99Micros": in_micros(quantile(&handling, 0.99)),
    });
    (md, json)
}

/// The table of what a mark and a check add to a run's time, against the report-mode peer, and
/// each day's JSON.
fn cost_per_instance(notice: &NoticeSamples) -> (String, Vec<Value>) {
    let n = notice.instances as f64;
    let mut md = String::from(
        "\n| Against report mode on the same fleet, same process (paired by round) | Run ms | Report mode ms | Added ms | Added \
         per instance ms | KMS calls | KMS calls' span ms | Span per KMS call ms |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut days = Vec::new();
    for (day, what) in notice.days.iter().zip([
        "a mark each (GenerateMac, Deletion Scheduled, TagResource)",
        "a check each (VerifyMac), pending",
        "a check each (VerifyMac), due; the cap requested",
    ]) {
        let added = quantile_f64(&day.added_ms, 0.5);
        let kms_calls = count(&day.calls, "GenerateMac") + count(&day.calls, "VerifyMac");
        let span = median(&day.kms_spans);
        let per_call = span.filter(|_| kms_calls > 0).map(|span| span / kms_calls as u32);
        let text = |value: Option<f64>, digits: usize| value.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
        md.push_str(&format!(
            "| {}: {what} | {} | {} | {} ({}–{}) | {} | {kms_calls} | {} | {} |\n",
            day.label,
            ms(median(&day.runs)),
            ms(median(&day.peers)),
            text(added, 2),
            text(quantile_f64(&day.added_ms, 0.1), 2),
            text(quantile_f64(&day.added_ms, 0.9), 2),
            text(added.map(|a| a / n), 4),
            ms(span),
            per_call.map_or("–".to_owned(), |d| format!("{:.4}", d.as_secs_f64() * 1000.0)),
        ));
        days.push(json!({
            "day": day.label, "medianMs": in_ms(median(&day.runs)), "reportModeMedianMs": in_ms(median(&day.peers)),
            "addedMedianMs": added, "addedPerInstanceMs": added.map(|a| a / n),
            "kmsCalls": kms_calls, "kmsSpanMedianMs": in_ms(span), "kmsSpanPerCallMs": in_ms(per_call),
            "calls": day.calls, "entries": day.entries, "counts": day.counts,
        }));
    }
    (md, days)
}
