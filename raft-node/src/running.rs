//! A started member ([`RunningServer`]): its server API, its in-process
//! clients, and stopping it (threads and tasks ended, within bounds); and
//! why starting one fails ([`StartError`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use etcd_datadir::DataDirError;
use etcd_store::StoreError;
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

use crate::{Client, EtcdServer, ServerError};

/// A started member. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub server: Arc<EtcdServer>,
    /// The client addresses actually bound (useful with port 0).
    pub client_addrs: Vec<SocketAddr>,
    pub(crate) shutdown_tx: watch::Sender<bool>,
    pub(crate) fatal_rx: watch::Receiver<Option<String>>,
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) tasks: Vec<TaskHandle<()>>,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot open data dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// How long stopping waits for the raft and apply threads.
const THREAD_STOP_WAIT: Duration = Duration::from_secs(10);

impl RunningServer {
    /// An in-process client that runs requests as root (see [`client`]).
    pub fn client(&self) -> Client {
        Client::new(self.server.clone(), "root")
    }

    /// An in-process client that runs requests as `user`, whom the
    /// embedding program vouches for (no password is checked).
    pub fn client_as(&self, user: &str) -> Client {
        Client::new(self.server.clone(), user)
    }

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
        // A leader going away hands over first, as etcd does on a graceful stop.
        if let Err(e) = self.server.transfer_leadership_away().await {
            tracing::warn!(error = %e, "leadership transfer before stopping failed");
        }
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
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        // A thread stuck on a failed disk must not keep the process (and
        // its data dir lock and ports) alive forever.
        if tokio::time::timeout(THREAD_STOP_WAIT, joined)
            .await
            .is_err()
        {
            tracing::error!("raft or apply thread did not stop; leaving it behind");
        }
    }
}
