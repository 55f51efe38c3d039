//! The verdict of a soak and its figures, computed from what reached the bus and the queues and
//! from the emulator's call log, never from the functions' answers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use supplychain_emulator::CallRecord;

use super::engine::{is_marker, Executions};
use super::load::{Kind, Load, Shape};
use super::stack::Function;
use super::world::World;

const DELETED: &str = "Supply Chain Instance Deleted";
const FAILED: &str = "Supply Chain Instance Deletion Failed";
const TIMED_OUT: &str = "Supply Chain Instance Deletion Timed Out";

/// Everything the verdict reads.
pub struct Evidence<'a> {
    pub load: &'a Load,
    pub start_ms: u64,
    pub world: &'a World,
    pub executions: &'a Executions,
    pub pending_executions: usize,
    /// The emulator's call log (Supply Chain and STS).
    pub emulator_calls: &'a [CallRecord],
    /// The fault proxy's call log (EventBridge, Scheduler, SQS).
    pub proxy_calls: &'a [CallRecord],
    /// The state each instance ended in (`None`: gone).
    pub final_states: BTreeMap<String, Option<String>>,
    /// How many deletions each instance went through (its `Deleting` states in the emulator).
    pub deletions: BTreeMap<String, usize>,
}

/// The verdict: every difference from what each request must end in, and the figures.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub differences: Vec<String>,
    pub figures: Value,
}

fn count<K: Ord>(map: &mut BTreeMap<K, usize>, key: K) {
    *map.entry(key).or_default() += 1;
}

/// The final announcements on the bus, by instance: (detail-type, deduplicationId, instanceNotFound, at).
fn announcements(world: &World) -> BTreeMap<String, Vec<(String, String, bool, u64)>> {
    let mut by_instance: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for event in &world.bus {
        let e = &event.event;
        let detail_type = e["detail-type"].as_str().unwrap_or_default();
        if e["source"] != "supplychain-delete-instance" || ![DELETED, FAILED, TIMED_OUT].contains(&detail_type) {
            continue;
        }
        let id = e["detail"]["instance"]["instanceId"].as_str().unwrap_or_default().to_owned();
        let dedup = e["detail"]["deduplicationId"].as_str().unwrap_or_default().to_owned();
        let not_found = e["detail"]["instanceNotFound"] == true;
        by_instance.entry(id).or_default().push((detail_type.to_owned(), dedup, not_found, event.at_ms));
    }
    by_instance
}

/// Where a request that failed for good is kept, and with which errorType: the SQS dead-letter
/// queue (`redrive` when the queue's redrive policy moved it), the on-failure destination, or the
/// failed execution. One entry per place it was found.
fn dead_letters_of(evidence: &Evidence, index: usize) -> Vec<String> {
    let request = &evidence.load.requests[index];
    let world = evidence.world;
    match request.shape {
        Shape::Sqs => {
            let body = request.payload.to_string();
            world.request_dead_letters.iter().filter(|d| d.body == body).map(|d| d.error_type.clone().unwrap_or("redrive".into())).collect()
        }
        Shape::EventBridge | Shape::Direct => world
            .failed_invocations
            .iter()
            .filter(|f| f.function == Function::Delete)
            .filter(|f| if request.shape == Shape::Direct { f.payload == request.payload } else { f.payload["detail"] == request.payload })
            .map(|f| f.error_type.clone())
            .collect(),
        Shape::StepFunctions => {
            evidence.executions.iter().filter(|(i, _)| *i == index).filter_map(|(_, r)| r.as_ref().err().cloned()).collect()
        }
    }
}

