//! Latency statistics and the report `etcd-bench` prints.
//!
//! Percentiles are exact (nearest rank over every recorded latency, not a
//! histogram approximation): runs are bounded by `--total`, so keeping one
//! `u64` per request is cheap. The text format is one `name: value` per line
//! with fixed names and units, so scripts (`compare.sh`) can grep it; `--json`
//! gives the same numbers as one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Latency summary in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Nearest-rank percentile `p` (0 < p <= 100) of ascending `sorted` values:
/// the smallest value such that at least p% of the values are <= it.
/// `None` when there are no values.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[idx])
}

impl Latency {
    /// Summarises latencies given in microseconds (sorted in place).
    pub fn from_micros(samples: &mut [u64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let ms = |p: f64| percentile(samples, p).map_or(0.0, |us| us as f64 / 1000.0);
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Latency {
            p50: ms(50.0),
            p90: ms(90.0),
            p99: ms(99.0),
            max: ms(100.0),
            mean: sum as f64 / samples.len() as f64 / 1000.0,
        }
    }
}

/// Failed requests of one kind (gRPC code, timeout, ...), with the first
/// message seen as an example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorKind {
    pub kind: String,
    pub count: u64,
    pub sample: String,
}

/// Counts errors by kind; per client, then merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorTally {
    kinds: BTreeMap<String, (u64, String)>,
}

impl ErrorTally {
    /// Records `n` errors of `kind`; `sample` is kept for the first one.
    pub fn add(&mut self, kind: &str, n: u64, sample: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        self.kinds
            .entry(kind.to_string())
            .or_insert_with(|| (0, sample()))
            .0 += n;
    }

    pub fn merge(&mut self, other: ErrorTally) {
        for (kind, (n, sample)) in other.kinds {
            self.kinds.entry(kind).or_insert((0, sample)).0 += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.kinds.values().map(|(n, _)| n).sum()
    }

    /// Kinds, most frequent first (ties by name).
    pub fn kinds(&self) -> Vec<ErrorKind> {
        let mut out: Vec<ErrorKind> = self
            .kinds
            .iter()
            .map(|(kind, (count, sample))| ErrorKind {
                kind: kind.clone(),
                count: *count,
                sample: sample.clone(),
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
        out
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub op: String,
    pub endpoints: Vec<String>,
    pub clients: usize,
    pub conns: usize,
    /// Requests asked for with `--total` (for watch-latency: puts).
    pub total: u64,
    /// Successful requests (for watch-latency: watch events received).
    pub requests: u64,
    /// Failed requests (for watch-latency: failed puts and missed events).
    pub errors: u64,
    /// Requests still in flight when `--duration-limit` cut the run short:
    /// neither successes nor errors (their outcome is unknown).
    pub abandoned: u64,
    /// Measured phase only (after connecting and preloading).
    pub elapsed_s: f64,
    /// Successful requests per second of the measured phase.
    pub throughput_rps: f64,
    /// Latency of successful requests, in milliseconds.
    pub latency_ms: Latency,
    /// The run hit `--duration-limit` before finishing `--total`.
    pub stopped_by_duration_limit: bool,
    pub error_kinds: Vec<ErrorKind>,
}

impl Report {
    /// Builds a report from raw measurements (latencies in microseconds).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: &str,
        endpoints: &[String],
        clients: usize,
        conns: usize,
        total: u64,
        latencies_us: &mut [u64],
        errors: &ErrorTally,
        elapsed: Duration,
        stopped_by_duration_limit: bool,
    ) -> Report {
        let requests = latencies_us.len() as u64;
        let secs = elapsed.as_secs_f64();
        Report {
            op: op.to_string(),
            endpoints: endpoints.to_vec(),
            clients,
            conns,
            total,
            requests,
            errors: errors.total(),
            abandoned: 0,
            elapsed_s: secs,
            throughput_rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            latency_ms: Latency::from_micros(latencies_us),
            stopped_by_duration_limit,
            error_kinds: errors.kinds(),
        }
    }

    /// The stable text form: one `name: value` line each, fixed order.
    pub fn to_text(&self) -> String {
        let l = &self.latency_ms;
        let mut s = String::new();
        let _ = writeln!(s, "op: {}", self.op);
        let _ = writeln!(s, "endpoints: {}", self.endpoints.join(","));
        let _ = writeln!(s, "clients: {}", self.clients);
        let _ = writeln!(s, "conns: {}", self.conns);
        let _ = writeln!(s, "total: {}", self.total);
        let _ = writeln!(s, "requests: {}", self.requests);
        let _ = writeln!(s, "errors: {}", self.errors);
        let _ = writeln!(s, "abandoned: {}", self.abandoned);
        let _ = writeln!(s, "elapsed_s: {:.3}", self.elapsed_s);
        let _ = writeln!(s, "throughput_rps: {:.1}", self.throughput_rps);
        let _ = writeln!(
            s,
            "latency_ms: p50={:.3} p90={:.3} p99={:.3} max={:.3} mean={:.3}",
            l.p50, l.p90, l.p99, l.max, l.mean
        );
        let _ = writeln!(
            s,
            "stopped_by_duration_limit: {}",
            self.stopped_by_duration_limit
        );
        for e in &self.error_kinds {
            let sample: String = e.sample.chars().take(200).collect();
            let _ = writeln!(s, "error: {} x{}: {}", e.kind, e.count, sample.trim());
        }
        s
    }

    /// The JSON form (same fields as the text form).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
