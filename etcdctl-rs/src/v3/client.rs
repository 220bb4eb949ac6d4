//! The gRPC connection to etcd: dials the configured endpoints in turn
//! (failing over to the next one when an endpoint is down), bounds every
//! request by `--command-timeout`, retries what clientv3 would retry, and
//! reports failures the way clientv3 does (including its warning log line).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use super::{logline, tls};

/// Connection settings taken from the global flags.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// `host:port` of each endpoint (scheme stripped).
    pub endpoints: Vec<String>,
    pub dial_timeout: Duration,
    pub command_timeout: Duration,
    pub keepalive_time: Duration,
    pub keepalive_timeout: Duration,
    /// The TLS settings of the flags; `None` dials plaintext unless an
    /// endpoint is `https://` (see [`super::tls`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The auth token (from `Authenticate`), sent with every request.
    pub token: Option<String>,
}

/// Puts the auth token into the `token` metadata of every request, as
/// clientv3's per-RPC credentials do.
#[derive(Clone)]
pub struct TokenInterceptor(Option<MetadataValue<Ascii>>);

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            req.metadata_mut().insert("token", token.clone());
        }
        Ok(req)
    }
}

/// A connection to one endpoint, with the auth token attached to requests.
pub type Conn = InterceptedService<Channel, TokenInterceptor>;

/// The Auth service's stub on a connection, with clientv3's receive limit.
pub fn auth_stub(ch: Conn) -> AuthClient<Conn> {
    AuthClient::new(ch).max_decoding_message_size(MAX_RECV_MSG_SIZE)
}

/// The Lease service's stub on a connection, with clientv3's receive limit.
pub fn lease_stub(ch: Conn) -> LeaseClient<Conn> {
    LeaseClient::new(ch).max_decoding_message_size(MAX_RECV_MSG_SIZE)
}

/// The Cluster service's stub on a connection, with clientv3's receive limit.
pub fn cluster_stub(ch: Conn) -> ClusterClient<Conn> {
    ClusterClient::new(ch).max_decoding_message_size(MAX_RECV_MSG_SIZE)
}

/// The Maintenance service's stub on a connection, with clientv3's receive
/// limit.
pub fn maintenance_stub(ch: Conn) -> MaintenanceClient<Conn> {
    MaintenanceClient::new(ch).max_decoding_message_size(MAX_RECV_MSG_SIZE)
}

/// The KV service's stub on a connection, with clientv3's receive limit.
pub fn kv_stub(ch: Conn) -> KvClient<Conn> {
    KvClient::new(ch).max_decoding_message_size(MAX_RECV_MSG_SIZE)
}

/// clientv3's default `MaxCallSendMsgSize`: grpc-go refuses to send a
/// larger request.
pub const MAX_SEND_MSG_SIZE: usize = 2 * 1024 * 1024;

/// clientv3's default `MaxCallRecvMsgSize` (`math.MaxInt32`), where tonic's
/// default would refuse responses over 4 MiB.
pub const MAX_RECV_MSG_SIZE: usize = i32::MAX as usize;

/// The status grpc-go's client fails a request of `len` encoded bytes with,
/// without sending it, when it exceeds [`MAX_SEND_MSG_SIZE`].
pub fn send_limit(len: usize) -> Option<Status> {
    (len > MAX_SEND_MSG_SIZE).then(|| {
        Status::resource_exhausted(format!(
            "trying to send message larger than max ({len} vs. {MAX_SEND_MSG_SIZE})"
        ))
    })
}

/// Why an RPC failed.
#[derive(Debug, Clone)]
pub enum RpcError {
    /// The command's deadline passed (`context deadline exceeded`).
    Deadline,
    /// The server or the transport returned an error status.
    Status(Status),
}

