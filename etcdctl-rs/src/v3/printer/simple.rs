//! `-w simple` (the default): etcdctl's human-oriented plain text output.

use etcd_proto::authpb::permission::Type;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdserverpb::{
    response_op, AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    MoveLeaderResponse, PutResponse, RangeResponse, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

use super::{
    alarm_member_text, db_status_rows, endpoint_hashkv_rows, endpoint_status_rows, event_type_name,
    member_list_rows, AuthResult, DbStatus, EpHashKv, EpHealth, EpStatus, Out, Printer, WatchResp,
};
use crate::v3::error::CtlResult;
use crate::v3::gofmt;
use crate::v3::util::prefix_end;

/// The simple printer; `value_only` is `get --print-value-only`.
pub struct SimplePrinter {
    hex: bool,
    value_only: bool,
}

impl SimplePrinter {
    pub fn new(hex: bool, value_only: bool) -> Self {
        SimplePrinter { hex, value_only }
    }

    /// etcdctl's `printKV`.
    fn kv(&self, o: &mut Out, kv: &KeyValue) {
        let (k, v) = if self.hex {
            (
                gofmt::hex_escaped(&kv.key).into_bytes(),
                gofmt::hex_escaped(&kv.value).into_bytes(),
            )
        } else {
            (kv.key.clone(), kv.value.clone())
        };
        if !self.value_only {
            o.write_bytes(&k);
            o.print("\n");
        }
        o.write_bytes(&v);
        o.print("\n");
    }

    fn cluster_line(o: &mut Out, verb: &str, id: u64, cluster_id: u64) {
        o.println(&format!("Member {id:16x} {verb} cluster {cluster_id:16x}"));
    }
}

fn cluster_id(h: &Option<etcd_proto::etcdserverpb::ResponseHeader>) -> u64 {
    h.as_ref().map(|h| h.cluster_id).unwrap_or(0)
}

impl Printer for SimplePrinter {
    fn format(&self) -> &'static str {
        "simple"
    }

    fn auth(&self, o: &mut Out, r: &AuthResult) -> CtlResult {
        auth(o, r);
        Ok(())
    }

    fn is_simple(&self) -> bool {
        true
    }

    fn del(&self, o: &mut Out, r: &DeleteRangeResponse) -> CtlResult {
        o.println(&r.deleted.to_string());
        for kv in &r.prev_kvs {
            self.kv(o, kv);
        }
        Ok(())
    }

    fn get(&self, o: &mut Out, r: &RangeResponse) -> CtlResult {
        for kv in &r.kvs {
            self.kv(o, kv);
        }
        Ok(())
    }

    fn put(&self, o: &mut Out, r: &PutResponse) -> CtlResult {
        o.println("OK");
        if let Some(kv) = &r.prev_kv {
            self.kv(o, kv);
        }
        Ok(())
    }

    fn txn(&self, o: &mut Out, r: &TxnResponse) -> CtlResult {
        o.println(if r.succeeded { "SUCCESS" } else { "FAILURE" });
        for op in &r.responses {
            o.println("");
            match &op.response {
                Some(response_op::Response::ResponseDeleteRange(d)) => self.del(o, d)?,
                Some(response_op::Response::ResponsePut(p)) => self.put(o, p)?,
                Some(response_op::Response::ResponseRange(g)) => self.get(o, g)?,
                _ => o.println(&format!("unexpected response {op:?}")),
            }
        }
        Ok(())
    }

    fn watch(&self, o: &mut Out, r: &WatchResp) -> CtlResult {
        for e in &r.events {
            o.println(&event_type_name(e.r#type));
            if let Some(prev) = &e.prev_kv {
                self.kv(o, prev);
            }
            self.kv(o, &e.kv.clone().unwrap_or_default());
        }
        Ok(())
    }

    fn grant(&self, o: &mut Out, r: &LeaseGrantResponse) -> CtlResult {
        o.println(&format!("lease {:016x} granted with TTL({}s)", r.id, r.ttl));
        Ok(())
    }

    fn revoke(&self, o: &mut Out, id: i64, _r: &LeaseRevokeResponse) -> CtlResult {
        o.println(&format!("lease {id:016x} revoked"));
        Ok(())
    }

    fn keep_alive(&self, o: &mut Out, r: &LeaseKeepAliveResponse) -> CtlResult {
        o.println(&format!(
            "lease {:016x} keepalived with TTL({})",
            r.id, r.ttl
        ));
        Ok(())
    }

    fn time_to_live(&self, o: &mut Out, r: &LeaseTimeToLiveResponse, keys: bool) -> CtlResult {
        if r.granted_ttl == 0 && r.ttl == -1 {
            o.println(&format!("lease {:016x} already expired", r.id));
            return Ok(());
        }
        o.print(&format!(
            "lease {:016x} granted with TTL({}s), remaining({}s)",
            r.id, r.granted_ttl, r.ttl
        ));
        if keys {
            // `%v` of a []string: the keys' raw bytes.
            o.print(", attached keys([");
            o.write_bytes(&r.keys.join(&b' '));
            o.print("])");
        }
        o.println("");
        Ok(())
    }

    fn leases(&self, o: &mut Out, r: &LeaseLeasesResponse) -> CtlResult {
        o.println(&format!("found {} leases", r.leases.len()));
        for l in &r.leases {
            o.println(&format!("{:016x}", l.id));
        }
        Ok(())
    }

    fn member_add(&self, o: &mut Out, r: &MemberAddResponse) -> CtlResult {
        let id = r.member.as_ref().map(|m| m.id).unwrap_or(0);
        o.println(&format!(
            "Member {id:16x} added to cluster {:16x}",
            cluster_id(&r.header)
        ));
        Ok(())
    }

    fn member_remove(&self, o: &mut Out, id: u64, r: &MemberRemoveResponse) -> CtlResult {
        Self::cluster_line(o, "removed from", id, cluster_id(&r.header));
        Ok(())
    }

    fn member_update(&self, o: &mut Out, id: u64, r: &MemberUpdateResponse) -> CtlResult {
        Self::cluster_line(o, "updated in", id, cluster_id(&r.header));
        Ok(())
    }

    fn member_promote(&self, o: &mut Out, id: u64, r: &MemberPromoteResponse) -> CtlResult {
        Self::cluster_line(o, "promoted in", id, cluster_id(&r.header));
        Ok(())
    }

    fn member_list(&self, o: &mut Out, r: &MemberListResponse) -> CtlResult {
        for row in member_list_rows(r).1 {
            o.println(&row.join(", "));
        }
        Ok(())
    }

    fn endpoint_health(&self, o: &mut Out, r: &[EpHealth]) -> CtlResult {
        for h in r {
            if h.error.is_empty() {
                o.eprint(&format!(
                    "{} is healthy: successfully committed proposal: took = {}\n",
                    h.ep, h.took
                ));
            } else {
                o.eprint(&format!(
                    "{} is unhealthy: failed to commit proposal: {}\n",
                    h.ep, h.error
                ));
            }
        }
        Ok(())
    }

    fn endpoint_status(&self, o: &mut Out, r: &[EpStatus]) -> CtlResult {
        for row in endpoint_status_rows(r).1 {
            o.println(&row.join(", "));
        }
        Ok(())
    }

    fn endpoint_hashkv(&self, o: &mut Out, r: &[EpHashKv]) -> CtlResult {
        for row in endpoint_hashkv_rows(r).1 {
            o.println(&row.join(", "));
        }
        Ok(())
    }

    fn alarm(&self, o: &mut Out, r: &AlarmResponse) -> CtlResult {
        for a in &r.alarms {
            o.println(&alarm_member_text(a.member_id, a.alarm));
        }
        Ok(())
    }

    fn move_leader(
        &self,
        o: &mut Out,
        leader: u64,
        target: u64,
        _r: &MoveLeaderResponse,
    ) -> CtlResult {
        o.println(&format!(
            "Leadership transferred from {leader:x} to {target:x}"
        ));
        Ok(())
    }

    fn db_status(&self, o: &mut Out, r: &DbStatus) -> CtlResult {
        let (_, rows) = db_status_rows(r);
        for row in rows {
            o.println(&row.join(", "));
        }
        Ok(())
    }
}

/// One permission line of `role get`: a key, or a range (with its prefix
/// when the range is exactly one).
fn permission_line(o: &mut Out, p: &Permission) {
    o.print("\t");
    if p.range_end.is_empty() {
        o.write_bytes(&p.key);
        o.print("\n");
        return;
    }
    o.print("[");
    o.write_bytes(&p.key);
    if p.range_end == b"\0" {
        o.print(", <open ended>");
    } else {
        o.print(", ");
        o.write_bytes(&p.range_end);
        o.print(")");
    }
    if prefix_end(&p.key) == p.range_end {
        o.print(" (prefix ");
        o.write_bytes(&p.key);
        o.print(")");
    }
    o.print("\n");
}

/// etcdctl's simple output of the user and role commands.
fn auth(o: &mut Out, r: &AuthResult) {
    match r {
        AuthResult::RoleAdd(role, _) => o.println(&format!("Role {role} created")),
        AuthResult::RoleGet(role, resp) => {
            o.println(&format!("Role {role}"));
            o.println("KV Read:");
            let read = [Type::Read as i32, Type::Readwrite as i32];
            for p in resp.perm.iter().filter(|p| read.contains(&p.perm_type)) {
                permission_line(o, p);
            }
            o.println("KV Write:");
            let write = [Type::Write as i32, Type::Readwrite as i32];
            for p in resp.perm.iter().filter(|p| write.contains(&p.perm_type)) {
                permission_line(o, p);
            }
        }
        AuthResult::RoleDelete(role, _) => o.println(&format!("Role {role} deleted")),
        AuthResult::RoleList(resp) => {
            for role in &resp.roles {
                o.println(role);
            }
        }
        AuthResult::RoleGrantPermission(role, _) => o.println(&format!("Role {role} updated")),
        AuthResult::RoleRevokePermission(role, key, end, _) => {
            if end.is_empty() {
                o.print("Permission of key ");
                o.write_bytes(key);
                o.println(&format!(" is revoked from role {role}"));
            } else if *end == b"\0" {
                o.print("Permission of range [");
                o.write_bytes(key);
                o.println(&format!(", <open ended> is revoked from role {role}"));
            } else {
                o.print("Permission of range [");
                o.write_bytes(key);
                o.print(", ");
                o.write_bytes(end);
                o.println(&format!(") is revoked from role {role}"));
            }
        }
        AuthResult::UserAdd(user, _) => o.println(&format!("User {user} created")),
        AuthResult::UserGet(user, resp) => {
            o.println(&format!("User: {user}"));
            o.print("Roles:");
            for role in &resp.roles {
                o.print(&format!(" {role}"));
            }
            o.print("\n");
        }
        AuthResult::UserList(resp) => {
            for user in &resp.users {
                o.println(user);
            }
        }
        AuthResult::UserChangePassword(_) => o.println("Password updated"),
        AuthResult::UserGrantRole(user, role, _) => {
            o.println(&format!("Role {role} is granted to user {user}"))
        }
        AuthResult::UserRevokeRole(user, role, _) => {
            o.println(&format!("Role {role} is revoked from user {user}"))
        }
        AuthResult::UserDelete(user, _) => o.println(&format!("User {user} deleted")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &[u8], v: &[u8]) -> KeyValue {
        KeyValue {
            key: k.to_vec(),
            value: v.to_vec(),
            ..Default::default()
        }
    }

    fn out(f: impl FnOnce(&mut Out)) -> String {
        let mut o = Out::new();
        f(&mut o);
        String::from_utf8(o.stdout).unwrap()
    }

    #[test]
    fn get_and_hex() {
        let r = RangeResponse {
            kvs: vec![kv(b"foo", b"bar")],
            ..Default::default()
        };
        assert_eq!(
            out(|o| SimplePrinter::new(false, false).get(o, &r).unwrap()),
            "foo\nbar\n"
        );
        assert_eq!(
            out(|o| SimplePrinter::new(false, true).get(o, &r).unwrap()),
            "bar\n"
        );
        assert_eq!(
            out(|o| SimplePrinter::new(true, false).get(o, &r).unwrap()),
            "\\x66\\x6f\\x6f\n\\x62\\x61\\x72\n"
        );
    }

    #[test]
    fn txn_lists_each_response() {
        let r = TxnResponse {
            succeeded: true,
            responses: vec![
                etcd_proto::etcdserverpb::ResponseOp {
                    response: Some(response_op::Response::ResponsePut(PutResponse::default())),
                },
                etcd_proto::etcdserverpb::ResponseOp {
                    response: Some(response_op::Response::ResponseRange(RangeResponse {
                        kvs: vec![kv(b"k", b"v")],
                        ..Default::default()
                    })),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            out(|o| SimplePrinter::new(false, false).txn(o, &r).unwrap()),
            "SUCCESS\n\nOK\n\nk\nv\n"
        );
    }

    #[test]
    fn lease_lines() {
        let r = LeaseTimeToLiveResponse {
            id: 0x390da20ad4fa0715,
            ttl: 99,
            granted_ttl: 100,
            keys: vec![b"k1".to_vec()],
            ..Default::default()
        };
        assert_eq!(
            out(|o| SimplePrinter::new(false, false)
                .time_to_live(o, &r, true)
                .unwrap()),
            "lease 390da20ad4fa0715 granted with TTL(100s), remaining(99s), attached keys([k1])\n"
        );
    }
}
