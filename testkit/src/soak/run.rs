//! One soak run: the stack set up, the load sent, the faults fed, the processes watched, the
//! verdict taken.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use supplychain_emulator::{Account, Emulator, EmulatorConfig, FaultProxy, Role};

use super::engine::{Engine, Settled};
use super::faults::{feed, Server};
use super::lambda::Pool;
use super::load::{generate, seed, Load, MEMBER};
use super::random::Random;
use super::services::{Services, REQUEST_DEAD_LETTER_QUEUE};
use super::stack::{Function, Stack};
use super::verdict::{judge, Evidence, Verdict};
use super::world::{Clock, World};
use crate::local::{ACCOUNT, SCHEDULER_ROLE_ARN};

/// How a soak runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests sent, repeats included.
    pub requests: usize,
    /// The probability that any call a function makes is faulted.
    pub fault_rate: f64,
    /// The probability that an invocation's process is killed (SIGKILL) a few milliseconds in.
    pub kill_rate: f64,
    pub seed: u64,
    /// Where `delete-instance` and `check-instance-status` are.
    pub bin_dir: PathBuf,
    /// The project's venv Python, which reads template.yaml.
    pub python: PathBuf,
    /// Execution environments of each function.
    pub processes: usize,
    /// The load is sent over this much of the emulator's clock.
    pub spread: Duration,
    /// How long the soak may take, in real time, before it fails.
    pub real_limit: Duration,
    /// The SDK's attempt timeout (`ATTEMPT_TIMEOUT_MS`), shorter than deployed so that the
    /// injected timeouts cost the run seconds rather than minutes; the fault matrix covers the
    /// deployed values.
    pub attempt_timeout_ms: u64,
    /// How long a deletion takes on the emulator's clock, unless its instance finishes after a
    /// given number of reads.
    pub delete_delay: Duration,
}

impl Settings {
    /// The settings of a run of `requests` at `fault_rate` and `kill_rate`.
    pub fn new(requests: usize, fault_rate: f64, kill_rate: f64, bin_dir: PathBuf, python: PathBuf) -> Settings {
        Settings {
            requests,
            fault_rate,
            kill_rate,
            seed: 28,
            bin_dir,
            python,
            processes: 4,
            spread: Duration::from_secs(120),
            real_limit: Duration::from_secs(900),
            attempt_timeout_ms: 1_000,
            delete_delay: Duration::from_secs(240),
        }
    }
}

/// What a soak measured, and its verdict.
#[derive(Debug, Clone)]
pub struct Soak {
    pub verdict: Verdict,
    /// Everything measured, the verdict's figures included.
    pub figures: Value,
}

/// Runs a soak. `Err` is a soak that could not run (or settle); a soak that ran has its verdict.
pub async fn run(settings: &Settings) -> Result<Soak, String> {
    let stack = Stack::read(&settings.python)?;
    let emulator = start_emulator(&stack, settings).await;
    let clock = Clock::new(emulator.clone());
    let world = Arc::new(Mutex::new(World::with_rules(stack.rules.clone())));
    let services = Services::start(world.clone(), clock.clone()).await?;
    let proxy = FaultProxy::start(&services.endpoint()).await.map_err(|e| format!("fault proxy: {e}"))?;

    let mut random = Random::new(settings.seed);
    let load = generate(settings.requests, settings.spread.as_millis() as u64, &mut random);
    let protection_tag =
        variable(&stack, Function::Delete, "DELETION_PROTECTION_TAG").ok_or("the delete function has no DELETION_PROTECTION_TAG")?;
    seed(&emulator, &load, &protection_tag, &mut random);

    let log_dir = std::env::temp_dir().join(format!("soak-{}-{}", std::process::id(), crate::unique_name()));
    std::fs::create_dir_all(&log_dir).map_err(|e| e.to_string())?;
    let pools = start_pools(&stack, settings, &[emulator.endpoint(), proxy.endpoint()], &log_dir).await?;
    let mut engine = Engine {
        world: world.clone(),
        clock,
        emulator: emulator.clone(),
        stack,
        delete: pools[0].clone(),
        check: pools[1].clone(),
        kill_rate: settings.kill_rate,
        delivery_fault_rate: settings.fault_rate,
        in_flight: Arc::new(AtomicUsize::new(0)),
        pending_executions: Arc::new(Mutex::new(Vec::new())),
        executions: Arc::new(Mutex::new(Vec::new())),
        random: Arc::new(Mutex::new(Random::new(settings.seed ^ 0x6b))),
        delivery_faults: 0,
        payloads: load.requests.iter().map(|r| r.payload.clone()).collect(),
        pollers: Arc::new(AtomicUsize::new(0)),
        batch_deadlines: Arc::new(Mutex::new(Vec::new())),
    };
    let servers = vec![Server::Emulator(emulator.clone()), Server::Proxy(proxy.clone())];
    let played = play(&mut engine, settings, &load, servers, &pools).await?;
    let settled = played.settled.map_err(|e| format!("{e}; the functions' logs are in {}", log_dir.display()))?;

    let verdict = judge_run(&engine, &load, &settled, &emulator, &proxy);
    let mut figures = verdict.figures.clone();
    add_run_figures(&mut figures, settings, &engine, &pools, &settled);
    figures["memory"] = played.memory;
    figures["faultsInjected"] = json!({"Supply Chain / STS": played.injected[0], "EventBridge / Scheduler / SQS": played.injected[1]});
    if verdict.differences.is_empty() {
        let _ = std::fs::remove_dir_all(&log_dir);
    } else {
        figures["logs"] = json!(log_dir.display().to_string());
    }
    Ok(Soak { verdict, figures })
}