/// Server error messages clientv3 turns into plain `EtcdError`s
/// (rpctypes' `errStringToError`); any other status prints as
/// `rpc error: code = ... desc = ...`.
const KNOWN_ERRORS: &[&str] = &[
    "etcdserver: key is not provided",
    "etcdserver: key not found",
    "etcdserver: value is provided",
    "etcdserver: lease is provided",
    "etcdserver: too many operations in txn request",
    "etcdserver: duplicate key given in txn request",
    "etcdserver: mvcc: required revision has been compacted",
    "etcdserver: mvcc: required revision is a future revision",
    "etcdserver: mvcc: database space exceeded",
    "etcdserver: requested lease not found",
    "etcdserver: lease already exists",
    "etcdserver: too large lease TTL",
    "etcdserver: member ID already exist",
    "etcdserver: Peer URLs already exists",
    "etcdserver: re-configuration failed due to not enough started members",
    "etcdserver: given member URLs are invalid",
    "etcdserver: member not found",
    "etcdserver: can only promote a learner member",
    "etcdserver: can only promote a learner member which is in sync with leader",
    "etcdserver: too many learner members in cluster",
    "etcdserver: request is too large",
    "etcdserver: too many requests",
    "etcdserver: root user does not exist",
    "etcdserver: root user does not have root role",
    "etcdserver: user name already exists",
    "etcdserver: user name is empty",
    "etcdserver: user name not found",
    "etcdserver: role name already exists",
    "etcdserver: role name not found",
    "etcdserver: role name is empty",
    "etcdserver: authentication failed, invalid user ID or password",
    "etcdserver: permission denied",
    "etcdserver: role is not granted to the user",
    "etcdserver: permission is not granted to the role",
    "etcdserver: authentication is not enabled",
    "etcdserver: invalid auth token",
    "etcdserver: invalid auth management",
    "etcdserver: revision of auth store is old",
    "etcdserver: no leader",
    "etcdserver: not leader",
    "etcdserver: leader changed",
    "etcdserver: not capable",
    "etcdserver: server stopped",
    "etcdserver: request timed out",
    "etcdserver: request timed out, possibly due to previous leader failure",
    "etcdserver: request timed out, possibly due to connection lost",
    "etcdserver: request timed out, waiting for the applied index took too long",
    "etcdserver: request timed out, leader transfer took too long",
    "etcdserver: unhealthy cluster",
    "etcdserver: corrupt cluster",
    "etcdserver: rpc not supported for learner",
    "etcdserver: bad leader transferee",
];

/// grpc-go's name of a status code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// grpc-go's `status.Error(code, msg).Error()`.
pub fn grpc_error_string(code: Code, msg: &str) -> String {
    format!("rpc error: code = {} desc = {msg}", code_name(code))
}

/// clientv3's error text for a server status (rpctypes' `Error`).
pub fn status_message(code: Code, msg: &str) -> String {
    if KNOWN_ERRORS.contains(&msg) {
        msg.to_string()
    } else {
        grpc_error_string(code, msg)
    }
}

impl RpcError {
    /// The error text etcdctl prints for this failure.
    pub fn message(&self) -> String {
        match self {
            RpcError::Deadline => "context deadline exceeded".to_string(),
            RpcError::Status(s) => status_message(s.code(), s.message()),
        }
    }
}

/// A transport failure (as opposed to an error the etcd server returned).
fn is_transport_error(s: &Status) -> bool {
    let msg = s.message();
    // Statuses from the server never carry a source error; the client's
    // own failures (broken or closed connections) do.
    !msg.starts_with("etcdserver:")
        && (s.code() == Code::Unavailable
            || msg.contains("transport error")
            || (s.code() == Code::Cancelled && std::error::Error::source(s).is_some()))
}

/// A client connection to one of the configured endpoints.
pub struct Client {
    cfg: ConnConfig,
    /// How clientv3 names the connection in its log lines.
    target: String,
    /// A client dialing a single given endpoint (maintenance calls).
    passthrough: bool,
    conn: Option<Conn>,
    /// Whether the current connection has answered a request.
    proven: bool,
    /// Whether a connection failed before answering anything.
    rejected: bool,
    token: TokenInterceptor,
    next: usize,
    last_dial_error: String,
}

impl Client {
    /// A balanced client over all configured endpoints.
    pub fn new(cfg: ConnConfig) -> Self {
        let first = cfg.endpoints.first().cloned().unwrap_or_default();
        let target = format!("endpoint://client-{}/{}", logline::uuid4(), host_of(&first));
        Client {
            token: token_interceptor(&cfg),
            cfg,
            target,
            passthrough: false,
            conn: None,
            proven: false,
            rejected: false,
            next: 0,
            last_dial_error: String::new(),
        }
    }

