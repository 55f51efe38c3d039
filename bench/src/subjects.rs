//! The subjects: the function processes the benchmark measures, and what each is given.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use supplychain_emulator::Emulator;

use supplychain_testkit::{ACCOUNT, CHECK_ARN, DELETE_ARN, REGION};

use crate::options::{Options, MEMBER};

/// A function process to measure.
pub(crate) struct Subject {
    pub(crate) label: String,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) function_name: &'static str,
    pub(crate) function_arn: &'static str,
    pub(crate) event: fn(&str) -> Value,
    /// What a successful answer must contain, checked on every invocation.
    pub(crate) check: fn(&Value) -> bool,
    /// The account its instances are seeded in; the emulator's home account when `None`.
    pub(crate) account: Option<&'static str>,
    /// The STS AssumeRole calls one process must make, all its invocations together, or the
    /// measurement fails.
    pub(crate) assume_roles: usize,
}

/// The two subjects that compare acting in another account with acting in the function's own:
/// the same binary, environment and request (`{"instanceId", "accountId"}`), one DeleteInstance
/// call each; the other account's first invocation also assumes the member role, once.
pub(crate) const OWN_ACCOUNT: &str = "delete-instance, own account named";
pub(crate) const OTHER_ACCOUNT: &str = "delete-instance, another account (member role)";

pub(crate) fn own_account_event(id: &str) -> Value {
    json!({ "instanceId": id, "accountId": ACCOUNT })
}

pub(crate) fn other_account_event(id: &str) -> Value {
    json!({ "instanceId": id, "accountId": MEMBER })
}

pub(crate) fn delete_event(id: &str) -> Value {
    json!({ "instanceId": id })
}

pub(crate) fn deleted(answer: &Value) -> bool {
    answer["instance"]["state"] == "Deleting"
}

pub(crate) fn reported(answer: &Value) -> bool {
    answer["instance"]["instanceId"].is_string() && answer["done"].is_boolean()
}

pub(crate) fn null(answer: &Value) -> bool {
    answer.is_null()
}

/// The subjects of a run, the main ones first and the lever variants after them.
pub(crate) fn subjects(
    options: &Options,
    emulator: &Emulator,
    bundle: &Path,
    ca_only: &Path,
    cert_dir: Option<&PathBuf>,
) -> Result<Vec<Subject>, String> {
    let given = Given { options, endpoint: emulator.endpoint(), bundle, ca_only };
    let mut subjects = given.main_subjects()?;
    subjects.extend(given.many_accounts_subjects()?);
    subjects.extend(given.boto3_peer());
    subjects.extend(given.build_variants()?);
    let noop = given.delete_instance("noop-function (runtime floor)", "noop-function", given.aws(&[]))?;
    subjects.push(Subject { function_name: "noop-function", check: null, ..noop });
    if options.levers {
        subjects.extend(given.levers(cert_dir)?);
    }
    Ok(subjects)
}

/// `delete-instance` measured like for like with boto3's peer: the single DeleteInstance call, no tag check.
const LIKE_FOR_LIKE: [(&str, &str); 1] = [("DELETION_PROTECTION_TAG", "")];

/// What the subjects are given: the binaries, the emulator's endpoint and the trust stores.
struct Given<'a> {
    options: &'a Options,
    endpoint: String,
    /// The system's public roots plus the benchmark's authority.
    bundle: &'a Path,
    /// The benchmark's authority alone.
    ca_only: &'a Path,
}

