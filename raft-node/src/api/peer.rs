//! The peer service, served on the peer URLs: raft messages and snapshots
//! from other members into this member's raft loop, cluster information for
//! members joining, and lease calls that only the leader can answer.
//!
//! Traffic from a different cluster (another cluster ID, e.g. another
//! `--initial-cluster-token`) is refused.

use etcd_proto::etcdrs::peer_server::Peer;
use etcd_proto::etcdrs::{
    ClusterInfoRequest, ClusterInfoResponse, LearnerReadyRequest, LearnerReadyResponse,
    LeaseRemainingRequest, LeaseRemainingResponse, LeaseRenewRequest, LeaseRenewResponse, RaftAck,
    RaftBatch, SnapshotAck, SnapshotChunk,
};
use protobuf::Message as _;
use raft::eraftpb::Message;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::Shared;

/// Decodes one raft message as a peer sent it (public for the fuzz targets).
#[doc(hidden)]
pub fn decode_message(bytes: &[u8], what: &str) -> Result<Message, Status> {
    Message::parse_from_bytes(bytes)
        .map_err(|e| Status::invalid_argument(format!("bad {what}: {e}")))
}

pub struct PeerService {
    pub server: Shared,
}

impl PeerService {
    fn check_cluster(&self, cluster_id: u64) -> Result<(), Status> {
        if cluster_id != self.server.cluster_id() {
            return Err(Status::failed_precondition(format!(
                "cluster ID mismatch: local {:x}, remote {cluster_id:x}",
                self.server.cluster_id()
            )));
        }
        Ok(())
    }

    fn step(&self, msg: Message) -> Result<(), Status> {
        if self.server.is_removed_member(msg.from) {
            return Err(Status::permission_denied(
                "the member has been permanently removed from the cluster",
            ));
        }
        self.server
            .step(msg)
            .map_err(|_| Status::unavailable("etcdserver: server stopped"))
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, req: Request<Streaming<RaftBatch>>) -> Result<Response<RaftAck>, Status> {
        let mut stream = req.into_inner();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            self.check_cluster(batch.cluster_id)?;
            for bytes in batch.messages {
                let msg = decode_message(&bytes, "raft message")?;
                self.step(msg)?;
            }
        }
        Ok(Response::new(RaftAck {}))
    }

    async fn snapshot(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<SnapshotAck>, Status> {
        let mut stream = req.into_inner();
        let mut msg: Option<Message> = None;
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            self.check_cluster(chunk.cluster_id)?;
            if msg.is_none() {
                msg = Some(decode_message(&chunk.message, "snapshot message")?);
            }
            data.extend_from_slice(&chunk.data);
        }
        let mut msg = msg.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        msg.mut_snapshot().set_data(data.into());
        self.step(msg)?;
        Ok(Response::new(SnapshotAck { ok: true }))
    }

    async fn cluster_info(
        &self,
        _req: Request<ClusterInfoRequest>,
    ) -> Result<Response<ClusterInfoResponse>, Status> {
        Ok(Response::new(ClusterInfoResponse {
            cluster_id: self.server.cluster_id(),
            members: self.server.member_records(),
            leader: self.server.raft_info().leader,
        }))
    }

    async fn lease_renew(
        &self,
        req: Request<LeaseRenewRequest>,
    ) -> Result<Response<LeaseRenewResponse>, Status> {
        // A forwarded keep-alive waits for this leader's apply as a local
        // one does (bug 28: it did not, and a new leader answered TTL 0).
        let renewed = self.server.renew_as_leader(req.into_inner().id).await?;
        Ok(Response::new(LeaseRenewResponse {
            ttl: renewed.unwrap_or(0),
            not_leader: renewed.is_none(),
        }))
    }

    async fn learner_ready(
        &self,
        req: Request<LearnerReadyRequest>,
    ) -> Result<Response<LearnerReadyResponse>, Status> {
        if !self.server.raft_info().is_leader {
            return Ok(Response::new(LearnerReadyResponse {
                ready: false,
                not_leader: true,
            }));
        }
        let ready = self
            .server
            .learner_ready(req.into_inner().id)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(LearnerReadyResponse {
            ready,
            not_leader: false,
        }))
    }

    async fn lease_remaining(
        &self,
        req: Request<LeaseRemainingRequest>,
    ) -> Result<Response<LeaseRemainingResponse>, Status> {
        if !self.server.raft_info().is_leader {
            return Ok(Response::new(LeaseRemainingResponse {
                remaining_ms: -1,
                not_leader: true,
            }));
        }
        let remaining_ms = self
            .server
            .local_lease_remaining(req.into_inner().id)
            .map_or(-1, |d| d.as_millis() as i64);
        Ok(Response::new(LeaseRemainingResponse {
            remaining_ms,
            not_leader: false,
        }))
    }
}
