//! Go's `types.NewURLs`, which etcdctl applies to the peer URLs of
//! `member add`/`update` (v2) and of `snapshot restore`: each URL trimmed,
//! checked and the list sorted.
//!
//! Written here, not with a URL crate: what passes and the message of what
//! does not must be etcdctl's byte for byte, and those follow Go's
//! `url.Parse` and `net.SplitHostPort`, which no crate reproduces.

/// One URL checked as `types.NewURLs` checks it: an `http`, `https`, `unix`
/// or `unixs` scheme, a `host:port` address for `http(s)`, no path.
pub fn check_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let (scheme, rest) = s.split_once("://").unwrap_or(("", s));
    if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
        return Err(format!(
            "URL scheme must be http, https, unix, or unixs: {s}"
        ));
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // net.SplitHostPort: a port after the last colon, and an IPv6 host in
    // brackets.
    let has_port = match host.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").is_some(),
        None => host.matches(':').count() == 1,
    };
    if matches!(scheme, "http" | "https") && !has_port {
        return Err(format!(
            "URL address does not have the form \"host:port\": {s}"
        ));
    }
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {s}"));
    }
    Ok(s.to_string())
}

/// `types.NewURLs`: every URL checked, the list sorted; an empty list is
/// refused.
pub fn new_urls(list: &[impl AsRef<str>]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("no valid URLs given".into());
    }
    let mut urls = list
        .iter()
        .map(|u| check_url(u.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    urls.sort();
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_like_etcd() {
        assert!(check_url("http://127.0.0.1:2380").is_ok());
        assert!(check_url("http://[::1]:2380").is_ok());
        assert!(check_url("unix://localhost").is_ok());
        assert_eq!(
            check_url("foo").unwrap_err(),
            "URL scheme must be http, https, unix, or unixs: foo"
        );
        assert_eq!(
            check_url("http://localhost").unwrap_err(),
            "URL address does not have the form \"host:port\": http://localhost"
        );
        assert_eq!(
            check_url("http://a:1/x").unwrap_err(),
            "URL must not contain a path: http://a:1/x"
        );
        assert_eq!(
            new_urls(&[" http://b:2 ", "http://a:1"]).unwrap(),
            ["http://a:1", "http://b:2"]
        );
        let none: [&str; 0] = [];
        assert_eq!(new_urls(&none).unwrap_err(), "no valid URLs given");
    }
}
