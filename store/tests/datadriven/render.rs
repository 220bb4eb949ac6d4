//! Rendering results as the scripts expect them.

use std::fmt::Write as _;

use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    DeleteRangeResponse, PutResponse, RangeResponse, ResponseHeader, TxnResponse,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::KeyValue;
use etcd_store::{Applied, RevisionEvents, Store, StoreError};

// ---------------------------------------------------------------------------
// Rendering results
// ---------------------------------------------------------------------------

pub(crate) fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

pub(crate) fn fmt_kv(kv: &KeyValue) -> String {
    let mut s = format!(
        "{}=\"{}\" create={} mod={} ver={}",
        esc(&kv.key),
        esc(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version
    );
    if kv.lease != 0 {
        write!(s, " lease={}", kv.lease).unwrap();
    }
    s
}

pub(crate) fn rev_of(h: &Option<ResponseHeader>) -> String {
    match h {
        None => "none".into(),
        Some(h) => {
            assert_eq!((h.cluster_id, h.member_id, h.raft_term), (0, 0, 0));
            h.revision.to_string()
        }
    }
}

pub(crate) fn render_applied(r: Result<Applied, StoreError>) -> Vec<String> {
    match r {
        Err(e) => vec![format!("error: {e}")],
        Ok(Applied::Nothing) => vec!["nothing".into()],
        Ok(Applied::Put(p)) => render_put(&p),
        Ok(Applied::DeleteRange(d)) => render_del(&d),
        Ok(Applied::Txn(t)) => render_txn(&t),
        Ok(Applied::Compaction(c)) => vec![format!("rev={}", rev_of(&c.header))],
        Ok(Applied::LeaseGrant(g)) => vec![format!(
            "id={} ttl={} rev={}{}",
            g.id,
            g.ttl,
            rev_of(&g.header),
            if g.error.is_empty() {
                String::new()
            } else {
                format!(" error={}", g.error)
            }
        )],
        Ok(Applied::LeaseRevoke(r)) => vec![format!("rev={}", rev_of(&r.header))],
        Ok(Applied::Alarm(a)) => {
            let mut out = vec![format!("rev={}", rev_of(&a.header))];
            for m in &a.alarms {
                out.push(format!("alarm member={} type={}", m.member_id, m.alarm));
            }
            out
        }
        Ok(Applied::Auth { auth_revision }) => vec![format!("auth_revision={auth_revision}")],
        Ok(Applied::Authenticated { user, token }) => {
            vec![format!("authenticated user={user} token={token}")]
        }
    }
}

pub(crate) fn render_put(p: &PutResponse) -> Vec<String> {
    let mut out = vec![format!("rev={}", rev_of(&p.header))];
    if let Some(prev) = &p.prev_kv {
        out.push(format!("prev_kv: {}", fmt_kv(prev)));
    }
    out
}

pub(crate) fn render_del(d: &DeleteRangeResponse) -> Vec<String> {
    let mut out = vec![format!("rev={} deleted={}", rev_of(&d.header), d.deleted)];
    for kv in &d.prev_kvs {
        out.push(format!("prev_kv: {}", fmt_kv(kv)));
    }
    out
}

pub(crate) fn render_range(r: &RangeResponse) -> Vec<String> {
    let mut out = vec![format!(
        "rev={} count={} more={}",
        rev_of(&r.header),
        r.count,
        r.more
    )];
    out.extend(r.kvs.iter().map(fmt_kv));
    out
}

pub(crate) fn render_txn(t: &TxnResponse) -> Vec<String> {
    let mut out = vec![format!(
        "succeeded={} rev={}",
        t.succeeded,
        rev_of(&t.header)
    )];
    for r in &t.responses {
        let (label, lines) = match &r.response {
            Some(Response::ResponsePut(p)) => ("put", render_put(p)),
            Some(Response::ResponseRange(g)) => ("get", render_range(g)),
            Some(Response::ResponseDeleteRange(d)) => ("del", render_del(d)),
            Some(Response::ResponseTxn(t)) => ("txn", render_txn(t)),
            None => ("none", vec![String::new()]),
        };
        out.push(format!("{label}: {}", lines[0]));
        out.extend(lines[1..].iter().map(|l| format!("  {l}")));
    }
    out
}

pub(crate) fn render_events(evs: &[RevisionEvents]) -> Vec<String> {
    let mut out = Vec::new();
    for rev in evs {
        out.push(format!("rev={}", rev.revision));
        for e in &rev.events {
            let kind = match EventType::try_from(e.r#type) {
                Ok(EventType::Put) => "PUT",
                Ok(EventType::Delete) => "DELETE",
                Err(_) => "?",
            };
            let kv = e.kv.as_ref().map_or("none".into(), fmt_kv);
            out.push(format!("  {kind} {kv}"));
            if let Some(prev) = &e.prev_kv {
                out.push(format!("    prev_kv: {}", fmt_kv(prev)));
            }
        }
    }
    out
}

pub(crate) fn render_leases(store: &Store) -> Vec<String> {
    let leases = store.leases();
    if leases.is_empty() {
        return vec!["no leases".into()];
    }
    leases
        .into_iter()
        .map(|(id, ttl)| {
            let entry = store.lease(id).expect("listed lease exists");
            assert_eq!(entry.ttl, ttl);
            let keys: Vec<String> = entry.keys.iter().map(|k| esc(k)).collect();
            format!("lease {id} ttl={ttl} keys=[{}]", keys.join(" "))
        })
        .collect()
}
