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

/// A final announcement on the bus: (detail-type, deduplicationId, instanceNotFound, at).
type Announcement = (String, String, bool, u64);

/// The final announcements on the bus, by instance.
fn announcements(world: &World) -> BTreeMap<String, Vec<Announcement>> {
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
    let expected = expected(evidence.load);
    let tally = check_announcements(evidence, &expected, &mut differences);
    check_calls(evidence, &expected, &mut differences);
    let dead_lettered = check_dead_letters(evidence, &mut differences);
    check_settled(evidence, &expected, &mut differences);
    Verdict { differences, figures: figures(evidence, tally, dead_lettered) }
}

/// Each instance a request names, with the kind of its requests and when the first was sent.
fn expected(load: &Load) -> BTreeMap<String, (Kind, u64)> {
    let mut expected: BTreeMap<String, (Kind, u64)> = BTreeMap::new();
    for request in &load.requests {
        if let Some(id) = &request.instance_id {
            let first = expected.entry(id.clone()).or_insert((request.kind, request.at_ms));
            first.1 = first.1.min(request.at_ms);
        }
    }
    expected
}

/// The final announcement an instance of this kind must end with; `None`: it must have none.
fn wanted(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Deleted | Kind::GoneDuring | Kind::GoneBefore => Some(DELETED),
        Kind::Failing => Some(FAILED),
        Kind::Protected | Kind::Malformed => None,
    }
}

/// What the final announcements add up to.
#[derive(Default)]
struct Tally {
    /// Instances that must be announced, and were not, with no trace of why.
    lost: usize,
    /// Announcements repeated with the same `deduplicationId`.
    duplicates: usize,
    /// Milliseconds from each instance's first request to its first final announcement.
    latencies: Vec<u64>,
    /// Failed deletions started again by a late DeleteInstance attempt, which no one follows.
    late_restarts: usize,
    /// Instances that must be announced, and were not, by why.
    unannounced: BTreeMap<&'static str, usize>,
    /// Instances by their first final announcement.
    outcomes: BTreeMap<String, usize>,
}

/// Each named instance has the final announcement its kind must end with, and only that, once per
/// deletion; an instance that must have none has none; no instance no request named has one.
fn check_announcements(evidence: &Evidence, expected: &BTreeMap<String, (Kind, u64)>, differences: &mut Vec<String>) -> Tally {
    let announced = announcements(evidence.world);
    let mut tally = Tally::default();
    for (id, (kind, at_ms)) in expected {
        let seen = announced.get(id).cloned().unwrap_or_default();
        let Some(wanted) = wanted(*kind) else {
            if !seen.is_empty() {
                differences.push(format!("{} instance {id} was announced {:?}", kind.name(), seen[0].0));
            }
            continue;
        };
        if seen.is_empty() {
            let why = why_unannounced(evidence, id);
            count(&mut tally.unannounced, why);
            if why == "no trace" {
                tally.lost += 1;
            }
            differences.push(format!("{} instance {id}: no final announcement ({why}); {}", kind.name(), trail(evidence, id)));
            continue;
        }
        count(&mut tally.outcomes, seen[0].0.clone());
        tally.latencies.push(seen.iter().map(|s| s.3).min().unwrap_or(0).saturating_sub(evidence.start_ms + at_ms));
        if seen.iter().any(|s| s.0 != wanted) {
            differences.push(format!(
                "{} instance {id}: announced {:?}, expected {wanted:?}",
                kind.name(),
                seen.iter().map(|s| &s.0).collect::<Vec<_>>()
            ));
        }
        let ends = seen.iter().map(|s| &s.1).collect::<BTreeSet<_>>().len();
        tally.late_restarts += check_ends(evidence, id, *kind, &seen, ends, differences);
        tally.duplicates += seen.len() - ends;
        if *kind == Kind::GoneBefore && !seen.iter().all(|s| s.2) {
            differences.push(format!("instance {id}, deleted before its request, was announced without instanceNotFound"));
        }
    }
    for id in announced.keys().filter(|id| !expected.contains_key(*id)) {
        differences.push(format!("instance {id}, which no request named, was announced"));
    }
    tally
}