/// The emulator as the stack's world needs it: a member account whose roles (the delete
/// function's and the checker's, named as the stack names them) trust the stack's account, and
/// deletions taking the stated time.
async fn start_emulator(stack: &Stack, settings: &Settings) -> Emulator {
    let member_roles: Vec<Role> = [Function::Delete, Function::Check]
        .into_iter()
        .filter_map(|f| variable(stack, f, "MEMBER_ROLE_NAME"))
        .map(|name| Role { max_session_seconds: Some(43_200), ..Role::trusting(name, &[ACCOUNT]) })
        .collect();
    crate::emulators::emulator_with(EmulatorConfig {
        accounts: vec![Account::new(MEMBER, member_roles)],
        delete_delay: settings.delete_delay,
        // Deleted instances stay readable, so a repeat that comes late finds the deletion done.
        deleted_retention: Duration::from_secs(48 * 3600),
        ..Default::default()
    })
    .await
}

/// A variable of a function's environment as the stack sets it.
fn variable(stack: &Stack, function: Function, name: &str) -> Option<String> {
    stack.environment[&function].iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// The execution environments of each function (delete, then check), with their logs in `log_dir`.
/// `endpoints`: the emulator's, then the fault proxy's.
async fn start_pools(stack: &Stack, settings: &Settings, endpoints: &[String; 2], log_dir: &Path) -> Result<Vec<Arc<Pool>>, String> {
    let mut pools = Vec::new();
    for function in [Function::Delete, Function::Check] {
        let env = environment(stack, function, settings, &endpoints[0], &endpoints[1]);
        let timeout = Duration::from_secs(stack.timeout_seconds[&function]);
        pools.push(Pool::start(function, &settings.bin_dir, env, log_dir, timeout, settings.processes).await?);
    }
    Ok(pools)
}

/// What playing the load measured beside the world: how the loop ended, the faults injected into
/// each server by kind, and the functions' memory over the run.
struct Played {
    settled: Result<Settled, String>,
    injected: Vec<BTreeMap<&'static str, usize>>,
    memory: Value,
}

/// Plays the load through the engine while the faults are fed to `servers` and the functions'
/// memory is sampled; then stops the feeder, the sampler and the functions' processes.
async fn play(engine: &mut Engine, settings: &Settings, load: &Load, servers: Vec<Server>, pools: &[Arc<Pool>]) -> Result<Played, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = tokio::spawn(feed(servers, settings.fault_rate, settings.attempt_timeout_ms + 300, settings.seed ^ 0xfa, stop.clone()));
    let sampler = tokio::spawn(sample_memory(pools.to_vec(), stop.clone()));
    let settled = engine.run(load, settings.real_limit, Duration::from_secs(10 * 3600)).await;
    stop.store(true, Ordering::Relaxed);
    let injected = feeder.await.map_err(|e| e.to_string())??;
    let memory = sampler.await.map_err(|e| e.to_string())?;
    for pool in pools {
        pool.stop().await;
    }
    Ok(Played { settled, injected, memory })
}

/// The verdict on what the run left: the bus, the queues and the executions in the engine's
/// world, the emulator's and the proxy's call logs, and each named instance's states.
fn judge_run(engine: &Engine, load: &Load, settled: &Settled, emulator: &Emulator, proxy: &FaultProxy) -> Verdict {
    let named: Vec<String> = load.requests.iter().filter_map(|r| r.instance_id.clone()).collect();
    let final_states = named.iter().map(|id| (id.clone(), emulator.instance(id).map(|i| i.state))).collect();
    let deletions =
        named.iter().map(|id| (id.clone(), emulator.history(id).iter().filter(|change| change.state == "Deleting").count())).collect();
    let (emulator_calls, proxy_calls) = (emulator.calls(), proxy.calls());
    let world = engine.world.lock().unwrap_or_else(|p| p.into_inner());
    let executions = engine.executions.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let pending_executions = engine.pending_executions.lock().unwrap_or_else(|p| p.into_inner()).len();
    judge(&Evidence {
        load,
        start_ms: settled.start_ms,
        world: &world,
        executions: &executions,
        pending_executions,
        emulator_calls: &emulator_calls,
        proxy_calls: &proxy_calls,
        final_states,
        deletions,
    })
}

