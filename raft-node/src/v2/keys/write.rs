//! The write path of `/v2/keys`: a PUT, POST or DELETE decided as etcd's v2
//! store decides it, into a [`Plan`] (the v3 txn's compares and operations,
//! and the answer), proposed and retried while another write came first.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RequestOp, TxnRequest,
};
use etcd_store::{Applied, StoreError};
use prost::Message;

use crate::error::ServerError;
use crate::v2::credentials::Caller;
use crate::v2::error::{self as e, V2Error};
use crate::v2::form::KeyParams;
use crate::v2::node::{
    self, ancestors, descendants, encode, parent, v3_key, EventJson, Node, NodeJson, EVENT_KEY,
};
use crate::v2::{json_line, V2};

use super::*;

/// What a write will do and answer.
#[derive(Debug, Default)]
pub(super) struct Plan {
    compares: Vec<Compare>,
    ops: Vec<RequestOp>,
    action: &'static str,
    path: String,
    refresh: bool,
    /// The node's createdIndex when kept; `None`: the write's revision.
    created: Option<i64>,
    dir: bool,
    value: String,
    expires: i64,
    prev: Option<Node>,
    deleted: bool,
}

pub(super) fn cmp(key: Vec<u8>, target: CompareTarget, union: TargetUnion) -> Compare {
    Compare {
        key,
        target: target as i32,
        result: CompareResult::Equal as i32,
        target_union: Some(union),
        ..Default::default()
    }
}

pub(super) fn cmp_mod(path: &str, rev: i64) -> Compare {
    cmp(
        v3_key(path),
        CompareTarget::Mod,
        TargetUnion::ModRevision(rev),
    )
}

pub(super) fn cmp_absent(path: &str) -> Compare {
    cmp(
        v3_key(path),
        CompareTarget::Create,
        TargetUnion::CreateRevision(0),
    )
}

pub(super) fn put_op(key: Vec<u8>, value: Vec<u8>, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestPut(PutRequest {
            key,
            value,
            lease,
            ..Default::default()
        })),
    }
}

pub(super) fn del_op(key: Vec<u8>, range_end: Vec<u8>) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestDeleteRange(DeleteRangeRequest {
            key,
            range_end,
            ..Default::default()
        })),
    }
}

/// etcd's compare of prevValue/prevIndex against a node.
pub(super) fn check_prev(n: &Node, pv: Option<&str>, pi: u64, rev: i64) -> Result<(), V2Error> {
    let index_ok = pi == 0 || n.modified as u64 == pi;
    let value_ok = pv.is_none_or(|v| v == n.value);
    let pv = pv.unwrap_or("");
    let cause = match (value_ok, index_ok) {
        (true, true) => return Ok(()),
        (true, false) => format!("[{pi} != {}]", n.modified),
        (false, true) => format!("[{pv} != {}]", n.value),
        (false, false) => format!("[{pv} != {}] [{pi} != {}]", n.value, n.modified),
    };
    Err(V2Error::new(e::TEST_FAILED, cause, rev))
}

/// Which v2 store operation a request is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    Set,
    Create { unique: bool },
    Update,
    CompareAndSwap,
    Delete,
    CompareAndDelete,
}

impl Kind {
    pub(super) fn of(method: &str, p: &KeyParams) -> Kind {
        let has_prev = p.prev_index > 0 || p.prev_value.is_some();
        match method {
            "POST" => Kind::Create { unique: true },
            "DELETE" if has_prev => Kind::CompareAndDelete,
            "DELETE" => Kind::Delete,
            _ => match p.prev_exist {
                Some(true) if !has_prev => Kind::Update,
                Some(true) => Kind::CompareAndSwap,
                Some(false) => Kind::Create { unique: false },
                None if has_prev => Kind::CompareAndSwap,
                None => Kind::Set,
            },
        }
    }

    pub(super) fn action(self) -> &'static str {
        match self {
            Kind::Set => "set",
            Kind::Create { .. } => "create",
            Kind::Update => "update",
            Kind::CompareAndSwap => "compareAndSwap",
            Kind::Delete => "delete",
            Kind::CompareAndDelete => "compareAndDelete",
        }
    }
}

impl V2 {
    pub(super) async fn write(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
        p: &KeyParams,
    ) -> Response {
        let kind = Kind::of(method, p);
        match self.write_kind(kind, path, p).await {
            Ok((plan, rev)) => {
                self.stats.count(kind.action(), true);
                // The previous value is a read: left out for writers who
                // may not read the node.
                let show_prev = self.may_node(caller, &plan.path, false);
                self.answer(plan, rev, p.no_value_on_success, show_prev)
            }
            Err(err) => {
                self.stats.count(kind.action(), false);
                self.error_response(&err)
            }
        }
    }

