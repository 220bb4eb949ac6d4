//! The etcd v3 gRPC services, one module per service, plus the HTTP
//! endpoints served beside them on the client port (`http.rs`, and the
//! JSON gateway in `gateway.rs`). Handlers validate with
//! etcd's rules, then read locally or propose through [`EtcdServer`]; they
//! never touch raft or the store's write path directly.

pub mod auth;
pub mod cluster;
pub mod gateway;
pub mod http;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod peer;
pub mod watch;

use std::sync::Arc;

use crate::server::EtcdServer;

/// Shared handle every service holds.
pub type Shared = Arc<EtcdServer>;
