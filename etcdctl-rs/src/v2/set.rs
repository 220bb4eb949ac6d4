//! `set`: sets a key's value, optionally compare-and-swap on the previous
//! value or index, with a TTL.

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_BAD_ARGS, EXIT_SERVER_ERROR};
use super::keys::{self, ApiError, SetOptions};
use super::printer::print_response;
use super::TTL;

pub const COMMAND: Command = Command {
    name: "set",
    aliases: &[],
    usage: "set the value of a key",
    args_usage: "<key> <value>",
    description: "Set sets the value of a key.\n\n   When <value> begins with '-', <value> is interpreted as a flag.\n   Insert '--' for workaround:\n\n   $ set -- <key> <value>",
    flags: &[
        TTL,
        Flag::new(&["swap-with-value"], Kind::Str, "previous value", ""),
        Flag::new(&["swap-with-index"], Kind::Int, "previous index", "0"),
    ],
    subcommands: &[],
};

/// The key (first argument), or "key required".
pub fn key_arg(ctx: &Ctx) -> Result<String, Exit> {
    ctx.args()
        .first()
        .cloned()
        .ok_or_else(|| handle_error(EXIT_BAD_ARGS, &ApiError::Other("key required".into())))
}

/// The value: the second argument, else all of stdin (Go's `argOrStdin`).
pub fn value_arg(ctx: &Ctx) -> Result<String, Exit> {
    if let Some(v) = ctx.args().get(1) {
        return Ok(v.clone());
    }
    let mut buf = Vec::new();
    let read = std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf);
    if read.is_err() || buf.is_empty() {
        return Err(handle_error(
            EXIT_BAD_ARGS,
            &ApiError::Other("value required".into()),
        ));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let value = value_arg(ctx)?;
    let opts = SetOptions {
        ttl: ctx.flags.int("ttl"),
        prev_value: ctx.flags.string("swap-with-value"),
        prev_index: ctx.flags.int("swap-with-index") as u64,
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
