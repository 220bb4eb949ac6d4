//! `rm` (a key, an empty directory with `--dir`, a tree with
//! `--recursive`, compare-and-delete with `--with-value`/`--with-index`)
//! and `rmdir` (an empty directory).

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::keys::{self, DeleteOptions};
use super::printer::print_response;
use super::set::key_arg;

pub const RM: Command = Command::leaf(
    "rm",
    "remove a key or a directory",
    "<key>",
    &[
        Flag::new(
            &["dir"],
            Kind::Bool,
            "removes the key if it is an empty directory or a key-value pair",
            "",
        ),
        Flag::new(
            &["recursive", "r"],
            Kind::Bool,
            "removes the key and all child keys(if it is a directory)",
            "",
        ),
        Flag::new(&["with-value"], Kind::Str, "previous value", ""),
        Flag::new(&["with-index"], Kind::Int, "previous index", "0"),
    ],
);

pub const RMDIR: Command = Command::leaf(
    "rmdir",
    "removes the key if it is an empty directory or a key-value pair",
    "<key>",
    &[],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let opts = DeleteOptions {
        prev_value: ctx.flags.string("with-value"),
        prev_index: ctx.flags.int("with-index") as u64,
        dir: ctx.flags.bool("dir"),
        recursive: ctx.flags.bool("recursive"),
    };
    delete(ctx, opts).await
}

pub async fn run_rmdir(ctx: &mut Ctx) -> Result<(), Exit> {
    let opts = DeleteOptions {
        dir: true,
        ..DeleteOptions::default()
    };
    delete(ctx, opts).await
}

async fn delete(ctx: &mut Ctx, opts: DeleteOptions) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let mut c = ctx.client().await?;
    ctx.start_deadline(&mut c);
    let resp = keys::delete(&mut c, &key, &opts)
        .await
        .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
    if !resp.node.dir {
        print_response(&resp, &ctx.output());
    }
    Ok(())
}
