//! Runs the real function binaries locally, end to end: the Supply Chain emulator (embedded, seeded
//! from `events/seed.json`, with a realistic deletion time), moto's server for EventBridge and
//! Scheduler, and a local Lambda Runtime API for each function. It deletes the instance an event
//! names, follows the deletion to its final event exactly as the deployed stack would, playing
//! EventBridge Scheduler's part by firing each one-time schedule when it falls due, and prints each
//! step and the instance's state changes.
//!
//! An event of `events/sweep/` starts with the sweep instead, against the instances of
//! `events/sweep/seed.json`: the sweep's deletion requests go to the delete function, as the
//! stack's rule sends them, and each deletion is followed as above.
//!
//! `events/sweep/notice-delete.json` runs the sweep with notice as the stack deploys it
//! (`NOTICE_HOURS=168`, marks signed with moto's KMS key): day 0 announces and marks each selected
//! instance and requests nothing, a past mark a tagger wrote among them replaced by a fresh notice;
//! then a second sweep process runs with its clock 169 hours ahead (libfaketime, as the tests move
//! it), finds the notices ran out, and requests the deletions, followed as above.
//!
//! The emulator holds a second account, [`MEMBER_ACCOUNT`], whose member role trusts the home
//! account, and serves a second region, [`OTHER_REGION`]; the functions reach them through STS
//! `AssumeRole` at the emulator, as deployed they reach a member account of the organization. An
//! event naming that account (`events/direct-other-account.json`, or an event forwarded from it,
//! `events/eventbridge-forwarded-from-member.json`) deletes the member's instance there. The run
//! ends with the emulator's call log: each call's account and region, and each role assumed.
//!
//! `scripts/run-local [EVENT_FILE]` builds everything and runs this (default `events/direct.json`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome};
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Role, SeedInstance};
use supplychain_testkit::*;

/// The member account: its instance is in `events/seed.json`, its role trusts the home account.
const MEMBER_ACCOUNT: &str = "210987654321";
/// The role a member account lets the functions assume (the functions' default `MEMBER_ROLE_NAME`).
const MEMBER_ROLE: &str = "SupplyChainInstanceDeletion";
/// A region beside the home one, which the functions may reach (`ALLOWED_REGIONS`).
const OTHER_REGION: &str = "eu-west-1";
/// The stack's default notice, in hours (`NoticeHours`).
const NOTICE_HOURS: u64 = 168;
/// What a tagger writes on an instance in the notice run: a mark in the past the sweep never wrote.
const FORGED_MARK: (&str, &str) = ("DeletionScheduledFor", "2020-01-01T00:00:00Z");

#[tokio::main]
async fn main() {
    let event_file = std::env::args().nth(1).unwrap_or_else(|| "events/direct.json".to_owned());
    let event: Value = serde_json::from_str(&std::fs::read_to_string(&event_file).unwrap_or_else(|e| panic!("{event_file}: {e}")))
        .unwrap_or_else(|e| panic!("{event_file}: {e}"));

    let sweeping = event_file.contains("sweep/");
    let notice = event_file.ends_with("sweep/notice-delete.json");
    let seed_file = if sweeping { "events/sweep/seed.json" } else { "events/seed.json" };

    let emulator = start_emulator(seed_file, notice).await;
    let moto = Moto::start().await;
    moto.subscribe("supplychain-instance-sweep").await;
    println!("• emulator at {}, moto at {}, bus {}", emulator.endpoint(), moto.endpoint, moto.bus);

    let binaries = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let env = function_env(&moto, &emulator, notice);
    let delete = FunctionProcess::spawn(binaries.join("delete-instance").to_str().unwrap(), "delete-instance", &env).await;
    let check = FunctionProcess::spawn(binaries.join("check-instance-status").to_str().unwrap(), "check-instance-status", &env).await;

    let mut schedules_fired = 0;
    if notice {
        println!("\n▶ sweep-instances ← {event_file} (day 0, NOTICE_HOURS={NOTICE_HOURS})");
        sweep_once(&binaries, &env, &event, None).await;
        schedules_fired += follow(&moto, &delete, &check).await;
        let hours = NOTICE_HOURS + 1;
        println!("\n⏩ the sweep's clock moves {hours} hours ahead (libfaketime): the notices given on day 0 have run out");
        println!("\n▶ sweep-instances ← {event_file} (day 7, an hour after the notice ran out)");
        sweep_once(&binaries, &env, &event, Some(hours * 3_600)).await;
    } else if sweeping {
        println!("\n▶ sweep-instances ← {event_file}");
        sweep_once(&binaries, &env, &event, None).await;
    } else {
        println!("\n▶ delete-instance ← {event_file}");
        print_outcome(&delete.invoke(event, DELETE_ARN, Duration::from_secs(30)).await);
    }
    schedules_fired += follow(&moto, &delete, &check).await;

    println!("\n• schedules fired: {schedules_fired}");
    print_emulator_state(&emulator);
    print_metrics(&[("delete-instance", delete.logs()), ("check-instance-status", check.logs())]);
}

