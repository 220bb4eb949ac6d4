//! etcd's gRPC gateway: the v3 API as JSON over HTTP on the client URLs,
//! for curl and for HTTP clients such as OpenStack's `etcd3gw`.
//!
//! Each path takes a POST whose body is the request message in JSON, runs
//! the same server method its gRPC service runs, and answers the response
//! message in JSON. The JSON is the gateway's (etcd_proto's serde impls):
//! proto field names, 64-bit integers as strings, bytes as base64, enums
//! by name, default values left out. A failure answers
//! `{"error":..,"message":..,"code":..}` with the gRPC code, under the
//! HTTP status grpc-gateway gives that code. The token, if auth is on,
//! travels in the `Authorization` header. etcd 3.4 also serves every path
//! under `/v3beta/`, and so does this.
//!
//! Served so far: every unary call of KV, Lease, Cluster, Maintenance and
//! Auth. The streaming calls (watch, lease keep-alive, snapshot), lock and
//! election paths are not yet; like any path under the prefixes that the
//! gateway does not serve, they answer its `404 Not Found`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest, AuthRoleDeleteRequest,
    AuthRoleGetRequest, AuthRoleGrantPermissionRequest, AuthRoleListRequest,
    AuthRoleRevokePermissionRequest, AuthStatusRequest, AuthUserAddRequest,
    AuthUserChangePasswordRequest, AuthUserDeleteRequest, AuthUserGetRequest,
    AuthUserGrantRoleRequest, AuthUserListRequest, AuthUserRevokeRoleRequest, AuthenticateRequest,
    CompactionRequest, DefragmentRequest, DeleteRangeRequest, HashKvRequest, HashRequest,
    LeaseGrantRequest, LeaseLeasesRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
    MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest,
    MemberUpdateRequest, MoveLeaderRequest, PutRequest, RangeRequest, StatusRequest, TxnRequest,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::maintenance::raw_auth;
use super::Shared;
use crate::error::ServerError;

/// One gateway path: decode the JSON request, resolve the caller, call,
/// and map a failure to its gRPC status (as the gRPC service would:
/// `Status::from`, or `raw_auth` for the maintenance calls that pass the
/// auth layer's error on as it is).
macro_rules! endpoint {
    ($name:ident, $req:ty, |$server:ident, $auth:ident, $r:ident| $call:expr) => {
        endpoint!($name, $req, Status::from, |$server, $auth, $r| $call);
    };
    ($name:ident, $req:ty, $to_status:path, |$server:ident, $auth:ident, $r:ident| $call:expr) => {
        async fn $name(State($server): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
            let ($auth, $r) = match prepare::<$req>(&$server, &headers, &body).await {
                Ok(v) => v,
                Err(refusal) => return refusal,
            };
            answer($call.await.map_err($to_status))
        }
    };
}

/// A call that cannot fail, as the server API's fallible calls are.
async fn infallible<T>(value: impl std::future::Future<Output = T>) -> Result<T, ServerError> {
    Ok(value.await)
}

endpoint!(range, RangeRequest, |server, auth, r| server
    .range(&auth, &r));
endpoint!(put, PutRequest, |server, auth, r| server.put(auth, r));
endpoint!(delete_range, DeleteRangeRequest, |server, auth, r| server
    .delete_range(auth, r));
endpoint!(txn, TxnRequest, |server, auth, r| server.txn(auth, r));
endpoint!(compact, CompactionRequest, |server, auth, r| server
    .compact(auth, r));
endpoint!(lease_grant, LeaseGrantRequest, |server, auth, r| server
    .lease_grant(auth, r));
endpoint!(lease_revoke, LeaseRevokeRequest, |server, auth, r| server
    .lease_revoke(auth, r));
endpoint!(
    lease_time_to_live,
    LeaseTimeToLiveRequest,
    |server, auth, r| { server.lease_time_to_live(&auth, &r) }
);
endpoint!(lease_leases, LeaseLeasesRequest, |server, auth, r| server
    .lease_leases(&auth, &r));

endpoint!(member_add, MemberAddRequest, |server, auth, r| server
    .member_add(&auth, r));
