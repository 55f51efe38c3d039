//! One run of the benchmark: the subjects' rounds with the floors, then the sweeps, priced and
//! reported; or the notice subject alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use supplychain_emulator::tls::TlsIdentity;
use supplychain_emulator::{Account, Emulator, EmulatorConfig, Role};

use supplychain_testkit::{ACCOUNT, REGION};

use crate::cost::{parse_prices, s3_requests_cost, Prices, S3Requests};
use crate::floors::{measure_sdk_floor, measure_service_floor, Floors};
use crate::measure::{measure_cold_start, measure_sweep, Samples};
use crate::notice::{measure_notice, notice_report};
use crate::options::{Only, Options, MEMBER, MEMBER_ROLE};
use crate::organization::measure_organization;
use crate::organization_scale::{measure_organization_scale, organization_scale_report};
use crate::report::{report, sizes, Report, Sweeps};
use crate::subjects::{make_cert_dir, subjects, Subject};

/// Runs the benchmark and returns the report.
pub async fn run(options: &Options) -> Result<Report, String> {
    match options.only {
        Some(Only::Notice) => return run_notice(options).await,
        Some(Only::OrganizationScale) => return run_organization_scale(options).await,
        Some(Only::Soak) => return crate::soak::run_soak(options).await,
        None => {}
    }
    // The prices first: a run that cannot price what it measured fails before measuring.
    let prices = read_prices(&options.prices)?;
    std::fs::create_dir_all(&options.work_dir).map_err(|e| format!("{}: {e}", options.work_dir.display()))?;
    let identity = TlsIdentity::generate()?;
    let trust = write_trust_files(&options.work_dir, &identity)?;
    let emulator = start_emulator(&identity).await?;

    let subjects = subjects(options, &emulator, &trust.bundle, &trust.ca, trust.cert_dir.as_ref())?;
    let (samples, floors) = measure_rounds(options, &subjects, &emulator, &identity).await?;
    let sweep = measure_sweep(options, options.rounds).await?;
    let organization = measure_organization(options, options.rounds).await?;
    let notice = measure_notice(options, options.rounds).await?;
    let sizes = sizes(options)?;
    let sweeps = Sweeps { one_target: sweep, organization, notice };
    Ok(report(options, &subjects, &samples, &floors, &sizes, &sweeps, &prices))
}

fn read_prices(path: &Path) -> Result<Prices, String> {
    let price_table = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_prices(&price_table).map_err(|e| format!("{}: {e}", path.display()))
}

/// The trust stores the subjects are given, in the work directory.
struct TrustFiles {
    /// The benchmark's authority alone.
    ca: PathBuf,
    /// The system's public roots plus the benchmark's authority.
    bundle: PathBuf,
    /// The system's certificate directory with the authority added, when there is one.
    cert_dir: Option<PathBuf>,
}

