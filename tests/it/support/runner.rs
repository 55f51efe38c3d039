//! A state machine run under way: `tools/run-state-machine.mjs` started in the background, so that
//! a test can act while it runs (answer its callback tasks with the AWS CLI, read the bus, change
//! the emulator) and then await its report. [`super::tools::run_state_machine`] stays the one-shot
//! form for runs that need nothing from the test.
//!
//! The runner's side of the contract (its request, report and standard error) is in the header of
//! `tools/run-state-machine.mjs` and in docs/testing.md.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::tools;
use super::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// How long a test waits for the runner to announce something (a callback may follow a Map of
/// thousands of items), or to end, before it fails: a bound against a run that hangs, never a pause
/// the test relies on.
const ANNOUNCEMENT_BOUND: Duration = Duration::from_secs(300);
const REPORT_BOUND: Duration = Duration::from_secs(600);

const ENDPOINT_LINE: &str = "callback endpoint: ";
const WAITING_LINE: &str = "waiting for callback: ";

/// What a run takes besides the definition, its substitutions and its input.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The S3 endpoint (moto's server) of the Maps' `ItemReader` and `ResultWriter`.
    pub s3_endpoint: Option<String>,
    /// What the callback tasks' `TimeoutSeconds` and `HeartbeatSeconds` are multiplied by (the
    /// runner's `timeScale`; 1 when `None`).
    pub time_scale: Option<f64>,
}

/// A callback task waiting for its callback: the runner's `waiting for callback:` line, printed
/// once the task's function has returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackWait {
    /// The state's name.
    pub state: String,
    /// The token the runner gave this entry of the state (and put where the Parameters name
    /// `$$.Task.Token`).
    pub task_token: String,
}

/// What a command run against the run's callback endpoint printed.
#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Whether the command exited 0.
    pub fn succeeded(&self) -> bool {
        self.status.success()
    }

    /// The error code of the AWS CLI's `An error occurred (<code>) when calling ...`, if it printed one.
    pub fn error_code(&self) -> Option<&str> {
        let start = self.stderr.find("An error occurred (")? + "An error occurred (".len();
        let end = start + self.stderr[start..].find(')')?;
        Some(&self.stderr[start..end])
    }
}

/// A run of `tools/run-state-machine.mjs` under way; dropping it kills the runner.
pub struct StateMachineRun {
    child: tokio::process::Child,
    endpoint: String,
    waits: mpsc::UnboundedReceiver<CallbackWait>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: JoinHandle<()>,
    stdout_reader: JoinHandle<String>,
}

/// Starts the state machine `definition` under aws-local-stepfunctions (`tools/run-state-machine.mjs`)
/// on `input`, as [`tools::run_state_machine`] does (`substitutions` with each of `parameters` over
/// it; Lambda tasks sent to the Invoke API at `lambda_endpoint`), and returns once the runner has
/// announced its callback endpoint, while the run goes on.
pub async fn start_state_machine(
    definition: PathBuf,
    mut substitutions: Value,
    parameters: &Value,
    input: Value,
    lambda_endpoint: String,
    options: RunOptions,
) -> StateMachineRun {
    for (name, value) in parameters.as_object().into_iter().flatten() {
        assert!(substitutions.get(name).is_some(), "{name} is no substitution of the definition");
        substitutions[name] = value.clone();
    }
    let request = json!({
        "definition": definition,
        "substitutions": substitutions,
        "input": input,
        "lambdaEndpoint": lambda_endpoint,
        "s3Endpoint": options.s3_endpoint,
        "timeScale": options.time_scale,
    });
    let mut command = tools::node_with("aws-local-stepfunctions");
    command.arg(tools::tools_dir().join("run-state-machine.mjs"));
    let mut command = tokio::process::Command::from(command);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request.to_string().as_bytes()).await.unwrap();
    drop(stdin);

    let mut stdout = child.stdout.take().unwrap();
    let stdout_reader = tokio::spawn(async move {
        let mut text = String::new();
        stdout.read_to_string(&mut text).await.unwrap();
        text
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let (endpoint_sender, endpoint) = oneshot::channel();
    let (wait_sender, waits) = mpsc::unbounded_channel();
    let stderr_reader = tokio::spawn(read_stderr(child.stderr.take().unwrap(), stderr.clone(), endpoint_sender, wait_sender));
    let endpoint = match tokio::time::timeout(ANNOUNCEMENT_BOUND, endpoint).await {
        Ok(Ok(endpoint)) => endpoint,
        _ => {
            // The runner ended (or hung) before its first line: what it printed says why.
            let _ = tokio::time::timeout(ANNOUNCEMENT_BOUND, child.wait()).await;
            let _ = tokio::time::timeout(ANNOUNCEMENT_BOUND, stderr_reader).await;
            panic!("the state machine runner announced no callback endpoint:\n{}", stderr.lock().unwrap());
        }
    };
    StateMachineRun { child, endpoint, waits, stderr, stderr_reader, stdout_reader }
}

/// Reads the runner's standard error to its end: keeps every line, hands the endpoint and each
/// callback wait to the run.
async fn read_stderr(
    stderr: tokio::process::ChildStderr,
    kept: Arc<Mutex<String>>,
    endpoint: oneshot::Sender<String>,
    waits: mpsc::UnboundedSender<CallbackWait>,
) {
    let mut endpoint = Some(endpoint);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.strip_prefix(ENDPOINT_LINE) {
            if let Some(sender) = endpoint.take() {
                let _ = sender.send(url.to_owned());
            }
        } else if let Some(wait) = line.strip_prefix(WAITING_LINE) {
            let wait: Value = serde_json::from_str(wait).unwrap_or_else(|e| panic!("{line}: {e}"));
            let _ = waits.send(CallbackWait {
                state: wait["state"].as_str().unwrap().to_owned(),
                task_token: wait["taskToken"].as_str().unwrap().to_owned(),
            });
        }
        let mut kept = kept.lock().unwrap();
        kept.push_str(&line);
        kept.push('\n');
    }
}

