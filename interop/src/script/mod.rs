//! Parser for the case files under `interop/cases/*.txt`.
//!
//! A case file is a script of real `etcdctl` command lines that is replayed,
//! in order, against the reference etcd and against the server under test.
//! Keeping the scripts as data (instead of Rust code) makes it cheap to add
//! coverage and lets the files double as executable documentation of
//! etcdctl's observable behaviour.
//!
//! # Format
//!
//! One item per line. Blank lines and lines starting with `#` are ignored.
//! Words are split on whitespace; `'single'` and `"double"` quotes group words
//! (inside double quotes `\"` and `\\` are escapes). `$NAME` / `${NAME}`
//! expand to a variable at run time (`$TMP` is a scratch directory; others
//! come from `@capture`).
//!
//! * `etcdctl ARGS...` runs etcdctl in the foreground. `--endpoints` is added
//!   by the harness. If the last word is `<<TAG`, the following lines up to a
//!   line `TAG` are fed to its stdin verbatim (used for `txn`).
//! * `@server-flags FLAGS...` appends flags to both servers' command lines
//!   (only before the first command of the file).
//! * `@capture VAR REGEX` sets `$VAR` to capture group 1 of REGEX applied to
//!   the raw stdout of the previous command (e.g. a lease ID).
//! * `curl ARGS...` runs curl (`-s -S`, and the HTTP status on a last line
//!   of its own, are added): a word starting with `/` is a path on the
//!   first client URL the command goes to, e.g.
//!   `curl -X POST /v3/kv/range -d '{"key":"Zm9v"}'` (etcd's JSON gateway).
//! * `ETCDCTL_API=2 etcdctl ARGS...` (in any of these forms) runs the
//!   v2 client (`@server-flags --enable-v2` serves the v2 API on both).
//! * `@bg NAME etcdctl ARGS...` starts etcdctl in the background.
//! * `@await NAME lines N` waits (deadline 10s) until background NAME printed
//!   at least N stdout lines, kills it and compares everything it printed;
//!   `@await NAME exit` instead waits for it to exit by itself.
//! * `@until SECS REGEX etcdctl ARGS...` re-runs the command until its
//!   normalised stdout matches REGEX (deadline SECS) and compares the last run.
//!
//! ## Clusters
//!
//! * `@cluster N` (first line of a file, before any command) runs the file
//!   against an N-member cluster of each server instead of a single member:
//!   members `n1`..`nN`, each on its own free loopback ports and data
//!   directory, started with the same flags for both servers (`--name`,
//!   `--initial-cluster`, `--initial-cluster-token interop-cluster`,
//!   `--initial-cluster-state new`, listen/advertise URLs, plus
//!   `@server-flags`). The harness waits until every member answers
//!   `endpoint health` and learns the member IDs from `member list`.
//! * `@spare NAME...` (after `@cluster`) declares members that are not
//!   started: their ports are allocated up front so that `member add` can
//!   name their peer URL before `@start-member` starts them.
//! * Variables, per member (`N1` for `n1`): `$N1_CLIENT_URL`, `$N1_PEER_URL`,
//!   `$N1_CLIENT_PORT`, `$N1_PEER_PORT`, and `$N1_ID` (hex member ID, once
//!   known: from the start, from `member add` output, or after
//!   `@start-member`). `$ENDPOINTS` is the default endpoint list.
//! * Commands go to every initial member that is still running
//!   (`--endpoints=n1,n2,n3`); `@on NAME[,NAME...]` before `etcdctl`,
//!   `@until` or `@bg` targets only those members.
//! * `@start-member NAME [FLAGS...]` starts a spare (after `member add`)
//!   with `--initial-cluster-state existing` and an `--initial-cluster` built
//!   from the current member list, and waits until it answers `endpoint
//!   status` and every other running member lists it as started. Compared:
//!   whether it started.
//! * `@kill NAME` SIGKILLs a member (not compared). `@restart NAME` starts a
//!   killed member again on its data directory (compared: whether it came up).
//! * `@leader NAME` makes NAME the leader (`move-leader` if needed) and waits
//!   until all running members agree; compared. Use it before commands whose
//!   output shows the leader (`endpoint status`): which member wins an
//!   election is not deterministic.
//! * `@expect-exit NAME SECS` waits for a member to exit by itself (e.g.
//!   after `member remove`) and compares how it ended. Members named here may
//!   exit at any time without aborting the script.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use regex::Regex;

