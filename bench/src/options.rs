//! The benchmark's settings: what the command line chooses ([`Options`], [`Only`]), and what every
//! run holds fixed (the sweep's fleet, the member account and its role, the credentials).

use std::path::PathBuf;

/// The instances of the sweep's fleet: 25 pages of ListInstances.
pub const SWEEP_FLEET: usize = 500;
/// The other account of the many-accounts subjects, whose member role trusts the home account.
pub const MEMBER: &str = "210987654321";
/// The member role's name, the functions' default (`MEMBER_ROLE_NAME`).
pub(crate) const MEMBER_ROLE: &str = "SupplyChainInstanceDeletion";
/// The emulator runs without credentials: it checks the form of each signature, not its value.
pub(crate) const ACCESS_KEY_ID: &str = "AKIABENCHMARK0000001";
pub(crate) const SECRET_ACCESS_KEY: &str = "bench/secret/key/for/the/local/emulator";

/// What to run and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `delete-instance`, `check-instance-status`, `sweep-instances`, `noop-function` and
    /// `delete-instance-multi-thread` are.
    pub bin_dir: PathBuf,
    /// Which build they are (`release` or `debug`), for the report.
    pub profile: String,
    /// The Python with `boto3` and `awslambdaric` (the project's `.venv/bin/python`); without it the
    /// boto3 peer is left out and zips are made with the `zip` command.
    pub python: Option<PathBuf>,
    /// The directory of `handler.py`.
    pub handler_dir: PathBuf,
    /// Cold starts of each subject (rounds).
    pub rounds: usize,
    /// Warm invocations after the first one, in each cold start.
    pub warm: usize,
    /// Also run the variants that measure each lever (runtime flavour, trust store, connection at init).
    pub levers: bool,
    /// Other builds of `delete-instance` to run beside the main one (label, directory), for
    /// instance with another `opt-level`.
    pub variants: Vec<(String, PathBuf)>,
    /// Where aarch64 binaries are, when the toolchain could build them.
    pub aarch64_bin_dir: Option<PathBuf>,
    /// Scratch directory (certificates, zips, logs).
    pub work_dir: PathBuf,
    /// The organization sweep's member accounts (each in two regions).
    pub org_accounts: usize,
    /// Instances in each of the organization's targets.
    pub org_instances: usize,
    /// The cap of the organization sweep's runs (delete mode).
    pub org_cap: usize,
    /// Instances of the notice subject.
    pub notice_instances: usize,
    /// The Markdown file whose price table the cost is computed with (BENCHMARKS.md).
    pub prices: PathBuf,
    /// One subject to run alone, with its table only; `None` runs them all.
    pub only: Option<Only>,
    /// The organization sweep's plan and summary at scale (`--only organization-scale`): the
    /// targets of each size measured, each [`SCALE_REGIONS`] regions of `targets / 5` accounts.
    pub scale_targets: Vec<usize>,
    /// The soak's requests at each fault rate (`--only soak`).
    pub soak_requests: usize,
}

/// The regions of every account in the plan and summary at scale: the function's own and four
/// others, so that a size of N targets is N / 5 accounts.
pub const SCALE_REGIONS: [&str; 5] = ["us-east-1", "eu-west-1", "eu-central-1", "us-west-2", "ap-southeast-2"];

/// A subject that can run alone (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// The notice before deletion: day 0, day 3 and day 8, each against report mode on its fleet.
    Notice,
    /// The organization sweep's plan and summary at 1,000 to 100,000 targets, their plan and
    /// results in moto's S3.
    OrganizationScale,
    /// The whole pipeline under load, faults and crashes, at three fault rates (BENCHMARKS.md, "Soak").
    Soak,
}

impl Only {
    /// The subject named `name` on the command line.
    pub fn parse(name: &str) -> Result<Only, String> {
        match name {
            "notice" => Ok(Only::Notice),
            "organization-scale" => Ok(Only::OrganizationScale),
            "soak" => Ok(Only::Soak),
            other => Err(format!("--only takes `notice`, `organization-scale` or `soak`, the subjects that run alone; got '{other}'")),
        }
    }
}