impl StateMachineRun {
    /// `http://127.0.0.1:PORT`: the runner's Step Functions endpoint for callbacks, the value of
    /// `AWS_ENDPOINT_URL_SFN` for a client.
    pub fn callback_endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What the runner has printed on standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next callback task to wait for its callback, in the order the runner announced them;
    /// fails the test if the run ends first.
    pub async fn next_callback(&mut self) -> CallbackWait {
        match tokio::time::timeout(ANNOUNCEMENT_BOUND, self.waits.recv()).await {
            Ok(Some(wait)) => wait,
            Ok(None) => panic!("the run ended with no further callback task waiting:\n{}", self.stderr()),
            Err(_) => panic!("no callback task waited within {ANNOUNCEMENT_BOUND:?}:\n{}", self.stderr()),
        }
    }

    /// The next callback wait of the state `state`, passing over those of other states.
    pub async fn callback_of(&mut self, state: &str) -> CallbackWait {
        loop {
            let wait = self.next_callback().await;
            if wait.state == state {
                return wait;
            }
        }
    }

    /// The environment a command answering this run's tasks runs with, besides `PATH`: the AWS
    /// CLI and SDKs reach the callback endpoint through `AWS_ENDPOINT_URL_SFN` (Step Functions'
    /// service id is `SFN`), with the harness's stand-in credentials and region, and no shared
    /// configuration or instance metadata of the machine.
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SFN", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_MAX_ATTEMPTS", "1".to_owned()),
            ("AWS_PAGER", String::new()),
        ]
    }

    /// Runs the AWS CLI of the venv (`.venv/bin/aws`) with `args` against the run's callback
    /// endpoint ([`StateMachineRun::cli_env`]).
    pub async fn aws(&self, args: &[&str]) -> CliOutput {
        let mut command = tokio::process::Command::new(tools::venv_bin("aws"));
        command.args(args);
        self.run_with_cli_env(command).await
    }

    /// Runs `command_line` with `sh -c`, the venv's `bin` (its `aws`) first on `PATH`, against the
    /// run's callback endpoint: the commands a Plan Ready event carries, exactly as an approver
    /// pastes them.
    pub async fn sh(&self, command_line: &str) -> CliOutput {
        let mut command = tokio::process::Command::new("sh");
        command.arg("-c").arg(command_line);
        self.run_with_cli_env(command).await
    }

    async fn run_with_cli_env(&self, mut command: tokio::process::Command) -> CliOutput {
        let path = format!("{}:{}", tools::venv_bin("aws").parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
        command.env_clear().env("PATH", path).envs(self.cli_env()).stdin(Stdio::null()).kill_on_drop(true);
        if let Some(home) = std::env::var_os("HOME") {
            command.env("HOME", home);
        }
        let output = tokio::time::timeout(ANNOUNCEMENT_BOUND, command.output())
            .await
            .unwrap_or_else(|_| panic!("{command:?} did not end within {ANNOUNCEMENT_BOUND:?}"))
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        CliOutput {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Waits for the run to end; answers the runner's report, or its standard error when it failed.
    pub async fn report(self) -> Result<Value, String> {
        let StateMachineRun { mut child, stderr, stderr_reader, stdout_reader, .. } = self;
        let Ok(status) = tokio::time::timeout(REPORT_BOUND, child.wait()).await else {
            let _ = child.kill().await;
            panic!("the run did not end within {REPORT_BOUND:?} (a callback task left waiting?):\n{}", stderr.lock().unwrap());
        };
        let status = status.unwrap();
        let stdout = stdout_reader.await.unwrap();
        stderr_reader.await.unwrap();
        let stderr = stderr.lock().unwrap().clone();
        if !status.success() {
            return Err(stderr);
        }
        serde_json::from_str(&stdout).map_err(|e| format!("the runner printed no JSON ({e}), status {status}:\n{stdout}\n{stderr}"))
    }
}
