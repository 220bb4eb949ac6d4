//! `-w fields`: one `"Name" : value` line per response field, the format
//! etcdctl meant for scripts. A missing header crashes the Go printer (nil
//! dereference); that crash is reproduced as a Go-style panic.

use etcd_proto::etcdserverpb::{
    response_op, AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberListResponse,
    PutResponse, RangeResponse, ResponseHeader, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

use super::{
    alarm_name, event_type_name, AuthResult, DbStatus, EpHashKv, EpHealth, EpStatus, Out, Printer,
    WatchResp,
};
use crate::v3::error::{CtlError, CtlResult};
use crate::v3::gofmt::{go_string_slice, quote};

/// The fields printer.
pub struct FieldsPrinter;

fn kv(o: &mut Out, pfx: &str, kv: &KeyValue) {
    o.println(&format!("\"{pfx}Key\" : {}", quote(&kv.key)));
    o.println(&format!("\"{pfx}CreateRevision\" : {}", kv.create_revision));
    o.println(&format!("\"{pfx}ModRevision\" : {}", kv.mod_revision));
    o.println(&format!("\"{pfx}Version\" : {}", kv.version));
    o.println(&format!("\"{pfx}Value\" : {}", quote(&kv.value)));
    o.println(&format!("\"{pfx}Lease\" : {}", kv.lease));
}

fn hdr(o: &mut Out, h: &Option<ResponseHeader>) -> CtlResult {
    let h = h.as_ref().ok_or_else(CtlError::nil_deref)?;
    o.println(&format!("\"ClusterID\" : {}", h.cluster_id));
    o.println(&format!("\"MemberID\" : {}", h.member_id));
    o.println(&format!("\"Revision\" : {}", h.revision));
    o.println(&format!("\"RaftTerm\" : {}", h.raft_term));
    Ok(())
}

/// The Go name of a permission type (`READ`, `WRITE`, `READWRITE`).
fn perm_type_name(t: i32) -> String {
    etcd_proto::authpb::permission::Type::try_from(t)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| t.to_string())
}

