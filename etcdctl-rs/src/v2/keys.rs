//! The v2 keys API (`/v2/keys`) on top of [`Client`]: get, set (with its
//! preconditions), create-in-order, delete and one-shot watches, decoding
//! answers like Go's `unmarshalHTTPResponse`.

use super::client::{Client, ClientError, Request};
use super::response::{EtcdError, Response};
use super::url::{canonical_path, encode_form, escape_path};

/// Why a keys call failed.
#[derive(Debug)]
pub enum ApiError {
    Client(ClientError),
    Etcd(EtcdError),
    Other(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Client(e) => write!(f, "{e}"),
            ApiError::Etcd(e) => write!(f, "{e}"),
            ApiError::Other(s) => write!(f, "{s}"),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        ApiError::Client(e)
    }
}

pub const INVALID_JSON: &str =
    "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.";

/// The `PrevExist` precondition of a set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PrevExist {
    Ignore,
    Exist,
    NoExist,
}

/// Options of a set (Go's `SetOptions`).
pub struct SetOptions {
    pub ttl: i64,
    pub prev_value: String,
    pub prev_index: u64,
    pub prev_exist: PrevExist,
    pub dir: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            ttl: 0,
            prev_value: String::new(),
            prev_index: 0,
            prev_exist: PrevExist::Ignore,
            dir: false,
        }
    }
}

/// Options of a delete.
#[derive(Default)]
pub struct DeleteOptions {
    pub prev_value: String,
    pub prev_index: u64,
    pub dir: bool,
    pub recursive: bool,
}

fn key_path(key: &str) -> String {
    let key = if key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    };
    escape_path(&canonical_path(&format!("/v2/keys{key}")))
}

fn with_query(path: String, pairs: &mut [(&str, String)]) -> String {
    if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", encode_form(pairs))
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

pub async fn get(
    c: &mut Client,
    key: &str,
    sorted: bool,
    recursive: bool,
    quorum: bool,
) -> Result<Response, ApiError> {
    let path = with_query(
        key_path(key),
        &mut [
            ("quorum", quorum.to_string()),
            ("recursive", recursive.to_string()),
            ("sorted", sorted.to_string()),
        ],
    );
    decode(c.call(&Request::new("GET", path)).await?)
}

pub async fn set(
    c: &mut Client,
    key: &str,
    value: &str,
    o: &SetOptions,
) -> Result<Response, ApiError> {
    let mut query = Vec::new();
    if o.dir {
        query.push(("dir", "true".to_string()));
    }
    match o.prev_exist {
        PrevExist::Exist => query.push(("prevExist", "true".to_string())),
        PrevExist::NoExist => query.push(("prevExist", "false".to_string())),
        PrevExist::Ignore => {}
    }
    if o.prev_index != 0 {
        query.push(("prevIndex", o.prev_index.to_string()));
    }
    if !o.prev_value.is_empty() {
        query.push(("prevValue", o.prev_value.clone()));
    }
    let mut form = Vec::new();
    if !o.dir {
        form.push(("value", value.to_string()));
    }
    if o.ttl > 0 {
        form.push(("ttl", o.ttl.to_string()));
    }
    let path = with_query(key_path(key), &mut query);
    let req = Request::new("PUT", path).with_body(encode_form(&mut form), FORM);
    decode(c.call(&req).await?)
}

pub async fn create_in_order(
    c: &mut Client,
    dir: &str,
    value: &str,
    ttl: i64,
) -> Result<Response, ApiError> {
    let mut form = vec![("value", value.to_string())];
    if ttl > 0 {
        form.push(("ttl", ttl.to_string()));
    }
    let req = Request::new("POST", key_path(dir)).with_body(encode_form(&mut form), FORM);
    decode(c.call(&req).await?)
}

pub async fn delete(c: &mut Client, key: &str, o: &DeleteOptions) -> Result<Response, ApiError> {
    let mut query = Vec::new();
    if o.dir {
        query.push(("dir", "true".to_string()));
    }
    if o.prev_index != 0 {
        query.push(("prevIndex", o.prev_index.to_string()));
    }
    if !o.prev_value.is_empty() {
        query.push(("prevValue", o.prev_value.clone()));
    }
    if o.recursive {
        query.push(("recursive", "true".to_string()));
    }
    let path = with_query(key_path(key), &mut query);
    decode(c.call(&Request::new("DELETE", path)).await?)
}

/// A watcher that remembers the next index to wait for.
pub struct Watcher {
    pub key: String,
    pub recursive: bool,
    pub wait_index: u64,
}

impl Watcher {
    /// Waits for the next event (empty answers are retried).
    pub async fn next(&mut self, c: &mut Client) -> Result<Response, ApiError> {
        loop {
            let path = with_query(
                key_path(&self.key),
                &mut [
                    ("recursive", self.recursive.to_string()),
                    ("wait", "true".to_string()),
                    ("waitIndex", self.wait_index.to_string()),
                ],
            );
            let mut req = Request::new("GET", path);
            req.wait = true;
            let answer = c.call(&req).await?;
            if (answer.status == 200 || answer.status == 201) && answer.body.is_empty() {
                continue;
            }
            let resp = decode(answer)?;
            self.wait_index = resp.node.modified_index + 1;
            return Ok(resp);
        }
    }
}

fn decode(a: super::client::Answer) -> Result<Response, ApiError> {
    match a.status {
        200 | 201 => {
            if a.body.is_empty() {
                return Err(ApiError::Other("client: response body is empty".into()));
            }
            let v: serde_json::Value =
                serde_json::from_slice(&a.body).map_err(|e| ApiError::Other(e.to_string()))?;
            Ok(Response::from_json(&v, a.index))
        }
        _ => match serde_json::from_slice::<serde_json::Value>(&a.body) {
            Ok(v) if v.is_object() => Err(ApiError::Etcd(EtcdError::from_json(&v))),
            _ => Err(ApiError::Other(INVALID_JSON.into())),
        },
    }
}
