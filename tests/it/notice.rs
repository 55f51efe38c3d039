//! Notice before deletion (`NOTICE_HOURS`, src/sweep/notice.rs), day by day through the compiled
//! sweep binary. Each day is a new sweep process whose wall clock libfaketime moves ahead of the
//! real one (libfaketime preloaded, `FAKETIME=+SECONDS`); the Supply Chain emulator keeps the instances and their tags
//! between days, on the real clock, and moto's EventBridge carries the notices to a subscriber.
//! Between days the test changes tags as an owner would, with the SDK. Every run is a delete-mode
//! run, `events/sweep/notice-delete.json`, with `NOTICE_HOURS=168` unless a test says otherwise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::events::{CANCELLED, COMPLETED, REQUESTED, SCHEDULED, SWEEP_SOURCE};
use crate::support::fleet::{world_of_a_fleet, Deletions, Fleet, OWNER};
use crate::support::*;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Value};
use supplychain_emulator::runtime_api::{Deadline, Invoke};
use supplychain_emulator::{CallRecord, Fault, FaultRule};

/// The schedule mark's tag (`SCHEDULE_TAG`'s default).
const MARK: &str = "DeletionScheduledFor";
const HOUR: u64 = 3_600;
/// `NOTICE_HOURS`'s default, 168, in seconds.
const NOTICE: u64 = 168 * HOUR;
const KEEP: &str = "To keep it, set the tag DeletionProtection=true, or add or move the tag ExpiresAt to a later time.";

/// How far a run's clock is ahead of the real one.
#[derive(Debug, Clone, Copy)]
struct Day(u64);

const DAY_0: Day = Day(0);
const DAY_3: Day = Day(72 * HOUR);
const DAY_5: Day = Day(120 * HOUR);
const DAY_6: Day = Day(144 * HOUR);
/// An hour after a notice given on day 0 ran out.
const DAY_7_AND_AN_HOUR: Day = Day(NOTICE + HOUR);
/// An hour later still.
const DAY_7_AND_TWO_HOURS: Day = Day(NOTICE + 2 * HOUR);

const A: &str = "a0000000-0000-4000-8000-000000000001";
const B: &str = "b0000000-0000-4000-8000-000000000002";
const C: &str = "c0000000-0000-4000-8000-000000000003";
const D: &str = "d0000000-0000-4000-8000-000000000004";

fn now_secs() -> i64 {
    DateTime::from(SystemTime::now()).secs()
}

fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs).fmt(Format::DateTime).unwrap()
}

/// The time a mark holds: what comes before its signature (`<time> sig=<base64>`).
fn time_of(mark: &str) -> &str {
    let (time, signature) = mark.split_once(" sig=").unwrap_or_else(|| panic!("{mark:?} is not a signed mark"));
    assert_eq!(signature.len(), 44, "a base64 HMAC-SHA256: {mark:?}");
    time
}

/// The seconds of an RFC 3339 time.
fn secs_of(value: &str) -> i64 {
    DateTime::from_str(value, Format::DateTime).unwrap_or_else(|e| panic!("{value:?} is not an RFC 3339 time: {e}")).secs()
}

/// A report's counts in a run with notice; those not given are 0.
#[derive(Debug, Default)]
struct Counts {
    selected: u64,
    requested: u64,
    deferred: u64,
    skipped: u64,
    marked: u64,
    due: u64,
    cancelled: u64,
}

/// One sweep run: its report, the sweep's events the subscriber received, the emulator's calls
/// during the run, and the bounds of the sweep's own (faked) clock during it.
struct Run {
    report: Value,
    events: Vec<Value>,
    calls: Vec<CallRecord>,
    clock: (i64, i64),
}

impl Run {
    fn of_type(&self, detail_type: &str) -> Vec<&Value> {
        self.events.iter().filter(|event| event["detail-type"] == detail_type).collect()
    }

    /// The instances of the events of `detail_type`, in the order received.
    fn about(&self, detail_type: &str) -> Vec<String> {
        self.of_type(detail_type).iter().map(|event| event["detail"]["instanceId"].as_str().unwrap().to_owned()).collect()
    }

    fn calls_of(&self, operation: &str) -> usize {
        self.calls.iter().filter(|call| call.operation == operation).count()
    }

    fn calls_about(&self, operation: &str, id: &str) -> usize {
        self.calls.iter().filter(|call| call.operation == operation && call.instance_id.as_deref() == Some(id)).count()
    }

    /// The ids of one of the report's lists, in order.
    fn listed(&self, list: &str) -> Vec<String> {
        self.report[list]
            .as_array()
            .map_or_else(Vec::new, |entries| entries.iter().map(|entry| entry["instanceId"].as_str().unwrap().to_owned()).collect())
    }

