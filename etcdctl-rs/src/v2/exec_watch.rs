//! `exec-watch`: runs a command for every change of a key, passing the
//! event in `ETCD_WATCH_*` variables. Like Go's etcdctl, the key is the
//! last argument unless a second `--` separates key and command (urfave
//! consumes the first `--`).

use super::cli::{Command, Flag, Kind};
use super::context::{handle_error, Ctx, Exit, EXIT_BAD_ARGS, EXIT_SERVER_ERROR};
use super::keys::{ApiError, Watcher};
use super::response::Response;
use super::tls::errno_text;
use super::watch::AFTER_INDEX;

pub const COMMAND: Command = Command::leaf(
    "exec-watch",
    "watch a key for changes and exec an executable",
    "<key> <command> [args...]",
    &[
        AFTER_INDEX,
        Flag::new(
            &["recursive", "r"],
            Kind::Bool,
            "watch all values for key and child keys",
            "",
        ),
    ],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let args = ctx.args().to_vec();
    if args.len() < 2 {
        return Err(handle_error(
            EXIT_BAD_ARGS,
            &ApiError::Other("key and command to exec required".into()),
        ));
    }
    let found_sep = args.iter().skip(1).any(|a| a == "--");
    let (key, cmd) = if found_sep {
        (args[0].clone(), args[2..].to_vec())
    } else {
        (
            args[args.len() - 1].clone(),
            args[..args.len() - 1].to_vec(),
        )
    };
    let after = ctx.flags.int("after-index");
    let index = if after != 0 { after + 1 } else { 0 };
    let mut c = ctx.client().await?;
    let mut w = Watcher {
        key,
        recursive: ctx.flags.bool("recursive"),
        wait_index: index as u64,
    };
    let events = async {
        loop {
            let resp = w
                .next(&mut c)
                .await
                .map_err(|e| handle_error(EXIT_SERVER_ERROR, &e))?;
            if resp.node.dir {
                eprintln!("Ignored dir {} change", resp.node.key);
                continue;
            }
            spawn(&cmd, &resp)?;
        }
    };
    tokio::select! {
        r = events => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Starts the command with the event's variables, without waiting for it.
fn spawn(cmd: &[String], resp: &Response) -> Result<(), Exit> {
    let Some(program) = cmd.first() else {
        return Err(Exit::new(1, "exec: no command".into()));
    };
    if !program.contains('/') && !in_path(program) {
        return Err(Exit::new(
            1,
            format!("exec: \"{program}\": executable file not found in $PATH"),
        ));
    }
    let child = std::process::Command::new(program)
        .args(&cmd[1..])
        .env("ETCD_WATCH_ACTION", &resp.action)
        .env(
            "ETCD_WATCH_MODIFIED_INDEX",
            resp.node.modified_index.to_string(),
        )
        .env("ETCD_WATCH_KEY", &resp.node.key)
        .env("ETCD_WATCH_VALUE", &resp.node.value)
        .spawn()
        .map_err(|e| Exit::new(1, format!("fork/exec {program}: {}", errno_text(&e))))?;
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(program);
            std::fs::metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}
