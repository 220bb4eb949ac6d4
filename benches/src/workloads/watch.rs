//! `watch`, `watch-latency` and `watch-get`: workloads that time events.
//!
//! `watch` (etcd's): `--streams` watch streams over the clients, each
//! creating `--watch-per-stream` watchers on keys of the key space
//! (`--key-size` varint keys, random or `--sequential-keys`). Report one
//! times each creation, from sending the create request to its `created`
//! response. Then `--put-total` puts cycle over the keys (`--put-rate`,
//! spread over the clients) and report two times every event a watcher
//! receives, from the send of the put that caused it (the put's value
//! carries its number) to the event's arrival. etcd's own tool times only
//! the hand-off of each event inside the client, which is close to zero;
//! its requests per second (events per second) is the comparable figure.
//!
//! `watch-latency` (etcd's): `--streams` x `--watchers-per-stream`
//! watchers on one random key; one writer puts it `--put-total` times at
//! `--put-rate`. Report one is the puts' latency; report two, per watcher
//! and put, the time from the put's response to the watcher's event (0 if
//! the event came first), matched by revision.
//!
//! `watch-get` (etcd's): `--events` puts to `watchkey`, then `--watchers`
//! watchers on `--streams` streams watch it from the first of those
//! revisions (unsynced watchers that must catch up), while one client
//! times serializable gets of `abc` until every watcher has its events.
//!
//! Every wait is bounded by the run's deadline: events that did not arrive
//! within [`EVENT_GRACE`] after the last put count as errors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    PutRequest, RangeRequest, WatchCreateRequest, WatchRequest, WatchResponse,
};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::timeout_at;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

use crate::config::{WatchFlags, WatchGetFlags, WatchLatencyFlags};
use crate::connect::Conn;
use crate::keys::{key, Rng};
use crate::load::{drive, grpc_error, join_all, Phase, RunCtx, Worker};
use crate::outcome::{Outcome, Section};
use crate::report::Sample;

/// After the last put, how long watchers may still take to deliver the
/// outstanding events before they count as missing.
pub const EVENT_GRACE: Duration = Duration::from_secs(5);

/// An open watch stream: the request side stays open while `tx` lives.
struct WatchStream {
    tx: mpsc::UnboundedSender<WatchRequest>,
    rx: Streaming<WatchResponse>,
}

fn create_request(key: Vec<u8>, start_revision: i64, prev_kv: bool) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key,
            start_revision,
            prev_kv,
            ..Default::default()
        })),
    }
}

/// Opens a stream whose first request is `first` (the server answers
/// the call only once it has something to say).
async fn open_stream(
    conn: Conn,
    first: WatchRequest,
    deadline: Instant,
) -> Result<WatchStream, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(first)
        .map_err(|_| "watch request stream closed".to_string())?;
    let mut client = WatchClient::new(conn);
    let call = client.watch(UnboundedReceiverStream::new(rx));
    let rx = timeout_at(deadline.into(), call)
        .await
        .map_err(|_| "opening a watch stream: duration limit reached".to_string())?
        .map_err(|s| format!("opening a watch stream: {}", grpc_error(&s)))?
        .into_inner();
    Ok(WatchStream { tx, rx })
}

/// The next response of `stream`, or why there is none (by `deadline`).
async fn next_response(
    stream: &mut WatchStream,
    deadline: Instant,
) -> Result<WatchResponse, String> {
    match timeout_at(deadline.into(), stream.rx.message()).await {
        Ok(Ok(Some(resp))) if resp.canceled => {
            Err(format!("watch canceled: {}", resp.cancel_reason))
        }
        Ok(Ok(Some(resp))) => Ok(resp),
        Ok(Ok(None)) => Err("watch stream closed".into()),
        Ok(Err(s)) => Err(grpc_error(&s)),
        Err(_) => Err("watch: duration limit reached".into()),
    }
}

/// Waits until `count` reaches `target`, `until` passes, or nothing can
/// change any more; tasks bump `count` and then notify `changed`.
async fn await_count(count: &AtomicU64, target: u64, changed: &Notify, until: Instant) -> bool {
    loop {
        let notified = changed.notified();
        if count.load(Ordering::Acquire) >= target {
            return true;
        }
        if timeout_at(until.into(), notified).await.is_err() {
            return count.load(Ordering::Acquire) >= target;
        }
    }
}

