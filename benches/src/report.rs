//! Latency statistics and etcd's report, in text and JSON.
//!
//! A workload hands over one [`Sample`] per request: when it started
//! (offset from the start of the measured phase), how long it took, and
//! its error if it failed. [`Stats`] reduces them the way etcd's
//! `pkg/report` does: failed requests only count in the error
//! distribution; the summary (total wall time, slowest, fastest, average,
//! population standard deviation, requests per second) covers the
//! successful ones; the histogram has ten equal buckets between fastest and
//! slowest plus the slowest as an eleventh mark, each request counted in
//! the first mark at or above it, bars scaled to 40 `∎`; the percentiles
//! (10 to 99.9) take the first sorted latency whose rank `i*100/n` reaches
//! the percentile, and a percentile that no rank reaches is left out, as
//! etcd 3.4/3.5 do.
//!
//! [`Stats::to_text`] prints exactly etcd's layout (`%4.4f`, or `%g` with
//! `--precise`) so scripts that grep etcd's output work on ours;
//! [`Stats::to_json`] gives the same numbers as one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// One request's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The request's number within its phase.
    pub seq: u64,
    /// When the request started, from the start of the measured phase.
    pub start: Duration,
    /// How long it took.
    pub latency: Duration,
    /// Its error, `None` when it succeeded.
    pub error: Option<String>,
}

impl Sample {
    pub fn ok(seq: u64, start: Duration, latency: Duration) -> Sample {
        Sample {
            seq,
            start,
            latency,
            error: None,
        }
    }

    pub fn failed(seq: u64, start: Duration, latency: Duration, error: String) -> Sample {
        Sample {
            seq,
            start,
            latency,
            error: Some(error),
        }
    }
}

/// The percentiles etcd prints.
pub const PERCENTILES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];

/// Number of equal-width histogram buckets (plus one mark for the slowest).
pub const HISTOGRAM_BUCKETS: usize = 10;

/// Longest histogram bar, in `∎`.
const BAR_WIDTH: usize = 40;

/// One histogram mark: the requests slower than the previous mark and at
/// most this one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Bucket {
    pub mark_secs: f64,
    pub count: u64,
}

/// One second of `--sample`'s time series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SecondPoint {
    pub unix_second: i64,
    pub min: Duration,
    pub avg: Duration,
    pub max: Duration,
    pub count: u64,
}

/// etcd's statistics of one report.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Report name (the subcommand, or e.g. `txn-mixed-read`).
    pub name: String,
    /// Wall time of the measured phase.
    pub total: Duration,
    /// Latencies of successful requests in seconds, ascending.
    pub lats: Vec<f64>,
    pub fastest: f64,
    pub slowest: f64,
    pub average: f64,
    pub stddev: f64,
    /// Successful requests per second of `total`.
    pub rps: f64,
    /// Failed requests by error message.
    pub errors: BTreeMap<String, u64>,
    /// Requests cut off by `--duration-limit` (outcome unknown, not counted).
    pub abandoned: u64,
    /// The run hit `--duration-limit` before finishing.
    pub stopped_by_duration_limit: bool,
    /// Per-second points (`--sample`), empty otherwise.
    pub time_series: Vec<SecondPoint>,
}

impl Stats {
    /// Reduces `samples` of a phase that took `total`.
    pub fn new(name: &str, samples: &[Sample], total: Duration) -> Stats {
        let mut lats = Vec::with_capacity(samples.len());
        let mut errors = BTreeMap::new();
        for s in samples {
            match &s.error {
                Some(e) => *errors.entry(e.clone()).or_insert(0) += 1,
                None => lats.push(s.latency.as_secs_f64()),
            }
        }
        let n = lats.len() as f64;
        let sum: f64 = lats.iter().sum();
        let average = if lats.is_empty() { 0.0 } else { sum / n };
        let variance = if lats.is_empty() {
            0.0
        } else {
            lats.iter()
                .map(|l| (l - average) * (l - average))
                .sum::<f64>()
                / n
        };
        lats.sort_by(f64::total_cmp);
        let secs = total.as_secs_f64();
        Stats {
            name: name.to_string(),
            total,
            fastest: lats.first().copied().unwrap_or(0.0),
            slowest: lats.last().copied().unwrap_or(0.0),
            average,
            stddev: variance.sqrt(),
            rps: if secs > 0.0 { n / secs } else { 0.0 },
            lats,
            errors,
            abandoned: 0,
            stopped_by_duration_limit: false,
            time_series: Vec::new(),
        }
    }

