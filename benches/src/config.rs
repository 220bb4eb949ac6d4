//! The checked configuration of a run.
//!
//! [`BenchConfig::from_cli`] takes what clap parsed ([`crate::cli::Cli`])
//! and turns it into a [`BenchConfig`]: endpoints normalised into URLs,
//! TLS and credentials resolved, and etcd's own checks of each subcommand
//! (positive key spaces, `--txn-ops` within the key space, keys wide
//! enough for their varint ...), so that a mistyped run fails before any
//! connection is made rather than producing meaningless numbers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::cli::{
    Cli, Command, Consistency, GlobalFlags, Isolation, LeaseFlags, OutputFormat, PutFlags,
    RangeFlags, StmFlags, StmLocker, TxnMixedFlags, TxnPutFlags, WatchFlags, WatchGetFlags,
    WatchLatencyFlags,
};

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

/// How to connect: endpoints, connection counts, TLS and auth.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectConfig {
    /// Endpoint URLs, each with an `http://` or `https://` scheme.
    pub endpoints: Vec<String>,
    pub conns: usize,
    pub dial_timeout: Duration,
    pub target_leader: bool,
    /// TLS for every connection, `None` for plain text.
    pub tls: Option<TlsFiles>,
    /// Credentials to authenticate with, if any.
    pub credentials: Option<Credentials>,
}

/// Where and how the results go.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputConfig {
    pub format: OutputFormat,
    pub precise: bool,
    pub sample: bool,
    pub csv: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

/// A validated benchmark configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    pub connect: ConnectConfig,
    pub clients: usize,
    pub output: OutputConfig,
    pub duration_limit: Duration,
    pub request_timeout: Duration,
    pub seed: u64,
    pub command: Command,
}

impl BenchConfig {
    /// Checks the parsed command line and builds the configuration of a run.
    pub fn from_cli(cli: &Cli) -> Result<BenchConfig, String> {
        let g = &cli.global;
        let mut endpoints = parse_endpoints(&g.endpoints)?;
        let tls = tls_files(g, &endpoints)?;
        if tls.is_some() {
            for ep in &mut endpoints {
                if let Some(rest) = ep.strip_prefix("http://") {
                    *ep = format!("https://{rest}");
                }
            }
        }
        let credentials = credentials(g)?;
        if g.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        if g.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if let Some(plot) = &g.plot {
            if plot.extension().and_then(|e| e.to_str()) != Some("svg") {
                return Err(format!(
                    "--plot {}: only SVG is drawn (name the file *.svg)",
                    plot.display()
                ));
            }
        }
        check_command(&cli.command)?;
        Ok(BenchConfig {
            connect: ConnectConfig {
                endpoints,
                conns: g.conns,
                dial_timeout: g.dial_timeout,
                target_leader: g.target_leader,
                tls,
                credentials,
            },
            clients: g.clients,
            output: OutputConfig {
                format: g.output,
                precise: g.precise,
                sample: g.sample,
                csv: g.csv.clone(),
                plot: g.plot.clone(),
            },
            duration_limit: positive_secs("--duration-limit", g.duration_limit)?,
            request_timeout: positive_secs("--request-timeout", g.request_timeout)?,
            seed: g.seed,
            command: cli.command.clone(),
        })
    }
}

