//! `watch`: waits for the next change of a key (or of a tree with `-r`),
//! or keeps watching with `--forever`; Ctrl-C ends it with status 0.

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::keys::Watcher;
use super::printer::print_response;
use super::set::key_arg;

pub const AFTER_INDEX: Flag = Flag::new(
    &["after-index"],
    Kind::Int,
    "watch after the given index",
    "0",
);

pub const COMMAND: Command = Command::leaf(
    "watch",
    "watch a key for changes",
    "<key>",
    &[
        Flag::new(
            &["forever", "f"],
            Kind::Bool,
            "forever watch a key until CTRL+C",
            "",
        ),
        AFTER_INDEX,
        Flag::new(
            &["recursive", "r"],
            Kind::Bool,
            "returns all values for key and child keys",
            "",
        ),
    ],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let key = key_arg(ctx)?;
    let recursive = ctx.flags.bool("recursive");
    let forever = ctx.flags.bool("forever");
    let mut c = ctx.client().await?;
    let mut w = Watcher {
        key,
        recursive,
        wait_index: (ctx.flags.int("after-index") as u64).wrapping_add(1),
    };
    if ctx.flags.int("after-index") == 0 {
        w.wait_index = 0;
    }
    let output = ctx.output();
    let events = async {
        loop {
            let resp = w
                .next(&mut c)
                .await
                .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
            if resp.node.dir {
                continue;
            }
            if recursive {
                println!("[{}] {}", resp.action, resp.node.key);
            }
            print_response(&resp, &output);
            if !forever {
                return Ok(());
            }
        }
    };
    tokio::select! {
        r = events => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