impl Printer for FieldsPrinter {
    fn format(&self) -> &'static str {
        "fields"
    }

    fn auth(&self, o: &mut Out, r: &AuthResult) -> CtlResult {
        if matches!(r, AuthResult::UserGet(..) | AuthResult::UserList(_)) {
            return self.unsupported();
        }
        hdr(o, r.header())?;
        match r {
            AuthResult::RoleGet(_, resp) => {
                for p in &resp.perm {
                    o.println(&format!("\"PermType\" :  {}", perm_type_name(p.perm_type)));
                    o.println(&format!("\"Key\" : {}", quote(&p.key)));
                    o.println(&format!("\"RangeEnd\" : {}", quote(&p.range_end)));
                }
            }
            AuthResult::RoleList(resp) => {
                o.print("\"Roles\" :");
                for role in &resp.roles {
                    o.print(&format!(" {}", quote(role.as_bytes())));
                }
                o.print("\n");
            }
            _ => {}
        }
        Ok(())
    }

    fn del(&self, o: &mut Out, r: &DeleteRangeResponse) -> CtlResult {
        hdr(o, &r.header)?;
        o.println(&format!("\"Deleted\" : {}", r.deleted));
        for p in &r.prev_kvs {
            kv(o, "Prev", p);
        }
        Ok(())
    }

    fn get(&self, o: &mut Out, r: &RangeResponse) -> CtlResult {
        hdr(o, &r.header)?;
        for k in &r.kvs {
            kv(o, "", k);
        }
        o.println(&format!("\"More\" : {}", r.more));
        o.println(&format!("\"Count\" : {}", r.count));
        Ok(())
    }

    fn put(&self, o: &mut Out, r: &PutResponse) -> CtlResult {
        hdr(o, &r.header)?;
        if let Some(p) = &r.prev_kv {
            kv(o, "Prev", p);
        }
        Ok(())
    }

    fn txn(&self, o: &mut Out, r: &TxnResponse) -> CtlResult {
        hdr(o, &r.header)?;
        o.println(&format!("\"Succeeded\" : {}", r.succeeded));
        for op in &r.responses {
            match &op.response {
                Some(response_op::Response::ResponseDeleteRange(d)) => self.del(o, d)?,
                Some(response_op::Response::ResponsePut(p)) => self.put(o, p)?,
                Some(response_op::Response::ResponseRange(g)) => self.get(o, g)?,
                other => {
                    let text = format!("{other:?}");
                    o.println(&format!("\"Unknown\" : {}", quote(text.as_bytes())));
                }
            }
        }
        Ok(())
    }

    fn watch(&self, o: &mut Out, r: &WatchResp) -> CtlResult {
        hdr(o, &Some(r.header))?;
        for e in &r.events {
            o.println(&format!("\"Type\" : {}", event_type_name(e.r#type)));
            if let Some(p) = &e.prev_kv {
                kv(o, "Prev", p);
            }
            kv(o, "", &e.kv.clone().unwrap_or_default());
        }
        Ok(())
    }

    fn grant(&self, o: &mut Out, r: &LeaseGrantResponse) -> CtlResult {
        hdr(o, &r.header)?;
        o.println(&format!("\"ID\" : {}", r.id));
        o.println(&format!("\"TTL\" : {}", r.ttl));
        Ok(())
    }

    fn revoke(&self, o: &mut Out, _id: i64, r: &LeaseRevokeResponse) -> CtlResult {
        hdr(o, &r.header)
    }

    fn keep_alive(&self, o: &mut Out, r: &LeaseKeepAliveResponse) -> CtlResult {
        hdr(o, &r.header)?;
        o.println(&format!("\"ID\" : {}", r.id));
        o.println(&format!("\"TTL\" : {}", r.ttl));
        Ok(())
    }

    fn time_to_live(&self, o: &mut Out, r: &LeaseTimeToLiveResponse, _keys: bool) -> CtlResult {
        hdr(o, &r.header)?;
        o.println(&format!("\"ID\" : {}", r.id));
        o.println(&format!("\"TTL\" : {}", r.ttl));
        o.println(&format!("\"GrantedTTL\" : {}", r.granted_ttl));
        for k in &r.keys {
            o.println(&format!("\"Key\" : {}", quote(k)));
        }
        Ok(())
    }

    fn leases(&self, o: &mut Out, r: &LeaseLeasesResponse) -> CtlResult {
        hdr(o, &r.header)?;
        for l in &r.leases {
            o.println(&format!("\"ID\" : {}", l.id));
        }
        Ok(())
    }

    fn member_list(&self, o: &mut Out, r: &MemberListResponse) -> CtlResult {
        hdr(o, &r.header)?;
        for m in &r.members {
            o.println(&format!("\"ID\" : {}", m.id));
            o.println(&format!("\"Name\" : {}", quote(m.name.as_bytes())));
            for u in &m.peer_ur_ls {
                o.println(&format!("\"PeerURL\" : {}", quote(u.as_bytes())));
            }
            for u in &m.client_ur_ls {
                o.println(&format!("\"ClientURL\" : {}", quote(u.as_bytes())));
            }
            o.println(&format!("\"IsLearner\" : {}", m.is_learner));
            o.println("");
        }
        Ok(())
    }

    fn endpoint_health(&self, o: &mut Out, r: &[EpHealth]) -> CtlResult {
        for h in r {
            o.println(&format!("\"Endpoint\" : {}", quote(h.ep.as_bytes())));
            o.println(&format!("\"Health\" : {}", h.health));
            o.println(&format!("\"Took\" : {}", h.took));
            o.println(&format!("\"Error\" : {}", h.error));
            o.println("");
        }
        Ok(())
    }

    fn endpoint_status(&self, o: &mut Out, r: &[EpStatus]) -> CtlResult {
        for s in r {
            hdr(o, &s.resp.header)?;
            o.println(&format!(
                "\"Version\" : {}",
                quote(s.resp.version.as_bytes())
            ));
            o.println(&format!("\"DBSize\" : {}", s.resp.db_size));
            o.println(&format!("\"Leader\" : {}", s.resp.leader));
            o.println(&format!("\"IsLearner\" : {}", s.resp.is_learner));
            o.println(&format!("\"RaftIndex\" : {}", s.resp.raft_index));
            o.println(&format!("\"RaftTerm\" : {}", s.resp.raft_term));
            o.println(&format!(
                "\"RaftAppliedIndex\" : {}",
                s.resp.raft_applied_index
            ));
            o.println(&format!("\"Errors\" : {}", go_string_slice(&s.resp.errors)));
            o.println(&format!("\"Endpoint\" : {}", quote(s.ep.as_bytes())));
            o.println("");
        }
        Ok(())
    }

    fn endpoint_hashkv(&self, o: &mut Out, r: &[EpHashKv]) -> CtlResult {
        for h in r {
            hdr(o, &h.resp.header)?;
            o.println(&format!("\"Endpoint\" : {}", quote(h.ep.as_bytes())));
            o.println(&format!("\"Hash\" : {}", h.resp.hash));
            o.println("");
        }
        Ok(())
    }

    fn alarm(&self, o: &mut Out, r: &AlarmResponse) -> CtlResult {
        hdr(o, &r.header)?;
        for a in &r.alarms {
            o.println(&format!("\"MemberID\" : {}", a.member_id));
            o.println(&format!("\"AlarmType\" : {}", alarm_name(a.alarm)));
            o.println("");
        }
        Ok(())
    }

    fn db_status(&self, o: &mut Out, r: &DbStatus) -> CtlResult {
        o.println(&format!("\"Hash\" : {}", r.hash));
        o.println(&format!("\"Revision\" : {}", r.revision));
        o.println(&format!("\"Keys\" : {}", r.total_key));
        o.println(&format!("\"Size\" : {}", r.total_size));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_fields() {
        let r = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 3,
                raft_term: 4,
            }),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                value: b"b\"r".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        let mut o = Out::new();
        FieldsPrinter.get(&mut o, &r).unwrap();
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            "\"ClusterID\" : 1\n\"MemberID\" : 2\n\"Revision\" : 3\n\"RaftTerm\" : 4\n\
             \"Key\" : \"foo\"\n\"CreateRevision\" : 2\n\"ModRevision\" : 2\n\"Version\" : 1\n\
             \"Value\" : \"b\\\"r\"\n\"Lease\" : 0\n\"More\" : false\n\"Count\" : 1\n"
        );
    }

    #[test]
    fn missing_header_is_a_go_panic() {
        let mut o = Out::new();
        let err = FieldsPrinter
            .alarm(&mut o, &AlarmResponse::default())
            .unwrap_err();
        assert_eq!(err.code, 2);
    }
}
