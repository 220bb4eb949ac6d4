//! Publishing this member's name and client URLs through the log once a
//! leader exists (etcd's "publish"), so every member lists them.

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::MemberAttributes;
use tokio::sync::watch;

use crate::server::EtcdServer;

/// Publishes this member's name and client URLs through the log once a
/// leader exists, so every member lists them (etcd's "publish"), then
/// reports it through `published`.
pub(crate) async fn publish_attributes(
    server: Arc<EtcdServer>,
    published: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    // As etcd, publish through the log on every start, even when the stored
    // record already matches: the publish entry is applied only after every
    // entry committed before it, so a restarted member never serves a read
    // older than what it served before it stopped.
    let mut applied = server.applied_indexes();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Each applied entry may be the one that makes us a member
            // with a leader.
            _ = applied.changed() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if server.raft_info().leader == 0 || server.member_record(server.member_id()).is_none() {
            // Not yet in the applied member list: the log will get there.
            continue;
        }
        let attrs = Op::MemberAttributes(MemberAttributes {
            id: server.member_id(),
            name: server.config().name.clone(),
            client_urls: server.config().advertise_client_urls(),
        });
        match server.propose(attrs).await {
            Ok(_) => {
                published.send_replace(true);
                return;
            }
            Err(e) => tracing::debug!(error = %e, "publishing member attributes failed; retrying"),
        }
    }
}