/// Nanoseconds since `base`, never 0 (0 marks "not yet").
fn stamp(base: Instant) -> u64 {
    (base.elapsed().as_nanos() as u64).max(1)
}

// ---------------------------------------------------------------- watch

/// The keys `watch` watches and puts (etcd's `newWatchedKeys`).
pub fn watched_keys(f: &WatchFlags, rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..f.key_space_size)
        .map(|i| {
            let n = if f.sequential_keys {
                i
            } else {
                rng.below(f.key_space_size)
            };
            key(n, f.key_size)
        })
        .collect()
}

/// Puts of `watch`: put `seq` writes key `seq % keys` with `seq` as value.
struct EventPutWorker {
    kv: KvClient<Conn>,
    keys: Arc<Vec<Vec<u8>>>,
    sent: Arc<Vec<AtomicU64>>,
    base: Instant,
}

impl Worker for EventPutWorker {
    async fn request(&mut self, seq: u64) -> Result<(), String> {
        let key = self.keys[(seq % self.keys.len() as u64) as usize].clone();
        self.sent[seq as usize].store(stamp(self.base), Ordering::Release);
        let req = PutRequest {
            key,
            value: seq.to_le_bytes().to_vec(),
            ..Default::default()
        };
        self.kv.put(req).await.map_err(|s| grpc_error(&s))?;
        Ok(())
    }
}

pub async fn watch(ctx: &RunCtx, f: &WatchFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let wanted = 1 + f.streams / 100;
    if cfg.connect.conns.min(cfg.clients) < wanted {
        eprintln!(
            "warning: grpc limits 100 streams per client connection, have {} but need {wanted}",
            cfg.connect.conns.min(cfg.clients)
        );
    }
    let keys = Arc::new(watched_keys(f, &mut Rng::new(cfg.seed)));

    // Phase 1: create the watchers, timing each create -> created.
    let creation_start = Instant::now();
    let bar = crate::progress::bar((f.streams * f.watch_per_stream) as u64);
    let mut creators = Vec::with_capacity(f.streams);
    for s in 0..f.streams {
        let conn = ctx.conn(s % cfg.clients);
        let stream_keys: Vec<Vec<u8>> = (0..f.watch_per_stream)
            .map(|w| keys[(s + w * f.streams) % keys.len()].clone())
            .collect();
        let (deadline, prevkv, bar) = (ctx.deadline, f.prevkv, bar.clone());
        creators.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(stream_keys.len());
            let mut stream: Option<WatchStream> = None;
            for (w, k) in stream_keys.into_iter().enumerate() {
                let began = Instant::now();
                let req = create_request(k, 0, prevkv);
                let created = match stream.as_mut() {
                    None => match open_stream(conn.clone(), req, deadline).await {
                        Ok(st) => {
                            stream = Some(st);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    Some(st) => st
                        .tx
                        .send(req)
                        .map_err(|_| "watch request stream closed".to_string()),
                };
                let created = match (created, stream.as_mut()) {
                    (Ok(()), Some(st)) => next_response(st, deadline).await.and_then(|r| {
                        if r.created {
                            Ok(())
                        } else {
                            Err("watch: response is not 'created'".into())
                        }
                    }),
                    (Ok(()), None) => Err("watch stream closed".into()),
                    (Err(e), _) => Err(e),
                };
                let start = began.duration_since(creation_start);
                samples.push(match created {
                    Ok(()) => Sample::ok(w as u64, start, began.elapsed()),
                    Err(e) => Sample::failed(w as u64, start, began.elapsed(), e),
                });
                bar.inc(1);
            }
            (samples, stream)
        }));
    }
    let mut creation = Phase::default();
    let mut streams = Vec::new();
    for (samples, stream) in join_all(creators, ctx.deadline).await {
        creation.samples.extend(samples);
        streams.extend(stream);
    }
    bar.finish_and_clear();
    creation.elapsed = creation_start.elapsed();
    creation.hit_deadline = Instant::now() >= ctx.deadline;
    let mut watchers_of: HashMap<&[u8], u64> = HashMap::new();
    for s in 0..f.streams {
        for w in 0..f.watch_per_stream {
            *watchers_of
                .entry(keys[(s + w * f.streams) % keys.len()].as_slice())
                .or_insert(0) += 1;
        }
    }

    // Phase 2: puts, and every watcher's events.
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..f.put_total).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicU64::new(0));
    let changed = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (sent, received, changed) = (sent.clone(), received.clone(), changed.clone());
            let (mut stop, deadline) = (stop_rx.clone(), ctx.deadline);
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let resp = tokio::select! {
                        _ = stop.changed() => break,
                        r = next_response(&mut stream, deadline) => r,
                    };
                    let Ok(resp) = resp else { break };
                    let now = stamp(base);
                    for ev in &resp.events {
                        let seq = ev
                            .kv
                            .as_ref()
                            .and_then(|kv| kv.value.get(..8))
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes);
                        let at = seq
                            .and_then(|s| sent.get(s as usize))
                            .map_or(0, |a| a.load(Ordering::Acquire));
                        if at == 0 {
                            continue;
                        }
                        let start = Duration::from_nanos(at);
                        let latency = Duration::from_nanos(now.saturating_sub(at));
                        samples.push(Sample::ok(seq.unwrap_or(0), start, latency));
                    }
                    received.fetch_add(resp.events.len() as u64, Ordering::AcqRel);
                    changed.notify_waiters();
                }
                drop(stream.tx);
                samples
            })
        })
        .collect();
    let workers = (0..cfg.clients)
        .map(|i| EventPutWorker {
            kv: KvClient::new(ctx.conn(i)),
            keys: keys.clone(),
            sent: sent.clone(),
            base,
        })
        .collect();
    let puts = drive(ctx, workers, f.put_total, f.put_rate).await;
    let expected: u64 = puts
        .samples
        .iter()
        .filter(|s| s.error.is_none())
        .map(|s| watchers_of[keys[(s.seq % keys.len() as u64) as usize].as_slice()])
        .sum();
    let until = (Instant::now() + EVENT_GRACE).min(ctx.deadline);
    let complete = await_count(&received, expected, &changed, until).await;
    let _ = stop_tx.send(true);
    let mut events = Phase {
        started: puts.started,
        abandoned: puts.abandoned,
        hit_deadline: puts.hit_deadline || (!complete && until == ctx.deadline),
        ..Phase::default()
    };
    for samples in join_all(readers, ctx.deadline).await {
        events.samples.extend(samples);
    }
    events.elapsed = base.elapsed();
    let got = events.samples.len() as u64;
    for s in puts.samples.iter().filter(|s| s.error.is_some()) {
        events.samples.push(s.clone());
    }
    for i in got..expected {
        events.samples.push(Sample::failed(
            i,
            events.elapsed,
            Duration::ZERO,
            "watch event not received in time".into(),
        ));
    }
    Ok(Outcome {
        sections: vec![
            Section {
                heading: "Watch creation summary:\n".into(),
                ..Section::plain(
                    creation.stats("watch-creation", cfg.output.sample),
                    creation.samples,
                )
            },
            Section {
                heading: "Watch events received summary:\n".into(),
                ..Section::plain(
                    events.stats("watch-events", cfg.output.sample),
                    events.samples,
                )
            },
        ],
        ..Outcome::default()
    })
}

