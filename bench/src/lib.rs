//! The benchmark harness: cold start, first and warm invocations, peak memory and size of the
//! functions, side by side with the boto3 peer and the floors, in one run on one machine.
//!
//! Every subject is a real process driven through a local Lambda Runtime API
//! ([`RuntimeApi`]) against one Supply Chain emulator serving HTTPS with a generated certificate
//! authority:
//!
//! * `delete-instance` (with `DELETION_PROTECTION_TAG=""`, so it makes the single DeleteInstance
//!   call boto3's peer makes, and in its default configuration, which reads the tags first);
//! * `check-instance-status` as a Step Functions task (one GetInstance call);
//! * the boto3 peer (`bench/python/handler.py`, run by `awslambdaric`);
//! * the runtime floor, `noop-function` (a `lambda_runtime` function that does nothing);
//! * the service floor: a raw HTTP/1.1 client on one kept-alive TLS connection sending the same
//!   `DELETE /api/instance/{id}` in a loop (inside this process, on a thread of its own).
//!
//! Beside them, `sweep-instances` sweeps a fleet of [`SWEEP_FLEET`] instances in report mode, once
//! per round in one process, on an emulator of its own over plain HTTP: its time, and its calls,
//! which must be exactly one ListInstances per page and one ListTagsForResource per instance.
//!
//! Subjects are interleaved: each round starts every subject once, so load from other processes on
//! the machine falls on all of them alike and the ratios, taken within one run, stay meaningful
//! even when the absolute numbers move. The order changes from round to round, so no subject
//! always follows the same one.
//!
//! Measures: init, from process start to the first `GET /runtime/invocation/next`; an invocation,
//! from the event being handed out on `/next` to the answer being posted; peak RSS, `VmHWM` of the
//! process after its last invocation; sizes of the binaries and of the zip Lambda would receive.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi};
use supplychain_emulator::tls::TlsIdentity;
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance};

use supplychain_testkit::{ACCOUNT, CHECK_ARN, DELETE_ARN, REGION, SWEEP_ARN};

/// The instances of the sweep's fleet: 25 pages of ListInstances.
pub const SWEEP_FLEET: usize = 500;
/// The emulator runs without credentials: it checks the form of each signature, not its value.
const ACCESS_KEY_ID: &str = "AKIABENCHMARK0000001";
const SECRET_ACCESS_KEY: &str = "bench/secret/key/for/the/local/emulator";

/// What to run and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `delete-instance`, `check-instance-status`, `sweep-instances`, `noop-function` and
    /// `delete-instance-multi-thread` are.
    pub bin_dir: PathBuf,
    /// Which build they are (`release` or `debug`), for the report.
    pub profile: String,
    /// The Python with `boto3` and `awslambdaric` (the project's `.venv/bin/python`); without it the
    /// boto3 peer is left out and zips are made with the `zip` command.
    pub python: Option<PathBuf>,
    /// The directory of `handler.py`.
    pub handler_dir: PathBuf,
    /// Cold starts of each subject (rounds).
    pub rounds: usize,
    /// Warm invocations after the first one, in each cold start.
    pub warm: usize,
    /// Also run the variants that measure each lever (runtime flavour, trust store, connection at init).
    pub levers: bool,
    /// Other builds of `delete-instance` to run beside the main one (label, directory), for
    /// instance with another `opt-level`.
    pub variants: Vec<(String, PathBuf)>,
    /// Where aarch64 binaries are, when the toolchain could build them.
    pub aarch64_bin_dir: Option<PathBuf>,
    /// Scratch directory (certificates, zips, logs).
    pub work_dir: PathBuf,
}

/// The outcome of a run: the table as Markdown, and every number as JSON.
#[derive(Debug, Clone)]
pub struct Report {
    pub markdown: String,
    pub json: Value,
}

/// A function process to measure.
struct Subject {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    function_name: &'static str,
    function_arn: &'static str,
    event: fn(&str) -> Value,
    /// What a successful answer must contain, checked on every invocation.
    check: fn(&Value) -> bool,
}

#[derive(Debug, Default, Clone)]
struct Samples {
    init: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    rss_kib: Vec<u64>,
    /// CPU time of the process (all its threads) at its first `/next`.
    init_cpu: Vec<Duration>,
    /// CPU time per warm invocation, one value per cold start (its warm invocations' total ÷ count).
    warm_cpu: Vec<Duration>,
}

fn delete_event(id: &str) -> Value {
    json!({ "instanceId": id })
}

fn deleted(answer: &Value) -> bool {
    answer["instance"]["state"] == "Deleting"
}

fn reported(answer: &Value) -> bool {
    answer["instance"]["instanceId"].is_string() && answer["done"].is_boolean()
}

fn null(answer: &Value) -> bool {
    answer.is_null()
}

