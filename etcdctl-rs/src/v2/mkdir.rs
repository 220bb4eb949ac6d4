//! `mkdir` (a directory that must not exist) and `setdir` (create a
//! directory or refresh its TTL); both print nothing on success.

use super::cli::Command;
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::keys::{self, PrevExist, SetOptions};
use super::set::key_arg;
use super::TTL;

pub const MKDIR: Command = Command::leaf("mkdir", "make a new directory", "<key>", &[TTL]);

pub const SETDIR: Command = Command::leaf(
    "setdir",
    "create a new directory or update an existing directory TTL",
    "<key>",
    &[TTL],
);

pub async fn run(ctx: &mut Ctx, prev_exist: PrevExist) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let opts = SetOptions {
        ttl: ctx.flags.int("ttl"),
        prev_exist,
        dir: true,
        ..SetOptions::default()
    };
    let mut c = ctx.client().await?;
    ctx.start_deadline(&mut c);
    keys::set(&mut c, &key, "", &opts)
        .await
        .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
    Ok(())
}
