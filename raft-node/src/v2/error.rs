//! The v2 API's error body, `{"errorCode","message","cause","index"}`, with
//! etcd's codes, messages and HTTP statuses.
//!
//! Errors found while parsing a request carry index 0 (etcd reports them
//! before looking at the store); errors found in the store carry the index
//! (v3 revision) the request saw.

use axum::http::StatusCode;
use serde::Serialize;

pub const KEY_NOT_FOUND: u32 = 100;
pub const TEST_FAILED: u32 = 101;
pub const NOT_FILE: u32 = 102;
pub const NOT_DIR: u32 = 104;
pub const NODE_EXIST: u32 = 105;
pub const ROOT_READ_ONLY: u32 = 107;
pub const UNAUTHORIZED: u32 = 110;
pub const DIR_NOT_EMPTY: u32 = 108;
pub const PREV_VALUE_REQUIRED: u32 = 201;
pub const TTL_NAN: u32 = 202;
pub const INDEX_NAN: u32 = 203;
pub const INVALID_FIELD: u32 = 209;
pub const INVALID_FORM: u32 = 210;
pub const REFRESH_VALUE: u32 = 211;
pub const REFRESH_TTL_REQUIRED: u32 = 212;
pub const RAFT_INTERNAL: u32 = 300;
pub const LEADER_ELECT: u32 = 301;
pub const EVENT_INDEX_CLEARED: u32 = 401;

/// One v2 error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V2Error {
    #[serde(rename = "errorCode")]
    pub code: u32,
    pub message: &'static str,
    pub cause: String,
    pub index: i64,
}

impl V2Error {
    pub fn new(code: u32, cause: impl Into<String>, index: i64) -> Self {
        V2Error {
            code,
            message: message(code),
            cause: cause.into(),
            index,
        }
    }

    /// An error found while parsing the request (index 0).
    pub fn request(code: u32, cause: impl Into<String>) -> Self {
        V2Error::new(code, cause, 0)
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            KEY_NOT_FOUND => StatusCode::NOT_FOUND,
            UNAUTHORIZED => StatusCode::UNAUTHORIZED,
            NOT_FILE | DIR_NOT_EMPTY => StatusCode::FORBIDDEN,
            TEST_FAILED | NODE_EXIST => StatusCode::PRECONDITION_FAILED,
            RAFT_INTERNAL | LEADER_ELECT => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body, newline-ended as etcd writes it.
    pub fn body(&self) -> String {
        super::json_line(self)
    }
}

fn message(code: u32) -> &'static str {
    match code {
        KEY_NOT_FOUND => "Key not found",
        TEST_FAILED => "Compare failed",
        NOT_FILE => "Not a file",
        NOT_DIR => "Not a directory",
        NODE_EXIST => "Key already exists",
        ROOT_READ_ONLY => "Root is read only",
        UNAUTHORIZED => "The request requires user authentication",
        DIR_NOT_EMPTY => "Directory not empty",
        PREV_VALUE_REQUIRED => "PrevValue is Required in POST form",
        TTL_NAN => "The given TTL in POST form is not a number",
        INDEX_NAN => "The given index in POST form is not a number",
        INVALID_FIELD => "Invalid field",
        INVALID_FORM => "Invalid POST form",
        REFRESH_VALUE => "Value provided on refresh",
        REFRESH_TTL_REQUIRED => "A TTL must be provided on refresh",
        RAFT_INTERNAL => "Raft Internal Error",
        LEADER_ELECT => "During Leader Election",
        EVENT_INDEX_CLEARED => "The event in requested index is outdated and cleared",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_etcds_field_order() {
        let e = V2Error::new(KEY_NOT_FOUND, "/a", 12);
        assert_eq!(
            e.body(),
            concat!(
                r#"{"errorCode":100,"message":"Key not found","cause":"/a","index":12}"#,
                "\n"
            )
        );
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            V2Error::request(NOT_DIR, "/f").status(),
            StatusCode::BAD_REQUEST
        );
    }
}
