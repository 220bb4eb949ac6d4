//! Sending raft messages to peers over the peer URLs.
//!
//! One sender task per peer, fed by a bounded queue: the raft loop never
//! blocks on the network. A slow or dead peer only fills its own queue;
//! once full, further messages to it are dropped and raft is told the peer
//! is unreachable (raft retransmits what matters: heartbeats and appends are
//! repeated, the log is probed again). Each sender keeps one client-streaming
//! gRPC call open and writes batches of messages into it; when the call
//! fails it reconnects with backoff.
//!
//! Snapshot messages carry the whole store and go on their own task and
//! stream, so a large snapshot never delays the heartbeats behind it; the
//! outcome is reported back to raft (`report_snapshot`).

use std::collections::HashMap;
use std::sync::mpsc::Sender as StdSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_proto::etcdrs::peer_client::PeerClient;
use etcd_proto::etcdrs::{RaftBatch, SnapshotChunk};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::messages::NodeMsg;

/// Messages queued per peer before further ones are dropped.
const PEER_QUEUE: usize = 4096;
/// Messages per batch on the wire.
const BATCH: usize = 256;
/// Bytes of snapshot data per chunk.
const SNAPSHOT_CHUNK: usize = 1024 * 1024;

struct Peer {
    urls: Vec<String>,
    queue: mpsc::Sender<Message>,
    task: tokio::task::JoinHandle<()>,
}

/// Where the raft loop's outgoing messages go: the network ([`Transport`]),
/// or, in the deterministic simulation, a queue the test delivers from.
pub trait Outbox: Send + Sync {
    /// Queues messages for their peers without blocking.
    fn send(&self, msgs: Vec<Message>);
    /// Makes the set of peers match the member list.
    fn set_peers(&self, members: &[(u64, Vec<String>)]);
    /// Stops sending.
    fn close(&self);
}

/// Outgoing raft traffic; owned by the raft loop, shared with the apply path
/// (which changes the peer set).
pub struct Transport {
    /// TLS for `https://` peer URLs.
    tls: Option<Arc<rustls::ClientConfig>>,
    cluster_id: u64,
    my_id: u64,
    runtime: Handle,
    node_tx: StdSender<NodeMsg>,
    peers: Mutex<HashMap<u64, Peer>>,
}

impl Transport {
    pub fn new(
        cluster_id: u64,
        my_id: u64,
        runtime: Handle,
        node_tx: StdSender<NodeMsg>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        Transport {
            tls,
            cluster_id,
            my_id,
            runtime,
            node_tx,
            peers: Mutex::new(HashMap::new()),
        }
    }
}

impl Outbox for Transport {
    /// Makes the set of peers (other than this member) match `members`.
    fn set_peers(&self, members: &[(u64, Vec<String>)]) {
        let mut peers = self.peers.lock().expect("peers lock");
        peers.retain(|id, p| {
            let keep = members.iter().any(|(m, urls)| m == id && *urls == p.urls);
            if !keep {
                p.task.abort();
            }
            keep
        });
        for (id, urls) in members {
            if *id == self.my_id || peers.contains_key(id) || urls.is_empty() {
                continue;
            }
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            let sender = PeerSender {
                cluster_id: self.cluster_id,
                from: self.my_id,
                to: *id,
                urls: urls.clone(),
                node_tx: self.node_tx.clone(),
                tls: self.tls.clone(),
            };
            let task = self.runtime.spawn(sender.run(rx));
            peers.insert(
                *id,
                Peer {
                    urls: urls.clone(),
                    queue: tx,
                    task,
                },
            );
        }
    }

    /// Queues messages for their peers without blocking.
    fn send(&self, msgs: Vec<Message>) {
        let peers = self.peers.lock().expect("peers lock");
        for m in msgs {
            let to = m.to;
            let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
            let Some(peer) = peers.get(&to) else {
                // raft waits for the outcome of every snapshot it sends.
                if snapshot {
                    let _ = self.node_tx.send(NodeMsg::SnapshotStatus { to, ok: false });
                }
                continue;
            };
            if snapshot {
                let sender = PeerSender {
                    cluster_id: self.cluster_id,
                    from: self.my_id,
                    to,
                    urls: peer.urls.clone(),
                    node_tx: self.node_tx.clone(),
                    tls: self.tls.clone(),
                };
                self.runtime.spawn(sender.send_snapshot(m));
                continue;
            }
            if peer.queue.try_send(m).is_err() {
                let _ = self.node_tx.send(NodeMsg::Unreachable(to));
            }
        }
    }

