//! What the sweep's subjects share: a stand-in event bus that records every PutEvents call, a KMS
//! stand-in for the notice key that signs and checks marks and records every call, a
//! `sweep-instances` process driven through a local Runtime API, the calls of a run counted by
//! operation (the emulator's, the bus's and KMS's), and the check that they are exactly the ones
//! expected.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use supplychain_emulator::http::{bind, json_response, serve, stop_pair, StopHandle};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi};
use supplychain_emulator::Emulator;

use supplychain_testkit::{ACCOUNT, REGION, SWEEP_ARN};

use crate::options::Options;

/// One entry of a PutEvents call: its detail-type and its size as EventBridge meters it (source,
/// detail-type, detail and resources), which decides how many 64 KB chunks it is billed as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BusEntry {
    pub(crate) detail_type: String,
    pub(crate) bytes: usize,
}

/// An EventBridge stand-in that answers PutEvents (awsJson 1.1) with one event id per entry and
/// keeps every call's entries.
pub(crate) struct Bus {
    calls: Arc<Mutex<Vec<Vec<BusEntry>>>>,
    endpoint: String,
    _stop: StopHandle,
}

impl Bus {
    pub(crate) async fn start() -> Result<Bus, String> {
        let calls: Arc<Mutex<Vec<Vec<BusEntry>>>> = Arc::default();
        let (listener, addr) = bind(([127, 0, 0, 1], 0).into()).await.map_err(|e| format!("bus: {e}"))?;
        let (stop, stopped) = stop_pair();
        let kept = Arc::clone(&calls);
        tokio::spawn(serve(
            listener,
            move |request: supplychain_emulator::http::Request| {
                let kept = Arc::clone(&kept);
                async move {
                    let body: Value = serde_json::from_slice(request.body()).unwrap_or_default();
                    let entries: Vec<BusEntry> = body["Entries"].as_array().map_or_else(Vec::new, |entries| {
                        entries
                            .iter()
                            .map(|entry| {
                                let text = |name: &str| entry[name].as_str().map_or(0, str::len);
                                let resources: usize =
                                    entry["Resources"].as_array().map_or(0, |r| r.iter().filter_map(Value::as_str).map(str::len).sum());
                                BusEntry {
                                    detail_type: entry["DetailType"].as_str().unwrap_or_default().to_owned(),
                                    bytes: text("Source") + text("DetailType") + text("Detail") + resources,
                                }
                            })
                            .collect()
                    });
                    let ids: Vec<Value> = (0..entries.len()).map(|i| json!({ "EventId": format!("bench-{i}") })).collect();
                    kept.lock().expect("the bus's log").push(entries);
                    let answer = json!({ "FailedEntryCount": 0, "Entries": ids });
                    Ok(json_response(200, answer.to_string().into_bytes(), &[]))
                }
            },
            stopped,
        ));
        Ok(Bus { calls, endpoint: format!("http://{addr}"), _stop: stop })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The calls since the last `take`, each with its entries.
    pub(crate) fn take(&self) -> Vec<Vec<BusEntry>> {
        std::mem::take(&mut *self.calls.lock().expect("the bus's log"))
    }
}

/// The key id every sweep of the benchmark is given (`NOTICE_KEY_ID`): the KMS stand-in answers for
/// this key only, as KMS answers `NotFoundException` for a key it does not hold.
pub(crate) const NOTICE_KEY_ID: &str = "alias/supplychain-bench-notice";
/// The only MAC algorithm of a `HMAC_256` key.
const HMAC_SHA_256: &str = "HMAC_SHA_256";

/// One call the KMS stand-in answered: its operation, and when it read the request and when it had
/// built the answer (its own clock, in this process).
#[derive(Debug, Clone)]
pub(crate) struct KmsCall {
    pub(crate) operation: String,
    pub(crate) received: Instant,
    pub(crate) answered: Instant,
}

/// A KMS stand-in for the stack's notice key (awsJson 1.1, `X-Amz-Target: TrentService.*`):
/// GenerateMac answers a real HMAC-SHA256 of the message under a key of its own, made at start;
/// VerifyMac recomputes it and answers `MacValid: true`, or HTTP 400 `KMSInvalidMacException` when it
/// differs, as KMS does. It answers at once, with no latency added, and keeps every call.
pub(crate) struct Kms {
    calls: Arc<Mutex<Vec<KmsCall>>>,
    endpoint: String,
    _stop: StopHandle,
}

impl Kms {
    pub(crate) async fn start() -> Result<Kms, String> {
        let calls: Arc<Mutex<Vec<KmsCall>>> = Arc::default();
        let (listener, addr) = bind(([127, 0, 0, 1], 0).into()).await.map_err(|e| format!("KMS: {e}"))?;
        // A key of its own: nothing outside this stand-in knows it, as nothing outside KMS knows the stack's.
        let seed = format!("{addr} {} {:?}", std::process::id(), std::time::SystemTime::now());
        let key: Arc<[u8]> = Arc::from(Sha256::digest(seed.as_bytes()).as_slice());
        let (stop, stopped) = stop_pair();
        let kept = Arc::clone(&calls);
        tokio::spawn(serve(
            listener,
            move |request: supplychain_emulator::http::Request| {
                let (kept, key) = (Arc::clone(&kept), Arc::clone(&key));
                async move {
                    let received = Instant::now();
                    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let operation = target.strip_prefix("TrentService.").unwrap_or(target).to_owned();
                    let (status, answer) = kms_answer(&key, &operation, request.body());
                    let response = json_response(status, answer.to_string().into_bytes(), &[]);
                    kept.lock().expect("the KMS log").push(KmsCall { operation, received, answered: Instant::now() });
                    Ok(response)
                }
            },
            stopped,
        ));
        Ok(Kms { calls, endpoint: format!("http://{addr}"), _stop: stop })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The calls since the last `take`, in the order they were answered.
    pub(crate) fn take(&self) -> Vec<KmsCall> {
        std::mem::take(&mut *self.calls.lock().expect("the KMS log"))
    }
}

/// KMS's answer to `operation` with the request `body`: its HTTP status and JSON.
fn kms_answer(key: &[u8], operation: &str, body: &[u8]) -> (u16, Value) {
    let error = |code: &str, message: String| (400, json!({ "__type": code, "message": message }));
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    if !matches!(operation, "GenerateMac" | "VerifyMac") {
        return error("UnknownOperationException", format!("the stand-in serves GenerateMac and VerifyMac, not {operation:?}"));
    }
    if request["KeyId"] != NOTICE_KEY_ID {
        return error("NotFoundException", format!("key {} does not exist", request["KeyId"]));
    }
    if request["MacAlgorithm"] != HMAC_SHA_256 {
        return error("InvalidKeyUsageException", format!("the key's MacAlgorithm is {HMAC_SHA_256}, not {}", request["MacAlgorithm"]));
    }
    let blob = |name: &str| request[name].as_str().and_then(|text| aws_smithy_types::base64::decode(text).ok());
    let Some(message) = blob("Message").filter(|m| !m.is_empty()) else {
        return error("ValidationException", "Message must be a base64 blob of 1 to 4096 bytes".to_owned());
    };
    // KMS names the key by its ARN in its answers.
    let key_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/supplychain-bench-notice");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(&message);
    if operation == "GenerateMac" {
        let mac = aws_smithy_types::base64::encode(mac.finalize().into_bytes());
        return (200, json!({ "Mac": mac, "MacAlgorithm": HMAC_SHA_256, "KeyId": key_arn }));
    }
    match blob("Mac") {
        Some(given) if mac.verify_slice(&given).is_ok() => {
            (200, json!({ "KeyId": key_arn, "MacValid": true, "MacAlgorithm": HMAC_SHA_256 }))
        }
        _ => error("KMSInvalidMacException", "the MAC does not match the message under this key".to_owned()),
    }
}

/// `calls` by operation.
pub(crate) fn kms_calls_by_operation(calls: &[KmsCall]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.operation.clone()).or_default() += 1;
    }
    counts
}