    /// The report's entry for `id` in `list`.
    fn entry(&self, list: &str, id: &str) -> &Value {
        self.report[list]
            .as_array()
            .and_then(|entries| entries.iter().find(|entry| entry["instanceId"] == id))
            .unwrap_or_else(|| panic!("{id} is not in {list}: {}", self.report))
    }

    /// Asserts every one of the report's counts.
    fn assert_counts(&self, counts: Counts) {
        let Counts { selected, requested, deferred, skipped, marked, due, cancelled } = counts;
        assert_eq!(
            self.report["counts"],
            json!({
                "selected": selected,
                "requested": requested,
                "deferred": deferred,
                "skipped": skipped,
                "marked": marked,
                "due": due,
                "cancelled": cancelled,
            })
        );
    }

    /// Asserts that a mark set in this run holds the run's time plus the notice, signed.
    fn assert_fresh_mark(&self, mark: &str) {
        let (from, to) = self.clock;
        let expected = (from + NOTICE as i64)..=(to + NOTICE as i64);
        assert!(expected.contains(&secs_of(time_of(mark))), "mark {mark}, expected between {} and {}", rfc3339(from), rfc3339(to));
    }
}

/// An owner's fleet ([`Fleet`]), swept by the compiled sweep on the days of a notice.
struct World {
    fleet: Fleet,
}

world_of_a_fleet!(World);

impl World {
    async fn start() -> World {
        World { fleet: Fleet::start(Deletions::End).await }
    }

    fn env(&self, notice_hours: &str) -> Vec<(&'static str, String)> {
        let mut env = self.moto.function_env(self.emulator.endpoint());
        // After function_env's NOTICE_HOURS=0: the last value set wins.
        env.push(("NOTICE_HOURS", notice_hours.to_owned()));
        env
    }

    /// A delete-mode run with the notice's default of 168 hours, on `day`.
    async fn sweep(&self, day: Day) -> Run {
        self.sweep_with(day, "168").await
    }

    async fn sweep_with(&self, day: Day, notice_hours: &str) -> Run {
        self.run(day, notice_hours, fixture("sweep/notice-delete.json")).await
    }

    /// A report-mode run on `day`: it changes nothing, marks included.
    async fn report_only(&self, day: Day) -> Run {
        self.run(day, "168", json!({"mode": "report"})).await
    }

    async fn run(&self, day: Day, notice_hours: &str, payload: Value) -> Run {
        self.emulator.clear_calls();
        self.moto.proxy.clear_calls();
        let offset = format!("+{}", day.0);
        let mut env = self.env(notice_hours);
        env.extend(faked_clock(&offset));
        let mut sweep = FunctionProcess::spawn(SWEEP_BIN, "sweep-instances", &env).await;
        let from = now_secs() + day.0 as i64;
        // Lambda's deadline as the faked clock reads it: a minute from the run's own now.
        let deadline_ms = (SystemTime::now() + Duration::from_secs(day.0 + 60)).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let options = Invoke { function_arn: SWEEP_ARN.to_owned(), deadline: Deadline::AtEpochMillis(deadline_ms), ..Default::default() };
        let outcome = sweep.invoke_with(payload, options).await;
        let to = now_secs() + day.0 as i64;
        let report = outcome.response().cloned().unwrap_or_else(|| panic!("{outcome:?}\n{}", sweep.logs()));
        // Ended as Lambda ends it, so that libfaketime removes its files from /dev/shm on exit.
        sweep.terminate();
        assert!(sweep.exit_within(Duration::from_secs(10)).await.is_some(), "the sweep exits on SIGTERM");
        let events = self.moto.received().await.into_iter().filter(|event| event["source"] == SWEEP_SOURCE).collect();
        Run { report, events, calls: self.emulator.calls(), clock: (from, to) }
    }

    async fn mark(&self, id: &str) -> Option<String> {
        self.tags(id).await.remove(MARK)
    }

    /// Runs day 0's sweep and returns the mark it set on `id`.
    async fn marked_on_day_0(&self, id: &str) -> String {
        self.sweep(DAY_0).await;
        self.mark(id).await.expect("marked on day 0")
    }

