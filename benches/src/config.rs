//! Command-line flags of `etcd-bench` and their validation.
//!
//! The raw flags ([`Args`]) are parsed by clap; [`BenchConfig::from_args`]
//! turns them into a checked configuration, so that a mistyped run fails
//! before any connection is made rather than producing meaningless numbers
//! (for example a key space that cannot be written with the given key size).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

/// The workload a run issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Put` of a random key from the key space.
    Put,
    /// Linearizable `Range` of one random key (goes through consensus / read index).
    Range,
    /// Serializable `Range` of one random key (served from the local store).
    RangeSerializable,
    /// `Txn` with one compare (`version(key) > -1`, always true) and one put.
    TxnPut,
    /// Latency from sending a `Put` to each watcher receiving its event.
    WatchLatency,
    /// Random mix of puts and linearizable ranges (see `--read-percent`).
    Mixed,
}

impl Op {
    /// All workloads, in the order the help text lists them.
    pub const ALL: [Op; 6] = [
        Op::Put,
        Op::Range,
        Op::RangeSerializable,
        Op::TxnPut,
        Op::WatchLatency,
        Op::Mixed,
    ];

    /// The flag value naming this workload.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Range => "range",
            Op::RangeSerializable => "range-serializable",
            Op::TxnPut => "txn-put",
            Op::WatchLatency => "watch-latency",
            Op::Mixed => "mixed",
        }
    }

    /// Whether the workload reads keys that should exist beforehand.
    pub fn reads(self) -> bool {
        matches!(self, Op::Range | Op::RangeSerializable | Op::Mixed)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
                format!("unknown op '{s}' (expected one of: {})", names.join(", "))
            })
    }
}

/// etcd-bench: measures any etcd v3 gRPC endpoint (etcd, etcd-rs, ...).
///
/// Every run is bounded: it stops after `--total` requests or after
/// `--duration-limit` seconds, whichever comes first.
#[derive(Parser, Debug, Clone)]
#[command(name = "etcd-bench", version, about)]
pub struct Args {
    /// Comma-separated gRPC endpoints (host:port or http://host:port).
    #[arg(long, default_value = "127.0.0.1:2379")]
    pub endpoints: String,

    /// Number of concurrent clients (tasks each with one request in flight).
    #[arg(long, default_value_t = 1)]
    pub clients: usize,

    /// Number of gRPC connections the clients share (round robin).
    #[arg(long, default_value_t = 1)]
    pub conns: usize,

    /// Total number of requests (for watch-latency: number of puts).
    #[arg(long, default_value_t = 10_000)]
    pub total: u64,

    /// Workload: put, range, range-serializable, txn-put, watch-latency, mixed.
    #[arg(long, default_value = "put")]
    pub op: Op,

    /// Size of each key in bytes.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,

    /// Size of each value in bytes.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,

    /// Number of distinct keys requests are spread over.
    #[arg(long, default_value_t = 1000)]
    pub key_space: u64,

    /// Hard cap on the whole run (connect, preload, measure) in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub duration_limit: f64,

    /// Timeout of one request in seconds (a timed out request is an error).
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,

    /// Overall request rate limit in requests per second (0 = unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Percentage of reads in the mixed workload.
    #[arg(long, default_value_t = 50)]
    pub read_percent: u8,

    /// Do not write the key space before read workloads.
    #[arg(long)]
    pub no_preload: bool,

    /// Seed of the key choice (runs with the same seed touch the same keys).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    /// Verify the servers' TLS certificates with this CA bundle (turns TLS on).
    #[arg(long)]
    pub cacert: Option<String>,

    /// Client TLS certificate file (with --key; turns TLS on).
    #[arg(long)]
    pub cert: Option<String>,

    /// Client TLS key file (with --cert).
    #[arg(long)]
    pub key: Option<String>,

    /// Do not verify the servers' certificates (testing only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,

    /// User to authenticate as: name or name:password.
    #[arg(long)]
    pub user: Option<String>,

    /// Password of --user (instead of name:password).
    #[arg(long)]
    pub password: Option<String>,
}

/// The TLS settings of a run (present when TLS is on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle; the system bundle when absent.
    pub cacert: Option<String>,
    /// Client certificate and key (both or neither).
    pub cert: Option<String>,
    pub key: Option<String>,
    pub insecure_skip_verify: bool,
}

/// Who the run authenticates as.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A validated benchmark configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    /// Endpoint URLs, each with an `http://` scheme.
    pub endpoints: Vec<String>,
    pub clients: usize,
    pub conns: usize,
    pub total: u64,
    pub op: Op,
    pub key_size: usize,
    pub val_size: usize,
    pub key_space: u64,
    pub duration_limit: Duration,
    pub request_timeout: Duration,
    /// Requests per second, `None` for unlimited.
    pub rate: Option<f64>,
    pub read_percent: u8,
    pub preload: bool,
    pub seed: u64,
    pub json: bool,
    /// TLS for every connection, `None` for plain text.
    pub tls: Option<TlsFiles>,
    /// Credentials to authenticate with, if any.
    pub credentials: Option<Credentials>,
}

/// Smallest value size of watch-latency: the value carries the put's
/// sequence number (8 bytes) so a watcher knows which put it sees.
pub const WATCH_MIN_VAL_SIZE: usize = 8;

