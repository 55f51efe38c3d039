//! `noop-function`: the runtime floor of the benchmark. A `lambda_runtime` function, built with the
//! same runtime features and Tokio flavour as the real functions, whose handler does nothing.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async { Ok::<Value, Error>(Value::Null) })).await
}
