//! HTTPS serving (feature `tls`): a certificate authority and a server certificate for `127.0.0.1`,
//! `::1` and `localhost`, generated when the server starts, and the TLS handshake in front of the same
//! HTTP/1.1 service that plain serving uses.
//!
//! Real AWS endpoints are TLS only, and a client's first handshake is a large part of a cold
//! invocation; serving HTTPS lets clients measure and exercise exactly that. Clients trust the
//! generated authority through its PEM ([`TlsIdentity::ca_pem`]), for example from a file named
//! by `SSL_CERT_FILE` (rustls-native-certs, OpenSSL) or `AWS_CA_BUNDLE` (botocore).
//!
//! Keys are RSA 2048 with SHA-256 signatures, the kind of chain AWS endpoints present, so a
//! handshake costs a client what it costs against AWS. Cryptography is aws-lc-rs, the provider the
//! AWS SDK's own client uses.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A generated certificate authority and the server certificate it signed.
#[derive(Clone)]
pub struct TlsIdentity {
    ca_pem: String,
    ca_der: Vec<u8>,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Generates a new authority and a server certificate valid for `127.0.0.1`, `::1` and
    /// `localhost`.
    pub fn generate() -> Result<TlsIdentity, String> {
        let error = |e: rcgen::Error| format!("cannot generate the TLS certificates: {e}");
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(error)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name.push(DnType::CommonName, "supplychain-emulator local CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).map_err(error)?;
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(error)?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()]).map_err(error)?;
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(error)?;

        let chain = vec![leaf_cert.der().clone(), CertificateDer::from(ca_cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| format!("cannot configure TLS: {e}"))?;
        Ok(TlsIdentity { ca_pem: ca_cert.pem(), ca_der: ca_cert.der().to_vec(), config: Arc::new(config) })
    }

    /// The authority's certificate, PEM encoded: what a client must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The authority's certificate, DER encoded, for a client's root store.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Writes the authority's certificate (PEM) to `path`, for `SSL_CERT_FILE` or `AWS_CA_BUNDLE`.
    pub fn write_ca_pem(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }
}

/// Serves HTTPS on `listener` as [`crate::http::serve`] serves HTTP; a failed handshake closes the
/// connection, and each completed one is counted in `handshakes`.
pub(crate) async fn serve<H, F>(
    listener: tokio::net::TcpListener,
    identity: &TlsIdentity,
    handshakes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    handler: H,
    stop: crate::http::StopSignal,
) where
    H: Fn(crate::http::Request) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<crate::http::Response, crate::http::Dropped>> + Send + 'static,
{
    let acceptor = identity.acceptor();
    let upgrade = move |stream| {
        let acceptor = acceptor.clone();
        let handshakes = handshakes.clone();
        async move {
            let stream = acceptor.accept(stream).await.ok()?;
            handshakes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(stream)
        }
    };
    crate::http::serve_upgraded(listener, upgrade, handler, stop).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::{Emulator, EmulatorConfig};

    fn client(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    #[tokio::test]
    async fn a_client_trusting_the_generated_authority_gets_answers_over_https() {
        let identity = TlsIdentity::generate().unwrap();
        let emulator = Emulator::start_tls(EmulatorConfig::default(), &identity).await.unwrap();
        assert!(emulator.endpoint().starts_with("https://127.0.0.1:"));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(identity.ca_der().to_vec())).unwrap();
        assert!(identity.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));

        let tcp = tokio::net::TcpStream::connect(emulator.addr()).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = client(roots).connect(name, tcp).await.unwrap();
        tls.write_all(b"GET /_emulator/instances HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await.unwrap();

        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("[]"), "{answer}");
    }

    #[tokio::test]
    async fn a_client_that_does_not_trust_the_authority_fails_the_handshake() {
        let identity = TlsIdentity::generate().unwrap();
        let emulator = Emulator::start_tls(EmulatorConfig::default(), &identity).await.unwrap();
        let other = TlsIdentity::generate().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(other.ca_der().to_vec())).unwrap();

        let tcp = tokio::net::TcpStream::connect(emulator.addr()).await.unwrap();
        let name = rustls::pki_types::ServerName::from(emulator.addr().ip());
        let error = client(roots).connect(name, tcp).await.unwrap_err();

        assert!(error.to_string().contains("certificate"), "{error}");
    }
}
