//! `-w json`: Go's `encoding/json` rendering of the (gogo-generated) etcd
//! response structs and clientv3 wrappers, exactly as etcdctl 3.4 prints
//! them: int64/uint64 as numbers, bytes as base64, `omitempty` respected.

use etcd_proto::etcdserverpb::{
    response_op, AlarmResponse, DeleteRangeResponse, HashKvResponse, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse,
    Member, MemberAddResponse, MemberListResponse, MemberPromoteResponse, MemberRemoveResponse,
    MemberUpdateResponse, MoveLeaderResponse, PutResponse, RangeResponse, ResponseHeader,
    ResponseOp, StatusResponse, TxnResponse,
};
use etcd_proto::mvccpb::{Event, KeyValue};

use super::jsonw::{self, list, Obj};
use super::{AuthResult, DbStatus, EpHashKv, EpHealth, EpStatus, Out, Printer, WatchResp};
use crate::v3::error::CtlResult;

/// The JSON printer.
pub struct JsonPrinter;

fn header_fields(o: &mut Obj, h: &ResponseHeader) {
    o.num_omit("cluster_id", h.cluster_id)
        .num_omit("member_id", h.member_id)
        .num_omit("revision", h.revision)
        .num_omit("raft_term", h.raft_term);
}

pub fn header(h: &ResponseHeader) -> String {
    let mut o = Obj::new();
    header_fields(&mut o, h);
    o.finish()
}

fn opt_header(h: &Option<ResponseHeader>) -> Option<String> {
    h.as_ref().map(header)
}

pub fn kv(kv: &KeyValue) -> String {
    Obj::new()
        .bytes_omit("key", &kv.key)
        .num_omit("create_revision", kv.create_revision)
        .num_omit("mod_revision", kv.mod_revision)
        .num_omit("version", kv.version)
        .bytes_omit("value", &kv.value)
        .num_omit("lease", kv.lease)
        .finish()
}

fn kvs(list: &[KeyValue]) -> Vec<String> {
    list.iter().map(kv).collect()
}