endpoint!(member_remove, MemberRemoveRequest, |server, auth, r| server
    .member_remove(&auth, &r, None));
endpoint!(member_update, MemberUpdateRequest, |server, auth, r| server
    .member_update(&auth, r));
endpoint!(member_list, MemberListRequest, |server, auth, r| server
    .member_list(&auth, &r));
endpoint!(member_promote, MemberPromoteRequest, |server, auth, r| {
    server.member_promote(&auth, &r)
});

endpoint!(alarm, AlarmRequest, |server, auth, r| server.alarm(auth, r));
endpoint!(status, StatusRequest, |server, _auth, _r| infallible(
    server.status()
));
endpoint!(
    defragment,
    DefragmentRequest,
    raw_auth,
    |server, auth, _r| { server.defragment(&auth) }
);
endpoint!(hash, HashRequest, raw_auth, |server, auth, _r| server
    .hash(&auth));
endpoint!(hash_kv, HashKvRequest, raw_auth, |server, auth, r| server
    .hash_kv(&auth, &r));
endpoint!(move_leader, MoveLeaderRequest, |server, auth, r| server
    .move_leader(&auth, &r));

endpoint!(auth_enable, AuthEnableRequest, |server, auth, _r| server
    .auth_enable(auth));
endpoint!(auth_disable, AuthDisableRequest, |server, auth, _r| server
    .auth_disable(auth));
endpoint!(auth_status, AuthStatusRequest, |server, _auth, _r| {
    infallible(async { server.auth_status() })
});
endpoint!(authenticate, AuthenticateRequest, |server, _auth, r| server
    .authenticate(r));
endpoint!(user_add, AuthUserAddRequest, |server, auth, r| server
    .user_add(auth, r));
endpoint!(user_get, AuthUserGetRequest, |server, auth, r| server
    .user_get(&auth, &r));
endpoint!(user_list, AuthUserListRequest, |server, auth, _r| server
    .user_list(&auth));
endpoint!(user_delete, AuthUserDeleteRequest, |server, auth, r| server
    .user_delete(auth, r));
endpoint!(
    user_change_password,
    AuthUserChangePasswordRequest,
    |server, auth, r| server.user_change_password(auth, r)
);
endpoint!(
    user_grant_role,
    AuthUserGrantRoleRequest,
    |server, auth, r| { server.user_grant_role(auth, r) }
);
endpoint!(
    user_revoke_role,
    AuthUserRevokeRoleRequest,
    |server, auth, r| { server.user_revoke_role(auth, r) }
);
endpoint!(role_add, AuthRoleAddRequest, |server, auth, r| server
    .role_add(auth, r));
endpoint!(role_get, AuthRoleGetRequest, |server, auth, r| server
    .role_get(&auth, &r));
endpoint!(role_list, AuthRoleListRequest, |server, auth, _r| server
    .role_list(&auth));
endpoint!(role_delete, AuthRoleDeleteRequest, |server, auth, r| server
    .role_delete(auth, r));
endpoint!(
    role_grant_permission,
    AuthRoleGrantPermissionRequest,
    |server, auth, r| server.role_grant_permission(auth, r)
);
endpoint!(
    role_revoke_permission,
    AuthRoleRevokePermissionRequest,
    |server, auth, r| server.role_revoke_permission(auth, r)
);

