//! The fault matrix: every fault the emulator and the proxy can inject, at every call each function
//! makes, driven end to end through the Lambda Runtime API against the compiled binaries (the Supply
//! Chain emulator, and moto's server behind a fault proxy for EventBridge and Scheduler).
//!
//! For each cell: the outcome (success or the documented `errorType`), that the invocation ended
//! before its deadline, how many calls of the faulted operation reached the service, whether the
//! instance was deleted, and that the event is not lost (an error for a direct or asynchronous
//! invoke, so Lambda retries it; the message in `batchItemFailures` for SQS). The page
//! docs/reliability.md is rendered from the same cases: run with `UPDATE_DOCS=1` to rewrite it.

use std::time::Duration;

use crate::support::*;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome};
use supplychain_emulator::{Emulator, EmulatorConfig, Fault, FaultRule, SeedInstance};

/// Each HTTP attempt's limit in the matrix, so a stalled answer is retried quickly.
const ATTEMPT_TIMEOUT_MS: u64 = 1_000;
/// The deadline of the ordinary cells: room for the SDK's three attempts and their backoff.
const DEADLINE: Duration = Duration::from_secs(15);
/// The deadline of the "deadline close while the service hangs" cells, and the margin kept before it.
const SHORT_DEADLINE: Duration = Duration::from_millis(1_200);
const SHORT_MARGIN_MS: u64 = 300;
/// The SDK's standard retry mode: three attempts.
const ATTEMPTS: usize = 3;
/// Text of the seeded record that must never reach the logs.
const PAYLOAD_MARKER: &str = "matrix-private-description";
const MESSAGE_ID: &str = "0f6c7f4e-1c1b-4a0e-9d55-4f2b5c1a7e01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Delete,
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    ListTagsForResource,
    DeleteInstance,
    GetInstance,
    PutEvents,
    CreateSchedule,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::ListTagsForResource => "ListTagsForResource",
            Call::DeleteInstance => "DeleteInstance",
            Call::GetInstance => "GetInstance",
            Call::PutEvents => "PutEvents",
            Call::CreateSchedule => "CreateSchedule",
        }
    }

    fn on_supply_chain(self) -> bool {
        matches!(self, Call::ListTagsForResource | Call::DeleteInstance | Call::GetInstance)
    }

    /// The errorType of a call that failed for good.
    fn failure(self, supply_chain: &'static str) -> &'static str {
        match self {
            Call::PutEvents => "PublishFailed",
            Call::CreateSchedule => "ScheduleFailed",
            _ => supply_chain,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injected {
    ThrottleOnce,
    ThrottleAlways,
    InternalOnce,
    InternalAlways,
    UnavailableOnce,
    UnavailableAlways,
    DropOnce,
    SlowOnce,
    NotListening,
    HangNearDeadline,
}

impl Injected {
    const ALL: [Injected; 10] = [
        Injected::ThrottleOnce,
        Injected::ThrottleAlways,
        Injected::InternalOnce,
        Injected::InternalAlways,
        Injected::UnavailableOnce,
        Injected::UnavailableAlways,
        Injected::DropOnce,
        Injected::SlowOnce,
        Injected::NotListening,
        Injected::HangNearDeadline,
    ];

    fn describe(self) -> &'static str {
        match self {
            Injected::ThrottleOnce => "throttled once (shorter than the SDK's retries)",
            Injected::ThrottleAlways => "throttled on every attempt (longer than the retries)",
            Injected::InternalOnce => "500 once",
            Injected::InternalAlways => "500 on every attempt",
            Injected::UnavailableOnce => "503 once",
            Injected::UnavailableAlways => "503 on every attempt",
            Injected::DropOnce => "connection dropped without an answer",
            Injected::SlowOnce => "first answer slower than the attempt timeout",
            Injected::NotListening => "service not listening (connection refused)",
            Injected::HangNearDeadline => "service hangs, invocation deadline 1.2 s away",
        }
    }

    /// The fault and how many calls it hits; `None` for a closed port.
    fn fault(self) -> Option<(Fault, u32)> {
        Some(match self {
            Injected::ThrottleOnce => (Fault::Throttle, 1),
            Injected::ThrottleAlways => (Fault::Throttle, 100),
            Injected::InternalOnce => (Fault::Internal, 1),
            Injected::InternalAlways => (Fault::Internal, 100),
            Injected::UnavailableOnce => (Fault::Unavailable, 1),
            Injected::UnavailableAlways => (Fault::Unavailable, 100),
            Injected::DropOnce => (Fault::Drop, 1),
            // The first attempt never answers; the attempt timeout ends it and the retry is served.
            Injected::SlowOnce => (Fault::Hang, 1),
            Injected::HangNearDeadline => (Fault::Hang, 100),
            Injected::NotListening => return None,
        })
    }
}

/// What a cell must show.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    /// `None`: success; else the errorType.
    error_type: Option<&'static str>,
    /// Calls of the faulted operation that reached the service (or the proxy in front of it).
    calls: usize,
    /// For the delete function: whether the instance ends up deleted.
    deleted: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    function: Function,
    call: Call,
    injected: Injected,
}

impl Cell {
    fn expected(&self) -> Expected {
        let (error_type, calls) = match self.injected {
            Injected::ThrottleOnce | Injected::InternalOnce | Injected::UnavailableOnce | Injected::DropOnce | Injected::SlowOnce => {
                (None, 2)
            }
            Injected::ThrottleAlways => (Some(self.call.failure("Throttled")), ATTEMPTS),
            Injected::InternalAlways | Injected::UnavailableAlways => (Some(self.call.failure("ServiceUnavailable")), ATTEMPTS),
            Injected::NotListening => (Some(self.call.failure("ServiceUnavailable")), 0),
            Injected::HangNearDeadline => (Some(self.call.failure("Timeout")), 1),
        };
        let deleted = match self.function {
            Function::Check => None,
            // Only a failure before DeleteInstance answered leaves the instance as it was; a failed
            // announcement comes after the deletion, and its retry finds the deletion under way.
            Function::Delete => Some(error_type.is_none() || self.call == Call::PutEvents),
        };
        Expected { error_type, calls, deleted }
    }
}

fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for (function, calls) in [
        (Function::Delete, [Call::ListTagsForResource, Call::DeleteInstance, Call::PutEvents]),
        (Function::Check, [Call::GetInstance, Call::PutEvents, Call::CreateSchedule]),
    ] {
        for call in calls {
            for injected in Injected::ALL {
                cells.push(Cell { function, call, injected });
            }
        }
    }
    cells
}

