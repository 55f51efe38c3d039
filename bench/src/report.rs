//! Sizes of the binaries and zips, the statistics, and the report's table.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::*;

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

pub(crate) fn sorted(values: &[Duration]) -> Vec<Duration> {
    let mut values = values.to_vec();
    values.sort();
    values
}

/// The value at quantile `q` (nearest rank).
pub(crate) fn quantile(values: &[Duration], q: f64) -> Option<Duration> {
    let values = sorted(values);
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

pub(crate) fn median(values: &[Duration]) -> Option<Duration> {
    quantile(values, 0.5)
}

pub(crate) fn micros(value: Option<Duration>) -> String {
    value.map(|d| format!("{:.0}", d.as_secs_f64() * 1e6)).unwrap_or_else(|| "–".to_owned())
}

pub(crate) fn ms(value: Option<Duration>) -> String {
    match value {
        None => "–".to_owned(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 10.0 {
                format!("{ms:.3}")
            } else if ms < 100.0 {
                format!("{ms:.2}")
            } else {
                format!("{ms:.1}")
            }
        }
    }
}

pub(crate) fn spread(values: &[Duration]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    format!(" ({}–{})", ms(quantile(values, 0.1)), ms(quantile(values, 0.9)))
}

/// `a - b` in ms, signed (`+0.812`, `-0.031`).
pub(crate) fn difference_ms(a: Option<Duration>, b: Option<Duration>) -> String {
    match a.zip(b) {
        None => "–".to_owned(),
        Some((a, b)) => format!("{:+.3}", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0),
    }
}

pub(crate) fn median_u64(values: &[u64]) -> Option<u64> {
    let mut values = values.to_vec();
    values.sort();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

pub(crate) fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(a?.as_secs_f64() / b?.as_secs_f64())
}

pub(crate) fn ratio_text(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(r) if r < 1.0 && r > 0.0 => format!("{r:.3} (1/{:.0})", 1.0 / r),
        Some(r) => format!("{r:.2}"),
    }
}

/// The sweep's measurements: one target, the organization, and notice.
pub(crate) struct Sweeps {
    pub(crate) one_target: SweepSamples,
    pub(crate) organization: OrganizationSamples,
    pub(crate) notice: NoticeSamples,
}

