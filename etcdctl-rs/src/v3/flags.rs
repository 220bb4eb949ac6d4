//! A parser with the semantics of spf13/pflag, which etcdctl uses: GNU-style
//! `--name=value`, `--name value`, `-n value`, `-nvalue`, bool flags that take
//! no separate argument (`--prefix`, `--prefix=false`), flags interspersed
//! with positional arguments, `--` ending flag parsing, and pflag's exact
//! error messages.

use super::gofmt;

/// The Go type behind a flag, which decides how values parse and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    Int64,
    Duration,
    StringSlice,
}

/// One flag definition.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// pflag's `DefValue`: the default as a string.
    pub default: &'static str,
    pub usage: &'static str,
}

impl Spec {
    pub const fn new(
        name: &'static str,
        kind: Kind,
        default: &'static str,
        usage: &'static str,
    ) -> Self {
        Spec {
            name,
            short: None,
            kind,
            default,
            usage,
        }
    }

    pub const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }

    fn takes_no_arg(&self) -> bool {
        self.kind == Kind::Bool
    }
}

/// The value of one flag after parsing.
#[derive(Debug, Clone)]
struct Value {
    spec: Spec,
    raw: String,
    slice: Vec<String>,
    changed: bool,
}

/// Parsed flags: values for every defined flag plus the positional args.
#[derive(Debug, Clone, Default)]
pub struct FlagSet {
    values: Vec<Value>,
    pub args: Vec<String>,
    /// Number of positional args before a `--`, if one was seen.
    pub args_len_at_dash: Option<usize>,
}

impl FlagSet {
    /// A flag set holding the defaults of `specs`.
    pub fn new(specs: &[Spec]) -> Self {
        let mut values: Vec<Value> = specs
            .iter()
            .map(|s| Value {
                spec: *s,
                raw: s.default.to_string(),
                slice: default_slice(s),
                changed: false,
            })
            .collect();
        values.sort_by_key(|v| v.spec.name);
        FlagSet {
            values,
            args: Vec::new(),
            args_len_at_dash: None,
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.values.iter().position(|v| v.spec.name == name)
    }

    fn find_short(&self, c: char) -> Option<usize> {
        self.values.iter().position(|v| v.spec.short == Some(c))
    }

    /// Whether `name` is defined and is a bool (takes no separate argument).
    pub fn is_bool(&self, name: &str) -> Option<bool> {
        self.find(name).map(|i| self.values[i].spec.takes_no_arg())
    }

    /// Whether shorthand `c` is defined and is a bool.
    pub fn is_short_bool(&self, c: char) -> Option<bool> {
        self.find_short(c)
            .map(|i| self.values[i].spec.takes_no_arg())
    }

    /// pflag's `Set`: parses and stores a value, marking the flag changed.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let i = self
            .find(name)
            .ok_or_else(|| format!("no such flag -{name}"))?;
        let spec = self.values[i].spec;
        let check = match spec.kind {
            Kind::Bool => gofmt::parse_bool(value).map(|b| b.to_string()),
            Kind::Int64 => gofmt::parse_int(value, 0).map(|v| v.to_string()),
            Kind::Duration => gofmt::parse_duration(value).map(|_| value.to_string()),
            Kind::String | Kind::StringSlice => Ok(value.to_string()),
        };
        let normalized = check.map_err(|e| {
            let flag_name = match spec.short {
                Some(c) => format!("-{c}, --{}", spec.name),
                None => format!("--{}", spec.name),
            };
            format!(
                "invalid argument {} for {} flag: {e}",
                gofmt::quote(value.as_bytes()),
                gofmt::quote(flag_name.as_bytes())
            )
        })?;
        let v = &mut self.values[i];
        if spec.kind == Kind::StringSlice {
            let items = read_csv(value);
            if v.changed {
                v.slice.extend(items);
            } else {
                v.slice = items;
            }
        }
        v.raw = normalized;
        v.changed = true;
        Ok(())
    }

    pub fn changed(&self, name: &str) -> bool {
        self.find(name).is_some_and(|i| self.values[i].changed)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.find(name)
            .is_some_and(|i| gofmt::parse_bool(&self.values[i].raw).unwrap_or(false))
    }

    pub fn get_string(&self, name: &str) -> String {
        self.find(name)
            .map(|i| self.values[i].raw.clone())
            .unwrap_or_default()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.find(name)
            .and_then(|i| gofmt::parse_int(&self.values[i].raw, 0).ok())
            .unwrap_or(0)
    }

    /// A duration flag, in nanoseconds.
    pub fn get_duration(&self, name: &str) -> i64 {
        self.find(name)
            .and_then(|i| gofmt::parse_duration(&self.values[i].raw).ok())
            .unwrap_or(0)
    }

    pub fn get_slice(&self, name: &str) -> Vec<String> {
        self.find(name)
            .map(|i| self.values[i].slice.clone())
            .unwrap_or_default()
    }

    /// Go's `Value.String()` of a flag, as `--debug` prints it.
    pub fn display(&self, name: &str) -> String {
        match self.find(name) {
            Some(i) => {
                let v = &self.values[i];
                match v.spec.kind {
                    Kind::StringSlice => format!("[{}]", v.slice.join(",")),
                    Kind::Duration => gofmt::parse_duration(&v.raw)
                        .map(gofmt::format_duration)
                        .unwrap_or_else(|_| v.raw.clone()),
                    _ => v.raw.clone(),
                }
            }
            None => String::new(),
        }
    }

