//! Sizes of the binaries and zips, and the report: its tables, and every number as JSON.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cost::{cost_report, Invocation, Measured, Prices};
use crate::floors::Floors;
use crate::measure::{Samples, SweepSamples};
use crate::notice::{notice_report, NoticeSamples};
use crate::options::{Options, SWEEP_FLEET};
use crate::organization::{organization_report, OrganizationSamples};
use crate::stats::*;
use crate::subjects::{Subject, OTHER_ACCOUNT, OWN_ACCOUNT};

/// The outcome of a run: the table as Markdown, and every number as JSON.
#[derive(Debug, Clone)]
pub struct Report {
    pub markdown: String,
    pub json: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Size {
    pub(crate) label: String,
    pub(crate) binary: u64,
    pub(crate) zip: u64,
}

/// Sizes of each binary and of the zip Lambda would receive (the binary alone, named `bootstrap`).
pub(crate) fn sizes(options: &Options) -> Result<Vec<Size>, String> {
    let mut out = Vec::new();
    let dirs = std::iter::once(("x86_64".to_owned(), &options.bin_dir))
        .chain(options.aarch64_bin_dir.as_ref().map(|dir| ("aarch64".to_owned(), dir)))
        .chain(options.variants.iter().map(|(label, dir)| (format!("x86_64, {label}"), dir)));
    for (arch, dir) in dirs {
        for name in ["delete-instance", "check-instance-status", "noop-function"] {
            let binary = dir.join(name);
            let Ok(meta) = std::fs::metadata(&binary) else { continue };
            let zip = options.work_dir.join(format!("{name}-{}.zip", out.len()));
            zip_as_bootstrap(options, &binary, &zip)?;
            let zip_size = std::fs::metadata(&zip).map_err(|e| format!("{}: {e}", zip.display()))?.len();
            out.push(Size { label: format!("{name} ({arch})"), binary: meta.len(), zip: zip_size });
        }
    }
    Ok(out)
}

pub(crate) fn zip_as_bootstrap(options: &Options, binary: &Path, zip: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(zip);
    let status = match &options.python {
        Some(python) => std::process::Command::new(python)
            .args([
                "-c",
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
                 \x20   z.write(sys.argv[1], 'bootstrap')",
            ])
            .arg(binary)
            .arg(zip)
            .status(),
        None => {
            let staged = options.work_dir.join("bootstrap");
            std::fs::copy(binary, &staged).map_err(|e| format!("{}: {e}", binary.display()))?;
            std::process::Command::new("zip").arg("-q").arg("-j").arg(zip).arg(&staged).status()
        }
    };
    match status {
        Ok(status) if status.success() => Ok(()),
        other => Err(format!("cannot zip {}: {other:?}", binary.display())),
    }
}

// ----- the report ------------------------------------------------------------------------------

/// The sweep's measurements: one target, the organization, and notice.
pub(crate) struct Sweeps {
    pub(crate) one_target: SweepSamples,
    pub(crate) organization: OrganizationSamples,
    pub(crate) notice: NoticeSamples,
}

/// The subjects' samples, found by label.
struct BySubject<'a> {
    subjects: &'a [Subject],
    samples: &'a [Samples],
}

impl BySubject<'_> {
    /// The first subject whose label starts with `label`.
    fn starting(&self, label: &str) -> Option<&Samples> {
        self.subjects.iter().position(|s| s.label.starts_with(label)).map(|i| &self.samples[i])
    }

    /// The subject labelled exactly `label`.
    fn labelled(&self, label: &str) -> Option<&Samples> {
        self.subjects.iter().position(|s| s.label == label).map(|i| &self.samples[i])
    }
}

fn init_median(s: Option<&Samples>) -> Option<Duration> {
    s.and_then(|s| median(&s.init))
}

fn first_median(s: Option<&Samples>) -> Option<Duration> {
    s.and_then(|s| median(&s.first))
}

fn warm_median(s: Option<&Samples>) -> Option<Duration> {
    s.and_then(|s| median(&s.warm))
}

fn warm_p99(s: Option<&Samples>) -> Option<Duration> {
    s.and_then(|s| quantile(&s.warm, 0.99))
}

fn warm_cpu_median(s: Option<&Samples>) -> Option<Duration> {
    s.and_then(|s| median(&s.warm_cpu))
}

