//! A small HTTP client for etcd's v2 API with the behaviour of Go's
//! `client/v2`: requests go to the pinned endpoint and fail over to the
//! next one, dial errors and 5xx answers are collected into a "cluster
//! unavailable" error, redirects are not followed, each request has a
//! header timeout (`--timeout`) and the whole command a deadline
//! (`--total-timeout`). With `--debug` every request is echoed as a cURL
//! command line, and before the first request the client syncs its
//! endpoint list from `/v2/members` unless `--no-sync` is given.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::cli::go_quote;

/// An endpoint URL split into its parts.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub scheme: String,
    pub host: String,
    pub base_path: String,
}

impl Endpoint {
    /// Parses an endpoint as Go's `url.Parse` (plus a default `http`
    /// scheme) would, with its error text.
    pub fn parse(raw: &str) -> Result<Endpoint, String> {
        if let Some((scheme, rest)) = raw.split_once("://") {
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            return Ok(Endpoint {
                scheme: scheme.to_ascii_lowercase(),
                host: host.to_string(),
                base_path: path.trim_end_matches('/').to_string(),
            });
        }
        let first_segment = raw.split('/').next().unwrap_or("");
        if let Some((scheme, _)) = first_segment.split_once(':') {
            let valid_scheme = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if valid_scheme {
                return Ok(Endpoint {
                    scheme: scheme.to_ascii_lowercase(),
                    host: String::new(),
                    base_path: String::new(),
                });
            }
            return Err(format!(
                "parse {}: first path segment in URL cannot contain colon",
                go_quote(raw)
            ));
        }
        Ok(Endpoint {
            scheme: "http".into(),
            host: String::new(),
            base_path: raw.to_string(),
        })
    }

    /// The endpoint as Go prints a `url.URL`.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.base_path)
    }
}

/// One HTTP request relative to an endpoint.
pub struct Request {
    pub method: &'static str,
    /// Escaped path and query, appended to the endpoint's base path.
    pub path: String,
    pub body: Option<(String, &'static str)>,
    /// A long-poll watch: no header timeout and no total deadline.
    pub wait: bool,
}

impl Request {
    pub fn new(method: &'static str, path: String) -> Request {
        Request {
            method,
            path,
            body: None,
            wait: false,
        }
    }

    pub fn with_body(mut self, body: String, content_type: &'static str) -> Request {
        self.body = Some((body, content_type));
        self
    }
}

/// A raw answer.
pub struct Answer {
    pub status: u16,
    pub index: u64,
    pub body: Bytes,
}

/// Why a request failed.
#[derive(Debug, Clone)]
pub enum ClientError {
    /// Every endpoint failed; each entry says why and whether it was a
    /// connection-level failure.
    Cluster(Vec<(String, bool)>),
    /// The command's deadline passed.
    Deadline,
    /// Anything else, printed as is.
    Other(String),
}

impl ClientError {
    /// Go's `isConnectionError`.
    pub fn is_connection_error(&self) -> bool {
        match self {
            ClientError::Cluster(errs) => errs.iter().all(|(_, conn)| *conn),
            ClientError::Deadline => true,
            ClientError::Other(_) => false,
        }
    }

