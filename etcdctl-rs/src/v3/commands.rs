//! The command tree's type (a cobra.Command) and cobra's command lookup
//! (with prefix matching and "did you mean" suggestions); the tree itself,
//! every etcdctl 3.4 command with its use line, descriptions, flags and
//! handler, is in `command_tree.rs`.

use super::error::CtlResult;
use super::flags::Spec;
use super::Invocation;

pub use super::command_tree::{DEL_FLAGS, GET_FLAGS, PUT_FLAGS, ROOT, WATCH_FLAGS};

/// A command handler.
pub type Handler = fn(&Invocation) -> CtlResult;

/// One node of the command tree (a cobra.Command).
pub struct Command {
    pub name: &'static str,
    /// The `Use` line without the command path prefix.
    pub use_line: &'static str,
    pub short: &'static str,
    pub long: &'static str,
    pub flags: &'static [Spec],
    /// Persistent flags defined here and inherited by subcommands.
    pub persistent: &'static [Spec],
    pub subs: &'static [Command],
    pub run: Option<Handler>,
}

impl Command {
    pub(super) const fn leaf(
        name: &'static str,
        use_line: &'static str,
        short: &'static str,
        run: Handler,
    ) -> Self {
        Command {
            name,
            use_line,
            short,
            long: "",
            flags: &[],
            persistent: &[],
            subs: &[],
            run: Some(run),
        }
    }

    pub(super) const fn group(
        name: &'static str,
        use_line: &'static str,
        short: &'static str,
        subs: &'static [Command],
    ) -> Self {
        Command {
            name,
            use_line,
            short,
            long: "",
            flags: &[],
            persistent: &[],
            subs,
            run: None,
        }
    }

    pub(super) const fn long(mut self, long: &'static str) -> Self {
        self.long = long;
        self
    }

    pub(super) const fn flags(mut self, flags: &'static [Spec]) -> Self {
        self.flags = flags;
        self
    }

    pub(super) const fn persistent(mut self, flags: &'static [Spec]) -> Self {
        self.persistent = flags;
        self
    }

    pub fn runnable(&self) -> bool {
        self.run.is_some()
    }

    /// Subcommands in cobra's (alphabetical) order.
    pub fn sorted_subs(&self) -> Vec<&'static Command> {
        let mut subs: Vec<&'static Command> = self.subs.iter().collect();
        subs.sort_by_key(|c| c.name);
        subs
    }
}

/// Cobra's `findNext`: exact name, else a unique prefix match.
pub fn find_next(parent: &'static Command, name: &[u8]) -> Option<&'static Command> {
    if let Some(c) = parent.subs.iter().find(|c| c.name.as_bytes() == name) {
        return Some(c);
    }
    let matches: Vec<&Command> = parent
        .subs
        .iter()
        .filter(|c| !name.is_empty() && c.name.as_bytes().starts_with(name))
        .collect();
    if matches.len() == 1 {
        Some(matches[0])
    } else {
        None
    }
}

/// Cobra's "did you mean" suggestions for an unknown root subcommand.
pub fn suggestions(parent: &Command, typed: &str) -> String {
    let typed_lower = typed.to_lowercase();
    let found: Vec<&str> = parent
        .sorted_subs()
        .into_iter()
        .filter(|c| c.name != "help")
        .filter(|c| {
            strsim::levenshtein(&typed_lower, &c.name.to_lowercase()) <= 2
                || c.name.to_lowercase().starts_with(&typed_lower)
        })
        .map(|c| c.name)
        .collect();
    if found.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n\nDid you mean this?\n");
    for name in found {
        out.push_str(&format!("\t{name}\n"));
    }
    out
}
