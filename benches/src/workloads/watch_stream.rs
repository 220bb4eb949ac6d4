//! Watch streams for the watch workloads: open, create, read, count.
//!
//! A [`WatchStream`] keeps its request side open as long as it lives; the
//! server answers a watch call only once it has something to say, so a
//! stream is opened together with its first create request. Readers
//! ([`spawn_reader`]) hand every response to a workload's callback and
//! bump an [`EventCounter`], which the workload awaits (no polling) until
//! the events it expects have arrived or its time is up. Every wait is
//! bounded by the run's deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::timeout_at;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

use crate::connect::Conn;
use crate::load::{grpc_error, RunCtx};

/// After the last put, how long watchers may still take to deliver the
/// outstanding events before they count as missing.
pub const EVENT_GRACE: Duration = Duration::from_secs(5);

/// An open watch stream: the request side stays open while `tx` lives.
pub struct WatchStream {
    pub tx: mpsc::UnboundedSender<WatchRequest>,
    pub rx: Streaming<WatchResponse>,
}

/// A request creating a watcher on `key` from `start_revision` (0 = now).
pub fn create_request(key: Vec<u8>, start_revision: i64, prev_kv: bool) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key,
            start_revision,
            prev_kv,
            ..Default::default()
        })),
    }
}

impl WatchStream {
    /// Opens a stream on `conn` whose first request is `first`.
    pub async fn open(conn: Conn, first: WatchRequest, deadline: Instant) -> Result<Self, String> {
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

    /// Queues one more request on the stream.
    pub fn send(&self, req: WatchRequest) -> Result<(), String> {
        self.tx
            .send(req)
            .map_err(|_| "watch request stream closed".to_string())
    }

    /// The next response, or why there is none (by `deadline`).
    pub async fn next(&mut self, deadline: Instant) -> Result<WatchResponse, String> {
        match timeout_at(deadline.into(), self.rx.message()).await {
            Ok(Ok(Some(resp))) if resp.canceled => {
                Err(format!("watch canceled: {}", resp.cancel_reason))
            }
            Ok(Ok(Some(resp))) => Ok(resp),
            Ok(Ok(None)) => Err("watch stream closed".into()),
            Ok(Err(s)) => Err(grpc_error(&s)),
            Err(_) => Err("watch: duration limit reached".into()),
        }
    }

    /// Reads responses until `count` watchers are acknowledged as created.
    pub async fn await_created(&mut self, count: usize, deadline: Instant) -> Result<(), String> {
        let mut created = 0;
        while created < count {
            if self.next(deadline).await?.created {
                created += 1;
            }
        }
        Ok(())
    }
}

/// Opens `streams` streams round robin over the clients' connections,
/// each with `per_stream` watchers from `req`, all acknowledged before
/// anything is measured.
pub async fn open_watchers(
    ctx: &RunCtx,
    streams: usize,
    per_stream: usize,
    req: impl Fn() -> WatchRequest,
) -> Result<Vec<WatchStream>, String> {
    let mut out = Vec::with_capacity(streams);
    for s in 0..streams {
        let mut stream =
            WatchStream::open(ctx.conn(s % ctx.cfg.clients), req(), ctx.deadline).await?;
        for _ in 1..per_stream {
            stream.send(req())?;
        }
        stream.await_created(per_stream, ctx.deadline).await?;
        out.push(stream);
    }
    Ok(out)
}

/// Counts events (or any progress) across reader tasks, and lets the
/// workload await a count.
#[derive(Default)]
pub struct EventCounter {
    count: AtomicU64,
    changed: Notify,
}

impl EventCounter {
    pub fn add(&self, n: u64) {
        self.count.fetch_add(n, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until the count reaches `target` or `until` passes; whether
    /// it was reached.
    pub async fn wait_for(&self, target: u64, until: Instant) -> bool {
        loop {
            let changed = self.changed.notified();
            if self.get() >= target {
                return true;
            }
            if timeout_at(until.into(), changed).await.is_err() {
                return self.get() >= target;
            }
        }
    }
}

/// Reads `stream` until `stop` fires, the stream ends or `deadline`:
/// each response goes to `on_response` (with its arrival in ns since
/// `base`), and its events are added to `events`. The task returns the
/// callback's `state`.
pub fn spawn_reader<S, F>(
    mut stream: WatchStream,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
    base: Instant,
    events: Arc<EventCounter>,
    mut state: S,
    mut on_response: F,
) -> JoinHandle<S>
where
    S: Send + 'static,
    F: FnMut(&mut S, &WatchResponse, u64) + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let resp = tokio::select! {
                _ = stop.changed() => break,
                r = stream.next(deadline) => r,
            };
            let Ok(resp) = resp else { break };
            on_response(&mut state, &resp, stamp(base));
            events.add(resp.events.len() as u64);
        }
        state
    })
}

/// Nanoseconds since `base`, never 0 (0 marks "not yet").
pub fn stamp(base: Instant) -> u64 {
    (base.elapsed().as_nanos() as u64).max(1)
}
