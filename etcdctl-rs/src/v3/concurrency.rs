//! etcd's client-side concurrency recipes (clientv3/concurrency) as the Go
//! etcdctl uses them for `lock` and `elect`: a session (a lease renewed in
//! the background), the mutex and the election. Keys, transactions and
//! waits follow the Go recipes step for step — `<name>/<lease id in hex>`
//! created by a txn guarded on `create_revision == 0`, then a watch for the
//! deletion of every key under the prefix with a lower create revision — so
//! etcdctl-rs and the Go etcdctl queue behind each other on the same etcd.
//!
//! Like clientv3 with `context.TODO()`, these calls have no deadline: an
//! unreachable etcd makes them wait until it comes back (or a signal ends
//! the command).

use std::time::Duration;

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseGrantRequest, PutRequest, RangeRequest,
    RangeResponse, RequestOp, ResponseHeader, TxnRequest, TxnResponse, WatchCreateRequest,
    WatchRequest, WatchResponse,
};
use etcd_proto::mvccpb::event::EventType;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::client::{kv_stub, lease_stub, Client, ConnConfig, RpcError};
use super::util::prefix_end;

/// How far away "no deadline" is.
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A deadline that never comes (Go's `context.TODO()`).
pub fn no_deadline() -> Instant {
    Instant::now() + FOREVER
}

/// Go's `context.Canceled` text, what a recipe reports when a signal ends it.
pub const CONTEXT_CANCELED: &str = "context canceled";

/// Aborts a background task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A range request with clientv3's `WithPrefix()`.
pub fn prefix_range(key: &[u8]) -> RangeRequest {
    let (key, range_end) = if key.is_empty() {
        (vec![0], vec![0])
    } else {
        (key.to_vec(), prefix_end(key))
    };
    RangeRequest {
        key,
        range_end,
        ..Default::default()
    }
}

/// clientv3's `withTop(target, order)`: the first key of a prefix by `order`.
fn top(prefix: &[u8], order: SortOrder) -> RangeRequest {
    RangeRequest {
        sort_target: SortTarget::Create as i32,
        sort_order: order as i32,
        limit: 1,
        ..prefix_range(prefix)
    }
}

fn create_revision_is(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        range_end: Vec::new(),
        target_union: Some(TargetUnion::CreateRevision(rev)),
    }
}

fn op(request: Request) -> RequestOp {
    RequestOp {
        request: Some(request),
    }
}

fn range_op(req: RangeRequest) -> RequestOp {
    op(Request::RequestRange(req))
}

fn get_key(key: &[u8]) -> RangeRequest {
    RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    }
}

/// The range response inside the `i`-th response of a txn.
fn txn_range(resp: &TxnResponse, i: usize) -> RangeResponse {
    match resp.responses.get(i).and_then(|r| r.response.clone()) {
        Some(Response::ResponseRange(r)) => r,
        _ => RangeResponse::default(),
    }
}

/// A Range with no deadline.
pub async fn range(client: &mut Client, req: RangeRequest) -> Result<RangeResponse, RpcError> {
    client
        .call_until(kv_stub, no_deadline(), true, &req, |mut c, r| async move {
            c.range(r).await
        })
        .await
}

/// A Txn with no deadline.
pub async fn txn(client: &mut Client, req: TxnRequest) -> Result<TxnResponse, RpcError> {
    client
        .call_until(kv_stub, no_deadline(), false, &req, |mut c, r| async move {
            c.txn(r).await
        })
        .await
}

/// A Put with no deadline.
pub async fn put(
    client: &mut Client,
    req: PutRequest,
) -> Result<etcd_proto::etcdserverpb::PutResponse, RpcError> {
    client
        .call_until(kv_stub, no_deadline(), false, &req, |mut c, r| async move {
            c.put(r).await
        })
        .await
}

/// Deletes one key, with no deadline.
pub async fn delete(client: &mut Client, key: &[u8]) -> Result<DeleteRangeResponse, RpcError> {
    let req = DeleteRangeRequest {
        key: key.to_vec(),
        ..Default::default()
    };
    client
        .call_until(kv_stub, no_deadline(), false, &req, |mut c, r| async move {
            c.delete_range(r).await
        })
        .await
}

/// clientv3's `WatchResponse.Err()` for a canceled or compacted response.
pub fn watch_error(r: &WatchResponse) -> String {
    if r.compact_revision != 0 {
        "etcdserver: mvcc: required revision has been compacted".into()
    } else if !r.cancel_reason.is_empty() {
        super::client::status_message(tonic::Code::FailedPrecondition, &r.cancel_reason)
    } else {
        "etcdserver: mvcc: required revision is a future revision".into()
    }
}

