//! The command line grammar of the Go etcdctl v2, which is built on
//! urfave/cli v1 over Go's `flag` package.
//!
//! Three behaviours matter for byte-identical output:
//! - Go's `flag` parsing: `-name`, `--name`, `-name=value`, `-name value`,
//!   parsing stops at the first positional argument or after `--`, and the
//!   error strings (`flag provided but not defined: -x`, ...).
//! - urfave's argument reordering for commands: flags found after
//!   positional arguments are moved in front of them (and a `--` moves to
//!   the front of the positional block), which is why `set /k -- -v` works
//!   and `mk --in-order /d v --ttl 3` stores the value `--ttl`.
//! - urfave's help templates, rendered here with a tabwriter-like layout.

use std::collections::HashMap;
use std::time::Duration;

/// The type of a flag's value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Str,
    Duration,
    StrSlice,
}

/// One flag: names (the first is the primary one), type, usage and the
/// default shown in help.
pub struct Flag {
    pub names: &'static [&'static str],
    pub kind: Kind,
    pub usage: &'static str,
    pub default: &'static str,
}

impl Flag {
    pub const fn new(
        names: &'static [&'static str],
        kind: Kind,
        usage: &'static str,
        default: &'static str,
    ) -> Flag {
        Flag {
            names,
            kind,
            usage,
            default,
        }
    }

    fn primary(&self) -> &'static str {
        self.names[0]
    }

    /// The left column of the help line, e.g. `--ttl value` or `--output simple, -o simple`.
    pub fn help_names(&self) -> String {
        let placeholder = match self.kind {
            Kind::Bool => None,
            _ => Some(backquoted(self.usage).unwrap_or("value")),
        };
        self.names
            .iter()
            .map(|n| {
                let dash = if n.len() == 1 { "-" } else { "--" };
                match placeholder {
                    Some(p) => format!("{dash}{n} {p}"),
                    None => format!("{dash}{n}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The right column: usage without backquotes, plus the default.
    pub fn help_usage(&self) -> String {
        let usage = self.usage.replacen('`', "", 2);
        let default = match self.kind {
            Kind::Bool | Kind::StrSlice => String::new(),
            Kind::Str if self.default.is_empty() => String::new(),
            Kind::Str => format!(" (default: \"{}\")", self.default),
            _ => format!(" (default: {})", self.default),
        };
        format!("{usage}{default}")
    }
}

/// The first backquoted word of a usage string (urfave's placeholder).
fn backquoted(usage: &str) -> Option<&str> {
    let start = usage.find('`')?;
    let len = usage[start + 1..].find('`')?;
    Some(&usage[start + 1..start + 1 + len])
}

/// A command or a group of subcommands.
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub args_usage: &'static str,
    pub description: &'static str,
    pub flags: &'static [Flag],
    pub subcommands: &'static [Command],
}

impl Command {
    pub const fn leaf(
        name: &'static str,
        usage: &'static str,
        args_usage: &'static str,
        flags: &'static [Flag],
    ) -> Command {
        Command {
            name,
            aliases: &[],
            usage,
            args_usage,
            description: "",
            flags,
            subcommands: &[],
        }
    }

    pub const fn group(
        name: &'static str,
        usage: &'static str,
        subcommands: &'static [Command],
    ) -> Command {
        Command {
            name,
            aliases: &[],
            usage,
            args_usage: "",
            description: "",
            flags: &[],
            subcommands,
        }
    }

    pub fn find(list: &'static [Command], name: &str) -> Option<&'static Command> {
        list.iter()
            .find(|c| c.name == name || c.aliases.contains(&name))
    }
}

/// A parsed flag value.
#[derive(Clone, Debug)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Str(String),
    Duration(Duration),
    StrSlice(Vec<String>),
}

/// Flag values (set or defaulted) and the positional arguments.
#[derive(Default)]
pub struct Parsed {
    values: HashMap<&'static str, Value>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Bool(true)))
    }

    pub fn int(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(Value::Int(v)) => *v,
            _ => 0,
        }
    }

    pub fn string(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::Str(v)) => v.clone(),
            _ => String::new(),
        }
    }

    pub fn duration(&self, name: &str) -> Duration {
        match self.values.get(name) {
            Some(Value::Duration(v)) => *v,
            _ => Duration::ZERO,
        }
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::StrSlice(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
}

/// Parses `args` against `flags` the way Go's `flag.FlagSet.Parse` does.
pub fn parse(flags: &[Flag], args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    for f in flags {
        let v = match f.kind {
            Kind::Bool => Value::Bool(false),
            Kind::Int => Value::Int(f.default.parse().unwrap_or(0)),
            Kind::Str => Value::Str(f.default.to_string()),
            Kind::Duration => Value::Duration(parse_duration(f.default).unwrap_or_default()),
            Kind::StrSlice => Value::StrSlice(Vec::new()),
        };
        parsed.values.insert(f.primary(), v);
    }
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        let minuses = if arg.as_bytes()[1] == b'-' {
            if arg.len() == 2 {
                i += 1;
                break;
            }
            2
        } else {
            1
        };
        let body = &arg[minuses..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        i += 1;
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(flag) = flags.iter().find(|f| f.names.contains(&name)) else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let key = flag.primary();
        if flag.kind == Kind::Bool {
            let v = match inline {
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    format!("invalid boolean value {v:?} for -{name}: parse error")
                })?,
                None => true,
            };
            parsed.values.insert(key, Value::Bool(v));
        } else {
            let v = match inline {
                Some(v) => v,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => return Err(format!("flag needs an argument: -{name}")),
            };
            let bad = |why: &str| format!("invalid value {} for flag -{name}: {why}", go_quote(&v));
            let value = match flag.kind {
                Kind::Int => Value::Int(parse_go_int(&v).map_err(&bad)?),
                Kind::Duration => {
                    Value::Duration(parse_duration(&v).ok_or_else(|| bad("parse error"))?)
                }
                Kind::StrSlice => {
                    let mut list = parsed.strings(key);
                    list.push(v.clone());
                    Value::StrSlice(list)
                }
                _ => Value::Str(v.clone()),
            };
            parsed.values.insert(key, value);
        }
    }
    parsed.args = args[i..].to_vec();
    Ok(parsed)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` error kinds: "parse error" or
/// "value out of range".
fn parse_go_int(s: &str) -> Result<i64, &'static str> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    let digits = if radix != 10 || lower.contains('_') {
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err("parse error");
    }
    let magnitude = u128::from_str_radix(&digits, radix).map_err(|_| "value out of range")?;
    let limit = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
    if magnitude > limit {
        return Err("value out of range");
    }
    Ok(if neg {
        (magnitude as i128).wrapping_neg() as i64
    } else {
        magnitude as i64
    })
}

/// Go's `time.ParseDuration` for a timeout flag: a negative one is none.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let nanos = gostd::parse_duration(s).ok()?;
    Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

/// Go's `%q` for the common printable-ASCII case.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// urfave/cli's `reorderArgs`: moves the command's flags (and the value
/// following a flag given without `=`) in front of the other arguments;
/// a `--` is moved to the front of the remaining arguments and ends the
/// reordering.
pub fn reorder(flags: &[Flag], args: &[String]) -> Vec<String> {
    let is_flag = |arg: &str| -> bool {
        if arg == "-" || !arg.starts_with('-') {
            return false;
        }
        let mut a = arg;
        if let Some(r) = a.strip_prefix("--") {
            a = r;
        } else if let Some(r) = a.strip_prefix('-') {
            a = r;
        }
        let name = a.split('=').next().unwrap_or("");
        flags.iter().any(|f| f.names.contains(&name))
    };
    let mut reordered = Vec::new();
    let mut remaining: Vec<String> = Vec::new();
    let mut next_may_be_value = false;
    for (i, arg) in args.iter().enumerate() {
        if next_may_be_value && !is_flag(arg) {
            next_may_be_value = false;
            reordered.push(arg.clone());
        } else if arg == "--" {
            remaining.insert(0, "--".to_string());
            remaining.extend(args[i + 1..].iter().cloned());
            break;
        } else if is_flag(arg) {
            reordered.push(arg.clone());
            next_may_be_value = !arg.contains('=');
        } else {
            remaining.push(arg.clone());
        }
    }
    reordered.extend(remaining);
    reordered
}

/// Lays out `rows` (left, right) like Go's tabwriter with padding 2, each
/// line indented by three spaces.
pub fn columns(rows: &[(String, String)]) -> Vec<String> {
    let width = rows.iter().map(|(l, _)| l.len() + 3).max().unwrap_or(0) + 2;
    rows.iter()
        .map(|(l, r)| format!("{:<width$}{r}", format!("   {l}")))
        .collect()
}

/// urfave's help for a leaf command (`etcdctl get --help`).
pub fn command_help(help_name: &str, cmd: &Command) -> String {
    let mut s = format!(
        "NAME:\n   {help_name} - {}\n\nUSAGE:\n   {help_name}",
        cmd.usage
    );
    if !cmd.flags.is_empty() {
        s.push_str(" [command options]");
    }
    s.push(' ');
    s.push_str(if cmd.args_usage.is_empty() {
        "[arguments...]"
    } else {
        cmd.args_usage
    });
    if !cmd.description.is_empty() {
        s.push_str("\n\nDESCRIPTION:\n   ");
        s.push_str(cmd.description);
    }
    if !cmd.flags.is_empty() {
        s.push_str("\n\nOPTIONS:\n");
        let rows: Vec<_> = cmd
            .flags
            .iter()
            .map(|f| (f.help_names(), f.help_usage()))
            .collect();
        for line in columns(&rows) {
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str("   ");
    }
    s.push('\n');
    s
}

/// urfave's help for a command with subcommands (`etcdctl member`).
pub fn group_help(help_name: &str, cmd: &Command) -> String {
    let mut s = format!(
        "NAME:\n   {help_name} - {}\n\nUSAGE:\n   {help_name} command [command options] [arguments...]\n\nCOMMANDS:\n",
        cmd.usage
    );
    let rows: Vec<_> = cmd
        .subcommands
        .iter()
        .map(|c| (c.name.to_string(), c.usage.to_string()))
        .collect();
    for line in columns(&rows) {
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str("\nOPTIONS:\n   --help, -h  show help\n   \n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("10"), Ok(10));
        assert_eq!(parse_go_int("0x1f"), Ok(31));
        assert_eq!(parse_go_int("010"), Ok(8));
        assert_eq!(parse_go_int("-5"), Ok(-5));
        assert_eq!(parse_go_int("abc"), Err("parse error"));
        assert_eq!(
            parse_go_int("99999999999999999999"),
            Err("value out of range")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5"), None);
    }

    #[test]
    fn reordering_matches_urfave() {
        let flags = [
            Flag::new(&["in-order"], Kind::Bool, "", ""),
            Flag::new(&["ttl"], Kind::Int, "", "0"),
        ];
        let args: Vec<String> = ["--in-order", "/d", "v", "--ttl", "3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            reorder(&flags, &args),
            ["--in-order", "/d", "--ttl", "3", "v"]
        );
        let args: Vec<String> = ["/y", "--", "-v"].iter().map(|s| s.to_string()).collect();
        assert_eq!(reorder(&flags, &args), ["--", "/y", "-v"]);
    }
}
