//! The sweep at the scale of an organization, through the real `sweep-instances` binary against the
//! emulator (plain HTTP, STS included) and the stand-ins (bus and KMS).
//!
//! `org_accounts` member accounts, each with the member role trusting the home account, in two
//! regions, `org_instances` instances in each target: one in ten `Deleted`, one in five (of the
//! others) expired. Swept in two ways, each `rounds` times:
//!
//! - one invocation sweeping `SWEEP_ACCOUNTS` x `SWEEP_REGIONS`, every run in one process;
//! - the `OrganizationSweep` state machine's steps on one warm process, as the Distributed Map's
//!   children would run on one warm environment: the plan, one invoke per planned target
//!   (`{"accountId", "region", "mode", "maxDeletions"}`, the item the map hands each child), and
//!   the summary.
//!
//! Both in delete mode without notice (`NOTICE_HOURS=0`) and with a cap (`org_cap`): what the
//! nightly organization sweep runs, so that the requests, their batches and the cap across targets
//! are measured too; the calls that grow with the fleet (ListInstances, ListTagsForResource,
//! AssumeRole) are those of report mode. The notice before deletion is the subject of `notice`.
//!
//! Every run's calls are counted (the emulator's log, the bus's PutEvents, KMS's calls) and must be
//! exactly the ones its fleet requires, computed here from what was seeded: the run fails otherwise.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Role, SeedInstance};

use supplychain_testkit::{ACCOUNT, REGION};

use crate::measure::SweepSamples;
use crate::options::{Options, MEMBER_ROLE, SWEEP_FLEET};
use crate::stats::{after_first, in_ms, median, ms, ratio, spread};
use crate::sweeps::*;

/// The second region of every account of the organization.
pub(crate) const OTHER_REGION: &str = "eu-west-1";
pub(crate) const DELETION_REQUESTED: &str = "Supply Chain Instance Deletion Requested";
pub(crate) const SWEEP_COMPLETED: &str = "Supply Chain Instance Sweep Completed";
pub(crate) const ORGANIZATION_SWEEP_COMPLETED: &str = "Supply Chain Organization Sweep Completed";

/// The organization's fleet: what each target holds, and so what each run must call.
#[derive(Debug, Clone)]
pub(crate) struct Fleet {
    pub(crate) accounts: Vec<String>,
    pub(crate) regions: Vec<String>,
    /// Instances of each target.
    pub(crate) instances: usize,
}

impl Fleet {
    pub(crate) fn new(accounts: usize, instances: usize) -> Fleet {
        Fleet {
            // Member accounts only: each costs one AssumeRole per process.
            accounts: (1..=accounts as u64).map(|n| format!("{:012}", 200_000_000_000 + n)).collect(),
            regions: vec![REGION.to_owned(), OTHER_REGION.to_owned()],
            instances,
        }
    }

    pub(crate) fn targets(&self) -> usize {
        self.accounts.len() * self.regions.len()
    }

    /// The n-th instance of a target: `Deleted` (listed, never read), expired, or not.
    fn kind(n: usize) -> Kind {
        if n % 10 == 9 {
            Kind::Deleted
        } else if n % 5 == 0 {
            Kind::Expired
        } else {
            Kind::Current
        }
    }

    fn count(&self, kind: Kind) -> usize {
        (0..self.instances).filter(|n| Fleet::kind(*n) == kind).count()
    }

    /// Instances of a target whose tags a run reads: all but the `Deleted` ones.
    pub(crate) fn tagged_per_target(&self) -> usize {
        self.instances - self.count(Kind::Deleted)
    }

    pub(crate) fn selected_per_target(&self) -> usize {
        self.count(Kind::Expired)
    }

