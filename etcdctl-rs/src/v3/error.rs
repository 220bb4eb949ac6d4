//! Exit codes and the error type every command returns, mirroring etcdctl's
//! `ExitWithError`: the message goes to stderr as `Error: <message>` and the
//! process exits with the command-specific code.

use std::fmt;

pub const EXIT_ERROR: i32 = 1;
pub const EXIT_BAD_CONNECTION: i32 = 2;
pub const EXIT_INVALID_INPUT: i32 = 3;
pub const EXIT_BAD_FEATURE: i32 = 4;
pub const EXIT_INTERRUPTED: i32 = 5;
pub const EXIT_BAD_ARGS: i32 = 128;

/// A terminating condition: what to print on stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    pub code: i32,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Printed as `Error: <msg>\n` (bytes: Go's messages may quote user
    /// input that is not UTF-8 verbatim).
    Message(Vec<u8>),
    /// Printed verbatim (already formatted, e.g. a log line or a Go panic).
    Raw(Vec<u8>),
}

impl CtlError {
    /// `Error: <msg>` with the given exit code.
    pub fn new(code: i32, msg: impl Into<Vec<u8>>) -> Self {
        CtlError {
            code,
            kind: Kind::Message(msg.into()),
        }
    }

    /// Exits with `code` after printing `text` verbatim on stderr.
    pub fn raw(code: i32, text: impl Into<Vec<u8>>) -> Self {
        CtlError {
            code,
            kind: Kind::Raw(text.into()),
        }
    }

    /// Exits with `code` without printing anything more.
    pub fn silent(code: i32) -> Self {
        Self::raw(code, "")
    }

    /// What a Go runtime panic looks like from the outside (exit code 2).
    pub fn panic(msg: &str) -> Self {
        Self::raw(
            2,
            format!("panic: {msg}\n\ngoroutine 1 [running]:\nmain.main()\n"),
        )
    }

    /// A nil pointer dereference in the Go client (exit code 2).
    pub fn nil_deref() -> Self {
        Self::raw(
            2,
            "panic: runtime error: invalid memory address or nil pointer dereference\n\
             [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x0]\n\n\
             goroutine 1 [running]:\nmain.main()\n",
        )
    }

    /// The text to write on stderr.
    pub fn stderr_text(&self) -> Vec<u8> {
        match &self.kind {
            Kind::Message(m) => [b"Error: ", &m[..], b"\n"].concat(),
            Kind::Raw(r) => r.clone(),
        }
    }

    /// The bare message, for wrapping into another error.
    pub fn message(&self) -> String {
        String::from_utf8_lossy(self.message_bytes()).into_owned()
    }

    /// The bare message as bytes.
    pub fn message_bytes(&self) -> &[u8] {
        match &self.kind {
            Kind::Message(m) | Kind::Raw(m) => m,
        }
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// Result type of every command.
pub type CtlResult<T = ()> = Result<T, CtlError>;
