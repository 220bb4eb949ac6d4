//! `/v2/keys`: GET (with `wait` handed to [`super::watch`]), PUT, POST and
//! DELETE, deciding as etcd's v2 store does and writing through v3 txns.
//!
//! A write reads the rows it depends on (after a read barrier), builds a
//! [`Plan`] (the txn's compares and operations, and what to answer), and
//! proposes it. The compares pin every row the decision was made from, so
//! a txn that fails its compares means another write came first: read and
//! decide again (bounded).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_proto::mvccpb::KeyValue;
use etcd_store::{Applied, StoreError};
use percent_encoding::percent_decode_str;
use prost::Message;

use super::credentials::{Caller, Unauthorized};
use super::error::{self as e, V2Error};
use super::form::{Form, KeyParams};
use super::node::{
    self, ancestors, clean, descendants, encode, is_hidden_name, parent, v3_key, EventJson, Node,
    NodeJson, EVENT_KEY,
};
use super::{json_line, V2};
use crate::error::ServerError;

/// How often a write is decided again after losing a race.
const MAX_ATTEMPTS: usize = 16;
/// Largest form body accepted.
const MAX_BODY: usize = 4 << 20;

pub async fn handle(State(v2): State<Arc<V2>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let raw = req.uri().path().strip_prefix("/v2/keys").unwrap_or("/");
    let path = clean(&percent_decode_str(raw).decode_utf8_lossy());
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let body = if method == "PUT" || method == "POST" {
        match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
            Ok(b) => b.to_vec(),
            Err(_) => return v2.error_response(&V2Error::request(e::INVALID_FORM, "invalid form")),
        }
    } else {
        Vec::new()
    };
    let form = Form::parse(&query, &body);
    let params = match KeyParams::parse(&form, &method) {
        Ok(p) => p,
        Err(err) => return v2.error_response(&err),
    };
    let reading = matches!(method.as_str(), "GET" | "HEAD");
    let caller = match v2.caller(&headers).await {
        Ok(c) => c,
        Err(Unauthorized) => return v2.error_response(&unauthorized()),
    };
    if !v2.may_key_request(&caller, &method, &path, &params) {
        return v2.error_response(&unauthorized());
    }
    match method.as_str() {
        "GET" | "HEAD" if params.wait => {
            super::watch::wait(v2, path, params.recursive, params.wait_index, params.stream).await
        }
        _ if reading => v2.get(&caller, &path, &params).await,
        "PUT" | "POST" | "DELETE" => v2.write(&caller, &method, &path, &params).await,
        _ => {
            let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
            resp.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE"),
            );
            resp
        }
    }
}

/// etcd's answer to missing, wrong or insufficient credentials.
fn unauthorized() -> V2Error {
    V2Error::request(e::UNAUTHORIZED, "Insufficient credentials")
}

impl V2 {
    /// The permission check of a keys request, before it looks at the
    /// store (see [`super::credentials`]): reads need read on the node,
    /// writes write; recursive reads, waits and deletes need the whole
    /// subtree; POST creates a node below `path`, so it needs write there;
    /// compare-and-swap/delete also read the node they compare.
    fn may_key_request(&self, caller: &Caller, method: &str, path: &str, p: &KeyParams) -> bool {
        match method {
            "GET" | "HEAD" => self.may_tree(caller, path, p.recursive, false),
            "POST" => self.may_node(caller, path, true) && self.may_below(caller, path, true),
            "PUT" | "DELETE" => {
                let compares = p.prev_index > 0 || p.prev_value.is_some();
                let recursive = method == "DELETE" && p.recursive;
                self.may_tree(caller, path, recursive, true)
                    && (!compares || self.may_node(caller, path, false))
            }
            _ => true,
        }
    }
}

fn internal(err: ServerError) -> V2Error {
    match err {
        ServerError::NoLeader => V2Error::new(e::LEADER_ELECT, err.to_string(), 0),
        other => V2Error::new(e::RAFT_INTERNAL, other.to_string(), 0),
    }
}

/// Reads of the v2 tree at one revision.
impl V2 {
    fn range_at(&self, key: Vec<u8>, end: Vec<u8>, rev: i64) -> Vec<KeyValue> {
        let req = RangeRequest {
            key,
            range_end: end,
            revision: rev,
            ..Default::default()
        };
        self.server
            .store
            .range(&req)
            .map(|r| r.kvs)
            .unwrap_or_default()
    }

    fn lookup(&self, path: &str, rev: i64) -> Option<Node> {
        if path == "/" {
            return Some(root());
        }
        self.range_at(v3_key(path), Vec::new(), rev)
            .first()
            .and_then(Node::from_kv)
    }

    /// The node at `path`, or etcd's error for the first missing (100) or
    /// file (104) segment on the way.
    fn existing(&self, path: &str, rev: i64) -> Result<Node, V2Error> {
        if let Some(n) = self.lookup(path, rev) {
            return Ok(n);
        }
        for a in ancestors(path) {
            match self.lookup(a, rev) {
                None => return Err(V2Error::new(e::KEY_NOT_FOUND, a, rev)),
                Some(n) if !n.dir => return Err(V2Error::new(e::NOT_DIR, a, rev)),
                Some(_) => {}
            }
        }
        Err(V2Error::new(e::KEY_NOT_FOUND, path, rev))
    }

