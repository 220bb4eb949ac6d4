//! Cluster service: the member list and membership changes.
//!
//! Adding, removing and promoting members are raft configuration changes
//! (ConfChange entries carrying the member record); updating peer URLs is an
//! ordinary entry. Each call waits until its change is applied on this
//! member, then answers with the member list as it is after the change.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{ConfChangeContext, MemberRecord};
use etcd_proto::etcdserverpb::cluster_server::Cluster;
use etcd_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use prost::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType};
use sha1::{Digest, Sha1};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::error::ServerError;
use crate::membership::to_proto;
use crate::node::NodeMsg;

pub struct ClusterService {
    pub server: Shared,
}

/// How long a membership change may take to apply.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

fn precondition(msg: &str) -> Status {
    Status::failed_precondition(msg.to_string())
}

/// etcd's ID for a member added at runtime: sha1 of its sorted peer URLs,
/// the cluster token and the current Unix time in seconds.
fn new_member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut h = Sha1::new();
    h.update(urls.concat().as_bytes());
    h.update(token.as_bytes());
    h.update(now.to_string().as_bytes());
    u64::from_be_bytes(h.finalize()[..8].try_into().expect("sha1 is 20 bytes"))
}

impl ClusterService {
    fn member(&self, id: u64) -> Result<MemberRecord, Status> {
        self.server
            .membership
            .get(id)
            .ok_or_else(|| ServerError::MemberNotFound.to_status())
    }