/// The gateway's paths, under `/v3` and `/v3beta`.
pub fn router(server: Shared) -> Router {
    let mut router = Router::new();
    for prefix in ["/v3", "/v3beta"] {
        router = router
            .route(&format!("{prefix}/kv/range"), post(range))
            .route(&format!("{prefix}/kv/put"), post(put))
            .route(&format!("{prefix}/kv/deleterange"), post(delete_range))
            .route(&format!("{prefix}/kv/txn"), post(txn))
            .route(&format!("{prefix}/kv/compaction"), post(compact))
            .route(&format!("{prefix}/lease/grant"), post(lease_grant))
            .route(&format!("{prefix}/lease/revoke"), post(lease_revoke))
            .route(&format!("{prefix}/kv/lease/revoke"), post(lease_revoke))
            .route(
                &format!("{prefix}/lease/timetolive"),
                post(lease_time_to_live),
            )
            .route(
                &format!("{prefix}/kv/lease/timetolive"),
                post(lease_time_to_live),
            )
            .route(&format!("{prefix}/lease/leases"), post(lease_leases))
            .route(&format!("{prefix}/kv/lease/leases"), post(lease_leases))
            .route(&format!("{prefix}/cluster/member/add"), post(member_add))
            .route(
                &format!("{prefix}/cluster/member/remove"),
                post(member_remove),
            )
            .route(
                &format!("{prefix}/cluster/member/update"),
                post(member_update),
            )
            .route(&format!("{prefix}/cluster/member/list"), post(member_list))
            .route(
                &format!("{prefix}/cluster/member/promote"),
                post(member_promote),
            )
            .route(&format!("{prefix}/maintenance/alarm"), post(alarm))
            .route(&format!("{prefix}/maintenance/status"), post(status))
            .route(
                &format!("{prefix}/maintenance/defragment"),
                post(defragment),
            )
            .route(&format!("{prefix}/maintenance/hash"), post(hash))
            .route(&format!("{prefix}/maintenance/hashkv"), post(hash_kv))
            .route(
                &format!("{prefix}/maintenance/transfer-leadership"),
                post(move_leader),
            )
            .route(&format!("{prefix}/auth/enable"), post(auth_enable))
            .route(&format!("{prefix}/auth/disable"), post(auth_disable))
            .route(&format!("{prefix}/auth/status"), post(auth_status))
            .route(&format!("{prefix}/auth/authenticate"), post(authenticate))
            .route(&format!("{prefix}/auth/user/add"), post(user_add))
            .route(&format!("{prefix}/auth/user/get"), post(user_get))
            .route(&format!("{prefix}/auth/user/list"), post(user_list))
            .route(&format!("{prefix}/auth/user/delete"), post(user_delete))
            .route(
                &format!("{prefix}/auth/user/changepw"),
                post(user_change_password),
            )
            .route(&format!("{prefix}/auth/user/grant"), post(user_grant_role))
            .route(
                &format!("{prefix}/auth/user/revoke"),
                post(user_revoke_role),
            )
            .route(&format!("{prefix}/auth/role/add"), post(role_add))
            .route(&format!("{prefix}/auth/role/get"), post(role_get))
            .route(&format!("{prefix}/auth/role/list"), post(role_list))
            .route(&format!("{prefix}/auth/role/delete"), post(role_delete))
            .route(
                &format!("{prefix}/auth/role/grant"),
                post(role_grant_permission),
            )
            .route(
                &format!("{prefix}/auth/role/revoke"),
                post(role_revoke_permission),
            )
            .route(&format!("{prefix}/{{*rest}}"), any(not_served));
    }
    router.with_state(server)
}

/// The request decoded from the body (an empty body is the empty
/// message), and the caller it runs as.
async fn prepare<R: DeserializeOwned + Default>(
    server: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(AuthInfo, R), Response> {
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        R::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| refusal(&Status::invalid_argument(e.to_string())))?
    };
    let metadata = MetadataMap::from_headers(headers.clone());
    let auth = server
        .resolve_identity(&metadata, None)
        .await
        .map_err(|e| refusal(&e.to_status()))?;
    Ok((auth, req))
}

/// The response message in JSON, or the refusal.
fn answer<T: Serialize>(result: Result<T, Status>) -> Response {
    match result {
        Ok(resp) => match serde_json::to_vec(&resp) {
            Ok(body) => json(StatusCode::OK, body),
            Err(e) => refusal(&Status::internal(e.to_string())),
        },
        Err(status) => refusal(&status),
    }
}

/// grpc-gateway's error body, its fields in its order.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    code: i32,
}

/// grpc-gateway's error body and HTTP status for a gRPC status.
fn refusal(status: &Status) -> Response {
    let body = ErrorBody {
        error: status.message(),
        message: status.message(),
        code: status.code() as i32,
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    json(http_status(status.code()), body)
}

/// A path under the gateway's prefixes that it does not serve: the
/// gateway's own `Not Found` (not Go's `404 page not found`).
async fn not_served() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "Not Found\n",
    )
        .into_response()
}

/// grpc-gateway's `HTTPStatusFromCode`.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
