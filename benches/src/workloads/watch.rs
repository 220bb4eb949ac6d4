//! `watch`: watch creation, then events from concurrent puts (etcd's).
//!
//! `--streams` watch streams over the clients each create
//! `--watch-per-stream` watchers on keys of the key space (`--key-size`
//! varint keys, random or `--sequential-keys`); watcher `n` of all of them
//! watches key `n % key-space`, as etcd hands them out. Report one times
//! each creation, from sending the create request to its `created`
//! response (etcd times a non-blocking client call).
//!
//! Then `--put-total` puts cycle over the keys (`--put-rate`, spread over
//! the clients), and report two times every event a watcher receives, from
//! the send of the put that caused it (the put's value carries its number)
//! to the event's arrival. etcd's tool times only the hand-off of each
//! event inside its client, close to zero; events per second compare
//! either way. Events that did not arrive within
//! [`EVENT_GRACE`](super::watch_stream::EVENT_GRACE) of the last put count
//! as errors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::PutRequest;
use indicatif::ProgressBar;
use tokio::sync::watch;

use super::watch_stream::{
    create_request, spawn_reader, stamp, EventCounter, WatchStream, EVENT_GRACE,
};
use crate::config::WatchFlags;
use crate::connect::Conn;
use crate::keys::{key, Rng};
use crate::load::{drive, grpc_error, join_all, Phase, RunCtx, Worker};
use crate::outcome::{Outcome, Section};
use crate::report::Sample;

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

/// Watcher `w` of stream `s` is watcher number `s + w*streams` overall,
/// and watches key number `that % keys`.
fn watcher_key(keys: &[Vec<u8>], streams: usize, s: usize, w: usize) -> &[u8] {
    &keys[(s + w * streams) % keys.len()]
}

pub async fn watch(ctx: &RunCtx, f: &WatchFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let have = cfg.connect.conns.min(cfg.clients);
    let wanted = 1 + f.streams / 100;
    if have < wanted {
        eprintln!(
            "warning: grpc limits 100 streams per client connection, have {have} but need {wanted}"
        );
    }
    let keys = Arc::new(watched_keys(f, &mut Rng::new(cfg.seed)));
    let (creation, streams) = create_watchers(ctx, f, &keys).await;
    let events = put_and_receive(ctx, f, &keys, streams).await;
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

/// Phase one: every stream creates its watchers one at a time (streams in
/// parallel), each timed from create request to `created`.
async fn create_watchers(
    ctx: &RunCtx,
    f: &WatchFlags,
    keys: &[Vec<u8>],
) -> (Phase, Vec<WatchStream>) {
    let base = Instant::now();
    let bar = crate::progress::bar((f.streams * f.watch_per_stream) as u64);
    let creators = (0..f.streams)
        .map(|s| {
            let stream_keys: Vec<Vec<u8>> = (0..f.watch_per_stream)
                .map(|w| watcher_key(keys, f.streams, s, w).to_vec())
                .collect();
            tokio::spawn(create_on_stream(
                ctx.conn(s % ctx.cfg.clients),
                stream_keys,
                f.prevkv,
                ctx.deadline,
                base,
                bar.clone(),
            ))
        })
        .collect();
    let mut phase = Phase::default();
    let mut streams = Vec::new();
    for (samples, stream) in join_all(creators, ctx.deadline).await {
        phase.samples.extend(samples);
        streams.extend(stream);
    }
    bar.finish_and_clear();
    phase.elapsed = base.elapsed();
    phase.hit_deadline = Instant::now() >= ctx.deadline;
    (phase, streams)
}

/// Creates one watcher per key on a new stream; the samples and the
/// stream (if it opened).
async fn create_on_stream(
    conn: Conn,
    keys: Vec<Vec<u8>>,
    prev_kv: bool,
    deadline: Instant,
    base: Instant,
    bar: ProgressBar,
) -> (Vec<Sample>, Option<WatchStream>) {
    let mut samples = Vec::with_capacity(keys.len());
    let mut stream: Option<WatchStream> = None;
    for (w, k) in keys.into_iter().enumerate() {
        let began = Instant::now();
        let req = create_request(k, 0, prev_kv);
        let sent = match &stream {
            None => WatchStream::open(conn.clone(), req, deadline)
                .await
                .map(|st| stream = Some(st)),
            Some(st) => st.send(req),
        };
        let created = match (sent, stream.as_mut()) {
            (Ok(()), Some(st)) => st.await_created(1, deadline).await,
            (Ok(()), None) => Err("watch stream closed".into()),
            (Err(e), _) => Err(e),
        };
        let start = began.duration_since(base);
        samples.push(match created {
            Ok(()) => Sample::ok(w as u64, start, began.elapsed()),
            Err(e) => Sample::failed(w as u64, start, began.elapsed(), e),
        });
        bar.inc(1);
    }
    (samples, stream)
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

/// Phase two: the puts, and every watcher's events timed from their put.
async fn put_and_receive(
    ctx: &RunCtx,
    f: &WatchFlags,
    keys: &Arc<Vec<Vec<u8>>>,
    streams: Vec<WatchStream>,
) -> Phase {
    let mut watchers_of: HashMap<&[u8], u64> = HashMap::new();
    for s in 0..f.streams {
        for w in 0..f.watch_per_stream {
            *watchers_of
                .entry(watcher_key(keys, f.streams, s, w))
                .or_insert(0) += 1;
        }
    }
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..f.put_total).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(EventCounter::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let readers: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let sent = sent.clone();
            let on_response = move |samples: &mut Vec<Sample>, resp: &_, now: u64| {
                record_events(samples, resp, now, &sent)
            };
            let (deadline, events) = (ctx.deadline, received.clone());
            spawn_reader(
                stream,
                stop_rx.clone(),
                deadline,
                base,
                events,
                Vec::new(),
                on_response,
            )
        })
        .collect();
    let workers = (0..ctx.cfg.clients)
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
    let complete = received.wait_for(expected, until).await;
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
    // A failed put's events never come: its error stands for them.
    events
        .samples
        .extend(puts.samples.into_iter().filter(|s| s.error.is_some()));
    for i in got..expected {
        events.samples.push(Sample::failed(
            i,
            events.elapsed,
            Duration::ZERO,
            "watch event not received in time".into(),
        ));
    }
    events
}

/// One sample per event: from the send of the put its value names to `now`.
fn record_events(
    samples: &mut Vec<Sample>,
    resp: &etcd_proto::etcdserverpb::WatchResponse,
    now: u64,
    sent: &[AtomicU64],
) {
    for ev in &resp.events {
        let seq = ev
            .kv
            .as_ref()
            .and_then(|kv| kv.value.get(..8))
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        let Some((seq, at)) = seq.and_then(|s| {
            let at = sent.get(s as usize)?.load(Ordering::Acquire);
            (at != 0).then_some((s, at))
        }) else {
            continue;
        };
        let start = Duration::from_nanos(at);
        samples.push(Sample::ok(
            seq,
            start,
            Duration::from_nanos(now.saturating_sub(at)),
        ));
    }
}
