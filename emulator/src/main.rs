//! `supplychain-emulator`: runs the AWS Supply Chain emulator as a standalone process.
//!
//! Prints exactly one line, `listening on http://HOST:PORT`, once the server accepts connections,
//! so scripts can read the port; stops on SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use supplychain_emulator::{Account, Emulator, EmulatorConfig, SeedInstance, StaticCredentials};

const HELP: &str = "\
supplychain-emulator: a local emulator of the AWS Supply Chain instance API

USAGE:
    supplychain-emulator [OPTIONS]

OPTIONS:
    --host HOST                  address to bind (default 127.0.0.1)
    --port PORT                  port to bind; 0 picks a free port (default 0)
    --seed FILE                  JSON array of SeedInstance objects to load at start, or an
                                 object {\"instances\": [...], \"accounts\": [...]} that also
                                 gives the accounts and their roles for STS AssumeRole
    --account-id ID              home account: the base credentials act in it (default 123456789012)
    --region REGION              home region, served (default us-east-1)
    --extra-region REGION        one more region served (repeatable)
    --min-session-seconds S      shortest DurationSeconds AssumeRole accepts (default 900)
    --home-principal-arn ARN     the principal the base credentials stand for in trust policies
                                 (default arn:aws:iam::ACCOUNT:root)
    --create-delay-ms MS         time an instance stays Initializing (default 0)
    --delete-delay-ms MS         time an instance stays Deleting (default 0)
    --deleted-retention-ms MS    time a Deleted instance stays readable (default 60000)
    --access-key-id KEY          with --secret-access-key: verify SigV4 signatures
    --secret-access-key SECRET   with --access-key-id: verify SigV4 signatures
    --tls-ca-file FILE           serve HTTPS with a certificate authority generated at start, and
                                 write its certificate (PEM) to FILE for clients to trust
                                 (needs the `tls` feature)
    -h, --help                   print this help

On start, prints `listening on http://HOST:PORT` (https with --tls-ca-file) on stdout. Admin API under /_emulator/.
";

struct Options {
    host: IpAddr,
    port: u16,
    seed: Option<String>,
    tls_ca_file: Option<String>,
    config: EmulatorConfig,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options =
        Options { host: IpAddr::from([127, 0, 0, 1]), port: 0, seed: None, tls_ca_file: None, config: EmulatorConfig::default() };
    let (mut access_key, mut secret) = (None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"));
        let millis = |v: String| -> Result<Duration, String> {
            v.parse::<u64>().map(Duration::from_millis).map_err(|_| format!("{flag} expects milliseconds, got '{v}'"))
        };
        match flag.as_str() {
            "--host" => {
                let v = value()?;
                options.host = v.parse().map_err(|_| format!("--host: invalid address '{v}'"))?;
            }
            "--port" => {
                let v = value()?;
                options.port = v.parse().map_err(|_| format!("--port: invalid port '{v}'"))?;
            }
            "--seed" => options.seed = Some(value()?),
            "--tls-ca-file" => options.tls_ca_file = Some(value()?),
            "--account-id" => options.config.account_id = value()?,
            "--region" => options.config.region = value()?,
            "--extra-region" => options.config.extra_regions.push(value()?),
            "--min-session-seconds" => {
                let v = value()?;
                options.config.min_session_seconds = v.parse().map_err(|_| format!("--min-session-seconds expects seconds, got '{v}'"))?;
            }
            "--home-principal-arn" => options.config.home_principal_arn = Some(value()?),
            "--create-delay-ms" => options.config.create_delay = millis(value()?)?,
            "--delete-delay-ms" => options.config.delete_delay = millis(value()?)?,
            "--deleted-retention-ms" => options.config.deleted_retention = millis(value()?)?,
            "--access-key-id" => access_key = Some(value()?),
            "--secret-access-key" => secret = Some(value()?),
            other => return Err(format!("unknown argument '{other}' (see --help)")),
        }
    }
    match (access_key, secret) {
        (Some(key), Some(secret)) => {
            options.config.credentials = Some(StaticCredentials::new(key, secret));
        }
        (None, None) => {}
        _ => return Err("--access-key-id and --secret-access-key go together".into()),
    }
    Ok(Some(options))
}

/// The seed file as an object: the instances and the accounts with their roles.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FullSeed {
    #[serde(default)]
    instances: Vec<SeedInstance>,
    #[serde(default)]
    accounts: Vec<Account>,
}

fn fail(message: &str) -> ! {
    eprintln!("supplychain-emulator: {message}");
    std::process::exit(2);
}

#[cfg(feature = "tls")]
async fn start_tls(config: EmulatorConfig, addr: SocketAddr, ca_file: &str) -> std::io::Result<Emulator> {
    let identity = supplychain_emulator::tls::TlsIdentity::generate().unwrap_or_else(|e| fail(&e));
    identity.write_ca_pem(ca_file).unwrap_or_else(|e| fail(&format!("cannot write {ca_file}: {e}")));
    Emulator::start_tls_on(config, addr, &identity).await
}

#[cfg(not(feature = "tls"))]
async fn start_tls(_: EmulatorConfig, _: SocketAddr, _: &str) -> std::io::Result<Emulator> {
    fail("--tls-ca-file: this build has no TLS support (build with --features tls)")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return;
        }
        Err(message) => fail(&message),
    };
    let mut options = options;
    let seeds: Vec<SeedInstance> = match &options.seed {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")));
            let parsed = serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string()).and_then(|value| {
                // Classified by shape, so that an error names the member at fault.
                if value.is_array() {
                    serde_json::from_value::<Vec<SeedInstance>>(value).map(|instances| (instances, Vec::new())).map_err(|e| e.to_string())
                } else {
                    serde_json::from_value::<FullSeed>(value).map(|seed| (seed.instances, seed.accounts)).map_err(|e| e.to_string())
                }
            });
            let (instances, accounts) = parsed.unwrap_or_else(|e| {
                fail(&format!(
                    "{path} is neither a JSON array of SeedInstance nor an object {{\"instances\": [...], \"accounts\": [...]}}: {e}"
                ))
            });
            options.config.accounts.extend(accounts);
            instances
        }
    };
    let addr = SocketAddr::new(options.host, options.port);
    let emulator = match &options.tls_ca_file {
        None => Emulator::start_on(options.config, addr).await,
        Some(path) => start_tls(options.config, addr, path).await,
    }
    .unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
    for seed in seeds {
        if let Err(message) = emulator.try_seed(seed) {
            fail(&format!("invalid seed in {}: {message}", options.seed.as_deref().unwrap_or("")));
        }
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", emulator.endpoint());
    let _ = stdout.flush();

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .unwrap_or_else(|e| fail(&format!("cannot handle SIGTERM: {e}")));
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(emulator);
}