/// Runs the benchmark and returns the report.
pub async fn run(options: &Options) -> Result<Report, String> {
    std::fs::create_dir_all(&options.work_dir).map_err(|e| format!("{}: {e}", options.work_dir.display()))?;
    let identity = TlsIdentity::generate()?;
    let ca_file = options.work_dir.join("ca.pem");
    identity.write_ca_pem(&ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    // The boto3 peer's trust store, and the platform's for the trust-store levers: the system's
    // public roots plus the benchmark's authority.
    let system_bundle = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
        .iter()
        .map(Path::new)
        .find(|path| path.is_file());
    let bundle_file = options.work_dir.join("bundle.pem");
    let mut bundle = system_bundle.map(|path| std::fs::read_to_string(path).unwrap_or_default()).unwrap_or_default();
    bundle.push_str(identity.ca_pem());
    std::fs::write(&bundle_file, &bundle).map_err(|e| format!("{}: {e}", bundle_file.display()))?;
    // The system's certificate directory with the authority added, for the directory-scan variant.
    let cert_dir = options.work_dir.join("certs");
    let cert_dir_ready = system_bundle.is_some() && make_cert_dir(Path::new("/etc/ssl/certs"), &cert_dir, identity.ca_pem()).is_ok();

    let config = EmulatorConfig {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        // Deleted instances stay readable for the whole run.
        deleted_retention: Duration::from_secs(24 * 3600),
        ..Default::default()
    };
    let emulator = Emulator::start_tls(config, &identity).await.map_err(|e| format!("emulator: {e}"))?;

    let subjects = subjects(options, &emulator, &bundle_file, &ca_file, cert_dir_ready.then_some(&cert_dir))?;
    let mut samples = vec![Samples::default(); subjects.len()];
    let mut floor = Samples::default();
    let mut sdk_floor = Samples::default();
    let mut handshakes = Vec::new();
    for round in 0..options.rounds {
        // Each round takes the subjects in a new order (the same from run to run), so that none
        // always follows the same one: a cold start right after the boto3 peer's quarter second
        // of CPU, or right after the floors, has its init moved by tenths of a millisecond on this
        // kind of machine, and a fixed order would hand that to one subject every time.
        for k in shuffled(subjects.len(), round as u64) {
            let subject = &subjects[k];
            measure_cold_start(subject, &emulator, options, &mut samples[k])
                .await
                .map_err(|e| format!("{} (round {}): {e}", subject.label, round + 1))?;
        }
        let handshake = measure_service_floor(&emulator, &identity, options.warm + 1, &mut floor).await?;
        handshakes.push(handshake);
        measure_sdk_floor(&emulator, &identity, options.warm + 1, &mut sdk_floor).await?;
    }

    let sweep = measure_sweep(options, options.rounds).await?;
    let sizes = sizes(options)?;
    Ok(report(options, &subjects, &samples, &Floors { service: floor, handshakes, sdk: sdk_floor }, &sizes, &sweep))
}

/// `0..n` in an order drawn from `seed` (Fisher-Yates over a xorshift generator: reproducible, and
/// no dependency for it).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// The subjects of a run, the main ones first and the lever variants after them.
fn subjects(
    options: &Options,
    emulator: &Emulator,
    bundle: &Path,
    ca_only: &Path,
    cert_dir: Option<&PathBuf>,
) -> Result<Vec<Subject>, String> {
    let bin = |name: &str| -> Result<PathBuf, String> {
        let path = options.bin_dir.join(name);
        if !path.is_file() {
            return Err(format!("{} is missing: build the workspace's binaries first (cargo build --workspace --bins)", path.display()));
        }
        stage(options, &path, "release")
    };
    let endpoint = emulator.endpoint();
    let aws = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), endpoint.clone()),
            // The functions' own cost of trust is that of their built-in roots (nothing to read);
            // to trust the benchmark's authority they are given it alone, one certificate to read.
            ("SSL_CERT_FILE".to_owned(), ca_only.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let rust = |label: &str, binary: &str, name, arn, event, check, env: Vec<(String, String)>| -> Result<Subject, String> {
        Ok(Subject {
            label: label.to_owned(),
            program: bin(binary)?,
            args: Vec::new(),
            cwd: None,
            env,
            function_name: name,
            function_arn: arn,
            event,
            check,
        })
    };
    let like_for_like = [("DELETION_PROTECTION_TAG", "")];
    let mut subjects = vec![
        rust("delete-instance", "delete-instance", "delete-instance", DELETE_ARN, delete_event, deleted, aws(&like_for_like))?,
        rust("delete-instance (default: tag check + delete)", "delete-instance", "delete-instance", DELETE_ARN, delete_event, deleted, aws(&[]))?,
        rust(
            "check-instance-status",
            "check-instance-status",
            "check-instance-status",
            CHECK_ARN,
            delete_event,
            reported,
            aws(&[]),
        )?,
    ];
    if let Some(python) = &options.python {
        subjects.push(Subject {
            label: "boto3 peer (awslambdaric)".to_owned(),
            program: python.clone(),
            args: vec!["-m".into(), "awslambdaric".into(), "handler.handler".into()],
            cwd: Some(options.handler_dir.clone()),
            env: vec![
                ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), endpoint.clone()),
                ("AWS_CA_BUNDLE".to_owned(), bundle.display().to_string()),
                ("AWS_DEFAULT_REGION".to_owned(), REGION.to_owned()),
                ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
            ],
            function_name: "delete-instance-boto3",
            function_arn: DELETE_ARN,
            event: delete_event,
            check: deleted,
        });
    }
    for (i, (label, dir)) in options.variants.iter().enumerate() {
        let program = dir.join("delete-instance");
        if !program.is_file() {
            return Err(format!("{} is missing", program.display()));
        }
        subjects.push(Subject {
            label: format!("build: {label}"),
            program: stage(options, &program, &format!("variant-{i}"))?,
            args: Vec::new(),
            cwd: None,
            env: aws(&like_for_like),
            function_name: "delete-instance",
            function_arn: DELETE_ARN,
            event: delete_event,
            check: deleted,
        });
    }
    subjects.push(rust("noop-function (runtime floor)", "noop-function", "noop-function", DELETE_ARN, delete_event, null, aws(&[]))?);
    if options.levers {
        subjects.push(rust(
            "lever: connection opened at first call, not at init",
            "delete-instance",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            aws(&[("DELETION_PROTECTION_TAG", ""), ("CONNECT_AT_INIT", "false")]),
        )?);
        subjects.push(rust(
            "lever: multi-threaded Tokio runtime",
            "delete-instance-multi-thread",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            aws(&like_for_like),
        )?);
        let mut platform = aws(&like_for_like);
        platform[1].1 = bundle.display().to_string();
        subjects.push(rust(
            "lever: the platform's trust store file (SSL_CERT_FILE)",
            "delete-instance",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            platform.clone(),
        )?);
        if let Some(dir) = cert_dir {
            let mut scan = platform;
            scan.push(("SSL_CERT_DIR".to_owned(), dir.display().to_string()));
            subjects.push(rust(
                "lever: the platform's trust store file and directory",
                "delete-instance",
                "delete-instance",
                DELETE_ARN,
                delete_event,
                deleted,
                scan,
            )?);
        }
    }
    Ok(subjects)
}

