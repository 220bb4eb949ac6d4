//! The request loop every workload shares: pacing, timing, bounding.
//!
//! A measured phase runs `--clients` [`Worker`]s, each a task with one
//! request in flight, all claiming request numbers from one [`Pacer`]
//! until the phase's total is reached or the run's deadline
//! (`--duration-limit`) passes. The pacer spaces request starts by
//! `1/rate` when a rate is set (etcd's limiter with a burst of one). Each
//! request is timed on its own and may take at most `--request-timeout` (or
//! what is left of the deadline): a request that times out fails with Go's
//! `context deadline exceeded`, one cut off by the deadline is *abandoned*
//! (its outcome is unknown, so it is neither a latency nor an error).
//! Every task is awaited with a grace period after the deadline and
//! aborted after it, so a phase always ends.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;
use tokio::task::JoinHandle;
use tokio::time::timeout_at;

use crate::config::BenchConfig;
use crate::connect::Conn;
use crate::report::{Sample, Stats};

/// How long past the deadline a task may take to return before it is
/// aborted (its requests are already bounded by the deadline).
pub const JOIN_GRACE: Duration = Duration::from_secs(5);

/// Go's text for a request that ran out of time.
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// A gRPC failure as Go's grpc-go prints it (what etcd's error
/// distribution shows).
pub fn grpc_error(s: &tonic::Status) -> String {
    format!("rpc error: code = {:?} desc = {}", s.code(), s.message())
}

/// What every phase of a run shares: the configuration, the connections
/// and the deadline.
#[derive(Clone)]
pub struct RunCtx {
    pub cfg: Arc<BenchConfig>,
    pub conns: Vec<Conn>,
    pub deadline: Instant,
}

impl RunCtx {
    /// The connection of client `i` (clients share connections round robin).
    pub fn conn(&self, i: usize) -> Conn {
        self.conns[i % self.conns.len()].clone()
    }

    /// The per-request time limit starting now: `--request-timeout`, or
    /// less when the deadline is nearer. The flag says which one applies.
    pub fn request_limit(&self) -> (Instant, bool) {
        let now = Instant::now();
        let timeout = self.cfg.request_timeout;
        let left = self.deadline.saturating_duration_since(now);
        if left < timeout {
            (self.deadline, true)
        } else {
            (now + timeout, false)
        }
    }
}

/// Hands out request numbers `0..total`, paced by a rate, until the
/// deadline.
pub struct Pacer {
    next: AtomicU64,
    total: u64,
    start: Instant,
    deadline: Instant,
    interval: Option<Duration>,
    hit_deadline: AtomicBool,
}

impl Pacer {
    /// `rate` is requests per second, 0 for no limit.
    pub fn new(total: u64, rate: u64, deadline: Instant) -> Pacer {
        Pacer {
            next: AtomicU64::new(0),
            total,
            start: Instant::now(),
            deadline,
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64)),
            hit_deadline: AtomicBool::new(false),
        }
    }

    /// The next request number, after waiting for its turn under the rate;
    /// `None` once the total is reached or the deadline has passed.
    pub async fn claim(&self) -> Option<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        if seq >= self.total {
            return None;
        }
        if let Some(interval) = self.interval {
            let at = self.start + interval.saturating_mul(seq.min(u64::from(u32::MAX)) as u32);
            if at >= self.deadline {
                self.mark_deadline();
                return None;
            }
            tokio::time::sleep_until(at.into()).await;
        }
        if Instant::now() >= self.deadline {
            self.mark_deadline();
            return None;
        }
        Some(seq)
    }

    pub fn mark_deadline(&self) {
        self.hit_deadline.store(true, Ordering::Relaxed);
    }

    pub fn hit_deadline(&self) -> bool {
        self.hit_deadline.load(Ordering::Relaxed)
    }

    pub fn start(&self) -> Instant {
        self.start
    }
}

/// One client of a measured phase: issues request number `seq`.
pub trait Worker: Send + 'static {
    fn request(&mut self, seq: u64) -> impl Future<Output = Result<(), String>> + Send;
}

