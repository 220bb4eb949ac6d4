//! TLS for the v2 client: the CA, certificate and key files as Go's
//! `transport.TLSInfo` reads them (with its error texts), the system roots,
//! and how a failed handshake or dial is worded.

use std::sync::Arc;

/// Go's `tlsutil.NewCertPool` over one file: every PEM block must be a
/// certificate (a key block fails x509's parse); a file without PEM data
/// gives an empty pool.
pub(super) fn read_ca(
    path: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    let data = std::fs::read(path).map_err(|e| format!("open {path}: {}", errno_text(&e)))?;
    let mut certs = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&data) {
        match section {
            Ok((SectionKind::Certificate, der)) => certs.push(der.into()),
            Ok(_) => return Err("x509: malformed tbs certificate".to_string()),
            Err(_) => break,
        }
    }
    Ok(certs)
}

/// Go's `tls.X509KeyPair` over the two files, with its error texts.
pub(super) fn read_key_pair(
    cert: &str,
    key: &str,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    String,
> {
    use rustls::pki_types::pem::PemObject;
    let cert_pem = std::fs::read(cert).map_err(|e| format!("open {cert}: {}", errno_text(&e)))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("open {key}: {}", errno_text(&e)))?;
    let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        let kinds = pem_kinds(&cert_pem);
        return Err(if kinds.is_empty() {
            "tls: failed to find any PEM data in certificate input".to_string()
        } else if kinds.iter().any(|k| k.ends_with("PRIVATE KEY")) {
            "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".to_string()
        } else {
            format!(
                "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]",
                kinds.join(" ")
            )
        });
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        let kinds = pem_kinds(&key_pem);
        if kinds.is_empty() {
            "tls: failed to find any PEM data in key input".to_string()
        } else if kinds.iter().any(|k| k == "CERTIFICATE") {
            "tls: found a certificate rather than a key in the PEM for the private key"
                .to_string()
        } else {
            format!(
                "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]",
                kinds.join(" ")
            )
        }
    })?;
    Ok((chain, key))
}

/// The types of the PEM blocks in `data` (`-----BEGIN <TYPE>-----`).
pub(super) fn pem_kinds(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .map(str::to_string)
        .collect()
}

/// The system CA bundle (Go's default roots), empty when none is installed.
pub(super) fn system_roots() -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let bundles = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ];
    if let Some(pem) = bundles.iter().find_map(|p| std::fs::read(p).ok()) {
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok) {
            let _ = roots.add(c);
        }
    }
    roots
}

/// The TLS settings from `--ca-file`, `--cert-file`, `--key-file`, checked
/// in the order of Go's `TLSInfo.ClientConfig` (key pair, then CA) with its
/// error texts; `None` when no file is given.
pub fn tls_config(
    ca: &str,
    cert: &str,
    key: &str,
) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    if ca.is_empty() && cert.is_empty() && key.is_empty() {
        return Ok(None);
    }
    let identity = if cert.is_empty() && key.is_empty() {
        None
    } else if cert.is_empty() || key.is_empty() {
        return Err(format!(
            "KeyFile and CertFile must both be present[key: {key}, cert: {cert}]"
        ));
    } else {
        Some(read_key_pair(cert, key)?)
    };
    let roots = if ca.is_empty() {
        system_roots()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in read_ca(ca)? {
            roots
                .add(c)
                .map_err(|_| "x509: malformed certificate".to_string())?;
        }
        roots
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|_| "tls: private key does not match public key".to_string())?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

/// Go's text for a TLS failure (handshake or a later alert), found in an
/// error's source chain; `None` when the error is not a TLS one.
pub(super) fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(tls_error_text(t));
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(tls_error_text(t));
            }
        }
        cur = err.source();
    }
    None
}

/// A rustls error in Go's words (crypto/tls and crypto/x509).
pub(super) fn tls_error_text(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match e {
        E::InvalidCertificate(C::UnknownIssuer) | E::InvalidCertificate(C::BadSignature) => {
            "x509: certificate signed by unknown authority".to_string()
        }
        E::InvalidCertificate(C::Expired) | E::InvalidCertificate(C::NotValidYet) => {
            "x509: certificate has expired or is not yet valid".to_string()
        }
        E::InvalidCertificate(C::NotValidForName) => {
            "x509: certificate is not valid for the requested name".to_string()
        }
        E::AlertReceived(alert) => {
            let name = match alert {
                A::BadCertificate => "bad certificate",
                A::CertificateRequired => "certificate required",
                A::UnknownCA => "unknown certificate authority",
                A::CertificateExpired => "expired certificate",
                A::HandshakeFailure => "handshake failure",
                A::ProtocolVersion => "protocol version not supported",
                _ => "alert",
            };
            format!("remote error: tls: {name}")
        }
        other => format!("tls: {other}"),
    }
}

/// An OS error as Go prints a `syscall.Errno` ("connection refused").
pub fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
        None => text,
    }
}

/// What Go's transport uses for an `https://` endpoint without TLS files:
/// the system roots.
pub(super) fn default_tls() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
    )
}
