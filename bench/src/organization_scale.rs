//! The organization sweep's plan and summary at the size of a large organization, through the real
//! `sweep-instances` binary with the stack's bucket (`PLAN_BUCKET`) in moto's S3, behind a fault
//! proxy that counts the function's S3 calls.
//!
//! For each size of `scale_targets` (N targets: N / 5 accounts x [`SCALE_REGIONS`], named in the
//! plan's input, so no ListAccounts), `rounds` times, each step in a process of its own so that its
//! peak RSS is its own:
//!
//! - the plan (`{"plan": {"accounts", "regions", "mode", "maxDeletions"}}`): its time, its peak RSS,
//!   and exactly one PutObject, whose object (`plans/<sweepId>/targets.jsonl`) must hold every
//!   target in order, one a line, the cap split across them;
//! - the summary (`{"summarize": {"sweepId", "mode", "resultWriterDetails"}}`) of a ResultWriter
//!   manifest and one results file of N child executions, written here in the layout of
//!   `tools/run-state-machine.mjs` (every child swept with small counts; one in a thousand caught
//!   with a Cause): its time, its peak RSS, exactly two GetObject (the manifest and the file) and
//!   one PutEvents, and its numbers equal to the ones written.
//!
//! The run fails when a call count or a number differs.

use std::time::Duration;

use serde_json::{json, Value};
use supplychain_emulator::{Emulator, EmulatorConfig, FaultProxy};

use supplychain_testkit::{ACCOUNT, REGION};

use crate::cost::MEMORY_MB;
use crate::options::{Options, MEMBER_ROLE, SCALE_REGIONS};
use crate::s3::{s3_calls, MotoServer};
use crate::stats::{in_ms, median, ms, spread};
use crate::sweeps::{check_calls, sweep_env, ExpectedCalls, StandIns, SweepProcess};

/// The stack's bucket of plans and results, in moto.
const BUCKET: &str = "organization-sweep-plans-bench";
/// The plan's cap (`maxDeletions`), split across the targets.
const CAP: usize = 10;
/// One child in this many is caught with an error.
const FAILED_EVERY: usize = 1_000;

/// One size's measurements.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScaleSample {
    pub(crate) targets: usize,
    pub(crate) accounts: usize,
    pub(crate) plan: Vec<StepRun>,
    /// The targets file's size: the one PutObject's body.
    pub(crate) put_object_bytes: usize,
    pub(crate) summary: Vec<StepRun>,
    /// GetObject calls of each summary (the same in every round, or the run fails).
    pub(crate) get_object_calls: usize,
    pub(crate) put_object_calls: usize,
    /// The results file the summary reads.
    pub(crate) results_bytes: usize,
    pub(crate) failed: usize,
}

/// One step in a process of its own: its time, the CPU time the process spent on it (moto's and
/// the proxy's share of the time excluded), and its peak RSS at init and after the step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepRun {
    pub(crate) took: Duration,
    pub(crate) cpu: Duration,
    pub(crate) init_rss_kib: u64,
    pub(crate) peak_rss_kib: u64,
}

/// Every size of `options.scale_targets`, `rounds` times each, against moto's S3.
pub(crate) async fn measure_organization_scale(options: &Options, rounds: usize) -> Result<Vec<ScaleSample>, String> {
    let python = options.python.as_ref().ok_or("the plan and summary at scale need moto's server: give --python of a venv with moto")?;
    let moto = MotoServer::start(python, &options.work_dir).await?;
    let measured = measure_with(options, &moto, rounds).await;
    let measured = measured.map_err(|e| format!("{e}\nmoto's log (its end):\n{}", tail(&moto.logs(), 40)));
    moto.stop().await;
    measured
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn measure_with(options: &Options, moto: &MotoServer, rounds: usize) -> Result<Vec<ScaleSample>, String> {
    let proxy = FaultProxy::start(&moto.endpoint()).await.map_err(|e| format!("fault proxy: {e}"))?;
    // No Supply Chain call is made; the emulator takes the connection the function opens at init.
    let config = EmulatorConfig { account_id: ACCOUNT.into(), region: REGION.into(), ..Default::default() };
    let emulator = Emulator::start(config).await.map_err(|e| format!("emulator: {e}"))?;
    let stand_ins = StandIns::start().await?;
    moto.create_bucket(BUCKET).await?;
    let scale = Scale { options, moto, proxy: &proxy, emulator: &emulator, stand_ins: &stand_ins };
    let mut samples = Vec::new();
    for &targets in &options.scale_targets {
        eprintln!("bench: organization sweep at scale, {targets} targets");
        samples.push(scale.measure_size(targets, rounds.max(1)).await?);
    }
    Ok(samples)
}

/// What every step runs against.
struct Scale<'a> {
    options: &'a Options,
    moto: &'a MotoServer,
    proxy: &'a FaultProxy,
    emulator: &'a Emulator,
    stand_ins: &'a StandIns,
}

