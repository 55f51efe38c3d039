//! `sweep-instances`: finds expired AWS Supply Chain instances, reports them, and in delete mode asks
//! for their deletion.

use supplychain_delete_instance::{runtime, sweep_function_from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run(sweep_function_from_env()).await
}
