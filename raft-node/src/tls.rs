//! TLS for the client and peer URLs, with rustls (no OpenSSL).
//!
//! An `https://` client URL serves gRPC and HTTP over TLS on the same port,
//! with the certificate and key from `--cert-file` / `--key-file`. With
//! `--client-cert-auth`, a client must present a certificate signed by
//! `--trusted-ca-file` (and not revoked by `--client-crl-file`), or the
//! handshake fails. `--tls-min-version` picks TLS 1.2 or 1.3 as the floor.
//! A handshake that stalls is cut after [`HANDSHAKE_TIMEOUT`], so half-open
//! connections cannot pile up.
//!
//! Peer URLs work the same way with the `--peer-*` flags; a member reaches
//! `https://` peers with its peer certificate as client certificate, so
//! `--peer-client-cert-auth` on the others accepts it; `--peer-cert-allowed-cn`
//! additionally requires that name in the peer's certificate.
//! `--auto-tls` / `--peer-auto-tls` generate self-signed certificates under
//! `<data-dir>/fixtures/` when no files are given.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tonic::transport::{Channel, Endpoint};

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

/// Certificate files for one side (client URLs or peer URLs).
struct TlsFiles<'a> {
    cert: &'a str,
    key: &'a str,
    trusted_ca: &'a str,
    client_cert_auth: bool,
    crl: &'a str,
    what: &'a str,
}

static TLS12_AND_UP: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn versions(
    config: &Config,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion], String> {
    match config.tls_min_version.as_str() {
        "TLS1.2" | "" => Ok(TLS12_AND_UP),
        "TLS1.3" => Ok(TLS13_ONLY),
        other => Err(format!(
            "unknown TLS version {other:?} (supported: TLS1.2, TLS1.3)"
        )),
    }
}

/// The ring crypto provider, restricted to `--cipher-suites` (TLS 1.2
/// suites by their IANA names, as etcd takes them; TLS 1.3 suites are not
/// configurable, as in Go).
fn provider(config: &Config) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    let wanted: Vec<&str> = config
        .cipher_suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if !wanted.is_empty() {
        for name in &wanted {
            if !provider
                .cipher_suites
                .iter()
                .any(|s| format!("{:?}", s.suite()) == *name)
            {
                return Err(format!("unexpected TLS cipher suite {name:?}"));
            }
        }
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13
                || wanted.contains(&format!("{:?}", s.suite()).as_str())
        });
    }
    Ok(Arc::new(provider))
}

/// Writes a self-signed certificate for `hosts` into `dir` (etcd's
/// `--auto-tls` / `--peer-auto-tls`), reusing one made before.
pub fn auto_cert(dir: &Path, hosts: &[String]) -> Result<(String, String), String> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let path = |p: &Path| p.display().to_string();
    if cert.exists() && key.exists() {
        return Ok((path(&cert), path(&key)));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut names: Vec<String> = hosts.to_vec();
    if names.is_empty() {
        names.push("localhost".into());
    }
    let key_pair = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "etcd");
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let signed = params.self_signed(&key_pair).map_err(|e| e.to_string())?;
    std::fs::write(&cert, signed.pem()).map_err(|e| format!("write {}: {e}", cert.display()))?;
    std::fs::write(&key, key_pair.serialize_pem())
        .map_err(|e| format!("write {}: {e}", key.display()))?;
    Ok((path(&cert), path(&key)))
}

