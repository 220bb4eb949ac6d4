//! Server configuration: etcd's flag names, defaults and `ETCD_*`
//! environment variables, so existing etcd command lines and unit files work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// etcd-rs: an etcd-compatible, Raft-replicated key-value store.
#[derive(Parser, Debug, Clone)]
#[command(name = "etcd-rs", version, about)]
pub struct Config {
    /// Human-readable name for this member.
    #[arg(long, env = "ETCD_NAME", default_value = "default")]
    pub name: String,

    /// Path to the data directory (default: ${name}.etcd).
    #[arg(long, env = "ETCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Path to the dedicated WAL directory (default: inside the data dir).
    #[arg(long, env = "ETCD_WAL_DIR")]
    pub wal_dir: Option<PathBuf>,

    /// URLs to listen on for client traffic.
    #[arg(
        long,
        env = "ETCD_LISTEN_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub listen_client_urls: String,

    /// Client URLs of this member advertised to the cluster.
    #[arg(
        long,
        env = "ETCD_ADVERTISE_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub advertise_client_urls: String,

    /// URLs to listen on for peer traffic.
    #[arg(
        long,
        env = "ETCD_LISTEN_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub listen_peer_urls: String,

    /// Peer URLs of this member advertised to the rest of the cluster.
    #[arg(
        long,
        env = "ETCD_INITIAL_ADVERTISE_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub initial_advertise_peer_urls: String,

    /// Initial cluster configuration for bootstrapping (name=peerURL,...).
    #[arg(long, env = "ETCD_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,

    /// Initial cluster state ('new' or 'existing').
    #[arg(long, env = "ETCD_INITIAL_CLUSTER_STATE", default_value = "new")]
    pub initial_cluster_state: String,

