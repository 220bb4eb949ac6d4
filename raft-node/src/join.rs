//! Joining a running cluster (`--initial-cluster-state existing`): a new
//! member's identity (name, member ID, cluster ID; see
//! `etcd_datadir::identity`) is not derived from the flags but learnt from
//! the other members, in whose member list it must already appear (added
//! with MemberAdd).

use std::time::Duration;

use etcd_datadir::identity::Identity;
use etcd_proto::etcdrs::MemberRecord;

use crate::config::Config;
use crate::{tls, StartError};

/// Joins a running cluster (`--initial-cluster-state existing`): asks the
/// other members for the cluster ID and member list, in which this member
/// must already appear (added with MemberAdd).
pub(crate) async fn join_existing(
    config: &Config,
) -> Result<(Identity, Vec<MemberRecord>), StartError> {
    let peer_tls = tls::peer_client_config(config).map_err(StartError::Config)?;
    let mine = config.advertise_peer_urls();
    let others: Vec<String> = config
        .initial_cluster()
        .into_iter()
        .flat_map(|(_, urls)| urls)
        .filter(|u| !mine.contains(u))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for url in &others {
            let Ok(channel) = tls::peer_channel(url, peer_tls.clone(), false).await else {
                continue;
            };
            let mut client = etcd_proto::etcdrs::peer_client::PeerClient::new(channel);
            let Ok(resp) = client
                .cluster_info(etcd_proto::etcdrs::ClusterInfoRequest {})
                .await
            else {
                continue;
            };
            let info = resp.into_inner();
            let mut wanted = mine.clone();
            wanted.sort();
            let me = info.members.iter().find(|m| {
                let mut urls = m.peer_urls.clone();
                urls.sort();
                urls == wanted
            });
            let Some(me) = me else {
                return Err(StartError::Config(format!(
                    "member with peer URLs {mine:?} has not been added to the cluster (use member add first)"
                )));
            };
            let identity = Identity {
                name: config.name.clone(),
                member_id: me.id,
                cluster_id: info.cluster_id,
            };
            return Ok((identity, info.members));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StartError::Config(format!(
                "could not reach any existing member at {others:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