fn rss_median(s: Option<&Samples>) -> Option<f64> {
    s.and_then(|s| median_u64(&s.rss_kib)).map(|k| k as f64)
}

/// The whole report: the subjects' timings, the sizes, the targets, where a warm invocation's time
/// goes, many accounts, the sweeps (one target, the organization, notice) and what the work costs.
pub(crate) fn report(
    options: &Options,
    subjects: &[Subject],
    samples: &[Samples],
    floors: &Floors,
    sizes: &[Size],
    sweeps: &Sweeps,
    prices: &Prices,
) -> Report {
    let by_subject = BySubject { subjects, samples };
    let mut md = header(options);
    let (timings, subject_rows) = timing_table(&by_subject, floors);
    md.push_str(&timings);
    md.push_str(&size_table(options, sizes));
    let (targets, mut target_rows) = like_for_like_targets(&by_subject, floors);
    md.push_str(&targets);
    let overhead_us = in_micros(warm_median(by_subject.starting("noop-function")));
    md.push_str(&overhead_target(overhead_us));
    md.push_str(&size_targets(sizes));
    md.push_str(&warm_invocation_parts(&by_subject, floors));
    let (own, other) = (by_subject.labelled(OWN_ACCOUNT), by_subject.labelled(OTHER_ACCOUNT));
    md.push_str(&many_accounts_table(own, other));
    let (many_accounts_target, many_accounts_row) = many_accounts_target(own, other);
    md.push_str(&many_accounts_target);
    target_rows.push(many_accounts_row);
    md.push_str(&sweep_table(&sweeps.one_target));
    let (organization_md, organization_json) = organization_report(&sweeps.organization, &sweeps.one_target);
    md.push_str(&organization_md);
    let (notice_md, notice_json) = notice_report(&sweeps.notice);
    md.push_str(&notice_md);
    let (cost_md, cost_json) = cost_report(prices, &measured_for_cost(&by_subject, &sweeps.organization));
    md.push('\n');
    md.push_str(&cost_md);

    let json = json!({
        "profile": options.profile,
        "rounds": options.rounds,
        "warmPerColdStart": options.warm,
        "subjects": subject_rows,
        "serviceFloor": service_floor_json(floors),
        "sdkFloor": sdk_floor_json(&floors.sdk),
        "sizes": sizes.iter().map(|s| json!({"artifact": s.label, "binaryBytes": s.binary, "zipBytes": s.zip})).collect::<Vec<_>>(),
        "targets": target_rows,
        "runtimeOverheadMicros": overhead_us,
        "manyAccounts": many_accounts_json(own, other),
        "sweep": sweep_json(&sweeps.one_target),
        "organization": organization_json["organization"],
        "notice": notice_json,
        "cost": cost_json,
    });
    Report { markdown: md, json }
}

fn header(options: &Options) -> String {
    format!(
        "Build: {}. {} cold starts per subject, {} warm invocations after each first one. \
         Times in ms: median (p10–p90); warm: median and p99. Emulator over HTTPS (TLS 1.3, RSA 2048).\n\n",
        options.profile, options.rounds, options.warm
    )
}