    /// Initial cluster token for the etcd cluster during bootstrap.
    #[arg(
        long,
        env = "ETCD_INITIAL_CLUSTER_TOKEN",
        default_value = "etcd-cluster"
    )]
    pub initial_cluster_token: String,

    /// Number of committed transactions to trigger a snapshot to disk.
    #[arg(long, env = "ETCD_SNAPSHOT_COUNT", default_value_t = 100_000)]
    pub snapshot_count: u64,

    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, env = "ETCD_HEARTBEAT_INTERVAL", default_value_t = 100)]
    pub heartbeat_interval: u64,

    /// Time (in milliseconds) for an election to timeout.
    #[arg(long, env = "ETCD_ELECTION_TIMEOUT", default_value_t = 1000)]
    pub election_timeout: u64,

    /// Raise alarms when backend size exceeds the given quota (0 = 2 GiB).
    #[arg(long, env = "ETCD_QUOTA_BACKEND_BYTES", default_value_t = 0)]
    pub quota_backend_bytes: i64,

    /// Maximum client request size in bytes the server will accept.
    #[arg(long, env = "ETCD_MAX_REQUEST_BYTES", default_value_t = 1_572_864)]
    pub max_request_bytes: u32,

    /// Maximum number of operations permitted in a transaction.
    #[arg(long, env = "ETCD_MAX_TXN_OPS", default_value_t = 128)]
    pub max_txn_ops: u32,

    /// Auth token type and its options: `simple`, or
    /// `jwt,pub-key=<path>,priv-key=<path>,sign-method=<alg>[,ttl=<duration>]`.
    #[arg(long, env = "ETCD_AUTH_TOKEN", default_value = "simple")]
    pub auth_token: String,

    /// Time to live of simple auth tokens, in seconds (refreshed on use).
    #[arg(long, env = "ETCD_AUTH_TOKEN_TTL", default_value_t = 300)]
    pub auth_token_ttl: u64,

    /// bcrypt cost for hashing auth passwords (4..=31).
    #[arg(long, env = "ETCD_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,

    /// Interpret 'auto-compaction-retention' as 'periodic' or 'revision'.
    #[arg(long, env = "ETCD_AUTO_COMPACTION_MODE", default_value = "periodic")]
    pub auto_compaction_mode: String,

    /// Auto compaction retention (hours or a duration like 30m for periodic,
    /// a revision count for revision). 0 disables auto compaction.
    #[arg(long, env = "ETCD_AUTO_COMPACTION_RETENTION", default_value = "0")]
    pub auto_compaction_retention: String,

    /// How often watchers that asked for progress notifications get one
    /// (a Go duration such as 10m or 500ms).
    #[arg(
        long = "experimental-watch-progress-notify-interval",
        env = "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL",
        default_value = "10m"
    )]
    pub watch_progress_notify_interval: String,

    /// Answer linearizable reads on the leader from its lease instead of a
    /// ReadIndex round to a quorum (raft's lease-based read, which needs
    /// check-quorum, always on here). Safe only while clocks run at nearly
    /// the same rate on every member: a leader trusts that no other member
    /// can be elected within an election timeout of the last time a quorum
    /// answered it. A member whose clock runs slow (or a process paused
    /// longer than that, e.g. by SIGSTOP or a VM migration) may serve a stale
    /// read. Off by default, as etcd has no such option.
    #[arg(long = "experimental-lease-based-reads", env = "ETCD_EXPERIMENTAL_LEASE_BASED_READS", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub lease_based_reads: bool,

    /// Path to the client server TLS cert file.
    #[arg(long, env = "ETCD_CERT_FILE", default_value = "")]
    pub cert_file: String,

    /// Path to the client server TLS key file.
    #[arg(long, env = "ETCD_KEY_FILE", default_value = "")]
    pub key_file: String,

    /// Path to the client server TLS trusted CA cert file.
    #[arg(long, env = "ETCD_TRUSTED_CA_FILE", default_value = "")]
    pub trusted_ca_file: String,

    /// Enable client cert authentication.
    #[arg(long, env = "ETCD_CLIENT_CERT_AUTH", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub client_cert_auth: bool,

    /// Path to the client certificate revocation list file.
    #[arg(long, env = "ETCD_CLIENT_CRL_FILE", default_value = "")]
    pub client_crl_file: String,

    /// Path to the peer server TLS cert file.
    #[arg(long, env = "ETCD_PEER_CERT_FILE", default_value = "")]
    pub peer_cert_file: String,

    /// Path to the peer server TLS key file.
    #[arg(long, env = "ETCD_PEER_KEY_FILE", default_value = "")]
    pub peer_key_file: String,

    /// Path to the peer server TLS trusted CA file.
    #[arg(long, env = "ETCD_PEER_TRUSTED_CA_FILE", default_value = "")]
    pub peer_trusted_ca_file: String,

    /// Enable peer client cert authentication.
    #[arg(long, env = "ETCD_PEER_CLIENT_CERT_AUTH", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub peer_client_cert_auth: bool,

    /// Path to the peer certificate revocation list file.
    #[arg(long, env = "ETCD_PEER_CRL_FILE", default_value = "")]
    pub peer_crl_file: String,

    /// Client TLS using generated (self-signed) certificates.
    #[arg(long, env = "ETCD_AUTO_TLS", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub auto_tls: bool,

    /// Peer TLS using generated (self-signed) certificates; peers are not
    /// verified, as in etcd.
    #[arg(long, env = "ETCD_PEER_AUTO_TLS", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub peer_auto_tls: bool,

    /// Serve etcd's v2 HTTP API (`/v2/keys`, `/v2/members`, `/v2/stats`,
    /// `/v2/machines`) on the client URLs, emulated on the v3 store.
    #[arg(long, env = "ETCD_ENABLE_V2", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_v2: bool,

    /// Allowed CN for inter-peer authentication.
    #[arg(long, env = "ETCD_PEER_CERT_ALLOWED_CN", default_value = "")]
    pub peer_cert_allowed_cn: String,

    /// Comma-separated list of supported TLS 1.2 cipher suites (default: all).
    #[arg(long, env = "ETCD_CIPHER_SUITES", default_value = "")]
    pub cipher_suites: String,

    /// Minimum TLS version supported by etcd (TLS1.2 or TLS1.3).
    #[arg(long, env = "ETCD_TLS_MIN_VERSION", default_value = "TLS1.2")]
    pub tls_min_version: String,

    /// Log level: debug, info, warn, error, panic, or fatal.
    #[arg(long, env = "ETCD_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Accepted for compatibility with etcd (logs always go through tracing).
    #[arg(long, env = "ETCD_LOGGER", default_value = "zap")]
    pub logger: String,

    /// Accepted for compatibility with etcd: logs go to stderr.
    #[arg(long, env = "ETCD_LOG_OUTPUTS", default_value = "default")]
    pub log_outputs: String,
}

/// Default quota when `--quota-backend-bytes` is 0, as etcd.
pub const DEFAULT_QUOTA_BYTES: i64 = 2 * 1024 * 1024 * 1024;