/// A step's answer, its run, and its calls: S3's by operation, and PutEvents.
struct Step {
    answer: Value,
    run: StepRun,
    s3: std::collections::BTreeMap<String, usize>,
    put_events: usize,
}

impl Scale<'_> {
    fn env(&self) -> Vec<(String, String)> {
        let others: Vec<&str> = SCALE_REGIONS.iter().copied().filter(|region| *region != REGION).collect();
        let extra = [
            ("PLAN_BUCKET", BUCKET.to_owned()),
            ("AWS_ENDPOINT_URL_S3", self.proxy.endpoint()),
            ("ALLOWED_REGIONS", others.join(",")),
            ("MEMBER_ROLE_NAME", MEMBER_ROLE.to_owned()),
            ("NOTICE_HOURS", "0".to_owned()),
        ];
        sweep_env(self.emulator, self.stand_ins, &extra)
    }

    async fn measure_size(&self, targets: usize, rounds: usize) -> Result<ScaleSample, String> {
        let accounts: Vec<String> = (1..=(targets / SCALE_REGIONS.len()) as u64).map(|n| format!("{:012}", 300_000_000_000 + n)).collect();
        let mut sample = ScaleSample { targets, accounts: accounts.len(), ..Default::default() };
        let mut first_plan = None;
        for round in 0..rounds {
            let plan = self.plan(&accounts, round, &mut sample).await?;
            first_plan.get_or_insert(plan);
        }
        let (sweep_id, file) = first_plan.ok_or("no plan")?;
        let written = write_results(self.moto, &sweep_id, &file).await?;
        sample.results_bytes = written.bytes;
        sample.failed = written.expected.failed;
        for round in 0..rounds {
            self.summarize(&sweep_id, &written, round, &mut sample).await?;
        }
        Ok(sample)
    }

    /// One step in a fresh process: started, invoked once, its peak RSS read, stopped.
    async fn step(&self, what: &str, request: Value) -> Result<Step, String> {
        self.stand_ins.clear(self.emulator);
        self.proxy.clear_calls();
        let process = SweepProcess::start(self.options, &self.env(), "sweep-organization-scale").await?;
        let init_rss_kib = process.peak_rss_kib().unwrap_or(0);
        let cpu_before = process.cpu_time().unwrap_or_default();
        let invoked = process.invoke(request).await;
        let cpu = process.cpu_time().unwrap_or_default().saturating_sub(cpu_before);
        let peak_rss_kib = process.peak_rss_kib();
        process.stop().await;
        let (answer, took) = invoked.map_err(|e| format!("{what}: {e}"))?;
        let peak_rss_kib = peak_rss_kib.ok_or_else(|| format!("{what}: cannot read VmHWM from /proc"))?;
        let run = StepRun { took, cpu, init_rss_kib, peak_rss_kib };
        let put_events = self.stand_ins.take(self.emulator).puts.len();
        Ok(Step { answer, run, s3: s3_calls(&self.proxy.calls()), put_events })
    }

    /// The plan of `accounts` x the regions: one PutObject of every target, in order; returns its
    /// sweep id and the targets file as written.
    async fn plan(&self, accounts: &[String], round: usize, sample: &mut ScaleSample) -> Result<(String, String), String> {
        let targets = accounts.len() * SCALE_REGIONS.len();
        let what = format!("plan of {targets} targets, round {}", round + 1);
        let request = json!({ "plan": { "accounts": accounts, "regions": SCALE_REGIONS, "mode": "delete", "maxDeletions": CAP } });
        let step = self.step(&what, request).await?;
        let answer = &step.answer;
        let sweep_id = answer["sweepId"].as_str().unwrap_or_default().to_owned();
        let key = format!("plans/{sweep_id}/targets.jsonl");
        if answer["targetCount"] != targets || answer["targetsFile"] != json!({ "Bucket": BUCKET, "Key": key }) {
            return Err(format!("{what}: expected {targets} targets in s3://{BUCKET}/{key}, answered {answer}"));
        }
        let expected = [ExpectedCalls::new("PutObject", 1, "the targets file, one JSON line a target")];
        check_calls(&what, &expected, &step.s3)?;
        let announced = [("PutEvents".to_owned(), step.put_events)].into();
        check_calls(&what, &[ExpectedCalls::new("PutEvents", 0, "the plan announces nothing")], &announced)?;
        let file = self.moto.get(BUCKET, &key).await?;
        let file = String::from_utf8(file.to_vec()).map_err(|e| format!("{what}: the targets file is not UTF-8: {e}"))?;
        check_targets_file(&what, &file, accounts)?;
        sample.put_object_bytes = file.len();
        sample.put_object_calls = step.s3.get("PutObject").copied().unwrap_or(0);
        sample.plan.push(step.run);
        Ok((sweep_id, file))
    }

    /// The summary of the results written: two GetObject, one PutEvents, and the numbers written.
    async fn summarize(&self, sweep_id: &str, written: &Written, round: usize, sample: &mut ScaleSample) -> Result<(), String> {
        let what = format!("summary of {} children, round {}", written.expected.targets, round + 1);
        let details = json!({ "Bucket": BUCKET, "Key": written.manifest_key });
        let request = json!({ "summarize": { "sweepId": sweep_id, "mode": "delete", "resultWriterDetails": details } });
        let step = self.step(&what, request).await?;
        let expected = [ExpectedCalls::new("GetObject", 2, "the manifest and the one results file")];
        check_calls(&what, &expected, &step.s3)?;
        let announced = [("PutEvents".to_owned(), step.put_events)].into();
        check_calls(&what, &[ExpectedCalls::new("PutEvents", 1, "the summary")], &announced)?;
        written.expected.check(&what, &step.answer)?;
        sample.get_object_calls = step.s3.get("GetObject").copied().unwrap_or(0);
        sample.summary.push(step.run);
        Ok(())
    }
}

