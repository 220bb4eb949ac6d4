//! The workloads: gRPC requests against the endpoints, timed one by one.
//!
//! A run has three phases, all under the one hard deadline of
//! `--duration-limit`:
//! 1. connect `--conns` channels, round robin over the endpoints;
//! 2. for read workloads, write every key of the key space once (untimed),
//!    so reads find data;
//! 3. the measured phase: `--clients` tasks share the channels and claim
//!    request numbers from one counter until `--total` is reached or the
//!    deadline passes. Each request is timed on its own and may take at most
//!    `--request-timeout` (or what is left of the deadline); a request that
//!    takes longer counts as an error, never as a latency sample.
//!
//! Watch latency is measured differently (see [`watch_latency`]): one writer
//! puts, `--clients` watchers each time every event from the put's send.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    Compare, PutRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest, WatchRequest,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout_at;
use tokio_stream::wrappers::ReceiverStream;

use crate::config::{BenchConfig, Op};
use crate::connect::{connect_all, Conn};
use crate::keys::{key, value, value_seq, Rng};
use crate::report::{ErrorTally, Report};

/// After the last put of watch-latency, how long watchers may still take
/// to deliver the outstanding events before they count as missing.
const WATCH_GRACE: Duration = Duration::from_secs(5);
/// How long past the deadline a client task may take to return before it
/// is aborted (its requests are already bounded by the deadline).
const JOIN_GRACE: Duration = Duration::from_secs(5);

/// Runs the benchmark `cfg` describes and reports the measured phase.
///
/// Fails (without a report) if connecting or preloading fails: numbers of a
/// run against an unreachable or broken server would mean nothing.
pub async fn run(cfg: &BenchConfig) -> Result<Report, String> {
    let deadline = Instant::now() + cfg.duration_limit;
    let channels = connect_all(cfg, deadline).await?;
    let cfg = Arc::new(cfg.clone());
    if cfg.preload {
        preload(&cfg, &channels, deadline).await?;
    }
    match cfg.op {
        Op::WatchLatency => watch_latency(&cfg, &channels, deadline).await,
        _ => measure(&cfg, &channels, deadline).await,
    }
}

/// Which requests a client loop issues.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Put key `i` for request `i`: writes the whole key space once.
    Preload,
    /// The configured workload on random keys.
    Measure,
}

/// What all clients of a phase share: the request counter and the limits.
struct Shared {
    next: AtomicU64,
    total: u64,
    start: Instant,
    deadline: Instant,
    rate: Option<f64>,
    hit_deadline: AtomicBool,
}

impl Shared {
    fn new(total: u64, deadline: Instant, rate: Option<f64>) -> Shared {
        Shared {
            next: AtomicU64::new(0),
            total,
            start: Instant::now(),
            deadline,
            rate,
            hit_deadline: AtomicBool::new(false),
        }
    }

    /// The next request number, after waiting for its turn under `--rate`;
    /// `None` once the total is reached or the deadline has passed.
    async fn claim(&self) -> Option<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        if seq >= self.total {
            return None;
        }
        if let Some(rate) = self.rate {
            let at = self.start + Duration::from_secs_f64(seq as f64 / rate);
            if at >= self.deadline {
                self.hit_deadline.store(true, Ordering::Relaxed);
                return None;
            }
            tokio::time::sleep_until(at.into()).await;
        }
        if Instant::now() >= self.deadline {
            self.hit_deadline.store(true, Ordering::Relaxed);
            return None;
        }
        Some(seq)
    }
}

/// Latencies (microseconds) and errors of one client task.
#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u64>,
    errors: ErrorTally,
    abandoned: u64,
}

/// A failed request: a kind for grouping and a message for the example.
struct ReqError {
    kind: String,
    message: String,
}

impl From<tonic::Status> for ReqError {
    fn from(s: tonic::Status) -> Self {
        ReqError {
            kind: format!("grpc {:?}", s.code()),
            message: s.message().to_string(),
        }
    }
}

