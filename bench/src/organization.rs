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

use crate::sweeps::*;
use crate::*;

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
    let common = [
        ("ALLOWED_REGIONS", OTHER_REGION.to_owned()),
        ("MEMBER_ROLE_NAME", MEMBER_ROLE.to_owned()),
        // Requests at once, so that a delete-mode run requests (up to the cap) in this run.
        ("NOTICE_HOURS", "0".to_owned()),
    ];
    let selected = fleet.targets() * fleet.selected_per_target();
    let requested = cap.min(selected);

    // One invocation over every target.
    let mut env = sweep_env(&emulator, &stand_ins, &common);
    env.push(("SWEEP_ACCOUNTS".into(), fleet.accounts.join(",")));
    env.push(("SWEEP_REGIONS".into(), fleet.regions.join(",")));
    let process = SweepProcess::start(options, &env, "sweep-organization").await?;
    let mut single = Runs { init: process.init, ..Default::default() };
    for run in 0..rounds.max(1) {
        stand_ins.clear(&emulator);
        let what = format!("organization sweep in one invocation, run {}", run + 1);
        let (report, took) = process.invoke(json!({ "mode": "delete", "maxDeletions": cap })).await.map_err(|e| format!("{what}: {e}"))?;
        let (calls, entries, report_bytes) = counted(stand_ins.take(&emulator));
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
        check_calls(&what, &fleet.expected_calls(if run == 0 { fleet.accounts.len() } else { 0 }, puts, &why, run == 0), &calls)?;
        check_calls(
            &what,
            &[
                ExpectedCalls::new(DELETION_REQUESTED, requested, format!("the cap of {cap}, across the targets")),
                ExpectedCalls::new(SWEEP_COMPLETED, 1, "one report"),
            ],
            &entries,
        )?;
        single.runs.push(took);
        single.report_bytes = single.report_bytes.max(report_bytes);
        single.entries = entries;
        if run == 0 {
            single.first_calls = calls;
        } else {
            single.later_calls = calls;
        }
    }
    process.stop().await;

    // The state machine's steps on one warm process.
    let mut env = sweep_env(&emulator, &stand_ins, &common);
    env.push(("SWEEP_REGIONS".into(), fleet.regions.join(",")));
    let process = SweepProcess::start(options, &env, "sweep-organization-children").await?;
    let mut children = Runs { init: process.init, ..Default::default() };
    let (mut child_times, mut plan_times, mut summary_times) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        stand_ins.clear(&emulator);
        let what = format!("organization sweep as the state machine's steps, round {}", round + 1);
        let started = std::time::Instant::now();
        let request = json!({ "plan": { "accounts": fleet.accounts, "regions": fleet.regions, "mode": "delete", "maxDeletions": cap } });
        let (plan, took) = process.invoke(request).await.map_err(|e| format!("{what}, plan: {e}"))?;
        plan_times.push(took);
        let targets = plan["targets"].as_array().cloned().unwrap_or_default();
        let shares: Vec<usize> = targets.iter().map(|t| t["maxDeletions"].as_u64().unwrap_or(0) as usize).collect();
        if targets.len() != fleet.targets() || shares.iter().sum::<usize>() != cap {
            return Err(format!("{what}: the plan must split the cap of {cap} across {} targets, answered {plan}", fleet.targets()));
        }
        let mut results = Vec::new();
        for target in &targets {
            let (report, took) = process.invoke(target.clone()).await.map_err(|e| format!("{what}, target {target}: {e}"))?;
            if report["complete"] != true || report["examined"] != fleet.instances {
                return Err(format!("{what}, target {target}: expected {} instances examined, answered {report}", fleet.instances));
            }
            child_times.push(took);
            let mut item = target.clone();
            item["report"] = json!({ "examined": report["examined"], "complete": report["complete"], "counts": report["counts"] });
            results.push(item);
        }
        let request = json!({ "summarize": { "sweepId": plan["sweepId"], "mode": plan["mode"], "results": results } });
        let (summary, took) = process.invoke(request).await.map_err(|e| format!("{what}, summary: {e}"))?;
        summary_times.push(took);
        children.runs.push(started.elapsed());
        let requests: usize = shares.iter().map(|share| (*share).min(fleet.selected_per_target())).sum();
        if summary["swept"] != fleet.targets() || summary["counts"]["requested"] != requests {
            return Err(format!("{what}: expected {} targets swept and {requests} requested, summarized {summary}", fleet.targets()));
        }
        let (calls, entries, report_bytes) = counted(stand_ins.take(&emulator));
        let puts: usize = shares.iter().map(|share| batches((*share).min(fleet.selected_per_target()))).sum::<usize>() + targets.len() + 1;
        let why = format!("each target's requests (its share of the cap), 10 an entry list; its report ({}); the summary", targets.len());
        let first = round == 0;
        check_calls(&what, &fleet.expected_calls(if first { fleet.accounts.len() } else { 0 }, puts, &why, first), &calls)?;
        check_calls(
            &what,
            &[
                ExpectedCalls::new(DELETION_REQUESTED, requests, "the planned shares of the cap"),
                ExpectedCalls::new(SWEEP_COMPLETED, targets.len(), "one report per target"),
                ExpectedCalls::new(ORGANIZATION_SWEEP_COMPLETED, 1, "one summary"),
            ],
            &entries,
        )?;
        children.report_bytes = children.report_bytes.max(report_bytes);
        children.entries = entries;
        if first {
            children.first_calls = calls;
        } else {
            children.later_calls = calls;
        }
    }
    process.stop().await;
    Ok(OrganizationSamples { fleet, cap, single, children, child_times, plan_times, summary_times })
}

