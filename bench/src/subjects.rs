//! The subjects: the function processes the benchmark measures, and what each is given.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use supplychain_emulator::Emulator;

use supplychain_testkit::{ACCOUNT, CHECK_ARN, DELETE_ARN, REGION};

use crate::*;

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
    let bin = |name: &str| -> Result<PathBuf, String> {
        let path = options.bin_dir.join(name);
        if !path.is_file() {
            return Err(format!("{} is missing: build the workspace's binaries first (cargo build --workspace --bins)", path.display()));
        }
        stage(options, &path, "release")
    };
    let endpoint = emulator.endpoint();
    let aws = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), endpoint.clone()),
            // The functions' own cost of trust is that of their built-in roots (nothing to read);
            // to trust the benchmark's authority they are given it alone, one certificate to read.
            ("SSL_CERT_FILE".to_owned(), ca_only.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let rust = |label: &str, binary: &str, name, arn, event, check, env: Vec<(String, String)>| -> Result<Subject, String> {
        Ok(Subject {
            label: label.to_owned(),
            program: bin(binary)?,
            args: Vec::new(),
            cwd: None,
            env,
            function_name: name,
            function_arn: arn,
            event,
            check,
            account: None,
            assume_roles: 0,
        })
    };
    let like_for_like = [("DELETION_PROTECTION_TAG", "")];
    let mut subjects = vec![
        rust("delete-instance", "delete-instance", "delete-instance", DELETE_ARN, delete_event, deleted, aws(&like_for_like))?,
        rust(
            "delete-instance (default: tag check + delete)",
            "delete-instance",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            aws(&[]),
        )?,
        rust("check-instance-status", "check-instance-status", "check-instance-status", CHECK_ARN, delete_event, reported, aws(&[]))?,
    ];
    // The emulator serves STS too; both subjects get it, so they differ only by the account named.
    let many_accounts = aws(&[("DELETION_PROTECTION_TAG", ""), ("AWS_ENDPOINT_URL_STS", endpoint.as_str())]);
    let own = rust(OWN_ACCOUNT, "delete-instance", "delete-instance", DELETE_ARN, own_account_event, deleted, many_accounts.clone())?;
    let other = rust(OTHER_ACCOUNT, "delete-instance", "delete-instance", DELETE_ARN, other_account_event, deleted, many_accounts)?;
    subjects.push(own);
    subjects.push(Subject { account: Some(MEMBER), assume_roles: 1, ..other });
    if let Some(python) = &options.python {
        subjects.push(Subject {
            label: "boto3 peer (awslambdaric)".to_owned(),
            program: python.clone(),
            args: vec!["-m".into(), "awslambdaric".into(), "handler.handler".into()],
            cwd: Some(options.handler_dir.clone()),
            env: vec![
                ("AWS_ENDPOINT_URL_SUPPLYCHAIN".to_owned(), endpoint.clone()),
                ("AWS_CA_BUNDLE".to_owned(), bundle.display().to_string()),
                ("AWS_DEFAULT_REGION".to_owned(), REGION.to_owned()),
                ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
            ],
            function_name: "delete-instance-boto3",
            function_arn: DELETE_ARN,
            event: delete_event,
            check: deleted,
            account: None,
            assume_roles: 0,
        });
    }
    for (i, (label, dir)) in options.variants.iter().enumerate() {
        let program = dir.join("delete-instance");
        if !program.is_file() {
            return Err(format!("{} is missing", program.display()));
        }
        subjects.push(Subject {
            label: format!("build: {label}"),
            program: stage(options, &program, &format!("variant-{i}"))?,
            args: Vec::new(),
            cwd: None,
            env: aws(&like_for_like),
            function_name: "delete-instance",
            function_arn: DELETE_ARN,
            event: delete_event,
            check: deleted,
            account: None,
            assume_roles: 0,
        });
    }
    subjects.push(rust("noop-function (runtime floor)", "noop-function", "noop-function", DELETE_ARN, delete_event, null, aws(&[]))?);
    if options.levers {
        subjects.push(rust(
            "lever: connection opened at first call, not at init",
            "delete-instance",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            aws(&[("DELETION_PROTECTION_TAG", ""), ("CONNECT_AT_INIT", "false")]),
        )?);
        subjects.push(rust(
            "lever: multi-threaded Tokio runtime",
            "delete-instance-multi-thread",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            aws(&like_for_like),
        )?);
        let mut platform = aws(&like_for_like);
        platform[1].1 = bundle.display().to_string();
        subjects.push(rust(
            "lever: the platform's trust store file (SSL_CERT_FILE)",
            "delete-instance",
            "delete-instance",
            DELETE_ARN,
            delete_event,
            deleted,
            platform.clone(),
        )?);
        if let Some(dir) = cert_dir {
            let mut scan = platform;
            scan.push(("SSL_CERT_DIR".to_owned(), dir.display().to_string()));
            subjects.push(rust(
                "lever: the platform's trust store file and directory",
                "delete-instance",
                "delete-instance",
                DELETE_ARN,
                delete_event,
                deleted,
                scan,
            )?);
        }
    }
    Ok(subjects)
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
