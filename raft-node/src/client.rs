//! The in-process client: a program that embeds a member talks to it
//! through the server API directly, without gRPC and without a socket.
//!
//! [`RunningServer::client`](crate::RunningServer::client) runs requests as
//! root, [`RunningServer::client_as`](crate::RunningServer::client_as) as a
//! named user (the embedding program vouches for it: no password is
//! checked). While auth is off nothing is checked either way. Each call
//! names the user with the auth state's current revision, so a client
//! stays valid across changes to users and roles; the permissions checked
//! are those of that moment, as for a remote client that logged in again.
//!
//! Every method takes or returns the v3 API's own messages (the same types
//! the gRPC services use), plus shortcuts for the common cases (`put`,
//! `get`, `delete`, `lease_grant`, `watch_key`).

use std::sync::Arc;

use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
    MemberListRequest, MemberListResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    StatusResponse, TxnRequest, TxnResponse, WatchCancelRequest, WatchCreateRequest, WatchRequest,
    WatchResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ServerError;
use crate::server::{EtcdServer, WatchCaller};

/// Requests to one member, as one user. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    server: Arc<EtcdServer>,
    /// The user requests run as.
    user: String,
}

impl Client {
    pub(crate) fn new(server: Arc<EtcdServer>, user: &str) -> Client {
        Client {
            server,
            user: user.to_string(),
        }
    }

    fn auth(&self) -> AuthInfo {
        AuthInfo {
            username: self.user.clone(),
            revision: self.server.auth_enabled_and_revision().1,
        }
    }

    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<PutResponse, ServerError> {
        let req = PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        };
        self.server.put(self.auth(), req).await
    }

    /// The key's current value (linearizable), if it exists.
    pub async fn get(&self, key: impl Into<Vec<u8>>) -> Result<Option<Vec<u8>>, ServerError> {
        let req = RangeRequest {
            key: key.into(),
            ..Default::default()
        };
        let resp = self.range(req).await?;
        Ok(resp.kvs.into_iter().next().map(|kv| kv.value))
    }

    pub async fn range(&self, req: RangeRequest) -> Result<RangeResponse, ServerError> {
        self.server.range(&self.auth(), &req).await
    }

    /// Deletes one key; answers how many were deleted (0 or 1).
    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> Result<i64, ServerError> {
        let req = DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        };
        Ok(self.delete_range(req).await?.deleted)
    }

    pub async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ServerError> {
        self.server.delete_range(self.auth(), req).await
    }

    pub async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, ServerError> {
        self.server.txn(self.auth(), req).await
    }

    pub async fn compact(&self, revision: i64) -> Result<CompactionResponse, ServerError> {
        let req = CompactionRequest {
            revision,
            physical: false,
        };
        self.server.compact(self.auth(), req).await
    }

    /// A new lease of `ttl` seconds (its ID chosen by the server).
    pub async fn lease_grant(&self, ttl: i64) -> Result<LeaseGrantResponse, ServerError> {
        let req = LeaseGrantRequest { ttl, id: 0 };
        self.server.lease_grant(self.auth(), req).await
    }

    pub async fn lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse, ServerError> {
        self.server
            .lease_revoke(self.auth(), LeaseRevokeRequest { id })
            .await
    }

    /// Renews a lease once; a TTL of 0 means it no longer exists.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse, ServerError> {
        self.server.check_user(&self.auth())?;
        self.server
            .lease_keep_alive(LeaseKeepAliveRequest { id })
            .await
    }

    pub async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, ServerError> {
        let req = LeaseTimeToLiveRequest { id, keys };
        self.server.lease_time_to_live(&self.auth(), &req).await
    }

    pub async fn member_list(&self) -> Result<MemberListResponse, ServerError> {
        let req = MemberListRequest { linearizable: true };
        self.server.member_list(&self.auth(), &req).await
    }

    pub async fn status(&self) -> StatusResponse {
        self.server.status().await
    }

    /// Watches from a create request (key, range end, start revision,
    /// filters, progress notifications, as in the v3 API).
    pub async fn watch(&self, create: WatchCreateRequest) -> Result<Watch, ServerError> {
        let (requests, rx) = mpsc::channel(16);
        let mut responses = self.server.watch(
            WatchCaller::User(self.auth()),
            ReceiverStream::new(rx),
            false,
        )?;
        requests
            .send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(create)),
            })
            .await
            .map_err(|_| ServerError::Stopped)?;
        let created = responses.recv().await.ok_or(ServerError::Stopped)??;
        if created.canceled {
            return Err(ServerError::Internal(created.cancel_reason));
        }
        Ok(Watch {
            id: created.watch_id,
            requests,
            responses,
        })
    }

    /// Watches one key from the next revision on.
    pub async fn watch_key(&self, key: impl Into<Vec<u8>>) -> Result<Watch, ServerError> {
        let create = WatchCreateRequest {
            key: key.into(),
            ..Default::default()
        };
        self.watch(create).await
    }
}

/// One watcher: its responses (events, progress notifications, the
/// cancellation) in order. Dropping it ends the watch.
pub struct Watch {
    id: i64,
    requests: mpsc::Sender<WatchRequest>,
    responses: mpsc::Receiver<Result<WatchResponse, ServerError>>,
}

impl Watch {
    /// The watch ID the server gave.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The next response; `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<Result<WatchResponse, ServerError>> {
        self.responses.recv().await
    }

    /// Asks for the watch to end; its last response says it was canceled.
    pub async fn cancel(&self) -> Result<(), ServerError> {
        let cancel = WatchRequest {
            request_union: Some(RequestUnion::CancelRequest(WatchCancelRequest {
                watch_id: self.id,
            })),
        };
        self.requests
            .send(cancel)
            .await
            .map_err(|_| ServerError::Stopped)
    }
}
