//! Connections of a run: gRPC channels, over TLS when asked, and the auth
//! token every request carries when a user is given.
//!
//! TLS is used when any of `--cacert`, `--cert`, `--key` is set or an
//! endpoint is `https://` (as etcdctl does): the server is verified against
//! `--cacert` (or the system bundle) unless `--insecure-skip-tls-verify`,
//! and `--cert`/`--key` are presented as the client certificate. The
//! handshake is done by rustls (ring) through a tonic connector, so tonic
//! itself needs no TLS feature. With `--user`, one `Authenticate` call on
//! the first channel gets the token, and an interceptor puts it into the
//! `token` metadata of every request, as clientv3 does. Each new channel
//! is proven with one `Status` call before the run uses it. With
//! `--target-leader`, every endpoint is asked for its status first and only
//! the one that reports itself as leader is used.

use etcd_certs::connector::tls_connector;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{AuthenticateRequest, StatusRequest, StatusResponse};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio::time::timeout_at;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::config::{ConnectConfig, Credentials, TlsFiles};

/// How long to wait for one connection when `--dial-timeout` is 0.
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where Debian (and most Linux systems) keep the system CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Adds the auth token (if any) to every request.
#[derive(Clone, Default)]
pub struct Token(Option<AsciiMetadataValue>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("token", t.clone());
        }
        Ok(req)
    }
}

/// A channel whose requests carry the run's token.
pub type Conn = InterceptedService<Channel, Token>;

/// Connects `--conns` channels round robin over the endpoints (or the
/// leader alone with `--target-leader`) and, with credentials,
/// authenticates once.
pub async fn connect_all(cfg: &ConnectConfig, deadline: Instant) -> Result<Vec<Conn>, String> {
    let tls = match &cfg.tls {
        Some(files) => Some(client_config(files)?),
        None => None,
    };
    let dial = if cfg.dial_timeout.is_zero() {
        DEFAULT_DIAL_TIMEOUT
    } else {
        cfg.dial_timeout
    };
    let endpoints = if cfg.target_leader {
        vec![find_leader(&cfg.endpoints, &tls, dial, deadline).await?]
    } else {
        cfg.endpoints.clone()
    };
    let mut channels = Vec::with_capacity(cfg.conns);
    for i in 0..cfg.conns {
        let url = &endpoints[i % endpoints.len()];
        channels.push(connect(url, tls.clone(), dial, deadline).await?.0);
    }
    let token = match &cfg.credentials {
        Some(c) => Token(Some(authenticate(&channels[0], c, deadline).await?)),
        None => Token(None),
    };
    Ok(channels
        .into_iter()
        .map(|ch| InterceptedService::new(ch, token.clone()))
        .collect())
}

/// The endpoint whose member reports itself as the leader.
async fn find_leader(
    endpoints: &[String],
    tls: &Option<Arc<ClientConfig>>,
    dial: Duration,
    deadline: Instant,
) -> Result<String, String> {
    let mut seen = Vec::new();
    for url in endpoints {
        match connect(url, tls.clone(), dial, deadline).await {
            Ok((_, status)) => {
                let member = status.header.as_ref().map_or(0, |h| h.member_id);
                if member != 0 && member == status.leader {
                    return Ok(url.clone());
                }
                seen.push(format!(
                    "{url}: member {member:x}, leader {:x}",
                    status.leader
                ));
            }
            Err(e) => seen.push(e),
        }
    }
    Err(format!(
        "--target-leader: no endpoint is the leader ({})",
        seen.join("; ")
    ))
}

async fn connect(
    url: &str,
    tls: Option<Arc<ClientConfig>>,
    dial: Duration,
    deadline: Instant,
) -> Result<(Channel, StatusResponse), String> {
    // tonic dials the URI itself only for plain text; TLS goes through the
    // connector, which needs an http:// URI to hand over.
    let plain = url.replacen("https://", "http://", 1);
    let endpoint = Endpoint::from_shared(plain)
        .map_err(|e| format!("endpoint {url}: {e}"))?
        .connect_timeout(dial)
        .tcp_nodelay(true);
    let connecting = async {
        match tls {
            None => endpoint.connect().await,
            Some(config) => {
                endpoint
                    .connect_with_connector(tls_connector(config, 2379))
                    .await
            }
        }
    };
    let channel = timeout_at(deadline.into(), connecting)
        .await
        .map_err(|_| format!("connecting to {url}: duration limit reached"))?
        .map_err(|e| format!("connecting to {url}: {}", describe(&e)))?;
    // With TLS 1.3 a server refuses a client certificate only after the
    // client considers the handshake done, so one untimed Status call
    // proves the connection before anything is measured.
    let mut maintenance = MaintenanceClient::new(channel.clone());
    let status = timeout_at(deadline.into(), maintenance.status(StatusRequest {}))
        .await
        .map_err(|_| format!("connecting to {url}: duration limit reached"))?
        .map_err(|s| format!("connecting to {url}: {}", status_text(&s)))?
        .into_inner();
    Ok((channel, status))
}

/// A failed call's message with its transport cause, if any.
fn status_text(s: &tonic::Status) -> String {
    match std::error::Error::source(s) {
        Some(cause) => format!("{}: {}", s.message(), describe(cause)),
        None => s.message().to_string(),
    }
}

/// A transport error with its causes (the TLS reason is usually a cause).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

async fn authenticate(
    channel: &Channel,
    credentials: &Credentials,
    deadline: Instant,
) -> Result<AsciiMetadataValue, String> {
    let req = AuthenticateRequest {
        name: credentials.user.clone(),
        password: credentials.password.clone(),
    };
    let resp = timeout_at(
        deadline.into(),
        AuthClient::new(channel.clone()).authenticate(req),
    )
    .await
    .map_err(|_| "authenticating: duration limit reached".to_string())?
    .map_err(|s| format!("authenticating as {}: {}", credentials.user, s.message()))?;
    resp.into_inner()
        .token
        .parse()
        .map_err(|_| "authenticating: the server's token is not ASCII".to_string())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))
}

fn certs_in(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&read_pem(path)?)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!("{path}: no PEM certificate found"));
    }
    Ok(certs)
}

/// The rustls configuration the TLS flags ask for.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match &files.cacert {
        Some(path) => {
            for c in certs_in(path)? {
                roots.add(c).map_err(|e| format!("{path}: {e}"))?;
            }
        }
        None => {
            if let Some(pem) = SYSTEM_BUNDLES.iter().find_map(|p| std::fs::read(p).ok()) {
                for c in CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok) {
                    let _ = roots.add(c);
                }
            }
        }
    }
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if files.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(etcd_certs::insecure::AcceptAnyServerCert(
                provider,
            )))
    } else {
        builder.with_root_certificates(roots)
    };
    let mut config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = certs_in(cert)?;
            let key_der = PrivateKeyDer::from_pem_slice(&read_pem(key)?)
                .map_err(|_| format!("{key}: no PEM private key found"))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("client certificate {cert}: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