    /// Parses `args` the way pflag's `Parse` does with interspersed args.
    pub fn parse(&mut self, args: &[String]) -> Result<(), String> {
        let mut rest: Vec<String> = args.to_vec();
        rest.reverse(); // pop from the end
        while let Some(s) = rest.pop() {
            if s.len() < 2 || !s.starts_with('-') {
                self.args.push(s);
                continue;
            }
            if s == "--" {
                self.args_len_at_dash = Some(self.args.len());
                while let Some(a) = rest.pop() {
                    self.args.push(a);
                }
                break;
            }
            if let Some(long) = s.strip_prefix("--") {
                self.parse_long(&s, long, &mut rest)?;
            } else {
                self.parse_shorts(&s[1..], &mut rest)?;
            }
        }
        Ok(())
    }

    fn parse_long(&mut self, s: &str, long: &str, rest: &mut Vec<String>) -> Result<(), String> {
        if long.is_empty() || long.starts_with('-') || long.starts_with('=') {
            return Err(format!("bad flag syntax: {s}"));
        }
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        let i = self
            .find(name)
            .ok_or_else(|| format!("unknown flag: --{name}"))?;
        let value = match inline {
            Some(v) => v,
            None if self.values[i].spec.takes_no_arg() => "true".to_string(),
            None => rest
                .pop()
                .ok_or_else(|| format!("flag needs an argument: {s}"))?,
        };
        self.set(name, &value)
    }

    fn parse_shorts(&mut self, shorts: &str, rest: &mut Vec<String>) -> Result<(), String> {
        let mut shorts = shorts.to_string();
        while !shorts.is_empty() {
            let c = shorts.chars().next().unwrap_or('-');
            let clen = c.len_utf8();
            let i = self
                .find_short(c)
                .ok_or_else(|| format!("unknown shorthand flag: '{c}' in -{shorts}"))?;
            let spec = self.values[i].spec;
            let after = &shorts[clen..];
            let (value, remaining) = if after.len() > 1 && after.starts_with('=') {
                (after[1..].to_string(), String::new())
            } else if spec.takes_no_arg() {
                ("true".to_string(), after.to_string())
            } else if !after.is_empty() {
                (after.to_string(), String::new())
            } else if let Some(v) = rest.pop() {
                (v, String::new())
            } else {
                return Err(format!("flag needs an argument: '{c}' in -{shorts}"));
            };
            self.set(spec.name, &value)?;
            shorts = remaining;
        }
        Ok(())
    }
}

fn default_slice(spec: &Spec) -> Vec<String> {
    if spec.kind != Kind::StringSlice {
        return Vec::new();
    }
    let inner = spec.default.trim_start_matches('[').trim_end_matches(']');
    read_csv(inner)
}

/// pflag's `readAsCSV`: one CSV record, with `"..."` quoting.
fn read_csv(val: &str) -> Vec<String> {
    if val.is_empty() {
        return Vec::new();
    }
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = val.chars().peekable();
    let mut in_quotes = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => {
                in_quotes = true;
                at_field_start = false;
            }
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    in_quotes = false;
                }
            }
            ',' if !in_quotes => {
                fields.push(std::mem::take(&mut cur));
                at_field_start = true;
            }
            c => {
                cur.push(c);
                at_field_start = false;
            }
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        Spec::new("prefix", Kind::Bool, "false", "p"),
        Spec::new("rev", Kind::Int64, "0", "r"),
        Spec::new("write-out", Kind::String, "simple", "w").short('w'),
        Spec::new("endpoints", Kind::StringSlice, "[127.0.0.1:2379]", "e"),
        Spec::new("interactive", Kind::Bool, "false", "i").short('i'),
    ];

    fn parse(args: &[&str]) -> Result<FlagSet, String> {
        let mut fs = FlagSet::new(SPECS);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        fs.parse(&args).map(|_| fs)
    }

    #[test]
    fn go_style_forms() {
        let fs = parse(&["a", "--prefix", "--rev=3", "-w", "json", "b"]).unwrap();
        assert!(fs.get_bool("prefix"));
        assert_eq!(fs.get_i64("rev"), 3);
        assert_eq!(fs.get_string("write-out"), "json");
        assert_eq!(fs.args, vec!["a", "b"]);
        let fs = parse(&["--prefix=false", "--rev", "0x10", "-wjson", "-i"]).unwrap();
        assert!(!fs.get_bool("prefix"));
        assert_eq!(fs.get_i64("rev"), 16);
        assert_eq!(fs.get_string("write-out"), "json");
        assert!(fs.get_bool("interactive"));
        let fs = parse(&["--prefix", "true", "--", "--rev"]).unwrap();
        assert_eq!(fs.args, vec!["true", "--rev"]);
        assert_eq!(fs.args_len_at_dash, Some(1));
    }

    #[test]
    fn string_slices_replace_then_append() {
        let fs = parse(&[]).unwrap();
        assert_eq!(fs.get_slice("endpoints"), vec!["127.0.0.1:2379"]);
        let fs = parse(&["--endpoints=a,b", "--endpoints", "c"]).unwrap();
        assert_eq!(fs.get_slice("endpoints"), vec!["a", "b", "c"]);
    }

    #[test]
    fn pflag_errors() {
        assert_eq!(parse(&["--bogus"]).unwrap_err(), "unknown flag: --bogus");
        assert_eq!(
            parse(&["-x"]).unwrap_err(),
            "unknown shorthand flag: 'x' in -x"
        );
        assert_eq!(
            parse(&["--rev"]).unwrap_err(),
            "flag needs an argument: --rev"
        );
        assert_eq!(
            parse(&["-w"]).unwrap_err(),
            "flag needs an argument: 'w' in -w"
        );
        assert_eq!(
            parse(&["--rev=x"]).unwrap_err(),
            "invalid argument \"x\" for \"--rev\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse(&["--prefix=maybe"]).unwrap_err(),
            "invalid argument \"maybe\" for \"--prefix\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(parse(&["---x"]).unwrap_err(), "bad flag syntax: ---x");
    }
}
