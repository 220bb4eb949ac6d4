//! `get`: prints a key's value; a directory is an error.

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::keys;
use super::printer::print_response;
use super::set::key_arg;

pub const SORT: Flag = Flag::new(&["sort"], Kind::Bool, "returns result in sorted order", "");
pub const QUORUM: Flag = Flag::new(
    &["quorum", "q"],
    Kind::Bool,
    "require quorum for get request",
    "",
);

pub const COMMAND: Command = Command::leaf(
    "get",
    "retrieve the value of a key",
    "<key>",
    &[SORT, QUORUM],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let mut c = ctx.client().await?;
    ctx.start_deadline(&mut c);
    let resp = keys::get(
        &mut c,
        &key,
        ctx.flags.bool("sort"),
        false,
        ctx.flags.bool("quorum"),
    )
    .await
    .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
    if resp.node.dir {
        return Err(Exit::new(1, format!("{}: is a directory\n", resp.node.key)));
    }
    print_response(&resp, &ctx.output());
    Ok(())
}
