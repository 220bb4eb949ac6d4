//! Accepting HTTP/2 requests whose `:authority` is a full URL.
//!
//! etcdctl 3.4 dials some endpoints (`endpoint status`, `endpoint hashkv`,
//! `defrag`, everything with `--cluster`) as `passthrough:///http://host:port`,
//! and gRPC-Go then sends `:authority: http://host:port`. etcd's Go server
//! accepts that; the `h2` crate under hyper rejects it as malformed and
//! resets the stream. So that those commands work against etcd-rs as they do
//! against etcd, every client connection passes through [`AuthorityFix`]:
//!
//! - a connection that does not open with the HTTP/2 preface (plain HTTP/1,
//!   e.g. `curl /health`) is passed through untouched;
//! - on an HTTP/2 connection, every header block the client sends is decoded
//!   (HPACK, with the client's dynamic table), a URL-shaped `:authority` is
//!   cut down to `host:port`, and the block is re-encoded with our own
//!   encoder (whose dynamic table the server's decoder then mirrors). All
//!   other frames pass through byte for byte. Server-to-client bytes are
//!   never touched.
//! - a connection whose first request has an ordinary authority (every
//!   client but the one above) is passed through untouched from then on, so
//!   the common case costs one header decode per connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use loona_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// Every HTTP/2 peer must accept frames of this size.
const MAX_FRAME: usize = 16_384;
/// A header block larger than this is refused (h2's default limit is 16 KiB
/// of decoded headers; this bounds what we buffer).
const MAX_HEADER_BLOCK: usize = 1 << 20;

enum Mode {
    /// Still reading the first bytes.
    Preface,
    Http2,
    Passthrough,
}

/// A header block being collected across HEADERS + CONTINUATION frames.
struct PendingBlock {
    stream_id: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
    raw: Vec<u8>,
}

