//! What the measured work costs at list prices: (a) one followed deletion and (b) one organization
//! sweep of [`ORG_TARGETS`] targets, each beside the same work done by the boto3 peer and by Step
//! Functions alone; and (c) the organization sweep's S3 requests at scale ([`s3_requests_cost`]).
//!
//! The prices are read from the dated price tables of BENCHMARKS.md ("What it costs"), so each
//! price is written once: a row is `| what | `key` | USD | per | unit | source |`, and every key of
//! [`PRICE_KEYS`] must be there once. Free tiers are left out: these are the prices past them.
//!
//! Durations are the ones measured in this run, rounded up to Lambda's billed millisecond, at the
//! memory the stack gives every function ([`MEMORY_MB`]); counts are the ones the run measured (or,
//! for the checker's re-checks, the ones its schedule makes for a deletion of
//! [`DELETION_MINUTES`]). What a function costs is its requests and its GB-seconds; what the chain
//! around it costs is Scheduler's invocations, EventBridge's custom events (64 KB chunks) and Step
//! Functions' state transitions (a Distributed Map child execution is charged as one transition,
//! besides its own states' transitions).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::organization::OrganizationSamples;
use crate::stats::{after_first, median};
use crate::sweeps::pages;

/// The keys of the price table, each a price in USD per unit.
pub const PRICE_KEYS: [&str; 8] = [
    "lambda-arm64-gb-second",
    "lambda-request",
    "scheduler-invocation",
    "eventbridge-custom-event",
    "sfn-standard-transition",
    "sfn-distributed-map-child",
    "s3-put-request",
    "s3-get-request",
];

/// The functions' memory (template.yaml, `Globals.Function.MemorySize`).
pub const MEMORY_MB: f64 = 128.0;
/// How long the followed deletion takes (Supply Chain publishes no figure): the checker's schedule
/// decides from it how many checks the chain makes.
pub const DELETION_MINUTES: u64 = 30;
/// The checker's schedule, the stack's defaults: the first re-check after `POLL_INTERVAL_SECONDS`,
/// each wait doubling up to `MAX_POLL_INTERVAL_SECONDS`.
const POLL_INTERVAL_SECONDS: u64 = 60;
const MAX_POLL_INTERVAL_SECONDS: u64 = 900;
/// The organization the sweep's cost is scaled to, and the stack's defaults for it: the Distributed
/// Map's `OrganizationSweepMaxConcurrency` (each concurrent child a cold environment once) and the
/// organization's cap `MaxDeletionsPerSweep`.
pub const ORG_TARGETS: usize = 900;
const ORG_CONCURRENCY: usize = 10;
const ORG_CAP: usize = 10;
/// The OrganizationSweep state machine's own states in one execution: ReadSettings, ApplyDefaults,
/// Plan, SweepTargets, Summarize (statemachine/organization-sweep.asl.json); each child runs one,
/// SweepTarget.
const ORG_PARENT_TRANSITIONS: usize = 5;
/// EventBridge bills an entry per 64 KB chunk.
const CHUNK_BYTES: usize = 64 * 1024;
/// The sweep's report is cut to stay within PutEvents' 256 KiB an entry: at most 4 chunks.
const MAX_REPORT_CHUNKS: usize = 4;

/// Prices in USD per unit, by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices(BTreeMap<String, f64>);

impl Prices {
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }
}