/// The figures of the run itself, beside the verdict's: its settings, each function's
/// invocations, kills, cold starts and peak memory, Scheduler's refused deliveries, and how long
/// it took on each clock.
fn add_run_figures(figures: &mut Value, settings: &Settings, engine: &Engine, pools: &[Arc<Pool>], settled: &Settled) {
    figures["settings"] = json!({"requests": settings.requests, "faultRate": settings.fault_rate, "killRate": settings.kill_rate,
        "seed": settings.seed, "processesPerFunction": settings.processes, "attemptTimeoutMs": settings.attempt_timeout_ms,
        "deleteDelaySeconds": settings.delete_delay.as_secs()});
    figures["functions"] = json!(pools
        .iter()
        .zip(["delete-instance", "check-instance-status"])
        .map(|(pool, name)| (
            name.to_owned(),
            json!({
                "invocations": pool.invocations.load(Ordering::Relaxed), "killed": pool.kills.load(Ordering::Relaxed),
                "coldStarts": pool.cold_starts.load(Ordering::Relaxed), "peakRssKiB": pool.peak_rss_kib.load(Ordering::Relaxed),
            })
        ))
        .collect::<serde_json::Map<_, _>>());
    figures["schedulerDeliveriesRefused"] = json!(engine.delivery_faults);
    figures["emulatorClockSeconds"] = json!((settled.end_ms - settled.start_ms) / 1000);
    figures["realSeconds"] = json!(settled.real.as_secs_f64());
}

/// A function's environment: the stack's own values, then what the soak provides in place of the
/// stack's resources (endpoints, the bus, the group, the queues), the member account allowed, the
/// member sessions as long as IAM allows (the emulator's clock runs hours ahead of the functions'),
/// and the shorter attempt timeout.
fn environment(stack: &Stack, function: Function, settings: &Settings, emulator: &str, proxy: &str) -> Vec<(String, String)> {
    let mut env = stack.environment[&function].clone();
    let soak = [
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.to_owned()),
        ("AWS_ENDPOINT_URL_STS", emulator.to_owned()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", proxy.to_owned()),
        ("AWS_ENDPOINT_URL_SCHEDULER", proxy.to_owned()),
        ("AWS_ENDPOINT_URL_SQS", proxy.to_owned()),
        ("EVENT_BUS_NAME", "soak".to_owned()),
        ("SCHEDULE_GROUP", "soak".to_owned()),
        ("SCHEDULER_ROLE_ARN", SCHEDULER_ROLE_ARN.to_owned()),
        ("SCHEDULE_DEAD_LETTER_ARN", format!("arn:aws:sqs:us-east-1:{ACCOUNT}:status-checks-dlq")),
        ("DEAD_LETTER_QUEUE_URL", format!("{proxy}/{ACCOUNT}/{REQUEST_DEAD_LETTER_QUEUE}")),
        ("ALLOWED_ACCOUNT_IDS", MEMBER.to_owned()),
        ("MEMBER_SESSION_SECONDS", "43200".to_owned()),
        ("ATTEMPT_TIMEOUT_MS", settings.attempt_timeout_ms.to_string()),
    ];
    for (name, value) in soak {
        env.retain(|(n, _)| n != name);
        env.push((name.to_owned(), value));
    }
    env
}

/// The functions' resident memory every half second until `stop`: the largest sample of each
/// function in each tenth of the run, so that growth shows.
async fn sample_memory(pools: Vec<Arc<Pool>>, stop: Arc<AtomicBool>) -> Value {
    let started = Instant::now();
    let mut samples: Vec<(f64, Vec<u64>)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let largest: Vec<u64> = pools.iter().map(|p| p.sample_rss_kib().into_iter().max().unwrap_or(0)).collect();
        samples.push((started.elapsed().as_secs_f64(), largest));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let end = started.elapsed().as_secs_f64().max(0.001);
    let mut tenths = vec![vec![0u64; pools.len()]; 10];
    for (at, largest) in samples {
        let tenth = ((at / end * 10.0) as usize).min(9);
        for (slot, kib) in tenths[tenth].iter_mut().zip(largest) {
            *slot = (*slot).max(kib);
        }
    }
    json!({"rssKiBByTenthOfTheRun": {"delete-instance": tenths.iter().map(|t| t[0]).collect::<Vec<_>>(),
                                      "check-instance-status": tenths.iter().map(|t| t[1]).collect::<Vec<_>>()}})
}
