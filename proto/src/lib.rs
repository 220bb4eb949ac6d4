//! The etcd v3 wire API, generated from `protos/` at build time.
//!
//! The `.proto` files are our own text but carry etcd 3.5's package names,
//! service names, message names and field numbers, so bytes on the wire are
//! identical to etcd's: any etcd client (Go `clientv3`, `etcdctl`, jetcd, ...)
//! talks to etcd-rs unchanged. `etcdrs` holds internal messages (what a raft
//! log entry carries); clients never see them.
//!
//! The client-facing messages also implement serde's traits with the JSON
//! etcd's gRPC gateway speaks (`/v3/...` on the client URLs).

#![allow(clippy::all, missing_docs)]

pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
    include!(concat!(env!("OUT_DIR"), "/mvccpb.serde.rs"));
}

pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
    include!(concat!(env!("OUT_DIR"), "/authpb.serde.rs"));
}

pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.serde.rs"));
}

pub mod etcdrs {
    include!(concat!(env!("OUT_DIR"), "/etcdrs.rs"));
}