/// The stand-ins every sweep subject calls beside the emulator: the bus and KMS.
pub(crate) struct StandIns {
    pub(crate) bus: Bus,
    pub(crate) kms: Kms,
}

/// What a run called: every call by operation (the emulator's, PutEvents from the bus, GenerateMac
/// and VerifyMac from KMS), the bus's entry lists, and KMS's calls with their times.
pub(crate) struct Taken {
    pub(crate) calls: BTreeMap<String, usize>,
    pub(crate) puts: Vec<Vec<BusEntry>>,
    pub(crate) kms: Vec<KmsCall>,
}

impl StandIns {
    pub(crate) async fn start() -> Result<StandIns, String> {
        Ok(StandIns { bus: Bus::start().await?, kms: Kms::start().await? })
    }

    /// Forgets every call so far, the emulator's included.
    pub(crate) fn clear(&self, emulator: &Emulator) {
        emulator.clear_calls();
        self.bus.take();
        self.kms.take();
    }

    /// The calls since the last `clear` or `take`, the emulator's included.
    pub(crate) fn take(&self, emulator: &Emulator) -> Taken {
        let mut calls = emulator_calls(emulator);
        emulator.clear_calls();
        let puts = self.bus.take();
        if !puts.is_empty() {
            calls.insert("PutEvents".to_owned(), puts.len());
        }
        let kms = self.kms.take();
        calls.extend(kms_calls_by_operation(&kms));
        Taken { calls, puts, kms }
    }
}

