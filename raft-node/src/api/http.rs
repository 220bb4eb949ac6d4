//! Plain HTTP endpoints on the client port, beside gRPC: `/health` and
//! `/version` with etcd's JSON shapes, for load balancers and humans.

use axum::extract::State;
use axum::http::StatusCode;
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
    let healthy = server.raft_info().leader != 0 && server.store.alarms().is_empty();
    let reason = if server.raft_info().leader == 0 {
        "RAFT NO LEADER"
    } else if !server.store.alarms().is_empty() {
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
