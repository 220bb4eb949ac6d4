//! etcd-rs server: a member of a Raft-replicated etcd-compatible store.
//!
//! [`start`] opens the data dir (WAL + store), starts the raft loop and the
//! apply thread on their own OS threads, and serves the etcd v3 gRPC API and
//! the HTTP endpoints on the client URLs. The returned [`RunningServer`] is
//! the embed API: a Rust program can run a member in-process, talk to it on
//! its client address, and stop it.
//!
//! Module map: [`config`] flags; [`wal`] the write-ahead log; [`node`] the
//! raft loop; [`apply`] committed entries into the store; [`server`] the
//! shared handle (propose, read barrier); [`api`] the services; [`lessor`]
//! lease expiry; [`compactor`] auto-compaction; [`error`] the status table.

pub mod api;
pub mod apply;
pub mod compactor;
pub mod config;
pub mod error;
pub mod h2_authority;
pub mod ids;
pub mod lessor;
pub mod listener;
pub mod node;
pub mod server;
pub mod wal;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::auth_server::AuthServer;
use etcd_proto::etcdserverpb::cluster_server::ClusterServer;
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::lease_server::LeaseServer;
use etcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use etcd_proto::etcdserverpb::watch_server::WatchServer;
use etcd_proto::etcdserverpb::LeaseRevokeRequest;
use etcd_store::{SledBackend, Store, StoreConfig, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

pub use config::Config;
pub use error::ServerError;
pub use server::{EtcdServer, MemberInfo};

use crate::apply::{Applier, Waiters};
use crate::lessor::Lessor;
use crate::node::{Node, NodeMsg, NodeSettings, RaftInfo};
use crate::wal::{Wal, DEFAULT_SEGMENT_BYTES};

/// A started member. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub server: Arc<EtcdServer>,
    /// The client addresses actually bound (useful with port 0).
    pub client_addrs: Vec<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    fatal_rx: watch::Receiver<Option<String>>,
    threads: Vec<JoinHandle<()>>,
    tasks: Vec<TaskHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot open data dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// How often progress notifications go to watchers that asked for them
/// (etcd's default).
const PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);

/// Starts a member as configured. Must be called inside a tokio runtime.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let data_dir = config.data_dir();
    let member_dir = data_dir.join("member");
    std::fs::create_dir_all(&member_dir)?;
    let members = load_or_create_members(&config, &member_dir)?;
    let me = members
        .iter()
        .find(|m| m.name == config.name)
        .ok_or_else(|| {
            StartError::Config(format!(
                "couldn't find local name {:?} in the initial cluster configuration",
                config.name
            ))
        })?
        .clone();
    if members.len() != 1 {
        return Err(StartError::Config(
            "multi-member clusters are not supported yet; start a single member".into(),
        ));
    }
    let cluster_id = ids::cluster_id(&members.iter().map(|m| m.id).collect::<Vec<_>>());

    let backend = SledBackend::open(&member_dir.join("db"))?;
    let store = Arc::new(Store::open(
        Box::new(backend),
        StoreConfig {
            min_lease_ttl: config.min_lease_ttl(),
            ..StoreConfig::default()
        },
    )?);
    let (wal, recovered) = Wal::open(&config.wal_dir(), DEFAULT_SEGMENT_BYTES)?;
    tracing::info!(
        name = %config.name, member_id = %format!("{:x}", me.id), cluster_id = %format!("{cluster_id:x}"),
        data_dir = %data_dir.display(), applied = store.applied_index(),
        wal_entries = recovered.entries.len(), revision = store.current_revision(),
        "starting etcd-rs member"
    );

    let (node_tx, node_rx) = mpsc::channel::<NodeMsg>();
    let (apply_tx, apply_rx) = mpsc::channel();
    let (applied_tx, applied_rx) = watch::channel(store.applied_index());
    let (fatal_tx, fatal_rx) = watch::channel(None);
    let info = Arc::new(Mutex::new(RaftInfo::default()));
    let waiters = Arc::new(Waiters::default());
    let lessor = Arc::new(Lessor::default());
    lessor.promote(&store);

    let node = Node::new(
        NodeSettings {
            id: me.id,
            voters: members.iter().map(|m| m.id).collect(),
            election_ticks: config.election_ticks(),
            tick: config.heartbeat(),
            applied: store.applied_index(),
        },
        wal,
        recovered,
        node_rx,
        apply_tx,
        info.clone(),
    )?;
    let applier = Applier {
        store: store.clone(),
        waiters: waiters.clone(),
        lessor: lessor.clone(),
        applied_tx,
        node_tx: node_tx.clone(),
        snapshot_count: config.snapshot_count,
    };
    let mut threads = Vec::new();
    let fatal = fatal_tx.clone();
    threads.push(
        std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || {
                if let Err(e) = node.run() {
                    tracing::error!(error = %e, "raft loop failed");
                    fatal.send_replace(Some(e.to_string()));
                }
            })?,
    );
    let fatal = fatal_tx.clone();
    let apply_store = store.clone();
    threads.push(
        std::thread::Builder::new()
            .name("apply".into())
            .spawn(move || {
                if let Err(e) = applier.run(apply_rx) {
                    tracing::error!(error = %e, "apply failed");
                    fatal.send_replace(Some(e.to_string()));
                }
                if let Err(e) = apply_store.flush() {
                    tracing::error!(error = %e, "final store flush failed");
                }
            })?,
    );

    let mut me_info = me.clone();
    me_info.client_urls = config.advertise_client_urls();
    let members = members
        .into_iter()
        .map(|m| if m.id == me.id { me_info.clone() } else { m })
        .collect();
    let server = Arc::new(EtcdServer::new(
        store,
        config.clone(),
        me.id,
        cluster_id,
        members,
        lessor,
        node_tx,
        waiters,
        applied_rx,
        info,
    ));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(expire_leases(server.clone(), shutdown_rx.clone())),
        tokio::spawn(compactor::run(server.clone(), shutdown_rx.clone())),
    ];
    let router = client_router(server.clone());
    let mut client_addrs = Vec::new();
    for addr in config.client_listen_addrs().map_err(StartError::Config)? {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        client_addrs.push(bound);
        tracing::info!(address = %bound, "serving client requests (gRPC and HTTP)");
        tasks.push(tokio::spawn(listener::serve(
            listener,
            router.clone(),
            shutdown_rx.clone(),
        )));
    }
    Ok(RunningServer {
        server,
        client_addrs,
        shutdown_tx,
        fatal_rx,
        threads,
        tasks,
    })
}

