//! The etcd v2 API client mode (`ETCDCTL_API=2`), a drop-in for the Go
//! etcdctl 3.4 in v2 mode. The command table mirrors the urfave/cli app
//! of `etcdctl/ctlv2`; [`cli`] parses flags and renders help, [`context`]
//! builds the HTTP client (endpoint sync, TLS, credentials) and reports
//! errors, and each verb lives in its own module.

mod auth;
mod backup;
mod cli;
mod client;
mod cluster_health;
mod context;
mod exec_watch;
mod get;
mod keys;
mod ls;
mod member;
mod mk;
mod mkdir;
mod printer;
mod response;
mod rm;
mod role;
mod set;
mod tls;
mod update;
mod url;
mod user;
mod watch;

use cli::{Command, Flag, Kind};
use context::{Ctx, Exit};

const VERSION: &str = "3.4.23";

const TTL: Flag = Flag::new(&["ttl"], Kind::Int, "key time-to-live in seconds", "0");

const GLOBAL_FLAGS: &[Flag] = &[
    Flag::new(&["debug"], Kind::Bool, "output cURL commands which can be used to reproduce the request", ""),
    Flag::new(&["no-sync"], Kind::Bool, "don't synchronize cluster information before sending request", ""),
    Flag::new(&["output", "o"], Kind::Str, "output response in the given format (`simple`, `extended` or `json`)", "simple"),
    Flag::new(&["discovery-srv", "D"], Kind::Str, "domain name to query for SRV records describing cluster endpoints", ""),
    Flag::new(&["insecure-discovery"], Kind::Bool, "accept insecure SRV records describing cluster endpoints", ""),
    Flag::new(&["peers", "C"], Kind::Str, "DEPRECATED - \"--endpoints\" should be used instead", ""),
    Flag::new(&["endpoint"], Kind::Str, "DEPRECATED - \"--endpoints\" should be used instead", ""),
    Flag::new(&["endpoints"], Kind::Str, "a comma-delimited list of machine addresses in the cluster (default: \"http://127.0.0.1:2379,http://127.0.0.1:4001\")", ""),
    Flag::new(&["cert-file"], Kind::Str, "identify HTTPS client using this SSL certificate file", ""),
    Flag::new(&["key-file"], Kind::Str, "identify HTTPS client using this SSL key file", ""),
    Flag::new(&["ca-file"], Kind::Str, "verify certificates of HTTPS-enabled servers using this CA bundle", ""),
    Flag::new(&["username", "u"], Kind::Str, "provide username[:password] and prompt if password is not supplied.", ""),
    Flag::new(&["timeout"], Kind::Duration, "connection timeout per request", "2s"),
    Flag::new(&["total-timeout"], Kind::Duration, "timeout for the command execution (except watch)", "5s"),
    Flag::new(&["help", "h"], Kind::Bool, "show help", ""),
    Flag::new(&["version", "v"], Kind::Bool, "print the version", ""),
];

const HELP_FLAG: Flag = Flag::new(&["help", "h"], Kind::Bool, "show help", "");

const COMMANDS: &[Command] = &[
    backup::COMMAND,
    cluster_health::COMMAND,
    mk::COMMAND,
    mkdir::MKDIR,
    rm::RM,
    rm::RMDIR,
    get::COMMAND,
    ls::COMMAND,
    set::COMMAND,
    mkdir::SETDIR,
    update::UPDATE,
    update::UPDATEDIR,
    watch::COMMAND,
    exec_watch::COMMAND,
    member::COMMAND,
    user::COMMAND,
    role::COMMAND,
    auth::COMMAND,
    Command {
        name: "help",
        aliases: &["h"],
        usage: "Shows a list of commands or help for one command",
        args_usage: "[command]",
        description: "",
        flags: &[],
        subcommands: &[],
    },
];