/// Reads the price table of `markdown` (BENCHMARKS.md): every key of [`PRICE_KEYS`] exactly once.
pub fn parse_prices(markdown: &str) -> Result<Prices, String> {
    let mut prices = BTreeMap::new();
    for line in markdown.lines().filter(|line| line.trim_start().starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| what | key | USD | per | unit | source |` splits into 8 cells, the outer two empty.
        let Some(key) = cells.get(2).and_then(|cell| cell.strip_prefix('`')).and_then(|cell| cell.strip_suffix('`')) else { continue };
        if !PRICE_KEYS.contains(&key) {
            continue;
        }
        let number = |index: usize, what: &str| -> Result<f64, String> {
            let text = cells.get(index).copied().unwrap_or("").replace([',', '$'], "");
            text.parse::<f64>().map_err(|_| format!("the price table's row `{key}` has {what} {:?}, not a number", cells.get(index)))
        };
        let (usd, per) = (number(3, "USD")?, number(4, "per")?);
        if per <= 0.0 {
            return Err(format!("the price table's row `{key}` is per {per}"));
        }
        if prices.insert(key.to_owned(), usd / per).is_some() {
            return Err(format!("the price table names `{key}` twice: a price is written once"));
        }
    }
    let missing: Vec<&str> = PRICE_KEYS.iter().copied().filter(|key| !prices.contains_key(*key)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "the price table (BENCHMARKS.md, \"What it costs\") has no row for {}: each row is | what | `key` | USD | per | unit | source |",
            missing.join(", ")
        ));
    }
    Ok(Prices(prices))
}

/// Billed milliseconds: rounded up to the millisecond, at least one.
pub fn billed_ms(took: Duration) -> u64 {
    ((took.as_secs_f64() * 1000.0).ceil() as u64).max(1)
}

/// What a piece of work uses, in the units it is billed in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub lambda_requests: f64,
    pub billed_ms: f64,
    pub scheduler_invocations: f64,
    /// 64 KB chunks of custom events.
    pub events: f64,
    pub transitions: f64,
    pub child_executions: f64,
}

impl Usage {
    pub fn gb_seconds(&self) -> f64 {
        self.billed_ms / 1000.0 * MEMORY_MB / 1024.0
    }

    pub fn usd(&self, prices: &Prices) -> f64 {
        self.lambda_requests * prices.get("lambda-request")
            + self.gb_seconds() * prices.get("lambda-arm64-gb-second")
            + self.scheduler_invocations * prices.get("scheduler-invocation")
            + self.events * prices.get("eventbridge-custom-event")
            + self.transitions * prices.get("sfn-standard-transition")
            + self.child_executions * prices.get("sfn-distributed-map-child")
    }
}

/// Status checks the chain makes for a deletion of `minutes`: one at once (the Deletion Started
/// event), then one after each wait of the schedule, until one finds it ended.
pub fn checks_for(minutes: u64) -> u64 {
    let end = minutes * 60;
    let (mut at, mut checks, mut wait) = (0, 1, POLL_INTERVAL_SECONDS);
    while at < end {
        at += wait;
        checks += 1;
        wait = (wait * 2).min(MAX_POLL_INTERVAL_SECONDS);
    }
    checks
}

/// One invocation's measured time, warm and cold (init and the first invocation, which Lambda bills together).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invocation {
    pub(crate) warm: Duration,
    pub(crate) cold: Duration,
}

/// What the cost is computed from.
pub(crate) struct Measured<'a> {
    /// `delete-instance` as shipped (the tag check, then DeleteInstance).
    pub(crate) delete: Option<Invocation>,
    pub(crate) check: Option<Invocation>,
    pub(crate) boto3: Option<Invocation>,
    pub(crate) organization: &'a OrganizationSamples,
}

/// One row of a cost table.
struct Row {
    label: String,
    usage: Usage,
}

fn usd_text(usd: f64) -> String {
    if usd >= 0.01 {
        format!("{usd:.4}")
    } else {
        format!("{usd:.3e}")
    }
}

fn table(title: &str, rows: &[Row], prices: &Prices, against: &str) -> (String, Vec<Value>) {
    let mut md = format!(
        "| {title} | Lambda requests | Billed ms | GB-s | Scheduler invocations | Custom events (64 KB chunks) | State transitions | Child executions | USD | × {against} |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    let base = rows.first().map(|row| row.usage.usd(prices)).unwrap_or(0.0);
    let mut json_rows = Vec::new();
    for row in rows {
        let u = &row.usage;
        let usd = u.usd(prices);
        md.push_str(&format!(
            "| {} | {} | {} | {:.4} | {} | {} | {} | {} | {} | {} |\n",
            row.label,
            u.lambda_requests,
            u.billed_ms,
            u.gb_seconds(),
            u.scheduler_invocations,
            u.events,
            u.transitions,
            u.child_executions,
            usd_text(usd),
            match usd / base {
                ratio if !ratio.is_finite() => "–".to_owned(),
                ratio if ratio < 0.1 => format!("1/{:.0}", 1.0 / ratio),
                ratio => format!("{ratio:.2}"),
            },
        ));
        json_rows.push(json!({
            "row": row.label, "lambdaRequests": u.lambda_requests, "billedMs": u.billed_ms, "gbSeconds": u.gb_seconds(),
            "schedulerInvocations": u.scheduler_invocations, "customEventChunks": u.events, "stateTransitions": u.transitions,
            "childExecutions": u.child_executions, "usd": usd,
        }));
    }
    (md, json_rows)
}

/// The "What it costs" tables and their JSON.
pub(crate) fn cost_report(prices: &Prices, measured: &Measured) -> (String, Value) {
    let (deletion_md, deletion_json) = followed_deletion(prices, measured);
    let (sweep_md, sweep_json) = organization_sweep(prices, measured);
    let json = json!({
        "memoryMb": MEMORY_MB,
        "followedDeletion": deletion_json,
        "organizationSweep": sweep_json,
        "prices": prices.0,
    });
    (format!("{deletion_md}{sweep_md}"), json)
}

/// An invocation's billed milliseconds, as a count to multiply.
fn billed(took: Duration) -> f64 {
    billed_ms(took) as f64
}

/// (a) One followed deletion of [`DELETION_MINUTES`]: the table and its JSON.
fn followed_deletion(prices: &Prices, measured: &Measured) -> (String, Value) {
    let chain = DeletionChain::new();
    let mut md = chain.description();
    let (table_md, rows) = table("One followed deletion", &chain.rows(measured), prices, "the first row");
    md.push_str(&table_md);
    (md, json!({ "minutes": DELETION_MINUTES, "checks": chain.checks, "rows": rows }))
}

/// What one followed deletion calls for, however its functions run: the checker's schedule
/// decides the checks, and from them the invocations and schedules.
struct DeletionChain {
    checks: f64,
    invocations: f64,
    schedules: f64,
    events: f64,
}

impl DeletionChain {
    fn new() -> DeletionChain {
        let checks = checks_for(DELETION_MINUTES) as f64;
        DeletionChain {
            checks,
            // The delete, every check, and the marker schedule firing once 25 hours later (ignored by the checker).
            invocations: 1.0 + checks + 1.0,
            // A schedule per re-check (every check but the first), and the marker.
            schedules: checks,
            // Deletion Started and the end (Deleted).
            events: 2.0,
        }
    }

    /// The chain run by functions billed `billed` ms in all.
    fn usage(&self, billed: f64) -> Usage {
        Usage {
            lambda_requests: self.invocations,
            billed_ms: billed,
            scheduler_invocations: self.schedules,
            events: self.events,
            ..Default::default()
        }
    }

    /// This project's functions and the boto3 peer, each warm and cold, and the polling loop.
    fn rows(&self, measured: &Measured) -> Vec<Row> {
        let invocations = self.invocations;
        let mut rows = Vec::new();
        if let (Some(delete), Some(check)) = (measured.delete, measured.check) {
            rows.push(Row {
                label: "This project, every invocation warm".into(),
                usage: self.usage(billed(delete.warm) + (invocations - 1.0) * billed(check.warm)),
            });
            rows.push(Row {
                label: "This project, every invocation cold".into(),
                usage: self.usage(billed(delete.cold) + (invocations - 1.0) * billed(check.cold)),
            });
        }
        if let Some(boto3) = measured.boto3 {
            rows.push(Row { label: "boto3 peer, every invocation warm".into(), usage: self.usage(invocations * billed(boto3.warm)) });
            rows.push(Row { label: "boto3 peer, every invocation cold".into(), usage: self.usage(invocations * billed(boto3.cold)) });
        }
        // DeleteInstance and the Deletion Started PutEvents as tasks, then Wait, GetInstance and Choice
        // per check, then the end's PutEvents: no function, no schedule.
        rows.push(Row {
            label: "Step Functions polling loop (Wait, GetInstance, Choice per check)".into(),
            usage: Usage { transitions: 2.0 + 3.0 * self.checks + 1.0, events: self.events, ..Default::default() },
        });
        rows
    }

    fn description(&self) -> String {
        format!(
            "One followed deletion of {DELETION_MINUTES} minutes: {} status checks (at once, then after waits of 60 s doubling up \
             to 900 s), {} Lambda invocations (the delete, the checks, the marker firing once), {} Scheduler invocations (the \
             re-checks and the marker), {} custom events (Deletion Started, Deleted). Lambda at {MEMORY_MB} MB arm64; each invocation \
             billed at its measured time rounded up to the millisecond (cold: init plus the first invocation).\n\n",
            self.checks, self.invocations, self.schedules, self.events
        )
    }
}

/// (b) One organization sweep of [`ORG_TARGETS`] targets, scaled from the measured one: the table
/// and its JSON.
fn organization_sweep(prices: &Prices, measured: &Measured) -> (String, Value) {
    let sweep = ScaledSweep::new(measured.organization);
    let mut rows = vec![sweep.distributed_map(), sweep.one_invocation()];
    if let Some(boto3) = measured.boto3 {
        rows.push(sweep.boto3_peer(boto3));
    }
    rows.push(sweep.step_functions_alone());
    let mut md = sweep.description();
    let (table_md, rows) = table("One organization sweep", &rows, prices, "the first row");
    md.push_str(&table_md);
    let fleet = &measured.organization.fleet;
    (md, json!({ "targets": ORG_TARGETS, "instancesPerTarget": fleet.instances, "rows": rows }))
}

/// The measured organization sweep scaled to [`ORG_TARGETS`] targets: what every way of running
/// it is billed from.
struct ScaledSweep<'a> {
    org: &'a OrganizationSamples,
    targets: f64,
    /// [`ORG_TARGETS`] ÷ the targets measured.
    scale: f64,
    /// The median one-target invoke.
    child: Duration,
    /// A report per target, the summary, and the cap's requests (small: one chunk each).
    map_events: f64,
    /// The parent's states, and a child execution per target.
    map_states: f64,
}

impl ScaledSweep<'_> {
    fn new(org: &OrganizationSamples) -> ScaledSweep<'_> {
        let targets = ORG_TARGETS as f64;
        let chunks = |bytes: usize| bytes.div_ceil(CHUNK_BYTES).max(1) as f64;
        ScaledSweep {
            org,
            targets,
            scale: ORG_TARGETS as f64 / org.fleet.targets() as f64,
            child: median(&org.child_times).unwrap_or_default(),
            map_events: targets * chunks(org.children.report_bytes) + 1.0 + ORG_CAP as f64,
            map_states: (ORG_PARENT_TRANSITIONS + ORG_TARGETS) as f64,
        }
    }

    fn distributed_map(&self) -> Row {
        let org = self.org;
        let plan = median(&org.plan_times).unwrap_or_default();
        let summary = median(&org.summary_times).unwrap_or_default();
        Row {
            label: "This project, OrganizationSweep (Distributed Map, one child per target)".into(),
            usage: Usage {
                lambda_requests: self.targets + 2.0,
                billed_ms: self.targets * billed(self.child)
                    + billed(plan)
                    + billed(summary)
                    + ORG_CONCURRENCY as f64 * billed(org.children.init),
                scheduler_invocations: 1.0,
                events: self.map_events,
                transitions: self.map_states,
                child_executions: self.targets,
            },
        }
    }

    fn one_invocation(&self) -> Row {
        let single = &self.org.single;
        let later = median(after_first(&single.runs)).unwrap_or_default();
        let report_bytes = single.report_bytes as f64 * self.scale;
        Row {
            label: "This project, one invocation (SWEEP_ACCOUNTS x SWEEP_REGIONS)".into(),
            usage: Usage {
                lambda_requests: 1.0,
                billed_ms: billed(single.init + later.mul_f64(self.scale)),
                scheduler_invocations: 1.0,
                events: (report_bytes / CHUNK_BYTES as f64).ceil().clamp(1.0, MAX_REPORT_CHUNKS as f64) + ORG_CAP as f64,
                ..Default::default()
            },
        }
    }

    /// Not built: the peer's measured one-call invocation per call, one call after the other.
    fn boto3_peer(&self, boto3: Invocation) -> Row {
        let fleet = &self.org.fleet;
        let calls_per_target = (pages(fleet.instances) + fleet.tagged_per_target() + 1) as f64;
        Row {
            label: "boto3 peer in the same state machine (estimated: its one-call time per call)".into(),
            usage: Usage {
                lambda_requests: self.targets + 2.0,
                billed_ms: self.targets * (calls_per_target * boto3.warm.as_secs_f64() * 1000.0).ceil()
                    + 2.0 * billed(boto3.warm)
                    + ORG_CONCURRENCY as f64 * billed(boto3.cold),
                scheduler_invocations: 1.0,
                events: self.map_events,
                transitions: self.map_states,
                child_executions: self.targets,
            },
        }
    }

    /// Each child with SDK integrations only: per page ListInstances, an inline Map and a Choice (more
    /// pages?); per instance a Choice (Deleted?) and, unless Deleted, ListTagsForResource; the report.
    fn step_functions_alone(&self) -> Row {
        let fleet = &self.org.fleet;
        let per_target = 3 * pages(fleet.instances) + fleet.instances + fleet.tagged_per_target() + 1;
        Row {
            label: "Step Functions alone (SDK integrations in each child, no function)".into(),
            usage: Usage {
                scheduler_invocations: 1.0,
                events: self.map_events,
                transitions: (ORG_PARENT_TRANSITIONS + ORG_TARGETS * per_target) as f64,
                child_executions: self.targets,
                ..Default::default()
            },
        }
    }

    fn description(&self) -> String {
        let fleet = &self.org.fleet;
        format!(
            "\nOne organization sweep of {ORG_TARGETS} targets of {} instances each ({} instances), scaled from the {} targets \
             measured: each child billed at the median one-target invoke ({} ms), {ORG_CONCURRENCY} cold environments \
             (OrganizationSweepMaxConcurrency) each paying the sweep's init once, the cap {ORG_CAP} (MaxDeletionsPerSweep); the \
             one invocation billed at its measured time x {:.1}.\n\n",
            fleet.instances,
            ORG_TARGETS * fleet.instances,
            fleet.targets(),
            billed_ms(self.child),
            self.scale,
        )
    }
}

/// The S3 requests of one organization sweep's plan and summary, as measured at `targets`.
pub(crate) struct S3Requests {
    pub(crate) targets: usize,
    pub(crate) puts: usize,
    pub(crate) gets: usize,
}

/// What the plan's and the summary's S3 requests cost at each size, beside the Distributed Map's
/// child executions at the same size: the table and its JSON.
pub(crate) fn s3_requests_cost(prices: &Prices, sizes: &[S3Requests]) -> (String, Value) {
    let mut md = "\n| One organization sweep's S3 requests (the plan's and the summary's, measured) | PutObject | GetObject | S3 USD \
                  | Child executions USD | S3 ÷ child executions |\n|---|---|---|---|---|---|\n"
        .to_owned();
    let mut rows = Vec::new();
    for size in sizes {
        let s3 = size.puts as f64 * prices.get("s3-put-request") + size.gets as f64 * prices.get("s3-get-request");
        let children = size.targets as f64 * prices.get("sfn-distributed-map-child");
        let share = s3 / children;
        md.push_str(&format!(
            "| {} targets | {} | {} | {} | {} | 1/{:.0} |\n",
            size.targets,
            size.puts,
            size.gets,
            usd_text(s3),
            usd_text(children),
            1.0 / share,
        ));
        rows.push(
            json!({ "targets": size.targets, "putObject": size.puts, "getObject": size.gets, "s3Usd": s3, "childExecutionsUsd": children }),
        );
    }
    (
        md,
        json!({ "rows": rows, "prices": { "s3-put-request": prices.get("s3-put-request"), "s3-get-request": prices.get("s3-get-request") } }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
| What | Key | USD | Per | Unit | Source |
|---|---|---|---|---|---|
| Lambda duration, arm64 | `lambda-arm64-gb-second` | 0.0000133334 | 1 | GB-second | a |
| Lambda requests | `lambda-request` | 0.20 | 1,000,000 | requests | a |
| Scheduler | `scheduler-invocation` | 1.00 | 1,000,000 | invocations | b |
| Custom events | `eventbridge-custom-event` | $1.00 | 1,000,000 | 64 KB chunks | b |
| Transitions | `sfn-standard-transition` | 0.025 | 1,000 | transitions | c |
| Children | `sfn-distributed-map-child` | 0.025 | 1,000 | child executions | d |
| S3 PUT | `s3-put-request` | 0.005 | 1,000 | requests | e |
| S3 GET | `s3-get-request` | 0.0004 | 1,000 | requests | e |
";

    #[test]
    fn the_price_table_gives_a_price_per_unit_for_every_key() {
        let prices = parse_prices(TABLE).unwrap();
        assert_eq!(prices.get("lambda-request"), 0.2 / 1e6);
        assert_eq!(prices.get("sfn-standard-transition"), 0.025 / 1000.0);
        assert_eq!(prices.get("eventbridge-custom-event"), 1e-6);
    }

    #[test]
    fn a_price_missing_or_written_twice_is_refused() {
        let without = TABLE.lines().filter(|line| !line.contains("scheduler-invocation")).collect::<Vec<_>>().join("\n");
        let error = parse_prices(&without).unwrap_err();
        assert!(error.contains("no row for scheduler-invocation"), "{error}");
        let twice = format!("{TABLE}| again | `lambda-request` | 0.30 | 1,000,000 | requests | e |\n");
        assert!(parse_prices(&twice).unwrap_err().contains("twice"));
        let not_a_number = TABLE.replace("0.025 | 1,000 | transitions", "free | 1,000 | transitions");
        assert!(parse_prices(&not_a_number).unwrap_err().contains("not a number"));
    }

    #[test]
    fn the_s3_requests_are_priced_per_request_beside_the_child_executions() {
        let prices = parse_prices(TABLE).unwrap();

        let (md, json) = s3_requests_cost(&prices, &[S3Requests { targets: 1_000, puts: 1, gets: 2 }]);

        let usd = json["rows"][0]["s3Usd"].as_f64().unwrap();
        assert!((usd - (0.005 + 2.0 * 0.0004) / 1000.0).abs() < 1e-15, "{usd}");
        assert!((json["rows"][0]["childExecutionsUsd"].as_f64().unwrap() - 0.025).abs() < 1e-12);
        assert!(md.contains("| 1000 targets | 1 | 2 | 5.800e-6 | 0.0250 | 1/4310 |"), "{md}");
    }

    #[test]
    fn the_checks_follow_the_checkers_schedule() {
        // At once, then after 60, 120, 240, 480 and 900 s: at 0, 60, 180, 420, 900 and 1800 s.
        assert_eq!(checks_for(30), 6);
        assert_eq!(checks_for(0), 1);
        assert_eq!(checks_for(1), 2);
        assert_eq!(checks_for(15), 5);
    }

    #[test]
    fn lambda_bills_whole_milliseconds_and_at_least_one() {
        assert_eq!(billed_ms(Duration::from_micros(300)), 1);
        assert_eq!(billed_ms(Duration::from_micros(1001)), 2);
        assert_eq!(billed_ms(Duration::from_millis(5)), 5);
        let usage = Usage { lambda_requests: 1.0, billed_ms: 8000.0, ..Default::default() };
        let prices = parse_prices(TABLE).unwrap();
        // 8 s at 128 MB = 1 GB-s.
        assert!((usage.usd(&prices) - (0.2 / 1e6 + 0.0000133334)).abs() < 1e-15);
    }
}