/// The gRPC services and the HTTP endpoints, on one router.
fn client_router(server: Arc<EtcdServer>) -> axum::Router {
    let max_recv = server.config.max_request_bytes as usize + 512 * 1024;
    let routes = tonic::service::Routes::new(
        KvServer::new(api::kv::KvService {
            server: server.clone(),
        })
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        WatchServer::new(api::watch::WatchService {
            server: server.clone(),
            progress_interval: PROGRESS_NOTIFY_INTERVAL,
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
    routes.into_axum_router().merge(api::http::router(server))
}

/// The leader revokes expired leases through the log.
async fn expire_leases(server: Arc<EtcdServer>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !server.raft_info().is_leader {
            continue;
        }
        for id in server.lessor.take_expired() {
            let server = server.clone();
            tokio::spawn(async move {
                match server
                    .propose(Op::LeaseRevoke(LeaseRevokeRequest { id }))
                    .await
                {
                    Ok(_) => {}
                    Err(ServerError::Store(StoreError::LeaseNotFound)) => server.lessor.remove(id),
                    Err(e) => {
                        tracing::warn!(lease = id, error = %e, "revoking expired lease failed; will retry");
                        server.lessor.revoke_failed(id);
                    }
                }
            });
        }
    }
}

/// The member list: read from the data dir, or derived from the flags on
/// first start and saved, so IDs stay the same across restarts.
fn load_or_create_members(
    config: &Config,
    member_dir: &Path,
) -> Result<Vec<MemberInfo>, StartError> {
    let path = member_dir.join("cluster.json");
    if let Ok(bytes) = std::fs::read(&path) {
        return serde_json::from_slice(&bytes)
            .map_err(|e| StartError::Config(format!("bad {}: {e}", path.display())));
    }
    let members: Vec<MemberInfo> = config
        .initial_cluster()
        .into_iter()
        .map(|(name, peer_urls)| MemberInfo {
            id: ids::member_id(&peer_urls, &config.initial_cluster_token),
            name,
            peer_urls,
            client_urls: Vec::new(),
        })
        .collect();
    let tmp = member_dir.join("cluster.json.tmp");
    let json = serde_json::to_vec_pretty(&members)
        .map_err(|e| StartError::Config(format!("encode member list: {e}")))?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(member_dir)?.sync_all()?;
    Ok(members)
}

impl RunningServer {
    /// Waits until the member fails (returns the reason) or is stopped.
    pub async fn wait_fatal(&self) -> String {
        let mut rx = self.fatal_rx.clone();
        let reason = match rx.wait_for(|f| f.is_some()).await {
            Ok(f) => f.clone().unwrap_or_default(),
            Err(_) => "stopped".into(),
        };
        reason
    }

    /// Stops serving, stops raft, lets the apply thread finish and flushes
    /// the store. Everything acknowledged was already durable in the WAL.
    pub async fn stop(self) {
        self.shutdown_tx.send_replace(true);
        for t in self.tasks {
            // Long-lived streams (watches) would keep a graceful shutdown
            // waiting forever; give them a moment, then cut them.
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.server.stop();
        let threads = self.threads;
        let server = self.server;
        drop(server);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}
