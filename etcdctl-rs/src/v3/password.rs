//! Reading passwords from standard input, as etcdctl does: the prompting
//! way of the `speakeasy` package (prompt on stdout, terminal echo turned
//! off and on again by running `/bin/stty` on the inherited descriptors,
//! one line read byte by byte, a newline printed afterwards) and the
//! `fmt.Scanf("%s")` way of `--interactive=false` (one word).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Runs `stty <arg>` on our stdin/stdout/stderr, as speakeasy does; its
/// complaint about a non-terminal stdin goes to our stderr unchanged.
fn stty(arg: &str) -> std::io::Result<()> {
    Command::new("/bin/stty")
        .arg0("stty")
        .arg(arg)
        .status()
        .map(|_| ())
        .map_err(|e| std::io::Error::new(e.kind(), format!("fork/exec /bin/stty: {e}")))
}

/// One byte of stdin, `None` at end of input (or on a read error).
fn next_byte() -> Option<u8> {
    let mut b = [0u8; 1];
    match std::io::stdin().lock().read(&mut b) {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

/// speakeasy's `readline`: bytes up to a newline or the end of input.
fn read_line() -> String {
    let mut line = Vec::new();
    while let Some(b) = next_byte() {
        if b == b'\n' {
            break;
        }
        line.push(b);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// speakeasy's `Ask`: the prompt, a line with echo off, then a newline.
pub fn ask(prompt: &str) -> std::io::Result<String> {
    let mut out = std::io::stdout();
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    let result = stty("-echo").map(|()| {
        let line = read_line();
        let _ = stty("echo");
        line.trim().to_string()
    });
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    result
}

/// `fmt.Scanf("%s", &s)`: skips spaces (not newlines), then reads one
/// word; an empty or missing word gives "".
pub fn scan_word() -> String {
    let mut word = Vec::new();
    let mut byte = next_byte();
    while matches!(byte, Some(b' ' | b'\t')) {
        byte = next_byte();
    }
    while let Some(b) = byte {
        if b.is_ascii_whitespace() {
            break;
        }
        word.push(b);
        byte = next_byte();
    }
    String::from_utf8_lossy(&word).into_owned()
}
