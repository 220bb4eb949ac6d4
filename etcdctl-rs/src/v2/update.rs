//! `update` (a key that must exist) and `updatedir` (a directory that
//! must exist, e.g. to change its TTL).

use super::cli::Command;
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::keys::{self, PrevExist, SetOptions};
use super::printer::print_response;
use super::set::{key_arg, value_arg};
use super::TTL;

pub const UPDATE: Command = Command::leaf(
    "update",
    "update an existing key with a given value",
    "<key> <value>",
    &[TTL],
);

pub const UPDATEDIR: Command = Command::leaf(
    "updatedir",
    "update an existing directory",
    "<key> <value>",
    &[TTL],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let value = value_arg(ctx)?;
    let opts = SetOptions {
        ttl: ctx.flags.int("ttl"),
        prev_exist: PrevExist::Exist,
        ..SetOptions::default()
    };
    let mut c = ctx.client().await?;
    ctx.start_deadline(&mut c);
    let resp = keys::set(&mut c, &key, &value, &opts)
        .await
        .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
    print_response(&resp, &ctx.output());
    Ok(())
}

pub async fn run_dir(ctx: &mut Ctx) -> Result<(), Exit> {
    super::mkdir::run(ctx, PrevExist::Exist).await
}
