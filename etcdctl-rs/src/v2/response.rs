//! The v2 keys API response as the Go client sees it: `action`, `node`,
//! `prevNode` from the JSON body and `Index` from the `X-Etcd-Index`
//! header, plus the error body (`errorCode`, `message`, `cause`, `index`).

use serde_json::Value;

/// One node of the v2 store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub key: String,
    pub dir: bool,
    pub value: String,
    /// `None` when the server sent no `nodes` (printed as `null`).
    pub nodes: Option<Vec<Node>>,
    pub created_index: u64,
    pub modified_index: u64,
    pub expiration: Option<String>,
    pub ttl: i64,
}

impl Node {
    pub fn from_json(v: &Value) -> Node {
        Node {
            key: str_field(v, "key"),
            dir: v.get("dir").and_then(Value::as_bool).unwrap_or(false),
            value: str_field(v, "value"),
            nodes: v
                .get("nodes")
                .and_then(Value::as_array)
                .map(|list| list.iter().map(Node::from_json).collect()),
            created_index: v.get("createdIndex").and_then(Value::as_u64).unwrap_or(0),
            modified_index: v.get("modifiedIndex").and_then(Value::as_u64).unwrap_or(0),
            expiration: v
                .get("expiration")
                .and_then(Value::as_str)
                .map(str::to_string),
            ttl: v.get("ttl").and_then(Value::as_i64).unwrap_or(0),
        }
    }
}

fn str_field(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A successful keys API response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub action: String,
    pub node: Node,
    pub prev_node: Option<Node>,
    pub index: u64,
}

impl Response {
    pub fn from_json(v: &Value, index: u64) -> Response {
        Response {
            action: str_field(v, "action"),
            node: v.get("node").map(Node::from_json).unwrap_or_default(),
            prev_node: v
                .get("prevNode")
                .filter(|n| !n.is_null())
                .map(Node::from_json),
            index,
        }
    }
}

/// The error body of the keys API, printed as `100: Key not found (/a) [12]`.
#[derive(Clone, Debug)]
pub struct EtcdError {
    pub code: i64,
    pub message: String,
    pub cause: String,
    pub index: u64,
}

impl EtcdError {
    pub fn from_json(v: &Value) -> EtcdError {
        EtcdError {
            code: v.get("errorCode").and_then(Value::as_i64).unwrap_or(0),
            message: str_field(v, "message"),
            cause: str_field(v, "cause"),
            index: v.get("index").and_then(Value::as_u64).unwrap_or(0),
        }
    }
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({}) [{}]",
            self.code, self.message, self.cause, self.index
        )
    }
}