fn write_trust_files(work_dir: &Path, identity: &TlsIdentity) -> Result<TrustFiles, String> {
    let ca_file = work_dir.join("ca.pem");
    identity.write_ca_pem(&ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    // The boto3 peer's trust store, and the platform's for the trust-store levers: the system's
    // public roots plus the benchmark's authority.
    let system_bundle =
        ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"].iter().map(Path::new).find(|path| path.is_file());
    let bundle_file = work_dir.join("bundle.pem");
    let mut bundle = system_bundle.map(|path| std::fs::read_to_string(path).unwrap_or_default()).unwrap_or_default();
    bundle.push_str(identity.ca_pem());
    std::fs::write(&bundle_file, &bundle).map_err(|e| format!("{}: {e}", bundle_file.display()))?;
    // The system's certificate directory with the authority added, for the directory-scan variant.
    let cert_dir = work_dir.join("certs");
    let cert_dir_ready = system_bundle.is_some() && make_cert_dir(Path::new("/etc/ssl/certs"), &cert_dir, identity.ca_pem()).is_ok();
    Ok(TrustFiles { ca: ca_file, bundle: bundle_file, cert_dir: cert_dir_ready.then_some(cert_dir) })
}

/// The emulator the subjects call, over HTTPS, with the member account whose role they assume.
async fn start_emulator(identity: &TlsIdentity) -> Result<Emulator, String> {
    let config = EmulatorConfig {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        accounts: vec![Account::new(MEMBER, vec![Role::trusting(MEMBER_ROLE, &[ACCOUNT])])],
        // Deleted instances stay readable for the whole run.
        deleted_retention: Duration::from_secs(24 * 3600),
        ..Default::default()
    };
    Emulator::start_tls(config, identity).await.map_err(|e| format!("emulator: {e}"))
}

/// Every round: a cold start of each subject, then the floors.
async fn measure_rounds(
    options: &Options,
    subjects: &[Subject],
    emulator: &Emulator,
    identity: &TlsIdentity,
) -> Result<(Vec<Samples>, Floors), String> {
    let mut samples = vec![Samples::default(); subjects.len()];
    let mut floors = Floors { service: Samples::default(), handshakes: Vec::new(), sdk: Samples::default() };
    for round in 0..options.rounds {
        // Each round takes the subjects in a new order (the same from run to run), so that none
        // always follows the same one: a cold start right after the boto3 peer's quarter second
        // of CPU, or right after the floors, has its init moved by tenths of a millisecond on this
        // kind of machine, and a fixed order would hand that to one subject every time.
        for k in shuffled(subjects.len(), round as u64) {
            let subject = &subjects[k];
            measure_cold_start(subject, emulator, options, &mut samples[k])
                .await
                .map_err(|e| format!("{} (round {}): {e}", subject.label, round + 1))?;
        }
        let handshake = measure_service_floor(emulator, identity, options.warm + 1, &mut floors.service).await?;
        floors.handshakes.push(handshake);
        measure_sdk_floor(emulator, identity, options.warm + 1, &mut floors.sdk).await?;
    }
    Ok((samples, floors))
}

/// The notice subject alone: its tables, and its numbers under `notice` as in the whole report.
async fn run_notice(options: &Options) -> Result<Report, String> {
    std::fs::create_dir_all(&options.work_dir).map_err(|e| format!("{}: {e}", options.work_dir.display()))?;
    let notice = measure_notice(options, options.rounds).await?;
    let (md, json) = notice_report(&notice);
    let header = format!(
        "Build: {}. The notice subject alone (--only notice), {} rounds. Times in ms: median (p10–p90).\n",
        options.profile, options.rounds
    );
    Ok(Report {
        markdown: format!("{header}{md}"),
        json: serde_json::json!({ "profile": options.profile, "rounds": options.rounds, "notice": json }),
    })
}

/// The organization sweep's plan and summary at scale alone: its table, and what the steps' S3
/// requests cost at each size beside the Distributed Map's child executions.
async fn run_organization_scale(options: &Options) -> Result<Report, String> {
    let prices = read_prices(&options.prices)?;
    std::fs::create_dir_all(&options.work_dir).map_err(|e| format!("{}: {e}", options.work_dir.display()))?;
    let samples = measure_organization_scale(options, options.rounds).await?;
    let (md, json) = organization_scale_report(&samples);
    let requests: Vec<S3Requests> =
        samples.iter().map(|s| S3Requests { targets: s.targets, puts: s.put_object_calls, gets: s.get_object_calls }).collect();
    let (cost_md, cost_json) = s3_requests_cost(&prices, &requests);
    let header = format!(
        "Build: {}. The organization sweep's plan and summary at scale alone (--only organization-scale), {} rounds, each \
         step in a process of its own, against moto's S3 behind a fault proxy. Times in ms: median (p10–p90); peak RSS: the \
         largest of the rounds.\n",
        options.profile, options.rounds
    );
    Ok(Report {
        markdown: format!("{header}{md}{cost_md}"),
        json: serde_json::json!({ "profile": options.profile, "rounds": options.rounds, "organizationScale": json,
                                  "cost": { "s3Requests": cost_json } }),
    })
}

/// `0..n` in an order drawn from `seed` (Fisher-Yates over a xorshift generator: reproducible, and
/// no dependency for it).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::shuffled;

    #[test]
    fn every_round_takes_each_subject_once() {
        for round in 0..50 {
            let mut order = shuffled(9, round);
            order.sort_unstable();
            assert_eq!(order, (0..9).collect::<Vec<_>>(), "round {round}");
        }
    }

    #[test]
    fn no_subject_always_follows_the_same_one() {
        // Over the rounds of a run, subject 0 is preceded by several different subjects.
        let predecessors: std::collections::BTreeSet<usize> = (0..15)
            .filter_map(|round| {
                let order = shuffled(9, round);
                let at = order.iter().position(|&k| k == 0).unwrap();
                at.checked_sub(1).map(|i| order[i])
            })
            .collect();
        assert!(predecessors.len() >= 4, "{predecessors:?}");
        assert_eq!(shuffled(9, 3), shuffled(9, 3), "the same order from run to run");
    }
}
