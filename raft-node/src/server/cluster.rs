//! The Cluster requests of the server API: the member list and membership
//! changes.
//!
//! Adding, removing and promoting members are raft configuration changes
//! (ConfChange entries carrying the member record); updating peer URLs is an
//! ordinary entry. Each call waits until its change is applied on this
//! member, then answers with the member list as it is after the change.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{AuthInfo, ConfChangeContext, MemberRecord};
use etcd_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use prost::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType};
use tokio::sync::oneshot;

use super::EtcdServer;
use crate::error::ServerError;
use crate::messages::NodeMsg;
use etcd_datadir::membership::to_proto;

/// How long a membership change may take to apply.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// etcd's ID for a member added at runtime (see `etcd_datadir::ids`).
fn new_member_id(peer_urls: &[String], token: &str) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    etcd_datadir::ids::added_member_id(peer_urls, token, now)
}

impl EtcdServer {
    fn member(&self, id: u64) -> Result<MemberRecord, ServerError> {
        self.membership.get(id).ok_or(ServerError::MemberNotFound)
    }

    /// Proposes a configuration change and waits until it is applied here.
    async fn change_membership(
        &self,
        kind: ConfChangeType,
        member: MemberRecord,
    ) -> Result<(), ServerError> {
        let request_id = self.next_id();
        let mut cc = ConfChange::default();
        cc.set_change_type(kind);
        cc.node_id = member.id;
        cc.context = ConfChangeContext {
            request_id,
            member: Some(member),
        }
        .encode_to_vec()
        .into();
        let applied = self.waiters.register(request_id);
        // Raft drops a proposal while no leader is known (say, right after a
        // leadership transfer): wait for one and try again, within bounds.
        let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
        loop {
            let waited = self.wait_leader().await;
            let (tx, rx) = oneshot::channel();
            let sent = self.node_tx.send(NodeMsg::ProposeConfChange {
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
                    self.waiters.cancel(request_id);
                    return Err(e);
                }
            }
        }
        match tokio::time::timeout(CHANGE_TIMEOUT, applied).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(ServerError::Stopped),
            Err(_) => {
                self.waiters.cancel(request_id);
                Err(ServerError::Timeout)
            }
        }
    }

    /// Sends a MemberRemove to the leader's client URL, with the caller's
    /// token (the leader checks it again). None if the leader could not be
    /// reached.
    async fn forward_remove_to_leader(
        &self,
        id: u64,
        token: Option<&str>,
    ) -> Option<Result<MemberRemoveResponse, ServerError>> {
        let url = self
            .membership
            .get(self.raft_info().leader)
            .and_then(|m| m.client_urls.first().cloned())?;
        let channel = tonic::transport::Endpoint::from_shared(url)
            .ok()?
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await
            .ok()?;
        let mut forwarded = tonic::Request::new(MemberRemoveRequest { id });
        if let Some(token) = token.and_then(|t| t.parse().ok()) {
            forwarded.metadata_mut().insert("token", token);
        }
        let resp = etcd_proto::etcdserverpb::cluster_client::ClusterClient::new(channel)
            .member_remove(forwarded)
            .await;
        Some(resp.map(tonic::Response::into_inner).map_err(|status| {
            // The leader's refusal, passed on in its own words.
            ServerError::Forwarded(status.code() as i32, status.message().to_string())
        }))
    }

    pub async fn member_add(
        &self,
        auth: &AuthInfo,
        r: MemberAddRequest,
    ) -> Result<MemberAddResponse, ServerError> {
        self.check_admin(auth)?;
        if r.peer_ur_ls.is_empty() {
            return Err(ServerError::PeerUrlsMissing);
        }
        for url in &r.peer_ur_ls {
            crate::config::url_to_addr(url)
                .map_err(|_| ServerError::InvalidPeerUrl(url.clone()))?;
        }
        let members = self.membership.list();
        if members
            .iter()
            .any(|m| m.peer_urls.iter().any(|u| r.peer_ur_ls.contains(u)))
        {
            return Err(ServerError::PeerUrlExists);
        }
        if r.is_learner && members.iter().any(|m| m.is_learner) {
            return Err(ServerError::TooManyLearners);
        }
        let member = MemberRecord {
            id: new_member_id(&r.peer_ur_ls, &self.config.initial_cluster_token),
            name: String::new(),
            peer_urls: r.peer_ur_ls,
            client_urls: Vec::new(),
            is_learner: r.is_learner,
        };
        let kind = if r.is_learner {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::AddNode
        };
        self.change_membership(kind, member.clone()).await?;
        Ok(MemberAddResponse {
            header: Some(self.cluster_header()),
            member: Some(to_proto(&member)),
            members: self.membership.protos(),
        })
    }

    /// Removes a member. `token` is the caller's auth token, if any: a
    /// member asked to remove the leader forwards the request to the leader
    /// with it, so the leader hands over leadership first.
    pub async fn member_remove(
        &self,
        auth: &AuthInfo,
        r: &MemberRemoveRequest,
        token: Option<&str>,
    ) -> Result<MemberRemoveResponse, ServerError> {
        self.check_admin(auth)?;
        let member = self.member(r.id)?;
        let info = self.raft_info();
        if r.id == info.leader && !info.is_leader {
            // If the leader cannot be asked, remove it from here; the
            // others then elect a leader after a timeout.
            if let Some(resp) = self.forward_remove_to_leader(r.id, token).await {
                return resp;
            }
        }
        if r.id == self.member_id {
            self.transfer_leadership_away().await?;
        }
        self.change_membership(ConfChangeType::RemoveNode, member)
            .await?;
        Ok(MemberRemoveResponse {
            header: Some(self.cluster_header()),
            members: self.membership.protos(),
        })
    }

    pub async fn member_update(
        &self,
        auth: &AuthInfo,
        r: MemberUpdateRequest,
    ) -> Result<MemberUpdateResponse, ServerError> {
        self.check_admin(auth)?;
        let mut member = self.member(r.id)?;
        let taken = self
            .membership
            .list()
            .iter()
            .filter(|m| m.id != r.id)
            .any(|m| m.peer_urls.iter().any(|u| r.peer_ur_ls.contains(u)));
        if taken {
            return Err(ServerError::PeerUrlExists);
        }
        member.peer_urls = r.peer_ur_ls;
        self.propose(Op::MemberUpdate(member)).await?;
        Ok(MemberUpdateResponse {
            header: Some(self.cluster_header()),
            members: self.membership.protos(),
        })
    }

    pub async fn member_list(
        &self,
        auth: &AuthInfo,
        r: &MemberListRequest,
    ) -> Result<MemberListResponse, ServerError> {
        self.check_user(auth)?;
        if r.linearizable {
            self.read_barrier().await?;
        }
        Ok(MemberListResponse {
            header: Some(self.cluster_header()),
            members: self.membership.protos(),
        })
    }

    pub async fn member_promote(
        &self,
        auth: &AuthInfo,
        r: &MemberPromoteRequest,
    ) -> Result<MemberPromoteResponse, ServerError> {
        self.check_admin(auth)?;
        let member = self.member(r.id)?;
        if !member.is_learner {
            return Err(ServerError::MemberNotLearner);
        }
        // Only the leader knows how far the learner got; it is asked
        // wherever the request landed.
        if !self.learner_ready(r.id).await? {
            return Err(ServerError::LearnerNotReady);
        }
        self.change_membership(ConfChangeType::AddNode, member)
            .await?;
        Ok(MemberPromoteResponse {
            header: Some(self.cluster_header()),
            members: self.membership.protos(),
        })
    }
}
