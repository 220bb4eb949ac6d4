//! `/v2/members` (list, add, remove, update peer URLs, leader),
//! `/v2/stats/{self,leader,store}` and `/v2/machines`, with etcd's shapes.
//! Membership changes go through the v3 cluster service, so they are the
//! same raft configuration changes as `etcdctl member ...`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use etcd_proto::etcdrs::{AuthInfo, MemberRecord};
use etcd_proto::etcdserverpb::{MemberAddRequest, MemberRemoveRequest, MemberUpdateRequest};
use serde::{Deserialize, Serialize};
use tonic::Code;

use super::credentials::Caller;
use super::node::{now_nanos, rfc3339_nano};
use super::V2;
use crate::error::ServerError;

#[derive(Serialize)]
struct MemberJson {
    id: String,
    name: String,
    #[serde(rename = "peerURLs")]
    peer_urls: Vec<String>,
    #[serde(rename = "clientURLs")]
    client_urls: Vec<String>,
}

fn member_json(m: &MemberRecord) -> MemberJson {
    MemberJson {
        id: format!("{:x}", m.id),
        name: m.name.clone(),
        peer_urls: m.peer_urls.clone(),
        client_urls: m.client_urls.clone(),
    }
}

#[derive(Deserialize)]
struct PeerUrls {
    #[serde(rename = "peerURLs")]
    peer_urls: Vec<String>,
}

fn message(v2: &V2, status: StatusCode, msg: &str) -> Response {
    let body = serde_json::json!({ "message": msg }).to_string();
    v2.json_response(status, body)
}

fn status_message(v2: &V2, status: tonic::Status) -> Response {
    let msg = status.message().trim_start_matches("etcdserver: ");
    let code = match status.code() {
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition if msg.contains("already exists") => StatusCode::CONFLICT,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    message(v2, code, msg)
}

/// The JSON body of an add or update, if well formed.
/// Errors are (status, message).
fn peer_urls(headers: &HeaderMap, body: &Bytes) -> Result<Vec<String>, (StatusCode, String)> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().map(str::trim) == Some("application/json"));
    if !json {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Bad Content-Type".into(),
        ));
    }
    let req: PeerUrls =
        serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    for u in &req.peer_urls {
        let ok = (u.starts_with("http://") || u.starts_with("https://"))
            && crate::config::url_to_addr(u).is_ok();
        if !ok {
            return Err((StatusCode::BAD_REQUEST, format!("invalid peer URL {u:?}")));
        }
    }
    Ok(req.peer_urls)
}

/// `/v2/members`: GET lists, POST adds.
pub async fn members(
    State(v2): State<Arc<V2>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match method {
        Method::GET | Method::HEAD => {
            let list: Vec<MemberJson> =
                v2.server.member_records().iter().map(member_json).collect();
            let body = super::json_line(&serde_json::json!({ "members": list }));
            v2.json_response(StatusCode::OK, body)
        }
        Method::POST => {
            let caller = match admin(&v2, &headers).await {
                Ok(c) => c,
                Err(resp) => return resp,
            };
            let urls = match peer_urls(&headers, &body) {
                Ok(u) => u,
                Err((code, msg)) => return message(&v2, code, &msg),
            };
            let added = v2
                .server
                .member_add(
                    &caller_auth(&caller),
                    MemberAddRequest {
                        peer_ur_ls: urls,
                        is_learner: false,
                    },
                )
                .await;
            match added {
                Ok(resp) => {
                    let m = resp.member.unwrap_or_default();
                    let body = super::json_line(&MemberJson {
                        id: format!("{:x}", m.id),
                        name: m.name,
                        peer_urls: m.peer_ur_ls,
                        client_urls: m.client_ur_ls,
                    });
                    v2.json_response(StatusCode::CREATED, body)
                }
                Err(e) => status_message(&v2, e.to_status()),
            }
        }
        _ => not_allowed("GET, HEAD, POST"),
    }
}

/// Membership changes need the root role while auth is on (etcd v2's
/// `hasWriteRootAccess`); listing members does not.
async fn admin(v2: &V2, headers: &HeaderMap) -> Result<Caller, Response> {
    match v2.caller(headers).await {
        Ok(c) if v2.is_admin(&c) => Ok(c),
        _ => Err(super::auth::no_credentials()),
    }
}

/// Who the server API sees: the verified user, or nobody while auth is off.
fn caller_auth(caller: &Caller) -> AuthInfo {
    match caller {
        Caller::User(info) => info.clone(),
        Caller::Unchecked => AuthInfo::default(),
    }
}