    pub(super) async fn write_kind(
        &self,
        kind: Kind,
        path: &str,
        p: &KeyParams,
    ) -> Result<(Plan, i64), V2Error> {
        let now = node::now_nanos();
        let takes_ttl = !matches!(kind, Kind::Delete | Kind::CompareAndDelete);
        let (lease, expires) = match p.ttl {
            Some(ttl) if takes_ttl => {
                let ttl = ttl.min(i64::MAX as u64 / 2_000_000_000) as i64;
                (self.grant(ttl).await?, now + ttl * 1_000_000_000)
            }
            _ => (0, 0),
        };
        let mut last_rev = 0;
        for _ in 0..MAX_ATTEMPTS {
            self.server.read_barrier().await.map_err(internal)?;
            let rev = self.server.current_revision();
            last_rev = rev;
            let plan = match kind {
                Kind::Set => self.plan_set(path, p, lease, expires, rev)?,
                Kind::Create { unique } => {
                    self.plan_create(path, p, unique, lease, expires, rev)?
                }
                Kind::Update | Kind::CompareAndSwap => {
                    self.plan_update(kind, path, p, lease, expires, rev)?
                }
                Kind::Delete => self.plan_delete(path, p, rev)?,
                Kind::CompareAndDelete => self.plan_cad(path, p, rev)?,
            };
            let mut success = plan.ops.clone();
            let flags = if plan.refresh { "refresh" } else { "" };
            success.push(put_op(
                EVENT_KEY.to_vec(),
                format!("{}\n{}\n{flags}", plan.action, plan.path).into_bytes(),
                0,
            ));
            let txn = TxnRequest {
                compare: plan.compares.clone(),
                success,
                failure: Vec::new(),
            };
            self.server
                .check_quota(txn.encoded_len())
                .await
                .map_err(internal)?;
            match self.server.propose(Op::Txn(txn)).await {
                Ok(Applied::Txn(resp)) if resp.succeeded => {
                    let rev = resp.header.map_or(rev + 1, |h| h.revision);
                    return Ok((plan, rev));
                }
                Ok(Applied::Txn(_)) => continue,
                Ok(_) => return Err(internal(ServerError::Internal("unexpected result".into()))),
                // The TTL's lease ran out before the write got in.
                Err(ServerError::Store(StoreError::LeaseNotFound)) => {
                    return Err(V2Error::new(e::KEY_NOT_FOUND, path, rev))
                }
                Err(err) => return Err(internal(err)),
            }
        }
        Err(V2Error::new(
            e::RAFT_INTERNAL,
            "too many concurrent writes",
            last_rev,
        ))
    }

    /// A lease for a TTL write.
    pub(super) async fn grant(&self, ttl: i64) -> Result<i64, V2Error> {
        let id = (self.server.next_id() & (i64::MAX as u64)) as i64;
        let req = LeaseGrantRequest {
            ttl: ttl.max(1),
            id,
        };
        match self.server.propose(Op::LeaseGrant(req)).await {
            Ok(Applied::LeaseGrant(r)) => Ok(r.id),
            Ok(_) => Err(internal(ServerError::Internal("unexpected result".into()))),
            Err(err) => Err(internal(err)),
        }
    }

    /// Creates missing parent directories (guarding existing ones) and
    /// returns the lease the new node inherits from its nearest leased
    /// ancestor.
    pub(super) fn ensure_parents(
        &self,
        plan: &mut Plan,
        path: &str,
        rev: i64,
    ) -> Result<i64, V2Error> {
        let mut inherited = 0;
        for a in ancestors(path) {
            match self.lookup(a, rev) {
                Some(n) if !n.dir => return Err(V2Error::new(e::NOT_DIR, a, rev)),
                Some(n) => {
                    plan.compares.push(cmp_mod(a, n.revision));
                    if n.lease != 0 {
                        inherited = n.lease;
                    }
                }
                None => {
                    plan.compares.push(cmp_absent(a));
                    plan.ops
                        .push(put_op(v3_key(a), encode(true, 0, 0, ""), inherited));
                }
            }
        }
        Ok(inherited)
    }