/// Wraps a client connection; see the module docs.
pub struct AuthorityFix<S> {
    inner: S,
    mode: Mode,
    /// Bytes read from the client, not yet processed.
    input: Vec<u8>,
    /// Processed bytes ready for the server to read.
    output: Vec<u8>,
    output_pos: usize,
    pending: Option<PendingBlock>,
    /// Set once a block was re-encoded: from then on every block must be.
    rewriting: bool,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            mode: Mode::Preface,
            input: Vec::new(),
            output: Vec::new(),
            output_pos: 0,
            pending: None,
            rewriting: false,
            decoder: Decoder::new(),
            encoder: Encoder::new(),
        }
    }

    /// Moves whatever can be processed from `input` to `output`.
    fn process(&mut self) {
        loop {
            match self.mode {
                Mode::Passthrough => {
                    self.output.append(&mut self.input);
                    return;
                }
                Mode::Preface => {
                    let n = self.input.len().min(PREFACE.len());
                    if self.input[..n] != PREFACE[..n] {
                        self.mode = Mode::Passthrough;
                        continue;
                    }
                    if n < PREFACE.len() {
                        return;
                    }
                    self.output.extend(self.input.drain(..PREFACE.len()));
                    self.mode = Mode::Http2;
                }
                Mode::Http2 => {
                    if self.input.len() < FRAME_HEADER {
                        return;
                    }
                    let len = u32::from_be_bytes([0, self.input[0], self.input[1], self.input[2]])
                        as usize;
                    if len > MAX_FRAME {
                        // Bigger than the server accepts (it never raises
                        // SETTINGS_MAX_FRAME_SIZE): rather than buffering up
                        // to 16 MiB on the peer's word, hand everything over
                        // and let the server refuse the connection.
                        let raw = self.pending.take().map(|p| p.raw).unwrap_or_default();
                        self.give_up(raw);
                        continue;
                    }
                    if self.input.len() < FRAME_HEADER + len {
                        return;
                    }
                    let frame: Vec<u8> = self.input.drain(..FRAME_HEADER + len).collect();
                    self.frame(frame);
                }
            }
        }
    }

    fn frame(&mut self, frame: Vec<u8>) {
        let kind = frame[3];
        let flags = frame[4];
        let stream_id = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff;
        let payload = &frame[FRAME_HEADER..];
        match kind {
            TYPE_HEADERS if self.pending.is_none() => {
                let mut body = payload;
                let mut pad = 0usize;
                if flags & FLAG_PADDED != 0 {
                    let Some((&p, rest)) = body.split_first() else {
                        return self.give_up(frame);
                    };
                    pad = p as usize;
                    body = rest;
                }
                let mut priority = None;
                if flags & FLAG_PRIORITY != 0 {
                    if body.len() < 5 {
                        return self.give_up(frame);
                    }
                    priority = Some(body[..5].try_into().expect("5 bytes"));
                    body = &body[5..];
                }
                if body.len() < pad {
                    return self.give_up(frame);
                }
                let fragment = body[..body.len() - pad].to_vec();
                self.pending = Some(PendingBlock {
                    stream_id,
                    end_stream: flags & FLAG_END_STREAM != 0,
                    priority,
                    fragment,
                    raw: frame.clone(),
                });
                if flags & FLAG_END_HEADERS != 0 {
                    self.finish_block();
                }
            }
            TYPE_CONTINUATION
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.stream_id == stream_id) =>
            {
                let p = self.pending.as_mut().expect("checked above");
                p.fragment.extend_from_slice(payload);
                p.raw.extend_from_slice(&frame);
                if p.fragment.len() > MAX_HEADER_BLOCK {
                    let raw = std::mem::take(&mut p.raw);
                    self.pending = None;
                    return self.give_up(raw);
                }
                if flags & FLAG_END_HEADERS != 0 {
                    self.finish_block();
                }
            }
            _ => {
                if let Some(p) = self.pending.take() {
                    // Not a valid continuation: let the server judge it.
                    self.give_up(p.raw);
                }
                self.output.extend_from_slice(&frame);
            }
        }
    }

    /// Re-encodes a complete header block with the authority fixed.
    fn finish_block(&mut self) {
        let p = self.pending.take().expect("a pending block");
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let decoded = self.decoder.decode_with_cb(&p.fragment, |name, value| {
            headers.push((name.into_owned(), value.into_owned()));
        });
        if decoded.is_err() {
            return self.give_up(p.raw);
        }
        let url_shaped = headers
            .iter()
            .any(|(n, v)| n.as_slice() == b":authority" && v.windows(3).any(|w| w == b"://"));
        if !url_shaped && !self.rewriting {
            // A gRPC connection keeps one authority: if the first request's
            // is fine, so are the rest. Nothing was re-encoded, so the
            // server's HPACK state matches the client's: step aside.
            self.output.extend_from_slice(&p.raw);
            self.mode = Mode::Passthrough;
            return;
        }
        self.rewriting = true;
        for (name, value) in &mut headers {
            if name.as_slice() == b":authority" {
                *value = host_port(value);
            }
        }
        let block = self
            .encoder
            .encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let first_room = MAX_FRAME - if p.priority.is_some() { 5 } else { 0 };
        let first_len = block.len().min(first_room);
        let (first, mut rest) = block.split_at(first_len);
        let mut flags = if p.end_stream { FLAG_END_STREAM } else { 0 };
        if rest.is_empty() {
            flags |= FLAG_END_HEADERS;
        }
        let mut payload = Vec::with_capacity(first.len() + 5);
        if let Some(prio) = p.priority {
            flags |= FLAG_PRIORITY;
            payload.extend_from_slice(&prio);
        }
        payload.extend_from_slice(first);
        self.push_frame(TYPE_HEADERS, flags, p.stream_id, &payload);
        while !rest.is_empty() {
            let n = rest.len().min(MAX_FRAME);
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let flags = if rest.is_empty() { FLAG_END_HEADERS } else { 0 };
            self.push_frame(TYPE_CONTINUATION, flags, p.stream_id, chunk);
        }
    }

    fn push_frame(&mut self, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
        let len = (payload.len() as u32).to_be_bytes();
        self.output.extend_from_slice(&len[1..]);
        self.output.push(kind);
        self.output.push(flags);
        self.output.extend_from_slice(&stream_id.to_be_bytes());
        self.output.extend_from_slice(payload);
    }

    /// Something we cannot parse: hand it over unchanged and stop rewriting
    /// (the server will reject the connection as it sees fit).
    fn give_up(&mut self, raw: Vec<u8>) {
        self.output.extend_from_slice(&raw);
        self.mode = Mode::Passthrough;
    }
}

