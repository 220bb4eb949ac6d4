//! Go's strings as etcd's tools print them: `strconv` quoting and
//! unquoting, runes as Go decodes bytes, `%v` of string slices.

/// Go's `unicode.IsPrint`, approximated for the characters a key or URL
/// realistically contains.
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        return false;
    }
    !matches!(u,
        0xad | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff
        | 0xe000..=0xf8ff | 0xfff9..=0xfffb | 0xfffe | 0xffff | 0xf0000..=0x10ffff)
}

/// Go's `strconv.Quote` applied to raw bytes (what `%q` prints).
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        match c {
            None => {
                out.push_str(&format!("\\x{:02x}", rest[0]));
            }
            Some(c) => push_quoted_char(&mut out, c),
        }
        rest = &rest[width..];
    }
    out.push('"');
    out
}

/// What Go's `%#q` prints: a back-quoted string when `strconv.CanBackquote`
/// allows, else [`quote`].
pub fn quote_sharp(bytes: &[u8]) -> String {
    let mut rest = bytes;
    let mut can = true;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        rest = &rest[width..];
        match c {
            None | Some('\u{feff}' | '`' | '\u{7f}') => can = false,
            Some(c) if c < ' ' && c != '\t' => can = false,
            Some(_) => {}
        }
    }
    if can {
        format!("`{}`", String::from_utf8_lossy(bytes))
    } else {
        quote(bytes)
    }
}

/// Go's `strconv.QuoteRune` (what `%q` prints for an integer).
pub fn quote_rune(c: char) -> String {
    let mut out = String::from('\'');
    match c {
        '\'' => out.push_str("\\'"),
        '"' => out.push('"'),
        c => push_quoted_char(&mut out, c),
    }
    out.push('\'');
    out
}

/// Decodes bytes into runes as Go's `for range` over a string and fmt's
/// scanner do: every byte that does not start a valid UTF-8 sequence
/// becomes one U+FFFD.
pub fn go_runes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        rest = &rest[width..];
    }
    out
}

/// Go's `strings.TrimSpace` on bytes (Unicode white space; invalid UTF-8
/// is not space).
pub fn trim_space(b: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < b.len() {
        match decode_rune(&b[start..]) {
            (Some(c), w) if c.is_whitespace() => start += w,
            _ => break,
        }
    }
    let mut end = b.len();
    while end > start {
        // Find the start of the last rune.
        let mut i = end - 1;
        while i > start && end - i < 4 && (b[i] & 0xc0) == 0x80 {
            i -= 1;
        }
        match decode_rune(&b[i..end]) {
            (Some(c), w) if i + w == end && c.is_whitespace() => end = i,
            _ => break,
        }
    }
    &b[start..end]
}

fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_print(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Decodes one UTF-8 scalar value; `None` with width 1 for an invalid byte.
pub fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let len = match b[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    if b.len() < len {
        return (None, 1);
    }
    match std::str::from_utf8(&b[..len]) {
        Ok(s) => (s.chars().next(), len),
        Err(_) => (None, 1),
    }
}

/// Go's `strconv.ErrSyntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError;

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid syntax")
    }
}

/// Go's `strconv.Unquote` for a double-quoted literal (quotes included).
pub fn unquote(s: &str) -> Result<Vec<u8>, SyntaxError> {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return Err(SyntaxError);
    }
    let inner = &s[1..s.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return Err(SyntaxError),
            '\\' => unquote_escape(&mut chars, &mut out)?,
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(out)
}

fn unquote_escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut Vec<u8>,
) -> Result<(), SyntaxError> {
    let simple = |c: char| -> Option<u8> {
        Some(match c {
            'a' => 7,
            'b' => 8,
            'f' => 0x0c,
            'n' => b'\n',
            'r' => b'\r',
            't' => b'\t',
            'v' => 0x0b,
            '\\' => b'\\',
            '"' => b'"',
            _ => return None,
        })
    };
    let c = chars.next().ok_or(SyntaxError)?;
    if let Some(b) = simple(c) {
        out.push(b);
        return Ok(());
    }
    let mut take_hex = |n: usize| -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(16))
                .ok_or(SyntaxError)?;
            v = v * 16 + d;
        }
        Ok(v)
    };
    match c {
        'x' => out.push(take_hex(2)? as u8),
        'u' | 'U' => {
            let v = take_hex(if c == 'u' { 4 } else { 8 })?;
            let ch = char::from_u32(v).ok_or(SyntaxError)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        '0'..='7' => {
            let mut v = c.to_digit(8).ok_or(SyntaxError)?;
            for _ in 0..2 {
                let d = chars
                    .next()
                    .and_then(|c| c.to_digit(8))
                    .ok_or(SyntaxError)?;
                v = v * 8 + d;
            }
            if v > 255 {
                return Err(SyntaxError);
            }
            out.push(v as u8);
        }
        _ => return Err(SyntaxError),
    }
    Ok(())
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn go_string_slice<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    format!("[{}]", parts.join(" "))
}

/// `%x` of raw bytes with etcdctl's `\x` prefix per byte (the `--hex` flag).
pub fn hex_escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_int_bytes;

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote(b"foo"), "\"foo\"");
        assert_eq!(quote(b"a\"b\\c\n\x01\x7f"), "\"a\\\"b\\\\c\\n\\x01\\x7f\"");
        assert_eq!(quote(b"\xff\xfe"), "\"\\xff\\xfe\"");
        assert_eq!(quote("héllo".as_bytes()), "\"héllo\"");
    }

    #[test]
    fn bytes_helpers() {
        assert_eq!(quote_sharp(b"a b"), "`a b`");
        assert_eq!(quote_sharp(b"a\xff"), "\"a\\xff\"");
        assert_eq!(quote_sharp(b"a`"), "\"a`\"");
        assert_eq!(quote_sharp(b"\n"), "\"\\n\"");
        assert_eq!(quote_rune('\''), "'\\''");
        assert_eq!(quote_rune('"'), "'\"'");
        assert_eq!(quote_rune('\u{ff}'), "'ÿ'");
        assert_eq!(quote_rune('\x01'), "'\\x01'");
        assert_eq!(go_runes(b"a\xe2\x82x\xff"), "a\u{fffd}\u{fffd}x\u{fffd}");
        assert_eq!(trim_space(b" \t\xc2\x85a\xff \xc2\xa0\n"), b"a\xff");
        assert_eq!(trim_space(b" \xa0"), b"\xa0");
        assert_eq!(trim_space(b"\n"), b"");
        assert_eq!(
            parse_int_bytes(b"\xff", 16),
            Err("strconv.ParseInt: parsing \"\\xff\": invalid syntax".into())
        );
    }

    #[test]
    fn unquotes_like_go() {
        assert_eq!(
            unquote("\"\\xff\\u00ff\\377\"").unwrap(),
            b"\xff\xc3\xbf\xff"
        );
        assert_eq!(unquote("\"a\\tb\"").unwrap(), b"a\tb");
        assert_eq!(unquote("\"\\x41\\101\\u00e9\"").unwrap(), "AAé".as_bytes());
        assert!(unquote("\"\\q\"").is_err());
        assert!(unquote("\"\\'\"").is_err());
    }
}