    /// `ClusterError.Detail()`, for clusters errors only.
    pub fn detail(&self) -> Option<String> {
        match self {
            ClientError::Cluster(errs) => Some(
                errs.iter()
                    .enumerate()
                    .map(|(i, (e, _))| format!("error #{i}: {e}\n"))
                    .collect(),
            ),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Cluster(errs) => {
                write!(f, "client: etcd cluster is unavailable or misconfigured")?;
                for (i, (e, _)) in errs.iter().enumerate() {
                    writeln!(f, "; error #{i}: {e}")?;
                }
                Ok(())
            }
            ClientError::Deadline => write!(f, "context deadline exceeded"),
            ClientError::Other(s) => write!(f, "{s}"),
        }
    }
}

/// The client's settings and state.
pub struct Client {
    pub endpoints: Vec<Endpoint>,
    pinned: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
    header_timeout: Duration,
    pub dial_timeout: Duration,
    pub deadline: Option<Instant>,
    credentials: Option<(String, String)>,
    pub debug: bool,
}

/// Go's `tlsutil.NewCertPool` over one file: every PEM block must be a
/// certificate (a key block fails x509's parse); a file without PEM data
/// gives an empty pool.
fn read_ca(path: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
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
fn read_key_pair(
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
fn pem_kinds(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .map(str::to_string)
        .collect()
}

/// The system CA bundle (Go's default roots), empty when none is installed.
fn system_roots() -> rustls::RootCertStore {
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
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
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
fn tls_error_text(e: &rustls::Error) -> String {
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

impl Client {
    pub fn new(
        endpoints: Vec<Endpoint>,
        tls: Option<Arc<rustls::ClientConfig>>,
        header_timeout: Duration,
        credentials: Option<(String, String)>,
        debug: bool,
    ) -> Client {
        Client {
            endpoints,
            pinned: 0,
            tls,
            header_timeout,
            dial_timeout: Duration::from_secs(30),
            deadline: None,
            credentials,
            debug,
        }
    }

    /// The TLS settings, for probes to other URLs.
    pub fn tls_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    pub fn endpoint_list(&self, sep: &str) -> String {
        self.endpoints
            .iter()
            .map(Endpoint::url)
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// Sends `req` to the pinned endpoint, failing over to the others.
    pub async fn call(&mut self, req: &Request) -> Result<Answer, ClientError> {
        let n = self.endpoints.len();
        let mut errors = Vec::new();
        for i in self.pinned..self.pinned + n {
            let k = i % n;
            let ep = self.endpoints[k].clone();
            let deadline = if req.wait { None } else { self.deadline };
            let attempt = self.send(&ep, req);
            let result = match deadline {
                // Go checks the context before sending: an expired
                // deadline fails even a request that would be quick.
                Some(d) if Instant::now() >= d => return Err(ClientError::Deadline),
                Some(d) => {
                    match tokio::time::timeout(d.saturating_duration_since(Instant::now()), attempt)
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => return Err(ClientError::Deadline),
                    }
                }
                None => attempt.await,
            };
            match result {
                Err(e) => errors.push(e),
                Ok(a) if a.status / 100 == 5 => {
                    let msg = if a.status == 500 || a.status == 503 {
                        format!("client: etcd member {} has no leader", ep.url())
                    } else {
                        format!(
                            "client: etcd member {} returns server error [{}]",
                            ep.url(),
                            status_text(a.status)
                        )
                    };
                    errors.push((msg, false));
                }
                Ok(a) => {
                    self.pinned = k;
                    return Ok(a);
                }
            }
        }
        Err(ClientError::Cluster(errors))
    }

    /// One attempt on one endpoint; the error flag tells connection errors.
    async fn send(&self, ep: &Endpoint, req: &Request) -> Result<Answer, (String, bool)> {
        let url = format!("{}{}", ep.url(), req.path);
        if self.debug {
            let mut line = format!("cURL Command: curl -X {} {url}", req.method);
            if let Some((body, _)) = &req.body {
                line.push_str(&format!(" -d {}", go_quote(body)));
            }
            eprintln!("{line}");
        }
        if ep.scheme != "http" && ep.scheme != "https" {
            return Err((
                format!("unsupported protocol scheme {}", go_quote(&ep.scheme)),
                false,
            ));
        }
        let addr = if ep.host.contains(':') {
            ep.host.clone()
        } else if ep.scheme == "https" {
            format!("{}:443", ep.host)
        } else {
            format!("{}:80", ep.host)
        };
        let dial_err = |why: String| (format!("dial tcp {addr}: {why}"), true);
        let tcp = match tokio::time::timeout(self.dial_timeout, TcpStream::connect(&addr)).await {
            Err(_) => return Err(dial_err("i/o timeout".into())),
            Ok(Err(e)) => return Err(dial_err(format!("connect: {}", errno_text(&e)))),
            Ok(Ok(s)) => s,
        };
        let header_timeout =
            (!req.wait && !self.header_timeout.is_zero()).then_some(self.header_timeout);
        let timeout_msg = format!("client: endpoint {} exceeded header timeout", ep.url());
        let exchange = async {
            if ep.scheme == "https" {
                let config = match &self.tls {
                    Some(c) => c.clone(),
                    None => default_tls(),
                };
                let host = ep
                    .host
                    .rsplit_once(':')
                    .map_or(ep.host.as_str(), |(h, _)| h);
                let name = rustls::pki_types::ServerName::try_from(
                    host.trim_matches(|c| c == '[' || c == ']').to_string(),
                )
                .map_err(|e| (e.to_string(), false))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        let text = tls_failure(&e).unwrap_or_else(|| errno_text(&e));
                        (text, false)
                    })?;
                self.exchange(TokioIo::new(tls), ep, req, header_timeout, &timeout_msg)
                    .await
            } else {
                self.exchange(TokioIo::new(tcp), ep, req, header_timeout, &timeout_msg)
                    .await
            }
        };
        exchange.await
    }

    async fn exchange<T>(
        &self,
        io: T,
        ep: &Endpoint,
        req: &Request,
        header_timeout: Option<Duration>,
        timeout_msg: &str,
    ) -> Result<Answer, (String, bool)>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        // A TLS alert after the handshake (a refused client certificate
        // under TLS 1.3) and a connection closed by the server are not
        // connection errors for Go's client (crypto/tls's "remote error",
        // io.EOF); other transport failures are.
        let io_err = |e: hyper::Error| {
            if let Some(t) = tls_failure(&e) {
                (t, false)
            } else if e.is_incomplete_message() {
                ("EOF".to_string(), false)
            } else {
                (e.to_string(), true)
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(io_err)?;
        tokio::spawn(conn);
        let mut builder = hyper::Request::builder()
            .method(req.method)
            .uri(format!("{}{}", ep.base_path, req.path))
            .header("Host", ep.host.as_str());
        if let Some((user, pass)) = &self.credentials {
            builder = builder.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{user}:{pass}")
                    )
                ),
            );
        }
        let body = match &req.body {
            Some((b, ct)) => {
                builder = builder.header("Content-Type", *ct);
                Full::new(Bytes::from(b.clone()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).map_err(|e| (e.to_string(), false))?;
        let pending = sender.send_request(request);
        let response = match header_timeout {
            Some(t) => match tokio::time::timeout(t, pending).await {
                Ok(r) => r.map_err(io_err)?,
                Err(_) => return Err((timeout_msg.to_string(), true)),
            },
            None => pending.await.map_err(io_err)?,
        };
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("X-Etcd-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io_err)?
            .to_bytes();
        Ok(Answer {
            status,
            index,
            body,
        })
    }
}

/// What Go's transport uses for an `https://` endpoint without TLS files:
/// the system roots.
fn default_tls() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
    )
}

/// Go's `http.StatusText` for the 5xx codes.
fn status_text(code: u16) -> &'static str {
    match code {
        501 => "Not Implemented",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Go's path escaping of `url.URL.EscapedPath` (keeps `/` and the
/// characters allowed in a path).
pub fn escape_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go's `url.QueryEscape` (space as `+`).
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url.Values.Encode`: sorted keys, escaped pairs.
pub fn encode_form(pairs: &mut [(&str, String)]) -> String {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Go's `pathutil.CanonicalURLPath`: a leading `/`, `path.Clean`, and a
/// kept trailing slash.
pub fn canonical_path(p: &str) -> String {
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_forms() {
        assert_eq!(
            escape_path("/v2/keys/a b/c%d?e"),
            "/v2/keys/a%20b/c%25d%3Fe"
        );
        assert_eq!(
            encode_form(&mut [("value", "v x&y".into()), ("ttl", "5".into())]),
            "ttl=5&value=v+x%26y"
        );
        assert_eq!(canonical_path("/v2/keys/"), "/v2/keys/");
        assert_eq!(canonical_path("/v2/keys/a/../b"), "/v2/keys/b");
    }

    #[test]
    fn endpoint_parsing() {
        assert!(Endpoint::parse("127.0.0.1:2379").is_err());
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:2379").unwrap().url(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            Endpoint::parse("localhost:2379").unwrap().scheme,
            "localhost"
        );
    }
}
