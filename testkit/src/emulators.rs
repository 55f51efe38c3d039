//! The Supply Chain emulator as the tests use it: every request's SigV4 signature checked against
//! the harness's credentials.

use supplychain_emulator::{Emulator, EmulatorConfig, SeedInstance, StaticCredentials};

use crate::local::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// An emulator that checks every request's SigV4 signature against the test credentials.
pub async fn emulator() -> Emulator {
    emulator_with(EmulatorConfig::default()).await
}

pub async fn emulator_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(checking_signatures(config)).await.expect("emulator starts")
}

/// Like [`emulator`], serving HTTPS with `identity`'s certificate.
pub async fn https_emulator(identity: &supplychain_emulator::tls::TlsIdentity) -> Emulator {
    Emulator::start_tls(checking_signatures(EmulatorConfig::default()), identity).await.expect("emulator starts")
}

fn checking_signatures(config: EmulatorConfig) -> EmulatorConfig {
    let credentials =
        StaticCredentials { access_key_id: ACCESS_KEY_ID.into(), secret_access_key: SECRET_ACCESS_KEY.into(), session_token: None };
    EmulatorConfig { credentials: Some(credentials), ..config }
}

pub fn seed(emulator: &Emulator, id: &str) {
    emulator.seed(SeedInstance { instance_id: Some(id.into()), ..Default::default() });
}

pub fn seed_with_tags(emulator: &Emulator, id: &str, tags: &[(&str, &str)]) {
    emulator.seed(SeedInstance {
        instance_id: Some(id.into()),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    });
}

/// The states an instance went through, as the emulator recorded them.
pub fn states(emulator: &Emulator, id: &str) -> Vec<String> {
    emulator.history(id).into_iter().map(|change| change.state).collect()
}
