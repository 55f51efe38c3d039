//! What the sweep's subjects share: a stand-in event bus that records every PutEvents call, a
//! `sweep-instances` process driven through a local Runtime API, the calls of a run counted by
//! operation, and the check that they are exactly the ones expected.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use supplychain_emulator::http::{bind, json_response, serve, stop_pair, StopHandle};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi};
use supplychain_emulator::Emulator;

use supplychain_testkit::SWEEP_ARN;

use crate::*;

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
/// bus, and `extra`.
pub(crate) fn sweep_env(emulator: &Emulator, bus: &Bus, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), emulator.endpoint()),
        ("AWS_ENDPOINT_URL_STS".to_owned(), emulator.endpoint()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE".to_owned(), bus.endpoint().to_owned()),
        ("EVENT_BUS_NAME".to_owned(), "bench".to_owned()),
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

    #[test]
    fn a_target_lists_one_page_per_twenty_instances_and_at_least_one() {
        assert_eq!((pages(0), pages(1), pages(20), pages(21), pages(500)), (1, 1, 1, 2, 25));
        assert_eq!((batches(0), batches(1), batches(10), batches(25), batches(500)), (0, 1, 1, 3, 50));
    }
}