/// A copy of the binary `path`, in a directory of the run's own, which the subject runs from.
///
/// Every Rust subject thus starts from a file written the same way, by one copy, as Lambda writes
/// the binary it unpacks from the zip. Run in place, a binary's file is the one the linker wrote,
/// and in runs side by side the same binary measured 0.1 to 0.7 ms more init CPU executed from the
/// linker's file than from a copy of it: a difference between subjects that no deployed function
/// has.
///
/// `dir` is where, under the run's `bin`: one per build, so two builds of one binary do not meet.
fn stage(options: &Options, path: &Path, dir: &str) -> Result<PathBuf, String> {
    let name = path.file_name().ok_or_else(|| format!("{}: not a file", path.display()))?;
    let dir = options.work_dir.join("bin").join(dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let staged = dir.join(name);
    if !staged.is_file() {
        std::fs::copy(path, &staged).map_err(|e| format!("copying {} to {}: {e}", path.display(), staged.display()))?;
    }
    Ok(staged)
}

/// Copies the certificates of `from` into `to` (as the system keeps them, one file per authority)
/// and adds `ca_pem`.
fn make_cert_dir(from: &Path, to: &Path, ca_pem: &str) -> std::io::Result<()> {
    if to.is_dir() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "pem") {
            if let (Some(name), Ok(text)) = (path.file_name(), std::fs::read(&path)) {
                std::fs::write(to.join(name), text)?;
            }
        }
    }
    std::fs::write(to.join("supplychain-bench-ca.pem"), ca_pem)
}