/// One end per deletion: a repeat that finds the deletion under way or done starts none, one that
/// finds it failed starts another, which has its own end. `ends`: the different
/// `deduplicationId`s of `seen`. Answers how many failed deletions a late attempt started again
/// (allowed, and counted).
fn check_ends(evidence: &Evidence, id: &str, kind: Kind, seen: &[Announcement], ends: usize, differences: &mut Vec<String>) -> usize {
    let deletions = evidence.deletions.get(id).copied().unwrap_or(0).max(1);
    let attempts: Vec<(u64, u16, Option<String>)> = evidence
        .emulator_calls
        .iter()
        .filter(|c| c.operation == "DeleteInstance" && c.instance_id.as_deref() == Some(id))
        .map(|c| (c.at_millis.saturating_sub(evidence.start_ms), c.status, c.fault.clone()))
        .collect();
    // A DeleteInstance answered later than the SDK's attempt timeout was abandoned by the
    // function, which retried; the service still carries it out when it arrives. Arriving
    // after a failed deletion, it starts another that no one follows.
    let late = attempts.iter().filter(|a| a.2.as_deref() == Some("delay")).count();
    // A failed deletion started again before a check saw it fail is superseded: the checks of
    // both read the newer one and announce its end. So a failing instance has at least one
    // end and at most one per deletion; any other has exactly one.
    if ends < deletions && ends + late >= deletions && kind == Kind::Failing {
        return deletions - ends;
    }
    if (kind == Kind::Failing && ends > deletions) || (kind != Kind::Failing && ends != deletions) {
        differences.push(format!(
            "instance {id}: {deletions} deletions but {ends} different ends announced: {seen:?}; DeleteInstance calls (ms, status, fault): {attempts:?}"
        ));
    }
    0
}

/// Why a deletion that must be announced was not: its check is in a dead-letter queue (the on-failure
/// destination or the schedules' queue), to be replayed; or the workflow execution of a request
/// naming it failed; or a request naming it is kept in a dead-letter queue (the request queue's or
/// the on-failure destination), its retries spent, to be re-driven; or nothing shows it ("no
/// trace": lost).
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
    let requests = evidence.load.requests.iter().enumerate().filter(|(_, r)| r.instance_id.as_deref() == Some(id));
    if requests.map(|(index, _)| dead_letters_of(evidence, index)).any(|kept| !kept.is_empty()) {
        return "its request is in a dead-letter queue";
    }
    "no trace"
}

