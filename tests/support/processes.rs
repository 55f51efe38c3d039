//! The compiled function binaries run as Lambda runs them: each polls its own local Runtime API,
//! and a local Lambda Invoke API reaches them by function name or ARN.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use supplychain_emulator::invoke_api::{Function, InvokeApi};
use supplychain_emulator::runtime_api::RuntimeApi;

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "AKIASTATEMACHINE0001";
pub const SECRET_ACCESS_KEY: &str = "state/machine/test/secret";

/// One function binary and the Runtime API it polls; the process is killed when this is dropped.
pub struct FunctionProcess {
    pub arn: String,
    pub runtime: Arc<RuntimeApi>,
    child: tokio::process::Child,
    log_path: PathBuf,
}

impl FunctionProcess {
    /// Starts `binary` as the function `arn` with Lambda's environment, the test credentials and
    /// `env`. Nothing else of the parent's environment reaches it, so no AWS configuration leaks in.
    pub async fn spawn(binary: &str, arn: &str, env: &[(&str, String)]) -> FunctionProcess {
        let runtime = Arc::new(RuntimeApi::start().await.expect("the runtime API starts"));
        let name = arn.rsplit(':').next().unwrap();
        let log_path = std::env::temp_dir().join(format!(
            "{name}-{}-{}.log",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("{binary}: {e}"));
        FunctionProcess { arn: arn.to_owned(), runtime, child, log_path }
    }

    /// Makes the function reachable through `api`.
    pub fn register(&self, api: &InvokeApi) {
        api.register(Function::new(self.arn.clone(), self.runtime.clone()));
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log_path);
    }
}
