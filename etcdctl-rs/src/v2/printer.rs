//! The three output formats of the v2 key commands (`-o simple`,
//! `extended`, `json`), as Go's `printResponseKey` writes them. The json
//! form re-encodes the parsed response the way Go's `encoding/json` does
//! (field order of the Go structs, `omitempty` fields, HTML-safe escapes).

use super::response::{Node, Response};

/// Prints a key response in `format`; unknown formats go to stderr.
pub fn print_response(resp: &Response, format: &str) {
    match format {
        "simple" => {
            if resp.action != "delete" {
                println!("{}", resp.node.value);
            } else {
                println!("PrevNode.Value: {}", prev_value(resp));
            }
        }
        "extended" => {
            println!("Key: {}", resp.node.key);
            println!("Created-Index: {}", resp.node.created_index);
            println!("Modified-Index: {}", resp.node.modified_index);
            if let Some(prev) = &resp.prev_node {
                println!("PrevNode.Value: {}", prev.value);
            }
            println!("TTL: {}", resp.node.ttl);
            println!("Index: {}", resp.index);
            if resp.action != "delete" {
                println!();
                println!("{}", resp.node.value);
            }
        }
        "json" => println!("{}", response_json(resp)),
        other => eprintln!("Unsupported output format: {other}"),
    }
}

fn prev_value(resp: &Response) -> &str {
    resp.prev_node
        .as_ref()
        .map(|n| n.value.as_str())
        .unwrap_or("")
}

/// `json.Marshal` of the Go client's `Response`.
pub fn response_json(resp: &Response) -> String {
    let mut s = String::from("{\"action\":");
    s.push_str(&go_string(&resp.action));
    s.push_str(",\"node\":");
    node_json(&mut s, &resp.node);
    s.push_str(",\"prevNode\":");
    match &resp.prev_node {
        Some(n) => node_json(&mut s, n),
        None => s.push_str("null"),
    }
    s.push('}');
    s
}

fn node_json(s: &mut String, n: &Node) {
    s.push_str("{\"key\":");
    s.push_str(&go_string(&n.key));
    if n.dir {
        s.push_str(",\"dir\":true");
    }
    s.push_str(",\"value\":");
    s.push_str(&go_string(&n.value));
    s.push_str(",\"nodes\":");
    match &n.nodes {
        None => s.push_str("null"),
        Some(list) => {
            s.push('[');
            for (i, child) in list.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                node_json(s, child);
            }
            s.push(']');
        }
    }
    s.push_str(&format!(
        ",\"createdIndex\":{},\"modifiedIndex\":{}",
        n.created_index, n.modified_index
    ));
    if let Some(exp) = &n.expiration {
        s.push_str(",\"expiration\":");
        s.push_str(&go_string(exp));
    }
    if n.ttl != 0 {
        s.push_str(&format!(",\"ttl\":{}", n.ttl));
    }
    s.push('}');
}

/// A JSON string literal as Go's `encoding/json` writes it.
pub fn go_string(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_go_encoding() {
        let resp = Response {
            action: "set".into(),
            node: Node {
                key: "/a".into(),
                value: "<&>".into(),
                created_index: 5,
                modified_index: 6,
                ttl: 3,
                expiration: Some("2026-01-01T00:00:00Z".into()),
                ..Node::default()
            },
            prev_node: None,
            index: 6,
        };
        assert_eq!(
            response_json(&resp),
            "{\"action\":\"set\",\"node\":{\"key\":\"/a\",\"value\":\"\\u003c\\u0026\\u003e\",\"nodes\":null,\"createdIndex\":5,\"modifiedIndex\":6,\"expiration\":\"2026-01-01T00:00:00Z\",\"ttl\":3},\"prevNode\":null}"
        );
    }
}