async fn one_request(
    kv: &mut KvClient<Conn>,
    op: Op,
    key: Vec<u8>,
    seq: u64,
    val_size: usize,
) -> Result<(), ReqError> {
    match op {
        Op::Put | Op::WatchLatency => {
            let req = PutRequest {
                key,
                value: value(seq, val_size),
                ..Default::default()
            };
            kv.put(req).await?;
        }
        Op::Range | Op::RangeSerializable | Op::Mixed => {
            let req = RangeRequest {
                key,
                serializable: op == Op::RangeSerializable,
                ..Default::default()
            };
            kv.range(req).await?;
        }
        Op::TxnPut => {
            let put = PutRequest {
                key: key.clone(),
                value: value(seq, val_size),
                ..Default::default()
            };
            let req = TxnRequest {
                compare: vec![Compare {
                    result: CompareResult::Greater as i32,
                    target: CompareTarget::Version as i32,
                    key,
                    target_union: Some(TargetUnion::Version(-1)),
                    ..Default::default()
                }],
                success: vec![RequestOp {
                    request: Some(Request::RequestPut(put)),
                }],
                failure: vec![],
            };
            let resp = kv.txn(req).await?.into_inner();
            if !resp.succeeded {
                return Err(ReqError {
                    kind: "txn compare failed".into(),
                    message: "version(key) > -1 evaluated to false".into(),
                });
            }
        }
    }
    Ok(())
}

