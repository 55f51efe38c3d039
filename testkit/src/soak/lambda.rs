//! Lambda's execution environments for one function: several processes of the compiled binary, each
//! taking one invocation at a time (the template sets no `AWS_LAMBDA_MAX_CONCURRENCY`), each on a
//! Runtime API of its own. An invocation may be cut short by SIGKILL at a chosen moment; the
//! environment is then replaced by a fresh process (a cold start), and the invocation ends as
//! Lambda ends it, with `Runtime.ExitError`. One that outlives the function's timeout ends with
//! `Sandbox.Timedout` and its environment is replaced too.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use supplychain_emulator::runtime_api::{Deadline, Invoke, Outcome, RuntimeApi};
use tokio::sync::{mpsc, Mutex};

use super::stack::Function;
use crate::function::lambda_command;

/// How an invocation ended, as Lambda reports it to whoever invoked.
#[derive(Debug, Clone)]
pub enum Ended {
    Response(Value),
    Error(String),
}

impl Ended {
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Ended::Response(_) => None,
            Ended::Error(error_type) => Some(error_type),
        }
    }
}

/// One execution environment.
struct Environment {
    runtime: Arc<RuntimeApi>,
    child: tokio::process::Child,
}

/// The execution environments of one function.
pub struct Pool {
    function: Function,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log_dir: PathBuf,
    timeout: Duration,
    idle_tx: mpsc::UnboundedSender<Environment>,
    idle_rx: Mutex<mpsc::UnboundedReceiver<Environment>>,
    /// Process ids alive, for the memory samples.
    pids: std::sync::Mutex<Vec<u32>>,
    pub kills: AtomicU64,
    pub cold_starts: AtomicU64,
    pub invocations: AtomicU64,
    /// The largest `VmHWM` (peak resident set) of any process of the pool, in KiB.
    pub peak_rss_kib: AtomicU64,
}

impl Pool {
    pub async fn start(
        function: Function,
        bin_dir: &Path,
        env: Vec<(String, String)>,
        log_dir: &Path,
        timeout: Duration,
        processes: usize,
    ) -> Result<Arc<Pool>, String> {
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        let pool = Arc::new(Pool {
            function,
            binary: bin_dir.join(function.binary()),
            env,
            log_dir: log_dir.to_owned(),
            timeout,
            idle_tx,
            idle_rx: Mutex::new(idle_rx),
            pids: std::sync::Mutex::new(Vec::new()),
            kills: AtomicU64::new(0),
            cold_starts: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            peak_rss_kib: AtomicU64::new(0),
        });
        if !pool.binary.is_file() {
            return Err(format!("{} is missing: build the functions first (cargo build --bins)", pool.binary.display()));
        }
        for _ in 0..processes {
            let environment = pool.spawn().await?;
            let _ = pool.idle_tx.send(environment);
        }
        Ok(pool)
    }

    async fn spawn(&self) -> Result<Environment, String> {
        let runtime = Arc::new(RuntimeApi::start().await.map_err(|e| format!("runtime API: {e}"))?);
        let n = self.cold_starts.fetch_add(1, Ordering::Relaxed);
        let log = std::fs::File::create(self.log_dir.join(format!("{}-{n}.log", self.function.binary()))).map_err(|e| e.to_string())?;
        let mut command = lambda_command(&self.binary, self.function.binary(), &runtime.address());
        command
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_RETRY_MODE", "standard")
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let child = command.spawn().map_err(|e| format!("{}: {e}", self.binary.display()))?;
        if let Some(pid) = child.id() {
            self.pids.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
        }
        Ok(Environment { runtime, child })
    }

    /// Invokes the function in the next idle environment, killing its process `kill_after` into
    /// the invocation when given and the invocation is still running then.
    pub async fn invoke(&self, payload: Value, kill_after: Option<Duration>) -> Result<Ended, String> {
        let mut environment = {
            let mut idle = self.idle_rx.lock().await;
            idle.recv().await.ok_or("the pool is closed")?
        };
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let options = Invoke {
            function_arn: self.function.arn(),
            deadline: Deadline::In(self.timeout),
            give_up_after: self.timeout + Duration::from_secs(2),
            ..Default::default()
        };
        let runtime = environment.runtime.clone();
        let invocation = runtime.invoke(payload, options);
        let killer = async {
            match kill_after {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending::<()>().await,
            }
        };
        let (ended, replace) = tokio::select! {
            completed = invocation => match completed {
                Ok(completed) => (outcome(completed.outcome), false),
                // The function did not answer within its timeout: Lambda ends the environment.
                Err(_) => (Ended::Error("Sandbox.Timedout".to_owned()), true),
            },
            () = killer => {
                self.kills.fetch_add(1, Ordering::Relaxed);
                (Ended::Error("Runtime.ExitError".to_owned()), true)
            }
        };
        if replace {
            self.retire(&mut environment).await;
            environment = self.spawn().await?;
        }
        let _ = self.idle_tx.send(environment);
        Ok(ended)
    }

    /// Kills a process (SIGKILL) and keeps its peak memory.
    async fn retire(&self, environment: &mut Environment) {
        if let Some(pid) = environment.child.id() {
            self.note_peak(pid);
            self.pids.lock().unwrap_or_else(|p| p.into_inner()).retain(|p| *p != pid);
        }
        let _ = environment.child.start_kill();
        let _ = environment.child.wait().await;
    }

    fn note_peak(&self, pid: u32) {
        if let Some(kib) = status_kib(pid, "VmHWM:") {
            self.peak_rss_kib.fetch_max(kib, Ordering::Relaxed);
        }
    }

    /// The resident set of every live process, in KiB, and their peaks noted.
    pub fn sample_rss_kib(&self) -> Vec<u64> {
        let pids = self.pids.lock().unwrap_or_else(|p| p.into_inner()).clone();
        pids.iter()
            .filter_map(|pid| {
                self.note_peak(*pid);
                status_kib(*pid, "VmRSS:")
            })
            .collect()
    }

    /// Ends every process, noting their peaks.
    pub async fn stop(&self) {
        let mut idle = self.idle_rx.lock().await;
        idle.close();
        while let Some(mut environment) = idle.recv().await {
            self.retire(&mut environment).await;
        }
    }
}

fn outcome(outcome: Outcome) -> Ended {
    match outcome {
        Outcome::Response(value) => Ended::Response(value),
        Outcome::Error { error_type, .. } => Ended::Error(error_type),
    }
}

/// A `kB` line of `/proc/PID/status`.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}