    /// Stops every sender.
    fn close(&self) {
        for (_, p) in self.peers.lock().expect("peers lock").drain() {
            p.task.abort();
        }
    }
}

struct PeerSender {
    cluster_id: u64,
    from: u64,
    to: u64,
    urls: Vec<String>,
    node_tx: StdSender<NodeMsg>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl PeerSender {
    async fn channel(&self, attempt: usize, lazy: bool) -> Result<Channel, String> {
        let url = &self.urls[attempt % self.urls.len()];
        crate::tls::peer_channel(url, self.tls.clone(), lazy).await
    }

    async fn run(self, mut queue: mpsc::Receiver<Message>) {
        let mut attempt = 0usize;
        let mut backoff = Duration::from_millis(50);
        loop {
            // Connect before taking messages off the queue, so nothing is
            // lost to a peer that is not up yet.
            let channel = match self.channel(attempt, false).await {
                Ok(ch) => ch,
                Err(e) => {
                    tracing::debug!(peer = %format!("{:x}", self.to), error = %e, "cannot reach peer");
                    let _ = self.node_tx.send(NodeMsg::Unreachable(self.to));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    attempt += 1;
                    continue;
                }
            };
            let (stream_tx, stream_rx) = mpsc::channel::<RaftBatch>(16);
            let mut client = PeerClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let call =
                tokio::spawn(async move { client.raft(ReceiverStream::new(stream_rx)).await });
            let mut healthy = true;
            while healthy {
                let Some(first) = queue.recv().await else {
                    call.abort();
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match queue.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
                let messages = batch
                    .iter()
                    .filter_map(|m| m.write_to_bytes().ok())
                    .collect();
                let out = RaftBatch {
                    cluster_id: self.cluster_id,
                    from: self.from,
                    to: self.to,
                    messages,
                };
                if stream_tx.send(out).await.is_err() {
                    healthy = false;
                } else {
                    backoff = Duration::from_millis(50);
                }
            }
            // The stream broke: the peer is down or restarting.
            let ended = call.await;
            if let Ok(Err(status)) = ended {
                if status.code() == tonic::Code::PermissionDenied {
                    // The cluster removed this member: stop it.
                    let _ = self.node_tx.send(NodeMsg::Removed);
                    return;
                }
                tracing::debug!(peer = %format!("{:x}", self.to), %status, "peer stream ended");
            }
            let _ = self.node_tx.send(NodeMsg::Unreachable(self.to));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            attempt += 1;
        }
    }

    async fn send_snapshot(self, mut msg: Message) {
        let data = msg.mut_snapshot().take_data();
        let ok = async {
            let channel = self.channel(0, false).await.ok()?;
            let header = msg.write_to_bytes().ok()?;
            let mut chunks = vec![SnapshotChunk {
                cluster_id: self.cluster_id,
                message: header,
                data: Vec::new(),
            }];
            for part in data.chunks(SNAPSHOT_CHUNK) {
                chunks.push(SnapshotChunk {
                    cluster_id: self.cluster_id,
                    message: Vec::new(),
                    data: part.to_vec(),
                });
            }
            let mut client = PeerClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let resp = client.snapshot(tokio_stream::iter(chunks)).await.ok()?;
            resp.into_inner().ok.then_some(())
        }
        .await
        .is_some();
        tracing::info!(peer = %format!("{:x}", self.to), bytes = data.len(), ok, "sent snapshot");
        let _ = self
            .node_tx
            .send(NodeMsg::SnapshotStatus { to: self.to, ok });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_to(to: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgSnapshot);
        m.to = to;
        m.from = 1;
        m
    }

    /// raft keeps a follower in its snapshot state until the snapshot's
    /// outcome is reported: a snapshot for a peer the transport does not
    /// know (yet) must be reported as failed, or that follower never gets
    /// another message.
    #[test]
    fn a_snapshot_for_an_unknown_peer_is_reported_failed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (node_tx, node_rx) = std::sync::mpsc::channel();
        let transport = Transport::new(7, 1, rt.handle().clone(), node_tx, None);
        transport.send(vec![snapshot_to(2)]);
        match node_rx.try_recv() {
            Ok(NodeMsg::SnapshotStatus { to: 2, ok: false }) => {}
            Ok(_) => panic!("another message than the snapshot's failure"),
            Err(e) => panic!("nothing reported: {e}"),
        }
    }
}
