//! The Watch request of the server API: a stream of responses for a stream
//! of requests, one session per stream, many watchers each.
//!
//! A session never receives events pushed from the write path. Whenever the
//! store's revision moves (or a watcher is created), it asks the store for
//! the events since the oldest revision any of its watchers still needs
//! ([`etcd_store::Store::events_since`]: memory ring first, then disk), and
//! gives each watcher the events in its key range from its own next
//! revision on. So events arrive in revision order, are never lost or
//! duplicated, and a slow client only makes its own session read further
//! back: writers never wait for watchers. A watcher whose next revision has
//! been compacted away is cancelled with `compact_revision`, as in etcd.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::watch_create_request::FilterType;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::Event;
use etcd_store::auth::AuthError;
use etcd_store::index::KeyRange;
use etcd_store::HistoryError;
use futures::Stream;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::metadata::MetadataMap;

use super::EtcdServer;
use crate::auth::ClientCommonName;
use crate::error::ServerError;

/// Who a watch stream runs as. It is resolved again at every create,
/// against the auth state of that moment.
pub enum WatchCaller {
    /// A remote client's credentials: its metadata (the token) and the
    /// common name of its verified certificate.
    Credentials(MetadataMap, Option<ClientCommonName>),
    /// A caller inside the process that knows who it is.
    User(AuthInfo),
}

impl EtcdServer {
    /// Opens a watch stream: answers each request of `requests` (creates,
    /// cancels, progress requests) and sends events and progress
    /// notifications as they come, until either side goes away. With
    /// `require_leader` (etcd's `hasleader` metadata) the stream refuses to
    /// open, and later ends, when this member has no leader.
    pub fn watch<S>(
        self: &Arc<Self>,
        caller: WatchCaller,
        requests: S,
        require_leader: bool,
    ) -> Result<mpsc::Receiver<Result<WatchResponse, ServerError>>, ServerError>
    where
        S: Stream<Item = WatchRequest> + Send + Unpin + 'static,
    {
        if require_leader && self.raft_info().leader == 0 {
            return Err(ServerError::NoLeader);
        }
        let (tx, rx) = mpsc::channel(64);
        let session = Session {
            server: self.clone(),
            caller,
            tx,
            watchers: BTreeMap::new(),
            next_auto_id: 0,
            require_leader,
        };
        tokio::spawn(session.run(requests, self.config.progress_notify_interval()));
        Ok(rx)
    }
}

/// Revisions fetched per round of catching up.
const MAX_REVISIONS_PER_ROUND: usize = 1000;

struct Watcher {
    key: Vec<u8>,
    end: Vec<u8>,
    /// The first revision this watcher has not yet been given.
    next_rev: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    fragment: bool,
    /// Whether events went out since the last progress notification.
    sent_since_progress: bool,
}

impl Watcher {
    fn wants(&self, ev: &Event) -> bool {
        let Some(kv) = &ev.kv else { return false };
        let is_put = ev.r#type == EventType::Put as i32;
        if (is_put && self.no_put) || (!is_put && self.no_delete) {
            return false;
        }
        KeyRange::new(&self.key, &self.end).contains(&kv.key)
    }
}

/// The session ended (the client went away).
struct Closed;

struct Session {
    server: Arc<EtcdServer>,
    caller: WatchCaller,
    tx: mpsc::Sender<Result<WatchResponse, ServerError>>,
    watchers: BTreeMap<i64, Watcher>,
    next_auto_id: i64,
    require_leader: bool,
}

impl Session {
    async fn run<S>(mut self, mut inbound: S, progress_every: Duration)
    where
        S: Stream<Item = WatchRequest> + Send + Unpin,
    {
        let mut revisions = self.server.store.subscribe();
        let mut progress = tokio::time::interval(progress_every);
        progress.tick().await;
        let election = Duration::from_millis(self.server.config.election_timeout.max(1));
        let mut leader_check = tokio::time::interval(election);
        leader_check.tick().await;
        let mut no_leader_count = 0;
        loop {
            if self.catch_up().await.is_err() {
                return;
            }
            let step = tokio::select! {
                msg = inbound.next() => match msg {
                    Some(req) => self.handle(req).await,
                    None => Err(Closed),
                },
                changed = revisions.changed() => changed.map_err(|_| Closed),
                _ = progress.tick() => self.progress_notify().await,
                _ = leader_check.tick(), if self.require_leader => {
                    // As etcd: after three election timeouts without a
                    // leader, end the stream with "no leader".
                    if self.server.raft_info().leader == 0 {
                        no_leader_count += 1;
                    } else {
                        no_leader_count = 0;
                    }
                    if no_leader_count >= 3 {
                        let _ = self.tx.send(Err(ServerError::NoLeader)).await;
                        return;
                    }
                    Ok(())
                }
            };
            if step.is_err() {
                return;
            }
        }
    }