mod words;

pub use words::{expand, split_words};

/// Written before `etcdctl` (`ETCDCTL_API=2 etcdctl get /a`, also after
/// `@on`, `@bg NAME` or `@until SECS REGEX`): runs etcdctl with the v2 API;
/// the harness then puts `--endpoints` before the v2 command as usual.
pub const V2_MARKER: &str = "ETCDCTL_API=2";

/// Stands for `curl` as the first argument of a command: the line ran
/// `curl ARGS...` (see the module notes).
pub const CURL_MARKER: &str = "<curl>";

/// How long `@await` waits for a background command.
pub const AWAIT_DEADLINE: Duration = Duration::from_secs(10);

/// A parsed case file.
#[derive(Debug)]
pub struct Script {
    /// Extra flags for both servers (from `@server-flags`).
    pub server_flags: Vec<String>,
    /// Run against a cluster instead of a single member (from `@cluster`).
    pub cluster: Option<ClusterSpec>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
}

/// The members of a `@cluster` script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Members `n1`..`n{size}` form the initial cluster.
    pub size: usize,
    /// Members declared with `@spare`, started later by `@start-member`.
    pub spares: Vec<String>,
}

impl ClusterSpec {
    /// The initial members' names, then the spares'.
    pub fn all_names(&self) -> Vec<String> {
        (1..=self.size)
            .map(|i| format!("n{i}"))
            .chain(self.spares.iter().cloned())
            .collect()
    }
}

/// A harness action on one member of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberAction {
    /// `@start-member NAME FLAGS...`
    Start { name: String, flags: Vec<String> },
    /// `@kill NAME`
    Kill(String),
    /// `@restart NAME`
    Restart(String),
    /// `@leader NAME`
    Leader(String),
    /// `@expect-exit NAME SECS`
    ExpectExit { name: String, deadline: Duration },
}

/// One etcdctl invocation (arguments after `etcdctl`, still unexpanded).
#[derive(Debug, Clone)]
pub struct Command {
    /// 1-based line number in the case file.
    pub line: usize,
    /// The case file line as written, for reports.
    pub text: String,
    /// Arguments passed to etcdctl, before variable expansion.
    pub args: Vec<String>,
    /// Text fed to stdin (from a heredoc), before variable expansion.
    pub stdin: Option<String>,
    /// Members to send it to (`@on`); `None` means the default endpoints.
    pub target: Option<Vec<String>>,
}

/// What `@await` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwaitFor {
    /// At least this many lines on stdout; the process is then killed.
    Lines(usize),
    /// The process exits by itself.
    Exit,
}

/// One step of a script.
#[derive(Debug)]
pub enum Step {
    /// Run a command in the foreground and compare its output.
    Run(Command),
    /// Start a command in the background under a name.
    Background { name: String, command: Command },
    /// Wait for a background command, stop it and compare its output.
    Await {
        line: usize,
        name: String,
        until: AwaitFor,
    },
    /// Poll a command until its normalised stdout matches, then compare.
    Until {
        deadline: Duration,
        pattern: Regex,
        command: Command,
    },
    /// Bind a variable from the previous command's raw stdout.
    Capture {
        line: usize,
        var: String,
        pattern: Regex,
    },
    /// Start, stop or inspect a cluster member.
    Member {
        line: usize,
        text: String,
        action: MemberAction,
    },
}

impl Step {
    /// The case file line this step comes from.
    pub fn line(&self) -> usize {
        match self {
            Step::Run(c) | Step::Background { command: c, .. } | Step::Until { command: c, .. } => {
                c.line
            }
            Step::Await { line, .. } | Step::Capture { line, .. } | Step::Member { line, .. } => {
                *line
            }
        }
    }

