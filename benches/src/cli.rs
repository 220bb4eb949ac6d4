//! The command line of `etcd-bench`, shaped like etcd's `tools/benchmark`.
//!
//! `etcd-bench [global flags] <subcommand> [flags]`: the global flags
//! (`--endpoints`, `--conns`, `--clients`, TLS, auth, output) are clap
//! `global` arguments, so, like cobra's persistent flags, they may stand
//! before or after the subcommand. Each subcommand has etcd's own flag
//! names and defaults (`put --total` defaults to 10000, `watch-latency
//! --key-size` to 32, ...), so an etcd user's command line runs unchanged.
//!
//! Flags etcd lacks are extras with defaults that keep every run bounded:
//! `--duration-limit` caps the whole run, `--request-timeout` one request.
//! This module only declares what clap parses ([`Cli`]);
//! [`crate::config`] checks it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// etcd-bench: etcd's benchmark tool for any etcd v3 gRPC endpoint.
///
/// Every run is bounded: each subcommand stops after its `--total` (or
/// `--put-total`) requests or after `--duration-limit`, whichever is first.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "etcd-bench",
    version,
    about,
    after_help = "Comparison mode (two servers alternated, ratios, CPU and memory): etcd-bench compare --help"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// etcd's persistent flags, plus this tool's extras.
#[derive(Args, Debug, Clone)]
pub struct GlobalFlags {
    /// gRPC endpoints (comma separated or repeated; host:port or http(s)://host:port).
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,

    /// Total number of gRPC connections.
    #[arg(long, global = true, default_value_t = 1)]
    pub conns: usize,

    /// Total number of gRPC clients.
    #[arg(long, global = true, default_value_t = 1)]
    pub clients: usize,

    /// Use full floating point precision in the report.
    #[arg(long, global = true)]
    pub precise: bool,

    /// Sample requests for every second (adds etcd's per-second table).
    #[arg(long, global = true)]
    pub sample: bool,

    /// Identify HTTPS client using this SSL certificate file.
    #[arg(long, global = true)]
    pub cert: Option<String>,

    /// Identify HTTPS client using this SSL key file.
    #[arg(long, global = true)]
    pub key: Option<String>,

    /// Verify certificates of HTTPS-enabled servers using this CA bundle.
    #[arg(long, global = true)]
    pub cacert: Option<String>,

    /// Username[:password] to authenticate as.
    #[arg(long, global = true)]
    pub user: Option<String>,

    /// Dial timeout for client connections (Go duration, e.g. 2s; 0 = 5s).
    #[arg(long, global = true, default_value = "0", value_parser = parse_go_duration)]
    pub dial_timeout: Duration,

    /// Connect only to the leader node.
    #[arg(long, global = true)]
    pub target_leader: bool,

    /// Output format of the report: text (etcd's) or json (one object per report).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Also write one CSV row per request (report, start offset, latency, error) to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Also draw the latency percentile curve and histogram to FILE (SVG).
    #[arg(long, global = true, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Hard cap on the whole run (connect, setup, measure), in seconds.
    #[arg(long, global = true, default_value_t = 60.0)]
    pub duration_limit: f64,

    /// Timeout of one request in seconds (a timed out request is an error).
    #[arg(long, global = true, default_value_t = 10.0)]
    pub request_timeout: f64,

    /// Seed of the random keys and values (runs with the same seed match).
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,

    /// Do not verify the servers' certificates (testing only).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,

    /// Password of --user (instead of --user name:password).
    #[arg(long, global = true)]
    pub password: Option<String>,
}

/// How the report is printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// etcd's benchmark subcommands.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Benchmark put.
    Put(PutFlags),
    /// Benchmark range.
    Range(RangeFlags),
    /// Benchmark txn-put.
    TxnPut(TxnPutFlags),
    /// Benchmark a mixed load of txn-put & txn-range.
    TxnMixed(TxnMixedFlags),
    /// Benchmark lease keepalive.
    LeaseKeepalive(LeaseFlags),
    /// Benchmark watch: watch creation, then events from concurrent puts.
    Watch(WatchFlags),
    /// Benchmark watch latency: from a put to each watcher's event.
    WatchLatency(WatchLatencyFlags),
    /// Benchmark serializable gets while many unsynced watchers catch up.
    WatchGet(WatchGetFlags),
    /// Benchmark STM transactions.
    Stm(StmFlags),
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Put(_) => "put",
            Command::Range(_) => "range",
            Command::TxnPut(_) => "txn-put",
            Command::TxnMixed(_) => "txn-mixed",
            Command::LeaseKeepalive(_) => "lease-keepalive",
            Command::Watch(_) => "watch",
            Command::WatchLatency(_) => "watch-latency",
            Command::WatchGet(_) => "watch-get",
            Command::Stm(_) => "stm",
        }
    }
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct PutFlags {
    /// Key size of put request.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size of put request.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Maximum puts per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Total number of put requests.
    #[arg(long, default_value_t = 10000)]
    pub total: u64,
    /// Maximum possible keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
    /// Use sequential keys.
    #[arg(long)]
    pub sequential_keys: bool,
    /// Interval to compact the database (Go duration, e.g. 5m; 0 = never).
    #[arg(long, default_value = "0", value_parser = parse_go_duration)]
    pub compact_interval: Duration,
    /// Delta between the current revision and the compact revision.
    #[arg(long, default_value_t = 1000)]
    pub compact_index_delta: i64,
    /// Check hashkv after the run.
    #[arg(long)]
    pub check_hashkv: bool,
}