    async fn send(&self, resp: WatchResponse) -> Result<(), Closed> {
        self.tx.send(Ok(resp)).await.map_err(|_| Closed)
    }

    fn response(&self, watch_id: i64) -> WatchResponse {
        WatchResponse {
            header: Some(self.server.header()),
            watch_id,
            ..Default::default()
        }
    }

    async fn handle(&mut self, req: WatchRequest) -> Result<(), Closed> {
        match req.request_union {
            Some(RequestUnion::CreateRequest(c)) => self.create(c).await,
            Some(RequestUnion::CancelRequest(c)) => {
                if self.watchers.remove(&c.watch_id).is_some() {
                    let mut resp = self.response(c.watch_id);
                    resp.canceled = true;
                    self.send(resp).await?;
                }
                Ok(())
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                // The bookmark names the revision this stream has sent every
                // event up to, never a newer one read afterwards.
                let synced = self.catch_up().await?;
                self.send(self.progress_response(-1, synced)).await
            }
            None => Ok(()),
        }
    }

    async fn create(&mut self, c: WatchCreateRequest) -> Result<(), Closed> {
        let key = if c.key.is_empty() { vec![0] } else { c.key };
        let end = c.range_end;
        let mut resp = self.response(-1);
        resp.created = true;
        if !self.may_watch(&key, &end).await {
            // The whole watched range must be readable: events of keys
            // outside the user's permission never go out.
            resp.canceled = true;
            resp.cancel_reason = AuthError::PermissionDenied.to_string();
            return self.send(resp).await;
        }
        if !end.is_empty() && end != [0] && key >= end {
            resp.canceled = true;
            resp.cancel_reason = "mvcc: watcher range is empty".into();
            return self.send(resp).await;
        }
        let id = if c.watch_id != 0 {
            if self.watchers.contains_key(&c.watch_id) {
                resp.canceled = true;
                resp.cancel_reason = "mvcc: duplicate watch ID provided on the WatchStream".into();
                return self.send(resp).await;
            }
            c.watch_id
        } else {
            while self.watchers.contains_key(&self.next_auto_id) {
                self.next_auto_id += 1;
            }
            let id = self.next_auto_id;
            self.next_auto_id += 1;
            id
        };
        let current = resp.header.as_ref().map_or(0, |h| h.revision);
        let next_rev = if c.start_revision > 0 {
            c.start_revision
        } else {
            current + 1
        };
        self.watchers.insert(
            id,
            Watcher {
                key,
                end,
                next_rev,
                prev_kv: c.prev_kv,
                no_put: c.filters.contains(&(FilterType::Noput as i32)),
                no_delete: c.filters.contains(&(FilterType::Nodelete as i32)),
                progress_notify: c.progress_notify,
                fragment: c.fragment,
                sent_since_progress: false,
            },
        );
        resp.watch_id = id;
        self.send(resp).await
    }

    /// Whether this stream's user may read all of `[key, end)`.
    async fn may_watch(&self, key: &[u8], end: &[u8]) -> bool {
        let info = match &self.caller {
            WatchCaller::Credentials(metadata, cn) => {
                self.server.resolve_identity(metadata, cn.as_ref()).await
            }
            WatchCaller::User(info) => Ok(info.clone()),
        };
        info.is_ok_and(|info| self.server.store.authorize_read(&info, key, end).is_ok())
    }

