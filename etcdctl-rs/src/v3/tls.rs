//! TLS for client connections, with rustls (ring provider): the secure
//! flags (`--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`,
//! `--insecure-transport`) become one rustls client configuration, the way
//! etcdctl's `newClientCfg` builds a `tls.Config` from a `TLSInfo`:
//!
//! - any of cert/key/cacert given: TLS, verifying the server against the CA
//!   bundle (or the system bundle), presenting the client certificate;
//! - none given but `--insecure-transport=false`: TLS with the system bundle;
//! - `--insecure-skip-tls-verify` drops server verification of a TLS setup;
//! - an `https://` endpoint always dials TLS.
//!
//! Unreadable files are reported with Go's `open <path>: ...` texts and exit
//! code 128, as etcdctl does before dialing. A refused handshake is a failed
//! dial: the client keeps trying until the deadline, like clientv3.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS};

/// Where Debian (and most Linux systems) keep the system CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The secure-connection flags of the command line.
#[derive(Debug, Clone, Default)]
pub struct SecureFlags {
    pub cert: String,
    pub key: String,
    pub cacert: String,
    pub insecure_transport: bool,
    pub insecure_skip_verify: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Go's error text for a file that cannot be opened.
fn open_error(path: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ if e.raw_os_error() == Some(21) => "is a directory".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {why}")
}

fn read_file(path: &str) -> CtlResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CtlError::new(EXIT_BAD_ARGS, open_error(path, &e)))
}

fn certs_in(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The CA pool from `--cacert` (Go's `tlsutil.NewCertPool`).
fn roots_from(path: &str) -> CtlResult<RootCertStore> {
    let pem = read_file(path)?;
    let mut roots = RootCertStore::empty();
    let certs = certs_in(&pem);
    if certs.is_empty() {
        return Err(CtlError::new(EXIT_BAD_ARGS, "x509: malformed certificate"));
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| CtlError::new(EXIT_BAD_ARGS, format!("x509: {e}")))?;
    }
    Ok(roots)
}

/// The system CA bundle (empty when none is installed).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = SYSTEM_BUNDLES.iter().find_map(|p| std::fs::read(p).ok()) {
        for c in certs_in(&pem) {
            let _ = roots.add(c);
        }
    }
    roots
}

/// Go's `tls.X509KeyPair` failure texts, roughly: the certificate and key
/// files must both hold PEM blocks of the right kind.
fn client_identity(
    cert: &str,
    key: &str,
) -> CtlResult<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_pem = read_file(cert)?;
    let key_pem = read_file(key)?;
    let chain = certs_in(&cert_pem);
    if chain.is_empty() {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "tls: failed to find any PEM data in certificate input",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        CtlError::new(
            EXIT_BAD_ARGS,
            "tls: failed to find any PEM data in key input",
        )
    })?;
    Ok((chain, key))
}

/// The rustls configuration the flags ask for; `None` means plaintext
/// (unless an endpoint is `https://`, see [`for_endpoint`]).
pub fn client_config(f: &SecureFlags) -> CtlResult<Option<Arc<ClientConfig>>> {
    let configured = !f.cert.is_empty() || !f.key.is_empty() || !f.cacert.is_empty();
    if !configured && f.insecure_transport {
        return Ok(None);
    }
    if configured
        && (!f.cert.is_empty() || !f.key.is_empty())
        && (f.cert.is_empty() || f.key.is_empty())
    {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                f.key, f.cert
            ),
        ));
    }
    let identity = if f.cert.is_empty() {
        None
    } else {
        Some(client_identity(&f.cert, &f.key)?)
    };
    let roots = if f.cacert.is_empty() {
        system_roots()
    } else {
        roots_from(&f.cacert)?
    };
    Ok(Some(Arc::new(build(
        roots,
        identity,
        f.insecure_skip_verify,
    )?)))
}

fn build(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    skip_verify: bool,
) -> CtlResult<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CtlError::new(EXIT_BAD_ARGS, e.to_string()))?;
    let builder = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(etcd_certs::insecure::AcceptAnyServerCert(
                provider,
            )))
    } else {
        builder.with_root_certificates(roots)
    };
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|_| {
            CtlError::new(EXIT_BAD_ARGS, "tls: private key does not match public key")
        })?,
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// What clientv3 uses for an `https://` endpoint without TLS flags.
fn default_config() -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let provider = provider();
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.with_root_certificates(system_roots())
                        .with_no_client_auth()
                })
                .unwrap_or_else(|_| {
                    ClientConfig::builder()
                        .with_root_certificates(RootCertStore::empty())
                        .with_no_client_auth()
                });
            config.alpn_protocols = vec![b"h2".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// The TLS configuration to dial `ep` with, if any.
pub fn for_endpoint(ep: &str, configured: &Option<Arc<ClientConfig>>) -> Option<Arc<ClientConfig>> {
    match configured {
        Some(c) => Some(c.clone()),
        None if ep.starts_with("https://") => Some(default_config()),
        None => None,
    }
}

/// clientv3's text for a failed dial of `addr`.
pub fn dial_error(addr: &str, e: &tonic::transport::Error) -> String {
    let text = format!("{e:?}");
    if text.contains("ConnectionRefused") {
        format!("dial tcp {addr}: connect: connection refused")
    } else if text.contains("InvalidCertificate")
        || text.contains("AlertReceived")
        || text.contains("Tls")
        || text.contains("tls")
    {
        format!(
            "authentication handshake failed: {}",
            handshake_reason(&text)
        )
    } else {
        format!("dial tcp {addr}: i/o timeout")
    }
}

/// The gist of a rustls handshake failure, in Go's words where they exist.
fn handshake_reason(debug: &str) -> &'static str {
    if debug.contains("UnknownIssuer") {
        "x509: certificate signed by unknown authority"
    } else if debug.contains("Expired") {
        "x509: certificate has expired or is not yet valid"
    } else if debug.contains("NotValidForName") {
        "x509: certificate is not valid for the requested name"
    } else if debug.contains("AlertReceived(BadCertificate)") {
        "remote error: tls: bad certificate"
    } else {
        "tls: handshake failure"
    }
}