impl Config {
    /// A configuration from etcd's flags as the binary takes them, without
    /// the program name (`["--data-dir=/tmp/m", "--name=m0"]`); what is not
    /// given has etcd's default.
    pub fn from_flags<I, T>(flags: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let argv = std::iter::once(std::ffi::OsString::from("etcd-rs"))
            .chain(flags.into_iter().map(Into::into));
        <Config as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name)))
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.wal_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("member").join("wal"))
    }

    pub fn quota_bytes(&self) -> i64 {
        if self.quota_backend_bytes <= 0 {
            DEFAULT_QUOTA_BYTES
        } else {
            self.quota_backend_bytes
        }
    }

    /// The progress notification interval (etcd's default on a bad value).
    pub fn progress_notify_interval(&self) -> Duration {
        gostd::parse_std_duration(&self.watch_progress_notify_interval)
            .ok()
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(600))
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval.max(1))
    }

    /// Election timeout in ticks of one heartbeat.
    pub fn election_ticks(&self) -> usize {
        (self.election_timeout / self.heartbeat_interval.max(1)).max(2) as usize
    }

    /// Shortest lease TTL in seconds: 1.5 election timeouts, rounded up (etcd's rule).
    pub fn min_lease_ttl(&self) -> i64 {
        let ms = (3 * self.election_ticks() as u64 / 2) * self.heartbeat_interval;
        ms.div_ceil(1000) as i64
    }

    pub fn advertise_client_urls(&self) -> Vec<String> {
        split_urls(&self.advertise_client_urls)
    }

    pub fn advertise_peer_urls(&self) -> Vec<String> {
        split_urls(&self.initial_advertise_peer_urls)
    }

    /// `--initial-cluster`, or this member alone with its advertised peer URLs.
    /// The new cluster `--initial-cluster` and `--initial-cluster-token`
    /// describe.
    pub fn new_cluster(&self) -> etcd_datadir::NewCluster {
        etcd_datadir::NewCluster {
            members: self.initial_cluster(),
            token: self.initial_cluster_token.clone(),
        }
    }

    pub fn initial_cluster(&self) -> Vec<(String, Vec<String>)> {
        let spec = match &self.initial_cluster {
            Some(s) => s.clone(),
            None => self
                .advertise_peer_urls()
                .iter()
                .map(|u| format!("{}={u}", self.name))
                .collect::<Vec<_>>()
                .join(","),
        };
        let mut members: Vec<(String, Vec<String>)> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, url) = part.split_once('=').unwrap_or(("", part));
            match members.iter_mut().find(|(n, _)| n == name) {
                Some((_, urls)) => urls.push(url.to_string()),
                None => members.push((name.to_string(), vec![url.to_string()])),
            }
        }
        members
    }

    /// Peer listeners: address and whether it speaks TLS (`https://`).
    pub fn peer_listeners(&self) -> Result<Vec<(SocketAddr, bool)>, String> {
        split_urls(&self.listen_peer_urls)
            .iter()
            .map(|u| Ok((url_to_addr(u)?, u.starts_with("https://"))))
            .collect()
    }

    /// Client listeners: address and whether it speaks TLS (`https://`).
    pub fn client_listeners(&self) -> Result<Vec<(SocketAddr, bool)>, String> {
        split_urls(&self.listen_client_urls)
            .iter()
            .map(|u| Ok((url_to_addr(u)?, u.starts_with("https://"))))
            .collect()
    }

    /// Socket addresses to bind for client traffic.
    pub fn client_listen_addrs(&self) -> Result<Vec<SocketAddr>, String> {
        split_urls(&self.listen_client_urls)
            .iter()
            .map(|u| url_to_addr(u))
            .collect()
    }
}

fn split_urls(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

/// `http://host:port` -> a socket address (`localhost` or no host means
/// 127.0.0.1); the URL is parsed by the `http` crate's `Uri`.
pub fn url_to_addr(url: &str) -> Result<SocketAddr, String> {
    let uri: axum::http::Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https" | "unix")) {
        return Err(format!("URL scheme must be http or https: {url}"));
    }
    let port = uri
        .port_u16()
        .ok_or_else(|| format!("missing port in URL: {url}"))?;
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "localhost" | "" => std::net::IpAddr::from([127, 0, 0, 1]),
        h => h
            .parse()
            .map_err(|_| format!("cannot bind to host {h} (use an IP address)"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_socket_addresses() {
        let addr = |u: &str| url_to_addr(u).map(|a| a.to_string());
        assert_eq!(addr("http://localhost:2379").unwrap(), "127.0.0.1:2379");
        assert_eq!(addr("https://:2380").unwrap(), "127.0.0.1:2380");
        assert_eq!(addr("http://[::1]:2379/").unwrap(), "[::1]:2379");
        assert_eq!(addr("http://127.0.0.2:1/x").unwrap(), "127.0.0.2:1");
        assert!(addr("http://127.0.0.1")
            .unwrap_err()
            .contains("missing port"));
        assert!(addr("ftp://127.0.0.1:1").unwrap_err().contains("scheme"));
        assert!(addr("http://example.com:1")
            .unwrap_err()
            .contains("use an IP address"));
    }

    #[test]
    fn defaults_match_etcd() {
        let c = Config::parse_from(["etcd-rs"]);
        assert_eq!(c.data_dir(), PathBuf::from("default.etcd"));
        assert_eq!(c.election_ticks(), 10);
        assert_eq!(c.min_lease_ttl(), 2);
        assert_eq!(
            c.initial_cluster(),
            vec![(
                "default".to_string(),
                vec!["http://localhost:2380".to_string()]
            )]
        );
        assert_eq!(
            c.client_listen_addrs().expect("default urls parse"),
            vec!["127.0.0.1:2379".parse().expect("addr")]
        );
    }

    #[test]
    fn flags_with_equals_and_values() {
        let c = Config::parse_from([
            "etcd-rs",
            "--name=n1",
            "--initial-cluster",
            "n1=http://127.0.0.1:1,n2=http://127.0.0.1:2",
        ]);
        assert_eq!(c.data_dir(), PathBuf::from("n1.etcd"));
        assert_eq!(c.initial_cluster().len(), 2);
    }
}