/// One watch that survives broken streams: it reconnects and resumes after
/// the last revision it delivered, like clientv3's watcher.
pub struct EventStream {
    client: Client,
    req: WatchCreateRequest,
    /// The revision to resume from (0: the current one, on first connect).
    next_rev: i64,
    rx: Option<mpsc::UnboundedReceiver<WatchResponse>>,
    task: Option<AbortOnDrop>,
}

impl EventStream {
    pub fn new(conn: &ConnConfig, req: WatchCreateRequest) -> Self {
        EventStream {
            client: Client::new(conn.clone()),
            next_rev: req.start_revision,
            req,
            rx: None,
            task: None,
        }
    }

    async fn connect(&mut self) {
        loop {
            if let Ok(ch) = self.client.channel(no_deadline()).await {
                let mut req = self.req.clone();
                req.start_revision = self.next_rev;
                let (tx, rx) = mpsc::channel(4);
                let _ = tx.try_send(WatchRequest {
                    request_union: Some(RequestUnion::CreateRequest(req)),
                });
                let (resp_tx, resp_rx) = mpsc::unbounded_channel();
                let task = tokio::spawn(async move {
                    // `tx` lives as long as the stream, keeping it open.
                    let _keep = tx;
                    if let Ok(resp) = WatchClient::new(ch)
                        .max_decoding_message_size(super::client::MAX_RECV_MSG_SIZE)
                        .watch(ReceiverStream::new(rx))
                        .await
                    {
                        let mut inbound = resp.into_inner();
                        while let Ok(Some(m)) = inbound.message().await {
                            if resp_tx.send(m).is_err() {
                                return;
                            }
                        }
                    }
                });
                self.rx = Some(resp_rx);
                self.task = Some(AbortOnDrop(task));
                return;
            }
            self.client.reset();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The next response carrying events. `Err` when the server canceled
    /// the watch (compaction, future revision), as clientv3's `Err()`.
    pub async fn next(&mut self) -> Result<WatchResponse, String> {
        loop {
            if self.rx.is_none() {
                self.connect().await;
            }
            let msg = match self.rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => None,
            };
            let Some(resp) = msg else {
                self.rx = None;
                self.task = None;
                self.client.reset();
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            if resp.canceled || resp.compact_revision != 0 {
                return Err(watch_error(&resp));
            }
            let rev = resp.header.as_ref().map(|h| h.revision).unwrap_or(0);
            if resp.created {
                if self.next_rev == 0 {
                    self.next_rev = rev + 1;
                }
                continue;
            }
            match resp.events.last().and_then(|e| e.kv.as_ref()) {
                Some(kv) => self.next_rev = kv.mod_revision + 1,
                None => continue,
            }
            return Ok(resp);
        }
    }
}

/// A lease kept alive in the background (clientv3's `concurrency.Session`).
pub struct Session {
    pub lease: i64,
    done: watch::Receiver<bool>,
    _keep_alive: AbortOnDrop,
}

impl Session {
    /// `concurrency.NewSession(client, WithTTL(ttl))`: a TTL of zero or less
    /// means the default of 60 seconds.
    pub async fn new(conn: &ConnConfig, ttl: i64) -> Result<Session, RpcError> {
        let ttl = if ttl > 0 { ttl } else { 60 };
        let mut client = Client::new(conn.clone());
        let resp = client
            .call_until(
                lease_stub,
                no_deadline(),
                true,
                &LeaseGrantRequest { ttl, id: 0 },
                |mut c, r| async move { c.lease_grant(r).await },
            )
            .await?;
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(keep_alive(client, resp.id, resp.ttl, tx));
        Ok(Session {
            lease: resp.id,
            done: rx,
            _keep_alive: AbortOnDrop(task),
        })
    }

    /// Completes once the lease is gone (expired, revoked, or not renewed
    /// within its TTL).
    pub async fn done(&self) {
        let mut rx = self.done.clone();
        let _ = rx.wait_for(|gone| *gone).await;
    }
}

/// Renews the lease every third of its TTL until it is gone.
async fn keep_alive(mut client: Client, id: i64, ttl: i64, done: watch::Sender<bool>) {
    let ttl = Duration::from_secs(ttl.max(1) as u64);
    let mut expires = Instant::now() + ttl;
    loop {
        match super::lease::keep_alive_once(&mut client, id).await {
            Ok(resp) if resp.ttl <= 0 => break,
            Ok(resp) => {
                let ttl = Duration::from_secs(resp.ttl as u64);
                expires = Instant::now() + ttl;
                tokio::time::sleep((ttl / 3).max(Duration::from_millis(500))).await;
            }
            Err(_) => {
                client.reset();
                if Instant::now() >= expires {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = done.send(true);
}

/// clientv3's `waitDelete`: waits for `key` to be deleted at or after `rev`.
async fn wait_delete(conn: &ConnConfig, key: &[u8], rev: i64) -> Result<(), String> {
    let mut stream = EventStream::new(
        conn,
        WatchCreateRequest {
            key: key.to_vec(),
            start_revision: rev,
            ..Default::default()
        },
    );
    loop {
        let resp = stream.next().await?;
        if resp
            .events
            .iter()
            .any(|e| e.r#type == EventType::Delete as i32)
        {
            return Ok(());
        }
    }
}

/// clientv3's `waitDeletes`: waits until no key under `pfx` has a create
/// revision of `max_create_rev` or less, returning the final header.
async fn wait_deletes(
    client: &mut Client,
    conn: &ConnConfig,
    pfx: &[u8],
    max_create_rev: i64,
) -> Result<ResponseHeader, String> {
    loop {
        let mut req = top(pfx, SortOrder::Descend);
        req.max_create_revision = max_create_rev;
        let resp = range(client, req).await.map_err(|e| e.message())?;
        let Some(last) = resp.kvs.first() else {
            return Ok(resp.header.unwrap_or_default());
        };
        let rev = resp.header.map(|h| h.revision).unwrap_or(0);
        wait_delete(conn, &last.key, rev).await?;
    }
}

/// A held lock (clientv3's `concurrency.Mutex` after `Lock`).
pub struct Mutex {
    pub key: Vec<u8>,
    /// The header of the response that granted the lock.
    pub header: ResponseHeader,
}

/// The key a session owns under `pfx` (`<pfx><lease id in hex>`).
pub fn owned_key(pfx: &[u8], session: &Session) -> Vec<u8> {
    [pfx, format!("{:x}", session.lease).as_bytes()].concat()
}

/// `Mutex.Lock`: queues under `pfx` (the lock name followed by `/`) and
/// waits for every earlier waiter to go away.
pub async fn lock(
    client: &mut Client,
    conn: &ConnConfig,
    session: &Session,
    pfx: &[u8],
) -> Result<Mutex, String> {
    let key = owned_key(pfx, session);
    let req = TxnRequest {
        compare: vec![create_revision_is(&key, 0)],
        success: vec![
            op(Request::RequestPut(PutRequest {
                key: key.to_vec(),
                lease: session.lease,
                ..Default::default()
            })),
            range_op(top(pfx, SortOrder::Ascend)),
        ],
        failure: vec![
            range_op(get_key(&key)),
            range_op(top(pfx, SortOrder::Ascend)),
        ],
    };
    let resp = txn(client, req).await.map_err(|e| e.message())?;
    let header = resp.header.unwrap_or_default();
    let mut my_rev = header.revision;
    if !resp.succeeded {
        my_rev = txn_range(&resp, 0)
            .kvs
            .first()
            .map(|kv| kv.create_revision)
            .unwrap_or(my_rev);
    }
    let owner = txn_range(&resp, 1);
    if owner
        .kvs
        .first()
        .is_none_or(|kv| kv.create_revision == my_rev)
    {
        return Ok(Mutex { key, header });
    }
    if let Err(e) = wait_deletes(client, conn, pfx, my_rev - 1).await {
        let _ = delete(client, &key).await;
        return Err(e);
    }
    // Make sure the session did not expire while waiting.
    let resp = range(client, get_key(&key))
        .await
        .map_err(|e| e.message())?;
    if resp.kvs.is_empty() {
        return Err("session expired".to_string());
    }
    Ok(Mutex {
        key,
        header: resp.header.unwrap_or_default(),
    })
}

/// A won election (clientv3's `concurrency.Election` after `Campaign`).
pub struct Leadership {
    pub key: Vec<u8>,
    pub rev: i64,
}

/// `Election.Campaign`: puts the proposal under `pfx` (the election name
/// followed by `/`) and waits until every earlier candidate is gone.
pub async fn campaign(
    client: &mut Client,
    conn: &ConnConfig,
    session: &Session,
    pfx: &[u8],
    val: &[u8],
) -> Result<Leadership, String> {
    let key = owned_key(pfx, session);
    let req = TxnRequest {
        compare: vec![create_revision_is(&key, 0)],
        success: vec![op(Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: val.to_vec(),
            lease: session.lease,
            ..Default::default()
        }))],
        failure: vec![range_op(get_key(&key))],
    };
    let resp = txn(client, req).await.map_err(|e| e.message())?;
    let mut rev = resp.header.map(|h| h.revision).unwrap_or(0);
    if !resp.succeeded {
        if let Some(kv) = txn_range(&resp, 0).kvs.first() {
            rev = kv.create_revision;
            if kv.value != val {
                // Proclaim the new value while keeping the candidacy.
                let req = TxnRequest {
                    compare: vec![create_revision_is(&key, rev)],
                    success: vec![op(Request::RequestPut(PutRequest {
                        key: key.to_vec(),
                        value: val.to_vec(),
                        ignore_lease: true,
                        ..Default::default()
                    }))],
                    failure: Vec::new(),
                };
                let proclaimed = txn(client, req).await.map_err(|e| e.message());
                match proclaimed {
                    Ok(r) if r.succeeded => {}
                    Ok(_) => {
                        let _ = delete(client, &key).await;
                        return Err("election: not leader".to_string());
                    }
                    Err(e) => {
                        let _ = delete(client, &key).await;
                        return Err(e);
                    }
                }
            }
        }
    }
    wait_deletes(client, conn, pfx, rev - 1).await?;
    Ok(Leadership { key, rev })
}

/// `Election.Resign`: gives up leadership by deleting the leader key if it
/// is still the one this campaign created.
pub async fn resign(client: &mut Client, leader: &Leadership) -> Result<(), String> {
    let req = TxnRequest {
        compare: vec![create_revision_is(&leader.key, leader.rev)],
        success: vec![op(Request::RequestDeleteRange(DeleteRangeRequest {
            key: leader.key.clone(),
            ..Default::default()
        }))],
        failure: Vec::new(),
    };
    txn(client, req).await.map(|_| ()).map_err(|e| e.message())
}

/// `Election.Observe`: calls `emit` with the current leader and every change
/// of leader or of its value, as the Go observer's `GetResponse`s. Returns
/// only when observing fails (`Ok(())`: the observer was lost) or `emit`
/// fails (its error).
pub async fn observe<E>(
    client: &mut Client,
    conn: &ConnConfig,
    pfx: &[u8],
    mut emit: impl FnMut(&RangeResponse) -> Result<(), E>,
) -> Result<(), E> {
    loop {
        let Ok(mut resp) = range(client, top(pfx, SortOrder::Ascend)).await else {
            return Ok(());
        };
        let (header, kv) = match resp.kvs.first() {
            Some(kv) => (resp.header.unwrap_or_default(), kv.clone()),
            None => {
                // Wait for the first key put on the prefix.
                let start = resp.header.map(|h| h.revision).unwrap_or(0);
                let mut req = WatchCreateRequest {
                    start_revision: start,
                    ..Default::default()
                };
                let pr = prefix_range(pfx);
                req.key = pr.key;
                req.range_end = pr.range_end;
                let mut stream = EventStream::new(conn, req);
                loop {
                    let Ok(wr) = stream.next().await else {
                        return Ok(());
                    };
                    let put = wr
                        .events
                        .iter()
                        .find(|e| e.r#type == EventType::Put as i32)
                        .and_then(|e| e.kv.clone());
                    if let Some(kv) = put {
                        let mut h = wr.header.unwrap_or_default();
                        h.revision = kv.mod_revision;
                        break (h, kv);
                    }
                }
            }
        };
        emit(&RangeResponse {
            header: Some(header),
            kvs: vec![kv.clone()],
            ..Default::default()
        })?;
        let mut stream = EventStream::new(
            conn,
            WatchCreateRequest {
                key: kv.key.clone(),
                start_revision: header.revision + 1,
                ..Default::default()
            },
        );
        'watch: loop {
            let Ok(wr) = stream.next().await else {
                return Ok(());
            };
            for ev in &wr.events {
                if ev.r#type == EventType::Delete as i32 {
                    break 'watch;
                }
                resp.header = wr.header;
                resp.kvs = ev.kv.clone().into_iter().collect();
                emit(&resp)?;
            }
        }
    }
}
