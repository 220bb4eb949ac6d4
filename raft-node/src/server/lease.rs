//! The Lease requests of the server API: Grant and Revoke go through the
//! log; KeepAlive and TimeToLive are answered by the leader's expiry clock
//! ([`crate::lessor::Lessor`], asked over the peer port from a follower).

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use std::sync::Arc;
use std::time::Duration;

use etcd_store::{Applied, StoreError};
use tokio::sync::watch;

use super::EtcdServer;
use crate::error::ServerError;

/// Bytes a grant is charged against the space quota.
const GRANT_QUOTA_BYTES: usize = 64;

impl EtcdServer {
    pub async fn lease_grant(
        &self,
        auth: AuthInfo,
        mut r: LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, ServerError> {
        if r.id == 0 {
            // A positive id derived from the unique request id scheme.
            r.id = (self.next_id() & (i64::MAX as u64)) as i64;
        }
        self.check_quota(GRANT_QUOTA_BYTES).await?;
        match self.propose_as(Op::LeaseGrant(r), auth).await? {
            Applied::LeaseGrant(mut resp) => {
                self.fill(&mut resp.header);
                Ok(resp)
            }
            _ => Err(ServerError::Internal("unexpected apply result".into())),
        }
    }

    pub async fn lease_revoke(
        &self,
        auth: AuthInfo,
        r: LeaseRevokeRequest,
    ) -> Result<LeaseRevokeResponse, ServerError> {
        match self.propose_as(Op::LeaseRevoke(r), auth).await? {
            Applied::LeaseRevoke(mut resp) => {
                self.fill(&mut resp.header);
                Ok(resp)
            }
            _ => Err(ServerError::Internal("unexpected apply result".into())),
        }
    }

    /// One keep-alive of a stream (the caller checked the user once, when
    /// the stream opened). An unknown (expired or revoked) lease answers
    /// TTL 0, as etcd; only the leader's clock counts, wherever we are.
    pub async fn lease_keep_alive(
        &self,
        r: LeaseKeepAliveRequest,
    ) -> Result<LeaseKeepAliveResponse, ServerError> {
        let ttl = self.lease_renew(r.id).await?;
        Ok(LeaseKeepAliveResponse {
            header: Some(self.header()),
            id: r.id,
            ttl,
        })
    }

    pub async fn lease_time_to_live(
        &self,
        auth: &AuthInfo,
        r: &LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, ServerError> {
        self.check_user(auth)?;
        self.read_barrier().await?;
        if r.keys {
            // Key names are data: listing them needs read permission on
            // every one (etcd advisory GHSA-3p3v-v2hm-8j8x).
            if let Some(lease) = self.store.lease(r.id) {
                for key in &lease.keys {
                    self.store.authorize_read(auth, key, &[])?;
                }
            }
        }
        let header = Some(self.header());
        let Some(lease) = self.store.lease(r.id) else {
            return Ok(LeaseTimeToLiveResponse {
                header,
                id: r.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            });
        };
        let remaining = self
            .lease_remaining(r.id)
            .await?
            .map_or(lease.ttl, |d| d.as_secs() as i64);
        Ok(LeaseTimeToLiveResponse {
            header,
            id: r.id,
            ttl: remaining,
            granted_ttl: lease.ttl,
            keys: if r.keys {
                lease.keys.into_iter().collect()
            } else {
                Vec::new()
            },
        })
    }

    pub async fn lease_leases(
        &self,
        auth: &AuthInfo,
        _r: &LeaseLeasesRequest,
    ) -> Result<LeaseLeasesResponse, ServerError> {
        self.check_user(auth)?;
        self.read_barrier().await?;
        let leases = self
            .store
            .leases()
            .into_iter()
            .map(|(id, _)| LeaseStatus { id })
            .collect();
        Ok(LeaseLeasesResponse {
            header: Some(self.header()),
            leases,
        })
    }
}

/// The leader revokes expired leases through the log.
pub(crate) async fn expire_leases(server: Arc<EtcdServer>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut epoch = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let info = server.raft_info();
        if !info.is_leader {
            continue;
        }
        if info.leader_epoch != epoch {
            // Newly leader: every lease gets its full TTL again (etcd's
            // promotion), since the old leader's clock is unknown here.
            epoch = info.leader_epoch;
            server.lessor.promote(&server.store);
            continue;
        }
        for id in server.lessor.take_expired() {
            let server = server.clone();
            tokio::spawn(async move {
                match server
                    .propose(Op::LeaseRevoke(LeaseRevokeRequest { id }))
                    .await
                {
                    Ok(_) => {}
                    Err(ServerError::Store(StoreError::LeaseNotFound)) => server.lessor.remove(id),
                    Err(e) => {
                        tracing::warn!(lease = id, error = %e, "revoking expired lease failed; will retry");
                        server.lessor.revoke_failed(id);
                    }
                }
            });
        }
    }
}
