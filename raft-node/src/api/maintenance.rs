//! The Maintenance gRPC service: an adapter over the server API
//! (`server/maintenance.rs`), streaming snapshots in etcd's chunks.

use std::pin::Pin;

use etcd_proto::etcdserverpb::maintenance_server::Maintenance;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use etcd_store::StoreError;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::error::ServerError;

pub struct MaintenanceService {
    pub server: Shared,
}

type SnapshotStream =
    Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static>>;

/// etcd answers Defragment, Snapshot, Hash and HashKV callers that fail the
/// admin check with the auth layer's own error, not its gRPC form: code
/// Unknown and an `auth: ` message, which clients print as is.
pub(crate) fn raw_auth(e: ServerError) -> Status {
    match e {
        ServerError::Store(StoreError::Auth(e)) => {
            let text = e.to_string();
            let bare = text.strip_prefix("etcdserver: ").unwrap_or(&text);
            Status::unknown(format!("auth: {bare}"))
        }
        e => e.into(),
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, req: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.alarm(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(self.server.status().await))
    }

    async fn defragment(
        &self,
        req: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        let auth = self.server.auth_info(&req).await.map_err(raw_auth)?;
        let resp = self.server.defragment(&auth).await.map_err(raw_auth)?;
        Ok(Response::new(resp))
    }

    async fn hash(&self, req: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        let auth = self.server.auth_info(&req).await.map_err(raw_auth)?;
        let resp = self.server.hash(&auth).await.map_err(raw_auth)?;
        Ok(Response::new(resp))
    }

    async fn hash_kv(
        &self,
        req: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let auth = self.server.auth_info(&req).await.map_err(raw_auth)?;
        let resp = self
            .server
            .hash_kv(&auth, req.get_ref())
            .await
            .map_err(raw_auth)?;
        Ok(Response::new(resp))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let auth = self.server.auth_info(&req).await.map_err(raw_auth)?;
        let chunks = self.server.snapshot(&auth).await.map_err(raw_auth)?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            for msg in chunks {
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn move_leader(
        &self,
        req: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.move_leader(&auth, req.get_ref()).await?;
        Ok(Response::new(resp))
    }

    async fn downgrade(
        &self,
        _req: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(ServerError::Unimplemented("downgrade").into())
    }
}