/// One cold start of `subject`: init, the first invocation, `options.warm` warm ones, peak RSS.
async fn measure_cold_start(subject: &Subject, emulator: &Emulator, options: &Options, samples: &mut Samples) -> Result<(), String> {
    let runtime = RuntimeApi::start().await.map_err(|e| format!("runtime API: {e}"))?;
    // Instances are seeded before the process starts, so seeding is never measured.
    let ids: Vec<String> = (0..=options.warm).map(|_| emulator.seed(SeedInstance::default()).instance_id).collect();
    let log_path = options.work_dir.join(format!("{}.log", subject.function_name));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut command = supplychain_testkit::lambda_command(&subject.program, subject.function_name, &runtime.address());
    command
        .args(&subject.args)
        .envs(subject.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    if let Some(cwd) = &subject.cwd {
        command.current_dir(cwd);
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", subject.program.display()))?;
    let first_poll = tokio::select! {
        first = runtime.wait_for_first_poll() => first,
        status = child.wait() => return Err(format!("exited during init ({status:?}); logs:\n{}", logs())),
        _ = tokio::time::sleep(Duration::from_secs(60)) => return Err(format!("no /next within 60 s; logs:\n{}", logs())),
    };
    samples.init.push(first_poll - started);
    let pid = child.id().ok_or("the process has no id")?;
    samples.init_cpu.extend(cpu_time(pid));
    let mut warm_cpu_from = None;
    for (index, id) in ids.iter().enumerate() {
        let options = Invoke {
            function_arn: subject.function_arn.to_owned(),
            deadline: Deadline::In(Duration::from_secs(30)),
            give_up_after: Duration::from_secs(60),
            ..Default::default()
        };
        let completed = runtime
            .invoke((subject.event)(id), options)
            .await
            .map_err(|e| format!("invocation: {e}; logs:\n{}", logs()))?;
        match &completed.outcome {
            Outcome::Response(answer) if (subject.check)(answer) => {}
            other => return Err(format!("unexpected answer {other:?}; logs:\n{}", logs())),
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
    if let Some(pid) = child.id() {
        samples.rss_kib.push(peak_rss_kib(pid).ok_or("cannot read VmHWM from /proc")?);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(())
}

/// Runs of `sweep-instances` over a fleet of [`SWEEP_FLEET`] instances, and the calls each made.
#[derive(Debug, Clone, Default)]
struct SweepSamples {
    /// Each run's time, from the invocation handed out to its answer; the first run is the first
    /// invocation of the process.
    runs: Vec<Duration>,
    /// Calls of one run, by operation (the same in every run, or the measurement fails).
    calls: Vec<(String, usize)>,
    /// PutEvents calls of one run (the report).
    puts: usize,
    selected: u64,
}

/// The sweep, in report mode, `runs` times in one process against a fleet of [`SWEEP_FLEET`]
/// instances (one in five expired), on an emulator of its own over plain HTTP and a stand-in bus
/// that accepts every PutEvents entry. Every run must examine the whole fleet with exactly one
/// ListInstances per page and one ListTagsForResource per instance, or the measurement fails.
async fn measure_sweep(options: &Options, runs: usize) -> Result<SweepSamples, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use supplychain_emulator::http::{bind, json_response, serve, stop_pair};

    let config = EmulatorConfig { account_id: ACCOUNT.into(), region: REGION.into(), ..Default::default() };
    let emulator = Emulator::start(config).await.map_err(|e| format!("sweep emulator: {e}"))?;
    for n in 0..SWEEP_FLEET {
        let expires = if n % 5 == 0 { "2020-01-31" } else { "9999-12-31" };
        emulator.seed(SeedInstance { tags: [("ExpiresAt".to_owned(), expires.to_owned())].into(), ..Default::default() });
    }
    // PutEvents (awsJson 1.1) answered with one event id per entry.
    let puts = Arc::new(AtomicUsize::new(0));
    let (listener, bus_addr) = bind(([127, 0, 0, 1], 0).into()).await.map_err(|e| format!("bus: {e}"))?;
    let (_stop_bus, bus_stop) = stop_pair();
    let counted = Arc::clone(&puts);
    tokio::spawn(serve(
        listener,
        move |request: supplychain_emulator::http::Request| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let body: Value = serde_json::from_slice(request.body()).unwrap_or_default();
                let count = body["Entries"].as_array().map_or(0, Vec::len);
                let entries: Vec<Value> = (0..count).map(|i| json!({ "EventId": format!("bench-{i}") })).collect();
                let answer = json!({ "FailedEntryCount": 0, "Entries": entries });
                Ok(json_response(200, answer.to_string().into_bytes(), &[]))
            }
        },
        bus_stop,
    ));

    let runtime = RuntimeApi::start().await.map_err(|e| format!("runtime API: {e}"))?;
    let program = options.bin_dir.join("sweep-instances");
    let log_path = options.work_dir.join("sweep-instances.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut child = tokio::process::Command::new(&program)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "sweep-instances")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_ENDPOINT_URL_SUPPLYCHAIN", emulator.endpoint())
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("http://{bus_addr}"))
        .env("EVENT_BUS_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let mut samples = SweepSamples::default();
    let pages = SWEEP_FLEET.div_ceil(20);
    let expected = [("ListInstances".to_owned(), pages), ("ListTagsForResource".to_owned(), SWEEP_FLEET)];
    for run in 0..runs.max(1) {
        emulator.clear_calls();
        puts.store(0, Ordering::SeqCst);
        let invoke = Invoke {
            function_arn: SWEEP_ARN.to_owned(),
            deadline: Deadline::In(Duration::from_secs(120)),
            give_up_after: Duration::from_secs(180),
            ..Default::default()
        };
        let completed = runtime
            .invoke(json!({ "mode": "report" }), invoke)
            .await
            .map_err(|e| format!("sweep invocation: {e}; logs:\n{}", logs()))?;
        let report = match &completed.outcome {
            Outcome::Response(report) if report["complete"] == true && report["examined"] == SWEEP_FLEET => report,
            other => return Err(format!("sweep run {}: unexpected answer {other:?}; logs:\n{}", run + 1, logs())),
        };
        samples.runs.push(completed.completed - completed.handed_out);
        let mut calls: Vec<(String, usize)> = Vec::new();
        for call in emulator.calls() {
            match calls.iter_mut().find(|(operation, _)| *operation == call.operation) {
                Some((_, count)) => *count += 1,
                None => calls.push((call.operation, 1)),
            }
        }
        calls.sort();
        if calls != expected {
            return Err(format!("sweep run {}: calls {calls:?}, expected exactly {expected:?}", run + 1));
        }
        samples.calls = calls;
        samples.puts = puts.load(Ordering::SeqCst);
        samples.selected = report["counts"]["selected"].as_u64().unwrap_or(0);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(samples)
}

/// CPU time a live process has used so far, all its threads: the first field of each thread's
/// `schedstat` (nanoseconds on a CPU). Unlike wall time it does not count waiting for the
/// emulator or the runtime API, nor time other processes took the CPU away, so it is the steadier
/// measure of what the process itself costs.
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// `VmHWM` (peak resident set size) of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The service floor: one TLS connection (its handshake is returned), then `requests` DELETE
/// requests on it, each timed from sending to the last byte of the answer.
async fn measure_service_floor(
    emulator: &Emulator,
    identity: &TlsIdentity,
    requests: usize,
    samples: &mut Samples,
) -> Result<Duration, String> {
    let ids: Vec<String> = (0..requests).map(|_| emulator.seed(SeedInstance::default()).instance_id).collect();
    let addr = emulator.addr();
    let ca = identity.ca_der().to_vec();
    let (handshake, times) = on_own_thread("service floor", move || raw_client(addr, ca, ids)).await?;
    samples.record_calls(times);
    Ok(handshake)
}

/// Runs a floor's client on a thread and single-threaded runtime of its own, like a function
/// process, away from the emulator's.
async fn on_own_thread<T, F>(floor: &str, client: impl FnOnce() -> F + Send + 'static) -> Result<T, String>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>>,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(client())
    })
    .await
    .map_err(|e| format!("{floor}: {e}"))?
}

impl Samples {
    /// A floor's calls in order: the first one, then the warm ones.
    fn record_calls(&mut self, times: Vec<Duration>) {
        let mut times = times.into_iter();
        self.first.extend(times.next());
        self.warm.extend(times);
    }
}

async fn raw_client(addr: std::net::SocketAddr, ca_der: Vec<u8>, ids: Vec<String>) -> Result<(Duration, Vec<Duration>), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca_der)).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("service floor: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::from(addr.ip());
    let tls = connector.connect(name, tcp).await.map_err(|e| format!("service floor TLS: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(|e| format!("service floor: {e}"))?;
    let handshake = started.elapsed();
    tokio::spawn(connection);
    let host = addr.to_string();
    let mut times = Vec::with_capacity(ids.len());
    for id in ids {
        // A well-formed SigV4 header: the emulator runs without credentials and checks only its form.
        let request = hyper::Request::delete(format!("/api/instance/{id}"))
            .header("host", &host)
            .header("x-amz-date", "20260101T000000Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/scn/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={}",
                    "0".repeat(64)
                ),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let response = sender.send_request(request).await.map_err(|e| format!("service floor: {e}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("service floor: {e}"))?.to_bytes();
        times.push(sent.elapsed());
        if status != 200 {
            return Err(format!("service floor: DELETE answered {status}: {}", String::from_utf8_lossy(&body)));
        }
    }
    Ok((handshake, times))
}

/// The SDK floor: `aws-sdk-supplychain` as the functions set it up (their HTTP client, trusting
/// the benchmark's authority, and their attempt timeout), on a thread and single-threaded runtime
/// of its own like the service floor, sending `requests` DeleteInstance calls one after the other.
/// Each is timed from `send` to the parsed answer; the first includes the connection.
async fn measure_sdk_floor(emulator: &Emulator, identity: &TlsIdentity, requests: usize, samples: &mut Samples) -> Result<(), String> {
    let ids: Vec<String> = (0..requests).map(|_| emulator.seed(SeedInstance::default()).instance_id).collect();
    let endpoint = emulator.endpoint();
    let ca_pem = identity.ca_pem().to_owned();
    samples.record_calls(on_own_thread("SDK floor", move || sdk_client(endpoint, ca_pem, ids)).await?);
    Ok(())
}

async fn sdk_client(endpoint: String, ca_pem: String, ids: Vec<String>) -> Result<Vec<Duration>, String> {
    use aws_config::{BehaviorVersion, Region};
    let http = supplychain_delete_instance::http_client::trusting(ca_pem.as_bytes()).map_err(|e| format!("SDK floor: {e}"))?;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_supplychain::config::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "bench"))
        .http_client(http)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(5)).build(),
        )
        .load()
        .await;
    let client = aws_sdk_supplychain::Client::new(&config);
    let mut times = Vec::with_capacity(ids.len());
    for id in ids {
        let sent = Instant::now();
        let output = client
            .delete_instance()
            .instance_id(&id)
            .send()
            .await
            .map_err(|e| format!("SDK floor: {}", aws_sdk_supplychain::error::DisplayErrorContext(&e)))?;
        times.push(sent.elapsed());
        let state = output.instance().map(|instance| instance.state().as_str().to_owned());
        if state.as_deref() != Some("Deleting") {
            return Err(format!("SDK floor: DeleteInstance answered state {state:?}"));
        }
    }
    Ok(times)
}

