//! A compiled function binary run as Lambda runs it: Lambda's environment, a local Lambda Runtime
//! API to take its invocations from, and nothing else from the parent's environment, so no real
//! AWS configuration can leak in.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use supplychain_emulator::invoke_api::{Function, InvokeApi};
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi};

use crate::local::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// The command that starts `program` with the environment Lambda gives a function named
/// `function_name` (128 MB, `$LATEST`, the harness's region and credentials) and the Runtime API
/// at `runtime_api`; the parent's environment is cleared but for `PATH`.
pub fn lambda_command(program: impl AsRef<std::ffi::OsStr>, function_name: &str, runtime_api: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// A compiled function binary running against a local Runtime API, as Lambda runs it.
pub struct FunctionProcess {
    pub runtime: Arc<RuntimeApi>,
    child: tokio::process::Child,
    log_path: PathBuf,
}

impl FunctionProcess {
    /// Starts `binary` with Lambda's environment ([`lambda_command`]), JSON logs, the SDK's
    /// standard retries, and `env`.
    pub async fn spawn(binary: &str, function_name: &str, env: &[(&str, String)]) -> FunctionProcess {
        let runtime = RuntimeApi::start().await.expect("runtime API starts");
        Self::spawn_on(runtime, binary, function_name, env)
    }

    /// Like [`FunctionProcess::spawn`], with the process's stdout going to `stdout` instead of its
    /// log (stderr stays in the log).
    pub async fn spawn_with_stdout(binary: &str, function_name: &str, env: &[(&str, String)], stdout: std::fs::File) -> FunctionProcess {
        let runtime = RuntimeApi::start().await.expect("runtime API starts");
        Self::launch(runtime, &[], binary, function_name, env, Some(stdout))
    }

    /// Like [`FunctionProcess::spawn`], against a Runtime API of the caller's.
    pub fn spawn_on(runtime: RuntimeApi, binary: &str, function_name: &str, env: &[(&str, String)]) -> FunctionProcess {
        Self::launch(runtime, &[], binary, function_name, env, None)
    }

    /// Like [`FunctionProcess::spawn`], with `binary` run by `launcher`, a command and its
    /// arguments (such as `qemu-aarch64 -L /usr/aarch64-linux-gnu` for a binary of another
    /// architecture), which gets the same environment.
    pub async fn spawn_through(launcher: &[&str], binary: &str, function_name: &str, env: &[(&str, String)]) -> FunctionProcess {
        let runtime = RuntimeApi::start().await.expect("runtime API starts");
        Self::launch(runtime, launcher, binary, function_name, env, None)
    }

    fn launch(
        runtime: RuntimeApi,
        launcher: &[&str],
        binary: &str,
        function_name: &str,
        env: &[(&str, String)],
        stdout: Option<std::fs::File>,
    ) -> FunctionProcess {
        let runtime = Arc::new(runtime);
        let log_path = std::env::temp_dir().join(format!(
            "{function_name}-{}-{}.log",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = lambda_command(program, function_name, &runtime.address());
                command.args(args).arg(binary);
                command
            }
            None => lambda_command(binary, function_name, &runtime.address()),
        };
        command
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Short SDK backoff is not configurable by environment; the standard retry mode's
            // attempts are, and stay at their default of 3.
            .env("AWS_RETRY_MODE", "standard")
            .stdout(stdout.unwrap_or_else(|| log.try_clone().unwrap()))
            .stderr(log);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("{launcher:?} {binary}: {e}"));
        FunctionProcess { runtime, child, log_path }
    }

    /// Invokes the function with a deadline `within` from now.
    pub async fn invoke(&self, payload: Value, function_arn: &str, within: Duration) -> Outcome {
        let options = Invoke { function_arn: function_arn.to_owned(), deadline: Deadline::In(within), ..Default::default() };
        self.invoke_with(payload, options).await
    }

    pub async fn invoke_with(&self, payload: Value, options: Invoke) -> Outcome {
        self.runtime.invoke(payload, options).await.unwrap_or_else(|e| panic!("invocation: {e}; logs:\n{}", self.logs())).outcome
    }

    /// Makes the function reachable as `arn` through a local Lambda Invoke API.
    pub fn register(&self, api: &InvokeApi, arn: &str) {
        api.register(Function::new(arn.to_owned(), self.runtime.clone()));
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends the process SIGTERM, as Lambda does at the start of its Shutdown phase.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the process is running");
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// The exit status, if the process ends within `within`.
    pub async fn exit_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait()).await.ok().map(|status| status.unwrap())
    }

    /// Waits for the process to end (for init failures) and returns its exit status.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.expect("the process ends").unwrap()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// The response of a successful invocation; panics, showing the outcome, on any other.
pub fn response(outcome: &Outcome) -> &Value {
    outcome.response().unwrap_or_else(|| panic!("expected a response, got {outcome:?}"))
}

/// The `errorType` and `errorMessage` of a failed invocation; panics, showing the outcome, on any other.
pub fn error_of(outcome: &Outcome) -> (&str, &str) {
    match outcome {
        Outcome::Error { error_type, error_message, .. } => (error_type, error_message),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The `errorType` of a failed invocation.
pub fn error_type(outcome: &Outcome) -> &str {
    error_of(outcome).0
}

/// The environment that moves a function process's wall clock `offset` ahead (libfaketime's
/// `FAKETIME`, such as `+86400`), with Debian's libfaketime preloaded (the `faketime` package,
/// which `scripts/setup test` installs).
///
/// The library is preloaded directly rather than through the `faketime` command: that wrapper keeps
/// a semaphore and a shared-memory file in /dev/shm named by its pid, which a killed process leaves
/// behind, and a later wrapper that gets the same pid then fails to start (`sem_open: File exists`).
/// The library itself keeps such a pair while the process runs and removes it when the process
/// exits: end the process with [`FunctionProcess::terminate`] (SIGTERM, which the functions answer
/// by exiting), not by dropping it, which kills it.
pub fn faked_clock(offset: &str) -> Vec<(&'static str, String)> {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path().join("faketime")).collect())
        .unwrap_or_default();
    dirs.push(std::path::PathBuf::from("/usr/lib/faketime"));
    let library = dirs
        .into_iter()
        .map(|dir| dir.join("libfaketime.so.1"))
        .find(|library| library.is_file())
        .expect("libfaketime.so.1 is installed (scripts/setup test installs Debian's faketime)");
    vec![("LD_PRELOAD", library.display().to_string()), ("FAKETIME", offset.to_owned())]
}