/// The targets file must hold every pair of `accounts` x the regions, account after account, one
/// JSON object a line, in delete mode, with the cap split across them.
fn check_targets_file(what: &str, file: &str, accounts: &[String]) -> Result<(), String> {
    let lines: Vec<&str> = file.lines().collect();
    let targets = accounts.len() * SCALE_REGIONS.len();
    if lines.len() != targets || !file.ends_with('\n') {
        return Err(format!("{what}: the targets file has {} lines, expected {targets}, each ended", lines.len()));
    }
    let mut shares = 0;
    for (index, line) in lines.iter().enumerate() {
        let target: Value = serde_json::from_str(line).map_err(|e| format!("{what}: line {} is not JSON: {e}", index + 1))?;
        let (account, region) = (&accounts[index / SCALE_REGIONS.len()], SCALE_REGIONS[index % SCALE_REGIONS.len()]);
        if target["accountId"] != account.as_str() || target["region"] != region || target["mode"] != "delete" {
            return Err(format!("{what}: line {} is {line}, expected account {account} in {region}, delete mode", index + 1));
        }
        shares += target["maxDeletions"].as_u64().unwrap_or(0) as usize;
    }
    if shares != CAP {
        return Err(format!("{what}: the targets' shares add up to {shares}, not the cap of {CAP}"));
    }
    Ok(())
}

/// The results as written: where the manifest is, the results file's size, and what the summary
/// must add up to.
struct Written {
    manifest_key: String,
    bytes: usize,
    expected: Expected,
}

/// The numbers a summary of the children written must give.
#[derive(Debug, Default)]
struct Expected {
    targets: usize,
    swept: usize,
    failed: usize,
    examined: usize,
    selected: usize,
    requested: usize,
    deferred: usize,
    skipped: usize,
}

