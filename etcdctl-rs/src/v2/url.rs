//! Go's `net/url` escaping and `path.Clean` as the v2 client applies them to
//! request paths and forms, so requests go out byte for byte as the Go
//! etcdctl sends them. The escaping itself is the `percent-encoding` crate's;
//! only the character sets are Go's.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What `url.URL.EscapedPath` leaves as it is: unreserved characters, `/`
/// and the sub-delimiters allowed in a path.
const PATH_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// What `url.QueryEscape` leaves as it is (a space becomes `+`).
const QUERY_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Go's path escaping of `url.URL.EscapedPath`.
pub fn escape_path(p: &str) -> String {
    utf8_percent_encode(p, PATH_KEEPS).to_string()
}

/// Go's `url.QueryEscape`. A `%20` in the output can only come from a
/// space (a `%` in the input is escaped as `%25`), so it becomes Go's `+`.
pub fn query_escape(s: &str) -> String {
    utf8_percent_encode(s, QUERY_KEEPS)
        .to_string()
        .replace("%20", "+")
}

/// `url.Values.Encode`: sorted keys, escaped pairs.
pub fn encode_form(pairs: &mut [(&str, String)]) -> String {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Go's `pathutil.CanonicalURLPath`: a leading `/`, `path.Clean`, and a
/// kept trailing slash.
pub fn canonical_path(p: &str) -> String {
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_forms() {
        assert_eq!(
            escape_path("/v2/keys/a b/c%d?e"),
            "/v2/keys/a%20b/c%25d%3Fe"
        );
        assert_eq!(escape_path("/a~b$&+,;=@:*"), "/a~b$&+,;=@:%2A");
        assert_eq!(
            encode_form(&mut [("value", "v x&y".into()), ("ttl", "5".into())]),
            "ttl=5&value=v+x%26y"
        );
        assert_eq!(query_escape("a*b~c%20\u{e9}"), "a%2Ab~c%2520%C3%A9");
        assert_eq!(canonical_path("/v2/keys/"), "/v2/keys/");
        assert_eq!(canonical_path("/v2/keys/a/../b"), "/v2/keys/b");
    }
}
