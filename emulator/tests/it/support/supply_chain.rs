//! The Supply Chain side of the emulator's tests: starting an emulator, an SDK client for it,
//! seeding, and reading a failed call.

use aws_sdk_supplychain::config::retry::RetryConfig;
use aws_sdk_supplychain::config::{Credentials, Region};
use aws_sdk_supplychain::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_supplychain::Client;
use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance};

/// The instance id the tests seed and ask for.
pub const ID: &str = "0123abcd-0123-4567-89ab-0123456789ab";
/// The credentials every test client signs with (AWS's documentation example pair).
pub const AKID: &str = "AKIDEXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// An SDK configuration pointed at the emulator, signing with `AKID`/`SECRET` in us-east-1.
pub fn config_builder(emulator: &Emulator) -> aws_sdk_supplychain::config::Builder {
    aws_sdk_supplychain::Config::builder()
        .endpoint_url(emulator.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(AKID, SECRET, None, None, "test"))
        .behavior_version_latest()
}

/// A client that does not retry, so each SDK call is exactly one HTTP call.
pub fn client(emulator: &Emulator) -> Client {
    Client::from_conf(config_builder(emulator).retry_config(RetryConfig::disabled()).build())
}

/// An emulator with the default configuration: no credentials checked, no delays.
pub async fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).await.expect("start emulator")
}

/// Status, error code and message of a failed SDK call.
pub fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, aws_sdk_supplychain::config::http::HttpResponse>,
) -> (u16, String, String) {
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or_else(|| panic!("no HTTP response: {err:?}"));
    (status, err.code().unwrap_or_default().to_owned(), err.message().unwrap_or_default().to_owned())
}

/// Seeds an Active instance named "seeded" with the given id.
pub fn seed_active(emulator: &Emulator, id: &str) {
    emulator.seed(SeedInstance { instance_id: Some(id.into()), instance_name: Some("seeded".into()), ..Default::default() });
}
