//! [`EtcdServer`]: the server API every front door calls, and the state it
//! keeps.
//!
//! The requests of the v3 API are typed async methods that take the
//! caller's identity and the request message and return the response
//! message or a [`ServerError`]; they live beside this file, one module per
//! service: `kv.rs` (Range, Put, DeleteRange, Txn, Compact), `lease.rs`,
//! `maintenance.rs`, `cluster.rs`, `auth.rs`, and `watch_stream.rs` (a
//! stream of responses for a stream of requests); `identity.rs` says who a
//! remote request runs as. Underneath are the two ways a request reaches
//! consensus:
//!
//! - [`EtcdServer::propose`] wraps a write in a `RaftRequest` with a fresh id,
//!   registers a waiter, hands it to the raft loop and waits (bounded) until
//!   the apply thread answers with the store's result;
//! - [`EtcdServer::read_barrier`] obtains a ReadIndex from the leader and
//!   waits until the local store has applied that far, after which a local
//!   read is linearizable.

mod auth;
mod cluster;
mod identity;
mod kv;
mod lease;
mod maintenance;
mod views;
mod watch_stream;

pub(crate) use lease::expire_leases;
pub use watch_stream::WatchCaller;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_proto::etcdrs::peer_client::PeerClient;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{
    AuthInfo, LearnerReadyRequest, LeaseRemainingRequest, LeaseRenewRequest, RaftRequest,
};
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{AlarmRequest, AlarmType, ResponseHeader};
use etcd_store::{Applied, Store};
use prost::Message;
use tokio::sync::{oneshot, watch};
use tonic::transport::Channel;

use crate::apply::Waiters;
use crate::auth::TokenProvider;
use crate::config::Config;
use crate::error::ServerError;
use crate::lessor::Lessor;
use crate::messages::{NodeMsg, RaftInfo};
use etcd_datadir::membership::Membership;

/// The version this server reports (the etcd API level it implements).
pub const SERVER_VERSION: &str = "3.5.0";
/// The cluster version it reports.
pub const CLUSTER_VERSION: &str = "3.5.0";

pub struct EtcdServer {
    store: Arc<Store>,
    config: Config,
    member_id: u64,
    cluster_id: u64,
    membership: Arc<Membership>,
    lessor: Arc<Lessor>,
    node_tx: Sender<NodeMsg>,
    waiters: Arc<Waiters>,
    applied_rx: watch::Receiver<u64>,
    info: Arc<Mutex<RaftInfo>>,
    next_request_id: AtomicU64,
    leader_channel: Mutex<Option<(u64, Channel)>>,
    /// TLS for reaching `https://` peers.
    peer_tls: Option<Arc<rustls::ClientConfig>>,
    request_timeout: Duration,
    /// Auth tokens (`--auth-token`), shared with the apply thread.
    tokens: Arc<TokenProvider>,
}