// -------------------------------------------------------- watch-latency

/// Opens `streams` streams, each with `per_stream` watchers on `key`
/// (created and acknowledged before anything is measured).
async fn watchers_on(
    ctx: &RunCtx,
    key: &[u8],
    streams: usize,
    per_stream: usize,
    start_revision: i64,
    prev_kv: bool,
) -> Result<Vec<WatchStream>, String> {
    let mut out = Vec::with_capacity(streams);
    for s in 0..streams {
        let req = || create_request(key.to_vec(), start_revision, prev_kv);
        let mut stream = open_stream(ctx.conn(s % ctx.cfg.clients), req(), ctx.deadline).await?;
        for _ in 1..per_stream {
            stream
                .tx
                .send(req())
                .map_err(|_| "watch request stream closed".to_string())?;
        }
        let mut created = 0;
        while created < per_stream {
            let resp = next_response(&mut stream, ctx.deadline).await?;
            if resp.created {
                created += 1;
            }
        }
        out.push(stream);
    }
    Ok(out)
}

struct LatencyPutWorker {
    kv: KvClient<Conn>,
    key: Vec<u8>,
    value: Vec<u8>,
    /// Revision of each put -> when its response arrived (ns since base).
    done: Arc<std::sync::Mutex<HashMap<i64, u64>>>,
    base: Instant,
}