fn not_allowed(allow: &'static str) -> Response {
    let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// `/v2/members/<id>`: DELETE removes, PUT updates peer URLs;
/// `/v2/members/leader` (GET) shows the leader.
pub async fn member(
    State(v2): State<Arc<V2>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if id == "leader" && matches!(method, Method::GET | Method::HEAD) {
        let leader = v2.server.raft_info().leader;
        return match v2.server.member_record(leader) {
            Some(m) => v2.json_response(StatusCode::OK, super::json_line(&member_json(&m))),
            None => message(&v2, StatusCode::SERVICE_UNAVAILABLE, "During election"),
        };
    }
    if !matches!(method, Method::DELETE | Method::PUT) {
        return not_allowed("DELETE, PUT");
    }
    let caller = match admin(&v2, &headers).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let Ok(member_id) = u64::from_str_radix(&id, 16) else {
        return message(&v2, StatusCode::NOT_FOUND, &format!("No such member: {id}"));
    };
    let auth = caller_auth(&caller);
    let result = match method {
        Method::DELETE => v2
            .server
            .member_remove(&auth, &MemberRemoveRequest { id: member_id }, None)
            .await
            .map(|_| ()),
        Method::PUT => {
            let urls = match peer_urls(&headers, &body) {
                Ok(u) => u,
                Err((code, msg)) => return message(&v2, code, &msg),
            };
            v2.server
                .member_update(
                    &auth,
                    MemberUpdateRequest {
                        id: member_id,
                        peer_ur_ls: urls,
                    },
                )
                .await
                .map(|_| ())
        }
        _ => return not_allowed("DELETE, PUT"),
    };
    match result {
        Ok(()) => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
        Err(ServerError::MemberNotFound) => message(
            &v2,
            StatusCode::NOT_FOUND,
            &format!("No such member: {member_id:x}"),
        ),
        Err(e) => status_message(&v2, e.to_status()),
    }
}

fn plain_json(body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeaderInfo {
    leader: String,
    uptime: String,
    start_time: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SelfStats {
    name: String,
    id: String,
    state: &'static str,
    start_time: String,
    leader_info: LeaderInfo,
    recv_append_request_cnt: u64,
    send_append_request_cnt: u64,
}

pub async fn stats_self(State(v2): State<Arc<V2>>) -> Response {
    let info = v2.server.raft_info();
    let state = if info.is_leader {
        "StateLeader"
    } else if info.leader == 0 {
        "StateCandidate"
    } else {
        "StateFollower"
    };
    let stats = SelfStats {
        name: v2.server.name().to_string(),
        id: format!("{:x}", v2.server.member_id()),
        state,
        start_time: rfc3339_nano(v2.started),
        leader_info: LeaderInfo {
            leader: format!("{:x}", info.leader),
            uptime: gostd::format_duration((now_nanos() - v2.started).max(0)),
            start_time: rfc3339_nano(v2.started),
        },
        recv_append_request_cnt: 0,
        send_append_request_cnt: 0,
    };
    plain_json(serde_json::to_string(&stats).unwrap_or_default())
}

pub async fn stats_leader(State(v2): State<Arc<V2>>) -> Response {
    let info = v2.server.raft_info();
    if !info.is_leader {
        let mut resp = plain_json(r#"{"message":"not current leader"}"#.to_string());
        *resp.status_mut() = StatusCode::FORBIDDEN;
        return resp;
    }
    let followers: serde_json::Map<String, serde_json::Value> = v2
        .server
        .member_records()
        .iter()
        .filter(|m| m.id != v2.server.member_id())
        .map(|m| {
            (
                format!("{:x}", m.id),
                serde_json::json!({
                    "latency": {"current": 0.0, "average": 0.0, "standardDeviation": 0.0,
                                "minimum": 0.0, "maximum": 0.0},
                    "counts": {"fail": 0, "success": 0}
                }),
            )
        })
        .collect();
    let body = format!(
        r#"{{"leader":"{:x}","followers":{}}}"#,
        v2.server.member_id(),
        serde_json::Value::Object(followers)
    );
    plain_json(body)
}

pub async fn stats_store(State(v2): State<Arc<V2>>) -> Response {
    plain_json(v2.stats.json())
}

pub async fn machines(State(v2): State<Arc<V2>>) -> Response {
    let urls: Vec<String> = v2
        .server
        .member_records()
        .into_iter()
        .flat_map(|m| m.client_urls)
        .collect();
    let mut resp = Response::new(Body::from(urls.join(", ")));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
