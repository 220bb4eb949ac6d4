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
    /// The value as given (bytes, like a Go string) or normalized.
    raw: Vec<u8>,
    slice: Vec<String>,
    changed: bool,
}

/// Parsed flags: values for every defined flag plus the positional args,
/// which are bytes (Go strings need not be UTF-8).
#[derive(Debug, Clone, Default)]
pub struct FlagSet {
    values: Vec<Value>,
    pub args: Vec<Vec<u8>>,
    /// Number of positional args before a `--`, if one was seen.
    pub args_len_at_dash: Option<usize>,
}

/// A flag parsing error: pflag's message, which may hold raw user bytes.
pub type FlagError = Vec<u8>;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl FlagSet {
    /// A flag set holding the defaults of `specs`.
    pub fn new(specs: &[Spec]) -> Self {
        let mut values: Vec<Value> = specs
            .iter()
            .map(|s| Value {
                spec: *s,
                raw: s.default.as_bytes().to_vec(),
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

    fn find(&self, name: &[u8]) -> Option<usize> {
        self.values
            .iter()
            .position(|v| v.spec.name.as_bytes() == name)
    }

    fn find_short(&self, c: char) -> Option<usize> {
        self.values.iter().position(|v| v.spec.short == Some(c))
    }

    /// Whether `name` is defined and is a bool (takes no separate argument).
    pub fn is_bool(&self, name: &[u8]) -> Option<bool> {
        self.find(name).map(|i| self.values[i].spec.takes_no_arg())
    }

    /// Whether shorthand `c` is defined and is a bool.
    pub fn is_short_bool(&self, c: char) -> Option<bool> {
        self.find_short(c)
            .map(|i| self.values[i].spec.takes_no_arg())
    }

    /// pflag's `Set`: parses and stores a value, marking the flag changed.
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), FlagError> {
        let i = self
            .find(name.as_bytes())
            .ok_or_else(|| format!("no such flag -{name}").into_bytes())?;
        let spec = self.values[i].spec;
        // A value that is not UTF-8 is never a valid number or duration.
        let text = std::str::from_utf8(value);
        let check = match (spec.kind, text) {
            (Kind::String | Kind::StringSlice, _) => Ok(value.to_vec()),
            (Kind::Bool, Ok(t)) => gofmt::parse_bool(t).map(|b| b.to_string().into_bytes()),
            (Kind::Int64, Ok(t)) => gofmt::parse_int(t, 0).map(|v| v.to_string().into_bytes()),
            (Kind::Duration, Ok(t)) => gofmt::parse_duration(t).map(|_| value.to_vec()),
            (Kind::Bool, Err(_)) => Err(gofmt::syntax_error("ParseBool", value)),
            (Kind::Int64, Err(_)) => Err(gofmt::syntax_error("ParseInt", value)),
            (Kind::Duration, Err(_)) => {
                Err(format!("time: invalid duration {}", gofmt::quote(value)))
            }
        };
        let normalized = check.map_err(|e| {
            let flag_name = match spec.short {
                Some(c) => format!("-{c}, --{}", spec.name),
                None => format!("--{}", spec.name),
            };
            format!(
                "invalid argument {} for {} flag: {e}",
                gofmt::quote(value),
                gofmt::quote(flag_name.as_bytes())
            )
            .into_bytes()
        })?;
        let v = &mut self.values[i];
        if spec.kind == Kind::StringSlice {
            let items = read_csv(&lossy(value));
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
        self.find(name.as_bytes())
            .is_some_and(|i| self.values[i].changed)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get_string(name) == "true"
    }

    /// A string flag (lossy where the value is not UTF-8; see
    /// [`FlagSet::get_bytes`]).
    pub fn get_string(&self, name: &str) -> String {
        lossy(self.get_bytes(name))
    }

    /// A string flag's value as given.
    pub fn get_bytes(&self, name: &str) -> &[u8] {
        self.find(name.as_bytes())
            .map(|i| &self.values[i].raw[..])
            .unwrap_or_default()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        gofmt::parse_int(&self.get_string(name), 0).unwrap_or(0)
    }

    /// A duration flag, in nanoseconds.
    pub fn get_duration(&self, name: &str) -> i64 {
        gofmt::parse_duration(&self.get_string(name)).unwrap_or(0)
    }

    pub fn get_slice(&self, name: &str) -> Vec<String> {
        self.find(name.as_bytes())
            .map(|i| self.values[i].slice.clone())
            .unwrap_or_default()
    }

    /// Go's `Value.String()` of a flag, as `--debug` prints it.
    pub fn display(&self, name: &str) -> String {
        match self.find(name.as_bytes()) {
            Some(i) => {
                let v = &self.values[i];
                let raw = lossy(&v.raw);
                match v.spec.kind {
                    Kind::StringSlice => format!("[{}]", v.slice.join(",")),
                    Kind::Duration => gofmt::parse_duration(&raw)
                        .map(gofmt::format_duration)
                        .unwrap_or(raw),
                    _ => raw,
                }
            }
            None => String::new(),
        }
    }

    /// Parses `args` the way pflag's `Parse` does with interspersed args.
    pub fn parse(&mut self, args: &[Vec<u8>]) -> Result<(), FlagError> {
        let mut rest: Vec<Vec<u8>> = args.to_vec();
        rest.reverse(); // pop from the end
        while let Some(s) = rest.pop() {
            if s.len() < 2 || s[0] != b'-' {
                self.args.push(s);
                continue;
            }
            if s == b"--" {
                self.args_len_at_dash = Some(self.args.len());
                while let Some(a) = rest.pop() {
                    self.args.push(a);
                }
                break;
            }
            if let Some(long) = s.strip_prefix(b"--") {
                self.parse_long(&s, long, &mut rest)?;
            } else {
                self.parse_shorts(&s[1..], &mut rest)?;
            }
        }
        Ok(())
    }

    fn parse_long(
        &mut self,
        s: &[u8],
        long: &[u8],
        rest: &mut Vec<Vec<u8>>,
    ) -> Result<(), FlagError> {
        if long.is_empty() || long[0] == b'-' || long[0] == b'=' {
            return Err([&b"bad flag syntax: "[..], s].concat());
        }
        let (name, inline) = match long.iter().position(|&c| c == b'=') {
            Some(p) => (&long[..p], Some(long[p + 1..].to_vec())),
            None => (long, None),
        };
        let i = self
            .find(name)
            .ok_or_else(|| [&b"unknown flag: --"[..], name].concat())?;
        let value = match inline {
            Some(v) => v,
            None if self.values[i].spec.takes_no_arg() => b"true".to_vec(),
            None => rest
                .pop()
                .ok_or_else(|| [&b"flag needs an argument: "[..], s].concat())?,
        };
        let name = self.values[i].spec.name;
        self.set(name, &value)
    }

    fn parse_shorts(&mut self, shorts: &[u8], rest: &mut Vec<Vec<u8>>) -> Result<(), FlagError> {
        let mut shorts = shorts.to_vec();
        while !shorts.is_empty() {
            // pflag takes the shorthand as one byte.
            let c = shorts[0];
            let after = &shorts[1..];
            let unknown = || {
                let mut m = format!(
                    "unknown shorthand flag: {} in -",
                    gofmt::quote_rune(c as char)
                )
                .into_bytes();
                m.extend_from_slice(&shorts);
                m
            };
            let i = if c.is_ascii() {
                self.find_short(c as char).ok_or_else(unknown)?
            } else {
                return Err(unknown());
            };
            let spec = self.values[i].spec;
            let (value, remaining) = if after.len() > 1 && after[0] == b'=' {
                (after[1..].to_vec(), Vec::new())
            } else if spec.takes_no_arg() {
                (b"true".to_vec(), after.to_vec())
            } else if !after.is_empty() {
                (after.to_vec(), Vec::new())
            } else if let Some(v) = rest.pop() {
                (v, Vec::new())
            } else {
                let mut m = format!(
                    "flag needs an argument: {} in -",
                    gofmt::quote_rune(c as char)
                )
                .into_bytes();
                m.extend_from_slice(&shorts);
                return Err(m);
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
        let args: Vec<Vec<u8>> = args.iter().map(|s| s.as_bytes().to_vec()).collect();
        fs.parse(&args)
            .map(|_| fs)
            .map_err(|e| String::from_utf8(e).unwrap())
    }

    #[test]
    fn go_style_forms() {
        let fs = parse(&["a", "--prefix", "--rev=3", "-w", "json", "b"]).unwrap();
        assert!(fs.get_bool("prefix"));
        assert_eq!(fs.get_i64("rev"), 3);
        assert_eq!(fs.get_string("write-out"), "json");
        assert_eq!(fs.args, vec![b"a".to_vec(), b"b".to_vec()]);
        let fs = parse(&["--prefix=false", "--rev", "0x10", "-wjson", "-i"]).unwrap();
        assert!(!fs.get_bool("prefix"));
        assert_eq!(fs.get_i64("rev"), 16);
        assert_eq!(fs.get_string("write-out"), "json");
        assert!(fs.get_bool("interactive"));
        let fs = parse(&["--prefix", "true", "--", "--rev"]).unwrap();
        assert_eq!(fs.args, vec![b"true".to_vec(), b"--rev".to_vec()]);
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

    #[test]
    fn values_and_args_are_bytes() {
        let mut fs = FlagSet::new(SPECS);
        let args = vec![
            b"k\xff".to_vec(),
            b"-w\xfe".to_vec(),
            b"--".to_vec(),
            b"\x80".to_vec(),
        ];
        fs.parse(&args).unwrap();
        assert_eq!(fs.args, vec![b"k\xff".to_vec(), b"\x80".to_vec()]);
        assert_eq!(fs.get_bytes("write-out"), b"\xfe");
        let mut fs = FlagSet::new(SPECS);
        assert_eq!(
            fs.parse(&[b"--rev=\xff".to_vec()]).unwrap_err(),
            b"invalid argument \"\\xff\" for \"--rev\" flag: strconv.ParseInt: parsing \"\\xff\": invalid syntax"
        );
        assert_eq!(
            fs.parse(&[b"--\xff".to_vec()]).unwrap_err(),
            b"unknown flag: --\xff"
        );
        assert_eq!(
            fs.parse(&[b"-\xff".to_vec()]).unwrap_err(),
            b"unknown shorthand flag: '\xc3\xbf' in -\xff"
        );
    }
}