/// Starts the emulator with the member account and the other region, and seeds it from
/// `seed_file`; for the notice run, with a forged mark on the first instance.
async fn start_emulator(seed_file: &str, notice: bool) -> Emulator {
    let home = EmulatorConfig::default();
    let emulator = emulator_with(EmulatorConfig {
        delete_delay: Duration::from_secs(5),
        extra_regions: vec![OTHER_REGION.to_owned()],
        accounts: vec![Account::new(MEMBER_ACCOUNT, vec![Role::trusting(MEMBER_ROLE, &[&home.account_id])])],
        ..home
    })
    .await;
    println!("• emulator: home account {}, regions {}", emulator.config().account_id, emulator.config().regions().join(", "));
    for account in emulator.accounts() {
        for role in &account.roles {
            println!("• emulator: account {}, role {} trusting {}", account.account_id, role.name, role.trusts.join(", "));
        }
    }
    let seeds: Vec<SeedInstance> = serde_json::from_str(&std::fs::read_to_string(repo_path(seed_file)).unwrap()).unwrap();
    for (index, mut seed) in seeds.into_iter().enumerate() {
        if notice && index == 0 {
            seed.tags.insert(FORGED_MARK.0.to_owned(), FORGED_MARK.1.to_owned());
            println!("• a tagger writes {}={} on the first instance: a past mark the sweep never wrote", FORGED_MARK.0, FORGED_MARK.1);
        }
        let instance = emulator.seed(seed);
        println!("• emulator: instance {} ({}) is {}", instance.instance_id, placement(&emulator, &instance.instance_id), instance.state);
    }
    emulator
}

/// The environment of every function process: moto's and the emulator's endpoints, short polls,
/// the other region allowed, and the stack's notice for the notice run.
fn function_env(moto: &Moto, emulator: &Emulator, notice: bool) -> Vec<(&'static str, String)> {
    let mut env = moto.function_env(emulator.endpoint());
    env.extend([
        // The member role is assumed through the emulator's STS.
        ("AWS_ENDPOINT_URL_STS", emulator.endpoint()),
        ("ALLOWED_REGIONS", OTHER_REGION.to_owned()),
        ("POLL_INTERVAL_SECONDS", "2".to_owned()),
        ("MAX_POLL_INTERVAL_SECONDS", "4".to_owned()),
        ("MAX_WAIT_SECONDS", "120".to_owned()),
        ("MAX_AGE_DAYS", "30".to_owned()),
        ("NAME_PREFIX", "trial-".to_owned()),
    ]);
    if notice {
        // After Moto::function_env's NOTICE_HOURS=0: the last value set wins.
        env.push(("NOTICE_HOURS", NOTICE_HOURS.to_string()));
    }
    env
}