fn event(e: &Event) -> String {
    Obj::new()
        .num_omit("type", e.r#type)
        .opt_raw("kv", e.kv.as_ref().map(kv))
        .opt_raw("prev_kv", e.prev_kv.as_ref().map(kv))
        .finish()
}

pub fn range(r: &RangeResponse) -> String {
    Obj::new()
        .opt_raw("header", opt_header(&r.header))
        .list_omit("kvs", kvs(&r.kvs))
        .bool_omit("more", r.more)
        .num_omit("count", r.count)
        .finish()
}

pub fn put(r: &PutResponse) -> String {
    Obj::new()
        .opt_raw("header", opt_header(&r.header))
        .opt_raw("prev_kv", r.prev_kv.as_ref().map(kv))
        .finish()
}

pub fn del(r: &DeleteRangeResponse) -> String {
    Obj::new()
        .opt_raw("header", opt_header(&r.header))
        .num_omit("deleted", r.deleted)
        .list_omit("prev_kvs", kvs(&r.prev_kvs))
        .finish()
}

fn response_op(r: &ResponseOp) -> String {
    let inner = match &r.response {
        None => "null".to_string(),
        Some(response_op::Response::ResponseRange(x)) => {
            Obj::new().raw("ResponseRange", &range(x)).finish()
        }
        Some(response_op::Response::ResponsePut(x)) => {
            Obj::new().raw("ResponsePut", &put(x)).finish()
        }
        Some(response_op::Response::ResponseDeleteRange(x)) => {
            Obj::new().raw("ResponseDeleteRange", &del(x)).finish()
        }
        Some(response_op::Response::ResponseTxn(x)) => {
            Obj::new().raw("ResponseTxn", &txn(x)).finish()
        }
    };
    Obj::new().raw("Response", &inner).finish()
}

pub fn txn(r: &TxnResponse) -> String {
    Obj::new()
        .opt_raw("header", opt_header(&r.header))
        .bool_omit("succeeded", r.succeeded)
        .list_omit("responses", r.responses.iter().map(response_op).collect())
        .finish()
}

fn member(m: &Member) -> String {
    let strs = |v: &[String]| v.iter().map(|s| jsonw::string(s.as_bytes())).collect();
    Obj::new()
        .num_omit("ID", m.id)
        .str_omit("name", &m.name)
        .list_omit("peerURLs", strs(&m.peer_ur_ls))
        .list_omit("clientURLs", strs(&m.client_ur_ls))
        .bool_omit("isLearner", m.is_learner)
        .finish()
}

fn members(list: &[Member]) -> Vec<String> {
    list.iter().map(member).collect()
}

fn status(r: &StatusResponse) -> String {
    let errors = r
        .errors
        .iter()
        .map(|s| jsonw::string(s.as_bytes()))
        .collect();
    Obj::new()
        .opt_raw("header", opt_header(&r.header))
        .str_omit("version", &r.version)
        .num_omit("dbSize", r.db_size)
        .num_omit("leader", r.leader)
        .num_omit("raftIndex", r.raft_index)
        .num_omit("raftTerm", r.raft_term)
        .num_omit("raftAppliedIndex", r.raft_applied_index)
        .list_omit("errors", errors)
        .num_omit("dbSizeInUse", r.db_size_in_use)
        .bool_omit("isLearner", r.is_learner)
        .finish()
}

fn hashkv(r: &HashKvResponse) -> String {
    Obj::new()
        .opt_raw("header", opt_header(&r.header))
        .num_omit("hash", r.hash)
        .num_omit("compact_revision", r.compact_revision)
        .finish()
}

/// clientv3 lease responses embed `*pb.ResponseHeader`, so its fields are
/// promoted into the object (and vanish when the header is nil).
fn promoted_header(h: &Option<ResponseHeader>) -> Obj {
    let mut o = Obj::new();
    if let Some(h) = h {
        header_fields(&mut o, h);
    }
    o
}

/// authpb's `Permission` (`permType` is omitted when READ).
fn permission(p: &etcd_proto::authpb::Permission) -> String {
    Obj::new()
        .num_omit("permType", p.perm_type)
        .bytes_omit("key", &p.key)
        .bytes_omit("range_end", &p.range_end)
        .finish()
}

fn strings(v: &[String]) -> Vec<String> {
    v.iter().map(|s| jsonw::string(s.as_bytes())).collect()
}

/// The auth responses: the header plus the response's own fields.
fn auth(r: &AuthResult) -> String {
    let mut o = Obj::new();
    o.opt_raw("header", opt_header(r.header()));
    match r {
        AuthResult::RoleGet(_, resp) => {
            o.list_omit("perm", resp.perm.iter().map(permission).collect());
        }
        AuthResult::RoleList(resp) => {
            o.list_omit("roles", strings(&resp.roles));
        }
        AuthResult::UserGet(_, resp) => {
            o.list_omit("roles", strings(&resp.roles));
        }
        AuthResult::UserList(resp) => {
            o.list_omit("users", strings(&resp.users));
        }
        _ => {}
    }
    o.finish()
}

impl Printer for JsonPrinter {
    fn format(&self) -> &'static str {
        "json"
    }

    fn auth(&self, o: &mut Out, r: &AuthResult) -> CtlResult {
        o.println(&auth(r));
        Ok(())
    }

    fn del(&self, o: &mut Out, r: &DeleteRangeResponse) -> CtlResult {
        o.println(&del(r));
        Ok(())
    }

    fn get(&self, o: &mut Out, r: &RangeResponse) -> CtlResult {
        o.println(&range(r));
        Ok(())
    }

    fn put(&self, o: &mut Out, r: &PutResponse) -> CtlResult {
        o.println(&put(r));
        Ok(())
    }

    fn txn(&self, o: &mut Out, r: &TxnResponse) -> CtlResult {
        o.println(&txn(r));
        Ok(())
    }

    fn watch(&self, o: &mut Out, r: &WatchResp) -> CtlResult {
        let s = Obj::new()
            .raw("Header", &header(&r.header))
            .raw("Events", &list(r.events.iter().map(event).collect()))
            .num("CompactRevision", r.compact_revision)
            .boolean("Canceled", r.canceled)
            .boolean("Created", r.created)
            .finish();
        o.println(&s);
        Ok(())
    }

    fn grant(&self, o: &mut Out, r: &LeaseGrantResponse) -> CtlResult {
        let s = promoted_header(&r.header)
            .num("ID", r.id)
            .num("TTL", r.ttl)
            .str("Error", &r.error)
            .finish();
        o.println(&s);
        Ok(())
    }

    fn revoke(&self, o: &mut Out, _id: i64, r: &LeaseRevokeResponse) -> CtlResult {
        o.println(&Obj::new().opt_raw("header", opt_header(&r.header)).finish());
        Ok(())
    }

    fn keep_alive(&self, o: &mut Out, r: &LeaseKeepAliveResponse) -> CtlResult {
        let s = promoted_header(&r.header)
            .num("ID", r.id)
            .num("TTL", r.ttl)
            .finish();
        o.println(&s);
        Ok(())
    }

    fn time_to_live(&self, o: &mut Out, r: &LeaseTimeToLiveResponse, _keys: bool) -> CtlResult {
        let keys = if r.keys.is_empty() {
            "null".to_string()
        } else {
            list(
                r.keys
                    .iter()
                    .map(|k| format!("\"{}\"", jsonw::base64(k)))
                    .collect(),
            )
        };
        let s = promoted_header(&r.header)
            .num("id", r.id)
            .num("ttl", r.ttl)
            .num("granted-ttl", r.granted_ttl)
            .raw("keys", &keys)
            .finish();
        o.println(&s);
        Ok(())
    }

    fn leases(&self, o: &mut Out, r: &LeaseLeasesResponse) -> CtlResult {
        let leases = r
            .leases
            .iter()
            .map(|l| Obj::new().num("id", l.id).finish())
            .collect();
        let s = promoted_header(&r.header)
            .raw("leases", &list(leases))
            .finish();
        o.println(&s);
        Ok(())
    }

    fn member_add(&self, o: &mut Out, r: &MemberAddResponse) -> CtlResult {
        let s = Obj::new()
            .opt_raw("header", opt_header(&r.header))
            .opt_raw("member", r.member.as_ref().map(member))
            .list_omit("members", members(&r.members))
            .finish();
        o.println(&s);
        Ok(())
    }

    fn member_remove(&self, o: &mut Out, _id: u64, r: &MemberRemoveResponse) -> CtlResult {
        o.println(&members_resp(&r.header, &r.members));
        Ok(())
    }

    fn member_update(&self, o: &mut Out, _id: u64, r: &MemberUpdateResponse) -> CtlResult {
        o.println(&members_resp(&r.header, &r.members));
        Ok(())
    }

    fn member_promote(&self, o: &mut Out, _id: u64, r: &MemberPromoteResponse) -> CtlResult {
        o.println(&members_resp(&r.header, &r.members));
        Ok(())
    }

    fn member_list(&self, o: &mut Out, r: &MemberListResponse) -> CtlResult {
        o.println(&members_resp(&r.header, &r.members));
        Ok(())
    }

    fn endpoint_health(&self, o: &mut Out, r: &[EpHealth]) -> CtlResult {
        let items = r
            .iter()
            .map(|h| {
                Obj::new()
                    .str("endpoint", &h.ep)
                    .boolean("health", h.health)
                    .str("took", &h.took)
                    .str_omit("error", &h.error)
                    .finish()
            })
            .collect();
        o.println(&list(items));
        Ok(())
    }

    fn endpoint_status(&self, o: &mut Out, r: &[EpStatus]) -> CtlResult {
        let items = r
            .iter()
            .map(|s| {
                Obj::new()
                    .str("Endpoint", &s.ep)
                    .raw("Status", &status(&s.resp))
                    .finish()
            })
            .collect();
        o.println(&list(items));
        Ok(())
    }

    fn endpoint_hashkv(&self, o: &mut Out, r: &[EpHashKv]) -> CtlResult {
        let items = r
            .iter()
            .map(|h| {
                Obj::new()
                    .str("Endpoint", &h.ep)
                    .raw("HashKV", &hashkv(&h.resp))
                    .finish()
            })
            .collect();
        o.println(&list(items));
        Ok(())
    }

    fn alarm(&self, o: &mut Out, r: &AlarmResponse) -> CtlResult {
        let alarms = r
            .alarms
            .iter()
            .map(|a| {
                Obj::new()
                    .num_omit("memberID", a.member_id)
                    .num_omit("alarm", a.alarm)
                    .finish()
            })
            .collect();
        let s = Obj::new()
            .opt_raw("header", opt_header(&r.header))
            .list_omit("alarms", alarms)
            .finish();
        o.println(&s);
        Ok(())
    }

    fn move_leader(
        &self,
        o: &mut Out,
        _leader: u64,
        _target: u64,
        r: &MoveLeaderResponse,
    ) -> CtlResult {
        o.println(&Obj::new().opt_raw("header", opt_header(&r.header)).finish());
        Ok(())
    }

    fn db_status(&self, o: &mut Out, r: &DbStatus) -> CtlResult {
        let s = Obj::new()
            .num("hash", r.hash)
            .num("revision", r.revision)
            .num("totalKey", r.total_key)
            .num("totalSize", r.total_size)
            .finish();
        o.println(&s);
        Ok(())
    }
}