/// What a measured phase produced.
#[derive(Debug, Default)]
pub struct Phase {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
    pub abandoned: u64,
    pub hit_deadline: bool,
    /// Wall-clock start (for `--sample`'s unix seconds).
    pub started: Option<SystemTime>,
}

impl Phase {
    /// The same phase (times, deadline) without its samples.
    pub fn clone_empty(&self) -> Phase {
        Phase {
            samples: Vec::new(),
            elapsed: self.elapsed,
            abandoned: self.abandoned,
            hit_deadline: self.hit_deadline,
            started: self.started,
        }
    }

    /// The phase's report named `name`.
    pub fn stats(&self, name: &str, sample: bool) -> Stats {
        let mut stats = Stats::new(name, &self.samples, self.elapsed);
        if sample {
            stats =
                stats.with_time_series(&self.samples, self.started.unwrap_or_else(SystemTime::now));
        }
        stats.abandoned = self.abandoned;
        stats.stopped_by_duration_limit = self.hit_deadline;
        stats
    }
}

/// Runs `workers` (one task each) over `total` requests at `rate`.
pub async fn drive<W: Worker>(ctx: &RunCtx, workers: Vec<W>, total: u64, rate: u64) -> Phase {
    let pacer = Arc::new(Pacer::new(total, rate, ctx.deadline));
    let started = SystemTime::now();
    let bar = crate::progress::bar(total);
    let handles: Vec<JoinHandle<(Vec<Sample>, u64)>> = workers
        .into_iter()
        .map(|w| tokio::spawn(client_loop(ctx.clone(), Arc::clone(&pacer), w, bar.clone())))
        .collect();
    let mut phase = Phase {
        started: Some(started),
        ..Phase::default()
    };
    for (samples, abandoned) in join_all(handles, ctx.deadline).await {
        phase.samples.extend(samples);
        phase.abandoned += abandoned;
    }
    bar.finish_and_clear();
    phase.elapsed = pacer.start().elapsed();
    phase.hit_deadline = pacer.hit_deadline();
    phase
}

async fn client_loop<W: Worker>(
    ctx: RunCtx,
    pacer: Arc<Pacer>,
    mut worker: W,
    bar: ProgressBar,
) -> (Vec<Sample>, u64) {
    let mut samples = Vec::new();
    let mut abandoned = 0;
    while let Some(seq) = pacer.claim().await {
        let began = Instant::now();
        let start = began.duration_since(pacer.start());
        let (limit, by_deadline) = ctx.request_limit();
        match timeout_at(limit.into(), worker.request(seq)).await {
            Ok(Ok(())) => samples.push(Sample::ok(seq, start, began.elapsed())),
            Ok(Err(e)) => samples.push(Sample::failed(seq, start, began.elapsed(), e)),
            Err(_) if by_deadline => {
                pacer.mark_deadline();
                abandoned += 1;
            }
            Err(_) => samples.push(Sample::failed(
                seq,
                start,
                began.elapsed(),
                DEADLINE_EXCEEDED.to_string(),
            )),
        }
        bar.inc(1);
    }
    (samples, abandoned)
}

/// Awaits tasks, aborting any still running [`JOIN_GRACE`] after the
/// deadline (an aborted or panicked task's results are lost, and it counts
/// as one abandoned request).
pub async fn join_all<T>(handles: Vec<JoinHandle<T>>, deadline: Instant) -> Vec<T>
where
    T: Default + Send + 'static,
{
    let give_up = deadline + JOIN_GRACE;
    let mut out = Vec::with_capacity(handles.len());
    for mut h in handles {
        match timeout_at(give_up.into(), &mut h).await {
            Ok(Ok(r)) => out.push(r),
            Ok(Err(e)) => {
                eprintln!("etcd-bench: a client task failed: {e}");
                out.push(T::default());
            }
            Err(_) => {
                h.abort();
                eprintln!("etcd-bench: a client task did not stop after the duration limit");
                out.push(T::default());
            }
        }
    }
    out
}