    /// A client for exactly one endpoint, as clientv3's maintenance API dials.
    pub fn for_endpoint(cfg: &ConnConfig, endpoint: &str) -> Self {
        let mut cfg = cfg.clone();
        cfg.endpoints = vec![strip_scheme(endpoint).to_string()];
        Client {
            target: format!("passthrough:///{}", host_of(&cfg.endpoints[0])),
            token: token_interceptor(&cfg),
            cfg,
            passthrough: true,
            conn: None,
            proven: false,
            rejected: false,
            next: 0,
            last_dial_error: String::new(),
        }
    }

    pub fn command_timeout(&self) -> Duration {
        self.cfg.command_timeout
    }

    /// Forgets the current connection so the next call dials the next endpoint.
    pub fn reset(&mut self) {
        self.conn = None;
        if !self.cfg.endpoints.is_empty() {
            self.next = (self.next + 1) % self.cfg.endpoints.len();
        }
    }

    /// A connected channel, trying each endpoint in turn until `deadline`.
    pub async fn channel(&mut self, deadline: Instant) -> Result<Conn, RpcError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let n = self.cfg.endpoints.len();
        if n == 0 {
            return Err(RpcError::Deadline);
        }
        loop {
            for _ in 0..n {
                let now = Instant::now();
                if now >= deadline {
                    return Err(RpcError::Deadline);
                }
                let budget = self.cfg.dial_timeout.min(deadline - now);
                let ep = self.cfg.endpoints[self.next].clone();
                match self.dial(&ep, budget).await {
                    Ok(ch) => {
                        self.proven = false;
                        let conn = InterceptedService::new(ch, self.token.clone());
                        self.conn = Some(conn.clone());
                        return Ok(conn);
                    }
                    Err(e) => self.last_dial_error = e,
                }
                self.next = (self.next + 1) % n;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RpcError::Deadline);
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(100))).await;
        }
    }

    async fn dial(&self, ep: &str, budget: Duration) -> Result<Channel, String> {
        let addr = host_of(ep);
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(budget)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.cfg.keepalive_time)
            .keep_alive_timeout(self.cfg.keepalive_timeout);
        let connect = async {
            match tls::for_endpoint(ep, &self.cfg.tls) {
                None => endpoint.connect().await,
                Some(config) => {
                    endpoint
                        .connect_with_connector(etcd_certs::connector::tls_connector(config, 2379))
                        .await
                }
            }
        };
        match tokio::time::timeout(budget, connect).await {
            Ok(Ok(ch)) => Ok(ch),
            Ok(Err(e)) => Err(tls::dial_error(addr, &e)),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        }
    }

    /// The status text clientv3 logs when the deadline passes while dialing.
    fn balancer_error(&self) -> String {
        let desc = if self.passthrough {
            format!(
                "latest balancer error: connection error: desc = \"transport: Error while dialing {}\"",
                self.last_dial_error
            )
        } else {
            "latest balancer error: all SubConns are in TransientFailure".to_string()
        };
        grpc_error_string(Code::DeadlineExceeded, &desc)
    }

    fn warn(&self, attempt: u32, error: &str) {
        eprint!("{}", logline::unary_failed(&self.target, attempt, error));
    }

    /// Runs a unary RPC within the command timeout. `idempotent` requests
    /// are retried on transport failures and on `Unavailable` server
    /// errors, like clientv3's retry interceptor does for repeatable calls.
    /// `stub` makes the service's client
    /// on a connection (see [`auth_stub`], [`kv_stub`]), and `call` names the
    /// method, getting the stub and its own copy of `req` on every attempt.
    pub async fn call<S, Req, T, F, Fut>(
        &mut self,
        stub: fn(Conn) -> S,
        idempotent: bool,
        req: &Req,
        call: F,
    ) -> Result<T, RpcError>
    where
        Req: prost::Message + Clone,
        F: Fn(S, Req) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.cfg.command_timeout;
        self.call_until(stub, deadline, idempotent, req, call).await
    }

    /// [`Client::call`] with an explicit deadline. A request over clientv3's
    /// send limit fails as grpc-go fails it (after connecting, with the
    /// retry interceptor's warning) and is never sent.
    pub async fn call_until<S, Req, T, F, Fut>(
        &mut self,
        stub: fn(Conn) -> S,
        deadline: Instant,
        idempotent: bool,
        req: &Req,
        call: F,
    ) -> Result<T, RpcError>
    where
        Req: prost::Message + Clone,
        F: Fn(S, Req) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        match send_limit(req.encoded_len()) {
            Some(status) => {
                self.unary_until(deadline, idempotent, |_| {
                    std::future::ready(Err(status.clone()))
                })
                .await
            }
            None => {
                self.unary_until(deadline, idempotent, |ch| call(stub(ch), req.clone()))
                    .await
            }
        }
    }

    /// [`Client::call`]'s attempts with an explicit deadline.
    pub async fn unary_until<T, F, Fut>(
        &mut self,
        deadline: Instant,
        idempotent: bool,
        mut f: F,
    ) -> Result<T, RpcError>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut attempt = 0u32;
        loop {
            let ch = match self.channel(deadline).await {
                Ok(ch) => ch,
                Err(e) => {
                    self.warn(attempt, &self.balancer_error());
                    return Err(e);
                }
            };
            let status = match tokio::time::timeout_at(deadline, f(ch)).await {
                Ok(Ok(resp)) => {
                    self.proven = true;
                    return Ok(resp.into_inner());
                }
                Ok(Err(status)) => status,
                Err(_) => {
                    let msg = if self.rejected {
                        self.balancer_error()
                    } else {
                        grpc_error_string(Code::DeadlineExceeded, "context deadline exceeded")
                    };
                    self.warn(attempt, &msg);
                    return Err(RpcError::Deadline);
                }
            };
            if is_transport_error(&status) && !self.proven {
                // The connection failed before it ever served a request
                // (e.g. the server refused our certificate right after the
                // TLS handshake): to clientv3 that is a dial that never
                // succeeded, so the request is tried again until the deadline.
                self.rejected = true;
                self.last_dial_error = status.message().to_string();
                self.reset();
                let now = Instant::now();
                if now < deadline {
                    tokio::time::sleep((deadline - now).min(Duration::from_millis(25))).await;
                }
                continue;
            }
            if is_transport_error(&status) {
                self.reset();
                if idempotent {
                    continue;
                }
            }
            self.warn(attempt, &grpc_error_string(status.code(), status.message()));
            if idempotent && status.code() == Code::Unavailable {
                let now = Instant::now();
                if now >= deadline {
                    return Err(RpcError::Deadline);
                }
                tokio::time::sleep((deadline - now).min(Duration::from_millis(25))).await;
                attempt += 1;
                continue;
            }
            return Err(RpcError::Status(status));
        }
    }
}