    /// Adds `--sample`'s per-second series; `phase_start` is the wall-clock
    /// time the sample offsets count from.
    pub fn with_time_series(mut self, samples: &[Sample], phase_start: SystemTime) -> Stats {
        self.time_series = time_series(samples, phase_start);
        self
    }

    /// Successful requests.
    pub fn requests(&self) -> u64 {
        self.lats.len() as u64
    }

    /// Failed requests.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The latencies at [`PERCENTILES`], 0 where no rank reaches one.
    pub fn percentiles(&self) -> [f64; 8] {
        percentiles(&self.lats)
    }

    /// The eleven histogram marks and their counts.
    pub fn histogram(&self) -> Vec<Bucket> {
        histogram(&self.lats, self.fastest, self.slowest)
    }

    /// Errors, most frequent first (ties by message).
    pub fn error_list(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> =
            self.errors.iter().map(|(e, n)| (e.clone(), *n)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// etcd's text report (empty when nothing succeeded or failed).
    pub fn to_text(&self, precise: bool) -> String {
        let num = |x: f64| number(x, precise);
        let secs = |x: f64| format!("{} secs", num(x));
        let mut s = String::new();
        if !self.lats.is_empty() {
            s.push_str("\nSummary:\n");
            let _ = writeln!(s, "  Total:\t{}.", secs(self.total.as_secs_f64()));
            let _ = writeln!(s, "  Slowest:\t{}.", secs(self.slowest));
            let _ = writeln!(s, "  Fastest:\t{}.", secs(self.fastest));
            let _ = writeln!(s, "  Average:\t{}.", secs(self.average));
            let _ = writeln!(s, "  Stddev:\t{}.", secs(self.stddev));
            let _ = writeln!(s, "  Requests/sec:\t{}", num(self.rps));

            s.push_str("\nResponse time histogram:\n");
            let buckets = self.histogram();
            let max = buckets.iter().map(|b| b.count).max().unwrap_or(0);
            for b in &buckets {
                let bar = (b.count * BAR_WIDTH as u64).checked_div(max).unwrap_or(0) as usize;
                let _ = writeln!(
                    s,
                    "  {} [{}]\t|{}",
                    num(b.mark_secs),
                    b.count,
                    "∎".repeat(bar)
                );
            }

            s.push_str("\nLatency distribution:\n");
            for (p, v) in PERCENTILES.iter().zip(self.percentiles()) {
                if v > 0.0 {
                    let _ = writeln!(s, "  {}% in {}.", gostd::format_float(*p), secs(v));
                }
            }
            if !self.time_series.is_empty() {
                s.push_str("\nSample in one second (unix latency throughput):\n");
                s.push_str(
                    "UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n",
                );
                for p in &self.time_series {
                    let _ = writeln!(
                        s,
                        "{},{},{},{},{}",
                        p.unix_second,
                        gostd::format_duration(p.min.as_nanos() as i64),
                        gostd::format_duration(p.avg.as_nanos() as i64),
                        gostd::format_duration(p.max.as_nanos() as i64),
                        p.count
                    );
                }
                s.push('\n');
            }
        }
        if !self.errors.is_empty() {
            s.push_str("\nError distribution:\n");
            for (err, n) in self.error_list() {
                let _ = writeln!(s, "  [{n}]\t{err}");
            }
        }
        s
    }

    /// The report as one JSON object (see [`JsonReport`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&JsonReport::from(self))
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// The JSON form of a report. The summary fields follow etcd 3.6's
/// `--output json` names where known (`*_secs`, `requests_per_sec`,
/// `percentiles` keyed `p10`..`p99.9`, `errors` left out when empty); the
/// rest are this tool's.
#[derive(Debug, Serialize)]
pub struct JsonReport {
    pub name: String,
    pub total_secs: f64,
    pub slowest_secs: f64,
    pub fastest_secs: f64,
    pub average_secs: f64,
    pub stddev_secs: f64,
    pub requests_per_sec: f64,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub failed: u64,
    pub abandoned: u64,
    pub stopped_by_duration_limit: bool,
    /// Seconds, keyed `p10` .. `p99.9` (0 where no rank reaches one).
    pub percentiles: BTreeMap<String, f64>,
    pub histogram: Vec<Bucket>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<JsonError>,
}

/// One error message and how many requests failed with it.
#[derive(Debug, Serialize)]
pub struct JsonError {
    pub message: String,
    pub count: u64,
}

impl From<&Stats> for JsonReport {
    fn from(s: &Stats) -> JsonReport {
        JsonReport {
            name: s.name.clone(),
            total_secs: s.total.as_secs_f64(),
            slowest_secs: s.slowest,
            fastest_secs: s.fastest,
            average_secs: s.average,
            stddev_secs: s.stddev,
            requests_per_sec: s.rps,
            requests: s.requests(),
            failed: s.failed(),
            abandoned: s.abandoned,
            stopped_by_duration_limit: s.stopped_by_duration_limit,
            percentiles: PERCENTILES
                .iter()
                .zip(s.percentiles())
                .map(|(p, v)| (format!("p{}", gostd::format_float(*p)), v))
                .collect(),
            histogram: if s.lats.is_empty() {
                Vec::new()
            } else {
                s.histogram()
            },
            errors: s
                .error_list()
                .into_iter()
                .map(|(message, count)| JsonError { message, count })
                .collect(),
        }
    }
}

/// etcd 3.4/3.5's percentile pick over ascending `lats`: for each
/// percentile in turn, the first index `i` (continuing from the previous
/// pick) with `i*100/n >= p`; 0 when none is left.
pub fn percentiles(lats: &[f64]) -> [f64; 8] {
    let mut out = [0.0; 8];
    let n = lats.len();
    let mut j = 0;
    let mut i = 0;
    while i < n && j < PERCENTILES.len() {
        let rank = i as f64 * 100.0 / n as f64;
        if rank >= PERCENTILES[j] {
            out[j] = lats[i];
            j += 1;
        }
        i += 1;
    }
    out
}

/// etcd's histogram: marks `fastest + k*(slowest-fastest)/10` for k in
/// 0..10 and `slowest`; each ascending latency counts in the first mark
/// at or above it.
pub fn histogram(lats: &[f64], fastest: f64, slowest: f64) -> Vec<Bucket> {
    let width = (slowest - fastest) / HISTOGRAM_BUCKETS as f64;
    let mut marks: Vec<f64> = (0..HISTOGRAM_BUCKETS)
        .map(|k| fastest + width * k as f64)
        .collect();
    marks.push(slowest);
    let mut counts = vec![0u64; marks.len()];
    let mut bucket = 0;
    for &lat in lats {
        while lat > marks[bucket] && bucket < marks.len() - 1 {
            bucket += 1;
        }
        counts[bucket] += 1;
    }
    marks
        .into_iter()
        .zip(counts)
        .map(|(mark_secs, count)| Bucket { mark_secs, count })
        .collect()
}

/// Successful requests grouped by the wall-clock second they started in,
/// gaps filled with empty seconds (etcd's `--sample`).
pub fn time_series(samples: &[Sample], phase_start: SystemTime) -> Vec<SecondPoint> {
    let base = phase_start
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let mut seconds: BTreeMap<i64, (Duration, Duration, Duration, u64)> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.error.is_none()) {
        let second = (base + s.start).as_secs() as i64;
        let lat = s.latency;
        let e = seconds
            .entry(second)
            .or_insert((lat, lat, Duration::ZERO, 0));
        if !lat.is_zero() {
            e.0 = e.0.min(lat);
        }
        e.1 = e.1.max(lat);
        e.2 += lat;
        e.3 += 1;
    }
    let (Some(&first), Some(&last)) = (seconds.keys().next(), seconds.keys().next_back()) else {
        return Vec::new();
    };
    (first..=last)
        .map(|sec| {
            let (min, max, sum, count) = seconds.get(&sec).copied().unwrap_or((
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                0,
            ));
            SecondPoint {
                unix_second: sec,
                min,
                avg: if count > 0 {
                    Duration::from_nanos((sum.as_nanos() / u128::from(count)) as u64)
                } else {
                    Duration::ZERO
                },
                max,
                count,
            }
        })
        .collect()
}

/// The report's number format: Go's `%4.4f` (which Rust's `{:4.4}`
/// matches: width 4, four decimals, round half to even on the exact value),
/// or `%g` under `--precise`.
pub fn number(x: f64, precise: bool) -> String {
    if precise {
        gostd::format_float(x)
    } else {
        format!("{x:4.4}")
    }
}