    fn seed(&self, emulator: &Emulator) {
        for account in &self.accounts {
            for region in &self.regions {
                for n in 0..self.instances {
                    let kind = Fleet::kind(n);
                    // A Deleted instance carries a passed expiry too: only its state keeps it from being read.
                    let expires = if kind == Kind::Current { "9999-12-31" } else { "2020-01-31" };
                    emulator.seed(SeedInstance {
                        aws_account_id: Some(account.clone()),
                        region: Some(region.clone()),
                        state: (kind == Kind::Deleted).then(|| "Deleted".to_owned()),
                        tags: [("ExpiresAt".to_owned(), expires.to_owned())].into(),
                        ..Default::default()
                    });
                }
            }
        }
    }

    /// The calls one run over every target must make.
    fn expected_calls(&self, assume_roles: usize, puts: usize, why_puts: &str, first: bool) -> Vec<ExpectedCalls> {
        let targets = self.targets();
        vec![
            ExpectedCalls::new(
                "ListInstances",
                targets * pages(self.instances),
                format!("{targets} targets x {} pages of 20", pages(self.instances)),
            ),
            ExpectedCalls::new(
                "ListTagsForResource",
                targets * self.tagged_per_target(),
                format!("{targets} targets x {} instances not Deleted", self.tagged_per_target()),
            ),
            ExpectedCalls::new(
                "AssumeRole",
                assume_roles,
                if first {
                    format!("one per member account ({}) and process, shared by its regions", self.accounts.len())
                } else {
                    "none: each member role was assumed by the process's first run".to_owned()
                },
            ),
            ExpectedCalls::new("PutEvents", puts, why_puts),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deleted,
    Expired,
    Current,
}

/// One series of runs of the same sweep: each run's time, and the calls of the first and of the
/// later ones (the same in every later run, or the measurement fails).
#[derive(Debug, Clone, Default)]
pub(crate) struct Runs {
    pub(crate) init: Duration,
    pub(crate) runs: Vec<Duration>,
    pub(crate) first_calls: BTreeMap<String, usize>,
    pub(crate) later_calls: BTreeMap<String, usize>,
    /// Bus entries of one run, by detail-type.
    pub(crate) entries: BTreeMap<String, usize>,
    /// The largest Sweep Completed entry of a run, in bytes.
    pub(crate) report_bytes: usize,
}

impl Runs {
    /// Keeps what a run called: the first run's calls apart from the later ones', the bus's entries
    /// and the largest report so far.
    fn record(&mut self, first: bool, (calls, entries, report_bytes): Counted) {
        self.report_bytes = self.report_bytes.max(report_bytes);
        self.entries = entries;
        if first {
            self.first_calls = calls;
        } else {
            self.later_calls = calls;
        }
    }
}

/// The organization's measurements.
#[derive(Debug, Clone)]
pub(crate) struct OrganizationSamples {
    pub(crate) fleet: Fleet,
    pub(crate) cap: usize,
    /// One invocation over `SWEEP_ACCOUNTS` x `SWEEP_REGIONS`, run after run in one process.
    pub(crate) single: Runs,
    /// Plan, one invoke per target, summary, round after round in one process; `runs` holds each
    /// round's whole time.
    pub(crate) children: Runs,
    /// Every one-target invoke's time, of every round.
    pub(crate) child_times: Vec<Duration>,
    pub(crate) plan_times: Vec<Duration>,
    pub(crate) summary_times: Vec<Duration>,
}

pub(crate) async fn measure_organization(options: &Options, rounds: usize) -> Result<OrganizationSamples, String> {
    let fleet = Fleet::new(options.org_accounts, options.org_instances);
    let cap = options.org_cap;
    let config = EmulatorConfig {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        extra_regions: vec![OTHER_REGION.to_owned()],
        accounts: fleet.accounts.iter().map(|a| Account::new(a.clone(), vec![Role::trusting(MEMBER_ROLE, &[ACCOUNT])])).collect(),
        deleted_retention: Duration::from_secs(24 * 3600),
        ..Default::default()
    };
    let emulator = Emulator::start(config).await.map_err(|e| format!("organization emulator: {e}"))?;
    fleet.seed(&emulator);
    let stand_ins = StandIns::start().await?;
    let organization = Organization { options, emulator: &emulator, stand_ins: &stand_ins, fleet: &fleet, cap };
    let single = organization.sweep_in_one_invocation(rounds).await?;
    let steps = organization.sweep_as_state_machine_steps(rounds).await?;
    let Steps { runs: children, child_times, plan_times, summary_times } = steps;
    Ok(OrganizationSamples { fleet, cap, single, children, child_times, plan_times, summary_times })
}

/// What both ways of sweeping the organization run against: its fleet on the emulator, the
/// stand-ins, and the cap.
struct Organization<'a> {
    options: &'a Options,
    emulator: &'a Emulator,
    stand_ins: &'a StandIns,
    fleet: &'a Fleet,
    cap: usize,
}

/// The state machine's steps, round after round: each round's whole time, its calls, and the time
/// of each step.
#[derive(Default)]
struct Steps {
    runs: Runs,
    child_times: Vec<Duration>,
    plan_times: Vec<Duration>,
    summary_times: Vec<Duration>,
}

/// The plan's answer: the targets, each with its share of the cap.
struct Plan {
    answer: Value,
    targets: Vec<Value>,
    shares: Vec<usize>,
}

impl Organization<'_> {
    /// The environment of either way of sweeping.
    fn env(&self) -> Vec<(String, String)> {
        let common = [
            ("ALLOWED_REGIONS", OTHER_REGION.to_owned()),
            ("MEMBER_ROLE_NAME", MEMBER_ROLE.to_owned()),
            // Requests at once, so that a delete-mode run requests (up to the cap) in this run.
            ("NOTICE_HOURS", "0".to_owned()),
        ];
        sweep_env(self.emulator, self.stand_ins, &common)
    }