impl Expected {
    fn check(&self, what: &str, answer: &Value) -> Result<(), String> {
        let want = json!({
            "targets": self.targets, "swept": self.swept, "incomplete": 0, "failedCount": self.failed, "examined": self.examined,
            "counts": { "selected": self.selected, "requested": self.requested, "deferred": self.deferred, "skipped": self.skipped },
        });
        let got = json!({
            "targets": answer["targets"], "swept": answer["swept"], "incomplete": answer["incomplete"],
            "failedCount": answer["failedCount"], "examined": answer["examined"],
            "counts": { "selected": answer["counts"]["selected"], "requested": answer["counts"]["requested"],
                        "deferred": answer["counts"]["deferred"], "skipped": answer["counts"]["skipped"] },
        });
        if got != want {
            return Err(format!("{what}: the summary adds up to {got}, but the children written add up to {want}"));
        }
        Ok(())
    }
}

/// The Map run's identifier in its keys and ARNs, as `tools/run-state-machine.mjs` makes it.
const MAP_RUN: &str = "00000001-0000-4000-8000-000000000000";

/// Writes the results of one child per line of `file` (the plan's targets file, each line the
/// child's input as the ItemReader hands it) and their manifest, as a ResultWriter does.
async fn write_results(moto: &MotoServer, sweep_id: &str, file: &str) -> Result<Written, String> {
    let prefix = format!("results/{sweep_id}/{MAP_RUN}");
    let results_key = format!("{prefix}/SUCCEEDED_0.json");
    let (body, expected) = results_file(file)?;
    let bytes = body.len();
    moto.put(BUCKET, &results_key, body).await?;
    let manifest = json!({
        "DestinationBucket": BUCKET,
        "MapRunArn": format!("arn:aws:states:{REGION}:{ACCOUNT}:mapRun:OrganizationSweep/SweepTargets:{MAP_RUN}"),
        "ResultFiles": { "FAILED": [], "PENDING": [], "SUCCEEDED": [{ "Key": results_key, "Size": bytes }] },
    });
    let manifest_key = format!("{prefix}/manifest.json");
    moto.put(BUCKET, &manifest_key, manifest.to_string().into_bytes()).await?;
    Ok(Written { manifest_key, bytes, expected })
}

/// The results file: a JSON array of one SUCCEEDED child execution per target, its `Output` the
/// target's item with a small report, or (one in [`FAILED_EVERY`]) caught with an error and its
/// Cause; and what they add up to.
fn results_file(file: &str) -> Result<(Vec<u8>, Expected), String> {
    let mut expected = Expected::default();
    let mut body = Vec::with_capacity(file.len() * 8);
    body.push(b'[');
    for (index, line) in file.lines().enumerate() {
        let mut item: Value = serde_json::from_str(line).map_err(|e| format!("targets file line {}: {e}", index + 1))?;
        expected.targets += 1;
        if index % FAILED_EVERY == FAILED_EVERY - 1 {
            expected.failed += 1;
            let cause = json!({ "errorType": "RoleNotAssumable", "errorMessage": format!("the member role of {} cannot be assumed", item["accountId"]) });
            item["error"] = json!({ "Error": "RoleNotAssumable", "Cause": cause.to_string() });
        } else {
            item["report"] = expected.add_report(index);
        }
        if index > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &child_execution(index, line, &item)).map_err(|e| e.to_string())?;
    }
    body.push(b']');
    Ok((body, expected))
}

impl Expected {
    /// The n-th swept target's report, small counts that vary from target to target, added up.
    fn add_report(&mut self, n: usize) -> Value {
        let (examined, selected, skipped) = (20 + n % 31, n % 7, n % 4);
        let requested = (n % 3).min(selected);
        let deferred = selected - requested;
        self.swept += 1;
        self.examined += examined;
        self.selected += selected;
        self.requested += requested;
        self.deferred += deferred;
        self.skipped += skipped;
        json!({ "examined": examined, "complete": true,
                "counts": { "selected": selected, "requested": requested, "deferred": deferred, "skipped": skipped } })
    }
}

/// One child execution as a ResultWriter lists it (`Transformation: NONE`): input and output as
/// JSON text.
fn child_execution(index: usize, input: &str, output: &Value) -> Value {
    let machine = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:OrganizationSweep/SweepTargets");
    json!({
        "ExecutionArn": format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:OrganizationSweep/SweepTargets:{MAP_RUN}-{index}"),
        "Input": input,
        "InputDetails": { "Included": true },
        "Name": format!("{MAP_RUN}-{index}"),
        "Output": output.to_string(),
        "OutputDetails": { "Included": true },
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
        "StartDate": "2026-01-01T02:00:00.000Z",
        "StateMachineArn": machine,
        "Status": "SUCCEEDED",
        "StopDate": "2026-01-01T02:00:01.000Z",
    })
}