/// Each instance's state changes, then the emulator's call log.
fn print_emulator_state(emulator: &Emulator) {
    for instance in emulator.instances() {
        let states: Vec<String> = emulator.history(&instance.instance_id).into_iter().map(|c| c.state).collect();
        println!("• instance {} ({}): {}", instance.instance_id, placement(emulator, &instance.instance_id), states.join(" → "));
    }
    // Each call acts in the account of the credentials that signed it (the member's for the role's
    // sessions) and in the region of its signature; AssumeRole names the role it asked for.
    println!("• calls received by the emulator, in the account and region each acted in:");
    println!("    {:<12} {:<10} {:<19} instance or role → status", "account", "region", "operation");
    for call in emulator.calls() {
        let subject = call.role_arn.or(call.instance_id).unwrap_or_else(|| "-".to_owned());
        let (account, region) = (call.account_id.unwrap_or_default(), call.region.unwrap_or_default());
        println!("    {account:<12} {region:<10} {:<19} {subject} → {}", call.operation, call.status);
    }
}

/// Runs the sweep once in a process of its own, its clock `ahead` seconds ahead of the real one
/// when given (libfaketime, which the process removes its files of when it exits on SIGTERM).
async fn sweep_once(binaries: &std::path::Path, env: &[(&str, String)], event: &Value, ahead: Option<u64>) {
    let mut env = env.to_vec();
    if let Some(seconds) = ahead {
        env.extend(faked_clock(&format!("+{seconds}")));
    }
    let mut sweep = FunctionProcess::spawn(binaries.join("sweep-instances").to_str().unwrap(), "sweep-instances", &env).await;
    // Lambda's deadline as the sweep's own clock reads it: a minute from its now.
    let deadline = SystemTime::now() + Duration::from_secs(ahead.unwrap_or(0) + 60);
    let options = Invoke {
        function_arn: SWEEP_ARN.to_owned(),
        deadline: Deadline::AtEpochMillis(deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64),
        ..Default::default()
    };
    print_outcome(&sweep.invoke_with(event.clone(), options).await);
    sweep.terminate();
    if sweep.exit_within(Duration::from_secs(10)).await.is_none() {
        eprintln!("the sweep did not exit on SIGTERM");
        std::process::exit(1);
    }
}

/// Follows every announcement on the bus until each deletion has ended: a request goes to the
/// delete function, a Deletion Started to the checker, and each re-check schedule is fired when it
/// falls due. Answers how many schedules it fired.
async fn follow(moto: &Moto, delete: &FunctionProcess, check: &FunctionProcess) -> usize {
    let mut following = 0usize;
    let mut schedules_fired = 0usize;
    loop {
        let mut requested = false;
        for announced in moto.received().await {
            let detail_type = announced["detail-type"].as_str().unwrap_or_default().to_owned();
            println!("\n◀ event on the bus: {detail_type}");
            println!("{}", serde_json::to_string_pretty(&announced["detail"]).unwrap());
            match detail_type.as_str() {
                "Supply Chain Instance Deletion Started" => {
                    following += 1;
                    println!("\n▶ check-instance-status ← the Deletion Started event");
                    print_outcome(&check.invoke(announced, CHECK_ARN, Duration::from_secs(30)).await);
                }
                "Supply Chain Instance Deletion Requested" => {
                    requested = true;
                    println!("\n▶ delete-instance ← the sweep's Deletion Requested event");
                    print_outcome(&delete.invoke(announced, DELETE_ARN, Duration::from_secs(30)).await);
                }
                // The sweep's report and notices end nothing that is followed.
                "Supply Chain Instance Sweep Completed"
                | "Supply Chain Instance Deletion Scheduled"
                | "Supply Chain Instance Deletion Cancelled" => {}
                _ => following = following.saturating_sub(1),
            }
        }
        // A deletion just requested announces its start on the next round.
        if requested {
            continue;
        }
        if following == 0 {
            return schedules_fired;
        }
        let Some(name) = moto.schedule_names().await.into_iter().find(|n| !is_marker(n)) else {
            eprintln!("a deletion is being followed but no check is scheduled");
            std::process::exit(1);
        };
        let schedule = moto.schedule(&name).await.unwrap();
        let expression = schedule.schedule_expression().unwrap_or_default().to_owned();
        wait_until(&expression).await;
        schedules_fired += 1;
        println!("\n⏰ schedule {name} ({expression}) fires");
        let input = moto.fire(&name).await;
        println!("▶ check-instance-status ← {input}");
        print_outcome(&check.invoke(input, CHECK_ARN, Duration::from_secs(30)).await);
    }
}