/// The checks: one per promise of the issue.
pub fn judge(evidence: &Evidence) -> Verdict {
    let mut differences = Vec::new();
    let announced = announcements(evidence.world);
    let requests = &evidence.load.requests;
    let mut expected: BTreeMap<String, (Kind, u64)> = BTreeMap::new();
    for request in requests {
        if let Some(id) = &request.instance_id {
            let first = expected.entry(id.clone()).or_insert((request.kind, request.at_ms));
            first.1 = first.1.min(request.at_ms);
        }
    }
    let (mut lost, mut duplicates, mut latencies, mut late_restarts) = (0usize, 0usize, Vec::new(), 0usize);
    let mut unannounced: BTreeMap<&str, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for (id, (kind, at_ms)) in &expected {
        let seen = announced.get(id).cloned().unwrap_or_default();
        let wanted = match kind {
            Kind::Deleted | Kind::GoneDuring | Kind::GoneBefore => Some(DELETED),
            Kind::Failing => Some(FAILED),
            Kind::Protected | Kind::Malformed => None,
        };
        let Some(wanted) = wanted else {
            if !seen.is_empty() {
                differences.push(format!("{} instance {id} was announced {:?}", kind.name(), seen[0].0));
            }
            continue;
        };
        if seen.is_empty() {
            let why = why_unannounced(evidence, id);
            count(&mut unannounced, why);
            if why == "no trace" {
                lost += 1;
            }
            differences.push(format!("{} instance {id}: no final announcement ({why})", kind.name()));
            continue;
        }
        count(&mut outcomes, seen[0].0.clone());
        latencies.push(seen.iter().map(|s| s.3).min().unwrap_or(0).saturating_sub(evidence.start_ms + at_ms));
        if seen.iter().any(|s| s.0 != wanted) {
            differences.push(format!(
                "{} instance {id}: announced {:?}, expected {wanted:?}",
                kind.name(),
                seen.iter().map(|s| &s.0).collect::<Vec<_>>()
            ));
        }
        // One end per deletion: a repeat that finds the deletion under way or done starts none,
        // one that finds it failed starts another, which has its own end.
        let ends = seen.iter().map(|s| &s.1).collect::<BTreeSet<_>>().len();
        let deletions = evidence.deletions.get(id).copied().unwrap_or(0).max(1);
        let attempts: Vec<(u64, u16, Option<String>)> = evidence
            .emulator_calls
            .iter()
            .filter(|c| c.operation == "DeleteInstance" && c.instance_id.as_deref() == Some(id.as_str()))
            .map(|c| (c.at_millis.saturating_sub(evidence.start_ms), c.status, c.fault.clone()))
            .collect();
        // A DeleteInstance answered later than the SDK's attempt timeout was abandoned by the
        // function, which retried; the service still carries it out when it arrives. Arriving
        // after a failed deletion, it starts another that no one follows.
        let late = attempts.iter().filter(|a| a.2.as_deref() == Some("delay")).count();
        // A failed deletion started again before a check saw it fail is superseded: the checks of
        // both read the newer one and announce its end. So a failing instance has at least one
        // end and at most one per deletion; any other has exactly one.
        if ends < deletions && ends + late >= deletions && *kind == Kind::Failing {
            late_restarts += deletions - ends;
        } else if (*kind == Kind::Failing && ends > deletions) || (*kind != Kind::Failing && ends != deletions) {
            differences.push(format!(
                "instance {id}: {deletions} deletions but {ends} different ends announced: {seen:?}; DeleteInstance calls (ms, status, fault): {attempts:?}"
            ));
        }
        duplicates += seen.len() - ends;
        if *kind == Kind::GoneBefore && !seen.iter().all(|s| s.2) {
            differences.push(format!("instance {id}, deleted before its request, was announced without instanceNotFound"));
        }
    }
    for id in announced.keys().filter(|id| !expected.contains_key(*id)) {
        differences.push(format!("instance {id}, which no request named, was announced"));
    }
    check_calls(evidence, &expected, &mut differences);
    let dead_lettered = check_dead_letters(evidence, &mut differences);
    check_settled(evidence, &expected, &mut differences);
    let mut figures = figures(evidence, &outcomes, lost, duplicates, latencies, dead_lettered);
    figures["failedDeletionsRestartedByALateAttempt"] = json!(late_restarts);
    figures["unannounced"] = json!(unannounced);
    Verdict { differences, figures }
}