// ----- the report ------------------------------------------------------------------------------

/// The sweep function's limits (template.yaml): its `Timeout`, and the `MemorySize` of every function.
const TIMEOUT_SECONDS: f64 = 900.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl ScaleSample {
    fn times(steps: &[StepRun]) -> Vec<Duration> {
        steps.iter().map(|step| step.took).collect()
    }

    fn peak_kib(steps: &[StepRun]) -> u64 {
        steps.iter().map(|step| step.peak_rss_kib).max().unwrap_or(0)
    }

    fn plan_ms(&self) -> Option<f64> {
        in_ms(median(&ScaleSample::times(&self.plan)))
    }

    fn summary_ms(&self) -> Option<f64> {
        in_ms(median(&ScaleSample::times(&self.summary)))
    }
}

/// The table of every size, how each step grows with the targets, and the margins to the
/// function's limits; and their JSON.
pub(crate) fn organization_scale_report(samples: &[ScaleSample]) -> (String, Value) {
    let mut md = format!(
        "\n| Targets (accounts x {} regions) | Plan ms | Plan peak RSS (MiB) | PutObject bytes | Summary ms | Summary CPU ms | \
         Summary peak RSS (MiB) | GetObject calls | Results file bytes | Failed children |\n|---|---|---|---|---|---|---|---|---|---|\n",
        SCALE_REGIONS.len()
    );
    for sample in samples {
        let (plan, summary) = (ScaleSample::times(&sample.plan), ScaleSample::times(&sample.summary));
        md.push_str(&format!(
            "| {} ({} x {}) | {}{} | {:.1} | {} | {}{} | {} | {:.1} | {} | {} | {} |\n",
            sample.targets,
            sample.accounts,
            SCALE_REGIONS.len(),
            ms(median(&plan)),
            spread(&plan),
            mib(ScaleSample::peak_kib(&sample.plan)),
            sample.put_object_bytes,
            ms(median(&summary)),
            spread(&summary),
            ms(median(&sample.summary.iter().map(|step| step.cpu).collect::<Vec<_>>())),
            mib(ScaleSample::peak_kib(&sample.summary)),
            sample.get_object_calls,
            sample.results_bytes,
            sample.failed,
        ));
    }
    let init_kib = samples.iter().flat_map(|s| s.plan.iter().chain(&s.summary)).map(|step| step.init_rss_kib).max().unwrap_or(0);
    md.push_str(&format!("\nPeak RSS of a fresh process at init, before its step: {:.1} MiB at most.\n", mib(init_kib)));
    let growth = growth(samples);
    let limits = limits(samples);
    md.push_str(&growth.0);
    md.push_str(&limits.0);
    let sizes: Vec<Value> = samples.iter().map(sample_json).collect();
    let json = json!({ "regions": SCALE_REGIONS, "cap": CAP, "sizes": sizes, "initPeakRssKib": init_kib,
                       "growthPer1000Targets": growth.1, "limits": limits.1 });
    (md, json)
}