/// The timing table: a row per subject, then the two floors, which read together; and each
/// subject's numbers as JSON.
fn timing_table(by_subject: &BySubject, floors: &Floors) -> (String, Vec<Value>) {
    let mut md = String::from(
        "| Subject | Init | Init CPU | First invocation | Warm median | Warm p99 | CPU per warm invocation (µs) | Peak RSS (MiB) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut rows = Vec::new();
    for (subject, s) in by_subject.subjects.iter().zip(by_subject.samples) {
        md.push_str(&subject_row(&subject.label, s));
        rows.push(subject_json(&subject.label, s));
    }
    let (floor, handshakes, sdk) = (&floors.service, &floors.handshakes, &floors.sdk);
    md.push_str(&format!(
        "| raw HTTP client (service floor) | connect + TLS {}{} | – | {}{} | {} | {} | – | – |\n",
        ms(median(handshakes)),
        spread(handshakes),
        ms(median(&floor.first)),
        spread(&floor.first),
        ms(median(&floor.warm)),
        ms(quantile(&floor.warm, 0.99)),
    ));
    md.push_str(&format!(
        "| aws-sdk-supplychain call in-process (SDK floor) | – | – | {}{} | {} | {} | – | – |\n\n",
        ms(median(&sdk.first)),
        spread(&sdk.first),
        ms(median(&sdk.warm)),
        ms(quantile(&sdk.warm, 0.99)),
    ));
    (md, rows)
}

fn subject_row(label: &str, s: &Samples) -> String {
    let rss = median_u64(&s.rss_kib).map(|kib| kib as f64 / 1024.0);
    format!(
        "| {} | {}{} | {} | {}{} | {} | {} | {} | {} |\n",
        label,
        ms(median(&s.init)),
        spread(&s.init),
        ms(median(&s.init_cpu)),
        ms(median(&s.first)),
        spread(&s.first),
        ms(median(&s.warm)),
        ms(quantile(&s.warm, 0.99)),
        micros(median(&s.warm_cpu)),
        rss.map(|r| format!("{r:.1}")).unwrap_or_else(|| "–".into()),
    )
}

fn subject_json(label: &str, s: &Samples) -> Value {
    json!({
        "subject": label,
        "initMs": in_ms(median(&s.init)),
        "firstMs": in_ms(median(&s.first)),
        "warmMedianMs": in_ms(median(&s.warm)),
        "warmP99Ms": in_ms(quantile(&s.warm, 0.99)),
        "initCpuMs": in_ms(median(&s.init_cpu)),
        "warmCpuMicros": in_micros(median(&s.warm_cpu)),
        "peakRssKib": median_u64(&s.rss_kib),
        "samples": {"init": s.init.len(), "first": s.first.len(), "warm": s.warm.len()},
    })
}

fn service_floor_json(floors: &Floors) -> Value {
    let floor = &floors.service;
    json!({
        "connectAndTlsMs": in_ms(median(&floors.handshakes)),
        "firstMs": in_ms(median(&floor.first)),
        "warmMedianMs": in_ms(median(&floor.warm)),
        "warmP99Ms": in_ms(quantile(&floor.warm, 0.99)),
    })
}

fn sdk_floor_json(sdk: &Samples) -> Value {
    json!({
        "firstMs": in_ms(median(&sdk.first)),
        "warmMedianMs": in_ms(median(&sdk.warm)),
        "warmP99Ms": in_ms(quantile(&sdk.warm, 0.99)),
    })
}

fn size_table(options: &Options, sizes: &[Size]) -> String {
    let mut md = String::from("| Artifact | Binary (MB) | Zip (MB) |\n|---|---|---|\n");
    for size in sizes {
        md.push_str(&format!("| {} | {:.2} | {:.2} |\n", size.label, size.binary as f64 / 1e6, size.zip as f64 / 1e6));
    }
    if options.aarch64_bin_dir.is_none() {
        md.push_str("| aarch64 | not measured: no `--aarch64-bin-dir` (scripts/bench builds and gives it) | |\n");
    }
    md.push('\n');
    md
}

/// The targets of `delete-instance` measured like for like, each a ratio with its limit; and each
/// as JSON.
fn like_for_like_targets(by_subject: &BySubject, floors: &Floors) -> (String, Vec<Value>) {
    let delete = by_subject.starting("delete-instance");
    let boto3 = by_subject.starting("boto3");
    let noop = by_subject.starting("noop-function");
    let targets = [
        ("Init vs boto3's", ratio(init_median(delete), init_median(boto3)), "≤ 1/50", 1.0 / 50.0),
        ("Init vs the do-nothing function's", ratio(init_median(delete), init_median(noop)), "≤ 2.5", 2.5),
        ("Warm invocation vs the service floor's request", ratio(warm_median(delete), median(&floors.service.warm)), "≤ 1.3", 1.3),
        ("First invocation vs a warm one", ratio(first_median(delete), warm_median(delete)), "≤ 2", 2.0),
        ("Peak RSS vs boto3's", rss_median(delete).zip(rss_median(boto3)).map(|(a, b)| a / b), "≤ 1/5", 0.2),
    ];
    let mut md = String::from("| Target (delete-instance, like for like) | Measured | Target | Met |\n|---|---|---|---|\n");
    let mut rows = Vec::new();
    for (name, value, target, limit) in targets {
        let met = value.map(|v| v <= limit);
        md.push_str(&format!("| {name} | {} | {target} | {} |\n", ratio_text(value), met_text(met)));
        rows.push(json!({"target": name, "measured": value, "met": met}));
    }
    (md, rows)
}

fn overhead_target(overhead_us: Option<f64>) -> String {
    format!(
        "| Runtime's own per-invocation overhead (do-nothing function, warm) | {} µs | < 150 µs | {} |\n",
        overhead_us.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into()),
        met_text(overhead_us.map(|v| v < 150.0))
    )
}

