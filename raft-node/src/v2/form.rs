//! A v2 request's parameters: the URL query plus, for PUT and POST, a
//! form-encoded body (body values first, as Go's `FormValue`), checked in
//! etcd's order so the first bad field gives etcd's error.

use percent_encoding::percent_decode;

use super::error::{self as e, V2Error};

/// Decoded `name=value` pairs in order.
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_decode(plus.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

impl Form {
    /// Parses `body` (if any) then `query`.
    pub fn parse(query: &str, body: &[u8]) -> Form {
        let body = String::from_utf8_lossy(body);
        let mut pairs = Vec::new();
        for part in body.split('&').chain(query.split('&')) {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k), decode(v)));
        }
        Form(pairs)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The first value of `name`, "" when absent.
    pub fn value(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn boolean(&self, name: &str) -> Result<bool, V2Error> {
        parse_bool(self.value(name)).ok_or_else(|| {
            V2Error::request(e::INVALID_FIELD, format!("invalid value for \"{name}\""))
        })
    }

    fn uint(&self, name: &str) -> Result<u64, V2Error> {
        if !self.has(name) {
            return Ok(0);
        }
        self.value(name)
            .parse()
            .map_err(|_| V2Error::request(e::INDEX_NAN, format!("invalid value for \"{name}\"")))
    }
}

/// Go's `strconv.ParseBool`, with "" meaning false.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        _ => None,
    }
}

/// Everything a keys request may ask for.
#[derive(Debug, Default, Clone)]
pub struct KeyParams {
    pub prev_index: u64,
    pub wait_index: u64,
    pub recursive: bool,
    pub sorted: bool,
    pub wait: bool,
    /// With `wait`: keep sending every matching event, not just the first.
    pub stream: bool,
    pub dir: bool,
    pub quorum: bool,
    pub prev_value: Option<String>,
    pub value: String,
    pub no_value_on_success: bool,
    /// `Some` when a non-empty `ttl` was given.
    pub ttl: Option<u64>,
    pub prev_exist: Option<bool>,
    pub refresh: bool,
}

impl KeyParams {
    pub fn parse(form: &Form, method: &str) -> Result<KeyParams, V2Error> {
        let prev_index = form.uint("prevIndex")?;
        let wait_index = form.uint("waitIndex")?;
        let recursive = form.boolean("recursive")?;
        let sorted = form.boolean("sorted")?;
        let wait = form.boolean("wait")?;
        let dir = form.boolean("dir")?;
        let quorum = form.boolean("quorum")?;
        let stream = form.boolean("stream")?;
        if wait && method != "GET" {
            return Err(V2Error::request(
                e::INVALID_FIELD,
                "\"wait\" can only be used with GET requests",
            ));
        }
        let prev_value = form
            .has("prevValue")
            .then(|| form.value("prevValue").to_string());
        if prev_value.as_deref() == Some("") {
            return Err(V2Error::request(
                e::PREV_VALUE_REQUIRED,
                "\"prevValue\" cannot be empty",
            ));
        }
        let no_value_on_success = form.boolean("noValueOnSuccess")?;
        let ttl = match form.value("ttl") {
            "" => None,
            t => Some(
                t.parse::<u64>()
                    .map_err(|_| V2Error::request(e::TTL_NAN, "invalid value for \"ttl\""))?,
            ),
        };
        let prev_exist =
            if form.has("prevExist") {
                Some(parse_bool(form.value("prevExist")).ok_or_else(|| {
                    V2Error::request(e::INVALID_FIELD, "invalid value for prevExist")
                })?)
            } else {
                None
            };
        let refresh = form.boolean("refresh")?;
        let value = form.value("value").to_string();
        if refresh {
            if !value.is_empty() {
                return Err(V2Error::request(
                    e::REFRESH_VALUE,
                    "A value was provided on a refresh",
                ));
            }
            if ttl.is_none() {
                return Err(V2Error::request(
                    e::REFRESH_TTL_REQUIRED,
                    "No TTL value set",
                ));
            }
        }
        Ok(KeyParams {
            prev_index,
            wait_index,
            recursive,
            sorted,
            wait,
            stream,
            dir,
            quorum,
            prev_value,
            value: if dir { String::new() } else { value },
            no_value_on_success,
            ttl,
            prev_exist,
            refresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_wins_and_decodes() {
        let f = Form::parse("value=q&ttl=5", b"value=a+b%2Fc");
        assert_eq!(f.value("value"), "a b/c");
        assert_eq!(f.value("ttl"), "5");
        assert!(!f.has("dir"));
    }

    #[test]
    fn errors_in_etcds_order() {
        let p = |q: &str| KeyParams::parse(&Form::parse(q, b""), "PUT");
        assert_eq!(p("ttl=abc").unwrap_err().code, e::TTL_NAN);
        assert_eq!(p("prevIndex=x&ttl=abc").unwrap_err().code, e::INDEX_NAN);
        assert_eq!(
            p("recursive=maybe").unwrap_err().cause,
            "invalid value for \"recursive\""
        );
        assert_eq!(
            p("prevExist=maybe").unwrap_err().cause,
            "invalid value for prevExist"
        );
        assert_eq!(p("prevValue=").unwrap_err().code, e::PREV_VALUE_REQUIRED);
        assert_eq!(p("refresh=true").unwrap_err().code, e::REFRESH_TTL_REQUIRED);
        assert_eq!(
            p("refresh=true&value=1&ttl=1").unwrap_err().code,
            e::REFRESH_VALUE
        );
        assert_eq!(p("wait=true").unwrap_err().code, e::INVALID_FIELD);
        let ok = p("ttl=5&prevExist=false&dir=true&value=v").expect("valid");
        assert_eq!(
            (ok.ttl, ok.prev_exist, ok.dir, ok.value.as_str()),
            (Some(5), Some(false), true, "")
        );
    }
}
