//! A distributed mutex over etcd, as clientv3's `concurrency.Mutex`.
//!
//! Used by `stm --stm-locker lock-client`. Each client holds a
//! [`Session`]: a lease (TTL 60 s) kept alive by a background task. To
//! lock, a client writes `prefix/<lease id in hex>` under its lease (unless
//! it is already there) and owns the lock when its key has the lowest
//! create revision under the prefix; otherwise it waits, one at a time,
//! for the deletion of the newest key created before its own (watching
//! each from the revision it was seen at). To unlock, it deletes its key.
//! Waiting is bounded by the caller's timeout (the request loop's).

use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use etcd_proto::mvccpb::event::EventType;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use super::lease::grant;
use super::watch_stream::{create_request, WatchStream};
use crate::connect::Conn;
use crate::load::grpc_error;

/// TTL of a session's lease (clientv3's default).
const SESSION_TTL: i64 = 60;

/// A lease kept alive until the session is dropped.
pub struct Session {
    pub lease: i64,
    keepalive: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}

impl Session {
    /// Grants the lease and starts keeping it alive (every TTL/3) until
    /// `deadline`.
    pub async fn new(conn: Conn, deadline: Instant) -> Result<Session, String> {
        let lease = grant(conn.clone(), SESSION_TTL, deadline).await?;
        let keepalive = tokio::spawn(async move {
            let (tx, rx) = mpsc::channel(1);
            let mut client = LeaseClient::new(conn);
            let Ok(resp) = client.lease_keep_alive(ReceiverStream::new(rx)).await else {
                return;
            };
            let mut responses = resp.into_inner();
            let every = Duration::from_secs(SESSION_TTL as u64 / 3);
            while Instant::now() + every < deadline {
                tokio::time::sleep(every).await;
                if tx.send(LeaseKeepAliveRequest { id: lease }).await.is_err() {
                    return;
                }
                if !matches!(responses.message().await, Ok(Some(_))) {
                    return;
                }
            }
        });
        Ok(Session { lease, keepalive })
    }
}

/// The end of the range of keys starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// One client's handle on the mutex named by `prefix`.
pub struct Mutex {
    kv: KvClient<Conn>,
    conn: Conn,
    prefix: Vec<u8>,
    key: Vec<u8>,
    lease: i64,
    deadline: Instant,
}

impl Mutex {
    pub fn new(conn: Conn, name: &str, session: &Session, deadline: Instant) -> Mutex {
        let prefix = format!("{name}/").into_bytes();
        let key = [prefix.as_slice(), format!("{:x}", session.lease).as_bytes()].concat();
        Mutex {
            kv: KvClient::new(conn.clone()),
            conn,
            prefix,
            key,
            lease: session.lease,
            deadline,
        }
    }

    /// The range request for the prefix's oldest (or newest) key.
    fn edge(&self, newest: bool, max_create_revision: i64) -> RangeRequest {
        RangeRequest {
            key: self.prefix.clone(),
            range_end: prefix_end(&self.prefix),
            limit: 1,
            sort_order: if newest {
                SortOrder::Descend
            } else {
                SortOrder::Ascend
            } as i32,
            sort_target: SortTarget::Create as i32,
            max_create_revision,
            ..Default::default()
        }
    }

    pub async fn lock(&mut self) -> Result<(), String> {
        let put = RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: self.key.clone(),
                lease: self.lease,
                ..Default::default()
            })),
        };
        let get = RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                key: self.key.clone(),
                ..Default::default()
            })),
        };
        let owner = RequestOp {
            request: Some(Request::RequestRange(self.edge(false, 0))),
        };
        let txn = TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Equal as i32,
                target: CompareTarget::Create as i32,
                key: self.key.clone(),
                target_union: Some(TargetUnion::CreateRevision(0)),
                ..Default::default()
            }],
            success: vec![put, owner.clone()],
            failure: vec![get, owner],
        };
        let resp = self
            .kv
            .txn(txn)
            .await
            .map_err(|s| grpc_error(&s))?
            .into_inner();
        let mut ranges = resp.responses.into_iter().filter_map(|r| match r.response {
            Some(Response::ResponseRange(range)) => Some(range),
            _ => None,
        });
        let mine = if resp.succeeded {
            resp.header.map_or(0, |h| h.revision)
        } else {
            let existing = ranges.next().and_then(|r| r.kvs.into_iter().next());
            existing.map_or(0, |kv| kv.create_revision)
        };
        let oldest = ranges
            .next()
            .and_then(|r| r.kvs.into_iter().next())
            .map_or(0, |kv| kv.create_revision);
        if oldest == mine {
            return Ok(());
        }
        self.wait_for_older(mine - 1).await
    }

    /// Waits until no key under the prefix was created at or before
    /// `max_create_revision`.
    async fn wait_for_older(&mut self, max_create_revision: i64) -> Result<(), String> {
        loop {
            let resp = self
                .kv
                .range(self.edge(true, max_create_revision))
                .await
                .map_err(|s| grpc_error(&s))?
                .into_inner();
            let Some(last) = resp.kvs.into_iter().next() else {
                return Ok(());
            };
            let seen_at = resp.header.map_or(0, |h| h.revision);
            let req = create_request(last.key, seen_at, false);
            let mut stream = WatchStream::open(self.conn.clone(), req, self.deadline).await?;
            'deleted: loop {
                let resp = stream.next(self.deadline).await?;
                if resp
                    .events
                    .iter()
                    .any(|e| e.r#type == EventType::Delete as i32)
                {
                    break 'deleted;
                }
            }
        }
    }

    pub async fn unlock(&mut self) -> Result<(), String> {
        let req = DeleteRangeRequest {
            key: self.key.clone(),
            ..Default::default()
        };
        self.kv
            .delete_range(req)
            .await
            .map_err(|s| grpc_error(&s))?;
        Ok(())
    }
}