impl BenchConfig {
    /// Checks `args` and builds the configuration of a run.
    pub fn from_args(args: &Args) -> Result<BenchConfig, String> {
        let mut endpoints = parse_endpoints(&args.endpoints)?;
        let tls = tls_files(args, &endpoints)?;
        if tls.is_some() {
            for ep in &mut endpoints {
                if let Some(rest) = ep.strip_prefix("http://") {
                    *ep = format!("https://{rest}");
                }
            }
        }
        let credentials = credentials(args)?;
        if args.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        if args.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if args.total == 0 {
            return Err("--total must be at least 1".into());
        }
        if args.key_space == 0 {
            return Err("--key-space must be at least 1".into());
        }
        if args.key_size == 0 {
            return Err("--key-size must be at least 1".into());
        }
        let digits = crate::keys::digits(args.key_space - 1);
        if digits > args.key_size {
            return Err(format!(
                "--key-size {} is too small for --key-space {} (needs {digits} bytes)",
                args.key_size, args.key_space
            ));
        }
        if args.op == Op::WatchLatency && args.val_size < WATCH_MIN_VAL_SIZE {
            return Err(format!(
                "--val-size must be at least {WATCH_MIN_VAL_SIZE} for watch-latency"
            ));
        }
        if args.read_percent > 100 {
            return Err("--read-percent must be between 0 and 100".into());
        }
        let duration_limit = positive_secs("--duration-limit", args.duration_limit)?;
        let request_timeout = positive_secs("--request-timeout", args.request_timeout)?;
        if !args.rate.is_finite() || args.rate < 0.0 {
            return Err("--rate must be a non-negative number".into());
        }
        Ok(BenchConfig {
            endpoints,
            clients: args.clients,
            conns: args.conns,
            total: args.total,
            op: args.op,
            key_size: args.key_size,
            val_size: args.val_size,
            key_space: args.key_space,
            duration_limit,
            request_timeout,
            rate: (args.rate > 0.0).then_some(args.rate),
            read_percent: args.read_percent,
            preload: !args.no_preload && args.op.reads(),
            seed: args.seed,
            json: args.json,
            tls,
            credentials,
        })
    }
}

fn positive_secs(flag: &str, secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("{flag} must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// TLS is on when a TLS file is given or the endpoints are `https://`;
/// then it applies to every endpoint, so plain and TLS endpoints cannot be
/// mixed without TLS flags.
fn tls_files(args: &Args, endpoints: &[String]) -> Result<Option<TlsFiles>, String> {
    let nonempty = |v: &Option<String>, flag: &str| match v.as_deref() {
        Some("") => Err(format!("{flag} is empty")),
        other => Ok(other.map(str::to_string)),
    };
    let files = TlsFiles {
        cacert: nonempty(&args.cacert, "--cacert")?,
        cert: nonempty(&args.cert, "--cert")?,
        key: nonempty(&args.key, "--key")?,
        insecure_skip_verify: args.insecure_skip_tls_verify,
    };
    if files.cert.is_some() != files.key.is_some() {
        return Err("--cert and --key must be given together".into());
    }
    let https = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    let flags = files.cacert.is_some() || files.cert.is_some();
    if !flags && https > 0 && https < endpoints.len() {
        return Err(
            "http:// and https:// endpoints are mixed: give --cacert (or --cert/--key) to use TLS for all"
                .into(),
        );
    }
    if flags || https > 0 {
        return Ok(Some(files));
    }
    if files.insecure_skip_verify {
        return Err(
            "--insecure-skip-tls-verify needs TLS (https:// endpoints or TLS files)".into(),
        );
    }
    Ok(None)
}

/// `--user name[:password]` and `--password`.
fn credentials(args: &Args) -> Result<Option<Credentials>, String> {
    let Some(user) = args.user.as_deref() else {
        if args.password.is_some() {
            return Err("--password needs --user".into());
        }
        return Ok(None);
    };
    let (name, password) = match (user.split_once(':'), &args.password) {
        (_, Some(p)) => (user, p.as_str()),
        (Some((n, p)), None) => (n, p),
        (None, None) => {
            return Err(format!(
                "--user {user} needs a password (--user name:password or --password)"
            ))
        }
    };
    if name.is_empty() {
        return Err("--user has an empty name".into());
    }
    Ok(Some(Credentials {
        user: name.to_string(),
        password: password.to_string(),
    }))
}

/// Splits a comma-separated endpoint list into `http://` (or `https://`)
/// URLs; a bare `host:port` gets `http://`.
pub fn parse_endpoints(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in list.split(',') {
        let ep = raw.trim();
        if ep.is_empty() {
            continue;
        }
        let url = if ep.starts_with("http://") || ep.starts_with("https://") {
            ep.to_string()
        } else if ep.contains("://") {
            return Err(format!("endpoint '{ep}': unsupported scheme"));
        } else {
            format!("http://{ep}")
        };
        let host_port = &url[url.find("://").unwrap_or(0) + 3..];
        if host_port.is_empty() || !host_port.contains(':') {
            return Err(format!("endpoint '{ep}': expected host:port"));
        }
        out.push(url);
    }
    if out.is_empty() {
        return Err("--endpoints is empty".into());
    }
    Ok(out)
}
