//! `watch-latency`: from a put to every watcher's event (etcd's).
//!
//! `--streams` x `--watchers-per-stream` watchers on one random key of
//! `--key-size` bytes (created and acknowledged before measuring, with
//! `--prevkv` if asked); one writer puts a random `--val-size` value to it
//! `--put-total` times at `--put-rate`. Report one is the puts' latency.
//! Report two has one sample per watcher and put: from the put's response
//! to that watcher's event (0 when the event came first), matched by the
//! event's revision. The writer uses the first connection (etcd opens one
//! more for it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{PutRequest, WatchResponse};
use tokio::sync::watch;

use super::watch_stream::{
    create_request, open_watchers, spawn_reader, stamp, EventCounter, EVENT_GRACE,
};
use crate::config::WatchLatencyFlags;
use crate::connect::Conn;
use crate::keys::Rng;
use crate::load::{drive, grpc_error, join_all, Phase, RunCtx, Worker};
use crate::outcome::{Outcome, Section};
use crate::report::Sample;

/// The writer: puts the key and notes when each revision's response came.
struct LatencyPutWorker {
    kv: KvClient<Conn>,
    key: Vec<u8>,
    value: Vec<u8>,
    /// Revision of each put -> its response's arrival (ns since `base`).
    done: Arc<Mutex<HashMap<i64, u64>>>,
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

/// `(revision, arrival)` of every event of a response.
fn note_arrivals(arrivals: &mut Vec<(i64, u64)>, resp: &WatchResponse, now: u64) {
    for ev in &resp.events {
        arrivals.push((ev.kv.as_ref().map_or(0, |kv| kv.mod_revision), now));
    }
}

pub async fn watch_latency(ctx: &RunCtx, f: &WatchLatencyFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let mut rng = Rng::new(cfg.seed);
    let key = rng.bytes(f.key_size);
    let value = rng.bytes(f.val_size);
    let streams = open_watchers(ctx, f.streams, f.watchers_per_stream, || {
        create_request(key.clone(), 0, f.prevkv)
    })
    .await?;
    let watchers = (f.streams * f.watchers_per_stream) as u64;

    let base = Instant::now();
    let received = Arc::new(EventCounter::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let readers: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let events = received.clone();
            spawn_reader(
                stream,
                stop_rx.clone(),
                ctx.deadline,
                base,
                events,
                Vec::new(),
                note_arrivals,
            )
        })
        .collect();

    let done = Arc::new(Mutex::new(HashMap::new()));
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
    let complete = received.wait_for(expected, until).await;
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