    pub(super) fn plan_set(
        &self,
        path: &str,
        p: &KeyParams,
        lease: i64,
        expires: i64,
        rev: i64,
    ) -> Result<Plan, V2Error> {
        if path == "/" {
            return Err(V2Error::new(e::ROOT_READ_ONLY, "/", rev));
        }
        let mut plan = Plan {
            action: "set",
            path: path.to_string(),
            dir: p.dir,
            value: p.value.clone(),
            expires,
            refresh: p.refresh,
            ..Default::default()
        };
        if p.refresh {
            plan.value = self.existing(path, rev)?.value;
        }
        let inherited = self.ensure_parents(&mut plan, path, rev)?;
        match self.lookup(path, rev) {
            Some(n) if n.dir => return Err(V2Error::new(e::NOT_FILE, path, rev)),
            Some(n) => {
                plan.compares.push(cmp_mod(path, n.revision));
                plan.prev = Some(n);
            }
            None => plan.compares.push(cmp_absent(path)),
        }
        let lease = if lease != 0 { lease } else { inherited };
        plan.ops.push(put_op(
            v3_key(path),
            encode(p.dir, 0, expires, &plan.value),
            lease,
        ));
        Ok(plan)
    }

    pub(super) fn plan_create(
        &self,
        path: &str,
        p: &KeyParams,
        unique: bool,
        lease: i64,
        expires: i64,
        rev: i64,
    ) -> Result<Plan, V2Error> {
        let path = if unique {
            // The name is the index this write expects to get; the compare
            // below keeps it unique if another write gets in first.
            let name = format!("{:020}", rev + 1);
            if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            }
        } else {
            path.to_string()
        };
        if path == "/" {
            return Err(V2Error::new(e::ROOT_READ_ONLY, "/", rev));
        }
        let mut plan = Plan {
            action: "create",
            path: path.clone(),
            dir: p.dir,
            value: p.value.clone(),
            expires,
            ..Default::default()
        };
        let inherited = self.ensure_parents(&mut plan, &path, rev)?;
        if self.lookup(&path, rev).is_some() {
            return Err(V2Error::new(e::NODE_EXIST, path, rev));
        }
        plan.compares.push(cmp_absent(&path));
        let lease = if lease != 0 { lease } else { inherited };
        plan.ops.push(put_op(
            v3_key(&path),
            encode(p.dir, 0, expires, &p.value),
            lease,
        ));
        Ok(plan)
    }

    pub(super) fn parent_lease(&self, path: &str, rev: i64) -> i64 {
        self.lookup(parent(path), rev).map_or(0, |n| n.lease)
    }

    pub(super) fn plan_update(
        &self,
        kind: Kind,
        path: &str,
        p: &KeyParams,
        lease: i64,
        expires: i64,
        rev: i64,
    ) -> Result<Plan, V2Error> {
        if path == "/" {
            return Err(V2Error::new(e::ROOT_READ_ONLY, "/", rev));
        }
        let n = self.existing(path, rev)?;
        if kind == Kind::CompareAndSwap {
            if n.dir {
                return Err(V2Error::new(e::NOT_FILE, path, rev));
            }
            check_prev(&n, p.prev_value.as_deref(), p.prev_index, rev)?;
        } else if n.dir && !p.value.is_empty() {
            return Err(V2Error::new(e::NOT_FILE, path, rev));
        }
        let value = if p.refresh {
            n.value.clone()
        } else {
            p.value.clone()
        };
        let lease = if lease != 0 {
            lease
        } else {
            self.parent_lease(path, rev)
        };
        Ok(Plan {
            compares: vec![cmp_mod(path, n.revision)],
            ops: vec![put_op(
                v3_key(path),
                if n.dir {
                    node::encode_kept_dir(n.created, expires, n.modified)
                } else {
                    encode(false, n.created, expires, &value)
                },
                lease,
            )],
            action: kind.action(),
            path: path.to_string(),
            refresh: p.refresh,
            created: Some(n.created),
            dir: n.dir,
            value,
            expires,
            prev: Some(n),
            deleted: false,
        })
    }

    pub(super) fn plan_delete(&self, path: &str, p: &KeyParams, rev: i64) -> Result<Plan, V2Error> {
        if path == "/" {
            return Err(V2Error::new(e::ROOT_READ_ONLY, "/", rev));
        }
        let n = self.existing(path, rev)?;
        let dir = p.dir || p.recursive;
        let mut plan = Plan {
            compares: vec![cmp_mod(path, n.revision)],
            ops: vec![del_op(v3_key(path), Vec::new())],
            action: "delete",
            path: path.to_string(),
            created: Some(n.created),
            dir: n.dir,
            deleted: true,
            ..Default::default()
        };
        if n.dir {
            if !dir {
                return Err(V2Error::new(e::NOT_FILE, path, rev));
            }
            let (start, end) = descendants(path);
            if p.recursive {
                plan.ops.push(del_op(start, end));
            } else if self.has_children(path, rev) {
                return Err(V2Error::new(e::DIR_NOT_EMPTY, path, rev));
            } else {
                let mut empty = cmp(start, CompareTarget::Create, TargetUnion::CreateRevision(0));
                empty.range_end = end;
                plan.compares.push(empty);
            }
        }
        plan.prev = Some(n);
        Ok(plan)
    }

    pub(super) fn plan_cad(&self, path: &str, p: &KeyParams, rev: i64) -> Result<Plan, V2Error> {
        if path == "/" {
            return Err(V2Error::new(e::ROOT_READ_ONLY, "/", rev));
        }
        let n = self.existing(path, rev)?;
        if n.dir {
            return Err(V2Error::new(e::NOT_FILE, path, rev));
        }
        check_prev(&n, p.prev_value.as_deref(), p.prev_index, rev)?;
        Ok(Plan {
            compares: vec![cmp_mod(path, n.revision)],
            ops: vec![del_op(v3_key(path), Vec::new())],
            action: "compareAndDelete",
            path: path.to_string(),
            created: Some(n.created),
            deleted: true,
            prev: Some(n),
            ..Default::default()
        })
    }

    /// The response to a committed write at revision `rev`.
    pub(super) fn answer(
        &self,
        plan: Plan,
        rev: i64,
        no_value_on_success: bool,
        show_prev: bool,
    ) -> Response {
        let now = node::now_nanos();
        let mut node = if plan.deleted {
            NodeJson {
                key: Some(plan.path.clone()),
                value: None,
                dir: plan.dir,
                expiration: None,
                ttl: 0,
                nodes: None,
                modified_index: rev,
                created_index: plan.created.unwrap_or(rev),
            }
        } else {
            Node {
                path: plan.path.clone(),
                dir: plan.dir,
                value: plan.value.clone(),
                created: plan.created.unwrap_or(rev),
                modified: rev,
                expires: plan.expires,
                lease: 0,
                revision: 0,
            }
            .json(now)
        };
        node.nodes = None;
        let created = plan.action == "create" || (plan.action == "set" && plan.prev.is_none());
        let mut event = EventJson {
            action: plan.action.to_string(),
            node: Some(node),
            prev_node: plan
                .prev
                .as_ref()
                .filter(|_| show_prev)
                .map(|n| n.json(now)),
        };
        if no_value_on_success && !plan.deleted {
            event.node = None;
            event.prev_node = None;
        }
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        self.keys_response(status, rev, Body::from(json_line(&event)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(value: &str, modified: i64) -> Node {
        Node {
            path: "/a".into(),
            dir: false,
            value: value.into(),
            created: 1,
            modified,
            expires: 0,
            lease: 0,
            revision: modified,
        }
    }

    #[test]
    fn compare_failure_causes() {
        let n = node("bar", 7);
        assert!(check_prev(&n, Some("bar"), 7, 9).is_ok());
        assert_eq!(
            check_prev(&n, Some("x"), 0, 9).unwrap_err().cause,
            "[x != bar]"
        );
        assert_eq!(check_prev(&n, None, 5, 9).unwrap_err().cause, "[5 != 7]");
        assert_eq!(
            check_prev(&n, Some("x"), 5, 9).unwrap_err().cause,
            "[x != bar] [5 != 7]"
        );
    }

    #[test]
    fn request_kinds() {
        let p = |pe: Option<bool>, pv: Option<&str>, pi: u64| KeyParams {
            prev_exist: pe,
            prev_value: pv.map(str::to_string),
            prev_index: pi,
            ..Default::default()
        };
        assert_eq!(Kind::of("PUT", &p(None, None, 0)), Kind::Set);
        assert_eq!(Kind::of("PUT", &p(Some(true), None, 0)), Kind::Update);
        assert_eq!(
            Kind::of("PUT", &p(Some(true), Some("a"), 0)),
            Kind::CompareAndSwap
        );
        assert_eq!(Kind::of("PUT", &p(None, None, 3)), Kind::CompareAndSwap);
        assert_eq!(
            Kind::of("PUT", &p(Some(false), Some("a"), 0)),
            Kind::Create { unique: false }
        );
        assert_eq!(
            Kind::of("POST", &p(None, None, 0)),
            Kind::Create { unique: true }
        );
        assert_eq!(
            Kind::of("DELETE", &p(None, Some("a"), 0)),
            Kind::CompareAndDelete
        );
        assert_eq!(Kind::of("DELETE", &p(None, None, 0)), Kind::Delete);
    }
}
