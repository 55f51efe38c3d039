//! What every local run stands in and shares: the account, region, credentials and function ARNs;
//! SDK configuration pointed at a local endpoint; names no other test of the run has; the
//! repository's paths.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

/// The account and region every local run stands in.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The credentials the emulator checks signatures against.
pub const ACCESS_KEY_ID: &str = "AKIATESTKEY000000001";
pub const SECRET_ACCESS_KEY: &str = "test/secret/key/for/the/local/emulator";
/// The invoked function ARNs, as Lambda sends them for the three functions of the stack.
pub const DELETE_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:delete-instance";
pub const CHECK_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:check-instance-status";
pub const SWEEP_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:sweep-instances";
/// The role EventBridge Scheduler would assume to invoke the checker.
pub const SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/supplychain-delete-instance-scheduler";

/// A name no other test of this run has: the wall clock's nanoseconds, the process and a counter.
/// The clock alone is not enough: tests start in parallel threads, and under libfaketime (the
/// suite's year-ahead run) two threads can read the same instant.
pub fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{nanos:x}-{:x}-{n}", std::process::id())
}

/// A path of the repository, from its root.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// SDK configuration as the functions load it, pointed at `endpoint`, with short retry backoff
/// so retry tests stay quick (the attempt count is the SDK's standard one).
pub async fn sdk_config(endpoint: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, secret, None, None, "tests"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(10)))
        .load()
        .await
}
