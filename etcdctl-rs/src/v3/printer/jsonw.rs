//! A small JSON writer producing exactly what Go's `encoding/json` emits for
//! etcd's gogo-generated structs: fields in declaration order, Go's string
//! escaping (including `<`, `>`, `&`), and bytes as padded base64.

use crate::v3::gofmt::decode_rune;

/// Go's JSON encoding of a string given as raw bytes (invalid UTF-8
/// becomes U+FFFD).
pub fn string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        match c {
            None => out.push_str("\\ufffd"),
            Some(c) => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            },
        }
        rest = &rest[width..];
    }
    out.push('"');
    out
}

/// Standard base64 with padding, as Go encodes `[]byte`.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JSON object under construction.
#[derive(Debug)]
pub struct Obj {
    buf: String,
    empty: bool,
}

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    pub fn new() -> Self {
        Obj {
            buf: String::from("{"),
            empty: true,
        }
    }

    /// Adds a field whose value is already JSON.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        self.buf.push_str(&string(key.as_bytes()));
        self.buf.push(':');
        self.buf.push_str(json);
        self
    }

    pub fn num(&mut self, key: &str, v: impl std::fmt::Display) -> &mut Self {
        self.raw(key, &v.to_string())
    }

    pub fn boolean(&mut self, key: &str, v: bool) -> &mut Self {
        self.raw(key, if v { "true" } else { "false" })
    }

    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.raw(key, &string(v.as_bytes()))
    }

    /// A `[]byte` field with `omitempty`.
    pub fn bytes_omit(&mut self, key: &str, v: &[u8]) -> &mut Self {
        if !v.is_empty() {
            self.raw(key, &format!("\"{}\"", base64(v)));
        }
        self
    }

    /// A numeric field with `omitempty`.
    pub fn num_omit<T: std::fmt::Display + Default + PartialEq>(
        &mut self,
        key: &str,
        v: T,
    ) -> &mut Self {
        if v != T::default() {
            self.num(key, v);
        }
        self
    }

    pub fn bool_omit(&mut self, key: &str, v: bool) -> &mut Self {
        if v {
            self.boolean(key, v);
        }
        self
    }

    pub fn str_omit(&mut self, key: &str, v: &str) -> &mut Self {
        if !v.is_empty() {
            self.str(key, v);
        }
        self
    }

    /// An optional nested object with `omitempty` (a nil pointer is omitted).
    pub fn opt_raw(&mut self, key: &str, v: Option<String>) -> &mut Self {
        if let Some(v) = v {
            self.raw(key, &v);
        }
        self
    }

    /// A slice with `omitempty`.
    pub fn list_omit(&mut self, key: &str, items: Vec<String>) -> &mut Self {
        if !items.is_empty() {
            self.raw(key, &list(items));
        }
        self
    }

    pub fn finish(&mut self) -> String {
        let mut s = std::mem::take(&mut self.buf);
        s.push('}');
        s
    }
}

/// A JSON array of already-encoded items.
pub fn list(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go() {
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"k1"), "azE=");
        assert_eq!(base64(b""), "");
        assert_eq!(
            string(b"a<b>&\"\\\n\x01"),
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\""
        );
        assert_eq!(string(b"\xff"), "\"\\ufffd\"");
        let mut o = Obj::new();
        o.num("a", 1).num_omit("b", 0i64).str("c", "x");
        assert_eq!(o.finish(), "{\"a\":1,\"c\":\"x\"}");
    }
}