/// How the delete function is invoked: directly (an error makes Lambda retry), or as an SQS batch
/// of one message (a failure lists the message in `batchItemFailures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Direct,
    Sqs,
}

/// What one run of a cell observed.
#[derive(Debug)]
struct Observed {
    outcome: Outcome,
    calls: usize,
    deleted: bool,
    elapsed: Duration,
    deadline: Duration,
    logs: String,
}

/// An endpoint that refuses connections, and the socket that keeps it so: bound but not listening,
/// so connections are refused and no other server of the suite, running at the same time, can
/// take the port while the cell runs.
fn closed_port() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (format!("http://127.0.0.1:{port}"), socket)
}

/// The state the instance is seeded in. The checker follows a deletion under way (GetInstance, then
/// CreateSchedule for the next check), or announces one that ended (GetInstance, GetSchedule,
/// PutEvents, CreateSchedule).
fn seeded_state(cell: Cell) -> &'static str {
    match (cell.function, cell.call) {
        (Function::Delete, _) => "Active",
        (Function::Check, Call::PutEvents) => "Deleted",
        (Function::Check, _) => "Deleting",
    }
}

/// Where a function's calls go.
struct Endpoints {
    supply_chain: String,
    events: String,
    scheduler: String,
}

/// Injects the cell's fault into the service of its call (the emulator, or the proxy in front of
/// moto), or, for a closed port, points that call at `closed`.
fn inject(cell: Cell, emulator: &Emulator, moto: &Moto, closed: Option<&(String, tokio::net::TcpSocket)>) -> Endpoints {
    let aws = moto.proxy.endpoint();
    let mut endpoints = Endpoints { supply_chain: emulator.endpoint(), events: aws.clone(), scheduler: aws };
    match cell.injected.fault() {
        Some((fault, count)) if cell.call.on_supply_chain() => {
            emulator.inject(supplychain_emulator::FaultRule::new(cell.call.name(), count, fault))
        }
        Some((fault, count)) => moto.proxy.inject(FaultRule::new(cell.call.name(), count, fault)),
        None => {
            let endpoint = closed.map(|(endpoint, _)| endpoint.clone()).expect("a closed port for this cell");
            match cell.call {
                Call::PutEvents => endpoints.events = endpoint,
                Call::CreateSchedule => endpoints.scheduler = endpoint,
                _ => endpoints.supply_chain = endpoint,
            }
        }
    }
    endpoints
}