async fn client_loop(
    id: usize,
    cfg: Arc<BenchConfig>,
    shared: Arc<Shared>,
    channel: Conn,
    phase: Phase,
) -> ClientResult {
    let mut kv = KvClient::new(channel);
    let mut rng = Rng::new(cfg.seed ^ (id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut out = ClientResult {
        latencies_us: Vec::with_capacity((shared.total / cfg.clients as u64 + 1) as usize),
        errors: ErrorTally::default(),
        abandoned: 0,
    };
    while let Some(seq) = shared.claim().await {
        let (op, k) = match phase {
            Phase::Preload => (Op::Put, key(seq, cfg.key_size)),
            Phase::Measure => {
                let op = match cfg.op {
                    Op::Mixed if rng.below(100) >= u64::from(cfg.read_percent) => Op::Put,
                    op => op,
                };
                (op, key(rng.below(cfg.key_space), cfg.key_size))
            }
        };
        let now = Instant::now();
        let limit = cfg
            .request_timeout
            .min(shared.deadline.saturating_duration_since(now));
        let result = timeout_at(
            (now + limit).into(),
            one_request(&mut kv, op, k, seq, cfg.val_size),
        )
        .await;
        match result {
            Ok(Ok(())) => out.latencies_us.push(now.elapsed().as_micros() as u64),
            Ok(Err(e)) => out.errors.add(&e.kind, 1, || e.message),
            Err(_) if limit < cfg.request_timeout => {
                // Cut off by the duration limit, not by the request timeout.
                shared.hit_deadline.store(true, Ordering::Relaxed);
                out.abandoned += 1;
            }
            Err(_) => out.errors.add("timeout", 1, || {
                format!("no response within {:.3}s", limit.as_secs_f64())
            }),
        }
    }
    out
}

/// Everything the client tasks of one phase measured, merged.
#[derive(Default)]
struct Joined {
    latencies_us: Vec<u64>,
    errors: ErrorTally,
    abandoned: u64,
}

/// Awaits client tasks, aborting any still running `JOIN_GRACE` after the
/// deadline (each aborted task counts as one error).
async fn join_clients(handles: Vec<JoinHandle<ClientResult>>, deadline: Instant) -> Joined {
    let mut all = Joined::default();
    let give_up = deadline + JOIN_GRACE;
    for mut h in handles {
        match timeout_at(give_up.into(), &mut h).await {
            Ok(Ok(r)) => {
                all.latencies_us.extend(r.latencies_us);
                all.errors.merge(r.errors);
                all.abandoned += r.abandoned;
            }
            Ok(Err(e)) => all.errors.add("client task failed", 1, || e.to_string()),
            Err(_) => {
                h.abort();
                all.errors.add("client hung", 1, || {
                    "client task did not return after the duration limit".into()
                });
            }
        }
    }
    all
}

fn spawn_clients(
    cfg: &Arc<BenchConfig>,
    channels: &[Conn],
    shared: &Arc<Shared>,
    phase: Phase,
) -> Vec<JoinHandle<ClientResult>> {
    (0..cfg.clients)
        .map(|id| {
            let channel = channels[id % channels.len()].clone();
            tokio::spawn(client_loop(
                id,
                Arc::clone(cfg),
                Arc::clone(shared),
                channel,
                phase,
            ))
        })
        .collect()
}

async fn preload(
    cfg: &Arc<BenchConfig>,
    channels: &[Conn],
    deadline: Instant,
) -> Result<(), String> {
    let shared = Arc::new(Shared::new(cfg.key_space, deadline, None));
    let handles = spawn_clients(cfg, channels, &shared, Phase::Preload);
    let Joined {
        latencies_us: done,
        errors,
        ..
    } = join_clients(handles, deadline).await;
    if errors.total() > 0 || shared.hit_deadline.load(Ordering::Relaxed) {
        let first = errors
            .kinds()
            .first()
            .map(|e| format!("{}: {}", e.kind, e.sample))
            .unwrap_or_else(|| "duration limit reached".into());
        return Err(format!(
            "preload: wrote {} of {} keys ({} errors; {first})",
            done.len(),
            cfg.key_space,
            errors.total()
        ));
    }
    Ok(())
}

async fn measure(
    cfg: &Arc<BenchConfig>,
    channels: &[Conn],
    deadline: Instant,
) -> Result<Report, String> {
    let shared = Arc::new(Shared::new(cfg.total, deadline, cfg.rate));
    let handles = spawn_clients(cfg, channels, &shared, Phase::Measure);
    let mut joined = join_clients(handles, deadline).await;
    let elapsed = shared.start.elapsed();
    let mut report = Report::new(
        cfg.op.name(),
        &cfg.endpoints,
        cfg.clients,
        cfg.conns,
        cfg.total,
        &mut joined.latencies_us,
        &joined.errors,
        elapsed,
        shared.hit_deadline.load(Ordering::Relaxed),
    );
    report.abandoned = joined.abandoned;
    Ok(report)
}

/// Nanoseconds since `start`, never 0 (0 marks "not sent").
fn stamp(start: Instant) -> u64 {
    (start.elapsed().as_nanos() as u64).max(1)
}

/// What a watcher task hands back.
struct WatcherResult {
    latencies_us: Vec<u64>,
    errors: ErrorTally,
}

/// Watch latency: `--clients` watch streams on one key, one writer putting
/// that key `--total` times (paced by `--rate`, one put in flight). The
/// value of each put carries its sequence number; every watcher records,
/// per event, the time since that put was sent. Requests are the events
/// received; events that did not arrive within `WATCH_GRACE` after the
/// last put count as errors.
async fn watch_latency(
    cfg: &Arc<BenchConfig>,
    channels: &[Conn],
    deadline: Instant,
) -> Result<Report, String> {
    let watched = key(0, cfg.key_size);
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..cfg.total).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();

    let mut watchers = Vec::with_capacity(cfg.clients);
    for w in 0..cfg.clients {
        let mut client = WatchClient::new(channels[w % channels.len()].clone());
        let (tx, rx) = mpsc::channel(1);
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: watched.clone(),
                ..Default::default()
            })),
        };
        tx.send(create)
            .await
            .map_err(|_| "watch request stream closed".to_string())?;
        let mut stream = timeout_at(deadline.into(), client.watch(ReceiverStream::new(rx)))
            .await
            .map_err(|_| format!("creating watcher {w}: duration limit reached"))?
            .map_err(|e| format!("creating watcher {w}: {e}"))?
            .into_inner();
        match timeout_at(deadline.into(), stream.message()).await {
            Ok(Ok(Some(resp))) if resp.created => {}
            Ok(Ok(Some(resp))) => {
                return Err(format!(
                    "watcher {w}: first response not 'created': {resp:?}"
                ))
            }
            Ok(Ok(None)) => return Err(format!("watcher {w}: stream ended before 'created'")),
            Ok(Err(e)) => return Err(format!("watcher {w}: {e}")),
            Err(_) => return Err(format!("watcher {w}: duration limit reached")),
        }
        let sent = Arc::clone(&sent);
        let received = Arc::clone(&received);
        let mut stop = stop_rx.clone();
        let total = cfg.total;
        watchers.push(tokio::spawn(async move {
            // Keeping the sender alive keeps the request stream (and so the
            // watch) open.
            let _keep_open = tx;
            let mut out = WatcherResult {
                latencies_us: Vec::with_capacity(total as usize),
                errors: ErrorTally::default(),
            };
            let mut seen = 0u64;
            while seen < total {
                let msg = tokio::select! {
                    _ = stop.changed() => break,
                    m = timeout_at(deadline.into(), stream.message()) => m,
                };
                let resp = match msg {
                    Ok(Ok(Some(resp))) => resp,
                    Ok(Ok(None)) => {
                        out.errors.add("watch stream ended", 1, String::new);
                        break;
                    }
                    Ok(Err(e)) => {
                        out.errors
                            .add(&format!("watch grpc {:?}", e.code()), 1, || {
                                e.message().to_string()
                            });
                        break;
                    }
                    Err(_) => break,
                };
                if resp.canceled {
                    out.errors
                        .add("watch canceled", 1, || resp.cancel_reason.clone());
                    break;
                }
                let now = stamp(start);
                for ev in &resp.events {
                    seen += 1;
                    let seq = ev.kv.as_ref().and_then(|kv| value_seq(&kv.value));
                    let sent_at = seq
                        .and_then(|s| sent.get(s as usize))
                        .map_or(0, |a| a.load(Ordering::Acquire));
                    if sent_at == 0 {
                        out.errors.add("watch event unknown", 1, || {
                            format!("event for a put that was not sent: {seq:?}")
                        });
                        continue;
                    }
                    out.latencies_us.push(now.saturating_sub(sent_at) / 1000);
                }
                received.fetch_add(resp.events.len() as u64, Ordering::Relaxed);
            }
            out
        }));
    }

    // The writer: sequential puts, paced, bounded by the deadline.
    let measure_start = Instant::now();
    let shared = Shared::new(cfg.total, deadline, cfg.rate);
    let mut kv = KvClient::new(channels[0].clone());
    let mut errors = ErrorTally::default();
    let mut puts_ok = 0u64;
    let mut abandoned = 0u64;
    while let Some(seq) = shared.claim().await {
        let now = Instant::now();
        let limit = cfg
            .request_timeout
            .min(deadline.saturating_duration_since(now));
        sent[seq as usize].store(stamp(start), Ordering::Release);
        let put = one_request(&mut kv, Op::Put, watched.clone(), seq, cfg.val_size);
        match timeout_at((now + limit).into(), put).await {
            Ok(Ok(())) => puts_ok += 1,
            Ok(Err(e)) => errors.add(&format!("put {}", e.kind), 1, || e.message),
            Err(_) if limit < cfg.request_timeout => {
                shared.hit_deadline.store(true, Ordering::Relaxed);
                abandoned += 1;
            }
            Err(_) => errors.add("put timeout", 1, || {
                format!("no response within {:.3}s", limit.as_secs_f64())
            }),
        }
    }
    let mut hit_deadline = shared.hit_deadline.load(Ordering::Relaxed);

    // Let the watchers catch up with every successful put, then stop them.
    let expected = puts_ok * cfg.clients as u64;
    let grace_end = (Instant::now() + WATCH_GRACE).min(deadline);
    while received.load(Ordering::Relaxed) < expected {
        if Instant::now() >= grace_end {
            hit_deadline |= grace_end == deadline;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = measure_start.elapsed();
    let _ = stop_tx.send(true);

    let mut latencies = Vec::new();
    let give_up = Instant::now() + JOIN_GRACE;
    for mut h in watchers {
        match timeout_at(give_up.into(), &mut h).await {
            Ok(Ok(r)) => {
                latencies.extend(r.latencies_us);
                errors.merge(r.errors);
            }
            Ok(Err(e)) => errors.add("watcher task failed", 1, || e.to_string()),
            Err(_) => {
                h.abort();
                errors.add("watcher hung", 1, || "watcher did not stop".into());
            }
        }
    }
    let missing = expected.saturating_sub(latencies.len() as u64);
    errors.add("watch event missing", missing, || {
        format!("{missing} of {expected} events not received in time")
    });
    let mut report = Report::new(
        cfg.op.name(),
        &cfg.endpoints,
        cfg.clients,
        cfg.conns,
        cfg.total,
        &mut latencies,
        &errors,
        elapsed,
        hit_deadline,
    );
    report.abandoned = abandoned;
    Ok(report)
}