/// The calls of a run by operation, the bus's entries by detail-type, and the largest Sweep
/// Completed entry.
fn counted(taken: Taken) -> (BTreeMap<String, usize>, BTreeMap<String, usize>, usize) {
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
    let fleet = &org.fleet;
    let later = |runs: &[Duration]| runs[runs.len().min(1)..].to_vec();
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
    let row = |label: &str, time: String, calls: &BTreeMap<String, usize>, requested: usize| {
        format!(
            "| {label} | {time} | {} | {} | {} | {} | {requested} |\n",
            count(calls, "AssumeRole"),
            count(calls, "ListInstances"),
            count(calls, "ListTagsForResource"),
            count(calls, "PutEvents"),
        )
    };
    let requested = |runs: &Runs| count(&runs.entries, DELETION_REQUESTED);
    let single_later = later(&org.single.runs);
    let children_later = later(&org.children.runs);
    md.push_str(&row(
        "One invocation (SWEEP_ACCOUNTS x SWEEP_REGIONS), first run",
        ms(org.single.runs.first().copied()),
        &org.single.first_calls,
        requested(&org.single),
    ));
    md.push_str(&row(
        "One invocation, later runs",
        format!("{}{}", ms(median(&single_later)), spread(&single_later)),
        &org.single.later_calls,
        requested(&org.single),
    ));
    md.push_str(&row(
        &format!("Plan, {} one-target invokes and summary on one warm process, first round", fleet.targets()),
        ms(org.children.runs.first().copied()),
        &org.children.first_calls,
        requested(&org.children),
    ));
    md.push_str(&row(
        "Plan, one-target invokes and summary, later rounds",
        format!("{}{}", ms(median(&children_later)), spread(&children_later)),
        &org.children.later_calls,
        requested(&org.children),
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
    let one = |operation: &str| sweep.calls.iter().find(|(o, _)| o == operation).map_or(0, |(_, n)| *n);
    let sweep_later = &sweep.runs[sweep.runs.len().min(1)..];
    md.push_str(&format!(
        "\n| Against the sweep of {SWEEP_FLEET} instances in one target (its later runs) | Instances | Time | AssumeRole | ListInstances | \
         ListTagsForResource | PutEvents |\n|---|---|---|---|---|---|---|\n"
    ));
    let instances = fleet.targets() * fleet.instances;
    for (label, runs, calls) in [
        ("One invocation, later runs", &single_later, &org.single.later_calls),
        ("One invocation, first run", &org.single.runs[..org.single.runs.len().min(1)].to_vec(), &org.single.first_calls),
        ("The state machine's steps on one warm process, later rounds", &children_later, &org.children.later_calls),
    ] {
        md.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            per(instances, SWEEP_FLEET),
            ratio(median(runs), median(sweep_later)).map_or("–".into(), |r| format!("{r:.2}")),
            per(count(calls, "AssumeRole"), 0),
            per(count(calls, "ListInstances"), one("ListInstances")),
            per(count(calls, "ListTagsForResource"), one("ListTagsForResource")),
            per(count(calls, "PutEvents"), sweep.puts),
        ));
    }

    let runs_json = |runs: &Runs| {
        json!({
            "initMs": runs.init.as_secs_f64() * 1000.0,
            "firstMs": runs.runs.first().map(|d| d.as_secs_f64() * 1000.0),
            "laterMedianMs": median(&runs.runs[runs.runs.len().min(1)..]).map(|d| d.as_secs_f64() * 1000.0),
            "firstCalls": runs.first_calls, "laterCalls": runs.later_calls, "entries": runs.entries,
            "largestReportBytes": runs.report_bytes,
        })
    };
    let json = json!({
        "organization": {
            "accounts": fleet.accounts.len(), "regions": fleet.regions, "instancesPerTarget": fleet.instances, "cap": org.cap,
            "oneInvocation": runs_json(&org.single),
            "stateMachineSteps": runs_json(&org.children),
            "oneTargetInvokeMedianMs": median(&org.child_times).map(|d| d.as_secs_f64() * 1000.0),
        },
    });
    (md, json)
}
