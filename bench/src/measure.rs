//! Measuring a subject: its cold start, warm invocations, CPU and peak memory; and the sweep.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi};
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance};

use supplychain_testkit::{ACCOUNT, REGION};

use crate::options::{Options, SWEEP_FLEET};
use crate::process::{cpu_time, peak_rss_kib};
use crate::subjects::Subject;

#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    pub(crate) init: Vec<Duration>,
    pub(crate) first: Vec<Duration>,
    pub(crate) warm: Vec<Duration>,
    pub(crate) rss_kib: Vec<u64>,
    /// CPU time of the process (all its threads) at its first `/next`.
    pub(crate) init_cpu: Vec<Duration>,
    /// CPU time per warm invocation, one value per cold start (its warm invocations' total ÷ count).
    pub(crate) warm_cpu: Vec<Duration>,
    /// STS AssumeRole calls of each process, from the emulator's call log.
    pub(crate) assume_roles: Vec<usize>,
}

/// One cold start of `subject`: init, the first invocation, `options.warm` warm ones, peak RSS.
pub(crate) async fn measure_cold_start(
    subject: &Subject,
    emulator: &Emulator,
    options: &Options,
    samples: &mut Samples,
) -> Result<(), String> {
    let runtime = RuntimeApi::start().await.map_err(|e| format!("runtime API: {e}"))?;
    // Instances are seeded before the process starts, so seeding is never measured.
    let seed = || SeedInstance { aws_account_id: subject.account.map(str::to_owned), ..Default::default() };
    let ids: Vec<String> = (0..=options.warm).map(|_| emulator.seed(seed()).instance_id).collect();
    // The emulator's call log is shared, and subjects run one at a time: the process's own
    // AssumeRole calls are the difference.
    let assumed_before = emulator.call_count("AssumeRole");
    let log_path = options.work_dir.join(format!("{}.log", subject.function_name));
    let mut command = subject_command(subject, &runtime, &log_path)?;
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", subject.program.display()))?;
    let first_poll = tokio::select! {
        first = runtime.wait_for_first_poll() => first,
        status = child.wait() => return Err(format!("exited during init ({status:?}); logs:\n{}", logs(&log_path))),
        _ = tokio::time::sleep(Duration::from_secs(60)) => return Err(format!("no /next within 60 s; logs:\n{}", logs(&log_path))),
    };
    samples.init.push(first_poll - started);
    let pid = child.id().ok_or("the process has no id")?;
    samples.init_cpu.extend(cpu_time(pid));
    invoke_each(subject, &runtime, &ids, pid, &log_path, samples).await?;
    if let Some(pid) = child.id() {
        samples.rss_kib.push(peak_rss_kib(pid).ok_or("cannot read VmHWM from /proc")?);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    let assumed = emulator.call_count("AssumeRole") - assumed_before;
    if assumed != subject.assume_roles {
        return Err(format!(
            "{assumed} AssumeRole calls in one process, expected exactly {}; logs:\n{}",
            subject.assume_roles,
            logs(&log_path)
        ));
    }
    samples.assume_roles.push(assumed);
    Ok(())
}

/// The subject's process as Lambda starts it, against `runtime`, its output to `log_path`.
fn subject_command(subject: &Subject, runtime: &RuntimeApi, log_path: &Path) -> Result<tokio::process::Command, String> {
    let log = std::fs::File::create(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut command = supplychain_testkit::lambda_command(&subject.program, subject.function_name, &runtime.address());
    command
        .args(&subject.args)
        .envs(subject.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    if let Some(cwd) = &subject.cwd {
        command.current_dir(cwd);
    }
    Ok(command)
}

fn logs(log_path: &Path) -> String {
    std::fs::read_to_string(log_path).unwrap_or_default()
}

/// The first invocation, then the warm ones, one per instance of `ids`, each answer checked; and
/// the process's CPU time per warm invocation.
async fn invoke_each(
    subject: &Subject,
    runtime: &RuntimeApi,
    ids: &[String],
    pid: u32,
    log_path: &Path,
    samples: &mut Samples,
) -> Result<(), String> {
    let mut warm_cpu_from = None;
    for (index, id) in ids.iter().enumerate() {
        let options = Invoke {
            function_arn: subject.function_arn.to_owned(),
            deadline: Deadline::In(Duration::from_secs(30)),
            give_up_after: Duration::from_secs(60),
            ..Default::default()
        };
        let completed =
            runtime.invoke((subject.event)(id), options).await.map_err(|e| format!("invocation: {e}; logs:\n{}", logs(log_path)))?;
        match &completed.outcome {
            Outcome::Response(answer) if (subject.check)(answer) => {}
            other => return Err(format!("unexpected answer {other:?}; logs:\n{}", logs(log_path))),
        }
        let took = completed.completed - completed.handed_out;
        if index == 0 {
            samples.first.push(took);
            warm_cpu_from = cpu_time(pid);
        } else {
            samples.warm.push(took);
        }
    }
    let warm_count = ids.len() as u32 - 1;
    if let (Some(from), Some(to)) = (warm_cpu_from, cpu_time(pid)) {
        if warm_count > 0 {
            samples.warm_cpu.push(to.saturating_sub(from) / warm_count);
        }
    }
    Ok(())
}

/// Runs of `sweep-instances` over a fleet of [`SWEEP_FLEET`] instances, and the calls each made.
#[derive(Debug, Clone, Default)]
pub(crate) struct SweepSamples {
    /// Each run's time, from the invocation handed out to its answer; the first run is the first
    /// invocation of the process.
    pub(crate) runs: Vec<Duration>,
    /// Calls of one run, by operation (the same in every run, or the measurement fails).
    pub(crate) calls: Vec<(String, usize)>,
    /// PutEvents calls of one run (the report).
    pub(crate) puts: usize,
    pub(crate) selected: u64,
}

impl SweepSamples {
    /// Calls of `operation` in one run.
    pub(crate) fn calls_of(&self, operation: &str) -> usize {
        self.calls.iter().find(|(o, _)| o == operation).map_or(0, |(_, n)| *n)
    }
}

/// The sweep, in report mode, `runs` times in one process against a fleet of [`SWEEP_FLEET`]
/// instances (one in five expired), on an emulator of its own over plain HTTP, a stand-in bus that
/// accepts every PutEvents entry and the KMS stand-in. Every run must examine the whole fleet with
/// exactly one ListInstances per page, one ListTagsForResource per instance and one PutEvents (the
/// report), and no KMS call (report mode reads no mark), or the measurement fails.
pub(crate) async fn measure_sweep(options: &Options, runs: usize) -> Result<SweepSamples, String> {
    use crate::sweeps::*;

    let config = EmulatorConfig { account_id: ACCOUNT.into(), region: REGION.into(), ..Default::default() };
    let emulator = Emulator::start(config).await.map_err(|e| format!("sweep emulator: {e}"))?;
    for n in 0..SWEEP_FLEET {
        let expires = if n % 5 == 0 { "2020-01-31" } else { "9999-12-31" };
        emulator.seed(SeedInstance { tags: [("ExpiresAt".to_owned(), expires.to_owned())].into(), ..Default::default() });
    }
    let stand_ins = StandIns::start().await?;
    let process = SweepProcess::start(options, &sweep_env(&emulator, &stand_ins, &[]), "sweep-instances").await?;
    let mut samples = SweepSamples::default();
    let expected = [
        ExpectedCalls::new("ListInstances", pages(SWEEP_FLEET), "pages of 20"),
        ExpectedCalls::new("ListTagsForResource", SWEEP_FLEET, "one per instance"),
        ExpectedCalls::new("PutEvents", 1, "the report"),
    ];
    for run in 0..runs.max(1) {
        stand_ins.clear(&emulator);
        let what = format!("sweep run {}", run + 1);
        let (report, took) = process.invoke(json!({ "mode": "report" })).await.map_err(|e| format!("{what}: {e}"))?;
        if report["complete"] != true || report["examined"] != SWEEP_FLEET {
            return Err(format!("{what}: unexpected answer {report}; logs:\n{}", process.logs()));
        }
        samples.runs.push(took);
        let mut calls = stand_ins.take(&emulator).calls;
        samples.puts = calls.get("PutEvents").copied().unwrap_or(0);
        check_calls(&what, &expected, &calls)?;
        calls.remove("PutEvents");
        samples.calls = calls.into_iter().collect();
        samples.selected = report["counts"]["selected"].as_u64().unwrap_or(0);
    }
    process.stop().await;
    Ok(samples)
}

impl Samples {
    /// A floor's calls in order: the first one, then the warm ones.
    pub(crate) fn record_calls(&mut self, times: Vec<Duration>) {
        let mut times = times.into_iter();
        self.first.extend(times.next());
        self.warm.extend(times);
    }
}