    /// The calls counted since the last run began.
    fn counted(&self) -> Counted {
        counted(self.stand_ins.take(self.emulator))
    }

    /// The AssumeRole calls a run must make: one per member account in the process's first run,
    /// none after it.
    fn assume_roles(&self, first: bool) -> usize {
        if first {
            self.fleet.accounts.len()
        } else {
            0
        }
    }

    /// One invocation over every target, `rounds` times in one process.
    async fn sweep_in_one_invocation(&self, rounds: usize) -> Result<Runs, String> {
        let fleet = self.fleet;
        let mut env = self.env();
        env.push(("SWEEP_ACCOUNTS".into(), fleet.accounts.join(",")));
        env.push(("SWEEP_REGIONS".into(), fleet.regions.join(",")));
        let process = SweepProcess::start(self.options, &env, "sweep-organization").await?;
        let mut single = Runs { init: process.init, ..Default::default() };
        for run in 0..rounds.max(1) {
            self.stand_ins.clear(self.emulator);
            let what = format!("organization sweep in one invocation, run {}", run + 1);
            let request = json!({ "mode": "delete", "maxDeletions": self.cap });
            let (report, took) = process.invoke(request).await.map_err(|e| format!("{what}: {e}"))?;
            let counted = self.counted();
            self.check_one_invocation(&what, &report, run == 0, &counted)?;
            single.runs.push(took);
            single.record(run == 0, counted);
        }
        process.stop().await;
        Ok(single)
    }

    /// One invocation's answer and calls: every target swept, the cap requested across them.
    fn check_one_invocation(&self, what: &str, report: &Value, first: bool, (calls, entries, _): &Counted) -> Result<(), String> {
        let (fleet, cap) = (self.fleet, self.cap);
        let selected = fleet.targets() * fleet.selected_per_target();
        let requested = cap.min(selected);
        let examined = fleet.targets() * fleet.instances;
        let swept = report["targets"].as_array().map_or(0, |t| t.iter().filter(|t| t["status"] == "swept").count());
        if report["complete"] != true || report["examined"] != examined || swept != fleet.targets() {
            return Err(format!("{what}: expected {examined} instances in {} swept targets, answered {report}", fleet.targets()));
        }
        if report["counts"]["requested"] != requested || report["counts"]["selected"] != selected {
            return Err(format!("{what}: expected {selected} selected and {requested} requested, answered {}", report["counts"]));
        }
        let puts = batches(requested) + 1;
        let why = format!("{requested} Deletion Requested, 10 an entry list, and the report");
        check_calls(what, &fleet.expected_calls(self.assume_roles(first), puts, &why, first), calls)?;
        check_calls(
            what,
            &[
                ExpectedCalls::new(DELETION_REQUESTED, requested, format!("the cap of {cap}, across the targets")),
                ExpectedCalls::new(SWEEP_COMPLETED, 1, "one report"),
            ],
            entries,
        )
    }