/// Why a deletion that must be announced was not: its check is in a dead-letter queue (the on-failure
/// destination or the schedules' queue), to be replayed; or the workflow execution of a request
/// naming it failed; or nothing shows it ("no trace": lost).
fn why_unannounced(evidence: &Evidence, id: &str) -> &'static str {
    let names = |value: &Value| value.to_string().contains(id);
    let world = evidence.world;
    if world.failed_invocations.iter().any(|f| f.function == Function::Check && names(&f.payload))
        || world.schedule_dead_letters.iter().any(names)
    {
        return "its check is in a dead-letter queue";
    }
    let failed_execution = evidence
        .executions
        .iter()
        .any(|(index, result)| result.is_err() && evidence.load.requests[*index].instance_id.as_deref() == Some(id));
    if failed_execution {
        return "the workflow execution of its request failed";
    }
    "no trace"
}

/// No protected instance was ever sent DeleteInstance, nor an instance no request named, and no
/// instance had its deletion started twice.
fn check_calls(evidence: &Evidence, expected: &BTreeMap<String, (Kind, u64)>, differences: &mut Vec<String>) {
    for call in evidence.emulator_calls.iter().filter(|c| c.operation == "DeleteInstance") {
        let id = call.instance_id.as_deref().unwrap_or_default();
        match expected.get(id) {
            Some((Kind::Protected, _)) => differences.push(format!("DeleteInstance was sent to protected instance {id}")),
            Some(_) => {}
            None => differences.push(format!("DeleteInstance was sent to instance {id:?}, which no request named")),
        }
    }
    // Only a deletion that failed may be started again (by a repeat of its request).
    for (id, n) in &evidence.deletions {
        if *n > 1 && expected.get(id).is_none_or(|(kind, _)| *kind != Kind::Failing) {
            differences.push(format!("instance {id} was deleted {n} times"));
        }
    }
}

/// Each request that fails for good is in a dead-letter queue with its errorType; no request that
/// must succeed is. Answers the dead letters by place and errorType.
fn check_dead_letters(evidence: &Evidence, differences: &mut Vec<String>) -> BTreeMap<String, usize> {
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for (index, request) in evidence.load.requests.iter().enumerate() {
        let wanted = match request.kind {
            Kind::Protected => Some("DeletionProtected"),
            Kind::Malformed => Some("InvalidInput"),
            Kind::GoneBefore => Some("InstanceNotFound"),
            Kind::Deleted | Kind::Failing | Kind::GoneDuring => None,
        };
        let kept = dead_letters_of(evidence, index);
        // Retries exhausted by transient faults before the permanent error showed: still kept.
        let transient =
            ["Throttled", "ServiceUnavailable", "Timeout", "PublishFailed", "Runtime.ExitError", "Sandbox.Timedout", "Lambda.Unknown"];
        match wanted {
            Some(wanted) if !kept.iter().any(|e| e == wanted || e == "redrive") && kept.iter().any(|e| transient.contains(&e.as_str())) => {
                count(&mut found, "(of which kept with the transient errorType of the last attempt)".to_owned());
            }
            Some(wanted) if !kept.iter().any(|e| e == wanted || e == "redrive") => differences.push(format!(
                "{} request {index} ({}): not in a dead-letter queue with {wanted} (found {kept:?})",
                request.kind.name(),
                request.shape.name()
            )),
            None if !kept.is_empty() && request.kind != Kind::GoneDuring => {
                differences.push(format!("{} request {index} ({}) failed for good: {kept:?}", request.kind.name(), request.shape.name()))
            }
            _ => {}
        }
    }
    let world = evidence.world;
    for letter in &world.request_dead_letters {
        count(&mut found, format!("request queue DLQ: {}", letter.error_type.as_deref().unwrap_or("moved by the redrive policy")));
    }
    for failed in &world.failed_invocations {
        // A check kept here is a difference only when its deletion went unannounced (see `judge`).
        count(&mut found, format!("on-failure destination, {}: {}", failed.function.binary(), failed.error_type));
    }
    for (_, result) in evidence.executions {
        if let Err(error) = result {
            count(&mut found, format!("failed Step Functions execution: {error}"));
        }
    }
    for _ in &world.schedule_dead_letters {
        count(&mut found, "status-checks DLQ".to_owned());
    }
    found
}

