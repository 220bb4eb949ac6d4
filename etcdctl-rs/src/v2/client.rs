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

use super::tls::{default_tls, errno_text, tls_failure};

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

#[cfg(test)]
mod tests {
    use super::*;

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