/// The same size targets for each architecture built; aarch64 (arm64) is the one template.yaml deploys.
fn size_targets(sizes: &[Size]) -> String {
    let mut md = String::new();
    for (arch, zip_row) in [("x86_64", "Zip"), ("aarch64", "Zip (aarch64)")] {
        if let Some(size) = sizes.iter().find(|s| s.label == format!("delete-instance ({arch})")) {
            let (mb, zip) = (size.binary as f64 / 1e6, size.zip as f64 / 1e6);
            md.push_str(&format!("| Stripped {arch} binary | {mb:.2} MB | < 7.5 MB | {} |\n", met_text(Some(mb < 7.5))));
            md.push_str(&format!("| {zip_row} | {zip:.2} MB | < 3.2 MB | {} |\n", met_text(Some(zip < 3.2))));
        }
    }
    md
}

/// Where a warm invocation's time goes: the runtime's round trip (the do-nothing function's warm
/// invocation) and the SDK call, each measured on its own; the rest is the handler's own work.
fn warm_invocation_parts(by_subject: &BySubject, floors: &Floors) -> String {
    let delete = warm_median(by_subject.starting("delete-instance"));
    let service = median(&floors.service.warm);
    let parts = [
        ("Runtime floor (do-nothing function, warm)", warm_median(by_subject.starting("noop-function"))),
        ("SDK floor (the DeleteInstance call in-process, warm)", median(&floors.sdk.warm)),
    ];
    let sum = parts.iter().map(|(_, d)| *d).sum::<Option<Duration>>();
    let mut md = String::from("\n| A warm `delete-instance` invocation | ms | × the service floor's request |\n|---|---|---|\n");
    for (name, value) in parts.iter().copied().chain([("Sum of the two floors", sum), ("Measured (like for like)", delete)]) {
        md.push_str(&format!("| {name} | {} | {} |\n", ms(value), ratio_text(ratio(value, service))));
    }
    md.push_str(&format!(
        "| Service floor (the raw request) | {} | 1 |\n\nMeasured ÷ the sum of the two floors: {}.\n",
        ms(service),
        ratio_text(ratio(delete, sum))
    ));
    md
}

/// Many accounts: the same request naming the function's own account (`own`) and another one
/// (`other`). The other account's first invocation assumes the member role (one AssumeRole,
/// checked per process); its warm invocations use the client kept for that account.
fn many_accounts_table(own: Option<&Samples>, other: Option<&Samples>) -> String {
    let first_with_spread = |s: Option<&Samples>| format!("{}{}", ms(first_median(s)), s.map(|s| spread(&s.first)).unwrap_or_default());
    let cpu_difference = warm_cpu_median(other)
        .zip(warm_cpu_median(own))
        .map_or("–".into(), |(a, b)| format!("{:+.0}", (a.as_secs_f64() - b.as_secs_f64()) * 1e6));
    let rows = [
        (
            "First invocation (another account: assumes the member role)",
            first_with_spread(own),
            first_with_spread(other),
            difference_ms(first_median(other), first_median(own)),
        ),
        (
            "Warm median (another account: its client kept)",
            ms(warm_median(own)),
            ms(warm_median(other)),
            difference_ms(warm_median(other), warm_median(own)),
        ),
        ("Warm p99", ms(warm_p99(own)), ms(warm_p99(other)), difference_ms(warm_p99(other), warm_p99(own))),
        ("CPU per warm invocation (µs)", micros(warm_cpu_median(own)), micros(warm_cpu_median(other)), cpu_difference),
    ];
    let mut md = String::from(
        "\n| Many accounts: delete-instance, `{\"instanceId\", \"accountId\"}`, one DeleteInstance call | Own account named | \
         Another account | Difference |\n|---|---|---|---|\n",
    );
    for (name, own, other, difference) in rows {
        md.push_str(&format!("| {name} | {own} | {other} | {difference} |\n"));
    }
    md.push_str(&format!("| AssumeRole calls per process | {} | {} | |\n", assume_roles_text(own), assume_roles_text(other)));
    md
}