    /// Whether the step yields a compared observation.
    pub fn is_compared(&self) -> bool {
        match self {
            Step::Run(_) | Step::Await { .. } | Step::Until { .. } => true,
            Step::Member { action, .. } => !matches!(action, MemberAction::Kill(_)),
            Step::Background { .. } | Step::Capture { .. } => false,
        }
    }
}

impl Script {
    /// Number of steps whose output is compared.
    pub fn compared_steps(&self) -> usize {
        self.steps.iter().filter(|s| s.is_compared()).count()
    }

    /// Members whose process may exit by itself (named by `@expect-exit`).
    pub fn expected_exits(&self) -> std::collections::HashSet<String> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Member {
                    action: MemberAction::ExpectExit { name, .. },
                    ..
                } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A syntax error in a case file.
#[derive(Debug)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reads and parses a case file.
pub fn load(path: &Path) -> Result<Script, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read case file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a case file.
pub fn parse(text: &str) -> Result<Script, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut script = Script {
        server_flags: Vec::new(),
        cluster: None,
        steps: Vec::new(),
    };
    let mut background_names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let raw = lines[i].trim_end();
        i += 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let mut words = split_words(trimmed).map_err(err)?;
        // `ETCDCTL_API=2 etcdctl ARGS` runs the v2 client: the marker travels
        // as the first argument (see [`V2_MARKER`]).
        if let Some(i) = words
            .windows(2)
            .position(|w| w[0] == V2_MARKER && w[1] == "etcdctl")
        {
            words.swap(i, i + 1);
        }

        // A trailing `<<TAG` turns the following lines into stdin.
        let mut stdin = None;
        if let Some(tag) = words.last().and_then(|w| w.strip_prefix("<<")) {
            if tag.is_empty() {
                return Err(err("`<<` needs a terminator word, e.g. `<<EOF`".into()));
            }
            let tag = tag.to_string();
            words.pop();
            let mut body = String::new();
            loop {
                let Some(l) = lines.get(i) else {
                    return Err(err(format!("heredoc not terminated by a `{tag}` line")));
                };
                i += 1;
                if l.trim() == tag {
                    break;
                }
                body.push_str(l.trim_end_matches('\r'));
                body.push('\n');
            }
            stdin = Some(body);
        }

        // `@on NAMES` prefixes a command.
        let mut target = None;
        if words[0] == "@on" {
            if words.len() < 3 {
                return Err(err("usage: @on NAME[,NAME...] etcdctl ARGS...".into()));
            }
            let names: Vec<String> = words[1].split(',').map(str::to_string).collect();
            for name in &names {
                check_member(&script, name).map_err(err)?;
            }
            target = Some(names);
            words.drain(..2);
        }

