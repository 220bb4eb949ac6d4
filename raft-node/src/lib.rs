//! etcd-rs server: a member of a Raft-replicated etcd-compatible store.
//!
//! [`start`] opens the data dir (WAL + store), starts the raft loop and the
//! apply thread on their own OS threads, and serves the etcd v3 gRPC API and
//! the HTTP endpoints on the client URLs. The returned [`RunningServer`] is
//! the embed API: a Rust program can run a member in-process, talk to it on
//! its client address, and stop it.
//!
//! Module map: [`config`] flags; `node` the raft loop; [`apply`] committed entries into the store; [`server`] the
//! shared handle (propose, read barrier); [`api`] the services; [`lessor`]
//! lease expiry; [`compactor`] auto-compaction; [`error`] the status table.

pub mod api;
mod apply;
mod auth;
mod batched_writes;
pub mod client;
mod compactor;
pub mod config;
pub mod error;
pub mod failpoints;
pub mod h2_authority;
mod handoff;
mod join;
mod learner_guard;
mod lessor;
mod listener;
mod messages;
mod node;
mod opened;
mod publish;
mod raft_storage;
mod read_lease;
pub mod recovery;
mod routers;
mod running;
pub mod server;
pub mod sim;
pub mod tls;
mod transport;
pub mod v2;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::watch;

pub use client::{Client, Watch};
pub use config::Config;
pub use error::ServerError;
pub use messages::RaftInfo;
pub use running::{RunningServer, StartError};
pub use server::EtcdServer;

use crate::apply::{Applier, Waiters};
use crate::lessor::Lessor;
use crate::messages::NodeMsg;
use crate::node::{Node, NodeParts, NodeSettings};
use crate::publish::publish_attributes;
use crate::tls::apply_auto_tls;
use crate::transport::Transport;
use etcd_datadir::membership::{self};

/// Starts a member as configured. Must be called inside a tokio runtime.
pub async fn start(mut config: Config) -> Result<RunningServer, StartError> {
    let data_dir = config.data_dir();
    apply_auto_tls(&mut config, &data_dir).map_err(StartError::Config)?;
    let opened = opened::open(&config, &data_dir.join("member")).await?;
    tracing::info!(
        name = %config.name, member_id = %format!("{:x}", opened.identity.member_id),
        cluster_id = %format!("{:x}", opened.identity.cluster_id),
        data_dir = %data_dir.display(), applied = opened.store.applied_index(),
        wal_entries = opened.recovered.entries.len(), revision = opened.store.current_revision(),
        "starting etcd-rs member"
    );
    let (node_tx, node_rx) = mpsc::channel::<NodeMsg>();
    let transport = peer_transport(&config, &opened, node_tx.clone())?;
    let opened::Opened {
        store,
        wal,
        recovered,
        membership,
        identity,
        snaps,
        ..
    } = opened;

    let (applied_tx, applied_rx) = watch::channel(store.applied_index());
    let applied_tx = Arc::new(applied_tx);
    let (fatal_tx, fatal_rx) = watch::channel(None);
    let info = Arc::new(Mutex::new(RaftInfo::default()));
    let waiters = Arc::new(Waiters::default());
    let lessor = Arc::new(Lessor::default());
    lessor.promote(&store);

    let tokens = Arc::new(
        auth::TokenProvider::from_flags(
            &config.auth_token,
            std::time::Duration::from_secs(config.auth_token_ttl),
        )
        .map_err(StartError::Config)?,
    );
    let (handoff, apply_thread) = handoff::handoff(Applier {
        store: store.clone(),
        waiters: waiters.clone(),
        lessor: lessor.clone(),
        membership: membership.clone(),
        transport: transport.clone(),
        applied_tx,
        node_tx: node_tx.clone(),
        snapshot_count: config.snapshot_count,
        my_id: identity.member_id,
        last_snapshot: store.applied_index(),
        tokens: tokens.clone(),
        snaps: snaps.clone(),
    });
    let node = Node::new(NodeParts {
        settings: NodeSettings {
            id: identity.member_id,
            election_ticks: config.election_ticks(),
            tick: config.heartbeat(),
            fixed_election_timeout: false,
            lease_based_reads: config.lease_based_reads,
        },
        wal,
        recovered,
        snaps,
        store: store.clone(),
        transport: transport.clone(),
        rx: node_rx,
        sink: Box::new(handoff),
        info: info.clone(),
        conf_state: membership::stored_conf_state(&store)?,
    })?;
    let threads = vec![
        node.spawn(fatal_tx.clone())?,
        apply_thread.spawn(
            node_tx.clone(),
            store.clone(),
            config.heartbeat() * 10,
            fatal_tx,
        )?,
    ];

    let server = Arc::new(EtcdServer::new(
        store,
        config.clone(),
        identity.member_id,
        identity.cluster_id,
        membership,
        lessor,
        node_tx,
        waiters,
        applied_rx,
        info,
        tokens,
    ));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // As etcd, clients are served once this member's name and client URLs
    // are in the (applied) member list, so no client sees it unpublished.
    let (published_tx, published_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(server::expire_leases(server.clone(), shutdown_rx.clone())),
        tokio::spawn(compactor::run(server.clone(), shutdown_rx.clone())),
        tokio::spawn(publish_attributes(
            server.clone(),
            published_tx,
            shutdown_rx.clone(),
        )),
    ];
    let (client_addrs, listeners) =
        listener::serve_member(&config, &server, published_rx, shutdown_rx).await?;
    tasks.extend(listeners);
    Ok(RunningServer {
        server,
        client_addrs,
        shutdown_tx,
        fatal_rx,
        threads,
        tasks,
    })
}

/// The raft messages' way to the other members: one sender per peer, to
/// the members of the stored member list (or, before the log has told it,
/// of the initial cluster).
fn peer_transport(
    config: &Config,
    opened: &opened::Opened,
    node_tx: mpsc::Sender<NodeMsg>,
) -> Result<Arc<dyn transport::Outbox>, StartError> {
    let peer_client_tls = tls::peer_client_config(config).map_err(StartError::Config)?;
    let transport: Arc<dyn transport::Outbox> = Arc::new(Transport::new(
        opened.identity.cluster_id,
        opened.identity.member_id,
        tokio::runtime::Handle::current(),
        node_tx,
        peer_client_tls,
    ));
    let mut peers: Vec<(u64, Vec<String>)> = opened
        .membership
        .list()
        .into_iter()
        .map(|m| (m.id, m.peer_urls))
        .collect();
    if peers.is_empty() {
        peers = opened
            .initial_peers
            .iter()
            .map(|m| (m.id, m.peer_urls.clone()))
            .collect();
    }
    transport.set_peers(&peers);
    Ok(transport)
}
