//! Maintenance service: Status, Alarm, Defragment, Hash, HashKV, Snapshot,
//! MoveLeader.

use std::pin::Pin;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::maintenance_server::Maintenance;
use etcd_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentRequest, DefragmentResponse,
    DowngradeRequest, DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse,
    MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest,
    StatusResponse,
};
use etcd_store::snapshot::append_sha256;
use etcd_store::{Applied, StoreError};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::error::{store_status, ServerError};
use crate::node::NodeMsg;
use crate::server::SERVER_VERSION;

pub struct MaintenanceService {
    pub server: Shared,
}

/// Bytes per snapshot stream message, as etcd.
const SNAPSHOT_CHUNK: usize = 32 * 1024;

type SnapshotStream =
    Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static>>;

fn alarm_name(t: i32) -> &'static str {
    match AlarmType::try_from(t) {
        Ok(AlarmType::Nospace) => "NOSPACE",
        Ok(AlarmType::Corrupt) => "CORRUPT",
        _ => "NONE",
    }
}

impl MaintenanceService {
    /// The admin check of Defragment, Snapshot, Hash and HashKV. etcd
    /// returns the auth layer's own error there, not its gRPC form: code
    /// Unknown and an `auth: ` message, which clients print as is.
    async fn require_admin_raw<T>(&self, req: &Request<T>) -> Result<(), Status> {
        match self.server.require_admin(req).await {
            Ok(_) => Ok(()),
            Err(ServerError::Store(StoreError::Auth(e))) => {
                let text = e.to_string();
                let bare = text.strip_prefix("etcdserver: ").unwrap_or(&text);
                Err(Status::unknown(format!("auth: {bare}")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, req: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        let auth = self.server.require_user(&req).await?;
        let r = req.into_inner();
        if AlarmAction::try_from(r.action) == Ok(AlarmAction::Get) {
            let alarms = self
                .server
                .store
                .alarms()
                .into_iter()
                .filter(|(_, t)| r.alarm == 0 || *t == r.alarm)
                .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
                .collect();
            // etcd answers alarm requests without a response header.
            return Ok(Response::new(AlarmResponse {
                header: None,
                alarms,
            }));
        }
        match self.server.propose_as(Op::Alarm(r), auth).await? {
            Applied::Alarm(mut resp) => {
                resp.header = None;
                Ok(Response::new(resp))
            }
            _ => Err(ServerError::Internal("unexpected apply result".into()).to_status()),
        }
    }

    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let info = self.server.raft_info();
        let st = self.server.store.status();
        let errors = self
            .server
            .store
            .alarms()
            .into_iter()
            .map(|(m, t)| format!("memberID:{m} alarm:{} ", alarm_name(t)))
            .collect();
        Ok(Response::new(StatusResponse {
            header: Some(self.server.header()),
            version: SERVER_VERSION.to_string(),
            db_size: st.db_size as i64,
            leader: info.leader,
            raft_index: info.commit,
            raft_term: info.term,
            raft_applied_index: st.applied_index,
            errors,
            db_size_in_use: st.db_size as i64,
            is_learner: info.is_learner,
            storage_version: String::new(),
            db_size_quota: self.server.config.quota_bytes(),
            downgrade_info: None,
        }))
    }

    async fn defragment(
        &self,
        req: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.require_admin_raw(&req).await?;
        let store = self.server.store.clone();
        tokio::task::spawn_blocking(move || store.defragment())
            .await
            .map_err(|e| ServerError::Internal(e.to_string()).to_status())?
            .map_err(store_status)?;
        Ok(Response::new(DefragmentResponse {
            header: Some(self.server.header()),
        }))
    }

    async fn hash(&self, req: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.require_admin_raw(&req).await?;
        let hash = self.server.store.hash_all().map_err(store_status)?;
        Ok(Response::new(HashResponse {
            header: Some(self.server.header()),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        req: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        self.require_admin_raw(&req).await?;
        let r = req.into_inner();
        let (hash, compact_revision, hash_revision) = self
            .server
            .store
            .hash_kv(r.revision)
            .map_err(store_status)?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.server.header()),
            hash,
            compact_revision,
            hash_revision,
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.require_admin_raw(&req).await?;
        let store = self.server.store.clone();
        let header = self.server.header();
        let mut body = tokio::task::spawn_blocking(move || store.snapshot())
            .await
            .map_err(|e| ServerError::Internal(e.to_string()).to_status())?
            .map_err(store_status)?;
        append_sha256(&mut body);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let total = body.len();
            let mut sent = 0;
            let mut first = true;
            while sent < total {
                let end = (sent + SNAPSHOT_CHUNK).min(total);
                let msg = SnapshotResponse {
                    header: if first { Some(header) } else { None },
                    remaining_bytes: (total - end) as u64,
                    blob: body[sent..end].to_vec(),
                    version: if first {
                        SERVER_VERSION.to_string()
                    } else {
                        String::new()
                    },
                };
                first = false;
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
                sent = end;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn move_leader(
        &self,
        req: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        self.server.require_admin(&req).await?;
        let r = req.into_inner();
        let info = self.server.raft_info();
        if !info.is_leader {
            return Err(ServerError::NotLeader.to_status());
        }
        let target = self.server.membership.get(r.target_id);
        if target.as_ref().is_none_or(|m| m.is_learner) {
            return Err(Status::failed_precondition(
                "etcdserver: bad leader transferee",
            ));
        }
        if r.target_id != self.server.member_id {
            let _ = self
                .server
                .node_tx
                .send(NodeMsg::TransferLeader { to: r.target_id });
            // Wait (bounded) until the transferee leads.
            let deadline = tokio::time::Instant::now()
                + std::time::Duration::from_millis(3 * self.server.config.election_timeout);
            while self.server.raft_info().leader != r.target_id {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Status::unavailable(
                        "etcdserver: request timed out, leader transfer took too long",
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(Response::new(MoveLeaderResponse {
            header: Some(self.server.header()),
        }))
    }

    async fn downgrade(
        &self,
        _req: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(Status::unimplemented("etcd-rs: downgrade is not supported"))
    }
}