        let head = words[0].clone();
        let step = match head.as_str() {
            "etcdctl" => Step::Run(command(line_no, trimmed, &words[1..], stdin)),
            "curl" => {
                let mut args = vec![CURL_MARKER.to_string()];
                args.extend_from_slice(&words[1..]);
                Step::Run(command(line_no, trimmed, &args, stdin))
            }
            "@cluster" => {
                if !script.steps.is_empty() || script.cluster.is_some() {
                    return Err(err("@cluster must come once, before any command".into()));
                }
                let size = match words.as_slice() {
                    [_, n] => n.parse::<usize>().ok().filter(|n| (1..=9).contains(n)),
                    _ => None,
                };
                let Some(size) = size else {
                    return Err(err("usage: @cluster N (1 to 9 members)".into()));
                };
                script.cluster = Some(ClusterSpec {
                    size,
                    spares: Vec::new(),
                });
                continue;
            }
            "@spare" => {
                if !script.steps.is_empty() {
                    return Err(err("@spare must come before any command".into()));
                }
                let Some(spec) = script.cluster.as_mut() else {
                    return Err(err("@spare needs a @cluster line before it".into()));
                };
                if words.len() < 2 {
                    return Err(err("usage: @spare NAME...".into()));
                }
                for name in &words[1..] {
                    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                    if !valid {
                        return Err(err(format!("bad member name `{name}` (use e.g. n4)")));
                    }
                    if spec.all_names().contains(name) {
                        return Err(err(format!("member `{name}` declared twice")));
                    }
                    spec.spares.push(name.clone());
                }
                continue;
            }
            "@start-member" | "@kill" | "@restart" | "@leader" | "@expect-exit" => {
                let Some(name) = words.get(1) else {
                    return Err(err(format!("usage: {head} NAME ...")));
                };
                check_member(&script, name).map_err(err)?;
                let name = name.clone();
                let action = match (head.as_str(), &words[2..]) {
                    ("@start-member", flags) => MemberAction::Start {
                        name,
                        flags: flags.to_vec(),
                    },
                    ("@kill", []) => MemberAction::Kill(name),
                    ("@restart", []) => MemberAction::Restart(name),
                    ("@leader", []) => MemberAction::Leader(name),
                    ("@expect-exit", [secs]) => MemberAction::ExpectExit {
                        name,
                        deadline: Duration::from_secs(
                            secs.parse()
                                .map_err(|_| err(format!("bad deadline `{secs}`")))?,
                        ),
                    },
                    ("@expect-exit", _) => return Err(err("usage: @expect-exit NAME SECS".into())),
                    _ => return Err(err(format!("usage: {head} NAME"))),
                };
                Step::Member {
                    line: line_no,
                    text: trimmed.to_string(),
                    action,
                }
            }
            "@server-flags" => {
                if !script.steps.is_empty() {
                    return Err(err("@server-flags must come before any command".into()));
                }
                script.server_flags.extend(words[1..].iter().cloned());
                continue;
            }
            "@capture" => {
                let [_, var, pattern] = words.as_slice() else {
                    return Err(err("usage: @capture VAR REGEX".into()));
                };
                if !matches!(script.steps.last(), Some(Step::Run(_) | Step::Until { .. })) {
                    return Err(err("@capture must follow a foreground command".into()));
                }
                Step::Capture {
                    line: line_no,
                    var: var.clone(),
                    pattern: compile(pattern).map_err(err)?,
                }
            }
            "@bg" => {
                if words.len() < 3 || words[2] != "etcdctl" {
                    return Err(err("usage: @bg NAME etcdctl ARGS...".into()));
                }
                let name = words[1].clone();
                if background_names.contains(&name) {
                    return Err(err(format!("background name `{name}` already used")));
                }
                background_names.push(name.clone());
                Step::Background {
                    name,
                    command: command(line_no, trimmed, &words[3..], stdin),
                }
            }
            "@await" => {
                let until = match words.as_slice() {
                    [_, _, kind, n] if kind == "lines" => AwaitFor::Lines(
                        n.parse()
                            .map_err(|_| err(format!("bad line count `{n}`")))?,
                    ),
                    [_, _, kind] if kind == "exit" => AwaitFor::Exit,
                    _ => return Err(err("usage: @await NAME lines N | @await NAME exit".into())),
                };
                let name = words[1].clone();
                if !background_names.contains(&name) {
                    return Err(err(format!("no background command named `{name}`")));
                }
                Step::Await {
                    line: line_no,
                    name,
                    until,
                }
            }
            "@until" => {
                if words.len() < 4 || words[3] != "etcdctl" {
                    return Err(err("usage: @until SECS REGEX etcdctl ARGS...".into()));
                }
                let secs: u64 = words[1]
                    .parse()
                    .map_err(|_| err(format!("bad deadline `{}`", words[1])))?;
                Step::Until {
                    deadline: Duration::from_secs(secs),
                    pattern: compile(&words[2]).map_err(err)?,
                    command: command(line_no, trimmed, &words[4..], stdin),
                }
            }
            other => {
                return Err(err(format!(
                    "expected `etcdctl ...` or a known @directive, found `{other}`"
                )))
            }
        };
        let mut step = step;
        if let Some(names) = target {
            match &mut step {
                Step::Run(c)
                | Step::Until { command: c, .. }
                | Step::Background { command: c, .. } => {
                    c.target = Some(names);
                }
                _ => return Err(err("@on must prefix `etcdctl`, `@until` or `@bg`".into())),
            }
        }
        script.steps.push(step);
    }
    Ok(script)
}

