//! `ls`: lists a directory (recursively with `-r`), directories marked
//! with a trailing slash under `-p`.

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_SERVER_ERROR};
use super::get::{QUORUM, SORT};
use super::keys;
use super::response::Node;

pub const COMMAND: Command = Command::leaf(
    "ls",
    "retrieve a directory",
    "[key]",
    &[
        SORT,
        Flag::new(
            &["recursive", "r"],
            Kind::Bool,
            "returns all key names recursively for the given path",
            "",
        ),
        Flag::new(&["p"], Kind::Bool, "append slash (/) to directories", ""),
        QUORUM,
    ],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let key = ctx.args().first().cloned().unwrap_or_else(|| "/".into());
    let mut c = ctx.client().await?;
    ctx.start_deadline(&mut c);
    let resp = keys::get(
        &mut c,
        &key,
        ctx.flags.bool("sort"),
        ctx.flags.bool("recursive"),
        ctx.flags.bool("quorum"),
    )
    .await
    .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
    let output = ctx.output();
    if output != "simple" {
        super::printer::print_response(&resp, &output);
        return Ok(());
    }
    let mut out = String::new();
    if !resp.node.dir {
        out.push_str(&resp.node.key);
        out.push('\n');
    }
    for n in resp.node.nodes.iter().flatten() {
        print_tree(&mut out, n, ctx.flags.bool("p"));
    }
    print!("{out}");
    Ok(())
}

fn print_tree(out: &mut String, n: &Node, slash: bool) {
    out.push_str(&n.key);
    if n.dir && slash {
        out.push('/');
    }
    out.push('\n');
    for child in n.nodes.iter().flatten() {
        print_tree(out, child, slash);
    }
}