/// The AssumeRole calls of each process: the count, when every process made the same.
fn assume_roles_text(s: Option<&Samples>) -> String {
    match s {
        Some(s) if s.assume_roles.windows(2).all(|w| w[0] == w[1]) => {
            s.assume_roles.first().map(|n| format!("{n} in each of {}", s.assume_roles.len())).unwrap_or_else(|| "–".into())
        }
        Some(s) => format!("{:?}", s.assume_roles),
        None => "–".into(),
    }
}

const KEPT_CLIENT_TARGET: &str = "Warm invocation in another account (client kept) vs in its own";

/// The many-accounts target, and its row of the targets' JSON.
fn many_accounts_target(own: Option<&Samples>, other: Option<&Samples>) -> (String, Value) {
    let kept = ratio(warm_median(other), warm_median(own));
    let met = kept.map(|r| r <= 1.15);
    let md = format!(
        "\n| Target (many accounts) | Measured | Target | Met |\n|---|---|---|---|\n| {KEPT_CLIENT_TARGET} | {} | ≤ 1.15 | {} |\n",
        kept.map(|r| format!("{r:.2}")).unwrap_or_else(|| "–".into()),
        met_text(met),
    );
    (md, json!({"target": KEPT_CLIENT_TARGET, "measured": kept, "met": met}))
}

fn many_accounts_json(own: Option<&Samples>, other: Option<&Samples>) -> Value {
    json!({
        "ownAccount": {"firstMs": in_ms(first_median(own)), "warmMedianMs": in_ms(warm_median(own))},
        "otherAccount": {"firstMs": in_ms(first_median(other)), "warmMedianMs": in_ms(warm_median(other))},
        "firstDifferenceMs": first_median(other).zip(first_median(own)).map(|(a, b)| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0),
        "warmRatio": ratio(warm_median(other), warm_median(own)),
        "assumeRolesPerProcess": other.map(|s| s.assume_roles.clone()),
    })
}

/// The sweep of [`SWEEP_FLEET`] instances in one target: its first run, and the later ones.
fn sweep_table(sweep: &SweepSamples) -> String {
    let later = after_first(&sweep.runs);
    let calls =
        format!("{} | {} | {} | {}", sweep.calls_of("ListInstances"), sweep.calls_of("ListTagsForResource"), sweep.puts, sweep.selected);
    format!(
        "\n| Sweep of {SWEEP_FLEET} instances, report mode (emulator over HTTP) | ms | ListInstances | ListTagsForResource | PutEvents | Selected |\n\
         |---|---|---|---|---|---|\n\
         | sweep-instances, first run | {} | {calls} |\n\
         | sweep-instances, later runs | {}{} | {calls} |\n",
        ms(sweep.runs.first().copied()),
        ms(median(later)),
        spread(later),
    )
}

fn sweep_json(sweep: &SweepSamples) -> Value {
    json!({
        "instances": SWEEP_FLEET,
        "firstRunMs": in_ms(sweep.runs.first().copied()),
        "laterRunsMedianMs": in_ms(median(after_first(&sweep.runs))),
        "callsPerRun": sweep.calls.iter().map(|(o, n)| (o.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "putEventsPerRun": sweep.puts,
    })
}

/// What the cost is computed from. Warm: the median warm invocation; cold: init and the first
/// invocation, which Lambda bills together.
fn measured_for_cost<'a>(by_subject: &BySubject, organization: &'a OrganizationSamples) -> Measured<'a> {
    let invocation = |label: &str| {
        by_subject.starting(label).and_then(|s| Some(Invocation { warm: median(&s.warm)?, cold: median(&s.init)? + median(&s.first)? }))
    };
    Measured {
        delete: invocation("delete-instance (default"),
        check: invocation("check-instance-status"),
        boto3: invocation("boto3 peer"),
        organization,
    }
}