/// Nothing is left in flight: no message in the request queue, no invocation waiting, no re-check
/// scheduled (markers of announced ends only), no execution waiting, no deletion under way.
fn check_settled(evidence: &Evidence, expected: &BTreeMap<String, (Kind, u64)>, differences: &mut Vec<String>) {
    let world = evidence.world;
    if !world.request_queue.is_empty() {
        differences.push(format!("{} messages left in the request queue", world.request_queue.len()));
    }
    if !world.async_queue.is_empty() {
        differences.push(format!("{} asynchronous invocations left waiting", world.async_queue.len()));
    }
    let checks: Vec<&String> = world.schedules.keys().filter(|n| !is_marker(n)).collect();
    if !checks.is_empty() {
        differences.push(format!("re-checks left scheduled: {checks:?}"));
    }
    if evidence.pending_executions > 0 {
        differences.push(format!("{} executions left waiting", evidence.pending_executions));
    }
    for (id, state) in &evidence.final_states {
        if state.as_deref() == Some("Deleting") && expected.contains_key(id) {
            differences.push(format!("instance {id} is still Deleting"));
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Calls by operation, of one call log.
fn calls_by_operation(calls: &[CallRecord]) -> BTreeMap<String, usize> {
    let mut by_operation = BTreeMap::new();
    for call in calls {
        count(&mut by_operation, call.operation.clone());
    }
    by_operation
}

fn figures(
    evidence: &Evidence,
    outcomes: &BTreeMap<String, usize>,
    lost: usize,
    duplicates: usize,
    mut latencies: Vec<u64>,
    dead_lettered: BTreeMap<String, usize>,
) -> Value {
    latencies.sort_unstable();
    let requests = &evidence.load.requests;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut shapes: BTreeMap<&str, usize> = BTreeMap::new();
    for request in requests {
        count(&mut kinds, request.kind.name());
        count(&mut shapes, request.shape.name());
    }
    let (emulator_calls, proxy_calls) = (calls_by_operation(evidence.emulator_calls), calls_by_operation(evidence.proxy_calls));
    let counters = &evidence.world.counters;
    json!({
        "requests": requests.len(),
        "repeats": requests.iter().filter(|r| r.duplicate_of.is_some()).count(),
        "memberAccount": requests.iter().filter(|r| r.member).count(),
        "byKind": kinds, "byShape": shapes,
        "outcomes": outcomes, "lost": lost, "duplicateAnnouncements": duplicates,
        "deadLettered": dead_lettered,
        "supplyChainAndStsCalls": emulator_calls, "eventBridgeSchedulerSqsCalls": proxy_calls,
        "secondsToOutcome": {"p50": percentile(&latencies, 0.5) as f64 / 1000.0, "p99": percentile(&latencies, 0.99) as f64 / 1000.0,
                             "max": latencies.last().copied().unwrap_or(0) as f64 / 1000.0},
        "schedules": {"created": counters.schedules_created, "conflicts": counters.schedule_conflicts, "fired": counters.schedules_fired,
                      "markersLeft": evidence.world.schedules.keys().filter(|n| is_marker(n)).count()},
        "asyncRetries": counters.async_retries, "sqsBatches": counters.batches, "sqsRedeliveries": counters.redelivered,
        "busEvents": evidence.world.bus.len(),
    })
}
