//! `bench`: runs the benchmark (see the library's documentation and BENCHMARKS.md), prints the
//! table and writes it, with the machine it ran on, to a results file (and every number to JSON
//! beside it). `scripts/bench` builds everything and runs this with the release binaries.

use std::path::{Path, PathBuf};

use supplychain_bench::{run, Only, Options, Report};

const HELP: &str = "\
bench: cold start, invocations, memory and size of the functions, beside a boto3 peer and the floors;
the sweep of one target, of an organization and with notice, each run's calls checked; what the work
costs at the list prices of BENCHMARKS.md

USAGE:
    bench [OPTIONS]

OPTIONS:
    --bin-dir DIR          the function binaries (default: this executable's directory)
    --profile NAME         which build they are, for the report (default: the directory's name)
    --python PATH          Python with boto3 and awslambdaric (default: .venv/bin/python if present)
    --handler-dir DIR      directory of the Python handler (default: bench/python)
    --rounds N             cold starts of each subject (default 15)
    --warm N               warm invocations after each first one (default 100)
    --levers               also run the variants that measure each lever
    --quick                a short run: 2 rounds of 5 warm invocations
    --variant LABEL=DIR    also run DIR/delete-instance (another build of it) as subject LABEL
    --aarch64-bin-dir DIR  aarch64 binaries, for their sizes
    --results FILE         where to write the table (default bench/results/latest.md, with --only SUBJECT
                           bench/results/SUBJECT.md; JSON beside it)
    --org-accounts N       member accounts of the organization sweep, each in 2 regions (default 20)
    --org-instances N      instances in each of its targets (default 50)
    --org-cap N            its cap on deletion requests, delete mode (default 25)
    --notice-instances N   instances of the notice subject, all expired (default 500)
    --prices FILE          the Markdown whose price table prices the work (default BENCHMARKS.md)
    --only notice          run the notice subject alone (needs sweep-instances only), its table only
    --only organization-scale
                           the organization sweep's plan and summary alone, at each size of
                           --scale-targets, their plan and results in moto's S3 (moto_server beside
                           --python); its table and the S3 requests' cost only
    --scale-targets N,...  its sizes in targets, each a multiple of 5 (default 1000,10000,100000)
    --only soak            the whole pipeline under load, faults and crashes at fault rates of 0, 5 and
                           20 %, each run's verdict checked (needs delete-instance and
                           check-instance-status, and --python with the test tools); its table only
    --soak-requests N      the soak's requests at each rate (default 2000)
    -h, --help             print this help
";

fn fail(message: &str) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(2);
}

/// The machine, as the report states it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| text.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| text.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cpu}, {cores} cores, {memory} RAM, Linux {}; load average at start {}", kernel.trim(), load.join(" "))
}

#[tokio::main]
async fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default();
    let mut options = default_options(&repo);
    let results = match parse_args(&mut options, std::env::args().skip(1)) {
        Parsed::Help => {
            print!("{HELP}");
            return;
        }
        Parsed::Run { results } => results,
    };
    make_paths_absolute(&mut options);
    if options.profile.is_empty() {
        options.profile = options.bin_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    }
    let results = results.unwrap_or_else(|| {
        repo.join(match options.only {
            Some(Only::Notice) => "bench/results/notice.md",
            Some(Only::OrganizationScale) => "bench/results/organization-scale.md",
            Some(Only::Soak) => "bench/results/soak.md",
            None => "bench/results/latest.md",
        })
    });
    let machine = machine();
    let report = run(&options).await.unwrap_or_else(|e| fail(&e));
    let _ = std::fs::remove_dir_all(&options.work_dir);
    write_results(&results, &machine, report);
}

/// The options before the command line: the binaries beside this executable, the project's venv
/// and BENCHMARKS.md.
fn default_options(repo: &Path) -> Options {
    let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)).unwrap_or_default();
    let venv_python = repo.join(".venv/bin/python");
    Options {
        bin_dir: exe_dir,
        profile: String::new(),
        python: venv_python.is_file().then_some(venv_python),
        handler_dir: repo.join("bench/python"),
        rounds: 15,
        warm: 100,
        levers: false,
        variants: Vec::new(),
        aarch64_bin_dir: None,
        work_dir: std::env::temp_dir().join(format!("supplychain-bench-{}", std::process::id())),
        org_accounts: 20,
        org_instances: 50,
        org_cap: 25,
        notice_instances: 500,
        prices: repo.join("BENCHMARKS.md"),
        only: None,
        scale_targets: vec![1_000, 10_000, 100_000],
        soak_requests: 2_000,
    }
}

