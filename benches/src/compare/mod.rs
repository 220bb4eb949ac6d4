//! `etcd-bench compare`: one workload against two servers, alternated.
//!
//! A single run of a benchmark says little: the machine's load, the page
//! cache and the CPU's clock move between runs. What holds is a ratio
//! taken between runs made minutes apart on the same machine, repeated,
//! with the median kept. So `compare` runs each workload against side A,
//! then side B, for `--pairs` pairs, and reports every pair's ratio
//! (B / A, requests per second, per report of the run) and their median.
//!
//! A side is either an endpoint that is already serving (`--a-endpoint`)
//! or a server binary that takes etcd's flags (`--a-server /usr/bin/etcd`,
//! `--b-server target/release/etcd-rs`). A server is started fresh for
//! every run (a new temp data dir, free loopback ports, one member), is
//! waited for until it answers `Status`, and is killed after the run with
//! its data dir removed, so no run sees another's data. For a server it
//! started, `compare` also reports the CPU seconds (user + system) the
//! process spent during the measured run and its peak resident memory
//! (`VmHWM`), both read from `/proc`.
//!
//! The workload is an ordinary `etcd-bench` command line (its global
//! flags and a subcommand); `--endpoints` is filled in by `compare`.
//! Starting and measuring a server is in `server.rs`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser};

mod server;

use server::{cpu_secs, peak_mib, StartedServer};

use crate::cli::{Cli, OutputFormat};
use crate::config::BenchConfig;

/// etcd-bench compare: the same workloads against two servers, alternated A B A B ...
///
/// Example:
///   etcd-bench compare --pairs 3 --a-server /usr/bin/etcd --b-server target/release/etcd-rs \
///     --workload "--clients 1000 --conns 100 put --total 30000 --key-size 8 --val-size 256"
#[derive(Parser, Debug, Clone)]
#[command(name = "etcd-bench compare")]
pub struct CompareCli {
    #[command(flatten)]
    pub a: SideA,

    #[command(flatten)]
    pub b: SideB,

    /// Pairs of runs per workload (A then B, repeated).
    #[arg(long, default_value_t = 3)]
    pub pairs: usize,

    /// A workload: etcd-bench's global flags and a subcommand with its flags,
    /// split on whitespace (repeat for several workloads).
    #[arg(
        long = "workload",
        value_name = "ARGS",
        required = true,
        allow_hyphen_values = true
    )]
    pub workloads: Vec<String>,

    /// text (a table per workload) or json (one object per workload and report).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Keep each started server's log here (default: removed with its data dir).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

/// Side A of the comparison.
#[derive(Args, Debug, Clone)]
pub struct SideA {
    /// A server binary taking etcd's flags; started fresh for every run.
    #[arg(id = "a-server", long = "a-server", value_name = "BIN")]
    pub server: Option<PathBuf>,
    /// An endpoint already serving (host:port).
    #[arg(id = "a-endpoint", long = "a-endpoint", value_name = "HOST:PORT")]
    pub endpoint: Option<String>,
    /// A name for side A in the report (default: the binary's or endpoint's).
    #[arg(id = "a-name", long = "a-name")]
    pub name: Option<String>,
    /// An extra flag for side A's server (repeat; e.g. --a-flag=--snapshot-count=10000).
    #[arg(
        id = "a-flag",
        long = "a-flag",
        value_name = "FLAG",
        allow_hyphen_values = true
    )]
    pub flags: Vec<String>,
}

/// Side B of the comparison.
#[derive(Args, Debug, Clone)]
pub struct SideB {
    /// A server binary taking etcd's flags; started fresh for every run.
    #[arg(id = "b-server", long = "b-server", value_name = "BIN")]
    pub server: Option<PathBuf>,
    /// An endpoint already serving (host:port).
    #[arg(id = "b-endpoint", long = "b-endpoint", value_name = "HOST:PORT")]
    pub endpoint: Option<String>,
    /// A name for side B in the report.
    #[arg(id = "b-name", long = "b-name")]
    pub name: Option<String>,
    /// An extra flag for side B's server (repeat).
    #[arg(
        id = "b-flag",
        long = "b-flag",
        value_name = "FLAG",
        allow_hyphen_values = true
    )]
    pub flags: Vec<String>,
}

/// One side: what to run against and what to call it.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Start this binary (etcd's flags) for every run, with these extra flags.
    Server { bin: PathBuf, flags: Vec<String> },
    /// Use this endpoint as it is.
    Endpoint(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub name: String,
    pub target: Target,
}

impl Side {
    fn new(
        server: &Option<PathBuf>,
        endpoint: &Option<String>,
        name: &Option<String>,
        flags: &[String],
    ) -> Result<Side, String> {
        let target = match (server, endpoint) {
            (Some(bin), None) => Target::Server {
                bin: bin.clone(),
                flags: flags.to_vec(),
            },
            (None, Some(ep)) if flags.is_empty() => Target::Endpoint(ep.clone()),
            (None, Some(_)) => return Err("server flags given for an endpoint".into()),
            (Some(_), Some(_)) => {
                return Err("give a server binary or an endpoint, not both".into())
            }
            (None, None) => return Err("give a server binary or an endpoint".into()),
        };
        let name = name.clone().unwrap_or_else(|| match &target {
            Target::Server { bin, .. } => bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| bin.display().to_string()),
            Target::Endpoint(ep) => ep.clone(),
        });
        Ok(Side { name, target })
    }
}