/// What the functions' EMF lines would put in CloudWatch: each metric summed over the run (a
/// duration listed value by value), by function and dimension. Each line is checked against the
/// EMF specification on the way.
fn print_metrics(logs: &[(&str, String)]) {
    let mut summary: std::collections::BTreeMap<(String, String), (Vec<f64>, String)> = Default::default();
    let mut namespaces = std::collections::BTreeSet::new();
    for (function, log) in logs {
        for document in emf::documents(log) {
            let directive = &document["_aws"]["CloudWatchMetrics"][0];
            namespaces.insert(directive["Namespace"].as_str().unwrap_or_default().to_owned());
            let dimension: String = directive["Dimensions"][0]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|key| *key != "FunctionName")
                .map(|key| format!("{{{key}={}}}", document[key].as_str().unwrap_or_default()))
                .collect();
            for definition in directive["Metrics"].as_array().into_iter().flatten() {
                let name = definition["Name"].as_str().unwrap_or_default();
                let values: Vec<f64> = match &document[name] {
                    Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
                    value => value.as_f64().into_iter().collect(),
                };
                let unit = definition["Unit"].as_str().unwrap_or("None").to_owned();
                let entry = summary.entry((function.to_string(), format!("{name}{dimension}"))).or_insert((Vec::new(), unit));
                entry.0.extend(values);
            }
        }
    }
    let namespaces: Vec<String> = namespaces.into_iter().collect();
    println!("• metrics the run wrote (EMF lines on stdout, namespace {}):", namespaces.join(", "));
    for ((function, metric), (values, unit)) in &summary {
        let shown = if unit == "Count" {
            format!("{}", values.iter().sum::<f64>())
        } else {
            values.iter().map(|v| format!("{v:.1} s")).collect::<Vec<_>>().join(", ")
        };
        println!("    {function:<22} {metric:<45} {shown}");
    }
}

/// The account and region an instance lives in, read from its ARN
/// (`arn:aws:scn:REGION:ACCOUNT:instance/ID`).
fn placement(emulator: &Emulator, instance_id: &str) -> String {
    let arn = emulator.instance_arn(instance_id);
    let fields: Vec<&str> = arn.split(':').collect();
    format!("account {}, {}", fields[4], fields[3])
}

fn is_marker(name: &str) -> bool {
    // Re-check schedules end in the attempt number; markers of announced ends in a 16-digit hash.
    name.rsplit('-').next().is_some_and(|tail| tail.len() == 16)
}

fn print_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Response(value) => println!("◀ {}", serde_json::to_string_pretty(value).unwrap()),
        Outcome::Error { error_type, error_message, .. } => println!("◀ error {error_type}: {error_message}"),
    }
}

/// Sleeps until an `at(yyyy-mm-ddThh:mm:ss)` time, as Scheduler would.
async fn wait_until(expression: &str) {
    let time = expression.trim_start_matches("at(").trim_end_matches(')');
    let at = aws_smithy_types::DateTime::from_str(&format!("{time}Z"), aws_smithy_types::date_time::Format::DateTime).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let wait = (at.as_secs_f64() - now).max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
}