    /// The state machine's steps on one warm process, `rounds` times.
    async fn sweep_as_state_machine_steps(&self, rounds: usize) -> Result<Steps, String> {
        let mut env = self.env();
        env.push(("SWEEP_REGIONS".into(), self.fleet.regions.join(",")));
        let process = SweepProcess::start(self.options, &env, "sweep-organization-children").await?;
        let mut steps = Steps { runs: Runs { init: process.init, ..Default::default() }, ..Default::default() };
        for round in 0..rounds.max(1) {
            self.stand_ins.clear(self.emulator);
            let what = format!("organization sweep as the state machine's steps, round {}", round + 1);
            self.run_steps(&process, &what, round == 0, &mut steps).await?;
        }
        process.stop().await;
        Ok(steps)
    }

    /// One round: the plan, one invoke per planned target (the item the map hands each child), and
    /// the summary of their reports.
    async fn run_steps(&self, process: &SweepProcess, what: &str, first: bool, steps: &mut Steps) -> Result<(), String> {
        let started = std::time::Instant::now();
        let plan = self.plan(process, what, steps).await?;
        let results = self.sweep_targets(process, what, &plan.targets, steps).await?;
        let request = json!({ "summarize": { "sweepId": plan.answer["sweepId"], "mode": plan.answer["mode"], "results": results } });
        let (summary, took) = process.invoke(request).await.map_err(|e| format!("{what}, summary: {e}"))?;
        steps.summary_times.push(took);
        steps.runs.runs.push(started.elapsed());
        let fleet = self.fleet;
        let requests: usize = plan.shares.iter().map(|share| (*share).min(fleet.selected_per_target())).sum();
        if summary["swept"] != fleet.targets() || summary["counts"]["requested"] != requests {
            return Err(format!("{what}: expected {} targets swept and {requests} requested, summarized {summary}", fleet.targets()));
        }
        let counted = self.counted();
        self.check_steps(what, first, &plan, requests, &counted)?;
        steps.runs.record(first, counted);
        Ok(())
    }

    /// The plan step: it must split the cap across every target.
    async fn plan(&self, process: &SweepProcess, what: &str, steps: &mut Steps) -> Result<Plan, String> {
        let (fleet, cap) = (self.fleet, self.cap);
        let request = json!({ "plan": { "accounts": fleet.accounts, "regions": fleet.regions, "mode": "delete", "maxDeletions": cap } });
        let (answer, took) = process.invoke(request).await.map_err(|e| format!("{what}, plan: {e}"))?;
        steps.plan_times.push(took);
        let targets = answer["targets"].as_array().cloned().unwrap_or_default();
        let shares: Vec<usize> = targets.iter().map(|t| t["maxDeletions"].as_u64().unwrap_or(0) as usize).collect();
        if targets.len() != fleet.targets() || shares.iter().sum::<usize>() != cap {
            return Err(format!("{what}: the plan must split the cap of {cap} across {} targets, answered {answer}", fleet.targets()));
        }
        Ok(Plan { answer, targets, shares })
    }