    /// Asserts a notice about `id`, scheduled or cancelled: its detail is the instance's identity
    /// and owner with the notice's own `fields`, and its one resource is the instance.
    fn assert_notice(&self, event: &Value, id: &str, fields: Value) {
        let mut detail = json!({
            "instanceId": id,
            "instanceArn": self.arn(id),
            "instanceName": format!("team-{}", &id[..1]),
            "accountId": ACCOUNT,
            "region": REGION,
            "owner": OWNER,
        });
        detail.as_object_mut().unwrap().extend(fields.as_object().cloned().unwrap());
        assert_eq!(event["detail"], detail);
        assert_eq!(event["resources"], json!([self.arn(id)]));
    }
}

/// A world whose instance A expired an hour ago and was marked on day 0, and A's mark.
async fn world_with_a_marked_on_day_0() -> (World, String) {
    let world = World::start().await;
    world.seed_expired(A);
    let mark = world.marked_on_day_0(A).await;
    (world, mark)
}

#[tokio::test]
async fn day_0_marks_the_selected_instance_for_now_plus_the_notice_and_announces_it_once_with_its_owner_and_how_to_keep_it() {
    let world = World::start().await;
    let expired = world.seed_expired(A);
    world.seed(B, "Active", &[("ExpiresAt", &time_from_now(30 * 24 * HOUR as i64))]);

    let day_0 = world.sweep(DAY_0).await;

    let mark = world.mark(A).await.expect("marked");
    day_0.assert_fresh_mark(&mark);
    let mark = time_of(&mark).to_owned();
    assert_eq!(world.mark(B).await, None, "a kept instance is not marked");
    let sweep_id = day_0.report["sweepId"].as_str().unwrap();
    let scheduled = day_0.of_type(SCHEDULED);
    assert_eq!(scheduled.len(), 1, "{:?}", day_0.events);
    // The event's time is the instant the notice counts from: scheduledFor is exactly the notice later.
    let announced_at = secs_of(scheduled[0]["time"].as_str().unwrap());
    assert_eq!(secs_of(&mark) - announced_at, NOTICE as i64, "{}", scheduled[0]);
    assert!((day_0.clock.0 - 1..=day_0.clock.1).contains(&announced_at), "{}", scheduled[0]);
    world.assert_notice(
        scheduled[0],
        A,
        json!({
            "scheduledFor": mark,
            "reason": format!("tag ExpiresAt={expired:?} has passed"),
            "policy": "ExpiryTagPassed",
            "sweepId": sweep_id,
            "keep": KEEP,
        }),
    );

    // Selected and marked, nothing requested.
    day_0.assert_counts(Counts { selected: 1, marked: 1, ..Counts::default() });
    assert_eq!(day_0.listed("selected"), [A]);
    assert_eq!(day_0.listed("marked"), [A]);
    assert_eq!(day_0.entry("marked", A)["detail"], format!("scheduled for deletion at {mark}: tag ExpiresAt={expired:?} has passed"));
    assert_eq!(day_0.listed("requested"), Vec::<String>::new());
    assert_eq!(day_0.report.get("cancelled"), None, "an empty list is left out");
    assert_eq!(day_0.about(REQUESTED), Vec::<String>::new());
    assert_eq!(day_0.of_type(COMPLETED).len(), 1);
    assert_eq!(day_0.of_type(COMPLETED)[0]["detail"], day_0.report);
    assert_eq!((day_0.calls_of("TagResource"), day_0.calls_about("TagResource", A)), (1, 1));
    assert_eq!((day_0.calls_of("UntagResource"), day_0.calls_of("DeleteInstance")), (0, 0));
    assert_eq!(states(&world.emulator, A), ["Active"]);
}

#[tokio::test]
async fn day_3_neither_requests_nor_marks_again_an_instance_whose_notice_is_running() {
    let world = World::start().await;
    world.seed_expired(A);
    world.seed(B, "Active", &[("team", "planning")]);
    let mark = world.marked_on_day_0(A).await;

    let day_3 = world.sweep(DAY_3).await;

    // Reads only: one page of instances, one tag read for each.
    let operations: Vec<&str> = day_3.calls.iter().map(|call| call.operation.as_str()).collect();
    assert_eq!((day_3.calls_of("ListInstances"), day_3.calls_of("ListTagsForResource")), (1, 2), "{operations:?}");
    assert_eq!((day_3.calls_about("ListTagsForResource", A), day_3.calls_about("ListTagsForResource", B)), (1, 1));
    assert_eq!(day_3.calls_of("TagResource"), 0, "not marked again");
    assert_eq!(day_3.calls.len(), 3, "{operations:?}");
    assert_eq!(world.moto.proxy.call_count("VerifyMac"), 1, "A's mark checked once; B has none");
    assert_eq!(world.moto.proxy.call_count("GenerateMac"), 0, "no mark signed on day 3");
    assert_eq!(world.mark(A).await.as_deref(), Some(mark.as_str()), "the mark is the day-0 one");

    day_3.assert_counts(Counts { selected: 1, ..Counts::default() });
    assert_eq!(day_3.listed("selected"), [A]);
    assert_eq!((day_3.listed("requested"), day_3.listed("deferred"), day_3.listed("marked")), (vec![], vec![], vec![]));
    assert_eq!(day_3.events.iter().map(|e| e["detail-type"].as_str().unwrap()).collect::<Vec<_>>(), [COMPLETED]);
}

