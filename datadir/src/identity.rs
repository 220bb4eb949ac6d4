//! A member's identity: its name, member ID and cluster ID, fixed at its
//! first start and kept in the data dir (`member/identity.json`, written
//! atomically). A member of a new cluster derives it from the flags (IDs
//! hashed from the initial cluster, as etcd: [`new_cluster_identity`]); one
//! that joins a running cluster learns it from the other members (the
//! server's business).

use std::io::Write as _;
use std::path::Path;

use etcd_proto::etcdrs::MemberRecord;

use crate::{bootstrap, ids, DataDirError, NewCluster};

/// The identity file's name inside `member/`.
pub const FILE: &str = "identity.json";

/// A member's identity, fixed at its first start and kept in the data dir.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub name: String,
    pub member_id: u64,
    pub cluster_id: u64,
}

/// The identity of member `name` in `cluster`, and that cluster's initial
/// members.
pub fn new_cluster_identity(
    name: &str,
    cluster: &NewCluster,
) -> Result<(Identity, Vec<MemberRecord>), DataDirError> {
    let members = bootstrap::initial_members(cluster);
    let me = members.iter().find(|m| m.name == name).ok_or_else(|| {
        DataDirError::Invalid(format!(
            "couldn't find local name {name:?} in the initial cluster configuration"
        ))
    })?;
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    let identity = Identity {
        name: name.to_string(),
        member_id: me.id,
        cluster_id: ids::cluster_id(&ids),
    };
    Ok((identity, members))
}

/// The identity kept in `member_dir`, if there is one.
pub fn read(member_dir: &Path) -> Result<Option<Identity>, DataDirError> {
    let path = member_dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DataDirError::Invalid(format!("bad {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the identity file into `member_dir` atomically (temp file, fsync,
/// rename, fsync of the directory).
pub fn write(member_dir: &Path, identity: &Identity) -> Result<(), DataDirError> {
    let path = member_dir.join(FILE);
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(identity)
        .map_err(|e| DataDirError::Invalid(format!("encode identity: {e}")))?;
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&json)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(member_dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_identity_reads_back_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("read"), None);
        let cluster = NewCluster {
            members: vec![("a".into(), vec!["http://127.0.0.1:2380".into()])],
            token: "t".into(),
        };
        let (identity, members) = new_cluster_identity("a", &cluster).expect("identity");
        assert_eq!(members.len(), 1);
        assert_eq!(identity.member_id, members[0].id);
        write(dir.path(), &identity).expect("write");
        assert_eq!(read(dir.path()).expect("read"), Some(identity));
        assert!(new_cluster_identity("b", &cluster).is_err());
    }
}