/// What the functions are measured against: the raw request and its handshakes, and the SDK call.
struct Floors {
    service: Samples,
    handshakes: Vec<Duration>,
    sdk: Samples,
}

#[derive(Debug, Clone)]
struct Size {
    label: String,
    binary: u64,
    zip: u64,
}

/// Sizes of each binary and of the zip Lambda would receive (the binary alone, named `bootstrap`).
fn sizes(options: &Options) -> Result<Vec<Size>, String> {
    let mut out = Vec::new();
    let dirs = std::iter::once(("x86_64".to_owned(), &options.bin_dir))
        .chain(options.aarch64_bin_dir.as_ref().map(|dir| ("aarch64".to_owned(), dir)))
        .chain(options.variants.iter().map(|(label, dir)| (format!("x86_64, {label}"), dir)));
    for (arch, dir) in dirs {
        for name in ["delete-instance", "check-instance-status", "noop-function"] {
            let binary = dir.join(name);
            let Ok(meta) = std::fs::metadata(&binary) else { continue };
            let zip = options.work_dir.join(format!("{name}-{}.zip", out.len()));
            zip_as_bootstrap(options, &binary, &zip)?;
            let zip_size = std::fs::metadata(&zip).map_err(|e| format!("{}: {e}", zip.display()))?.len();
            out.push(Size { label: format!("{name} ({arch})"), binary: meta.len(), zip: zip_size });
        }
    }
    Ok(out)
}