/// A checked comparison.
#[derive(Clone, Debug)]
pub struct ComparePlan {
    pub a: Side,
    pub b: Side,
    pub pairs: usize,
    /// Each workload's text and its argument list.
    pub workloads: Vec<(String, Vec<String>)>,
    pub output: OutputFormat,
    pub log_dir: Option<PathBuf>,
}

impl ComparePlan {
    pub fn from_cli(cli: &CompareCli) -> Result<ComparePlan, String> {
        let a = Side::new(&cli.a.server, &cli.a.endpoint, &cli.a.name, &cli.a.flags)
            .map_err(|e| format!("side A: {e}"))?;
        let b = Side::new(&cli.b.server, &cli.b.endpoint, &cli.b.name, &cli.b.flags)
            .map_err(|e| format!("side B: {e}"))?;
        if cli.pairs == 0 {
            return Err("--pairs must be at least 1".into());
        }
        let mut workloads = Vec::new();
        for w in &cli.workloads {
            let args: Vec<String> = w.split_whitespace().map(str::to_string).collect();
            if args.iter().any(|a| a.starts_with("--endpoints")) {
                return Err(format!("workload {w:?}: --endpoints is set by compare"));
            }
            // Checked now, so a typo fails before any server starts.
            workload_config(&args, "127.0.0.1:2379").map_err(|e| format!("workload {w:?}: {e}"))?;
            workloads.push((w.trim().to_string(), args));
        }
        Ok(ComparePlan {
            a,
            b,
            pairs: cli.pairs,
            workloads,
            output: cli.output,
            log_dir: cli.log_dir.clone(),
        })
    }
}

/// The configuration of one run of `args` against `endpoint`.
fn workload_config(args: &[String], endpoint: &str) -> Result<BenchConfig, String> {
    let argv = ["etcd-bench", "--endpoints", endpoint]
        .into_iter()
        .map(str::to_string)
        .chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string().trim_end().to_string())?;
    BenchConfig::from_cli(&cli)
}

/// What one run against one side measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Requests per second of each report, by report name, in run order.
    pub rps: Vec<(String, f64)>,
    /// Failed requests over all reports.
    pub failed: u64,
    /// CPU seconds of the server during the run (started servers only).
    pub cpu_secs: Option<f64>,
    /// Peak resident memory of the server in MiB (started servers only).
    pub peak_mib: Option<f64>,
}

/// Both runs of one pair.
#[derive(Clone, Debug, PartialEq)]
pub struct PairResult {
    pub a: RunResult,
    pub b: RunResult,
}

/// Every pair of one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadResult {
    pub workload: String,
    pub pairs: Vec<PairResult>,
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn rps_of(run: &RunResult, report: &str) -> Option<f64> {
    run.rps.iter().find(|(n, _)| n == report).map(|(_, r)| *r)
}

