//! `mk`: creates a key that must not exist yet, or with `--in-order` a
//! new sequentially named key under a directory.

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::keys::{self, PrevExist, SetOptions};
use super::printer::print_response;
use super::set::{key_arg, value_arg};
use super::TTL;

pub const COMMAND: Command = Command::leaf(
    "mk",
    "make a new key with a given value",
    "<key> <value>",
    &[
        Flag::new(
            &["in-order"],
            Kind::Bool,
            "create in-order key under directory <key>",
            "",
        ),
        TTL,
    ],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let value = value_arg(ctx)?;
    let ttl = ctx.flags.int("ttl");
    let mut c = ctx.client().await?;
    ctx.start_deadline(&mut c);
    let resp = if ctx.flags.bool("in-order") {
        keys::create_in_order(&mut c, &key, &value, ttl).await
    } else {
        let opts = SetOptions {
            ttl,
            prev_exist: PrevExist::NoExist,
            ..SetOptions::default()
        };
        keys::set(&mut c, &key, &value, &opts).await
    }
    .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
    print_response(&resp, &ctx.output());
    Ok(())
}