fn members_resp(h: &Option<ResponseHeader>, list: &[Member]) -> String {
    Obj::new()
        .opt_raw("header", opt_header(h))
        .list_omit("members", members(list))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        })
    }

    #[test]
    fn range_response_matches_etcdctl() {
        let r = RangeResponse {
            header: hdr(),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: b"bar".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        assert_eq!(
            range(&r),
            "{\"header\":{\"cluster_id\":1,\"member_id\":2,\"revision\":3,\"raft_term\":4},\
             \"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\
             \"value\":\"YmFy\"}],\"count\":1}"
        );
    }

    #[test]
    fn lease_grant_promotes_header_fields() {
        let mut o = Out::new();
        let r = LeaseGrantResponse {
            header: hdr(),
            id: 7,
            ttl: 100,
            error: String::new(),
        };
        JsonPrinter.grant(&mut o, &r).unwrap();
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            "{\"cluster_id\":1,\"member_id\":2,\"revision\":3,\"raft_term\":4,\"ID\":7,\"TTL\":100,\"Error\":\"\"}\n"
        );
    }

    #[test]
    fn watch_response_uses_clientv3_field_names() {
        let mut o = Out::new();
        let r = WatchResp {
            header: ResponseHeader::default(),
            events: vec![],
            compact_revision: 3,
            canceled: true,
            created: false,
        };
        JsonPrinter.watch(&mut o, &r).unwrap();
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            "{\"Header\":{},\"Events\":[],\"CompactRevision\":3,\"Canceled\":true,\"Created\":false}\n"
        );
    }
}