impl WorkloadResult {
    /// The report names every run of A and B produced, in run order.
    pub fn reports(&self) -> Vec<String> {
        let Some(first) = self.pairs.first() else {
            return Vec::new();
        };
        first
            .a
            .rps
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| {
                self.pairs
                    .iter()
                    .all(|p| rps_of(&p.a, n).is_some() && rps_of(&p.b, n).is_some())
            })
            .collect()
    }

    /// B / A requests per second of `report`, one per pair.
    pub fn ratios(&self, report: &str) -> Vec<f64> {
        self.pairs
            .iter()
            .filter_map(|p| Some(rps_of(&p.b, report)? / rps_of(&p.a, report)?))
            .collect()
    }

    /// B / A of a server measure (CPU seconds or peak MiB), one per pair
    /// where both sides were started servers.
    fn measure_ratios(&self, f: impl Fn(&RunResult) -> Option<f64>) -> Vec<f64> {
        self.pairs
            .iter()
            .filter_map(|p| Some(f(&p.b)? / f(&p.a)?))
            .collect()
    }

    /// The text table of this workload.
    pub fn to_text(&self, a: &str, b: &str) -> String {
        let mut s = format!("workload: {}\n", self.workload);
        for (i, p) in self.pairs.iter().enumerate() {
            for report in self.reports() {
                let (ra, rb) = (rps_of(&p.a, &report), rps_of(&p.b, &report));
                let (ra, rb) = (ra.unwrap_or(0.0), rb.unwrap_or(0.0));
                s.push_str(&format!(
                    "  pair {}: {report}: {a} {ra:.1} req/s{}, {b} {rb:.1} req/s{}, ratio {:.3}\n",
                    i + 1,
                    server_text(&p.a),
                    server_text(&p.b),
                    rb / ra
                ));
            }
            if p.a.failed + p.b.failed > 0 {
                s.push_str(&format!(
                    "  pair {}: failed requests: {a} {}, {b} {}\n",
                    i + 1,
                    p.a.failed,
                    p.b.failed
                ));
            }
        }
        for report in self.reports() {
            let ratios = self.ratios(&report);
            if let Some(m) = median(&ratios) {
                s.push_str(&format!(
                    "  median ratio ({b} / {a}), {report}: {m:.3} {}\n",
                    list(&ratios)
                ));
            }
        }
        for (what, f) in [
            (
                "CPU seconds",
                (|r: &RunResult| r.cpu_secs) as fn(&RunResult) -> Option<f64>,
            ),
            ("peak memory", |r: &RunResult| r.peak_mib),
        ] {
            let ratios = self.measure_ratios(f);
            if let Some(m) = median(&ratios) {
                s.push_str(&format!(
                    "  median ratio ({b} / {a}), {what}: {m:.3} {}\n",
                    list(&ratios)
                ));
            }
        }
        s
    }

    /// One JSON object per report of this workload.
    pub fn to_json_lines(&self, a: &str, b: &str) -> String {
        let mut out = String::new();
        for report in self.reports() {
            let pairs: Vec<serde_json::Value> = self
                .pairs
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "a": run_json(&p.a, &report),
                        "b": run_json(&p.b, &report),
                    })
                })
                .collect();
            let ratios = self.ratios(&report);
            let obj = serde_json::json!({
                "workload": self.workload,
                "report": report,
                "a": a,
                "b": b,
                "pairs": pairs,
                "ratios": ratios,
                "median_ratio": median(&ratios),
                "median_cpu_ratio": median(&self.measure_ratios(|r| r.cpu_secs)),
                "median_peak_memory_ratio": median(&self.measure_ratios(|r| r.peak_mib)),
            });
            out.push_str(&obj.to_string());
            out.push('\n');
        }
        out
    }
}

fn run_json(run: &RunResult, report: &str) -> serde_json::Value {
    serde_json::json!({
        "requests_per_sec": rps_of(run, report),
        "failed": run.failed,
        "cpu_secs": run.cpu_secs,
        "peak_mib": run.peak_mib,
    })
}

fn server_text(run: &RunResult) -> String {
    match (run.cpu_secs, run.peak_mib) {
        (Some(cpu), Some(mib)) => format!(" (cpu {cpu:.2} s, peak {mib:.0} MiB)"),
        _ => String::new(),
    }
}

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
    format!("[{}]", items.join(", "))
}

/// Runs the plan, printing each workload's result as it completes.
pub async fn run_plan(plan: &ComparePlan) -> Result<Vec<WorkloadResult>, String> {
    let mut results = Vec::new();
    for (text, args) in &plan.workloads {
        let mut pairs = Vec::new();
        for _ in 0..plan.pairs {
            let a = run_side(&plan.a, args, plan.log_dir.as_deref()).await?;
            let b = run_side(&plan.b, args, plan.log_dir.as_deref()).await?;
            pairs.push(PairResult { a, b });
        }
        let result = WorkloadResult {
            workload: text.clone(),
            pairs,
        };
        match plan.output {
            OutputFormat::Text => print!("{}", result.to_text(&plan.a.name, &plan.b.name)),
            OutputFormat::Json => print!("{}", result.to_json_lines(&plan.a.name, &plan.b.name)),
        }
        results.push(result);
    }
    Ok(results)
}

/// One run of `args` against `side` (starting and stopping its server).
async fn run_side(
    side: &Side,
    args: &[String],
    log_dir: Option<&Path>,
) -> Result<RunResult, String> {
    match &side.target {
        Target::Endpoint(ep) => measure(args, ep, None).await,
        Target::Server { bin, flags } => {
            let server = StartedServer::start(&side.name, bin, flags, log_dir)?;
            let result = match server.wait_ready().await {
                Ok(()) => measure(args, &server.endpoint, Some(server.pid())).await,
                Err(e) => Err(e),
            };
            let log = server.stop();
            result.map_err(|e| format!("{}: {e}{log}", side.name))
        }
    }
}

async fn measure(args: &[String], endpoint: &str, pid: Option<u32>) -> Result<RunResult, String> {
    let cfg = workload_config(args, endpoint)?;
    let cpu_before = pid.map(cpu_secs).transpose()?;
    let outcome = crate::run(&cfg).await?;
    let cpu_after = pid.map(cpu_secs).transpose()?;
    Ok(RunResult {
        rps: outcome
            .sections
            .iter()
            .map(|s| (s.stats.name.clone(), s.stats.rps))
            .collect(),
        failed: outcome
            .sections
            .iter()
            .map(|s| s.stats.errors.values().sum::<u64>())
            .sum(),
        cpu_secs: cpu_before.zip(cpu_after).map(|(b, a)| a - b),
        peak_mib: pid.map(peak_mib).transpose()?,
    })
}