impl Worker for LatencyPutWorker {
    async fn request(&mut self, _seq: u64) -> Result<(), String> {
        let req = PutRequest {
            key: self.key.clone(),
            value: self.value.clone(),
            ..Default::default()
        };
        let resp = self.kv.put(req).await.map_err(|s| grpc_error(&s))?;
        let at = stamp(self.base);
        let revision = resp.into_inner().header.map_or(0, |h| h.revision);
        if let Ok(mut done) = self.done.lock() {
            done.insert(revision, at);
        }
        Ok(())
    }
}

pub async fn watch_latency(ctx: &RunCtx, f: &WatchLatencyFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let mut rng = Rng::new(cfg.seed);
    let key = rng.bytes(f.key_size);
    let value = rng.bytes(f.val_size);
    let streams = watchers_on(ctx, &key, f.streams, f.watchers_per_stream, 0, f.prevkv).await?;
    let watchers = (f.streams * f.watchers_per_stream) as u64;

    let base = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let changed = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (received, changed) = (received.clone(), changed.clone());
            let (mut stop, deadline) = (stop_rx.clone(), ctx.deadline);
            tokio::spawn(async move {
                // (revision, arrival ns since base) of every event.
                let mut arrivals: Vec<(i64, u64)> = Vec::new();
                loop {
                    let resp = tokio::select! {
                        _ = stop.changed() => break,
                        r = next_response(&mut stream, deadline) => r,
                    };
                    let Ok(resp) = resp else { break };
                    let now = stamp(base);
                    for ev in &resp.events {
                        arrivals.push((ev.kv.as_ref().map_or(0, |kv| kv.mod_revision), now));
                    }
                    received.fetch_add(resp.events.len() as u64, Ordering::AcqRel);
                    changed.notify_waiters();
                }
                drop(stream.tx);
                arrivals
            })
        })
        .collect();

    let done = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let writer = LatencyPutWorker {
        kv: KvClient::new(ctx.conn(0)),
        key,
        value,
        done: done.clone(),
        base,
    };
    let puts = drive(ctx, vec![writer], f.put_total, f.put_rate).await;
    let ok_puts = puts.samples.iter().filter(|s| s.error.is_none()).count() as u64;
    let expected = ok_puts * watchers;
    let until = (Instant::now() + EVENT_GRACE).min(ctx.deadline);
    let complete = await_count(&received, expected, &changed, until).await;
    let _ = stop_tx.send(true);

    let done = done.lock().map(|d| d.clone()).unwrap_or_default();
    let mut events = Phase {
        started: puts.started,
        hit_deadline: puts.hit_deadline || (!complete && until == ctx.deadline),
        ..Phase::default()
    };
    for arrivals in join_all(readers, ctx.deadline).await {
        for (revision, arrived) in arrivals {
            if let Some(&put_done) = done.get(&revision) {
                let start = Duration::from_nanos(put_done.min(arrived));
                let latency = Duration::from_nanos(arrived.saturating_sub(put_done));
                events
                    .samples
                    .push(Sample::ok(revision as u64, start, latency));
            }
        }
    }
    events.elapsed = base.elapsed();
    let got = events.samples.len() as u64;
    for i in got..expected {
        events.samples.push(Sample::failed(
            i,
            events.elapsed,
            Duration::ZERO,
            "watch event not received in time".into(),
        ));
    }
    Ok(Outcome {
        sections: vec![
            Section {
                heading: "\nPut summary:\n".into(),
                ..Section::plain(
                    puts.stats("watch-latency-put", cfg.output.sample),
                    puts.samples,
                )
            },
            Section {
                heading: "\nWatch events summary:\n".into(),
                ..Section::plain(
                    events.stats("watch-latency-events", cfg.output.sample),
                    events.samples,
                )
            },
        ],
        ..Outcome::default()
    })
}

// ------------------------------------------------------------ watch-get

/// The key `watch-get` writes and watches, and the key it reads.
const WATCH_GET_KEY: &[u8] = b"watchkey";
const WATCH_GET_READ_KEY: &[u8] = b"abc";

