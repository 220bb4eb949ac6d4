//! Renders etcdctl's help/usage text (its custom cobra usage template) for
//! any command, byte for byte, including the tab alignment.

use super::commands::Command;
use super::flags::{Kind, Spec};
use super::{gofmt, tabwriter};

pub const VERSION: &str = "3.4.23";
pub const API_VERSION: &str = "3.4";

/// The `-h, --help` flag cobra adds to every command; its usage text
/// ("help for <name>") is filled in when rendering.
pub const HELP_FLAG: Spec = Spec::new("help", Kind::Bool, "false", "").short('h');

/// Flags defined on the last command of `path` (cobra's LocalFlags).
pub fn local_flags(path: &[&'static Command]) -> Vec<Spec> {
    let cmd = path[path.len() - 1];
    let mut flags: Vec<Spec> = cmd.flags.iter().chain(cmd.persistent).copied().collect();
    flags.push(HELP_FLAG);
    flags
}

/// Persistent flags of all ancestors (cobra's InheritedFlags).
pub fn inherited_flags(path: &[&'static Command]) -> Vec<Spec> {
    path[..path.len() - 1]
        .iter()
        .flat_map(|c| c.persistent.iter().copied())
        .collect()
}

fn flag_usages(flags: &[Spec], cmd_name: &str) -> String {
    let mut sorted = flags.to_vec();
    sorted.sort_by_key(|f| f.name);
    let mut out = String::new();
    for f in sorted {
        match f.short {
            Some(c) => out.push_str(&format!("  -{c}, --{}", f.name)),
            None => out.push_str(&format!("      --{}", f.name)),
        }
        let is_bool = f.kind == Kind::Bool;
        if is_bool {
            out.push('[');
        }
        if f.kind == Kind::String {
            out.push_str(&format!("={}", gofmt::quote(f.default.as_bytes())));
        } else {
            out.push_str(&format!("={}", f.default));
        }
        if is_bool {
            out.push(']');
        }
        if f.name == "help" && f.usage.is_empty() {
            out.push_str(&format!("\thelp for {cmd_name}\n"));
        } else {
            out.push_str(&format!("\t{}\n", f.usage));
        }
    }
    out
}

/// `etcdctl lease grant`: the full command path.
pub fn command_path(path: &[&'static Command]) -> String {
    path.iter().map(|c| c.name).collect::<Vec<_>>().join(" ")
}

fn use_line(path: &[&'static Command]) -> String {
    let cmd = path[path.len() - 1];
    let mut line = if path.len() == 1 {
        cmd.use_line.to_string()
    } else {
        format!("{} {}", command_path(&path[..path.len() - 1]), cmd.use_line)
    };
    if !line.contains("[flags]") {
        line.push_str(" [flags]");
    }
    line
}

/// Runnable descendants in cobra's depth-first, sorted order, named
/// relative to `cmd`.
fn sub_command_lines(cmd: &'static Command, prefix: &str, out: &mut String) {
    for sub in cmd.sorted_subs() {
        let name = if prefix.is_empty() {
            sub.name.to_string()
        } else {
            format!("{prefix} {}", sub.name)
        };
        if sub.runnable() {
            out.push_str(&format!("\t{name}\t{}\n", sub.short));
        }
        sub_command_lines(sub, &name, out);
    }
}

/// The usage text of the last command of `path`.
pub fn render(path: &[&'static Command]) -> String {
    render_with(path, true)
}

/// The usage text, optionally without the `--help` flag (cobra adds that
/// flag lazily, so the root usage printed for an unknown help topic lacks it).
pub fn render_with(path: &[&'static Command], with_help: bool) -> String {
    let cmd = path[path.len() - 1];
    let display_name = if path.len() == 1 {
        cmd.name.to_string()
    } else {
        command_path(&path[1..])
    };
    let mut out = format!(
        "NAME:\n\t{display_name} - {}\n\nUSAGE:\n\t{}\n",
        cmd.short,
        use_line(path)
    );
    if path.len() == 1 {
        out.push_str(&format!("\nVERSION:\n\t{VERSION}\n"));
    }
    if !cmd.subs.is_empty() {
        out.push_str(&format!("\nAPI VERSION:\n\t{API_VERSION}\n"));
        out.push_str("\n\nCOMMANDS:\n");
        sub_command_lines(cmd, "", &mut out);
    }
    if !cmd.long.is_empty() {
        out.push_str("\nDESCRIPTION:\n");
        let trimmed = cmd
            .long
            .trim_matches(|c| c == '\n' || c == '\t' || c == ' ');
        for line in trimmed.split('\n') {
            out.push_str(&format!("\t{line}\n"));
        }
    }
    out.push_str("\nOPTIONS:\n");
    let mut local = local_flags(path);
    if !with_help {
        local.retain(|f| f.name != "help");
    }
    out.push_str(&flag_usages(&local, cmd.name));
    let inherited = inherited_flags(path);
    if !inherited.is_empty() {
        out.push_str("\nGLOBAL OPTIONS:\n");
        out.push_str(&flag_usages(&inherited, cmd.name));
    }
    out.push('\n');
    tabwriter::align(&out)
}