impl EtcdServer {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<Store>,
        config: Config,
        member_id: u64,
        cluster_id: u64,
        membership: Arc<Membership>,
        lessor: Arc<Lessor>,
        node_tx: Sender<NodeMsg>,
        waiters: Arc<Waiters>,
        applied_rx: watch::Receiver<u64>,
        info: Arc<Mutex<RaftInfo>>,
        tokens: Arc<TokenProvider>,
    ) -> Self {
        // etcd's request id scheme: member id in the top 16 bits, then a
        // millisecond timestamp and a counter, so ids never repeat across
        // restarts or members.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let first_id = ((member_id & 0xffff) << 48) | ((now_ms & 0xff_ffff_ffff) << 8);
        let peer_tls = crate::tls::peer_client_config(&config).ok().flatten();
        let request_timeout =
            Duration::from_secs(5) + Duration::from_millis(2 * config.election_timeout);
        EtcdServer {
            store,
            config,
            member_id,
            cluster_id,
            membership,
            lessor,
            node_tx,
            waiters,
            applied_rx,
            info,
            next_request_id: AtomicU64::new(first_id),
            leader_channel: Mutex::new(None),
            peer_tls,
            request_timeout,
            tokens,
        }
    }

    pub fn raft_info(&self) -> RaftInfo {
        *self.info.lock().expect("raft info lock")
    }

    /// A new id, unique across members and restarts.
    pub fn next_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A response header with this member's identity and the current revision.
    pub fn header(&self) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision: self.store.current_revision(),
            raft_term: self.raft_info().term,
        }
    }

    /// The header of cluster (membership) responses: etcd leaves the
    /// revision out of those.
    pub fn cluster_header(&self) -> ResponseHeader {
        ResponseHeader {
            revision: 0,
            ..self.header()
        }
    }

    /// Completes a header the store started (it set only the revision).
    pub fn fill(&self, header: &mut Option<ResponseHeader>) {
        let h = header.get_or_insert_with(ResponseHeader::default);
        h.cluster_id = self.cluster_id;
        h.member_id = self.member_id;
        h.raft_term = self.raft_info().term;
        if h.revision == 0 {
            h.revision = self.store.current_revision();
        }
    }

    /// Replicates `op`, a request of the cluster itself (never refused by
    /// auth), through the raft log and returns what applying it gave.
    pub async fn propose(&self, op: Op) -> Result<Applied, ServerError> {
        self.propose_request(op, None).await
    }

    /// Replicates a client's `op`: checked against the auth state now (a
    /// refusal never reaches the log) and again when applied.
    pub async fn propose_as(&self, op: Op, auth: AuthInfo) -> Result<Applied, ServerError> {
        self.store.authorize(&auth, &op)?;
        self.propose_request(op, Some(auth)).await
    }

    /// The user a client request runs as (see `identity.rs`).
    pub async fn auth_info<T>(&self, req: &tonic::Request<T>) -> Result<AuthInfo, ServerError> {
        self.resolve_identity(req.metadata(), req.extensions().get())
            .await
    }

    /// Refuses unless the request's user holds the root role.
    pub async fn require_admin<T>(&self, req: &tonic::Request<T>) -> Result<AuthInfo, ServerError> {
        let info = self.auth_info(req).await?;
        self.check_admin(&info)?;
        Ok(info)
    }

    /// Refuses unless `auth` holds the root role (or auth is off).
    pub fn check_admin(&self, auth: &AuthInfo) -> Result<(), ServerError> {
        Ok(self.store.with_auth(|a| a.check_admin(auth))?)
    }

    /// Refuses unless the request comes from a known user.
    pub async fn require_user<T>(&self, req: &tonic::Request<T>) -> Result<AuthInfo, ServerError> {
        let info = self.auth_info(req).await?;
        self.check_user(&info)?;
        Ok(info)
    }

    /// Refuses unless `auth` names a known user (or auth is off).
    pub fn check_user(&self, auth: &AuthInfo) -> Result<(), ServerError> {
        Ok(self.store.with_auth(|a| a.check_authenticated(auth))?)
    }

    async fn propose_request(
        &self,
        op: Op,
        auth: Option<AuthInfo>,
    ) -> Result<Applied, ServerError> {
        self.wait_leader().await?;
        check_apply_backlog(self.raft_info().commit, *self.applied_rx.borrow())?;
        let id = self.next_id();
        let req = RaftRequest {
            id,
            op: Some(op),
            proposed_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            auth,
        };
        let data = req.encode_to_vec();
        if data.len() > self.config.max_request_bytes as usize {
            return Err(ServerError::RequestTooLarge);
        }
        let rx = self.waiters.register(id);
        if self.node_tx.send(NodeMsg::Propose { data }).is_err() {
            self.waiters.cancel(id);
            return Err(ServerError::Stopped);
        }
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ServerError::Stopped),
            Err(_) => {
                self.waiters.cancel(id);
                if self.raft_info().leader == 0 {
                    Err(ServerError::NoLeader)
                } else {
                    Err(ServerError::Timeout)
                }
            }
        }
    }

    /// Waits until a local read would observe every write acknowledged
    /// before this call (ReadIndex).
    pub async fn read_barrier(&self) -> Result<(), ServerError> {
        // A planted bug for testing the fault-injection checkers: serve
        // "linearizable" reads from the local store, as a follower that
        // skips ReadIndex would (stale reads). Never on in release builds.
        fail::fail_point!("read_barrier_skip", |_| Ok(()));
        self.wait_leader().await?;
        let (tx, rx) = oneshot::channel();
        self.node_tx
            .send(NodeMsg::ReadIndex { reply: tx })
            .map_err(|_| ServerError::Stopped)?;
        let index = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(ServerError::Stopped),
            Err(_) => return Err(ServerError::Timeout),
        };
        self.wait_applied(index).await
    }

    /// Waits until the store has applied `index`.
    async fn wait_applied(&self, index: u64) -> Result<(), ServerError> {
        let mut applied = self.applied_rx.clone();
        let waited = tokio::time::timeout(self.request_timeout, async {
            applied.wait_for(|a| *a >= index).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ServerError::Stopped),
            Err(_) => Err(ServerError::Timeout),
        }
    }

    /// A client for the leader's peer port (cached per leader).
    async fn leader_client(&self) -> Result<PeerClient<Channel>, ServerError> {
        let leader = self.raft_info().leader;
        if leader == 0 {
            return Err(ServerError::NoLeader);
        }
        if let Some((id, ch)) = self
            .leader_channel
            .lock()
            .expect("leader channel lock")
            .as_ref()
        {
            if *id == leader {
                return Ok(PeerClient::new(ch.clone()));
            }
        }
        let url = self
            .membership
            .get(leader)
            .and_then(|m| m.peer_urls.first().cloned())
            .ok_or(ServerError::NoLeader)?;
        let ch = crate::tls::peer_channel(&url, self.peer_tls.clone(), true)
            .await
            .map_err(ServerError::Internal)?;
        *self.leader_channel.lock().expect("leader channel lock") = Some((leader, ch.clone()));
        Ok(PeerClient::new(ch))
    }

    /// Calls the leader's peer service (bounded by the request timeout).
    async fn ask_leader<T, Fut>(
        &self,
        call: impl FnOnce(PeerClient<Channel>) -> Fut,
    ) -> Result<T, ServerError>
    where
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let client = self.leader_client().await?;
        tokio::time::timeout(self.request_timeout, call(client))
            .await
            .map_err(|_| ServerError::Timeout)?
            .map(tonic::Response::into_inner)
            .map_err(|e| ServerError::Internal(e.message().to_string()))
    }

    /// Renews a lease on the leader (here or over the peer port); returns
    /// its TTL, or 0 if the lease does not exist.
    pub async fn lease_renew(&self, id: i64) -> Result<i64, ServerError> {
        if let Some(ttl) = self.renew_as_leader(id).await? {
            return Ok(ttl);
        }
        let resp = self
            .ask_leader(|mut c| async move { c.lease_renew(LeaseRenewRequest { id }).await })
            .await?;
        if resp.not_leader {
            return Err(ServerError::NoLeader);
        }
        Ok(resp.ttl)
    }

    /// Renews a lease on the leader's clock, `None` if this member does not
    /// lead. Called for local keep-alives and for those a follower forwards.
    ///
    /// A new leader may not have applied the grant yet: answering "no such
    /// lease" (TTL 0) would end the client's session and its locks. So, as
    /// etcd, it waits until it has applied everything committed, and a new
    /// leader first until it has committed an entry of its own term (before
    /// that its commit index may lag the cluster's).
    pub async fn renew_as_leader(&self, id: i64) -> Result<Option<i64>, ServerError> {
        let mut applied = self.applied_rx.clone();
        let info = tokio::time::timeout(self.request_timeout, async {
            loop {
                let info = self.raft_info();
                if !info.is_leader || info.term_committed {
                    return Ok::<_, ServerError>(info);
                }
                // The leader's first entry of its term, once committed, is
                // applied: that wakes this up.
                applied.changed().await.map_err(|_| ServerError::Stopped)?;
            }
        })
        .await
        .map_err(|_| ServerError::Timeout)??;
        if !info.is_leader {
            return Ok(None);
        }
        self.wait_applied(info.commit).await?;
        Ok(Some(self.lessor.renew(&self.store, id).unwrap_or(0)))
    }

    /// Time left on a lease by the leader's clock.
    /// The time left on lease `id` by this member's own clock (what a
    /// leader answers its followers); `None` for an unknown lease.
    pub fn local_lease_remaining(&self, id: i64) -> Option<Duration> {
        self.lessor.remaining(id)
    }

    /// Hands a raft message from a peer to the raft loop.
    pub fn step(&self, msg: raft::eraftpb::Message) -> Result<(), ServerError> {
        self.node_tx
            .send(NodeMsg::Step(msg))
            .map_err(|_| ServerError::Stopped)
    }

    pub async fn lease_remaining(&self, id: i64) -> Result<Option<Duration>, ServerError> {
        if self.raft_info().is_leader {
            return Ok(self.lessor.remaining(id));
        }
        let resp = self
            .ask_leader(
                |mut c| async move { c.lease_remaining(LeaseRemainingRequest { id }).await },
            )
            .await?;
        if resp.not_leader {
            return Err(ServerError::NoLeader);
        }
        Ok((resp.remaining_ms >= 0).then(|| Duration::from_millis(resp.remaining_ms as u64)))
    }

    /// Whether learner `id` has caught up enough to be promoted, as the
    /// leader sees it (asked over the peer port when we are not the leader).
    pub async fn learner_ready(&self, id: u64) -> Result<bool, ServerError> {
        if self.raft_info().is_leader {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.node_tx
                .send(NodeMsg::LearnerReady { id, reply: tx })
                .map_err(|_| ServerError::Stopped)?;
            return rx.await.unwrap_or(Err(ServerError::Stopped));
        }
        let resp = self
            .ask_leader(|mut c| async move { c.learner_ready(LearnerReadyRequest { id }).await })
            .await?;
        if resp.not_leader {
            return Err(ServerError::NoLeader);
        }
        Ok(resp.ready)
    }

    /// Waits (up to two election timeouts) for a leader to be known.
    pub async fn wait_leader(&self) -> Result<(), ServerError> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(2 * self.config.election_timeout);
        while self.raft_info().leader == 0 {
            if tokio::time::Instant::now() >= deadline {
                return Err(ServerError::NoLeader);
            }
            tokio::time::sleep(Duration::from_millis(
                self.config.heartbeat_interval.max(10),
            ))
            .await;
        }
        Ok(())
    }

    /// If this member leads, hands leadership to another voter and waits
    /// (bounded) until it took over. Used before this member goes away, so
    /// the cluster does not sit out an election timeout.
    pub async fn transfer_leadership_away(&self) -> Result<(), ServerError> {
        if !self.raft_info().is_leader {
            return Ok(());
        }
        let Some(target) = self
            .membership
            .list()
            .into_iter()
            .find(|m| m.id != self.member_id && !m.is_learner)
        else {
            return Ok(());
        };
        let _ = self.node_tx.send(NodeMsg::TransferLeader { to: target.id });
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(3 * self.config.election_timeout);
        loop {
            let leader = self.raft_info().leader;
            if leader != 0 && leader != self.member_id {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ServerError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Refuses a request that would grow the store while the NOSPACE alarm
    /// is raised or past the quota (raising the alarm, as etcd).
    pub async fn check_quota(&self, request_bytes: usize) -> Result<(), ServerError> {
        let nospace = AlarmType::Nospace as i32;
        if self.store.alarms().iter().any(|(_, a)| *a == nospace) {
            return Err(ServerError::NoSpace);
        }
        let size = self.store.db_size() as i64 + request_bytes as i64;
        if size <= self.config.quota_bytes() {
            return Ok(());
        }
        tracing::warn!(
            size,
            quota = self.config.quota_bytes(),
            "database space exceeded; raising NOSPACE alarm"
        );
        let raise = Op::Alarm(AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: self.member_id,
            alarm: nospace,
        });
        let _ = self.propose(raise).await;
        Err(ServerError::NoSpace)
    }

    /// Asks the raft loop to stop.
    pub fn stop(&self) {
        let _ = self.node_tx.send(NodeMsg::Shutdown);
    }
}

/// etcd's `maxGapBetweenApplyAndCommitIndex`: while the store trails the
/// commit index by more than this, new proposals are refused.
pub const MAX_APPLY_BACKLOG: u64 = 5000;

/// Refuses a proposal while the apply backlog is too long (etcd's "too
/// many requests"), so a slow disk cannot make memory grow without bound.
pub fn check_apply_backlog(commit: u64, applied: u64) -> Result<(), ServerError> {
    if commit > applied + MAX_APPLY_BACKLOG {
        return Err(ServerError::TooManyRequests);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_are_refused_behind_a_long_apply_backlog() {
        assert!(check_apply_backlog(5000, 0).is_ok());
        assert!(check_apply_backlog(15_000, 10_000).is_ok());
        let err = check_apply_backlog(5001, 0).unwrap_err();
        let status = err.to_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), "etcdserver: too many requests");
    }
}
