//! What each port serves: the client router (the gRPC services, the HTTP
//! endpoints and the v2 API, behind the learner guard) and the peer router
//! (raft traffic and the calls only the leader answers).

use std::sync::Arc;

use etcd_proto::etcdserverpb::auth_server::AuthServer;
use etcd_proto::etcdserverpb::cluster_server::ClusterServer;
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::lease_server::LeaseServer;
use etcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use etcd_proto::etcdserverpb::watch_server::WatchServer;

use crate::server::EtcdServer;
use crate::{api, learner_guard, v2};

/// The gRPC services and the HTTP endpoints, on one router.
pub(crate) fn client_router(server: Arc<EtcdServer>) -> axum::Router {
    let max_recv = server.max_request_bytes() as usize + 512 * 1024;
    let routes = tonic::service::Routes::new(
        KvServer::new(api::kv::KvService {
            server: server.clone(),
        })
        .max_decoding_message_size(api::kv::decode_cap(&server))
        .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        WatchServer::new(api::watch::WatchService {
            server: server.clone(),
        })
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        LeaseServer::new(api::lease::LeaseService {
            server: server.clone(),
        })
        .max_decoding_message_size(max_recv),
    )
    .add_service(
        ClusterServer::new(api::cluster::ClusterService {
            server: server.clone(),
        })
        .max_decoding_message_size(max_recv),
    )
    .add_service(
        MaintenanceServer::new(api::maintenance::MaintenanceService {
            server: server.clone(),
        })
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        AuthServer::new(api::auth::AuthService {
            server: server.clone(),
        })
        .max_decoding_message_size(max_recv),
    );
    let mut router = routes
        .into_axum_router()
        .merge(api::http::router(server.clone()))
        .merge(api::gateway::router(server.clone()));
    if server.config().enable_v2 {
        router = router.merge(v2::router(server.clone()));
    }
    router
        .fallback(api::http::unrouted)
        .layer(learner_guard::LearnerGuardLayer { server })
}

/// The peer service (raft traffic between members) as a router.
pub(crate) fn peer_router(server: Arc<EtcdServer>) -> axum::Router {
    let service =
        etcd_proto::etcdrs::peer_server::PeerServer::new(api::peer::PeerService { server })
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
    tonic::service::Routes::new(service).into_axum_router()
}