fn token_interceptor(cfg: &ConnConfig) -> TokenInterceptor {
    TokenInterceptor(
        cfg.token
            .as_deref()
            .and_then(|t| MetadataValue::try_from(t).ok()),
    )
}

/// An endpoint without its scheme: the address clientv3 dials and logs.
pub fn host_of(ep: &str) -> &str {
    ep.strip_prefix("https://")
        .or_else(|| ep.strip_prefix("http://"))
        .unwrap_or(ep)
}

/// Strips `http://` from an endpoint, as clientv3 does when dialing.
pub fn strip_scheme(ep: &str) -> &str {
    ep.strip_prefix("http://").unwrap_or(ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts() {
        assert_eq!(
            status_message(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision"
            ),
            "etcdserver: mvcc: required revision is a future revision"
        );
        assert_eq!(
            status_message(Code::Unavailable, "boom"),
            "rpc error: code = Unavailable desc = boom"
        );
        assert_eq!(code_name(Code::Cancelled), "Canceled");
    }

    #[test]
    fn send_limit_is_grpc_gos() {
        assert!(send_limit(MAX_SEND_MSG_SIZE).is_none());
        let s = send_limit(3_000_008).unwrap();
        assert_eq!(
            RpcError::Status(s).message(),
            "rpc error: code = ResourceExhausted desc = trying to send message larger than max (3000008 vs. 2097152)"
        );
    }
}