/// The checks etcd makes before a run (and a few it leaves to a panic).
fn check_command(command: &Command) -> Result<(), String> {
    let positive = |flag: &str, n: u64| {
        if n == 0 {
            Err(format!("expected positive {flag}, got (0)"))
        } else {
            Ok(())
        }
    };
    let key_fits = |key_size: usize, key_space: u64| {
        let needed = crate::keys::varint_len(key_space.saturating_sub(1));
        if key_size < needed {
            Err(format!(
                "--key-size {key_size} is too small for --key-space-size {key_space} (needs {needed} bytes)"
            ))
        } else {
            Ok(())
        }
    };
    match command {
        Command::Put(f) => {
            positive("--key-space-size", f.key_space_size)?;
            positive("--total", f.total)?;
            key_fits(f.key_size, f.key_space_size)?;
        }
        Command::Range(f) => positive("--total", f.total)?,
        Command::TxnPut(f) => {
            positive("--key-space-size", f.key_space_size)?;
            positive("--txn-ops", f.txn_ops)?;
            positive("--total", f.total)?;
            if f.txn_ops > f.key_space_size {
                return Err(format!(
                    "expected --txn-ops no larger than --key-space-size, got txn-ops({}) key-space-size({})",
                    f.txn_ops, f.key_space_size
                ));
            }
            key_fits(f.key_size, f.key_space_size)?;
        }
        Command::TxnMixed(f) => {
            positive("--key-space-size", f.key_space_size)?;
            positive("--total", f.total)?;
            key_fits(f.key_size, f.key_space_size)?;
            if !f.rw_ratio.is_finite() || f.rw_ratio < 0.0 {
                return Err("--rw-ratio must be a non-negative number".into());
            }
        }
        Command::LeaseKeepalive(f) => positive("--total", f.total)?,
        Command::Watch(f) => {
            positive("--key-space-size", f.key_space_size)?;
            positive("--streams", f.streams as u64)?;
            positive("--put-total", f.put_total)?;
            key_fits(f.key_size, f.key_space_size)?;
        }
        Command::WatchLatency(f) => {
            positive("--streams", f.streams as u64)?;
            positive("--watchers-per-stream", f.watchers_per_stream as u64)?;
            positive("--put-total", f.put_total)?;
        }
        Command::WatchGet(f) => {
            positive("--watchers", f.watchers as u64)?;
            positive("--streams", f.streams as u64)?;
            positive("--events", f.events)?;
        }
        Command::Stm(f) => {
            positive("--keys", f.keys)?;
            positive("--total", f.total)?;
            if f.txn_wr_percent > 100 {
                return Err(format!(
                    "expected [0, 100] --txn-wr-percent, got ({})",
                    f.txn_wr_percent
                ));
            }
            if f.keys_per_txn > f.keys {
                return Err(format!(
                    "expected --keys-per-txn between 0 and {}, got ({})",
                    f.keys, f.keys_per_txn
                ));
            }
            if f.stm_locker == StmLocker::LockRpc {
                return Err(
                    "--stm-locker lock-rpc: not supported by etcd-bench (use stm or lock-client)"
                        .into(),
                );
            }
        }
    }
    Ok(())
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
fn tls_files(g: &GlobalFlags, endpoints: &[String]) -> Result<Option<TlsFiles>, String> {
    let nonempty = |v: &Option<String>, flag: &str| match v.as_deref() {
        Some("") => Err(format!("{flag} is empty")),
        other => Ok(other.map(str::to_string)),
    };
    let files = TlsFiles {
        cacert: nonempty(&g.cacert, "--cacert")?,
        cert: nonempty(&g.cert, "--cert")?,
        key: nonempty(&g.key, "--key")?,
        insecure_skip_verify: g.insecure_skip_tls_verify,
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

/// `--user name[:password]` and `--password`. etcd prompts for a missing
/// password; this tool runs unattended, so it refuses instead.
fn credentials(g: &GlobalFlags) -> Result<Option<Credentials>, String> {
    let Some(user) = g.user.as_deref() else {
        if g.password.is_some() {
            return Err("--password needs --user".into());
        }
        return Ok(None);
    };
    let (name, password) = match (user.split_once(':'), &g.password) {
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

/// Normalises endpoints into `http://` (or `https://`) URLs; a bare
/// `host:port` gets `http://`. Entries may themselves hold commas.
pub fn parse_endpoints<S: AsRef<str>>(list: &[S]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in list.iter().flat_map(|s| s.as_ref().split(',')) {
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
