//! Compaction, lease grant and revoke, alarms and auth changes as one
//! [`WriteTxn`]'s changes.

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthenticateApply;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, CompactionResponse, LeaseGrantRequest,
    LeaseGrantResponse, LeaseRevokeResponse,
};
use prost::Message;

use crate::auth::AuthError;
use crate::error::StoreError;
use crate::revision::Revision;
use crate::rows;
use crate::store::{LeaseEntry, MAX_LEASE_TTL};

use super::*;

impl WriteTxn<'_> {
    pub(crate) fn compact(&mut self, rev: i64) -> Result<CompactionResponse, StoreError> {
        if rev <= self.st.compacted_rev {
            return Err(StoreError::Compacted);
        }
        if rev > self.st.current_rev {
            return Err(StoreError::FutureRevision);
        }
        let keep = self.st.index.compact(rev);
        let (start, _) = rows::prefix_range(rows::KV);
        let batch = &mut *self.batch;
        self.backend
            .scan_each(&start, &rows::kv_main_start(rev + 1), &mut |k, _| {
                if let Some((r, _)) = Revision::from_bytes(&k[1..]) {
                    if !keep.contains(&r) {
                        batch.delete(k.to_vec());
                    }
                }
                true
            })?;
        self.st.compacted_rev = rev;
        self.batch.put(
            rows::META_COMPACTED_REV.to_vec(),
            rows::u64_bytes(rev as u64),
        );
        Ok(CompactionResponse {
            header: header(self.st.current_rev),
        })
    }

    pub(crate) fn lease_grant(
        &mut self,
        g: &LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, StoreError> {
        if g.id == 0 {
            return Err(StoreError::LeaseNotFound);
        }
        if g.ttl > MAX_LEASE_TTL {
            return Err(StoreError::LeaseTtlTooLarge);
        }
        if self.st.leases.contains_key(&g.id) {
            return Err(StoreError::LeaseExists);
        }
        let ttl = g.ttl.max(self.min_lease_ttl);
        self.st.leases.insert(
            g.id,
            LeaseEntry {
                ttl,
                keys: Default::default(),
            },
        );
        self.batch.put(rows::lease_key(g.id), rows::i64_bytes(ttl));
        Ok(LeaseGrantResponse {
            header: header(self.st.current_rev),
            id: g.id,
            ttl,
            error: String::new(),
        })
    }

    pub(crate) fn lease_revoke(&mut self, id: i64) -> Result<LeaseRevokeResponse, StoreError> {
        let Some(lease) = self.st.leases.get(&id) else {
            return Err(StoreError::LeaseNotFound);
        };
        let keys: Vec<Vec<u8>> = lease.keys.iter().cloned().collect();
        // A planted bug, to prove the fault-injection suite catches it: the revoke
        // forgets the lease's keys.
        let keep_keys = || -> bool {
            fail::fail_point!("plant_revoke_keeps_keys", |_| true);
            false
        };
        if !keep_keys() {
            for k in keys {
                self.delete_range(&k, &[])?;
            }
        }
        self.st.leases.remove(&id);
        self.batch.delete(rows::lease_key(id));
        Ok(LeaseRevokeResponse {
            header: header(self.read_rev()),
        })
    }

    pub(crate) fn alarm(&mut self, a: &AlarmRequest) -> AlarmResponse {
        let action = AlarmAction::try_from(a.action).unwrap_or(AlarmAction::Get);
        let member = AlarmMember {
            member_id: a.member_id,
            alarm: a.alarm,
        };
        let mut alarms = Vec::new();
        match action {
            AlarmAction::Get => {
                alarms = self
                    .st
                    .alarms
                    .iter()
                    .filter(|(_, t)| a.alarm == 0 || *t == a.alarm)
                    .map(|(m, t)| AlarmMember {
                        member_id: *m,
                        alarm: *t,
                    })
                    .collect();
            }
            AlarmAction::Activate => {
                if a.alarm != 0 {
                    if self.st.alarms.insert((a.member_id, a.alarm)) {
                        self.batch
                            .put(rows::alarm_key(a.member_id, a.alarm), Vec::new());
                    }
                    // An alarm already raised is answered too, as etcd does.
                    alarms.push(member);
                }
            }
            AlarmAction::Deactivate => {
                if self.st.alarms.remove(&(a.member_id, a.alarm)) {
                    self.batch.delete(rows::alarm_key(a.member_id, a.alarm));
                    alarms.push(member);
                }
            }
        }
        AlarmResponse {
            header: header(self.st.current_rev),
            alarms,
        }
    }

    /// Applies one auth management request to a copy of the auth state and
    /// stages the new state row; the copy replaces the state only if the
    /// request succeeded.
    pub(crate) fn auth_change(&mut self, op: &Op) -> Result<Applied, StoreError> {
        let mut auth = self.st.auth.clone();
        match op {
            Op::AuthEnable(_) => auth.enable()?,
            Op::AuthDisable(_) => auth.disable(),
            Op::UserAdd(u) => {
                let no_password = u.options.as_ref().is_some_and(|o| o.no_password);
                auth.user_add(&u.name, &u.hashed_password, no_password)?
            }
            Op::UserDelete(u) => auth.user_delete(&u.name)?,
            Op::UserChangePassword(u) => auth.user_change_password(&u.name, &u.hashed_password)?,
            Op::UserGrantRole(g) => auth.user_grant_role(&g.user, &g.role)?,
            Op::UserRevokeRole(r) => auth.user_revoke_role(&r.name, &r.role)?,
            Op::RoleAdd(r) => auth.role_add(&r.name)?,
            Op::RoleDelete(r) => auth.role_delete(&r.role)?,
            Op::RoleGrantPermission(g) => {
                let perm = g.perm.clone().ok_or(AuthError::PermissionNotGiven)?;
                auth.role_grant_permission(&g.name, perm)?
            }
            Op::RoleRevokePermission(r) => {
                auth.role_revoke_permission(&r.role, &r.key, &r.range_end)?
            }
            _ => return Ok(Applied::Nothing),
        }
        if auth != self.st.auth {
            self.batch
                .put(rows::AUTH_STATE.to_vec(), auth.to_record().encode_to_vec());
        }
        let auth_revision = auth.revision;
        self.st.auth = auth;
        Ok(Applied::Auth { auth_revision })
    }

    /// A replicated successful login: the user must still exist (it may
    /// have been deleted between the password check and this entry).
    pub(crate) fn authenticate(
        &mut self,
        index: u64,
        a: &AuthenticateApply,
    ) -> Result<Applied, StoreError> {
        if !self.st.auth.enabled {
            return Err(AuthError::AuthNotEnabled.into());
        }
        if !self.st.auth.users.contains_key(&a.name) {
            return Err(AuthError::AuthFailed.into());
        }
        let token = if a.token_prefix.is_empty() {
            String::new()
        } else {
            format!("{}.{index}", a.token_prefix)
        };
        Ok(Applied::Authenticated {
            user: a.name.clone(),
            token,
        })
    }
}