    fn has_children(&self, path: &str, rev: i64) -> bool {
        let (start, end) = descendants(path);
        let req = RangeRequest {
            key: start,
            range_end: end,
            revision: rev,
            limit: 1,
            count_only: true,
            ..Default::default()
        };
        self.server.store.range(&req).is_ok_and(|r| r.count > 0)
    }

    /// `path` as shown by GET: a file, or a directory with its children
    /// (all levels when `recursive`), hidden nodes left out, sorted by key.
    fn tree(&self, n: &Node, recursive: bool, rev: i64, now: i64) -> NodeJson {
        let mut json = n.json(now);
        if !n.dir {
            return json;
        }
        let (start, end) = descendants(&n.path);
        let mut by_parent: BTreeMap<String, Vec<Node>> = BTreeMap::new();
        for kv in self.range_at(start, end, rev) {
            if let Some(child) = Node::from_kv(&kv) {
                if is_hidden_name(&child.path) {
                    continue;
                }
                by_parent
                    .entry(parent(&child.path).to_string())
                    .or_default()
                    .push(child);
            }
        }
        json.nodes = children_json(&n.path, &by_parent, recursive, now);
        json
    }

    async fn get(&self, caller: &Caller, path: &str, p: &KeyParams) -> Response {
        if p.quorum {
            if let Err(err) = self.server.read_barrier().await {
                return self.error_response(&internal(err));
            }
        }
        let rev = self.server.store.current_revision();
        let now = node::now_nanos();
        match self.existing(path, rev) {
            // A directory shows its children's values: they must be
            // readable too.
            Ok(n) if n.dir && !p.recursive && !self.may_below(caller, path, false) => {
                self.error_response(&unauthorized())
            }
            Ok(n) => {
                self.stats.count("get", true);
                let event = EventJson {
                    action: "get".into(),
                    node: Some(self.tree(&n, p.recursive, rev, now)),
                    prev_node: None,
                };
                self.keys_response(StatusCode::OK, rev, Body::from(json_line(&event)))
            }
            Err(err) => {
                self.stats.count("get", false);
                self.error_response(&err)
            }
        }
    }
}

fn root() -> Node {
    Node {
        path: "/".into(),
        dir: true,
        value: String::new(),
        created: 0,
        modified: 0,
        expires: 0,
        lease: 0,
        revision: 0,
    }
}

fn children_json(
    dir: &str,
    by_parent: &BTreeMap<String, Vec<Node>>,
    recursive: bool,
    now: i64,
) -> Option<Vec<NodeJson>> {
    let kids = by_parent.get(dir)?;
    let mut out: Vec<NodeJson> = kids
        .iter()
        .map(|k| {
            let mut j = k.json(now);
            if recursive && k.dir {
                j.nodes = children_json(&k.path, by_parent, recursive, now);
            }
            j
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    (!out.is_empty()).then_some(out)
}

/// What a write will do and answer.
#[derive(Debug, Default)]
struct Plan {
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

fn cmp(key: Vec<u8>, target: CompareTarget, union: TargetUnion) -> Compare {
    Compare {
        key,
        target: target as i32,
        result: CompareResult::Equal as i32,
        target_union: Some(union),
        ..Default::default()
    }
}

fn cmp_mod(path: &str, rev: i64) -> Compare {
    cmp(
        v3_key(path),
        CompareTarget::Mod,
        TargetUnion::ModRevision(rev),
    )
}

fn cmp_absent(path: &str) -> Compare {
    cmp(
        v3_key(path),
        CompareTarget::Create,
        TargetUnion::CreateRevision(0),
    )
}

fn put_op(key: Vec<u8>, value: Vec<u8>, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestPut(PutRequest {
            key,
            value,
            lease,
            ..Default::default()
        })),
    }
}

fn del_op(key: Vec<u8>, range_end: Vec<u8>) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestDeleteRange(DeleteRangeRequest {
            key,
            range_end,
            ..Default::default()
        })),
    }
}

/// etcd's compare of prevValue/prevIndex against a node.
fn check_prev(n: &Node, pv: Option<&str>, pi: u64, rev: i64) -> Result<(), V2Error> {
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
enum Kind {
    Set,
    Create { unique: bool },
    Update,
    CompareAndSwap,
    Delete,
    CompareAndDelete,
}

impl Kind {
    fn of(method: &str, p: &KeyParams) -> Kind {
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

    fn action(self) -> &'static str {
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
    async fn write(&self, caller: &Caller, method: &str, path: &str, p: &KeyParams) -> Response {
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

    async fn write_kind(
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
            let rev = self.server.store.current_revision();
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
    async fn grant(&self, ttl: i64) -> Result<i64, V2Error> {
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
    fn ensure_parents(&self, plan: &mut Plan, path: &str, rev: i64) -> Result<i64, V2Error> {
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

    fn plan_set(
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

    fn plan_create(
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

    fn parent_lease(&self, path: &str, rev: i64) -> i64 {
        self.lookup(parent(path), rev).map_or(0, |n| n.lease)
    }

    fn plan_update(
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

    fn plan_delete(&self, path: &str, p: &KeyParams, rev: i64) -> Result<Plan, V2Error> {
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

    fn plan_cad(&self, path: &str, p: &KeyParams, rev: i64) -> Result<Plan, V2Error> {
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
    fn answer(&self, plan: Plan, rev: i64, no_value_on_success: bool, show_prev: bool) -> Response {
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