    /// Proposes a configuration change and waits until it is applied here.
    async fn change(&self, kind: ConfChangeType, member: MemberRecord) -> Result<(), Status> {
        let request_id = self.server.next_id();
        let mut cc = ConfChange::default();
        cc.set_change_type(kind);
        cc.node_id = member.id;
        cc.context = ConfChangeContext {
            request_id,
            member: Some(member),
        }
        .encode_to_vec()
        .into();
        let applied = self.server.waiters.register(request_id);
        // Raft drops a proposal while no leader is known (say, right after a
        // leadership transfer): wait for one and try again, within bounds.
        let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
        loop {
            let waited = self.server.wait_leader().await;
            let (tx, rx) = oneshot::channel();
            let sent = self.server.node_tx.send(NodeMsg::ProposeConfChange {
                cc: cc.clone(),
                reply: tx,
            });
            let proposed = match (waited, sent) {
                (Err(e), _) => Err(e),
                (_, Err(_)) => Err(ServerError::Stopped),
                _ => rx.await.unwrap_or(Err(ServerError::Stopped)),
            };
            match proposed {
                Ok(()) => break,
                Err(ServerError::NoLeader) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    self.server.waiters.cancel(request_id);
                    return Err(e.to_status());
                }
            }
        }
        match tokio::time::timeout(CHANGE_TIMEOUT, applied).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_status()),
            Ok(Err(_)) => Err(ServerError::Stopped.to_status()),
            Err(_) => {
                self.server.waiters.cancel(request_id);
                Err(ServerError::Timeout.to_status())
            }
        }
    }

    /// Sends a MemberRemove to the leader's client URL.
    /// Returns None if the leader could not be reached.
    async fn forward_remove_to_leader(
        &self,
        id: u64,
        token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    ) -> Option<Result<Response<MemberRemoveResponse>, Status>> {
        let url = self
            .server
            .membership
            .get(self.server.raft_info().leader)
            .and_then(|m| m.client_urls.first().cloned())?;
        let channel = tonic::transport::Endpoint::from_shared(url)
            .ok()?
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await
            .ok()?;
        // The caller's token goes along: the leader checks it again.
        let mut forwarded = Request::new(MemberRemoveRequest { id });
        if let Some(token) = token {
            forwarded.metadata_mut().insert("token", token);
        }
        Some(
            etcd_proto::etcdserverpb::cluster_client::ClusterClient::new(channel)
                .member_remove(forwarded)
                .await,
        )
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        req: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        self.server.require_admin(&req).await?;
        let r = req.into_inner();
        if r.peer_ur_ls.is_empty() {
            return Err(Status::invalid_argument(
                "etcdserver: member peer URLs not provided",
            ));
        }
        for url in &r.peer_ur_ls {
            crate::config::url_to_addr(url).map_err(|_| {
                Status::invalid_argument(format!("etcdserver: invalid peer URL {url}"))
            })?;
        }
        let members = self.server.membership.list();
        if members
            .iter()
            .any(|m| m.peer_urls.iter().any(|u| r.peer_ur_ls.contains(u)))
        {
            return Err(ServerError::PeerUrlExists.to_status());
        }
        if r.is_learner && members.iter().filter(|m| m.is_learner).count() >= 1 {
            return Err(precondition(
                "etcdserver: too many learner members in cluster",
            ));
        }
        let member = MemberRecord {
            id: new_member_id(&r.peer_ur_ls, &self.server.config.initial_cluster_token),
            name: String::new(),
            peer_urls: r.peer_ur_ls.clone(),
            client_urls: Vec::new(),
            is_learner: r.is_learner,
        };
        let kind = if r.is_learner {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::AddNode
        };
        self.change(kind, member.clone()).await?;
        Ok(Response::new(MemberAddResponse {
            header: Some(self.server.cluster_header()),
            member: Some(to_proto(&member)),
            members: self.server.membership.protos(),
        }))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.server.require_admin(&req).await?;
        let token = req.metadata().get("token").cloned();
        let id = req.into_inner().id;
        let member = self.member(id)?;
        let info = self.server.raft_info();
        if id == info.leader && !info.is_leader {
            // The leader is being removed: let it hand over leadership first
            // by asking it directly. If it cannot be asked, remove it from
            // here; the others then elect a leader after a timeout.
            if let Some(resp) = self.forward_remove_to_leader(id, token).await {
                return resp;
            }
        }
        if id == self.server.member_id {
            self.server
                .transfer_leadership_away()
                .await
                .map_err(|e| e.to_status())?;
        }
        self.change(ConfChangeType::RemoveNode, member).await?;
        Ok(Response::new(MemberRemoveResponse {
            header: Some(self.server.cluster_header()),
            members: self.server.membership.protos(),
        }))
    }

    async fn member_update(
        &self,
        req: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.server.require_admin(&req).await?;
        let r = req.into_inner();
        let mut member = self.member(r.id)?;
        let taken = self
            .server
            .membership
            .list()
            .iter()
            .filter(|m| m.id != r.id)
            .any(|m| m.peer_urls.iter().any(|u| r.peer_ur_ls.contains(u)));
        if taken {
            return Err(ServerError::PeerUrlExists.to_status());
        }
        member.peer_urls = r.peer_ur_ls;
        self.server.propose(Op::MemberUpdate(member)).await?;
        Ok(Response::new(MemberUpdateResponse {
            header: Some(self.server.cluster_header()),
            members: self.server.membership.protos(),
        }))
    }

    async fn member_list(
        &self,
        req: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        self.server.require_user(&req).await?;
        if req.into_inner().linearizable {
            self.server.read_barrier().await?;
        }
        Ok(Response::new(MemberListResponse {
            header: Some(self.server.cluster_header()),
            members: self.server.membership.protos(),
        }))
    }

    async fn member_promote(
        &self,
        req: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.server.require_admin(&req).await?;
        let id = req.into_inner().id;
        let member = self.member(id)?;
        if !member.is_learner {
            return Err(precondition(
                "etcdserver: can only promote a learner member",
            ));
        }
        // Only the leader knows how far the learner got; it is asked
        // wherever the request landed.
        match self.server.learner_ready(id).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(precondition(
                    "etcdserver: can only promote a learner member which is in sync with leader",
                ))
            }
            Err(e) => return Err(e.to_status()),
        }
        self.change(ConfChangeType::AddNode, member).await?;
        Ok(Response::new(MemberPromoteResponse {
            header: Some(self.server.cluster_header()),
            members: self.server.membership.protos(),
        }))
    }
}
