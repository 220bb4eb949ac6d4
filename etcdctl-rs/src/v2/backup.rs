//! `backup`: the v2 data-dir backup. Only its flags and argument checks
//! are implemented; copying a data dir is refused with a message.

use super::cli::{Command, Flag, Kind};
use super::context::{Ctx, Exit};

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

pub fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let data_dir = ctx.flags.string("data-dir");
    Err(Exit::new(
        1,
        format!("etcdctl-rs: v2 backup of {data_dir:?} is not supported yet\n"),
    ))
}