#[tokio::test]
async fn once_the_notice_ran_out_the_instance_is_requested_with_its_mark_and_again_only_while_it_is_still_active() {
    let world = World::start().await;
    let expired = world.seed_expired(A);
    let mark = time_of(&world.marked_on_day_0(A).await).to_owned();

    let due = world.sweep(DAY_7_AND_AN_HOUR).await;

    let requests = due.of_type(REQUESTED);
    assert_eq!(requests.len(), 1, "{:?}", due.events);
    assert_eq!(
        requests[0]["detail"],
        json!({
            "instanceId": A,
            "reason": "ExpiryTagPassed",
            "sweepId": due.report["sweepId"],
            "detail": format!("scheduled for deletion at {mark}, with notice: tag ExpiresAt={expired:?} has passed"),
            "scheduledFor": mark,
        })
    );
    assert_eq!(requests[0]["resources"], json!([world.arn(A)]));
    due.assert_counts(Counts { selected: 1, requested: 1, due: 1, ..Counts::default() });
    assert_eq!(due.listed("requested"), [A]);
    assert_eq!((due.about(SCHEDULED), due.about(CANCELLED)), (vec![], vec![]));
    assert_eq!((due.calls_of("TagResource"), due.calls_of("UntagResource"), due.calls_of("DeleteInstance")), (0, 0, 0));
    let request = requests[0].clone();

    // What a second run the same day sees: the request not taken yet, the instance still Active
    // and its mark due, so it is requested again. The delete function takes both requests alike.
    let again = world.sweep(DAY_7_AND_TWO_HOURS).await;

    assert_eq!(again.about(REQUESTED), [A], "still Active: requested again");
    assert_eq!(again.of_type(REQUESTED)[0]["detail"]["scheduledFor"], mark.as_str());
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &world.env("168")).await;
    let first = delete.invoke(request, DELETE_ARN, Duration::from_secs(30)).await;
    assert_eq!(response(&first)["instance"]["state"], "Deleting", "{}", delete.logs());
    let second = delete.invoke(again.of_type(REQUESTED)[0].clone(), DELETE_ARN, Duration::from_secs(30)).await;
    // The emulator ends a deletion at once: the second DeleteInstance finds the instance Deleted,
    // and answers it as it is.
    assert_eq!(response(&second)["instance"]["state"], "Deleted", "{}", delete.logs());
    let answers: Vec<u16> =
        world.emulator.calls().into_iter().filter(|call| call.operation == "DeleteInstance").map(|call| call.status).collect();
    assert_eq!(answers, [200, 200]);
    assert_eq!(states(&world.emulator, A), ["Active", "Deleting", "Deleted"], "one deletion for both requests");

    // Once the deletion is under way, a run of the same day neither requests it nor touches its mark.
    let after = world.sweep(DAY_7_AND_TWO_HOURS).await;

    assert_eq!(after.about(REQUESTED), Vec::<String>::new());
    assert_eq!(after.calls_about("ListTagsForResource", A), 0, "a Deleted instance's tags are not read");
    assert_eq!((after.calls_of("TagResource"), after.calls_of("UntagResource")), (0, 0));
    assert_eq!(after.report["counts"]["due"], 0);
    assert_eq!(states(&world.emulator, A), ["Active", "Deleting", "Deleted"]);
}

