//! This member's identity: its name, member ID and cluster ID, fixed at its
//! first start and kept in the data dir (`member/identity.json`, written
//! atomically). A member of a new cluster derives it from the flags (IDs
//! hashed from the initial cluster, as etcd); one joining a running cluster
//! (`--initial-cluster-state existing`) asks the other members, in whose
//! member list it must already appear.

use std::path::Path;
use std::time::Duration;

use etcd_proto::etcdrs::MemberRecord;

use crate::config::Config;
use crate::{bootstrap, ids, tls, StartError};

/// This member's identity, fixed at its first start and kept in the data dir.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Identity {
    pub name: String,
    pub member_id: u64,
    pub cluster_id: u64,
}

/// This member's identity in the NEW cluster the flags describe, and that
/// cluster's initial members.
pub(crate) fn new_cluster_identity(
    config: &Config,
) -> Result<(Identity, Vec<MemberRecord>), StartError> {
    let members = bootstrap::initial_members(config);
    let me = members
        .iter()
        .find(|m| m.name == config.name)
        .ok_or_else(|| {
            StartError::Config(format!(
                "couldn't find local name {:?} in the initial cluster configuration",
                config.name
            ))
        })?;
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    let identity = Identity {
        name: config.name.clone(),
        member_id: me.id,
        cluster_id: ids::cluster_id(&ids),
    };
    Ok((identity, members))
}

pub(crate) fn read_identity(path: &Path) -> Result<Option<Identity>, StartError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StartError::Config(format!("bad {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the identity file atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write_identity(
    path: &Path,
    dir: &Path,
    identity: &Identity,
) -> Result<(), StartError> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(identity)
        .map_err(|e| StartError::Config(format!("encode identity: {e}")))?;
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&json)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

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