/// An instance's trail, for a difference's details: the requests naming it, every call about it in
/// the emulator's log, each invocation naming it that ended in an on-failure destination (with
/// every attempt's errorType), its final announcements and the state it ended in. Times are
/// seconds into the run on the emulator's clock.
fn trail(evidence: &Evidence, id: &str) -> String {
    let seconds = |ms: u64| format!("{:.1}", ms.saturating_sub(evidence.start_ms) as f64 / 1000.0);
    let requests: Vec<String> = (evidence.load.requests.iter().enumerate())
        .filter(|(_, r)| r.instance_id.as_deref() == Some(id))
        .map(|(index, r)| format!("{index} {} at {} s", r.shape.name(), seconds(evidence.start_ms + r.at_ms)))
        .collect();
    let calls: Vec<String> = (evidence.emulator_calls.iter())
        .filter(|c| c.instance_id.as_deref() == Some(id))
        .map(|c| {
            format!(
                "{} {} s {}{}",
                c.operation,
                seconds(c.at_millis),
                c.status,
                c.fault.as_ref().map_or(String::new(), |f| format!(" {f}"))
            )
        })
        .collect();
    let failed: Vec<String> = (evidence.world.failed_invocations.iter())
        .filter(|f| f.payload.to_string().contains(id))
        .map(|f| {
            let attempts: Vec<String> = f.failures.iter().map(|(at, error)| format!("{error} at {} s", seconds(*at))).collect();
            format!("{}: {}", f.function.binary(), attempts.join(", "))
        })
        .collect();
    let announced: Vec<String> = (announcements(evidence.world).remove(id).unwrap_or_default().into_iter())
        .map(|(detail_type, dedup, _, at)| format!("{detail_type} {dedup} at {} s", seconds(at)))
        .collect();
    let state = evidence.final_states.get(id).cloned().flatten().unwrap_or_else(|| "gone".to_owned());
    format!(
        "requests [{}]; calls [{}]; failed invocations [{}]; announced [{}]; ends {state}",
        requests.join(", "),
        calls.join(", "),
        failed.join("; "),
        announced.join(", ")
    )
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
            None if !kept.is_empty() && request.kind != Kind::GoneDuring => differences.push(format!(
                "{} request {index} ({}) failed for good: {kept:?}; {}",
                request.kind.name(),
                request.shape.name(),
                request.instance_id.as_deref().map_or(String::new(), |id| trail(evidence, id))
            )),
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

fn figures(evidence: &Evidence, tally: Tally, dead_lettered: BTreeMap<String, usize>) -> Value {
    let Tally { lost, duplicates, mut latencies, late_restarts, unannounced, outcomes } = tally;
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
        "failedDeletionsRestartedByALateAttempt": late_restarts, "unannounced": unannounced,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::soak::load::Request;
    use crate::soak::world::FailedInvocation;

    const ID: &str = "0f1e2d3c-4b5a-4697-8877-665544332211";

    /// The verdict on one direct request for `ID` that must be deleted, nothing announced, with
    /// `world` as the run left it.
    fn judge_one_unannounced_deletion(world: &World) -> Verdict {
        let payload = json!({ "instanceId": ID });
        let request = Request {
            kind: Kind::Deleted,
            shape: Shape::Direct,
            instance_id: Some(ID.to_owned()),
            member: false,
            at_ms: 0,
            payload,
            duplicate_of: None,
        };
        let load = Load { requests: vec![request], removals: Vec::new() };
        judge(&Evidence {
            load: &load,
            start_ms: 0,
            world,
            executions: &Vec::new(),
            pending_executions: 0,
            emulator_calls: &[],
            proxy_calls: &[],
            final_states: BTreeMap::from([(ID.to_owned(), Some("Active".to_owned()))]),
            deletions: BTreeMap::new(),
        })
    }

    #[test]
    fn a_request_kept_in_a_dead_letter_queue_after_its_retries_is_unannounced_but_not_lost() {
        let mut world = World::default();
        let failures =
            vec![(1_000, "ServiceUnavailable".to_owned()), (61_000, "Runtime.ExitError".to_owned()), (181_000, "Throttled".to_owned())];
        world.failed_invocations.push(FailedInvocation {
            function: Function::Delete,
            payload: json!({ "instanceId": ID }),
            error_type: "Throttled".to_owned(),
            failures,
        });

        let verdict = judge_one_unannounced_deletion(&world);

        assert_eq!(verdict.figures["lost"], 0, "{:#}", verdict.figures);
        assert_eq!(verdict.figures["unannounced"]["its request is in a dead-letter queue"], 1, "{:#}", verdict.figures);
        // Still a difference, which names every attempt of the kept invocation.
        assert!(
            verdict.differences.iter().any(|d| d.contains("delete-instance: ServiceUnavailable at 1.0 s, Runtime.ExitError at 61.0 s")),
            "{:?}",
            verdict.differences
        );
    }

    #[test]
    fn a_deletion_unannounced_with_no_trace_of_why_is_lost() {
        let verdict = judge_one_unannounced_deletion(&World::default());

        assert_eq!(verdict.figures["lost"], 1, "{:#}", verdict.figures);
        assert_eq!(verdict.figures["unannounced"]["no trace"], 1, "{:#}", verdict.figures);
    }
}
