//! Creating a new cluster: the initial member list from the flags, and the
//! first entries of every initial member's log.
//!
//! As in etcd, a new cluster's log starts with one committed ConfChange
//! (AddNode) per initial member, at term 1, in member-ID order. Every initial
//! member writes the same entries, so their logs agree from index 1, and a
//! member that joins later learns the initial members by replaying them.

use etcd_proto::etcdrs::{ConfChangeContext, MemberRecord};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, SnapshotMetadata,
};

use crate::ids;
use crate::wal::{Recovered, Wal, WalError};
use crate::NewCluster;

/// The members of a new cluster, with etcd's IDs, sorted by ID.
pub fn initial_members(cluster: &NewCluster) -> Vec<MemberRecord> {
    let mut members: Vec<MemberRecord> = cluster
        .members
        .iter()
        .map(|(name, peer_urls)| MemberRecord {
            id: ids::member_id(peer_urls, &cluster.token),
            name: name.clone(),
            peer_urls: peer_urls.clone(),
            client_urls: Vec::new(),
            is_learner: false,
        })
        .collect();
    members.sort_by_key(|m| m.id);
    members
}

/// Writes the bootstrap entries to a fresh WAL and returns them as if
/// recovered.
pub fn write_initial_log(wal: &mut Wal, members: &[MemberRecord]) -> Result<Recovered, WalError> {
    let mut entries = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let mut cc = ConfChange::default();
        cc.set_change_type(ConfChangeType::AddNode);
        cc.node_id = m.id;
        cc.context = ConfChangeContext {
            request_id: 0,
            member: Some(m.clone()),
        }
        .encode_to_vec()
        .into();
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        e.term = 1;
        e.index = i as u64 + 1;
        e.data = cc
            .write_to_bytes()
            .map_err(|e| WalError::Invalid(format!("encode conf change: {e}")))?
            .into();
        entries.push(e);
    }
    let hs = HardState {
        term: 1,
        commit: entries.len() as u64,
        ..Default::default()
    };
    let mut meta = SnapshotMetadata::default();
    meta.set_conf_state(ConfState {
        voters: members.iter().map(|m| m.id).collect(),
        ..Default::default()
    });
    wal.save_snapshot(&meta)?;
    wal.append(&entries, Some(&hs))?;
    Ok(Recovered {
        snapshot: meta,
        hard_state: hs,
        entries,
    })
}
