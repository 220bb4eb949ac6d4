//! Parses `txn` comparisons such as `mod("k") > "3"` exactly like etcdctl:
//! the text after the first `(` is scanned with Go's
//! `fmt.Sscanf(s, "%q) %s %q", &key, &op, &val)`, whose rules (quoted
//! strings, space matching, partial results in error messages) are
//! reproduced here.

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::Compare;

use super::error::{CtlError, CtlResult, EXIT_INVALID_INPUT};
use super::gofmt;

/// fmt's notion of white space (`isSpace` in fmt/scan.go).
fn is_space(c: char) -> bool {
    matches!(c,
        '\t'..='\r' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
        | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// A rune reader over the scanned text.
struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

/// Why scanning stopped (the message does not matter to etcdctl's output).
struct ScanError;

impl Scanner<'_> {
    fn skip_space(&mut self) {
        while self.chars.peek().is_some_and(|&c| is_space(c) && c != '\n') {
            self.chars.next();
        }
    }

    /// `%q`: a double- or back-quoted Go string.
    fn quoted(&mut self) -> Result<String, ScanError> {
        self.skip_space();
        match self.chars.next() {
            Some('`') => {
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        Some('`') => return Ok(s),
                        Some(c) => s.push(c),
                        None => return Err(ScanError),
                    }
                }
            }
            Some('"') => {
                let mut lit = String::from('"');
                loop {
                    let c = self.chars.next().ok_or(ScanError)?;
                    lit.push(c);
                    if c == '\\' {
                        lit.push(self.chars.next().ok_or(ScanError)?);
                    } else if c == '"' {
                        break;
                    }
                }
                let bytes = gofmt::unquote(&lit).map_err(|_| ScanError)?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ => Err(ScanError),
        }
    }

    /// `%s`: the next space-delimited word.
    fn word(&mut self) -> Result<String, ScanError> {
        self.skip_space();
        if self.chars.peek().is_none() {
            return Err(ScanError);
        }
        let mut s = String::new();
        while let Some(&c) = self.chars.peek() {
            if is_space(c) {
                break;
            }
            s.push(c);
            self.chars.next();
        }
        Ok(s)
    }

    /// A literal character of the format.
    fn literal(&mut self, want: char) -> Result<(), ScanError> {
        match self.chars.peek() {
            Some(&c) if c == want => {
                self.chars.next();
                Ok(())
            }
            _ => Err(ScanError),
        }
    }

    /// A lone space in the format: one or more spaces, or end of input.
    fn space(&mut self) -> Result<(), ScanError> {
        match self.chars.peek() {
            None => Ok(()),
            Some(&c) if is_space(c) && c != '\n' => {
                self.skip_space();
                Ok(())
            }
            _ => Err(ScanError),
        }
    }
}

/// The values `Sscanf("%q) %s %q")` assigned before it stopped.
#[derive(Default, Debug, PartialEq, Eq)]
struct Scanned {
    key: String,
    op: String,
    val: String,
    n: usize,
}

fn scan(s: &str) -> Scanned {
    let mut sc = Scanner {
        chars: s.chars().peekable(),
    };
    let mut out = Scanned::default();
    let _ = (|| -> Result<(), ScanError> {
        out.key = sc.quoted()?;
        out.n = 1;
        sc.literal(')')?;
        sc.space()?;
        out.op = sc.word()?;
        out.n = 2;
        sc.space()?;
        out.val = sc.quoted()?;
        out.n = 3;
        Ok(())
    })();
    out
}

/// clientv3's `Compare`: the operator, or a Go panic for an unknown one.
fn result_of(op: &str) -> CtlResult<CompareResult> {
    Ok(match op {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        _ => return Err(CtlError::panic("Unknown result op")),
    })
}

/// etcdctl's `parseCompare`.
pub fn parse_compare(line: &str) -> CtlResult<Compare> {
    let malformed = |detail: String| CtlError::new(EXIT_INVALID_INPUT, detail);
    let Some((target, rest)) = line.split_once('(') else {
        return Err(malformed(format!("malformed comparison: {line}")));
    };
    let sc = scan(rest);
    if sc.n != 3 {
        return Err(malformed(format!(
            "malformed comparison: {line}; got {target}({}) {} {}",
            gofmt::quote(sc.key.as_bytes()),
            sc.op,
            gofmt::quote(sc.val.as_bytes())
        )));
    }
    let invalid = || {
        CtlError::new(
            EXIT_INVALID_INPUT,
            format!("invalid txn compare request: {line}"),
        )
    };
    let int = || gofmt::parse_int(&sc.val, 10).map_err(|_| invalid());
    let (t, union) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(int()?)),
        "c" | "create" => (CompareTarget::Create, TargetUnion::CreateRevision(int()?)),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(int()?)),
        "val" | "value" => (
            CompareTarget::Value,
            TargetUnion::Value(sc.val.as_bytes().to_vec()),
        ),
        "lease" => {
            // etcdctl 3.4 passes the value as a string, which clientv3
            // rejects with a panic once the operator is known to be valid.
            result_of(&sc.op)?;
            return Err(CtlError::panic("bad value"));
        }
        _ => {
            return Err(malformed(format!(
                "malformed comparison: {line} (unknown target {target})"
            )))
        }
    };
    Ok(Compare {
        result: result_of(&sc.op)? as i32,
        target: t as i32,
        key: sc.key.into_bytes(),
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compares() {
        let c = parse_compare("value(\"a\") = \"x\"").unwrap();
        assert_eq!(c.key, b"a");
        assert_eq!(c.result, CompareResult::Equal as i32);
        assert_eq!(c.target_union, Some(TargetUnion::Value(b"x".to_vec())));
        let c = parse_compare("mod(\"a\") > \"3\"").unwrap();
        assert_eq!(c.target, CompareTarget::Mod as i32);
        assert_eq!(c.target_union, Some(TargetUnion::ModRevision(3)));
        let c = parse_compare("ver(\"k\")   !=   \"0\" trailing").unwrap();
        assert_eq!(c.result, CompareResult::NotEqual as i32);
    }

    #[test]
    fn reports_partial_scans_like_go() {
        let e = parse_compare("mod(\"k1\")>\"3\"").unwrap_err();
        assert_eq!(
            e.message(),
            "malformed comparison: mod(\"k1\")>\"3\"; got mod(\"k1\")  \"\""
        );
        let e = parse_compare("nothing").unwrap_err();
        assert_eq!(e.message(), "malformed comparison: nothing");
        let e = parse_compare("foo(\"a\") = \"1\"").unwrap_err();
        assert_eq!(
            e.message(),
            "malformed comparison: foo(\"a\") = \"1\" (unknown target foo)"
        );
        let e = parse_compare("mod(\"a\") = \"x\"").unwrap_err();
        assert_eq!(
            e.message(),
            "invalid txn compare request: mod(\"a\") = \"x\""
        );
        assert_eq!(parse_compare("mod(\"a\") ~ \"1\"").unwrap_err().code, 2);
        assert_eq!(parse_compare("lease(\"a\") = \"1\"").unwrap_err().code, 2);
    }
}