#[tokio::test]
async fn an_expiry_the_owner_moves_on_day_5_cancels_the_notice_and_the_instance_is_never_requested() {
    let world = World::start().await;
    world.seed_expired(A);
    world.seed_expired(B);
    let mark = time_of(&world.marked_on_day_0(A).await).to_owned();
    let moved = time_from_now(30 * 24 * HOUR as i64);
    world.tag(A, "ExpiresAt", &moved).await;

    let day_5 = world.sweep(DAY_5).await;

    assert_eq!(day_5.calls_about("UntagResource", A), 1);
    assert_eq!(day_5.calls_of("UntagResource"), 1, "B's notice runs on");
    assert_eq!(world.mark(A).await, None, "the mark is gone");
    assert!(world.mark(B).await.is_some());
    let reason = format!("the policy no longer selects it: its tag ExpiresAt={moved:?} has not passed");
    let cancelled = day_5.of_type(CANCELLED);
    assert_eq!(cancelled.len(), 1, "{:?}", day_5.events);
    world.assert_notice(cancelled[0], A, json!({"scheduledFor": mark, "reason": reason, "sweepId": day_5.report["sweepId"]}));
    assert_eq!(day_5.listed("cancelled"), [A]);
    assert_eq!(day_5.entry("cancelled", A)["reason"], "NotSelected");
    assert_eq!(day_5.entry("cancelled", A)["detail"], reason.as_str());
    assert_eq!(day_5.report["counts"]["cancelled"], 1);
    assert_eq!(day_5.listed("selected"), [B]);

    let day_7 = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!(day_7.about(REQUESTED), [B], "B's notice ran out; A was never requested");
    assert_eq!((day_7.about(CANCELLED), day_7.about(SCHEDULED)), (vec![], vec![]));
    assert_eq!((day_7.calls_of("TagResource"), day_7.calls_of("UntagResource")), (0, 0));
    assert_eq!(day_7.report["counts"]["cancelled"], 0);
}

#[tokio::test]
async fn protection_set_on_day_6_cancels_the_notice_and_the_delete_function_refuses_a_request_for_it() {
    let (world, mark) = world_with_a_marked_on_day_0().await;
    let mark = time_of(&mark).to_owned();
    world.tag(A, "DeletionProtection", "true").await;

    let day_6 = world.sweep(DAY_6).await;

    assert_eq!(day_6.calls_about("UntagResource", A), 1);
    assert_eq!(world.mark(A).await, None);
    assert_eq!(day_6.about(CANCELLED), [A]);
    let reason = day_6.of_type(CANCELLED)[0]["detail"]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("the policy no longer selects it: tag ExpiresAt=")
            && reason.ends_with("protected by its tag DeletionProtection=\"true\""),
        "{reason}"
    );
    assert_eq!(day_6.of_type(CANCELLED)[0]["detail"]["scheduledFor"], mark.as_str());
    assert_eq!(day_6.entry("skipped", A)["reason"], "DeletionProtected");
    assert_eq!(day_6.entry("cancelled", A)["detail"], reason.as_str());

    let day_7 = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!(day_7.about(REQUESTED), Vec::<String>::new());
    assert_eq!((day_7.about(CANCELLED), day_7.about(SCHEDULED)), (vec![], vec![]), "cancelled once, never marked again");
    assert_eq!((day_7.calls_of("TagResource"), day_7.calls_of("UntagResource")), (0, 0));
    assert_eq!(day_7.entry("skipped", A)["reason"], "DeletionProtected");

    // A request for it anyway, as the sweep would have put it: the delete function checks the
    // protection tag itself.
    let mut request = fixture_now("eventbridge-deletion-requested-by-sweep.json");
    request["resources"] = json!([world.arn(A)]);
    request["detail"]["instanceId"] = json!(A);
    request["detail"]["scheduledFor"] = json!(mark);
    let delete = FunctionProcess::spawn(DELETE_BIN, "delete-instance", &world.env("168")).await;
    world.emulator.clear_calls();

    let outcome = delete.invoke(request, DELETE_ARN, Duration::from_secs(30)).await;

    let (error_type, message) = error_of(&outcome);
    assert_eq!(error_type, "DeletionProtected", "{message}");
    assert!(message.contains("DeletionProtection"), "{message}");
    assert_eq!(world.emulator.call_count("DeleteInstance"), 0);
    assert_eq!(states(&world.emulator, A), ["Active"]);
}

#[tokio::test]
async fn a_mark_that_is_not_a_time_is_reported_and_replaced_by_a_fresh_one_and_the_instance_is_not_requested() {
    let world = World::start().await;
    let expired = time_from_now(-(HOUR as i64));
    world.seed(A, "Active", &[("ExpiresAt", &expired), (MARK, "next tuesday")]);
    // A day is not a time: the mark is always written as one.
    world.seed(B, "Active", &[("ExpiresAt", &expired), (MARK, "2020-01-01")]);

    // Long after any notice a valid mark could have given.
    let run = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!(run.about(REQUESTED), Vec::<String>::new());
    assert_eq!(run.listed("requested"), Vec::<String>::new());
    for (id, invalid) in [(A, "next tuesday"), (B, "2020-01-01")] {
        let skipped = run.entry("skipped", id);
        assert_eq!(skipped["reason"], "InvalidScheduleTag");
        assert_eq!(
            skipped["detail"],
            format!(
                "tag {MARK}={invalid:?} does not count as notice: it carries no signature of this sweep; a fresh notice replaces \
                 it and the notice starts again"
            )
        );
        let mark = world.mark(id).await.unwrap();
        run.assert_fresh_mark(&mark);
        assert_eq!(run.calls_about("TagResource", id), 1);
    }
    assert_eq!(run.listed("marked"), [A, B]);
    assert_eq!(run.about(SCHEDULED), [A, B]);
    run.assert_counts(Counts { selected: 2, skipped: 2, marked: 2, ..Counts::default() });
}