    /// Brings every watcher up to the store's current revision; returns
    /// that revision: every event at or below it that a watcher of this
    /// stream wants has been sent.
    async fn catch_up(&mut self) -> Result<i64, Closed> {
        loop {
            // The store makes a revision current only once its events are
            // in the history, so everything up to `current` can be read.
            let current = self.server.store.current_revision();
            let Some(from) = self
                .watchers
                .values()
                .map(|w| w.next_rev)
                .filter(|r| *r <= current)
                .min()
            else {
                return Ok(current);
            };
            let batch = match self
                .server
                .store
                .events_since(from, MAX_REVISIONS_PER_ROUND)
            {
                Ok(b) => b,
                Err(HistoryError::Compacted(compacted)) => {
                    self.cancel_compacted(compacted).await?;
                    continue;
                }
                Err(e) => {
                    // Retrying cannot help; end the stream rather than spin.
                    tracing::error!(error = %e, "watch stream cannot read the event history");
                    let _ = self
                        .tx
                        .send(Err(ServerError::Internal(e.to_string())))
                        .await;
                    return Err(Closed);
                }
            };
            let Some(last) = batch.last().map(|b| b.revision) else {
                // No revision in `from..=current` has events: a fresh store
                // sits at revision 1, which has none.
                return Ok(current);
            };
            let ids: Vec<i64> = self.watchers.keys().copied().collect();
            for id in ids {
                let w = &self.watchers[&id];
                if w.next_rev > last {
                    continue;
                }
                let events: Vec<Event> = batch
                    .iter()
                    .filter(|r| r.revision >= w.next_rev)
                    .flat_map(|r| r.events.iter())
                    .filter(|ev| w.wants(ev))
                    .map(|ev| {
                        let mut ev = ev.clone();
                        if !w.prev_kv {
                            ev.prev_kv = None;
                        }
                        ev
                    })
                    .collect();
                let fragment = w.fragment;
                let w = self.watchers.get_mut(&id).expect("watcher exists");
                w.next_rev = last + 1;
                if events.is_empty() || drop_events_for_tests() {
                    continue;
                }
                w.sent_since_progress = true;
                self.send_events(id, last, events, fragment).await?;
            }
        }
    }

    async fn cancel_compacted(&mut self, compacted: i64) -> Result<(), Closed> {
        let behind: Vec<i64> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.next_rev < compacted)
            .map(|(id, _)| *id)
            .collect();
        for id in behind {
            self.watchers.remove(&id);
            let mut resp = self.response(id);
            // etcd sends no revision in the header of a compaction cancel.
            if let Some(h) = resp.header.as_mut() {
                h.revision = 0;
            }
            resp.canceled = true;
            resp.compact_revision = compacted;
            self.send(resp).await?;
        }
        Ok(())
    }

    async fn send_events(
        &self,
        id: i64,
        revision: i64,
        events: Vec<Event>,
        fragment: bool,
    ) -> Result<(), Closed> {
        let mut resp = self.response(id);
        if let Some(h) = resp.header.as_mut() {
            h.revision = revision;
        }
        let limit = self.server.config.max_request_bytes as usize;
        let size: usize = events.iter().map(|e| e.encoded_len()).sum();
        if !fragment || size <= limit {
            resp.events = events;
            return self.send(resp).await;
        }
        // Split into responses under the limit; all but the last say so.
        let mut chunks: Vec<Vec<Event>> = vec![Vec::new()];
        let mut chunk_size = 0;
        for ev in events {
            let len = ev.encoded_len();
            if chunk_size + len > limit && !chunks.last().is_some_and(Vec::is_empty) {
                chunks.push(Vec::new());
                chunk_size = 0;
            }
            chunk_size += len;
            chunks.last_mut().expect("non-empty").push(ev);
        }
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut part = resp.clone();
            part.events = chunk;
            part.fragment = i + 1 < n;
            self.send(part).await?;
        }
        Ok(())
    }

    async fn progress_notify(&mut self) -> Result<(), Closed> {
        let synced = self.catch_up().await?;
        let due: Vec<i64> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.progress_notify && !w.sent_since_progress && w.next_rev > synced)
            .map(|(id, _)| *id)
            .collect();
        for w in self.watchers.values_mut() {
            w.sent_since_progress = false;
        }
        for id in due {
            self.send(self.progress_response(id, synced)).await?;
        }
        Ok(())
    }

    /// A progress notification at `revision`, which the stream has sent
    /// every wanted event up to.
    fn progress_response(&self, watch_id: i64, revision: i64) -> WatchResponse {
        let mut resp = self.response(watch_id);
        if let Some(h) = resp.header.as_mut() {
            h.revision = revision;
        }
        resp
    }
}

/// A planted bug for testing the fault-injection checkers (failpoint
/// `watch_drop_events`): events are skipped as if sent. Never on in
/// release builds.
fn drop_events_for_tests() -> bool {
    fail::fail_point!("watch_drop_events", |_| true);
    false
}
