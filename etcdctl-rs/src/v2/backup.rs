//! `backup`: copies a stopped member's data dir into a new data dir that
//! `etcd-rs` can start from as a new one-member cluster.
//!
//! The Go etcdctl reads etcd's own data dir (bbolt + WAL + v2 snapshots);
//! etcdctl-rs reads etcd-rs's (`member/identity.json`, the sled store in
//! `member/db`, the WAL in `member/wal` or `--wal-dir`) through
//! `etcd_datadir::backup`, which writes a consistent copy into
//! `--backup-dir` (WAL in `--backup-wal-dir`): the same member name and peer
//! URLs, a new cluster. As with Go, v3 data is only kept with `--with-v3`. A directory that is not an
//! etcd-rs data dir fails as Go fails on a data dir it cannot read: a log
//! line `open <data-dir>/member/snap: no such file or directory`, exit 1.

use std::path::PathBuf;

use etcd_datadir::backup::{backup, is_data_dir, BackupOptions};

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
    let options = BackupOptions {
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
        with_v3: ctx.flags.bool("with-v3"),
    };
    if !is_data_dir(&options.data_dir) {
        // Go creates the backup's snapshot dir, then fails to read the source's.
        let _ = std::fs::create_dir_all(member_path(&backup_dir, "snap"));
        return Err(fatal(&format!(
            "open {}: no such file or directory",
            member_path(&data_dir, "snap").display()
        )));
    }
    backup(&options).map_err(|e| fatal(&e.to_string()))
}