    /// One invoke per planned target; each target with its report, as the map hands them to the
    /// summary.
    async fn sweep_targets(&self, process: &SweepProcess, what: &str, targets: &[Value], steps: &mut Steps) -> Result<Vec<Value>, String> {
        let mut results = Vec::new();
        for target in targets {
            let (report, took) = process.invoke(target.clone()).await.map_err(|e| format!("{what}, target {target}: {e}"))?;
            if report["complete"] != true || report["examined"] != self.fleet.instances {
                return Err(format!("{what}, target {target}: expected {} instances examined, answered {report}", self.fleet.instances));
            }
            steps.child_times.push(took);
            let mut item = target.clone();
            item["report"] = json!({ "examined": report["examined"], "complete": report["complete"], "counts": report["counts"] });
            results.push(item);
        }
        Ok(results)
    }

    /// A round's calls: each target's requests (its share of the cap) and report, and the summary.
    fn check_steps(&self, what: &str, first: bool, plan: &Plan, requests: usize, (calls, entries, _): &Counted) -> Result<(), String> {
        let fleet = self.fleet;
        let targets = plan.targets.len();
        let puts: usize = plan.shares.iter().map(|share| batches((*share).min(fleet.selected_per_target()))).sum::<usize>() + targets + 1;
        let why = format!("each target's requests (its share of the cap), 10 an entry list; its report ({targets}); the summary");
        check_calls(what, &fleet.expected_calls(self.assume_roles(first), puts, &why, first), calls)?;
        check_calls(
            what,
            &[
                ExpectedCalls::new(DELETION_REQUESTED, requests, "the planned shares of the cap"),
                ExpectedCalls::new(SWEEP_COMPLETED, targets, "one report per target"),
                ExpectedCalls::new(ORGANIZATION_SWEEP_COMPLETED, 1, "one summary"),
            ],
            entries,
        )
    }
}

/// The calls of a run by operation, the bus's entries by detail-type, and the largest Sweep
/// Completed entry.
type Counted = (BTreeMap<String, usize>, BTreeMap<String, usize>, usize);

fn counted(taken: Taken) -> Counted {
    let report_bytes = taken.puts.iter().flatten().filter(|e| e.detail_type == SWEEP_COMPLETED).map(|e| e.bytes).max().unwrap_or(0);
    (taken.calls, entries_by_type(&taken.puts), report_bytes)
}

// ----- the report ------------------------------------------------------------------------------

pub(crate) fn count(calls: &BTreeMap<String, usize>, operation: &str) -> usize {
    calls.get(operation).copied().unwrap_or(0)
}

fn per(a: usize, b: usize) -> String {
    match (a, b) {
        (0, 0) => "–".to_owned(),
        (a, 0) => format!("{a} (none there)"),
        (a, b) => format!("{:.2}", a as f64 / b as f64),
    }
}

/// The "Organization sweep" tables, against the sweep of [`SWEEP_FLEET`] instances in one target
/// (`sweep`), and their JSON.
pub(crate) fn organization_report(org: &OrganizationSamples, sweep: &SweepSamples) -> (String, Value) {
    let mut md = organization_table(org);
    md.push_str(&against_one_target(org, sweep));
    (md, organization_json(org))
}

/// Each way of sweeping: its first run and its later ones, with their calls; the steps' own times.
fn organization_table(org: &OrganizationSamples) -> String {
    let fleet = &org.fleet;
    let mut md = format!(
        "\n| Organization sweep: {} accounts x {} regions x {} instances ({} instances), delete mode, NOTICE_HOURS=0, cap {} \
         (emulator over HTTP) | ms | AssumeRole | ListInstances | ListTagsForResource | PutEvents | Deletion Requested |\n\
         |---|---|---|---|---|---|---|\n",
        fleet.accounts.len(),
        fleet.regions.len(),
        fleet.instances,
        fleet.targets() * fleet.instances,
        org.cap,
    );
    md.push_str(&first_and_later_rows(
        "One invocation (SWEEP_ACCOUNTS x SWEEP_REGIONS), first run",
        "One invocation, later runs",
        &org.single,
    ));
    md.push_str(&first_and_later_rows(
        &format!("Plan, {} one-target invokes and summary on one warm process, first round", fleet.targets()),
        "Plan, one-target invokes and summary, later rounds",
        &org.children,
    ));
    md.push_str(&format!(
        "| One-target invoke ({} instances), every round | {}{} | | | | | |\n",
        fleet.instances,
        ms(median(&org.child_times)),
        spread(&org.child_times),
    ));
    md.push_str(&format!(
        "\nsweep-instances init: {} ms (one invocation's process), {} ms (the warm process's). Plan {} ms, summary {} ms (medians).\n",
        ms(Some(org.single.init)),
        ms(Some(org.children.init)),
        ms(median(&org.plan_times)),
        ms(median(&org.summary_times)),
    ));
    md
}