#[tokio::test]
async fn a_mark_on_an_instance_already_deleting_or_deleted_is_left_alone() {
    let world = World::start().await;
    let (expired, future) = (time_from_now(-(HOUR as i64)), time_from_now(30 * 24 * HOUR as i64));
    let past_mark = time_from_now(-(HOUR as i64));
    // Still expired; its expiry moved; protected since; and deleted.
    world.seed(A, "Deleting", &[("ExpiresAt", &expired), (MARK, &past_mark)]);
    world.seed(B, "Deleting", &[("ExpiresAt", &future), (MARK, &past_mark)]);
    world.seed(C, "Deleting", &[("ExpiresAt", &expired), ("DeletionProtection", "true"), (MARK, &past_mark)]);
    world.seed(D, "Deleted", &[("ExpiresAt", &future), (MARK, &past_mark)]);

    let run = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!((run.calls_of("TagResource"), run.calls_of("UntagResource"), run.calls_of("DeleteInstance")), (0, 0, 0));
    assert_eq!(run.events.iter().map(|e| e["detail-type"].as_str().unwrap()).collect::<Vec<_>>(), [COMPLETED]);
    run.assert_counts(Counts { skipped: 2, ..Counts::default() });
    assert_eq!(run.entry("skipped", A)["reason"], "StateNotEligible");
    assert_eq!(run.entry("skipped", C)["reason"], "DeletionProtected");
    assert_eq!(run.listed("cancelled"), Vec::<String>::new());
    for id in [A, B, C] {
        assert_eq!(world.mark(id).await.as_deref(), Some(past_mark.as_str()), "{id}");
    }
}

#[tokio::test]
async fn without_notice_the_sweep_requests_at_once_as_before_and_ignores_marks() {
    let world = World::start().await;
    let expired = world.seed_expired(A);
    let (future, later) = (time_from_now(30 * 24 * HOUR as i64), time_from_now(NOTICE as i64));
    // With notice, B would wait for its mark and C's mark would be cancelled.
    world.seed(B, "Active", &[("ExpiresAt", &expired), (MARK, &later)]);
    world.seed(C, "Active", &[("ExpiresAt", &future), (MARK, &later)]);

    let run = world.sweep_with(DAY_0, "0").await;

    assert_eq!(run.listed("requested"), [A, B]);
    let sweep_id = run.report["sweepId"].as_str().unwrap();
    let requests = run.of_type(REQUESTED);
    assert_eq!(requests.len(), 2);
    for (request, id) in requests.iter().zip([A, B]) {
        assert_eq!(request["detail"], json!({"instanceId": id, "reason": "ExpiryTagPassed", "sweepId": sweep_id}));
    }
    assert_eq!(run.report["counts"], json!({"selected": 2, "requested": 2, "deferred": 0, "skipped": 0}));
    assert_eq!((run.report.get("marked"), run.report.get("cancelled")), (None, None));
    assert_eq!((run.about(SCHEDULED), run.about(CANCELLED)), (vec![], vec![]));
    assert_eq!((run.calls_of("TagResource"), run.calls_of("UntagResource")), (0, 0));
    assert_eq!(world.mark(A).await, None);
    assert_eq!(world.mark(C).await.as_deref(), Some(later.as_str()));
}

