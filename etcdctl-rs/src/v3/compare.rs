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
    fn quoted(&mut self) -> Result<Vec<u8>, ScanError> {
        self.skip_space();
        match self.chars.next() {
            Some('`') => {
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        Some('`') => return Ok(s.into_bytes()),
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
                // `\xff` and `\377` are single bytes, not UTF-8.
                gofmt::unquote(&lit).map_err(|_| ScanError)
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
    key: Vec<u8>,
    op: String,
    val: Vec<u8>,
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
/// etcdctl's `parseCompare` of one (trimmed) input line, which is bytes:
/// fmt's scanner reads each byte that is not UTF-8 as U+FFFD.
pub fn parse_compare(line: &[u8]) -> CtlResult<Compare> {
    let malformed = |detail: Vec<u8>| CtlError::new(EXIT_INVALID_INPUT, detail);
    let Some(lparen) = line.iter().position(|&c| c == b'(') else {
        return Err(malformed([&b"malformed comparison: "[..], line].concat()));
    };
    let (target, rest) = (&line[..lparen], &line[lparen + 1..]);
    let sc = scan(&gofmt::go_runes(rest));
    if sc.n != 3 {
        let got = format!(
            "({}) {} {}",
            gofmt::quote(&sc.key),
            sc.op,
            gofmt::quote(&sc.val)
        );
        return Err(malformed(
            [
                &b"malformed comparison: "[..],
                line,
                b"; got ",
                target,
                got.as_bytes(),
            ]
            .concat(),
        ));
    }
    let invalid = || {
        CtlError::new(
            EXIT_INVALID_INPUT,
            [&b"invalid txn compare request: "[..], line].concat(),
        )
    };
    let int = || gofmt::parse_int_bytes(&sc.val, 10).map_err(|_| invalid());
    let (t, union) = match target {
        b"ver" | b"version" => (CompareTarget::Version, TargetUnion::Version(int()?)),
        b"c" | b"create" => (CompareTarget::Create, TargetUnion::CreateRevision(int()?)),
        b"m" | b"mod" => (CompareTarget::Mod, TargetUnion::ModRevision(int()?)),
        b"val" | b"value" => (CompareTarget::Value, TargetUnion::Value(sc.val.clone())),
        b"lease" => {
            // etcdctl 3.4 passes the value as a string, which clientv3
            // rejects with a panic once the operator is known to be valid.
            result_of(&sc.op)?;
            return Err(CtlError::panic("bad value"));
        }
        _ => {
            return Err(malformed(
                [
                    &b"malformed comparison: "[..],
                    line,
                    b" (unknown target ",
                    target,
                    b")",
                ]
                .concat(),
            ))
        }
    };
    Ok(Compare {
        result: result_of(&sc.op)? as i32,
        target: t as i32,
        key: sc.key,
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compares() {
        let c = parse_compare(b"value(\"a\") = \"x\"").unwrap();
        assert_eq!(c.key, b"a");
        assert_eq!(c.result, CompareResult::Equal as i32);
        assert_eq!(c.target_union, Some(TargetUnion::Value(b"x".to_vec())));
        let c = parse_compare(b"mod(\"a\") > \"3\"").unwrap();
        assert_eq!(c.target, CompareTarget::Mod as i32);
        assert_eq!(c.target_union, Some(TargetUnion::ModRevision(3)));
        let c = parse_compare(b"ver(\"k\")   !=   \"0\" trailing").unwrap();
        assert_eq!(c.result, CompareResult::NotEqual as i32);
    }

    #[test]
    fn escapes_are_bytes() {
        let c = parse_compare(b"value(\"k\\xff\") = \"\\377\\u00ff\"").unwrap();
        assert_eq!(c.key, b"k\xff");
        assert_eq!(
            c.target_union,
            Some(TargetUnion::Value(b"\xff\xc3\xbf".to_vec()))
        );
        // A raw byte that is not UTF-8 is U+FFFD to fmt's scanner.
        let c = parse_compare(b"value(\"k\xff\") = \"x\"").unwrap();
        assert_eq!(c.key, "k\u{fffd}".as_bytes());
        let e = parse_compare(b"\xfe(\"a\") = \"1\"").unwrap_err();
        assert_eq!(
            e.message_bytes(),
            b"malformed comparison: \xfe(\"a\") = \"1\" (unknown target \xfe)"
        );
    }

    #[test]
    fn reports_partial_scans_like_go() {
        let e = parse_compare(b"mod(\"k1\")>\"3\"").unwrap_err();
        assert_eq!(
            e.message(),
            "malformed comparison: mod(\"k1\")>\"3\"; got mod(\"k1\")  \"\""
        );
        let e = parse_compare(b"nothing").unwrap_err();
        assert_eq!(e.message(), "malformed comparison: nothing");
        let e = parse_compare(b"foo(\"a\") = \"1\"").unwrap_err();
        assert_eq!(
            e.message(),
            "malformed comparison: foo(\"a\") = \"1\" (unknown target foo)"
        );
        let e = parse_compare(b"mod(\"a\") = \"x\"").unwrap_err();
        assert_eq!(
            e.message(),
            "invalid txn compare request: mod(\"a\") = \"x\""
        );
        assert_eq!(parse_compare(b"mod(\"a\") ~ \"1\"").unwrap_err().code, 2);
        assert_eq!(parse_compare(b"lease(\"a\") = \"1\"").unwrap_err().code, 2);
    }
}