fn zip_as_bootstrap(options: &Options, binary: &Path, zip: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(zip);
    let status = match &options.python {
        Some(python) => std::process::Command::new(python)
            .args([
                "-c",
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
                 \x20   z.write(sys.argv[1], 'bootstrap')",
            ])
            .arg(binary)
            .arg(zip)
            .status(),
        None => {
            let staged = options.work_dir.join("bootstrap");
            std::fs::copy(binary, &staged).map_err(|e| format!("{}: {e}", binary.display()))?;
            std::process::Command::new("zip").arg("-q").arg("-j").arg(zip).arg(&staged).status()
        }
    };
    match status {
        Ok(status) if status.success() => Ok(()),
        other => Err(format!("cannot zip {}: {other:?}", binary.display())),
    }
}

// ----- the report ------------------------------------------------------------------------------

fn sorted(values: &[Duration]) -> Vec<Duration> {
    let mut values = values.to_vec();
    values.sort();
    values
}

/// The value at quantile `q` (nearest rank).
fn quantile(values: &[Duration], q: f64) -> Option<Duration> {
    let values = sorted(values);
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

fn median(values: &[Duration]) -> Option<Duration> {
    quantile(values, 0.5)
}

fn micros(value: Option<Duration>) -> String {
    value.map(|d| format!("{:.0}", d.as_secs_f64() * 1e6)).unwrap_or_else(|| "–".to_owned())
}

fn ms(value: Option<Duration>) -> String {
    match value {
        None => "–".to_owned(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 10.0 {
                format!("{ms:.3}")
            } else if ms < 100.0 {
                format!("{ms:.2}")
            } else {
                format!("{ms:.1}")
            }
        }
    }
}

fn spread(values: &[Duration]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    format!(" ({}–{})", ms(quantile(values, 0.1)), ms(quantile(values, 0.9)))
}

fn median_u64(values: &[u64]) -> Option<u64> {
    let mut values = values.to_vec();
    values.sort();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(a?.as_secs_f64() / b?.as_secs_f64())
}

fn ratio_text(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(r) if r < 1.0 && r > 0.0 => format!("{r:.3} (1/{:.0})", 1.0 / r),
        Some(r) => format!("{r:.2}"),
    }
}

