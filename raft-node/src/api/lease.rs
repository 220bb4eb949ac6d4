//! Lease service: Grant, Revoke, KeepAlive (stream), TimeToLive, Leases.
//!
//! Grant and Revoke go through the log; KeepAlive and TimeToLive are answered
//! by the leader's expiry clock ([`crate::lessor::Lessor`]).

use std::pin::Pin;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::lease_server::Lease;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use etcd_store::Applied;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::Shared;
use crate::error::{store_status, ServerError};

pub struct LeaseService {
    pub server: Shared,
}

type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        req: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let mut r = req.into_inner();
        if r.id == 0 {
            // A positive id derived from the unique request id scheme.
            r.id = (self.server.next_id() & (i64::MAX as u64)) as i64;
        }
        self.server.check_quota(64).await?;
        match self.server.propose_as(Op::LeaseGrant(r), auth).await? {
            Applied::LeaseGrant(mut resp) => {
                self.server.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(ServerError::Internal("unexpected apply result".into()).to_status()),
        }
    }

    async fn lease_revoke(
        &self,
        req: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let r = req.into_inner();
        match self.server.propose_as(Op::LeaseRevoke(r), auth).await? {
            Applied::LeaseRevoke(mut resp) => {
                self.server.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(ServerError::Internal("unexpected apply result".into()).to_status()),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        self.server.require_user(&req).await?;
        let mut inbound = req.into_inner();
        let server = self.server.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(msg) = inbound.next().await {
                let Ok(ka) = msg else { break };
                // An unknown (expired or revoked) lease answers TTL 0, as
                // etcd; only the leader's clock counts, wherever we are.
                let ttl = match server.lease_renew(ka.id).await {
                    Ok(ttl) => ttl,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_status())).await;
                        break;
                    }
                };
                let resp = LeaseKeepAliveResponse {
                    header: Some(server.header()),
                    id: ka.id,
                    ttl,
                };
                if tx.send(Ok(resp)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let auth = self.server.require_user(&req).await?;
        let r = req.into_inner();
        self.server.read_barrier().await?;
        if r.keys {
            // Key names are data: listing them needs read permission on
            // every one (etcd advisory GHSA-3p3v-v2hm-8j8x).
            if let Some(lease) = self.server.store.lease(r.id) {
                for key in &lease.keys {
                    self.server
                        .store
                        .authorize_read(&auth, key, &[])
                        .map_err(store_status)?;
                }
            }
        }
        let header = Some(self.server.header());
        let resp = match self.server.store.lease(r.id) {
            None => LeaseTimeToLiveResponse {
                header,
                id: r.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Some(lease) => {
                let remaining = self
                    .server
                    .lease_remaining(r.id)
                    .await?
                    .map_or(lease.ttl, |d| d.as_secs() as i64);
                LeaseTimeToLiveResponse {
                    header,
                    id: r.id,
                    ttl: remaining,
                    granted_ttl: lease.ttl,
                    keys: if r.keys {
                        lease.keys.into_iter().collect()
                    } else {
                        Vec::new()
                    },
                }
            }
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        req: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        self.server.require_user(&req).await?;
        self.server.read_barrier().await?;
        let leases = self
            .server
            .store
            .leases()
            .into_iter()
            .map(|(id, _)| LeaseStatus { id })
            .collect();
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(self.server.header()),
            leases,
        }))
    }
}
