//! etcdctl's `argify`: splits a `txn` or interactive `watch` line into
//! arguments with its regular expression
//! `"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?`, then unquotes
//! double-quoted words. Single-quoted words keep etcdctl's slicing quirk:
//! they are cut to `word[1 : len(args)-1]`, i.e. by the *number of
//! arguments*, and an out-of-range cut is a Go panic.

use super::error::{CtlError, CtlResult, EXIT_INVALID_INPUT};
use super::gofmt;

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

/// The regular expression's matches, in order.
fn tokens(line: &[u8]) -> Vec<&[u8]> {
    let b = line;
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let end = match b[i] {
            b'"' => {
                let mut j = i + 1;
                let mut closed = None;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            closed = Some(j + 1);
                            break;
                        }
                        b'\\' if j + 1 < b.len() && b[j + 1] != b'\n' => j += 2,
                        b'\\' => break,
                        _ => j += 1,
                    }
                }
                closed
            }
            b'\'' => b[i + 1..]
                .iter()
                .position(|&c| c == b'\'')
                .map(|p| i + 1 + p + 1),
            c if is_space(c) => None,
            _ => {
                let mut j = i + 1;
                while j < b.len() && !is_space(b[j]) {
                    j += 1;
                }
                Some(j)
            }
        };
        match end {
            Some(e) => {
                out.push(&line[start..e]);
                i = e;
            }
            None => i += 1,
        }
    }
    out
}

/// Splits `line` into arguments exactly as etcdctl does. Arguments are
/// bytes: words outside quotes keep any byte; in double quotes each byte
/// that is not UTF-8 reads as U+FFFD (fmt's `%q` scanning) and escapes such
/// as `\xff` are single bytes (`strconv.Unquote`).
pub fn argify(line: &[u8]) -> CtlResult<Vec<Vec<u8>>> {
    let toks = tokens(line);
    let n = toks.len();
    let mut args = Vec::with_capacity(n);
    for t in toks {
        if t[0] == b'\'' {
            let hi = n.wrapping_sub(1);
            if n == 0 || hi < 1 {
                return Err(CtlError::panic(&format!(
                    "runtime error: slice bounds out of range [1:{}]",
                    n as i64 - 1
                )));
            }
            if hi > t.len() {
                return Err(CtlError::panic(&format!(
                    "runtime error: slice bounds out of range [:{hi}] with length {}",
                    t.len()
                )));
            }
            args.push(t[1..hi].to_vec());
        } else if t[0] == b'"' {
            let v = gofmt::unquote(&gofmt::go_runes(t))
                .map_err(|_| CtlError::new(EXIT_INVALID_INPUT, "invalid syntax"))?;
            args.push(v);
        } else {
            args.push(t.to_vec());
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::argify as argify_bytes;

    fn argify(line: &str) -> Result<Vec<String>, crate::v3::CtlError> {
        argify_bytes(line.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8(a).unwrap())
                .collect()
        })
    }

    #[test]
    fn bytes_survive() {
        assert_eq!(
            argify_bytes(b"put k\xff \"\\xff\\377\\u00ff\" \"\xfe\"").unwrap(),
            vec![
                b"put".to_vec(),
                b"k\xff".to_vec(),
                b"\xff\xff\xc3\xbf".to_vec(),
                "\u{fffd}".as_bytes().to_vec()
            ]
        );
    }

    #[test]
    fn splits_like_etcdctl() {
        assert_eq!(argify("put k1 \"x y\"").unwrap(), vec!["put", "k1", "x y"]);
        assert_eq!(
            argify("  get  a   --prefix ").unwrap(),
            vec!["get", "a", "--prefix"]
        );
        assert_eq!(argify("put a\"b c").unwrap(), vec!["put", "a\"b", "c"]);
        assert_eq!(
            argify("put \"a\\\"b\" c").unwrap(),
            vec!["put", "a\"b", "c"]
        );
    }

    #[test]
    fn single_quotes_keep_the_go_quirk() {
        // Three arguments: single-quoted words are cut to [1:2].
        assert_eq!(argify("put 'ab' 'cd'").unwrap(), vec!["put", "a", "c"]);
        assert_eq!(argify("put 'abcdef' x").unwrap(), vec!["put", "a", "x"]);
        assert_eq!(argify("put 'a' b c d").unwrap_err().code, 2);
    }

    #[test]
    fn bad_escapes_are_invalid_input() {
        assert_eq!(argify("put \"\\q\" v").unwrap_err().code, 3);
    }
}
