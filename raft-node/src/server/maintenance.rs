//! The Maintenance requests of the server API: Status, Alarm, Defragment,
//! Hash, HashKV, Snapshot and MoveLeader.

use std::time::Duration;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentResponse, HashKvRequest,
    HashKvResponse, HashResponse, MoveLeaderRequest, MoveLeaderResponse, ResponseHeader,
    SnapshotResponse, StatusResponse,
};
use etcd_store::snapshot::append_sha256;
use etcd_store::Applied;

use super::{EtcdServer, SERVER_VERSION};
use crate::error::ServerError;
use crate::messages::NodeMsg;

/// Bytes per snapshot stream message, as etcd.
const SNAPSHOT_CHUNK: usize = 32 * 1024;

fn alarm_name(t: i32) -> &'static str {
    match AlarmType::try_from(t) {
        Ok(AlarmType::Nospace) => "NOSPACE",
        Ok(AlarmType::Corrupt) => "CORRUPT",
        _ => "NONE",
    }
}

/// A backup as etcd streams it: the first message carries the header and
/// the server version, every message up to 32 KiB of the body and how many
/// bytes remain after it.
pub struct SnapshotChunks {
    header: Option<ResponseHeader>,
    body: Vec<u8>,
    sent: usize,
}

impl Iterator for SnapshotChunks {
    type Item = SnapshotResponse;

    fn next(&mut self) -> Option<SnapshotResponse> {
        let total = self.body.len();
        if self.sent >= total {
            return None;
        }
        let end = (self.sent + SNAPSHOT_CHUNK).min(total);
        let first = self.header.take();
        let msg = SnapshotResponse {
            version: if first.is_some() {
                SERVER_VERSION.to_string()
            } else {
                String::new()
            },
            header: first,
            remaining_bytes: (total - end) as u64,
            blob: self.body[self.sent..end].to_vec(),
        };
        self.sent = end;
        Some(msg)
    }
}

impl EtcdServer {
    pub async fn status(&self) -> StatusResponse {
        let info = self.raft_info();
        let st = self.store.status();
        let errors = self
            .store
            .alarms()
            .into_iter()
            .map(|(m, t)| format!("memberID:{m} alarm:{} ", alarm_name(t)))
            .collect();
        StatusResponse {
            header: Some(self.header()),
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
            db_size_quota: self.config.quota_bytes(),
            downgrade_info: None,
        }
    }

    /// Lists alarms locally, or raises or clears one through the log.
    /// etcd answers alarm requests without a response header.
    pub async fn alarm(
        &self,
        auth: AuthInfo,
        r: AlarmRequest,
    ) -> Result<AlarmResponse, ServerError> {
        self.check_user(&auth)?;
        if AlarmAction::try_from(r.action) == Ok(AlarmAction::Get) {
            let alarms = self
                .store
                .alarms()
                .into_iter()
                .filter(|(_, t)| r.alarm == 0 || *t == r.alarm)
                .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
                .collect();
            return Ok(AlarmResponse {
                header: None,
                alarms,
            });
        }
        match self.propose_as(Op::Alarm(r), auth).await? {
            Applied::Alarm(mut resp) => {
                resp.header = None;
                Ok(resp)
            }
            _ => Err(ServerError::Internal("unexpected apply result".into())),
        }
    }

    pub async fn defragment(&self, auth: &AuthInfo) -> Result<DefragmentResponse, ServerError> {
        self.check_admin(auth)?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.defragment())
            .await
            .map_err(|e| ServerError::Internal(e.to_string()))??;
        // etcd answers Defragment with no header at all.
        Ok(DefragmentResponse { header: None })
    }

    pub async fn hash(&self, auth: &AuthInfo) -> Result<HashResponse, ServerError> {
        self.check_admin(auth)?;
        let hash = self.store.hash_all()?;
        Ok(HashResponse {
            header: Some(self.header()),
            hash,
        })
    }

    pub async fn hash_kv(
        &self,
        auth: &AuthInfo,
        r: &HashKvRequest,
    ) -> Result<HashKvResponse, ServerError> {
        self.check_admin(auth)?;
        let (hash, compact_revision, hash_revision) = self.store.hash_kv(r.revision)?;
        Ok(HashKvResponse {
            header: Some(self.header()),
            hash,
            compact_revision,
            hash_revision,
        })
    }

    /// A backup of the store with etcd's sha256 trailer, in stream messages.
    pub async fn snapshot(&self, auth: &AuthInfo) -> Result<SnapshotChunks, ServerError> {
        self.check_admin(auth)?;
        let store = self.store.clone();
        let header = self.header();
        let mut body = tokio::task::spawn_blocking(move || store.snapshot())
            .await
            .map_err(|e| ServerError::Internal(e.to_string()))??;
        append_sha256(&mut body);
        Ok(SnapshotChunks {
            header: Some(header),
            body,
            sent: 0,
        })
    }

    /// Hands leadership to a voter and waits (bounded) until it leads.
    pub async fn move_leader(
        &self,
        auth: &AuthInfo,
        r: &MoveLeaderRequest,
    ) -> Result<MoveLeaderResponse, ServerError> {
        self.check_admin(auth)?;
        if !self.raft_info().is_leader {
            return Err(ServerError::NotLeader);
        }
        let target = self.membership.get(r.target_id);
        if target.as_ref().is_none_or(|m| m.is_learner) {
            return Err(ServerError::BadLeaderTransferee);
        }
        if r.target_id != self.member_id {
            let _ = self
                .node_tx
                .send(NodeMsg::TransferLeader { to: r.target_id });
            let deadline = tokio::time::Instant::now()
                + Duration::from_millis(3 * self.config.election_timeout);
            while self.raft_info().leader != r.target_id {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ServerError::LeaderTransferTimeout);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // As Defragment, etcd answers MoveLeader with no header at all.
        Ok(MoveLeaderResponse { header: None })
    }
}