pub(crate) fn report(
    options: &Options,
    subjects: &[Subject],
    samples: &[Samples],
    floors: &Floors,
    sizes: &[Size],
    sweeps: &Sweeps,
    prices: &crate::cost::Prices,
) -> Report {
    let sweep = &sweeps.one_target;
    let (floor, handshakes, sdk) = (&floors.service, &floors.handshakes, &floors.sdk);
    let mut md = String::new();
    let find = |label: &str| subjects.iter().position(|s| s.label.starts_with(label)).map(|i| &samples[i]);
    md.push_str(&format!(
        "Build: {}. {} cold starts per subject, {} warm invocations after each first one. \
         Times in ms: median (p10–p90); warm: median and p99. Emulator over HTTPS (TLS 1.3, RSA 2048).\n\n",
        options.profile, options.rounds, options.warm
    ));
    md.push_str(
        "| Subject | Init | Init CPU | First invocation | Warm median | Warm p99 | CPU per warm invocation (µs) | Peak RSS (MiB) |\n",
    );
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for (subject, s) in subjects.iter().zip(samples) {
        let rss = median_u64(&s.rss_kib).map(|kib| kib as f64 / 1024.0);
        md.push_str(&format!(
            "| {} | {}{} | {} | {}{} | {} | {} | {} | {} |\n",
            subject.label,
            ms(median(&s.init)),
            spread(&s.init),
            ms(median(&s.init_cpu)),
            ms(median(&s.first)),
            spread(&s.first),
            ms(median(&s.warm)),
            ms(quantile(&s.warm, 0.99)),
            micros(median(&s.warm_cpu)),
            rss.map(|r| format!("{r:.1}")).unwrap_or_else(|| "–".into()),
        ));
        rows.push(json!({
            "subject": subject.label,
            "initMs": median(&s.init).map(|d| d.as_secs_f64() * 1000.0),
            "firstMs": median(&s.first).map(|d| d.as_secs_f64() * 1000.0),
            "warmMedianMs": median(&s.warm).map(|d| d.as_secs_f64() * 1000.0),
            "warmP99Ms": quantile(&s.warm, 0.99).map(|d| d.as_secs_f64() * 1000.0),
            "initCpuMs": median(&s.init_cpu).map(|d| d.as_secs_f64() * 1000.0),
            "warmCpuMicros": median(&s.warm_cpu).map(|d| d.as_secs_f64() * 1e6),
            "peakRssKib": median_u64(&s.rss_kib),
            "samples": {"init": s.init.len(), "first": s.first.len(), "warm": s.warm.len()},
        }));
    }
    md.push_str(&format!(
        "| raw HTTP client (service floor) | connect + TLS {}{} | – | {}{} | {} | {} | – | – |\n\n",
        ms(median(handshakes)),
        spread(handshakes),
        ms(median(&floor.first)),
        spread(&floor.first),
        ms(median(&floor.warm)),
        ms(quantile(&floor.warm, 0.99)),
    ));
    // The table above ends with the service floor; the SDK floor goes just before that row's
    // blank line, so both floors read together.
    md.truncate(md.len() - 1);
    md.push_str(&format!(
        "| aws-sdk-supplychain call in-process (SDK floor) | – | – | {}{} | {} | {} | – | – |\n\n",
        ms(median(&sdk.first)),
        spread(&sdk.first),
        ms(median(&sdk.warm)),
        ms(quantile(&sdk.warm, 0.99)),
    ));

    md.push_str("| Artifact | Binary (MB) | Zip (MB) |\n|---|---|---|\n");
    for size in sizes {
        md.push_str(&format!("| {} | {:.2} | {:.2} |\n", size.label, size.binary as f64 / 1e6, size.zip as f64 / 1e6));
    }
    if options.aarch64_bin_dir.is_none() {
        md.push_str("| aarch64 | not measured: no `--aarch64-bin-dir` (scripts/bench builds and gives it) | |\n");
    }
    md.push('\n');

    let delete = find("delete-instance");
    let boto3 = find("boto3");
    let noop = find("noop-function");
    let init = |s: Option<&Samples>| s.and_then(|s| median(&s.init));
    let warm = |s: Option<&Samples>| s.and_then(|s| median(&s.warm));
    let first = |s: Option<&Samples>| s.and_then(|s| median(&s.first));
    let rss = |s: Option<&Samples>| s.and_then(|s| median_u64(&s.rss_kib)).map(|k| k as f64);
    let size_of = |label: &str| sizes.iter().find(|s| s.label == label);
    let mut targets = vec![
        ("Init vs boto3's", ratio(init(delete), init(boto3)), "≤ 1/50", 1.0 / 50.0),
        ("Init vs the do-nothing function's", ratio(init(delete), init(noop)), "≤ 2.5", 2.5),
        ("Warm invocation vs the service floor's request", ratio(warm(delete), median(&floor.warm)), "≤ 1.3", 1.3),
        ("First invocation vs a warm one", ratio(first(delete), warm(delete)), "≤ 2", 2.0),
        ("Peak RSS vs boto3's", rss(delete).zip(rss(boto3)).map(|(a, b)| a / b), "≤ 1/5", 0.2),
    ];
    let overhead_us = warm(noop).map(|d| d.as_secs_f64() * 1e6);
    let mut check_rows = Vec::new();
    md.push_str("| Target (delete-instance, like for like) | Measured | Target | Met |\n|---|---|---|---|\n");
    for (name, value, target, limit) in targets.drain(..) {
        let met = |v: f64| v <= limit;
        md.push_str(&format!(
            "| {name} | {} | {target} | {} |\n",
            ratio_text(value),
            value.map(|v| if met(v) { "yes" } else { "no" }).unwrap_or("–")
        ));
        check_rows.push(json!({"target": name, "measured": value, "met": value.map(met)}));
    }
    md.push_str(&format!(
        "| Runtime's own per-invocation overhead (do-nothing function, warm) | {} µs | < 150 µs | {} |\n",
        overhead_us.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into()),
        overhead_us.map(|v| if v < 150.0 { "yes" } else { "no" }).unwrap_or("–")
    ));
    // The same size targets for each architecture built; aarch64 (arm64) is the one template.yaml deploys.
    for (arch, zip_row) in [("x86_64", "Zip"), ("aarch64", "Zip (aarch64)")] {
        if let Some(size) = size_of(&format!("delete-instance ({arch})")) {
            let (mb, zip) = (size.binary as f64 / 1e6, size.zip as f64 / 1e6);
            md.push_str(&format!("| Stripped {arch} binary | {mb:.2} MB | < 7.5 MB | {} |\n", if mb < 7.5 { "yes" } else { "no" }));
            md.push_str(&format!("| {zip_row} | {zip:.2} MB | < 3.2 MB | {} |\n", if zip < 3.2 { "yes" } else { "no" }));
        }
    }

    // Where a warm invocation's time goes: the runtime's round trip (the do-nothing function's warm
    // invocation) and the SDK call, each measured on its own; the rest is the handler's own work.
    let parts = [
        ("Runtime floor (do-nothing function, warm)", warm(noop)),
        ("SDK floor (the DeleteInstance call in-process, warm)", median(&sdk.warm)),
    ];
    let sum = parts.iter().map(|(_, d)| *d).sum::<Option<Duration>>();
    md.push_str("\n| A warm `delete-instance` invocation | ms | × the service floor's request |\n|---|---|---|\n");
    for (name, value) in parts.iter().copied().chain([("Sum of the two floors", sum), ("Measured (like for like)", warm(delete))]) {
        md.push_str(&format!("| {name} | {} | {} |\n", ms(value), ratio_text(ratio(value, median(&floor.warm)))));
    }
    md.push_str(&format!(
        "| Service floor (the raw request) | {} | 1 |\n\nMeasured ÷ the sum of the two floors: {}.\n",
        ms(median(&floor.warm)),
        ratio_text(ratio(warm(delete), sum))
    ));

    // Many accounts: the same request naming the function's own account and another one. The
    // other account's first invocation assumes the member role (one AssumeRole, checked per
    // process); its warm invocations use the client kept for that account.
    let own = subjects.iter().position(|s| s.label == OWN_ACCOUNT).map(|i| &samples[i]);
    let other = subjects.iter().position(|s| s.label == OTHER_ACCOUNT).map(|i| &samples[i]);
    let warm_p99 = |s: Option<&Samples>| s.and_then(|s| quantile(&s.warm, 0.99));
    let warm_cpu = |s: Option<&Samples>| s.and_then(|s| median(&s.warm_cpu));
    let spread_of = |s: Option<&Samples>, of: fn(&Samples) -> &Vec<Duration>| s.map(|s| spread(of(s))).unwrap_or_default();
    let assumed = |s: Option<&Samples>| match s {
        Some(s) if s.assume_roles.windows(2).all(|w| w[0] == w[1]) => {
            s.assume_roles.first().map(|n| format!("{n} in each of {}", s.assume_roles.len())).unwrap_or_else(|| "–".into())
        }
        Some(s) => format!("{:?}", s.assume_roles),
        None => "–".into(),
    };
    md.push_str(&format!(
        "\n| Many accounts: delete-instance, `{{\"instanceId\", \"accountId\"}}`, one DeleteInstance call | Own account named | \
         Another account | Difference |\n|---|---|---|---|\n\
         | First invocation (another account: assumes the member role) | {}{} | {}{} | {} |\n\
         | Warm median (another account: its client kept) | {} | {} | {} |\n\
         | Warm p99 | {} | {} | {} |\n\
         | CPU per warm invocation (µs) | {} | {} | {} |\n\
         | AssumeRole calls per process | {} | {} | |\n",
        ms(first(own)),
        spread_of(own, |s| &s.first),
        ms(first(other)),
        spread_of(other, |s| &s.first),
        difference_ms(first(other), first(own)),
        ms(warm(own)),
        ms(warm(other)),
        difference_ms(warm(other), warm(own)),
        ms(warm_p99(own)),
        ms(warm_p99(other)),
        difference_ms(warm_p99(other), warm_p99(own)),
        micros(warm_cpu(own)),
        micros(warm_cpu(other)),
        warm_cpu(other).zip(warm_cpu(own)).map_or("–".into(), |(a, b)| format!("{:+.0}", (a.as_secs_f64() - b.as_secs_f64()) * 1e6)),
        assumed(own),
        assumed(other),
    ));
    let cached = ratio(warm(other), warm(own));
    let cached_met = cached.map(|r| r <= 1.15);
    let cached_name = "Warm invocation in another account (client kept) vs in its own";
    md.push_str(&format!(
        "\n| Target (many accounts) | Measured | Target | Met |\n|---|---|---|---|\n| {cached_name} | {} | ≤ 1.15 | {} |\n",
        cached.map(|r| format!("{r:.2}")).unwrap_or_else(|| "–".into()),
        cached_met.map(|met| if met { "yes" } else { "no" }).unwrap_or("–"),
    ));
    check_rows.push(json!({"target": cached_name, "measured": cached, "met": cached_met}));
    let many_accounts = json!({
        "ownAccount": {"firstMs": first(own).map(|d| d.as_secs_f64() * 1000.0), "warmMedianMs": warm(own).map(|d| d.as_secs_f64() * 1000.0)},
        "otherAccount": {"firstMs": first(other).map(|d| d.as_secs_f64() * 1000.0), "warmMedianMs": warm(other).map(|d| d.as_secs_f64() * 1000.0)},
        "firstDifferenceMs": first(other).zip(first(own)).map(|(a, b)| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0),
        "warmRatio": cached,
        "assumeRolesPerProcess": other.map(|s| s.assume_roles.clone()),
    });

    let calls_of = |operation: &str| sweep.calls.iter().find(|(o, _)| o == operation).map_or(0, |(_, n)| *n);
    let later = &sweep.runs[sweep.runs.len().min(1)..];
    md.push_str(&format!(
        "\n| Sweep of {SWEEP_FLEET} instances, report mode (emulator over HTTP) | ms | ListInstances | ListTagsForResource | PutEvents | Selected |\n\
         |---|---|---|---|---|---|\n\
         | sweep-instances, first run | {} | {} | {} | {} | {} |\n\
         | sweep-instances, later runs | {}{} | {} | {} | {} | {} |\n",
        ms(sweep.runs.first().copied()),
        calls_of("ListInstances"),
        calls_of("ListTagsForResource"),
        sweep.puts,
        sweep.selected,
        ms(median(later)),
        spread(later),
        calls_of("ListInstances"),
        calls_of("ListTagsForResource"),
        sweep.puts,
        sweep.selected,
    ));

    let (organization_md, organization_json) = organization_report(&sweeps.organization, sweep);
    md.push_str(&organization_md);
    let (notice_md, notice_json) = notice_report(&sweeps.notice);
    md.push_str(&notice_md);
    // Warm: the median warm invocation; cold: init and the first invocation, which Lambda bills together.
    let invocation = |label: &str| {
        find(label).and_then(|s| Some(crate::cost::Invocation { warm: median(&s.warm)?, cold: median(&s.init)? + median(&s.first)? }))
    };
    let measured = crate::cost::Measured {
        delete: invocation("delete-instance (default"),
        check: invocation("check-instance-status"),
        boto3: invocation("boto3 peer"),
        organization: &sweeps.organization,
    };
    let (cost_md, cost_json) = crate::cost::cost_report(prices, &measured);
    md.push('\n');
    md.push_str(&cost_md);

    let json = json!({
        "profile": options.profile,
        "rounds": options.rounds,
        "warmPerColdStart": options.warm,
        "subjects": rows,
        "serviceFloor": {
            "connectAndTlsMs": median(handshakes).map(|d| d.as_secs_f64() * 1000.0),
            "firstMs": median(&floor.first).map(|d| d.as_secs_f64() * 1000.0),
            "warmMedianMs": median(&floor.warm).map(|d| d.as_secs_f64() * 1000.0),
            "warmP99Ms": quantile(&floor.warm, 0.99).map(|d| d.as_secs_f64() * 1000.0),
        },
        "sdkFloor": {
            "firstMs": median(&sdk.first).map(|d| d.as_secs_f64() * 1000.0),
            "warmMedianMs": median(&sdk.warm).map(|d| d.as_secs_f64() * 1000.0),
            "warmP99Ms": quantile(&sdk.warm, 0.99).map(|d| d.as_secs_f64() * 1000.0),
        },
        "sizes": sizes.iter().map(|s| json!({"artifact": s.label, "binaryBytes": s.binary, "zipBytes": s.zip})).collect::<Vec<_>>(),
        "targets": check_rows,
        "runtimeOverheadMicros": overhead_us,
        "manyAccounts": many_accounts,
        "sweep": {
            "instances": SWEEP_FLEET,
            "firstRunMs": sweep.runs.first().map(|d| d.as_secs_f64() * 1000.0),
            "laterRunsMedianMs": median(later).map(|d| d.as_secs_f64() * 1000.0),
            "callsPerRun": sweep.calls.iter().map(|(o, n)| (o.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "putEventsPerRun": sweep.puts,
        },
        "organization": organization_json["organization"],
        "notice": notice_json,
        "cost": cost_json,
    });
    Report { markdown: md, json }
}