/// The function's environment for the cell, its calls going to `endpoints`.
fn function_env(cell: Cell, endpoints: Endpoints, moto: &Moto) -> Vec<(&'static str, String)> {
    let near_deadline = cell.injected == Injected::HangNearDeadline;
    let mut env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL_SUPPLYCHAIN", endpoints.supply_chain),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", endpoints.events),
        ("AWS_ENDPOINT_URL_SCHEDULER", endpoints.scheduler),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("EVENT_BUS_NAME", moto.bus.clone()),
        ("SCHEDULE_GROUP", moto.group.clone()),
        ("SCHEDULER_ROLE_ARN", SCHEDULER_ROLE_ARN.into()),
        ("SCHEDULE_DEAD_LETTER_ARN", moto.schedule_dead_letter_arn.clone()),
        ("ATTEMPT_TIMEOUT_MS", if near_deadline { "5000".into() } else { ATTEMPT_TIMEOUT_MS.to_string() }),
    ];
    if near_deadline {
        env.push(("DEADLINE_MARGIN_MS", SHORT_MARGIN_MS.to_string()));
    }
    // With the protection check off, DeleteInstance is the first Supply Chain call, so a closed
    // port fails it rather than ListTagsForResource.
    if cell.call == Call::DeleteInstance && cell.injected == Injected::NotListening {
        env.push(("DELETION_PROTECTION_TAG", String::new()));
    }
    env
}

/// The binary, name and ARN of a function.
fn binary_of(function: Function) -> (&'static str, &'static str, &'static str) {
    match function {
        Function::Delete => (DELETE_BIN, "delete-instance", DELETE_ARN),
        Function::Check => (CHECK_BIN, "check-instance-status", CHECK_ARN),
    }
}

/// What the function is invoked with: a request, as is or in an SQS batch, or a checker's event.
fn payload(function: Function, shape: Shape) -> Value {
    let request = json!({ "instanceId": FIXTURE_ID });
    match (function, shape) {
        (Function::Delete, Shape::Direct) => request,
        (Function::Delete, Shape::Sqs) => json!({"Records": [{
            "messageId": MESSAGE_ID, "eventSource": "aws:sqs", "body": request.to_string(),
        }]}),
        (Function::Check, _) => json!({
            "detail-type": "Supply Chain Instance Deletion Started",
            "source": "supplychain-delete-instance",
            "time": aws_smithy_types::DateTime::from(std::time::SystemTime::now())
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap(),
            "detail": {"instance": {"instanceId": FIXTURE_ID, "awsAccountId": ACCOUNT, "state": "Deleting"}},
        }),
    }
}

async fn run(cell: Cell, shape: Shape) -> Observed {
    let config = EmulatorConfig { delete_delay: Duration::from_secs(3_600), ..EmulatorConfig::default() };
    let emulator: Emulator = emulator_with(config).await;
    let state = seeded_state(cell);
    emulator.seed(SeedInstance {
        instance_id: Some(FIXTURE_ID.into()),
        state: Some(state.into()),
        instance_description: Some(PAYLOAD_MARKER.into()),
        ..Default::default()
    });
    let moto = Moto::start().await;

    // Held until the cell ends, so the port stays closed and taken.
    let closed = cell.injected.fault().is_none().then(closed_port);
    let endpoints = inject(cell, &emulator, &moto, closed.as_ref());
    let env = function_env(cell, endpoints, &moto);
    let (binary, name, arn) = binary_of(cell.function);
    let process = FunctionProcess::spawn(binary, name, &env).await;

    let deadline = if cell.injected == Injected::HangNearDeadline { SHORT_DEADLINE } else { DEADLINE };
    let options = Invoke { function_arn: arn.into(), deadline: Deadline::In(deadline), ..Default::default() };
    let completed = process
        .runtime
        .invoke(payload(cell.function, shape), options)
        .await
        .unwrap_or_else(|e| panic!("{cell:?} {shape:?}: {e}; logs:\n{}", process.logs()));

    let calls = if cell.call.on_supply_chain() { emulator.call_count(cell.call.name()) } else { moto.proxy.call_count(cell.call.name()) };
    let deleted = states(&emulator, FIXTURE_ID).iter().any(|s| s == "Deleting") && state == "Active";
    Observed {
        outcome: completed.outcome,
        calls,
        deleted,
        elapsed: completed.completed - completed.handed_out,
        deadline,
        logs: process.logs(),
    }
}

