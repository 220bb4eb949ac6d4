//! Which permission each request needs: etcd's RBAC applied to a whole
//! request, however it is nested.
//!
//! The same function guards both ends of the write path. The API layer
//! calls it before proposing (a refused request never reaches the log) and
//! for reads it serves locally; the apply path calls it again with the state
//! at the request's position in the log, so a permission revoked by an
//! earlier entry is honoured even if the request was checked before that
//! entry was applied. The rules:
//!
//! - Range: read on its range. Put: write on the key (and read, with
//!   `prev_kv`). DeleteRange: write on the range (and read, with `prev_kv`).
//! - Txn: read on the range of every compare, and every operation of both
//!   branches at every depth, whichever branch will run; a nested txn cannot
//!   reach a key its user could not touch directly.
//! - LeaseRevoke: write on every key attached to the lease (revoking deletes
//!   them).
//! - Compaction, alarms raised or cleared by a client, and all auth
//!   management: the root role.
//! - LeaseGrant: any logged-in user.
//!
//! Requests the cluster makes itself carry no [`AuthInfo`] and are not
//! checked here.

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use crate::auth::{AuthError, AuthState};

impl AuthState {
    /// Checks a whole log request. `lease_keys` lists the keys attached to a
    /// lease.
    pub fn authorize(
        &self,
        info: &AuthInfo,
        op: &Op,
        lease_keys: &dyn Fn(i64) -> Vec<Vec<u8>>,
    ) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        match op {
            Op::Put(p) => self.authorize_put(info, p),
            Op::DeleteRange(d) => self.authorize_delete(info, d),
            Op::Txn(t) => self.authorize_txn(info, t),
            Op::LeaseRevoke(r) => lease_keys(r.id)
                .iter()
                .try_for_each(|k| self.check_op(info, k, &[], true)),
            Op::LeaseGrant(_) | Op::LeaseCheckpoint(_) => self.check_authenticated(info),
            Op::Alarm(a) if a.action == AlarmAction::Get as i32 => self.check_authenticated(info),
            Op::Compaction(_)
            | Op::Alarm(_)
            | Op::AuthEnable(_)
            | Op::AuthDisable(_)
            | Op::UserAdd(_)
            | Op::UserDelete(_)
            | Op::UserChangePassword(_)
            | Op::UserGrantRole(_)
            | Op::UserRevokeRole(_)
            | Op::RoleAdd(_)
            | Op::RoleDelete(_)
            | Op::RoleGrantPermission(_)
            | Op::RoleRevokePermission(_)
            | Op::MemberAttributes(_)
            | Op::MemberUpdate(_) => self.check_admin(info),
            // Password checks happen before the proposal.
            Op::Authenticate(_) => Ok(()),
        }
    }

    pub fn authorize_range(&self, info: &AuthInfo, r: &RangeRequest) -> Result<(), AuthError> {
        self.check_op(info, &r.key, &r.range_end, false)
    }

    fn authorize_put(&self, info: &AuthInfo, p: &PutRequest) -> Result<(), AuthError> {
        self.check_op(info, &p.key, &[], true)?;
        if p.prev_kv {
            self.check_op(info, &p.key, &[], false)?;
        }
        Ok(())
    }

    fn authorize_delete(&self, info: &AuthInfo, d: &DeleteRangeRequest) -> Result<(), AuthError> {
        self.check_op(info, &d.key, &d.range_end, true)?;
        if d.prev_kv {
            self.check_op(info, &d.key, &d.range_end, false)?;
        }
        Ok(())
    }

    /// Every compare and every operation of both branches, recursively.
    pub fn authorize_txn(&self, info: &AuthInfo, t: &TxnRequest) -> Result<(), AuthError> {
        for c in &t.compare {
            self.check_op(info, &c.key, &c.range_end, false)?;
        }
        t.success
            .iter()
            .chain(&t.failure)
            .try_for_each(|op| self.authorize_request_op(info, op))
    }

    fn authorize_request_op(&self, info: &AuthInfo, op: &RequestOp) -> Result<(), AuthError> {
        match &op.request {
            Some(Request::RequestRange(r)) => self.authorize_range(info, r),
            Some(Request::RequestPut(p)) => self.authorize_put(info, p),
            Some(Request::RequestDeleteRange(d)) => self.authorize_delete(info, d),
            Some(Request::RequestTxn(t)) => self.authorize_txn(info, t),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use etcd_proto::authpb::permission::Type as PermType;
    use etcd_proto::authpb::Permission;
    use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget};
    use etcd_proto::etcdserverpb::{Compare, LeaseRevokeRequest};

    use super::*;
    use crate::auth::ROOT;

    fn state() -> AuthState {
        let mut a = AuthState::default();
        a.user_add(ROOT, "h", false).unwrap();
        a.user_grant_role(ROOT, ROOT).unwrap();
        a.user_add("alice", "h", false).unwrap();
        a.role_add("rw-a").unwrap();
        a.role_grant_permission(
            "rw-a",
            Permission {
                perm_type: PermType::Readwrite as i32,
                key: b"a/".to_vec(),
                range_end: b"a0".to_vec(),
            },
        )
        .unwrap();
        a.user_grant_role("alice", "rw-a").unwrap();
        a.enable().unwrap();
        a
    }

    fn alice(a: &AuthState) -> AuthInfo {
        AuthInfo {
            username: "alice".into(),
            revision: a.revision,
        }
    }

    fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.into(),
                ..Default::default()
            })),
        }
    }

    fn no_leases(_: i64) -> Vec<Vec<u8>> {
        Vec::new()
    }

    #[test]
    fn nested_txn_cannot_reach_outside_the_permission() {
        let a = state();
        let inner = TxnRequest {
            success: vec![put("a/ok")],
            failure: vec![put("secret")],
            ..Default::default()
        };
        let outer = TxnRequest {
            success: vec![RequestOp {
                request: Some(Request::RequestTxn(inner)),
            }],
            ..Default::default()
        };
        assert_eq!(
            a.authorize(&alice(&a), &Op::Txn(outer), &no_leases),
            Err(AuthError::PermissionDenied)
        );
        let fine = TxnRequest {
            compare: vec![Compare {
                key: b"a/x".to_vec(),
                result: CompareResult::Equal as i32,
                target: CompareTarget::Version as i32,
                ..Default::default()
            }],
            success: vec![put("a/1")],
            failure: vec![put("a/2")],
        };
        assert_eq!(a.authorize(&alice(&a), &Op::Txn(fine), &no_leases), Ok(()));
    }

    #[test]
    fn compares_need_read_permission() {
        let a = state();
        let t = TxnRequest {
            compare: vec![Compare {
                key: b"secret".to_vec(),
                result: CompareResult::Equal as i32,
                target: CompareTarget::Version as i32,
                ..Default::default()
            }],
            success: vec![put("a/1")],
            ..Default::default()
        };
        assert_eq!(
            a.authorize(&alice(&a), &Op::Txn(t), &no_leases),
            Err(AuthError::PermissionDenied)
        );
    }

    #[test]
    fn lease_revoke_needs_write_on_its_keys_and_old_revisions_are_refused() {
        let mut a = state();
        let keys = |_: i64| vec![b"a/1".to_vec(), b"other".to_vec()];
        let revoke = Op::LeaseRevoke(LeaseRevokeRequest { id: 7 });
        assert_eq!(
            a.authorize(&alice(&a), &revoke, &keys),
            Err(AuthError::PermissionDenied)
        );
        let info = alice(&a);
        a.role_add("more").unwrap();
        assert_eq!(
            a.authorize(
                &info,
                &Op::Put(PutRequest {
                    key: b"a/1".to_vec(),
                    ..Default::default()
                }),
                &no_leases
            ),
            Err(AuthError::AuthOldRevision)
        );
        let anonymous = AuthInfo::default();
        assert_eq!(
            a.authorize(&anonymous, &revoke, &keys),
            Err(AuthError::UserEmpty)
        );
        assert_eq!(
            a.authorize(&alice(&a), &Op::Compaction(Default::default()), &no_leases),
            Err(AuthError::PermissionDenied)
        );
        let root = AuthInfo {
            username: ROOT.into(),
            revision: a.revision,
        };
        assert_eq!(a.authorize(&root, &revoke, &keys), Ok(()));
    }
}
