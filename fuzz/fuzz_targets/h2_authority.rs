//! The HTTP/2 `:authority` rewriter on arbitrary client bytes, delivered in
//! fuzzed chunk sizes: it must never panic, and must pass non-HTTP/2
//! connections through byte for byte.
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use raft_node::h2_authority::AuthorityFix;
use tokio::io::{AsyncRead, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Hands out `data` in chunks whose sizes come from `sizes`.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = match self.sizes.split_first() {
            Some((&s, rest)) => {
                self.sizes = rest;
                s as usize * 64 + 1
            }
            None => usize::MAX,
        };
        let n = want.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let sizes_len = (mode as usize >> 1).min(rest.len());
    let (sizes, body) = rest.split_at(sizes_len);
    // Most inputs get the preface for free, so the HTTP/2 path is reached.
    let data = if mode & 1 == 0 {
        [PREFACE, body].concat()
    } else {
        body.to_vec()
    };
    let mut fix = AuthorityFix::new(Chunked { data: &data, sizes });
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut fix).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
            Poll::Ready(Ok(())) => out.extend_from_slice(rb.filled()),
            Poll::Ready(Err(e)) => panic!("read error: {e}"),
            Poll::Pending => panic!("pending on a ready reader"),
        }
    }
    if !data.starts_with(&PREFACE[..PREFACE.len().min(data.len())]) || data.len() < PREFACE.len() {
        assert_eq!(
            out, data,
            "a non-HTTP/2 connection must pass through untouched"
        );
    }
});