fn check(cell: Cell, shape: Shape, observed: &Observed) -> Vec<String> {
    let expected = cell.expected();
    let mut problems = Vec::new();
    let what = format!("{:?} {} {:?} ({shape:?})", cell.function, cell.call.name(), cell.injected);
    let outcome_ok = match (shape, expected.error_type, &observed.outcome) {
        (Shape::Direct, None, Outcome::Response(_)) => true,
        (Shape::Direct, Some(expected), Outcome::Error { error_type, .. }) => error_type == expected,
        (Shape::Sqs, expected, Outcome::Response(response)) => {
            let listed = if expected.is_some() { json!([{ "itemIdentifier": MESSAGE_ID }]) } else { json!([]) };
            response == &json!({ "batchItemFailures": listed })
                && expected.is_none_or(|error_type| failure_logged(&observed.logs, error_type))
        }
        _ => false,
    };
    if !outcome_ok {
        problems.push(format!("{what}: expected {:?}, got {:?}", expected.error_type, observed.outcome));
    }
    if observed.calls != expected.calls {
        problems.push(format!("{what}: {} calls reached the service, expected {}", observed.calls, expected.calls));
    }
    if let Some(deleted) = expected.deleted {
        if observed.deleted != deleted {
            problems.push(format!("{what}: deleted {}, expected {deleted}", observed.deleted));
        }
    }
    if observed.elapsed >= observed.deadline {
        problems.push(format!("{what}: answered after {:?}, deadline {:?}", observed.elapsed, observed.deadline));
    }
    for secret in [SECRET_ACCESS_KEY, ACCESS_KEY_ID, PAYLOAD_MARKER] {
        if observed.logs.contains(secret) {
            problems.push(format!("{what}: {secret:?} found in the logs"));
        }
    }
    if !problems.is_empty() {
        problems.push(format!("{what} logs:\n{}", observed.logs));
    }
    problems
}

/// An SQS message's failure is logged with its errorType, since the batch response carries none.
fn failure_logged(logs: &str, error_type: &str) -> bool {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| line["fields"]["error_type"] == error_type && line["fields"]["message_id"] == MESSAGE_ID)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_call_ends_as_documented_before_the_deadline_and_loses_no_event() {
    let mut runs = Vec::new();
    for cell in cells() {
        runs.push((cell, Shape::Direct));
        if cell.function == Function::Delete {
            runs.push((cell, Shape::Sqs));
        }
    }
    let total = runs.len();
    // Each run has its own emulator, proxy, bus and process; a few at a time keep the SDK's real
    // backoff from adding up.
    let problems: Vec<String> = stream::iter(runs)
        .map(|(cell, shape)| async move {
            let observed = run(cell, shape).await;
            check(cell, shape, &observed)
        })
        .buffer_unordered(12)
        .flat_map(stream::iter)
        .collect()
        .await;
    assert!(problems.is_empty(), "{} problems in {total} runs:\n{}", problems.len(), problems.join("\n"));
}

// ----- the reliability page -----------------------------------------------------------------

const START: &str = "<!-- reliability:start -->";
const END: &str = "<!-- reliability:end -->";

fn table() -> String {
    let mut out = String::from(
        "| Function | Call | Fault | Outcome | Calls reaching the service | Instance deleted | Event kept by |\n|---|---|---|---|---|---|---|\n",
    );
    for cell in cells() {
        let expected = cell.expected();
        let function = match cell.function {
            Function::Delete => "delete",
            Function::Check => "check",
        };
        let outcome = match expected.error_type {
            None => "success".to_owned(),
            Some(error_type) => format!("`{error_type}`"),
        };
        let deleted = match expected.deleted {
            None => "n/a",
            Some(true) => "yes",
            Some(false) => "no",
        };
        let kept = match (expected.error_type, cell.function) {
            (None, _) => "n/a",
            (Some(_), Function::Delete) => "error returned (retried); SQS: in `batchItemFailures`",
            (Some(_), Function::Check) => "error returned (retried)",
        };
        out.push_str(&format!(
            "| {function} | `{}` | {} | {outcome} | {} | {deleted} | {kept} |\n",
            cell.call.name(),
            cell.injected.describe(),
            expected.calls
        ));
    }
    out
}

fn section() -> String {
    let prose = std::fs::read_to_string(repo_path("tests/fault_matrix.md")).expect("tests/fault_matrix.md");
    let prose = prose.replace("{{table}}", &table());
    format!("{START}\n{}{END}", prose)
}

/// The page the section is rendered into, between [`START`] and [`END`].
const PAGE: &str = "docs/reliability.md";

#[test]
fn the_reliability_page_is_rendered_from_the_fault_matrix() {
    let path = repo_path(PAGE);
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{PAGE}: {e}"));
    let (Some(start), Some(end)) = (page.find(START), page.find(END)) else {
        panic!("{PAGE} lacks the {START} and {END} markers");
    };
    let current = &page[start..end + END.len()];
    let rendered = section();
    if current == rendered {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, page.replace(current, &rendered)).unwrap();
        return;
    }
    let diff: Vec<String> = rendered
        .lines()
        .zip(current.lines().chain(std::iter::repeat("")))
        .filter(|(want, have)| want != have)
        .take(10)
        .map(|(want, have)| format!("- {have}\n+ {want}"))
        .collect();
    panic!(
        "{PAGE}'s reliability section differs from the fault matrix; run `UPDATE_DOCS=1 scripts/test --test fault_matrix`:\n{}",
        diff.join("\n")
    );
}
