//! Cluster membership: who the members are, as replicated through the log.
//!
//! Membership changes are raft ConfChange entries whose context carries the
//! member record ([`ConfChangeContext`]). A brand-new cluster starts with one
//! ConfChange entry per initial member already in its log (as etcd does), so
//! every member, including one that joins later and replays the log, derives
//! the member list from the log alone. Applying a change writes the member
//! rows and the new raft `ConfState` into the store's cluster rows, in the same
//! batch as the applied index; they travel in store snapshots too.
//!
//! Rows: `member/{id:016x}` -> MemberRecord, `removed/{id:016x}` -> empty,
//! `confstate` -> raft ConfState (raft-rs protobuf).

use std::collections::BTreeMap;
use std::sync::RwLock;

use etcd_proto::etcdrs::MemberRecord;
use etcd_proto::etcdserverpb::Member;
use etcd_store::{Store, StoreError};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState};

pub const CONF_STATE_ROW: &str = "confstate";

fn member_row(id: u64) -> String {
    format!("member/{id:016x}")
}

fn removed_row(id: u64) -> String {
    format!("removed/{id:016x}")
}

/// Rows to write to the store's cluster keyspace: name -> value (None deletes).
pub type ClusterRows = Vec<(String, Option<Vec<u8>>)>;

/// The member list, kept in memory and in step with the store.
#[derive(Default)]
pub struct Membership {
    members: RwLock<BTreeMap<u64, MemberRecord>>,
    removed: RwLock<Vec<u64>>,
}

pub fn to_proto(m: &MemberRecord) -> Member {
    Member {
        id: m.id,
        name: m.name.clone(),
        peer_ur_ls: m.peer_urls.clone(),
        client_ur_ls: m.client_urls.clone(),
        is_learner: m.is_learner,
    }
}

impl Membership {
    /// Loads the member list from the store's cluster rows.
    pub fn load(store: &Store) -> Result<Membership, StoreError> {
        let mut members = BTreeMap::new();
        for (_, v) in store.cluster_scan("member/")? {
            let m = MemberRecord::decode(v.as_slice())?;
            members.insert(m.id, m);
        }
        let removed = store
            .cluster_scan("removed/")?
            .into_iter()
            .filter_map(|(k, _)| u64::from_str_radix(k.trim_start_matches("removed/"), 16).ok())
            .collect();
        Ok(Membership {
            members: RwLock::new(members),
            removed: RwLock::new(removed),
        })
    }

    pub fn list(&self) -> Vec<MemberRecord> {
        self.members
            .read()
            .expect("members lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<MemberRecord> {
        self.members.read().expect("members lock").get(&id).cloned()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.members.read().expect("members lock").contains_key(&id)
    }

    pub fn is_removed(&self, id: u64) -> bool {
        self.removed.read().expect("removed lock").contains(&id)
    }

    pub fn protos(&self) -> Vec<Member> {
        self.list().iter().map(to_proto).collect()
    }

    /// Applies a committed membership change to memory and returns the rows
    /// that record it (the caller writes them with the entry's index).
    pub fn apply_conf_change(
        &self,
        cc: &ConfChange,
        member: Option<&MemberRecord>,
        conf_state: &ConfState,
    ) -> ClusterRows {
        let mut rows: ClusterRows = Vec::new();
        let mut members = self.members.write().expect("members lock");
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                let learner = cc.get_change_type() == ConfChangeType::AddLearnerNode;
                let record = match (members.get(&cc.node_id), member) {
                    // Promotion (or re-add): keep what we know, update the role.
                    (Some(existing), _) => MemberRecord {
                        is_learner: learner,
                        ..existing.clone()
                    },
                    (None, Some(m)) => MemberRecord {
                        id: cc.node_id,
                        is_learner: learner,
                        ..m.clone()
                    },
                    (None, None) => MemberRecord {
                        id: cc.node_id,
                        is_learner: learner,
                        ..Default::default()
                    },
                };
                rows.push((member_row(record.id), Some(record.encode_to_vec())));
                members.insert(record.id, record);
            }
            ConfChangeType::RemoveNode => {
                members.remove(&cc.node_id);
                self.removed.write().expect("removed lock").push(cc.node_id);
                rows.push((member_row(cc.node_id), None));
                rows.push((removed_row(cc.node_id), Some(Vec::new())));
            }
        }
        rows.push((
            conf_state_row_value(conf_state).0,
            conf_state_row_value(conf_state).1,
        ));
        rows
    }

    /// Records new peer URLs for a member (MemberUpdate).
    pub fn set_peer_urls(&self, id: u64, peer_urls: &[String]) -> ClusterRows {
        let mut members = self.members.write().expect("members lock");
        let Some(m) = members.get_mut(&id) else {
            return Vec::new();
        };
        m.peer_urls = peer_urls.to_vec();
        vec![(member_row(id), Some(m.encode_to_vec()))]
    }

    /// Records a member's published name and client URLs.
    pub fn set_attributes(&self, id: u64, name: &str, client_urls: &[String]) -> ClusterRows {
        let mut members = self.members.write().expect("members lock");
        let Some(m) = members.get_mut(&id) else {
            return Vec::new();
        };
        m.name = name.to_string();
        m.client_urls = client_urls.to_vec();
        vec![(member_row(id), Some(m.encode_to_vec()))]
    }

    /// Reloads from the store (after a snapshot was installed).
    pub fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let fresh = Membership::load(store)?;
        *self.members.write().expect("members lock") =
            fresh.members.into_inner().expect("fresh lock");
        *self.removed.write().expect("removed lock") =
            fresh.removed.into_inner().expect("fresh lock");
        Ok(())
    }
}

fn conf_state_row_value(cs: &ConfState) -> (String, Option<Vec<u8>>) {
    (CONF_STATE_ROW.to_string(), cs.write_to_bytes().ok())
}

/// The ConfState stored in the store, if any.
pub fn stored_conf_state(store: &Store) -> Result<Option<ConfState>, StoreError> {
    match store.cluster_get(CONF_STATE_ROW)? {
        Some(bytes) => ConfState::parse_from_bytes(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("conf state row: {e}"))),
        None => Ok(None),
    }
}
