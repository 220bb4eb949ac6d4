//! `watch-get`: serializable gets while unsynced watchers catch up (etcd's).
//!
//! `--events` puts to `watchkey` (untimed), then `--watchers` watchers on
//! `--streams` streams watch it from the first of those revisions, so the
//! server must replay history to each. Meanwhile one client times
//! serializable gets of `abc`, back to back, until every watcher has its
//! `--events` events (or the deadline): the report is those gets. A
//! watcher that never got its events counts as one error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use indicatif::ProgressBar;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout_at;

use super::watch_stream::{create_request, EventCounter, WatchStream};
use crate::config::WatchGetFlags;
use crate::connect::Conn;
use crate::load::{grpc_error, join_all, Phase, RunCtx, DEADLINE_EXCEEDED};
use crate::outcome::{Outcome, Section};
use crate::report::Sample;

/// The key `watch-get` writes and watches, and the key it reads.
const WATCHED_KEY: &[u8] = b"watchkey";
const READ_KEY: &[u8] = b"abc";

/// Writes `events` values to the watched key; the first one's revision.
async fn write_history(ctx: &RunCtx, events: u64) -> Result<i64, String> {
    let mut kv = KvClient::new(ctx.conn(0));
    let mut first_revision = 0;
    for i in 0..events {
        let req = PutRequest {
            key: WATCHED_KEY.to_vec(),
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
    Ok(first_revision)
}

/// Reads one stream's `watchers` watchers until each has `events` events;
/// bumps `finished` once per satisfied watcher.
fn spawn_catch_up(
    mut stream: WatchStream,
    watchers: usize,
    events: u64,
    deadline: Instant,
    finished: Arc<EventCounter>,
    bar: ProgressBar,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut per_watcher: HashMap<i64, u64> = HashMap::new();
        let mut done = 0;
        while done < watchers {
            let Ok(resp) = stream.next(deadline).await else {
                break;
            };
            if resp.events.is_empty() {
                continue;
            }
            bar.inc(resp.events.len() as u64);
            let seen = per_watcher.entry(resp.watch_id).or_insert(0);
            let before = *seen;
            *seen += resp.events.len() as u64;
            if before < events && *seen >= events {
                done += 1;
                finished.add(1);
            }
        }
    })
}

/// Times serializable gets of [`READ_KEY`] until `stop` or the deadline.
fn spawn_getter(
    conn: Conn,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
    timeout: Duration,
    base: Instant,
) -> JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut kv = KvClient::new(conn);
        let mut samples = Vec::new();
        let mut seq = 0;
        while !*stop.borrow() && Instant::now() < deadline {
            let began = Instant::now();
            let req = RangeRequest {
                key: READ_KEY.to_vec(),
                serializable: true,
                ..Default::default()
            };
            let limit = (began + timeout).min(deadline);
            let result = tokio::select! {
                _ = stop.changed() => break,
                r = timeout_at(limit.into(), kv.range(req)) => r,
            };
            let start = began.duration_since(base);
            samples.push(match result {
                Ok(Ok(_)) => Sample::ok(seq, start, began.elapsed()),
                Ok(Err(s)) => Sample::failed(seq, start, began.elapsed(), grpc_error(&s)),
                Err(_) if limit == deadline => break,
                Err(_) => Sample::failed(seq, start, began.elapsed(), DEADLINE_EXCEEDED.into()),
            });
            seq += 1;
        }
        samples
    })
}

pub async fn watch_get(ctx: &RunCtx, f: &WatchGetFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let first_revision = write_history(ctx, f.events).await?;

    let base = Instant::now();
    let started = SystemTime::now();
    let finished = Arc::new(EventCounter::default());
    let bar = crate::progress::bar(f.watchers as u64 * f.events);
    let (stop_tx, stop_rx) = watch::channel(false);
    let getter = spawn_getter(
        ctx.conn(0),
        stop_rx,
        ctx.deadline,
        cfg.request_timeout,
        base,
    );
    let mut readers = Vec::with_capacity(f.streams);
    for s in 0..f.streams.min(f.watchers) {
        let on_stream = (s..f.watchers).step_by(f.streams).count();
        let req = || create_request(WATCHED_KEY.to_vec(), first_revision, false);
        let stream = WatchStream::open(ctx.conn(s % cfg.clients), req(), ctx.deadline).await?;
        for _ in 1..on_stream {
            stream.send(req())?;
        }
        let (deadline, done, bar) = (ctx.deadline, finished.clone(), bar.clone());
        readers.push(spawn_catch_up(
            stream, on_stream, f.events, deadline, done, bar,
        ));
    }

    let complete = finished.wait_for(f.watchers as u64, ctx.deadline).await;
    let _ = stop_tx.send(true);
    bar.finish_and_clear();
    let mut gets = Phase {
        started: Some(started),
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
    let missing = (f.watchers as u64).saturating_sub(finished.get());
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
