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
}

/// Smallest value size of watch-latency: the value carries the put's
/// sequence number (8 bytes) so a watcher knows which put it sees.
pub const WATCH_MIN_VAL_SIZE: usize = 8;

impl BenchConfig {
    /// Checks `args` and builds the configuration of a run.
    pub fn from_args(args: &Args) -> Result<BenchConfig, String> {
        let endpoints = parse_endpoints(&args.endpoints)?;
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
        })
    }
}

fn positive_secs(flag: &str, secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("{flag} must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Splits a comma-separated endpoint list into `http://` URLs.
///
/// TLS is not supported (the harness is built without it), so `https://`
/// endpoints are refused rather than silently spoken to in plain text.
pub fn parse_endpoints(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in list.split(',') {
        let ep = raw.trim();
        if ep.is_empty() {
            continue;
        }
        if ep.starts_with("https://") {
            return Err(format!("endpoint '{ep}': TLS is not supported"));
        }
        let url = if ep.starts_with("http://") {
            ep.to_string()
        } else if ep.contains("://") {
            return Err(format!("endpoint '{ep}': unsupported scheme"));
        } else {
            format!("http://{ep}")
        };
        let host_port = &url["http://".len()..];
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