/// The common name of the first certificate of a chain, if any.
pub fn common_name(chain: &[CertificateDer<'_>]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(chain.first()?.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

fn roots(path: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for ca in read_certs(path)? {
        roots
            .add(ca)
            .map_err(|e| format!("bad CA certificate in {path}: {e}"))?;
    }
    Ok(roots)
}

fn server_config(
    files: TlsFiles<'_>,
    config: &Config,
) -> Result<Option<Arc<ServerConfig>>, String> {
    if files.cert.is_empty() && files.key.is_empty() {
        return Ok(None);
    }
    if files.cert.is_empty() || files.key.is_empty() {
        return Err(format!(
            "both {what}cert-file and {what}key-file must be given for TLS",
            what = files.what
        ));
    }
    let provider = provider(config)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(config)?)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if files.client_cert_auth {
        if files.trusted_ca.is_empty() {
            return Err(format!(
                "{w}client-cert-auth needs {w}trusted-ca-file",
                w = files.what
            ));
        }
        let mut verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(files.trusted_ca)?),
            provider,
        );
        if !files.crl.is_empty() {
            let crls: Vec<_> = CertificateRevocationListDer::pem_file_iter(files.crl)
                .map_err(|e| format!("cannot read CRL file {}: {e}", files.crl))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("bad CRL in {}: {e}", files.crl))?;
            verifier = verifier.with_crls(crls);
        }
        let verifier = verifier
            .build()
            .map_err(|e| format!("client certificate verifier: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let certs = read_certs(files.cert)?;
    let key = PrivateKeyDer::from_pem_file(files.key)
        .map_err(|e| format!("cannot read key file {}: {e}", files.key))?;
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not match: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}

/// The rustls server configuration for the client URLs, if TLS is configured.
pub fn client_server_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, String> {
    server_config(
        TlsFiles {
            cert: &config.cert_file,
            key: &config.key_file,
            trusted_ca: &config.trusted_ca_file,
            client_cert_auth: config.client_cert_auth,
            crl: &config.client_crl_file,
            what: "--",
        },
        config,
    )
}

/// The rustls server configuration for the peer URLs, if peer TLS is configured.
pub fn peer_server_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, String> {
    server_config(
        TlsFiles {
            cert: &config.peer_cert_file,
            key: &config.peer_key_file,
            trusted_ca: &config.peer_trusted_ca_file,
            client_cert_auth: config.peer_client_cert_auth,
            crl: &config.peer_crl_file,
            what: "--peer-",
        },
        config,
    )
}

/// The rustls client configuration this member uses to reach its peers:
/// trusts `--peer-trusted-ca-file` and presents the peer certificate.
pub fn peer_client_config(config: &Config) -> Result<Option<Arc<ClientConfig>>, String> {
    if config.peer_cert_file.is_empty() && config.peer_trusted_ca_file.is_empty() {
        return Ok(None);
    }
    let provider = provider(config)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(config)?)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if config.peer_trusted_ca_file.is_empty() {
        if !config.peer_auto_tls {
            return Err("peer TLS needs --peer-trusted-ca-file to verify other members".into());
        }
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(etcd_certs::insecure::AcceptAnyServerCert(
                provider,
            )))
    } else {
        builder.with_root_certificates(roots(&config.peer_trusted_ca_file)?)
    };
    let mut client = if config.peer_cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let certs = read_certs(&config.peer_cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&config.peer_key_file)
            .map_err(|e| format!("cannot read key file {}: {e}", config.peer_key_file))?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("peer certificate and key do not match: {e}"))?
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(Arc::new(client)))
}

/// A gRPC channel to a peer URL: plain for `http://`, TLS (with this
/// member's peer certificate) for `https://`. `lazy` connects on first use.
pub async fn peer_channel(
    url: &str,
    tls: Option<Arc<ClientConfig>>,
    lazy: bool,
) -> Result<Channel, String> {
    let plain = url.replacen("https://", "http://", 1);
    let endpoint = Endpoint::from_shared(plain)
        .map_err(|e| format!("bad peer URL {url}: {e}"))?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5));
    let Some(tls) = tls.filter(|_| url.starts_with("https://")) else {
        return if lazy {
            Ok(endpoint.connect_lazy())
        } else {
            endpoint.connect().await.map_err(|e| e.to_string())
        };
    };
    let connector = etcd_certs::connector::tls_connector(tls, 2380);
    if lazy {
        Ok(endpoint.connect_with_connector_lazy(connector))
    } else {
        endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|e| e.to_string())
    }
}

/// With `--auto-tls`/`--peer-auto-tls` and no certificate given, a
/// self-signed one made in the data dir (`fixtures/`), as etcd.
pub(crate) fn apply_auto_tls(config: &mut Config, data_dir: &Path) -> Result<(), String> {
    fn hosts(urls: &str) -> Vec<String> {
        urls.split(',')
            .filter_map(|u| crate::config::url_to_addr(u.trim()).ok())
            .map(|a| a.ip().to_string())
            .chain(std::iter::once("localhost".to_string()))
            .collect()
    }
    if config.auto_tls && config.cert_file.is_empty() {
        let (cert, key) = auto_cert(
            &data_dir.join("fixtures").join("client"),
            &hosts(&config.listen_client_urls),
        )?;
        config.cert_file = cert;
        config.key_file = key;
    }
    if config.peer_auto_tls && config.peer_cert_file.is_empty() {
        let (cert, key) = auto_cert(
            &data_dir.join("fixtures").join("peer"),
            &hosts(&config.listen_peer_urls),
        )?;
        config.peer_cert_file = cert;
        config.peer_key_file = key;
    }
    Ok(())
}