/// Checks that `name` is a member declared by `@cluster` / `@spare`.
fn check_member(script: &Script, name: &str) -> Result<(), String> {
    let Some(spec) = &script.cluster else {
        return Err("member directives need a @cluster line first".into());
    };
    if spec.all_names().iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(format!(
            "unknown member `{name}` (declared: {})",
            spec.all_names().join(", ")
        ))
    }
}

fn command(line: usize, text: &str, args: &[String], stdin: Option<String>) -> Command {
    Command {
        line,
        text: text.to_string(),
        args: args.to_vec(),
        stdin,
        target: None,
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("bad regex `{pattern}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_words() {
        let words = split_words(r#"etcdctl put '' "a \"b\" c" x'y z'"#).expect("valid line");
        assert_eq!(words, ["etcdctl", "put", "", "a \"b\" c", "xy z"]);
    }

    #[test]
    fn parses_heredoc_and_directives() {
        let script = parse(
            "# comment\n@server-flags --quota-backend-bytes=1\n\
             etcdctl txn <<EOF\nvalue(\"a\") = \"1\"\n\nput a 2\n\nEOF\n\
             @capture X 'a(.)'\n@bg w etcdctl watch a\n@await w lines 2\n\
             @until 5 '^$' etcdctl get a\n",
        )
        .expect("valid script");
        assert_eq!(script.server_flags, ["--quota-backend-bytes=1"]);
        assert_eq!(script.steps.len(), 5);
        assert_eq!(script.compared_steps(), 3);
        let Step::Run(txn) = &script.steps[0] else {
            panic!("first step should be a command");
        };
        assert_eq!(txn.args, ["txn"]);
        assert_eq!(
            txn.stdin.as_deref(),
            Some("value(\"a\") = \"1\"\n\nput a 2\n\n")
        );
    }

    #[test]
    fn parses_cluster_directives() {
        let script = parse(
            "@cluster 3\n@spare n4 n5\netcdctl member list\n@on n2,n3 etcdctl get a\n\
             @on n4 @until 5 'x' etcdctl get a\n@start-member n4 --foo\n@kill n1\n\
             @restart n1\n@leader n2\n@expect-exit n4 10\n",
        )
        .expect("valid script");
        assert_eq!(
            script.cluster,
            Some(ClusterSpec {
                size: 3,
                spares: vec!["n4".into(), "n5".into()]
            })
        );
        assert_eq!(script.steps.len(), 8);
        assert_eq!(script.compared_steps(), 7);
        let Step::Run(on) = &script.steps[1] else {
            panic!("second step should be a command");
        };
        assert_eq!(on.target.as_deref(), Some(&["n2".into(), "n3".into()][..]));
        assert!(
            matches!(&script.steps[2], Step::Until { command, .. } if command.target.is_some())
        );
        assert!(matches!(
            &script.steps[3],
            Step::Member { action: MemberAction::Start { flags, .. }, .. } if flags == &["--foo"]
        ));
        assert_eq!(
            script.expected_exits().into_iter().collect::<Vec<_>>(),
            ["n4"]
        );
        assert!(parse("@cluster 3\n@on n9 etcdctl get a\n").is_err());
        assert!(parse("@kill n1\n").is_err());
        assert!(parse("etcdctl get a\n@cluster 3\n").is_err());
    }

    #[test]
    fn rejects_unknown_background_name() {
        let e = parse("@await nope exit\n").expect_err("unknown name");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn expands_variables() {
        let (out, unknown) = expand("--lease=$L1 ${TMP}/x $NOPE", |n| match n {
            "L1" => Some("abc".into()),
            "TMP" => Some("/t".into()),
            _ => None,
        });
        assert_eq!(out, "--lease=abc /t/x $NOPE");
        assert_eq!(unknown, ["NOPE"]);
    }
}