fn report(options: &Options, subjects: &[Subject], samples: &[Samples], floors: &Floors, sizes: &[Size], sweep: &SweepSamples) -> Report {
    let (floor, handshakes, sdk) = (&floors.service, &floors.handshakes, &floors.sdk);
    let mut md = String::new();
    let find = |label: &str| subjects.iter().position(|s| s.label.starts_with(label)).map(|i| &samples[i]);
    md.push_str(&format!(
        "Build: {}. {} cold starts per subject, {} warm invocations after each first one. \
         Times in ms: median (p10–p90); warm: median and p99. Emulator over HTTPS (TLS 1.3, RSA 2048).\n\n",
        options.profile, options.rounds, options.warm
    ));
    md.push_str("| Subject | Init | Init CPU | First invocation | Warm median | Warm p99 | CPU per warm invocation (µs) | Peak RSS (MiB) |\n");
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for (subject, s) in subjects.iter().zip(samples) {
        let rss = median_u64(&s.rss_kib).map(|kib| kib as f64 / 1024.0);
        md.push_str(&format!(
            "| {} | {}{} | {} | {}{} | {} | {} | {} | {} |\n",
            subject.label,
            ms(median(&s.init)),
            spread(&s.init),
            ms(median(&s.init_cpu)),
            ms(median(&s.first)),
            spread(&s.first),
            ms(median(&s.warm)),
            ms(quantile(&s.warm, 0.99)),
            micros(median(&s.warm_cpu)),
            rss.map(|r| format!("{r:.1}")).unwrap_or_else(|| "–".into()),
        ));
        rows.push(json!({
            "subject": subject.label,
            "initMs": median(&s.init).map(|d| d.as_secs_f64() * 1000.0),
            "firstMs": median(&s.first).map(|d| d.as_secs_f64() * 1000.0),
            "warmMedianMs": median(&s.warm).map(|d| d.as_secs_f64() * 1000.0),
            "warmP99Ms": quantile(&s.warm, 0.99).map(|d| d.as_secs_f64() * 1000.0),
            "initCpuMs": median(&s.init_cpu).map(|d| d.as_secs_f64() * 1000.0),
            "warmCpuMicros": median(&s.warm_cpu).map(|d| d.as_secs_f64() * 1e6),
            "peakRssKib": median_u64(&s.rss_kib),
            "samples": {"init": s.init.len(), "first": s.first.len(), "warm": s.warm.len()},
        }));
    }
    md.push_str(&format!(
        "| raw HTTP client (service floor) | connect + TLS {}{} | – | {}{} | {} | {} | – | – |\n\n",
        ms(median(handshakes)),
        spread(handshakes),
        ms(median(&floor.first)),
        spread(&floor.first),
        ms(median(&floor.warm)),
        ms(quantile(&floor.warm, 0.99)),
    ));
    // The table above ends with the service floor; the SDK floor goes just before that row's
    // blank line, so both floors read together.
    md.truncate(md.len() - 1);
    md.push_str(&format!(
        "| aws-sdk-supplychain call in-process (SDK floor) | – | – | {}{} | {} | {} | – | – |\n\n",
        ms(median(&sdk.first)),
        spread(&sdk.first),
        ms(median(&sdk.warm)),
        ms(quantile(&sdk.warm, 0.99)),
    ));

    md.push_str("| Artifact | Binary (MB) | Zip (MB) |\n|---|---|---|\n");
    for size in sizes {
        md.push_str(&format!("| {} | {:.2} | {:.2} |\n", size.label, size.binary as f64 / 1e6, size.zip as f64 / 1e6));
    }
    if options.aarch64_bin_dir.is_none() {
        md.push_str("| aarch64 | not measured: no `--aarch64-bin-dir` (scripts/bench builds and gives it) | |\n");
    }
    md.push('\n');

    let delete = find("delete-instance");
    let boto3 = find("boto3");
    let noop = find("noop-function");
    let init = |s: Option<&Samples>| s.and_then(|s| median(&s.init));
    let warm = |s: Option<&Samples>| s.and_then(|s| median(&s.warm));
    let first = |s: Option<&Samples>| s.and_then(|s| median(&s.first));
    let rss = |s: Option<&Samples>| s.and_then(|s| median_u64(&s.rss_kib)).map(|k| k as f64);
    let size_of = |label: &str| sizes.iter().find(|s| s.label == label);
    let mut targets = vec![
        ("Init vs boto3's", ratio(init(delete), init(boto3)), "≤ 1/50", 1.0 / 50.0),
        ("Init vs the do-nothing function's", ratio(init(delete), init(noop)), "≤ 2.5", 2.5),
        ("Warm invocation vs the service floor's request", ratio(warm(delete), median(&floor.warm)), "≤ 1.3", 1.3),
        ("First invocation vs a warm one", ratio(first(delete), warm(delete)), "≤ 2", 2.0),
        (
            "Peak RSS vs boto3's",
            rss(delete).zip(rss(boto3)).map(|(a, b)| a / b),
            "≤ 1/5",
            0.2,
        ),
    ];
    let overhead_us = warm(noop).map(|d| d.as_secs_f64() * 1e6);
    let mut check_rows = Vec::new();
    md.push_str("| Target (delete-instance, like for like) | Measured | Target | Met |\n|---|---|---|---|\n");
    for (name, value, target, limit) in targets.drain(..) {
        let met = |v: f64| v <= limit;
        md.push_str(&format!(
            "| {name} | {} | {target} | {} |\n",
            ratio_text(value),
            value.map(|v| if met(v) { "yes" } else { "no" }).unwrap_or("–")
        ));
        check_rows.push(json!({"target": name, "measured": value, "met": value.map(met)}));
    }
    md.push_str(&format!(
        "| Runtime's own per-invocation overhead (do-nothing function, warm) | {} µs | < 150 µs | {} |\n",
        overhead_us.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into()),
        overhead_us.map(|v| if v < 150.0 { "yes" } else { "no" }).unwrap_or("–")
    ));
    // The same size targets for each architecture built; aarch64 (arm64) is the one template.yaml deploys.
    for (arch, zip_row) in [("x86_64", "Zip"), ("aarch64", "Zip (aarch64)")] {
        if let Some(size) = size_of(&format!("delete-instance ({arch})")) {
            let (mb, zip) = (size.binary as f64 / 1e6, size.zip as f64 / 1e6);
            md.push_str(&format!("| Stripped {arch} binary | {mb:.2} MB | < 7.5 MB | {} |\n", if mb < 7.5 { "yes" } else { "no" }));
            md.push_str(&format!("| {zip_row} | {zip:.2} MB | < 3.2 MB | {} |\n", if zip < 3.2 { "yes" } else { "no" }));
        }
    }

    // Where a warm invocation's time goes: the runtime's round trip (the do-nothing function's warm
    // invocation) and the SDK call, each measured on its own; the rest is the handler's own work.
    let parts = [("Runtime floor (do-nothing function, warm)", warm(noop)), ("SDK floor (the DeleteInstance call in-process, warm)", median(&sdk.warm))];
    let sum = parts.iter().map(|(_, d)| *d).sum::<Option<Duration>>();
    md.push_str("\n| A warm `delete-instance` invocation | ms | × the service floor's request |\n|---|---|---|\n");
    for (name, value) in parts.iter().copied().chain([("Sum of the two floors", sum), ("Measured (like for like)", warm(delete))]) {
        md.push_str(&format!("| {name} | {} | {} |\n", ms(value), ratio_text(ratio(value, median(&floor.warm)))));
    }
    md.push_str(&format!(
        "| Service floor (the raw request) | {} | 1 |\n\nMeasured ÷ the sum of the two floors: {}.\n",
        ms(median(&floor.warm)),
        ratio_text(ratio(warm(delete), sum))
    ));

    let calls_of = |operation: &str| sweep.calls.iter().find(|(o, _)| o == operation).map_or(0, |(_, n)| *n);
    let later = &sweep.runs[sweep.runs.len().min(1)..];
    md.push_str(&format!(
        "\n| Sweep of {SWEEP_FLEET} instances, report mode (emulator over HTTP) | ms | ListInstances | ListTagsForResource | PutEvents | Selected |\n\
         |---|---|---|---|---|---|\n\
         | sweep-instances, first run | {} | {} | {} | {} | {} |\n\
         | sweep-instances, later runs | {}{} | {} | {} | {} | {} |\n",
        ms(sweep.runs.first().copied()),
        calls_of("ListInstances"),
        calls_of("ListTagsForResource"),
        sweep.puts,
        sweep.selected,
        ms(median(later)),
        spread(later),
        calls_of("ListInstances"),
        calls_of("ListTagsForResource"),
        sweep.puts,
        sweep.selected,
    ));

    let json = json!({
        "profile": options.profile,
        "rounds": options.rounds,
        "warmPerColdStart": options.warm,
        "subjects": rows,
        "serviceFloor": {
            "connectAndTlsMs": median(handshakes).map(|d| d.as_secs_f64() * 1000.0),
            "firstMs": median(&floor.first).map(|d| d.as_secs_f64() * 1000.0),
            "warmMedianMs": median(&floor.warm).map(|d| d.as_secs_f64() * 1000.0),
            "warmP99Ms": quantile(&floor.warm, 0.99).map(|d| d.as_secs_f64() * 1000.0),
        },
        "sdkFloor": {
            "firstMs": median(&sdk.first).map(|d| d.as_secs_f64() * 1000.0),
            "warmMedianMs": median(&sdk.warm).map(|d| d.as_secs_f64() * 1000.0),
            "warmP99Ms": quantile(&sdk.warm, 0.99).map(|d| d.as_secs_f64() * 1000.0),
        },
        "sizes": sizes.iter().map(|s| json!({"artifact": s.label, "binaryBytes": s.binary, "zipBytes": s.zip})).collect::<Vec<_>>(),
        "targets": check_rows,
        "runtimeOverheadMicros": overhead_us,
        "sweep": {
            "instances": SWEEP_FLEET,
            "firstRunMs": sweep.runs.first().map(|d| d.as_secs_f64() * 1000.0),
            "laterRunsMedianMs": median(later).map(|d| d.as_secs_f64() * 1000.0),
            "callsPerRun": sweep.calls.iter().map(|(o, n)| (o.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "putEventsPerRun": sweep.puts,
        },
    });
    Report { markdown: md, json }
}

#[cfg(test)]
mod tests {
    use super::shuffled;

    #[test]
    fn every_round_takes_each_subject_once() {
        for round in 0..50 {
            let mut order = shuffled(9, round);
            order.sort_unstable();
            assert_eq!(order, (0..9).collect::<Vec<_>>(), "round {round}");
        }
    }

    #[test]
    fn no_subject_always_follows_the_same_one() {
        // Over the rounds of a run, subject 0 is preceded by several different subjects.
        let predecessors: std::collections::BTreeSet<usize> = (0..15)
            .filter_map(|round| {
                let order = shuffled(9, round);
                let at = order.iter().position(|&k| k == 0).unwrap();
                at.checked_sub(1).map(|i| order[i])
            })
            .collect();
        assert!(predecessors.len() >= 4, "{predecessors:?}");
        assert_eq!(shuffled(9, 3), shuffled(9, 3), "the same order from run to run");
    }
}