impl Given<'_> {
    /// The workspace's binary `name`, staged for the run.
    fn bin(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.options.bin_dir.join(name);
        if !path.is_file() {
            return Err(format!("{} is missing: build the workspace's binaries first (cargo build --workspace --bins)", path.display()));
        }
        stage(self.options, &path, "release")
    }

    /// The environment of a Rust subject: the emulator, its authority, and `extra`.
    fn aws(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), self.endpoint.clone()),
            // The functions' own cost of trust is that of their built-in roots (nothing to read);
            // to trust the benchmark's authority they are given it alone, one certificate to read.
            ("SSL_CERT_FILE".to_owned(), self.ca_only.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// The workspace's binary `binary` run as `delete-instance`: asked to delete an instance of the
    /// home account, answering that it is deleting it.
    fn delete_instance(&self, label: &str, binary: &str, env: Vec<(String, String)>) -> Result<Subject, String> {
        Ok(deleting(label, self.bin(binary)?, env))
    }

    /// `delete-instance` like for like and as shipped, and `check-instance-status`.
    fn main_subjects(&self) -> Result<Vec<Subject>, String> {
        let like_for_like = self.delete_instance("delete-instance", "delete-instance", self.aws(&LIKE_FOR_LIKE))?;
        let shipped = self.delete_instance("delete-instance (default: tag check + delete)", "delete-instance", self.aws(&[]))?;
        let check = self.delete_instance("check-instance-status", "check-instance-status", self.aws(&[]))?;
        Ok(vec![
            like_for_like,
            shipped,
            Subject { function_name: "check-instance-status", function_arn: CHECK_ARN, check: reported, ..check },
        ])
    }

    /// `delete-instance` naming its own account and naming another one. The emulator serves STS
    /// too; both subjects get it, so they differ only by the account named.
    fn many_accounts_subjects(&self) -> Result<[Subject; 2], String> {
        let env = self.aws(&[("DELETION_PROTECTION_TAG", ""), ("AWS_ENDPOINT_URL_STS", self.endpoint.as_str())]);
        let own = self.delete_instance(OWN_ACCOUNT, "delete-instance", env.clone())?;
        let other = self.delete_instance(OTHER_ACCOUNT, "delete-instance", env)?;
        Ok([
            Subject { event: own_account_event, ..own },
            Subject { event: other_account_event, account: Some(MEMBER), assume_roles: 1, ..other },
        ])
    }

    /// The boto3 peer, when there is a Python to run it.
    fn boto3_peer(&self) -> Option<Subject> {
        let python = self.options.python.as_ref()?;
        let env = vec![
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), self.endpoint.clone()),
            ("AWS_CA_BUNDLE".to_owned(), self.bundle.display().to_string()),
            ("AWS_DEFAULT_REGION".to_owned(), REGION.to_owned()),
            ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
        ];
        Some(Subject {
            args: vec!["-m".into(), "awslambdaric".into(), "handler.handler".into()],
            cwd: Some(self.options.handler_dir.clone()),
            function_name: "delete-instance-boto3",
            ..deleting("boto3 peer (awslambdaric)", python.clone(), env)
        })
    }

    /// The other builds of `delete-instance` (`--variant`), like for like.
    fn build_variants(&self) -> Result<Vec<Subject>, String> {
        let mut subjects = Vec::new();
        for (i, (label, dir)) in self.options.variants.iter().enumerate() {
            let program = dir.join("delete-instance");
            if !program.is_file() {
                return Err(format!("{} is missing", program.display()));
            }
            let program = stage(self.options, &program, &format!("variant-{i}"))?;
            subjects.push(deleting(&format!("build: {label}"), program, self.aws(&LIKE_FOR_LIKE)));
        }
        Ok(subjects)
    }

    /// The variants that measure each lever: the connection, the runtime's flavour, the trust store.
    fn levers(&self, cert_dir: Option<&PathBuf>) -> Result<Vec<Subject>, String> {
        let mut platform = self.aws(&LIKE_FOR_LIKE);
        platform[1].1 = self.bundle.display().to_string();
        let mut levers = vec![
            (
                "lever: connection opened at first call, not at init",
                "delete-instance",
                self.aws(&[("DELETION_PROTECTION_TAG", ""), ("CONNECT_AT_INIT", "false")]),
            ),
            ("lever: multi-threaded Tokio runtime", "delete-instance-multi-thread", self.aws(&LIKE_FOR_LIKE)),
            ("lever: the platform's trust store file (SSL_CERT_FILE)", "delete-instance", platform.clone()),
        ];
        if let Some(dir) = cert_dir {
            let mut scan = platform;
            scan.push(("SSL_CERT_DIR".to_owned(), dir.display().to_string()));
            levers.push(("lever: the platform's trust store file and directory", "delete-instance", scan));
        }
        levers.into_iter().map(|(label, binary, env)| self.delete_instance(label, binary, env)).collect()
    }
}

/// `program` run as `delete-instance` with `env`: asked to delete an instance of the home account,
/// answering that it is deleting it.
fn deleting(label: &str, program: PathBuf, env: Vec<(String, String)>) -> Subject {
    Subject {
        label: label.to_owned(),
        program,
        args: Vec::new(),
        cwd: None,
        env,
        function_name: "delete-instance",
        function_arn: DELETE_ARN,
        event: delete_event,
        check: deleted,
        account: None,
        assume_roles: 0,
    }
}

/// A copy of the binary `path`, in a directory of the run's own, which the subject runs from.
///
/// Every Rust subject thus starts from a file written the same way, by one copy, as Lambda writes
/// the binary it unpacks from the zip. Run in place, a binary's file is the one the linker wrote,
/// and in runs side by side the same binary measured 0.1 to 0.7 ms more init CPU executed from the
/// linker's file than from a copy of it: a difference between subjects that no deployed function
/// has.
///
/// `dir` is where, under the run's `bin`: one per build, so two builds of one binary do not meet.
pub(crate) fn stage(options: &Options, path: &Path, dir: &str) -> Result<PathBuf, String> {
    let name = path.file_name().ok_or_else(|| format!("{}: not a file", path.display()))?;
    let dir = options.work_dir.join("bin").join(dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let staged = dir.join(name);
    if !staged.is_file() {
        std::fs::copy(path, &staged).map_err(|e| format!("copying {} to {}: {e}", path.display(), staged.display()))?;
    }
    Ok(staged)
}

/// Copies the certificates of `from` into `to` (as the system keeps them, one file per authority)
/// and adds `ca_pem`.
pub(crate) fn make_cert_dir(from: &Path, to: &Path, ca_pem: &str) -> std::io::Result<()> {
    if to.is_dir() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "pem") {
            if let (Some(name), Ok(text)) = (path.file_name(), std::fs::read(&path)) {
                std::fs::write(to.join(name), text)?;
            }
        }
    }
    std::fs::write(to.join("supplychain-bench-ca.pem"), ca_pem)
}