#[tokio::test]
async fn a_mark_throttled_or_refused_after_its_announcement_is_reported_mark_failed_and_announced_again_on_the_next_run() {
    let world = World::start().await;
    for id in [A, B, C] {
        world.seed_expired(id);
    }
    world.emulator.inject(FaultRule::new("TagResource", 100, Fault::Throttle).for_instance(B));
    world.emulator.inject(
        FaultRule::new("TagResource", 100, Fault::error(403, "AccessDeniedException", "not authorized to perform scn:TagResource"))
            .for_instance(C),
    );

    let day_0 = world.sweep(DAY_0).await;

    assert_eq!(day_0.listed("marked"), [A]);
    assert_eq!(day_0.about(SCHEDULED), [A, B, C], "announced first, marked after");
    assert_eq!(day_0.report["counts"]["marked"], 1);
    for (id, error_type) in [(B, "Throttled"), (C, "AccessDenied")] {
        let skipped = day_0.entry("skipped", id);
        assert_eq!(skipped["reason"], "MarkFailed");
        let detail = skipped["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("the notice was announced, but the mark could not be written ({error_type}: "))
                && detail.ends_with("it does not count, and the next run gives notice again"),
            "{detail}"
        );
        assert_eq!(world.mark(id).await, None, "{id}");
    }
    assert_eq!(day_0.calls_about("TagResource", B), 3, "throttling is retried by the SDK first");
    assert_eq!(day_0.calls_about("TagResource", C), 1);
    assert_eq!(day_0.listed("requested"), Vec::<String>::new());
    let day_0_mark = world.mark(A).await.unwrap();
    world.emulator.clear_faults();

    let day_3 = world.sweep(DAY_3).await;

    assert_eq!(day_3.listed("marked"), [B, C], "notice is given when the mark can be set");
    assert_eq!(day_3.about(SCHEDULED), [B, C]);
    assert_eq!(day_3.calls_about("TagResource", A), 0);
    assert_eq!(world.mark(A).await.as_deref(), Some(day_0_mark.as_str()));
    for id in [B, C] {
        let mark = world.mark(id).await.unwrap();
        day_3.assert_fresh_mark(&mark);
    }
    assert_eq!(day_3.listed("requested"), Vec::<String>::new());
    assert_eq!(day_3.listed("skipped"), Vec::<String>::new());

    let day_7 = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!(day_7.about(REQUESTED), [A], "B and C got their notice on day 3: a failed mark gave none");
    assert_eq!(day_7.report["counts"]["due"], 1);
}

#[tokio::test]
async fn a_notice_that_cannot_be_announced_writes_no_mark_and_is_reported_mark_failed() {
    let world = World::start().await;
    world.seed_expired(A);
    world.seed_expired(B);
    // The first PutEvents is the run's notices, A's then B's: B's entry fails. The proxy rewrites
    // moto's answer after forwarding, so the subscriber receives B's notice all the same.
    world.moto.proxy.inject(FaultRule::new("PutEvents", 1, Fault::fail_entry(1, "InternalFailure", "try again")));

    let day_0 = world.sweep(DAY_0).await;

    assert_eq!(day_0.listed("marked"), [A]);
    assert!(world.mark(A).await.is_some());
    assert_eq!(world.mark(B).await, None, "not announced, so never marked");
    assert_eq!((day_0.calls_about("TagResource", B), day_0.calls_about("UntagResource", B)), (0, 0));
    assert_eq!(day_0.calls_about("TagResource", A), 1);
    let skipped = day_0.entry("skipped", B);
    assert_eq!(skipped["reason"], "MarkFailed");
    let detail = skipped["detail"].as_str().unwrap();
    assert!(detail.starts_with("the notice could not be announced, so no mark was written: PublishFailed: "), "{detail}");
    assert!(detail.contains("InternalFailure"), "{detail}");
    assert_eq!(day_0.report["counts"]["marked"], 1);
    assert_eq!(world.moto.proxy.call_count("PutEvents"), 2, "the notices, then the report; none retried");

    let day_3 = world.sweep(DAY_3).await;

    assert_eq!(day_3.listed("marked"), [B]);
    assert_eq!(day_3.about(SCHEDULED), [B]);
    day_3.assert_fresh_mark(&world.mark(B).await.unwrap());
    assert_eq!(day_3.listed("requested"), Vec::<String>::new());
}

// The threat: anyone with scn:TagResource on an instance (an owner's pipeline, a tagger without
// delete rights) writes or copies the schedule tag. A mark counts as notice only when the sweep's
// key signed it for this instance, this time and this selection; every other mark is replaced by a
// fresh notice, so the full notice always runs.

#[tokio::test]
async fn a_past_mark_written_by_a_tagger_never_makes_a_deletion_due_and_a_fresh_notice_replaces_it() {
    let world = World::start().await;
    let expired = time_from_now(-(HOUR as i64));
    let forged = [
        "2020-01-01T00:00:00Z",
        // The shape of a real mark, with a signature made up: KMS refuses it.
        "2020-01-01T00:00:00Z sig=ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2U=",
        // Not base64 at all: refused without a call.
        "2020-01-01T00:00:00Z sig=!!",
    ];
    for (id, mark) in [A, B, C].into_iter().zip(forged) {
        world.seed(id, "Active", &[("ExpiresAt", &expired), (MARK, mark)]);
    }

    let run = world.sweep(DAY_0).await;

    assert_eq!(run.about(REQUESTED), Vec::<String>::new(), "no deletion without notice");
    assert_eq!(run.calls_of("DeleteInstance"), 0);
    assert_eq!(run.about(SCHEDULED), [A, B, C], "each given notice from now");
    for (id, mark) in [A, B, C].into_iter().zip(forged) {
        let skipped = run.entry("skipped", id);
        assert_eq!(skipped["reason"], "InvalidScheduleTag");
        let detail = skipped["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("tag {MARK}={mark:?} does not count as notice: ")), "{detail}");
        run.assert_fresh_mark(&world.mark(id).await.unwrap());
    }
    assert_eq!(world.moto.proxy.call_count("VerifyMac"), 1, "only the mark shaped as a signed one is sent to KMS");
    assert_eq!(world.moto.proxy.call_count("GenerateMac"), 3);

    // And on day 3, the fresh marks count: nothing is requested before their time.
    let day_3 = world.sweep(DAY_3).await;
    assert_eq!((day_3.about(REQUESTED), day_3.about(SCHEDULED)), (vec![], vec![]));
}

#[tokio::test]
async fn a_mark_copied_from_another_instance_does_not_count_there() {
    let (world, signed) = world_with_a_marked_on_day_0().await;
    // B expires later and gets a copy of A's tags, signed mark included.
    world.seed_expired(B);
    world.tag(B, MARK, &signed).await;

    let due = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!(due.about(REQUESTED), [A], "A's own mark counts; its copy on B does not");
    assert_eq!(due.entry("skipped", B)["reason"], "InvalidScheduleTag");
    assert_eq!(due.about(SCHEDULED), [B]);
    due.assert_fresh_mark(&world.mark(B).await.unwrap());
}

#[tokio::test]
async fn a_mark_whose_time_was_moved_earlier_does_not_count() {
    let (world, signed) = world_with_a_marked_on_day_0().await;
    let earlier = signed.replacen(time_of(&signed), &time_from_now(-(HOUR as i64)), 1);
    world.tag(A, MARK, &earlier).await;

    let day_3 = world.sweep(DAY_3).await;

    assert_eq!(day_3.about(REQUESTED), Vec::<String>::new());
    assert_eq!(day_3.entry("skipped", A)["reason"], "InvalidScheduleTag");
    assert_eq!(day_3.about(SCHEDULED), [A], "the notice starts again");
}

#[tokio::test]
async fn a_stale_mark_from_an_earlier_selection_never_makes_a_deletion_due_whatever_mode_ran_meanwhile() {
    let (world, day_0_mark) = world_with_a_marked_on_day_0().await;
    // The owner moves the expiry away; a report-mode run leaves the mark where it is.
    world.tag(A, "ExpiresAt", &time_from_now(30 * 24 * HOUR as i64)).await;
    let report_run = world.report_only(DAY_3).await;
    assert_eq!((report_run.calls_of("TagResource"), report_run.calls_of("UntagResource")), (0, 0));
    assert_eq!(world.mark(A).await, Some(day_0_mark.clone()));
    // Later the owner sets an expiry that has passed again: a new selection, which needs its own notice.
    let new_expiry = time_from_now(-(2 * HOUR as i64));
    world.tag(A, "ExpiresAt", &new_expiry).await;

    let due = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!(due.about(REQUESTED), Vec::<String>::new(), "the day-0 mark was for another expiry");
    assert_eq!(due.entry("skipped", A)["reason"], "InvalidScheduleTag");
    assert_eq!(due.about(SCHEDULED), [A]);
    assert_eq!(due.of_type(SCHEDULED)[0]["detail"]["reason"], format!("tag ExpiresAt={new_expiry:?} has passed"));
    due.assert_fresh_mark(&world.mark(A).await.unwrap());
}

#[tokio::test]
async fn a_mark_that_cannot_be_checked_is_neither_requested_nor_replaced() {
    let (world, mark) = world_with_a_marked_on_day_0().await;
    world.moto.proxy.inject(FaultRule::new("VerifyMac", 100, Fault::Throttle));

    let due = world.sweep(DAY_7_AND_AN_HOUR).await;

    assert_eq!((due.about(REQUESTED), due.about(SCHEDULED)), (vec![], vec![]));
    let skipped = due.entry("skipped", A);
    assert_eq!(skipped["reason"], "MarkFailed");
    let detail = skipped["detail"].as_str().unwrap();
    assert!(detail.contains("could not be checked (Throttled: "), "{detail}");
    assert_eq!(world.mark(A).await, Some(mark), "the mark stays for the next run");
    assert_eq!(due.calls_of("TagResource"), 0);
}
