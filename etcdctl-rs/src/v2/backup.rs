//! `backup`: copies a stopped member's data dir into a new data dir that
//! `etcd-rs` can start from as a new one-member cluster.
//!
//! The Go etcdctl reads etcd's own data dir (bbolt + WAL + v2 snapshots);
//! etcdctl-rs reads etcd-rs's (`member/identity.json`, the sled store in
//! `member/db`, the WAL in `member/wal` or `--wal-dir`). The copy must be
//! consistent: the store may lag the WAL by the entries applied since its
//! last flush, so the store and the WAL are copied to a scratch directory
//! (the source stays untouched), the WAL entries after the store's applied
//! index are applied to the copy (like `--force-new-cluster`, every entry
//! the log holds counts as committed), and the result is written with the
//! restore path of `etcdctl snapshot restore` into `--backup-dir` (WAL in
//! `--backup-wal-dir`): the same member name and peer URLs, a new cluster.
//!
//! As with Go, v3 data is only kept with `--with-v3`; without it only the
//! v2 nodes (v3 keys under `\0v2`) survive. A directory that is not an
//! etcd-rs data dir fails as Go fails on a data dir it cannot read: a log
//! line `open <data-dir>/member/snap: no such file or directory`, exit 1.

use std::path::{Path, PathBuf};

use clap::Parser;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::DeleteRangeRequest;
use etcd_store::{SledBackend, Store, StoreConfig};
use prost::Message;
use raft::eraftpb::EntryType;
use raft_node::wal::{Wal, DEFAULT_SEGMENT_BYTES};

use super::cli::{Command, Flag, Kind};
use super::context::{Ctx, Exit};
use crate::v3::logline;

pub const COMMAND: Command = Command::leaf(
    "backup",
    "backup an etcd directory",
    " ",
    &[
        Flag::new(&["data-dir"], Kind::Str, "Path to the etcd data dir", ""),
        Flag::new(&["wal-dir"], Kind::Str, "Path to the etcd wal dir", ""),
        Flag::new(&["backup-dir"], Kind::Str, "Path to the backup dir", ""),
        Flag::new(
            &["backup-wal-dir"],
            Kind::Str,
            "Path to the backup wal dir",
            "",
        ),
        Flag::new(&["with-v3"], Kind::Bool, "Backup v3 backend data", ""),
    ],
);

/// Where v2 nodes live in the v3 keyspace, and the first key after them.
const V2_PREFIX: &[u8] = b"\0v2";
const V2_END: &[u8] = b"\0v3";

/// The paths of one backup.
struct Paths {
    data_dir: PathBuf,
    wal_dir: PathBuf,
    backup_dir: PathBuf,
    backup_wal_dir: PathBuf,
}

/// Go's `filepath.Join` of a directory and `member/<leaf>` (cleaned).
fn member_path(dir: &str, leaf: &str) -> PathBuf {
    let joined = if dir.is_empty() {
        format!("member/{leaf}")
    } else {
        format!("{}/member/{leaf}", dir.trim_end_matches('/'))
    };
    PathBuf::from(joined)
}

/// Go's `log.Fatal` through capnslog: one line, exit 1.
fn fatal(msg: &str) -> Exit {
    Exit::new(1, logline::capnslog_plain('I', msg))
}

pub fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let data_dir = ctx.flags.string("data-dir");
    let wal_dir = ctx.flags.string("wal-dir");
    let backup_dir = ctx.flags.string("backup-dir");
    let backup_wal_dir = ctx.flags.string("backup-wal-dir");
    let paths = Paths {
        data_dir: PathBuf::from(&data_dir),
        wal_dir: if wal_dir.is_empty() {
            member_path(&data_dir, "wal")
        } else {
            PathBuf::from(&wal_dir)
        },
        backup_dir: PathBuf::from(&backup_dir),
        backup_wal_dir: if backup_wal_dir.is_empty() {
            member_path(&backup_dir, "wal")
        } else {
            PathBuf::from(&backup_wal_dir)
        },
    };
    let member = paths.data_dir.join("member");
    if !member.join("identity.json").is_file() || !member.join("db").is_dir() {
        // Go creates the backup's snapshot dir, then fails to read the source's.
        let _ = std::fs::create_dir_all(member_path(&backup_dir, "snap"));
        return Err(fatal(&format!(
            "open {}: no such file or directory",
            member_path(&data_dir, "snap").display()
        )));
    }
    backup(&paths, ctx.flags.bool("with-v3")).map_err(|e| fatal(&e))
}

/// The parts of etcd-rs's `member/identity.json` a backup needs.
struct Identity {
    name: String,
    member_id: u64,
}