/// Entries of `calls` by detail-type.
pub(crate) fn entries_by_type(calls: &[Vec<BusEntry>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in calls.iter().flatten() {
        *counts.entry(entry.detail_type.clone()).or_default() += 1;
    }
    counts
}

/// The emulator's calls since it was last cleared, by operation (STS's AssumeRole included).
pub(crate) fn emulator_calls(emulator: &Emulator) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in emulator.calls() {
        *counts.entry(call.operation).or_default() += 1;
    }
    counts
}

/// A call count a run must have, with the rule it follows from, for the message when it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedCalls {
    pub operation: String,
    pub count: usize,
    pub rule: String,
}

impl ExpectedCalls {
    pub fn new(operation: &str, count: usize, rule: impl Into<String>) -> ExpectedCalls {
        ExpectedCalls { operation: operation.to_owned(), count, rule: rule.into() }
    }
}

/// Checks that `measured` holds exactly the counts of `expected`, and no call of any other
/// operation. The error names every difference, each with the rule its count follows from.
pub fn check_calls(what: &str, expected: &[ExpectedCalls], measured: &BTreeMap<String, usize>) -> Result<(), String> {
    let mut problems = Vec::new();
    for want in expected {
        let got = measured.get(&want.operation).copied().unwrap_or(0);
        if got != want.count {
            problems.push(format!("{} {got}, expected exactly {} ({})", want.operation, want.count, want.rule));
        }
    }
    for (operation, got) in measured {
        if *got > 0 && !expected.iter().any(|want| &want.operation == operation) {
            problems.push(format!("{operation} {got}, expected none"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: the calls differ from the ones its fleet requires: {}", problems.join("; ")))
    }
}

/// `sweep-instances` running against a local Runtime API, as Lambda runs it.
pub(crate) struct SweepProcess {
    runtime: RuntimeApi,
    child: tokio::process::Child,
    log_path: std::path::PathBuf,
    /// From process start to its first `GET /runtime/invocation/next`.
    pub(crate) init: Duration,
}

impl SweepProcess {
    /// Starts the sweep with Lambda's environment and `env`; returns once the process polls for
    /// its first invocation.
    pub(crate) async fn start(options: &Options, env: &[(String, String)], log_name: &str) -> Result<SweepProcess, String> {
        let binary = options.bin_dir.join("sweep-instances");
        if !binary.is_file() {
            return Err(format!("{} is missing: build the workspace's binaries first", binary.display()));
        }
        let runtime = RuntimeApi::start().await.map_err(|e| format!("runtime API: {e}"))?;
        let log_path = options.work_dir.join(format!("{log_name}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut command = supplychain_testkit::lambda_command(&binary, "sweep-instances", &runtime.address());
        command
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| format!("{}: {e}", binary.display()))?;
        let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let first_poll = tokio::select! {
            first = runtime.wait_for_first_poll() => first,
            status = child.wait() => return Err(format!("sweep-instances exited during init ({status:?}); logs:\n{}", logs())),
            _ = tokio::time::sleep(Duration::from_secs(60)) => return Err(format!("sweep-instances: no /next within 60 s; logs:\n{}", logs())),
        };
        Ok(SweepProcess { runtime, child, log_path: log_path.clone(), init: first_poll - started })
    }

    /// One invocation: its answer, and its time from the event handed out to the answer posted.
    pub(crate) async fn invoke(&self, payload: Value) -> Result<(Value, Duration), String> {
        let invoke = Invoke {
            function_arn: SWEEP_ARN.to_owned(),
            deadline: Deadline::In(Duration::from_secs(120)),
            give_up_after: Duration::from_secs(180),
            ..Default::default()
        };
        let completed = self.runtime.invoke(payload, invoke).await.map_err(|e| format!("invocation: {e}; logs:\n{}", self.logs()))?;
        match completed.outcome {
            Outcome::Response(answer) => Ok((answer, completed.completed - completed.handed_out)),
            other => Err(format!("unexpected answer {other:?}; logs:\n{}", self.logs())),
        }
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process's peak RSS so far (`VmHWM`), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        crate::process::peak_rss_kib(self.child.id()?)
    }

    /// The CPU time the process has used so far, all its threads.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        crate::process::cpu_time(self.child.id()?)
    }

    /// Ends the process as Lambda's Shutdown phase does, with SIGTERM, so that it exits on its own
    /// (and libfaketime, when preloaded, removes what it keeps in /dev/shm); killed after 5 s.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The environment every sweep subject gets: the emulator for Supply Chain and STS, the stand-in
/// bus, the KMS stand-in with its notice key (which the sweep requires whenever `NOTICE_HOURS` is
/// above 0, its default), and `extra`.
pub(crate) fn sweep_env(emulator: &Emulator, stand_ins: &StandIns, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let (bus, kms) = (&stand_ins.bus, &stand_ins.kms);
    let mut env = vec![
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), emulator.endpoint()),
        ("AWS_ENDPOINT_URL_STS".to_owned(), emulator.endpoint()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE".to_owned(), bus.endpoint().to_owned()),
        ("EVENT_BUS_NAME".to_owned(), "bench".to_owned()),
        ("AWS_ENDPOINT_URL_KMS".to_owned(), kms.endpoint().to_owned()),
        ("NOTICE_KEY_ID".to_owned(), NOTICE_KEY_ID.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    env
}

/// ListInstances pages of a target of `instances`: 20 a page, and one page even when empty.
pub(crate) fn pages(instances: usize) -> usize {
    instances.div_ceil(20).max(1)
}

/// PutEvents calls for `entries` small entries: at most 10 an entry list.
pub(crate) fn batches(entries: usize) -> usize {
    entries.div_ceil(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::SECRET_ACCESS_KEY;

    fn measured(counts: &[(&str, usize)]) -> BTreeMap<String, usize> {
        counts.iter().map(|(op, n)| (op.to_string(), *n)).collect()
    }

    #[test]
    fn exact_counts_pass_and_any_difference_is_named_with_its_rule() {
        let expected = [ExpectedCalls::new("ListInstances", 3, "pages of 20"), ExpectedCalls::new("AssumeRole", 0, "own account")];
        assert_eq!(check_calls("run", &expected, &measured(&[("ListInstances", 3)])), Ok(()));
        let error = check_calls("run", &expected, &measured(&[("ListInstances", 4), ("TagResource", 1)])).unwrap_err();
        assert!(error.contains("ListInstances 4, expected exactly 3 (pages of 20)"), "{error}");
        assert!(error.contains("TagResource 1, expected none"), "{error}");
        let error = check_calls("run", &expected, &measured(&[("ListInstances", 3), ("AssumeRole", 1)])).unwrap_err();
        assert!(error.contains("AssumeRole 1, expected exactly 0 (own account)"), "{error}");
    }

    #[tokio::test]
    async fn the_kms_stand_in_verifies_only_the_macs_it_made_and_counts_each_call() {
        use aws_sdk_kms::primitives::Blob;
        use aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256;
        let kms = Kms::start().await.unwrap();
        let client = aws_sdk_kms::Client::new(&supplychain_testkit::sdk_config(kms.endpoint(), SECRET_ACCESS_KEY).await);
        let message = "instance arn:aws:scn:us-east-1:123456789012:instance/a\nscheduledFor 2026-12-13T09:00:00Z";

        let made = client.generate_mac().key_id(NOTICE_KEY_ID).mac_algorithm(HmacSha256).message(Blob::new(message)).send().await.unwrap();
        let mac = made.mac().unwrap().clone();
        let mac_len = mac.as_ref().len();
        let verify = |message: &str, mac: Blob| {
            client.verify_mac().key_id(NOTICE_KEY_ID).mac_algorithm(HmacSha256).message(Blob::new(message)).mac(mac).send()
        };
        let valid = verify(message, mac.clone()).await.unwrap();
        let edited = verify(&message.replace("09:00", "08:00"), mac).await.unwrap_err();
        let unknown_key =
            client.generate_mac().key_id("alias/another").mac_algorithm(HmacSha256).message(Blob::new(message)).send().await.unwrap_err();

        assert_eq!(mac_len, 32, "an HMAC-SHA256");
        assert!(valid.mac_valid());
        assert!(edited.into_service_error().is_kms_invalid_mac_exception());
        assert!(unknown_key.into_service_error().is_not_found_exception());
        let calls = kms_calls_by_operation(&kms.take());
        assert_eq!(calls, measured(&[("GenerateMac", 2), ("VerifyMac", 2)]));
    }

    #[test]
    fn a_target_lists_one_page_per_twenty_instances_and_at_least_one() {
        assert_eq!((pages(0), pages(1), pages(20), pages(21), pages(500)), (1, 1, 1, 2, 25));
        assert_eq!((batches(0), batches(1), batches(10), batches(25), batches(500)), (0, 1, 1, 3, 50));
    }
}