/// `http://host:port/path` -> `host:port`; anything else unchanged.
fn host_port(authority: &[u8]) -> Vec<u8> {
    let Some(pos) = authority.windows(3).position(|w| w == b"://") else {
        return authority.to_vec();
    };
    let rest = &authority[pos + 3..];
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    rest[..end].to_vec()
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Once passed through with nothing left over, the server reads
            // the socket itself: no copy, no buffer.
            if matches!(this.mode, Mode::Passthrough)
                && this.output.is_empty()
                && this.input.is_empty()
            {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            if this.output_pos < this.output.len() {
                let n = (this.output.len() - this.output_pos).min(buf.remaining());
                buf.put_slice(&this.output[this.output_pos..this.output_pos + n]);
                this.output_pos += n;
                if this.output_pos == this.output.len() {
                    this.output.clear();
                    this.output_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        // End of stream: flush what is buffered, then EOF.
                        this.output.append(&mut this.input);
                        if this.output.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                        continue;
                    }
                    this.input.extend_from_slice(got);
                    this.process();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_authority_becomes_host_port() {
        assert_eq!(host_port(b"http://127.0.0.1:2379"), b"127.0.0.1:2379");
        assert_eq!(host_port(b"https://h:1/x"), b"h:1");
        assert_eq!(host_port(b"127.0.0.1:2379"), b"127.0.0.1:2379");
    }

    /// Feeds a preface + HEADERS frame with a URL authority through the fix
    /// and decodes what comes out.
    #[test]
    fn rewrites_headers_frame() {
        let mut client_enc = Encoder::new();
        let block = client_enc.encode(vec![
            (&b":method"[..], &b"POST"[..]),
            (&b":authority"[..], &b"http://127.0.0.1:2379"[..]),
            (&b":path"[..], &b"/etcdserverpb.KV/Range"[..]),
        ]);
        let mut fix = AuthorityFix::new(());
        fix.input.extend_from_slice(PREFACE);
        let len = (block.len() as u32).to_be_bytes();
        fix.input.extend_from_slice(&len[1..]);
        fix.input
            .extend_from_slice(&[TYPE_HEADERS, FLAG_END_HEADERS, 0, 0, 0, 1]);
        fix.input.extend_from_slice(&block);
        fix.process();
        assert_eq!(&fix.output[..PREFACE.len()], PREFACE);
        let frame = &fix.output[PREFACE.len()..];
        assert_eq!(frame[3], TYPE_HEADERS);
        let mut dec = Decoder::new();
        let headers = dec.decode(&frame[FRAME_HEADER..]).expect("valid block");
        assert!(headers.contains(&(b":authority".to_vec(), b"127.0.0.1:2379".to_vec())));
        assert_eq!(headers.len(), 3);
    }

    #[test]
    fn ordinary_authority_switches_to_passthrough() {
        let mut client_enc = Encoder::new();
        let block = client_enc.encode(vec![
            (&b":method"[..], &b"POST"[..]),
            (&b":authority"[..], &b"127.0.0.1:2379"[..]),
        ]);
        let mut fix = AuthorityFix::new(());
        fix.input.extend_from_slice(PREFACE);
        let len = (block.len() as u32).to_be_bytes();
        let mut frame = len[1..].to_vec();
        frame.extend_from_slice(&[TYPE_HEADERS, FLAG_END_HEADERS, 0, 0, 0, 1]);
        frame.extend_from_slice(&block);
        fix.input.extend_from_slice(&frame);
        fix.process();
        assert_eq!(&fix.output[PREFACE.len()..], &frame[..], "bytes untouched");
        assert!(matches!(fix.mode, Mode::Passthrough));
    }

    /// Found by review (fuzzing with a memory limit would too): a frame
    /// header claiming 16 MiB made the fix buffer input until that much had
    /// arrived.
    #[test]
    fn oversized_frame_is_not_buffered() {
        let mut fix = AuthorityFix::new(());
        fix.input.extend_from_slice(PREFACE);
        let frame = [0xff, 0xff, 0xff, TYPE_HEADERS, 0, 0, 0, 0, 1, 42, 42];
        fix.input.extend_from_slice(&frame);
        fix.process();
        assert_eq!(&fix.output[PREFACE.len()..], &frame[..]);
        assert!(fix.input.is_empty());
        assert!(matches!(fix.mode, Mode::Passthrough));
    }

    #[test]
    fn http1_passes_through() {
        let mut fix = AuthorityFix::new(());
        fix.input.extend_from_slice(b"GET /health HTTP/1.1\r\n\r\n");
        fix.process();
        assert_eq!(fix.output, b"GET /health HTTP/1.1\r\n\r\n");
    }
}