/// What the command line asks for.
enum Parsed {
    Help,
    /// A run, its results written to the file given, if one was.
    Run {
        results: Option<PathBuf>,
    },
}

/// Reads the command line into `options`; exits on an argument it does not know.
fn parse_args(options: &mut Options, mut args: impl Iterator<Item = String>) -> Parsed {
    let mut results = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{arg} needs a value")));
        let number = |v: String| v.parse::<usize>().unwrap_or_else(|_| fail(&format!("expected a number, got '{v}'")));
        match arg.as_str() {
            "--bin-dir" => options.bin_dir = PathBuf::from(value()),
            "--profile" => options.profile = value(),
            "--python" => options.python = Some(PathBuf::from(value())),
            "--handler-dir" => options.handler_dir = PathBuf::from(value()),
            "--rounds" => options.rounds = number(value()).max(1),
            "--warm" => options.warm = number(value()).max(1),
            "--levers" => options.levers = true,
            "--quick" => {
                options.rounds = 2;
                options.warm = 5;
            }
            "--aarch64-bin-dir" => options.aarch64_bin_dir = Some(PathBuf::from(value())),
            "--variant" => {
                let v = value();
                let (label, dir) = v.split_once('=').unwrap_or_else(|| fail(&format!("--variant expects LABEL=DIR, got '{v}'")));
                options.variants.push((label.to_owned(), PathBuf::from(dir)));
            }
            "--results" => results = Some(PathBuf::from(value())),
            "--org-accounts" => options.org_accounts = number(value()).max(1),
            "--org-instances" => options.org_instances = number(value()),
            "--org-cap" => options.org_cap = number(value()),
            "--notice-instances" => options.notice_instances = number(value()).max(1),
            "--prices" => options.prices = PathBuf::from(value()),
            "--only" => options.only = Some(Only::parse(&value()).unwrap_or_else(|e| fail(&e))),
            "--scale-targets" => options.scale_targets = scale_targets(&value()),
            "--soak-requests" => options.soak_requests = number(value()).max(10),
            "-h" | "--help" => return Parsed::Help,
            other => fail(&format!("unknown argument '{other}' (see --help)")),
        }
    }
    Parsed::Run { results }
}

/// The sizes of `--scale-targets`: each a whole number of accounts in the five regions.
fn scale_targets(list: &str) -> Vec<usize> {
    let regions = supplychain_bench::SCALE_REGIONS.len();
    list.split(',')
        .map(|size| match size.trim().parse::<usize>() {
            Ok(targets) if targets > 0 && targets % regions == 0 => targets,
            _ => fail(&format!("--scale-targets takes sizes that are multiples of {regions} (accounts x {regions} regions), got '{size}'")),
        })
        .collect()
}

/// The Python peer runs in the handler's directory: every path must stand on its own (links are
/// kept: the venv's python finds its packages through its own path).
fn make_paths_absolute(options: &mut Options) {
    let absolute = |path: &PathBuf| std::path::absolute(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    options.bin_dir = absolute(&options.bin_dir);
    options.handler_dir = absolute(&options.handler_dir);
    options.python = options.python.as_ref().map(absolute);
    options.aarch64_bin_dir = options.aarch64_bin_dir.as_ref().map(absolute);
    options.variants = options.variants.iter().map(|(label, dir)| (label.clone(), absolute(dir))).collect();
}

/// Prints the report and writes it, with the machine and the command, to `results`, and its
/// numbers to the JSON beside it.
fn write_results(results: &Path, machine: &str, report: Report) {
    let command: Vec<String> = std::env::args().collect();
    let text = format!("Machine: {machine}.\nCommand: `{}`.\n\n{}", command.join(" "), report.markdown);
    println!("{text}");
    if let Some(dir) = results.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(results, &text).unwrap_or_else(|e| fail(&format!("{}: {e}", results.display())));
    let mut json = report.json;
    json["machine"] = machine.into();
    std::fs::write(results.with_extension("json"), serde_json::to_string_pretty(&json).unwrap_or_default())
        .unwrap_or_else(|e| fail(&format!("{}: {e}", results.display())));
    eprintln!("bench: results written to {}", results.display());
}
