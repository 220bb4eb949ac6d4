//! Plain HTTP endpoints on the client port, beside gRPC: `/health` and
//! `/version` with etcd's JSON shapes, for load balancers and humans; and
//! the answer to a path nothing serves ([`unrouted`]).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Shared;
use crate::server::{CLUSTER_VERSION, SERVER_VERSION};

pub fn router(server: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .with_state(server)
}

async fn health(State(server): State<Shared>) -> (StatusCode, Json<Value>) {
    let healthy = server.raft_info().leader != 0 && server.active_alarms().is_empty();
    let reason = if server.raft_info().leader == 0 {
        "RAFT NO LEADER"
    } else if !server.active_alarms().is_empty() {
        "ALARM ACTIVE"
    } else {
        ""
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({ "health": healthy.to_string(), "reason": reason })),
    )
}

async fn version() -> Json<Value> {
    Json(json!({ "etcdserver": SERVER_VERSION, "etcdcluster": CLUSTER_VERSION }))
}

/// A request no route serves. A gRPC call gets Unimplemented, as grpc-go
/// answers an unknown service; anything else gets Go's `404 page not
/// found`, as etcd's HTTP mux does. A wrong path never looks like success.
pub async fn unrouted(req: Request) -> Response {
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    if grpc {
        return tonic::Status::unimplemented("").into_http::<Body>();
    }
    not_found()
}

/// Go's `http.NotFound`: `404 page not found` in plain text.
pub fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        "404 page not found\n",
    )
        .into_response()
}