pub async fn watch_get(ctx: &RunCtx, f: &WatchGetFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let mut kv = KvClient::new(ctx.conn(0));
    let mut first_revision = 0;
    for i in 0..f.events {
        let req = PutRequest {
            key: WATCH_GET_KEY.to_vec(),
            value: i.to_string().into_bytes(),
            ..Default::default()
        };
        let resp = timeout_at(ctx.deadline.into(), kv.put(req))
            .await
            .map_err(|_| "watch-get setup: duration limit reached".to_string())?
            .map_err(|s| format!("watch-get setup: {}", grpc_error(&s)))?;
        if i == 0 {
            first_revision = resp.into_inner().header.map_or(0, |h| h.revision);
        }
    }

    // Watchers: `watchers` spread over `streams`, each needs `events` events.
    let base = Instant::now();
    let finished = Arc::new(AtomicU64::new(0));
    let changed = Arc::new(Notify::new());
    let bar = crate::progress::bar(f.watchers as u64 * f.events);
    let mut readers = Vec::with_capacity(f.streams);
    for s in 0..f.streams {
        let on_stream = (s..f.watchers).step_by(f.streams).count();
        if on_stream == 0 {
            continue;
        }
        let req = || create_request(WATCH_GET_KEY.to_vec(), first_revision, false);
        let mut stream = open_stream(ctx.conn(s % cfg.clients), req(), ctx.deadline).await?;
        for _ in 1..on_stream {
            stream
                .tx
                .send(req())
                .map_err(|_| "watch request stream closed".to_string())?;
        }
        let (finished, changed, bar) = (finished.clone(), changed.clone(), bar.clone());
        let (deadline, events) = (ctx.deadline, f.events);
        readers.push(tokio::spawn(async move {
            let mut per_watcher: HashMap<i64, u64> = HashMap::new();
            let mut done = 0;
            while done < on_stream {
                let Ok(resp) = next_response(&mut stream, deadline).await else {
                    break;
                };
                if resp.events.is_empty() {
                    continue;
                }
                bar.inc(resp.events.len() as u64);
                let n = per_watcher.entry(resp.watch_id).or_insert(0);
                let before = *n;
                *n += resp.events.len() as u64;
                if before < events && *n >= events {
                    done += 1;
                    finished.fetch_add(1, Ordering::AcqRel);
                    changed.notify_waiters();
                }
            }
            drop(stream.tx);
        }));
    }

    // The getter: serializable gets until every watcher has its events.
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let getter = {
        let mut kv = KvClient::new(ctx.conn(0));
        let deadline = ctx.deadline;
        let timeout = cfg.request_timeout;
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut seq = 0;
            while !*stop_rx.borrow() && Instant::now() < deadline {
                let began = Instant::now();
                let req = RangeRequest {
                    key: WATCH_GET_READ_KEY.to_vec(),
                    serializable: true,
                    ..Default::default()
                };
                let limit = (began + timeout).min(deadline);
                let result = tokio::select! {
                    _ = stop_rx.changed() => break,
                    r = timeout_at(limit.into(), kv.range(req)) => r,
                };
                let start = began.duration_since(base);
                samples.push(match result {
                    Ok(Ok(_)) => Sample::ok(seq, start, began.elapsed()),
                    Ok(Err(s)) => Sample::failed(seq, start, began.elapsed(), grpc_error(&s)),
                    Err(_) if limit == deadline => break,
                    Err(_) => Sample::failed(
                        seq,
                        start,
                        began.elapsed(),
                        crate::load::DEADLINE_EXCEEDED.into(),
                    ),
                });
                seq += 1;
            }
            samples
        })
    };
    let complete = await_count(&finished, f.watchers as u64, &changed, ctx.deadline).await;
    let _ = stop_tx.send(true);
    bar.finish_and_clear();
    let mut gets = Phase {
        started: Some(std::time::SystemTime::now() - base.elapsed()),
        hit_deadline: !complete,
        ..Phase::default()
    };
    for samples in join_all(vec![getter], ctx.deadline).await {
        gets.samples.extend(samples);
    }
    gets.elapsed = base.elapsed();
    for r in readers {
        r.abort();
    }
    let missing = f.watchers as u64 - finished.load(Ordering::Acquire);
    for i in 0..missing {
        gets.samples.push(Sample::failed(
            u64::MAX - i,
            gets.elapsed,
            Duration::ZERO,
            "watcher did not receive its events in time".into(),
        ));
    }
    Ok(Outcome {
        sections: vec![Section {
            heading: "Get during watch summary:\n".into(),
            ..Section::plain(gets.stats("watch-get", cfg.output.sample), gets.samples)
        }],
        ..Outcome::default()
    })
}