fn read_identity(path: &Path) -> Result<Identity, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    match (v["name"].as_str(), v["member_id"].as_u64()) {
        (Some(name), Some(member_id)) => Ok(Identity {
            name: name.to_string(),
            member_id,
        }),
        _ => Err(format!("{}: not an etcd-rs identity file", path.display())),
    }
}

/// Copies a directory tree (files and subdirectories).
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("mkdir {}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("open {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch_dir() -> Result<Scratch, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir =
        std::env::temp_dir().join(format!("etcdctl-rs-backup-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    Ok(Scratch(dir))
}

fn backup(paths: &Paths, with_v3: bool) -> Result<(), String> {
    let member = paths.data_dir.join("member");
    let identity = read_identity(&member.join("identity.json"))?;
    let scratch = scratch_dir()?;
    copy_tree(&member.join("db"), &scratch.0.join("db"))?;
    if paths.wal_dir.is_dir() {
        copy_tree(&paths.wal_dir, &scratch.0.join("wal"))?;
    }
    let store = Store::open(
        Box::new(SledBackend::open(&scratch.0.join("db")).map_err(|e| e.to_string())?),
        StoreConfig::default(),
    )
    .map_err(|e| e.to_string())?;
    let (_wal, recovered) =
        Wal::open(&scratch.0.join("wal"), DEFAULT_SEGMENT_BYTES).map_err(|e| e.to_string())?;
    let last = catch_up(&store, &recovered.entries)?;

    let members = raft_node::membership::Membership::load(&store).map_err(|e| e.to_string())?;
    let me = members.get(identity.member_id).ok_or_else(|| {
        format!(
            "member {:x} is not in its own member list",
            identity.member_id
        )
    })?;
    if me.peer_urls.is_empty() {
        return Err(format!("member {:x} has no peer URLs", identity.member_id));
    }
    if !with_v3 {
        keep_only_v2(&store, last)?;
    }
    let mut body = store.snapshot().map_err(|e| e.to_string())?;
    etcd_store::snapshot::append_sha256(&mut body);
    drop(store);

    let cluster: Vec<String> = me
        .peer_urls
        .iter()
        .map(|u| format!("{}={u}", identity.name))
        .collect();
    let data_dir = paths.backup_dir.to_string_lossy().into_owned();
    let wal_dir = paths.backup_wal_dir.to_string_lossy().into_owned();
    let config = raft_node::Config::try_parse_from([
        "etcd-rs",
        "--name",
        &identity.name,
        "--data-dir",
        &data_dir,
        "--wal-dir",
        &wal_dir,
        "--initial-cluster",
        &cluster.join(","),
        "--initial-advertise-peer-urls",
        &me.peer_urls.join(","),
    ])
    .map_err(|e| e.to_string().trim_end().to_string())?;
    raft_node::restore::restore(&body, &config).map_err(|e| e.to_string())
}

/// Applies the WAL entries the store has not applied yet; the last index
/// (and its term) the store then reflects.
fn catch_up(store: &Store, entries: &[raft::eraftpb::Entry]) -> Result<(u64, u64), String> {
    let applied = store.applied_index();
    let mut last = (applied, store.status().applied_term);
    for e in entries.iter().filter(|e| e.index > applied) {
        last = (e.index, e.term);
        let req = if e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty() {
            Some(
                RaftRequest::decode(e.data.as_ref())
                    .map_err(|err| format!("undecodable raft entry at index {}: {err}", e.index))?,
            )
        } else {
            None
        };
        match req {
            // Membership is rebuilt for the new cluster: only the index counts.
            None
            | Some(RaftRequest {
                op: Some(Op::MemberAttributes(_) | Op::MemberUpdate(_)),
                ..
            }) => store
                .apply_cluster_rows(e.index, e.term, &[])
                .map_err(|err| err.to_string())?,
            Some(req) => match store.apply(e.index, e.term, &req) {
                Ok(_) => {}
                Err(err) if err.is_deterministic() => {}
                Err(err) => return Err(err.to_string()),
            },
        }
    }
    Ok(last)
}

/// Deletes every v3 key outside the v2 namespace (as entries after `last`).
fn keep_only_v2(store: &Store, last: (u64, u64)) -> Result<(), String> {
    let mut next = last;
    for (key, range_end) in [
        (vec![0u8], V2_PREFIX.to_vec()),
        (V2_END.to_vec(), vec![0u8]),
    ] {
        next.0 += 1;
        let req = RaftRequest {
            op: Some(Op::DeleteRange(DeleteRangeRequest {
                key,
                range_end,
                ..Default::default()
            })),
            ..Default::default()
        };
        store
            .apply(next.0, next.1, &req)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
