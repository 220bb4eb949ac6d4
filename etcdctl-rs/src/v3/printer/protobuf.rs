//! `-w protobuf`: the raw protobuf encoding of the response. Like etcdctl
//! 3.4, lease responses print only their embedded header (the only part of
//! the clientv3 wrapper Go can marshal).

use etcd_proto::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    MoveLeaderResponse, PutResponse, RangeResponse, ResponseHeader, TxnResponse, WatchResponse,
};
use prost::Message;

use super::{AuthResult, Out, Printer, WatchResp};
use crate::v3::error::{CtlError, CtlResult, EXIT_BAD_FEATURE};

/// The protobuf printer.
pub struct ProtobufPrinter;

fn emit(o: &mut Out, m: &impl Message) -> CtlResult {
    o.write_bytes(&m.encode_to_vec());
    Ok(())
}

fn header_only(o: &mut Out, h: &Option<ResponseHeader>) -> CtlResult {
    if let Some(h) = h {
        emit(o, h)?;
    }
    Ok(())
}

impl Printer for ProtobufPrinter {
    fn format(&self) -> &'static str {
        "protobuf"
    }

    fn auth(&self, o: &mut Out, r: &AuthResult) -> CtlResult {
        match r {
            AuthResult::RoleAdd(_, x) => emit(o, x),
            AuthResult::RoleGet(_, x) => emit(o, x),
            AuthResult::RoleDelete(_, x) => emit(o, x),
            AuthResult::RoleList(x) => emit(o, x),
            AuthResult::RoleGrantPermission(_, x) => emit(o, x),
            AuthResult::RoleRevokePermission(_, _, _, x) => emit(o, x),
            AuthResult::UserAdd(_, x) => emit(o, x),
            AuthResult::UserGet(_, x) => emit(o, x),
            AuthResult::UserList(x) => emit(o, x),
            AuthResult::UserChangePassword(x) => emit(o, x),
            AuthResult::UserGrantRole(_, _, x) => emit(o, x),
            AuthResult::UserRevokeRole(_, _, x) => emit(o, x),
            AuthResult::UserDelete(_, x) => emit(o, x),
        }
    }

    fn del(&self, o: &mut Out, r: &DeleteRangeResponse) -> CtlResult {
        emit(o, r)
    }
    fn get(&self, o: &mut Out, r: &RangeResponse) -> CtlResult {
        emit(o, r)
    }
    fn put(&self, o: &mut Out, r: &PutResponse) -> CtlResult {
        emit(o, r)
    }
    fn txn(&self, o: &mut Out, r: &TxnResponse) -> CtlResult {
        emit(o, r)
    }
    fn watch(&self, o: &mut Out, r: &WatchResp) -> CtlResult {
        let wr = WatchResponse {
            header: Some(r.header),
            events: r.events.clone(),
            compact_revision: r.compact_revision,
            canceled: r.canceled,
            created: r.created,
            ..Default::default()
        };
        emit(o, &wr)
    }
    fn grant(&self, o: &mut Out, r: &LeaseGrantResponse) -> CtlResult {
        header_only(o, &r.header)
    }
    fn revoke(&self, _o: &mut Out, _id: i64, r: &LeaseRevokeResponse) -> CtlResult {
        // Go prints the value with %v: the header through its String().
        let header = match &r.header {
            None => "<nil>".to_string(),
            Some(h) => [
                ("cluster_id", h.cluster_id),
                ("member_id", h.member_id),
                ("revision", h.revision as u64),
                ("raft_term", h.raft_term),
            ]
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| format!("{k}:{v} "))
            .collect(),
        };
        Err(CtlError::new(
            EXIT_BAD_FEATURE,
            format!("marshal unsupported for type clientv3.LeaseRevokeResponse ({{{header}}})"),
        ))
    }
    fn keep_alive(&self, o: &mut Out, r: &LeaseKeepAliveResponse) -> CtlResult {
        header_only(o, &r.header)
    }
    fn time_to_live(&self, o: &mut Out, r: &LeaseTimeToLiveResponse, _keys: bool) -> CtlResult {
        header_only(o, &r.header)
    }
    fn leases(&self, o: &mut Out, r: &LeaseLeasesResponse) -> CtlResult {
        header_only(o, &r.header)
    }
    fn member_add(&self, o: &mut Out, r: &MemberAddResponse) -> CtlResult {
        emit(o, r)
    }
    fn member_remove(&self, o: &mut Out, _id: u64, r: &MemberRemoveResponse) -> CtlResult {
        emit(o, r)
    }
    fn member_update(&self, o: &mut Out, _id: u64, r: &MemberUpdateResponse) -> CtlResult {
        emit(o, r)
    }
    fn member_promote(&self, o: &mut Out, _id: u64, r: &MemberPromoteResponse) -> CtlResult {
        emit(o, r)
    }
    fn member_list(&self, o: &mut Out, r: &MemberListResponse) -> CtlResult {
        emit(o, r)
    }
    fn alarm(&self, o: &mut Out, r: &AlarmResponse) -> CtlResult {
        emit(o, r)
    }
    fn move_leader(
        &self,
        o: &mut Out,
        _leader: u64,
        _target: u64,
        r: &MoveLeaderResponse,
    ) -> CtlResult {
        emit(o, r)
    }
}
