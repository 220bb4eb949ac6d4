//! TLS for the client URLs, with rustls (no OpenSSL).
//!
//! An `https://` client URL serves gRPC and HTTP over TLS on the same port,
//! with the certificate and key from `--cert-file` / `--key-file`. With
//! `--client-cert-auth`, a client must present a certificate signed by
//! `--trusted-ca-file` (and not revoked by `--client-crl-file`), or the
//! handshake fails. `--tls-min-version` picks TLS 1.2 or 1.3 as the floor.
//! A handshake that stalls is cut after [`HANDSHAKE_TIMEOUT`], so half-open
//! connections cannot pile up.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::Config;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificate file {path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate in {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {path}"));
    }
    Ok(certs)
}

/// The rustls server configuration for the client URLs, if TLS is configured.
pub fn client_server_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, String> {
    if config.cert_file.is_empty() && config.key_file.is_empty() {
        return Ok(None);
    }
    if config.cert_file.is_empty() || config.key_file.is_empty() {
        return Err("both --cert-file and --key-file must be given for TLS".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match config.tls_min_version.as_str() {
        "TLS1.2" | "" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        "TLS1.3" => &[&rustls::version::TLS13],
        other => {
            return Err(format!(
                "unknown TLS version {other:?} (supported: TLS1.2, TLS1.3)"
            ))
        }
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if config.client_cert_auth {
        if config.trusted_ca_file.is_empty() {
            return Err("--client-cert-auth needs --trusted-ca-file".into());
        }
        let mut roots = RootCertStore::empty();
        for ca in read_certs(&config.trusted_ca_file)? {
            roots
                .add(ca)
                .map_err(|e| format!("bad CA certificate in {}: {e}", config.trusted_ca_file))?;
        }
        let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        if !config.client_crl_file.is_empty() {
            let crls: Vec<_> = CertificateRevocationListDer::pem_file_iter(&config.client_crl_file)
                .map_err(|e| format!("cannot read CRL file {}: {e}", config.client_crl_file))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("bad CRL in {}: {e}", config.client_crl_file))?;
            verifier = verifier.with_crls(crls);
        }
        let verifier = verifier
            .build()
            .map_err(|e| format!("client certificate verifier: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let certs = read_certs(&config.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| format!("cannot read key file {}: {e}", config.key_file))?;
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not match: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}