/// Linearizable (`l`) or serializable (`s`) reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Consistency {
    #[value(name = "l")]
    Linearizable,
    #[value(name = "s")]
    Serializable,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct RangeFlags {
    /// The key to read (the range start).
    #[arg(id = "range_key", value_name = "KEY")]
    pub key: String,
    /// The range end (exclusive); one key when absent.
    #[arg(id = "range_end", value_name = "END")]
    pub end: Option<String>,
    /// Maximum range requests per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Total number of range requests.
    #[arg(long, default_value_t = 10000)]
    pub total: u64,
    /// Linearizable(l) or Serializable(s).
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct TxnPutFlags {
    /// Key size of txn put.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size of txn put.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Number of puts per txn.
    #[arg(long, default_value_t = 1)]
    pub txn_ops: u64,
    /// Maximum txns per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Total number of txn requests.
    #[arg(long, default_value_t = 10000)]
    pub total: u64,
    /// Maximum possible keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct TxnMixedFlags {
    /// Accepted for etcd's usage line (`txn-mixed key [end-range]`); reads use --end-key.
    #[arg(id = "mixed_key", value_name = "KEY")]
    pub key: Option<String>,
    /// Accepted for etcd's usage line; unused.
    #[arg(id = "mixed_end", value_name = "END")]
    pub end: Option<String>,
    /// Key size of mixed txn.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size of mixed txn.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Maximum txns per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Total number of txn requests.
    #[arg(long, default_value_t = 10000)]
    pub total: u64,
    /// Read operation range end key (reads are a prefix range over all keys, as etcd's).
    #[arg(long, default_value = "")]
    pub end_key: String,
    /// Read operation range result limit.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Maximum possible keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
    /// Linearizable(l) or Serializable(s).
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,
    /// Read/write ops ratio.
    #[arg(long, default_value_t = 1.0)]
    pub rw_ratio: f64,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct LeaseFlags {
    /// Total number of lease keepalive requests.
    #[arg(long, default_value_t = 10000)]
    pub total: u64,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct WatchFlags {
    /// Total watch streams.
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Total watchers per stream.
    #[arg(long, default_value_t = 100)]
    pub watch_per_stream: usize,
    /// PrevKV enabled on watch requests.
    #[arg(long)]
    pub prevkv: bool,
    /// Number of keys to put per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub put_rate: u64,
    /// Number of put requests.
    #[arg(long, default_value_t = 1000)]
    pub put_total: u64,
    /// Key size of watch request.
    #[arg(long, default_value_t = 32)]
    pub key_size: usize,
    /// Maximum possible keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
    /// Use sequential keys.
    #[arg(long)]
    pub sequential_keys: bool,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct WatchLatencyFlags {
    /// Total watch streams.
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Total watchers per stream.
    #[arg(long, default_value_t = 10)]
    pub watchers_per_stream: usize,
    /// PrevKV enabled on watch requests.
    #[arg(long)]
    pub prevkv: bool,
    /// Total number of put requests.
    #[arg(long, default_value_t = 1000)]
    pub put_total: u64,
    /// Number of keys to put per second (0 is no limit).
    #[arg(long, default_value_t = 100)]
    pub put_rate: u64,
    /// Key size of watch response.
    #[arg(long, default_value_t = 32)]
    pub key_size: usize,
    /// Value size of watch response.
    #[arg(long, default_value_t = 32)]
    pub val_size: usize,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct WatchGetFlags {
    /// Total number of watchers.
    #[arg(long, default_value_t = 10000)]
    pub watchers: usize,
    /// Total number of watcher streams.
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Number of events per watcher.
    #[arg(long, default_value_t = 8)]
    pub events: u64,
}

/// STM isolation levels, with etcd's one-letter names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Isolation {
    /// Read committed: no conflict checks.
    #[value(name = "c")]
    ReadCommitted,
    /// Repeatable reads: the keys read must be unchanged at commit.
    #[value(name = "r")]
    RepeatableReads,
    /// Serializable: reads at the first read's revision; keys read unchanged.
    #[value(name = "s")]
    Serializable,
    /// Serializable snapshot: as serializable, and keys written unchanged too.
    #[value(name = "ss")]
    SerializableSnapshot,
}

/// What wraps each STM transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StmLocker {
    /// The STM alone (optimistic, retried on conflict).
    Stm,
    /// Each transaction inside a client-side mutex (clientv3's `concurrency.Mutex`).
    LockClient,
    /// etcd's v3lock RPC (not supported by etcd-bench).
    LockRpc,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct StmFlags {
    /// Read Committed (c), Repeatable Reads (r), Serializable (s), or Snapshot (ss).
    #[arg(long, value_enum, default_value = "r")]
    pub isolation: Isolation,
    /// Total unique keys accessible by the benchmark.
    #[arg(long, default_value_t = 1)]
    pub keys: u64,
    /// Total number of completed STM transactions.
    #[arg(long, default_value_t = 10000)]
    pub total: u64,
    /// Number of keys to access per transaction.
    #[arg(long, default_value_t = 1)]
    pub keys_per_txn: u64,
    /// Percentage of keys to overwrite per transaction.
    #[arg(long, default_value_t = 50)]
    pub txn_wr_percent: u64,
    /// Wrap STM transaction with a custom locking mechanism (stm, lock-client, lock-rpc).
    #[arg(long, value_enum, default_value = "stm")]
    pub stm_locker: StmLocker,
    /// Value size of each STM put request.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Maximum STM transactions per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

/// Parses a Go duration (`0`, `500ms`, `5m`, `1h30m`), as etcd's tool does.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    gostd::parse_std_duration(s)
}
