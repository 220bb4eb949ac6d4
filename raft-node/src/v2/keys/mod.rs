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
use etcd_proto::etcdserverpb::RangeRequest;
use etcd_proto::mvccpb::KeyValue;
use percent_encoding::percent_decode_str;

use super::credentials::{Caller, Unauthorized};
use super::error::{self as e, V2Error};
use super::form::{Form, KeyParams};
use super::node::{
    self, ancestors, clean, descendants, is_hidden_name, parent, v3_key, EventJson, Node, NodeJson,
};
use super::{json_line, V2};
use crate::error::ServerError;

mod write;

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
            .range_local(&req)
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
        self.server.range_local(&req).is_ok_and(|r| r.count > 0)
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
        let rev = self.server.current_revision();
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