/// The app help (`etcdctl --help`).
fn app_help() -> String {
    let mut s = format!(
        "NAME:\n   etcdctl - A simple command line client for etcd.\n\nUSAGE:\n   etcdctl [global options] command [command options] [arguments...]\n\nVERSION:\n   {VERSION}\n\nCOMMANDS:\n"
    );
    let rows: Vec<_> = COMMANDS
        .iter()
        .map(|c| {
            let mut names = vec![c.name];
            names.extend(c.aliases);
            (names.join(", "), c.usage.to_string())
        })
        .collect();
    for line in cli::columns(&rows) {
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str("\nGLOBAL OPTIONS:\n");
    let rows: Vec<_> = GLOBAL_FLAGS
        .iter()
        .map(|f| (f.help_names(), f.help_usage()))
        .collect();
    for line in cli::columns(&rows) {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// Runs the v2 command line and returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let global = match cli::parse(GLOBAL_FLAGS, &args) {
        Ok(g) => g,
        Err(e) => {
            print!("Incorrect Usage. {e}\n\n{}", app_help());
            eprintln!("{e}");
            return 1;
        }
    };
    if global.bool("help") {
        print!("{}", app_help());
        return 0;
    }
    if global.bool("version") {
        println!("etcdctl version: {VERSION}");
        println!("API version: 2");
        return 0;
    }
    let rest = global.args.clone();
    let Some(name) = rest.first() else {
        print!("{}", app_help());
        return 0;
    };
    let Some(cmd) = Command::find(COMMANDS, name) else {
        eprintln!("No help topic for '{name}'");
        return 3;
    };
    if cmd.name == "help" {
        return help_topic(rest.get(1));
    }
    let outcome = run_command(global, cmd, "etcdctl", &rest[1..]);
    match outcome {
        Ok(()) => 0,
        Err(e) => e.report(),
    }
}

fn help_topic(topic: Option<&String>) -> i32 {
    let Some(topic) = topic else {
        print!("{}", app_help());
        return 0;
    };
    match Command::find(COMMANDS, topic) {
        Some(c) if !c.subcommands.is_empty() => {
            print!("{}", cli::group_help(&format!("etcdctl {}", c.name), c));
            0
        }
        Some(c) => {
            print!("{}", cli::command_help(&format!("etcdctl {}", c.name), c));
            0
        }
        None => {
            eprintln!("No help topic for '{topic}'");
            3
        }
    }
}

fn run_command(
    global: cli::Parsed,
    cmd: &'static Command,
    parent: &str,
    args: &[String],
) -> Result<(), Exit> {
    let help_name = format!("{parent} {}", cmd.name);
    if !cmd.subcommands.is_empty() {
        let parsed = match cli::parse(std::slice::from_ref(&HELP_FLAG), args) {
            Ok(p) => p,
            Err(e) => {
                print!(
                    "Incorrect Usage. {e}\n\n{}",
                    cli::group_help(&help_name, cmd)
                );
                return Err(Exit::new(1, format!("{e}\n")));
            }
        };
        let Some(sub) = parsed.args.first() else {
            print!("{}", cli::group_help(&help_name, cmd));
            return Ok(());
        };
        if parsed.bool("help") {
            print!("{}", cli::group_help(&help_name, cmd));
            return Ok(());
        }
        let Some(leaf) = Command::find(cmd.subcommands, sub) else {
            return Err(Exit::new(3, format!("No help topic for '{sub}'\n")));
        };
        return run_command(global, leaf, &help_name, &parsed.args[1..]);
    }
    let mut flags: Vec<Flag> = cmd
        .flags
        .iter()
        .map(|f| Flag::new(f.names, f.kind, f.usage, f.default))
        .collect();
    flags.push(HELP_FLAG);
    let ordered = cli::reorder(&flags, args);
    let parsed = match cli::parse(&flags, &ordered) {
        Ok(p) => p,
        Err(e) => {
            print!(
                "Incorrect Usage: {e}\n\n{}",
                cli::command_help(&help_name, cmd)
            );
            return Err(Exit::new(1, format!("{e}\n")));
        }
    };
    if parsed.bool("help") {
        print!("{}", cli::command_help(&help_name, cmd));
        return Ok(());
    }
    let mut ctx = Ctx::new(global, parsed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::new(1, format!("{e}\n")))?;
    let path = help_name.trim_start_matches("etcdctl ").to_string();
    runtime.block_on(dispatch(&path, &mut ctx))
}

async fn dispatch(path: &str, ctx: &mut Ctx) -> Result<(), Exit> {
    match path {
        "backup" => backup::run(ctx),
        "cluster-health" => cluster_health::run(ctx).await,
        "mk" => mk::run(ctx).await,
        "mkdir" => mkdir::run(ctx, keys::PrevExist::NoExist).await,
        "setdir" => mkdir::run(ctx, keys::PrevExist::Ignore).await,
        "rm" => rm::run(ctx).await,
        "rmdir" => rm::run_rmdir(ctx).await,
        "get" => get::run(ctx).await,
        "ls" => ls::run(ctx).await,
        "set" => set::run(ctx).await,
        "update" => update::run(ctx).await,
        "updatedir" => update::run_dir(ctx).await,
        "watch" => watch::run(ctx).await,
        "exec-watch" => exec_watch::run(ctx).await,
        "member list" => member::list(ctx).await,
        "member add" => member::add(ctx).await,
        "member remove" => member::remove(ctx).await,
        "member update" => member::update(ctx).await,
        "auth enable" => auth::enable(ctx, true).await,
        "auth disable" => auth::enable(ctx, false).await,
        p if p.starts_with("user ") => user::run(ctx, &p[5..]).await,
        p if p.starts_with("role ") => role::run(ctx, &p[5..]).await,
        _ => Ok(()),
    }
}