fn sample_json(sample: &ScaleSample) -> Value {
    let times = |steps: &[StepRun]| steps.iter().map(|step| step.took.as_secs_f64() * 1000.0).collect::<Vec<_>>();
    json!({
        "targets": sample.targets, "accounts": sample.accounts,
        "planMs": times(&sample.plan), "planMedianMs": sample.plan_ms(), "planPeakRssKib": ScaleSample::peak_kib(&sample.plan),
        "putObjectCalls": sample.put_object_calls, "putObjectBytes": sample.put_object_bytes,
        "summaryMs": times(&sample.summary), "summaryMedianMs": sample.summary_ms(),
        "summaryCpuMs": sample.summary.iter().map(|step| step.cpu.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
        "planCpuMs": sample.plan.iter().map(|step| step.cpu.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
        "summaryPeakRssKib": ScaleSample::peak_kib(&sample.summary),
        "getObjectCalls": sample.get_object_calls, "resultsFileBytes": sample.results_bytes, "failedChildren": sample.failed,
    })
}

/// Each step's time and peak RSS per 1,000 targets, from the smallest size to the largest.
fn growth(samples: &[ScaleSample]) -> (String, Value) {
    let (Some(small), Some(large)) = (samples.first(), samples.last()) else { return (String::new(), Value::Null) };
    if large.targets <= small.targets {
        return (String::new(), Value::Null);
    }
    let thousands = (large.targets - small.targets) as f64 / 1000.0;
    let per = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) / thousands);
    let plan_ms = per(small.plan_ms(), large.plan_ms());
    let summary_ms = per(small.summary_ms(), large.summary_ms());
    let rss = |steps: fn(&ScaleSample) -> &[StepRun]| {
        (mib(ScaleSample::peak_kib(steps(large))) - mib(ScaleSample::peak_kib(steps(small)))) / thousands
    };
    let (plan_mib, summary_mib) = (rss(|s| &s.plan), rss(|s| &s.summary));
    let put_bytes = (large.put_object_bytes as f64 - small.put_object_bytes as f64) / thousands;
    let results_bytes = (large.results_bytes as f64 - small.results_bytes as f64) / thousands;
    let text = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    let md = format!(
        "\nPer 1,000 targets, from {} to {} targets: the plan {} ms and {plan_mib:.2} MiB of peak RSS, the summary {} ms and \
         {summary_mib:.2} MiB; the targets file {put_bytes:.0} bytes, the results file {results_bytes:.0} bytes.\n",
        small.targets,
        large.targets,
        text(plan_ms),
        text(summary_ms),
    );
    let json = json!({ "from": small.targets, "to": large.targets, "planMs": plan_ms, "planPeakRssMib": plan_mib,
                       "summaryMs": summary_ms, "summaryPeakRssMib": summary_mib,
                       "putObjectBytes": put_bytes, "resultsFileBytes": results_bytes });
    (md, json)
}

/// The slowest step and the largest peak RSS, against the function's timeout and memory.
fn limits(samples: &[ScaleSample]) -> (String, Value) {
    let steps = || samples.iter().flat_map(|s| s.plan.iter().chain(&s.summary));
    let slowest = steps().map(|step| step.took).max().unwrap_or_default().as_secs_f64();
    let largest = mib(steps().map(|step| step.peak_rss_kib).max().unwrap_or(0));
    let md = format!(
        "\nAgainst the function's limits: the slowest step took {slowest:.2} s of the {TIMEOUT_SECONDS:.0} s timeout ({:.2} %, \
         {:.0} times under it); the largest peak RSS, {largest:.1} MiB, is {:.0} % of {MEMORY_MB:.0} MB (MemorySize), \
         {:.1} MiB left.\n",
        slowest / TIMEOUT_SECONDS * 100.0,
        TIMEOUT_SECONDS / slowest.max(f64::EPSILON),
        largest / MEMORY_MB * 100.0,
        MEMORY_MB - largest,
    );
    let json = json!({ "timeoutSeconds": TIMEOUT_SECONDS, "slowestStepSeconds": slowest,
                       "memoryMb": MEMORY_MB, "largestPeakRssMib": largest });
    (md, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_results_file_holds_a_child_per_target_and_adds_up_what_the_summary_must_give() {
        let file: String = (0..2_000)
            .map(|n| format!("{{\"accountId\":\"{:012}\",\"region\":\"us-east-1\",\"mode\":\"delete\",\"maxDeletions\":0}}\n", n))
            .collect();

        let (body, expected) = results_file(&file).unwrap();

        let children: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(children.len(), 2_000);
        assert_eq!((expected.targets, expected.swept, expected.failed), (2_000, 1_998, 2));
        let output: Value = serde_json::from_str(children[999]["Output"].as_str().unwrap()).unwrap();
        assert_eq!(output["error"]["Error"], "RoleNotAssumable");
        assert_eq!(children[0]["Input"].as_str().unwrap(), file.lines().next().unwrap());
        let reports: Vec<Value> =
            children.iter().map(|c| serde_json::from_str::<Value>(c["Output"].as_str().unwrap()).unwrap()["report"].clone()).collect();
        let requested: u64 = reports.iter().filter_map(|r| r["counts"]["requested"].as_u64()).sum();
        assert_eq!(requested as usize, expected.requested);
        assert_eq!(expected.selected, expected.requested + expected.deferred);
    }
}