/// The rows of one series of runs: the first, then the median of the later ones.
fn first_and_later_rows(first: &str, later: &str, runs: &Runs) -> String {
    let requested = count(&runs.entries, DELETION_REQUESTED);
    let later_runs = after_first(&runs.runs);
    let mut md = calls_row(first, ms(runs.runs.first().copied()), &runs.first_calls, requested);
    md.push_str(&calls_row(later, format!("{}{}", ms(median(later_runs)), spread(later_runs)), &runs.later_calls, requested));
    md
}

fn calls_row(label: &str, time: String, calls: &BTreeMap<String, usize>, requested: usize) -> String {
    format!(
        "| {label} | {time} | {} | {} | {} | {} | {requested} |\n",
        count(calls, "AssumeRole"),
        count(calls, "ListInstances"),
        count(calls, "ListTagsForResource"),
        count(calls, "PutEvents"),
    )
}

/// Each way of sweeping the organization against the sweep of one target: time and calls, per
/// instance of the one target.
fn against_one_target(org: &OrganizationSamples, sweep: &SweepSamples) -> String {
    let sweep_later = after_first(&sweep.runs);
    let mut md = format!(
        "\n| Against the sweep of {SWEEP_FLEET} instances in one target (its later runs) | Instances | Time | AssumeRole | ListInstances | \
         ListTagsForResource | PutEvents |\n|---|---|---|---|---|---|---|\n"
    );
    let instances = org.fleet.targets() * org.fleet.instances;
    for (label, runs, calls) in [
        ("One invocation, later runs", after_first(&org.single.runs), &org.single.later_calls),
        ("One invocation, first run", &org.single.runs[..org.single.runs.len().min(1)], &org.single.first_calls),
        ("The state machine's steps on one warm process, later rounds", after_first(&org.children.runs), &org.children.later_calls),
    ] {
        md.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            per(instances, SWEEP_FLEET),
            ratio(median(runs), median(sweep_later)).map_or("–".into(), |r| format!("{r:.2}")),
            per(count(calls, "AssumeRole"), 0),
            per(count(calls, "ListInstances"), sweep.calls_of("ListInstances")),
            per(count(calls, "ListTagsForResource"), sweep.calls_of("ListTagsForResource")),
            per(count(calls, "PutEvents"), sweep.puts),
        ));
    }
    md
}

fn organization_json(org: &OrganizationSamples) -> Value {
    let fleet = &org.fleet;
    json!({
        "organization": {
            "accounts": fleet.accounts.len(), "regions": fleet.regions, "instancesPerTarget": fleet.instances, "cap": org.cap,
            "oneInvocation": runs_json(&org.single),
            "stateMachineSteps": runs_json(&org.children),
            "oneTargetInvokeMedianMs": in_ms(median(&org.child_times)),
        },
    })
}

fn runs_json(runs: &Runs) -> Value {
    json!({
        "initMs": runs.init.as_secs_f64() * 1000.0,
        "firstMs": in_ms(runs.runs.first().copied()),
        "laterMedianMs": in_ms(median(after_first(&runs.runs))),
        "firstCalls": runs.first_calls, "laterCalls": runs.later_calls, "entries": runs.entries,
        "largestReportBytes": runs.report_bytes,
    })
}
