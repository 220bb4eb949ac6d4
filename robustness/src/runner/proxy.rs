//! A fault-injecting TCP proxy on the peer path, and the rules that say what it does.
//!
//! Every member advertises a peer URL on a proxy port (`--initial-advertise-peer-urls` and
//! `--initial-cluster` name the proxy) while it listens on its real peer port
//! (`--listen-peer-urls`), so every byte of raft traffic *to* a member goes through that
//! member's proxy. Partitions are directional, so the proxy must also know who is talking:
//! each member sends its raft messages on connections it opens itself, and the connecting
//! side of a loopback connection is a socket owned by one of our member processes. On
//! accepting, the proxy looks the peer's port up in `/proc/net/tcp` (socket inode) and finds
//! which member process holds that inode under `/proc/<pid>/fd`. A connection from member A
//! to B's proxy thus carries exactly the "A to B" direction of raft traffic (and the HTTP/2
//! acknowledgements of it), which is what a one-way partition cuts.
//!
//! What a link (from, to) can do, as a network can:
//!
//! - **pass**: bytes flow;
//! - **delay**: every chunk is held until a fixed latency after it was read, in both
//!   directions of the connection (order kept, throughput not limited);
//! - **stall**: nothing is forwarded (the reader fills a bounded queue, then TCP's window
//!   closes), nothing is lost: when the link heals the bytes arrive late, like a partition
//!   TCP outlives;
//! - **drop**: open connections are closed and new ones are closed at once, like a partition
//!   that resets connections.
//!
//! A connection whose source cannot be identified (its process already gone) takes the link
//! of the "unknown" source, which follows the rules only when the destination is cut off
//! from every member. All tasks belong to the proxy: dropping it ends every connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What one direction of the network between two members does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    #[default]
    Pass,
    Delay(Duration),
    Stall,
    Drop,
}

/// The rules of the whole network and which process is which member. Shared by every proxy
/// and by the nemeses that change it.
#[derive(Default)]
pub struct Net {
    rules: Mutex<HashMap<(usize, usize), Link>>,
    /// Links from a connection whose source is unknown, per destination.
    unknown: Mutex<HashMap<usize, Link>>,
    pids: Mutex<HashMap<u32, usize>>,
    generation: watch::Sender<u64>,
    unidentified: std::sync::atomic::AtomicUsize,
}

impl Net {
    pub fn new() -> Arc<Net> {
        Arc::new(Net::default())
    }

    /// Member `slot` now runs as process `pid`.
    pub fn register(&self, pid: u32, slot: usize) {
        self.pids.lock().expect("pids").insert(pid, slot);
    }

    pub fn unregister(&self, pid: u32) {
        self.pids.lock().expect("pids").remove(&pid);
    }

    pub fn link(&self, from: Option<usize>, to: usize) -> Link {
        match from {
            Some(f) => self
                .rules
                .lock()
                .expect("rules")
                .get(&(f, to))
                .copied()
                .unwrap_or_default(),
            None => self
                .unknown
                .lock()
                .expect("rules")
                .get(&to)
                .copied()
                .unwrap_or_default(),
        }
    }

    /// Sets the link from every member of `from` to every member of `to` (not to itself).
    pub fn set(&self, from: &[usize], to: &[usize], link: Link) {
        let mut rules = self.rules.lock().expect("rules");
        for &f in from {
            for &t in to {
                if f != t {
                    rules.insert((f, t), link);
                }
            }
        }
        drop(rules);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Cuts `member` off completely (both directions, unknown sources too).
    pub fn isolate(&self, member: usize, others: &[usize], link: Link) {
        self.unknown.lock().expect("rules").insert(member, link);
        self.set(&[member], others, link);
        self.set(others, &[member], link);
    }

    /// Everything passes again.
    pub fn heal(&self) {
        self.rules.lock().expect("rules").clear();
        self.unknown.lock().expect("rules").clear();
        self.generation.send_modify(|g| *g += 1);
    }

    /// How many accepted connections could not be traced to a member.
    pub fn unidentified(&self) -> usize {
        self.unidentified.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The member whose process owns the socket at `peer` connected to `local`.
    fn identify(&self, peer: SocketAddr, local: SocketAddr) -> Option<usize> {
        let inode = socket_inode(peer.port(), local.port())?;
        let target = format!("socket:[{inode}]");
        let pids: Vec<(u32, usize)> = self
            .pids
            .lock()
            .expect("pids")
            .iter()
            .map(|(p, s)| (*p, *s))
            .collect();
        for (pid, slot) in pids {
            let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in dir.flatten() {
                if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                    return Some(slot);
                }
            }
        }
        None
    }
}

/// Inode of the IPv4 socket with local port `port` connected to remote port `remote`.
fn socket_inode(port: u16, remote: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local_suffix = format!(":{port:04X}");
    let remote_suffix = format!(":{remote:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[1].ends_with(&local_suffix) && f[2].ends_with(&remote_suffix))
            .then(|| f[9].parse().ok())
            .flatten()
    })
}

/// One member's proxy: listens on the advertised port, forwards to the real one.
pub struct Proxy {
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding `listener`'s connections to `target` for member `slot`. Must be
    /// called inside a tokio runtime.
    pub fn start(
        listener: std::net::TcpListener,
        target: SocketAddr,
        slot: usize,
        net: Arc<Net>,
    ) -> std::io::Result<Proxy> {
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let accept = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, peer)) = accepted else { continue };
                        let net = Arc::clone(&net);
                        conns.spawn(async move {
                            let local = stream.local_addr().ok();
                            let from = match local {
                                Some(local) => {
                                    let n = Arc::clone(&net);
                                    tokio::task::spawn_blocking(move || n.identify(peer, local))
                                        .await
                                        .ok()
                                        .flatten()
                                }
                                None => None,
                            };
                            if from.is_none() {
                                net.unidentified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            forward(stream, target, from, slot, net).await;
                        });
                    }
                    // Reap finished connections so the set stays small.
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Proxy { accept })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

/// Forwards one connection until either side closes or the link drops.
async fn forward(
    inbound: TcpStream,
    target: SocketAddr,
    from: Option<usize>,
    to: usize,
    net: Arc<Net>,
) {
    if net.link(from, to) == Link::Drop {
        return;
    }
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (ir, iw) = inbound.into_split();
    let (or, ow) = outbound.into_split();
    let mut changes = net.changes();
    let dropped = {
        let net = Arc::clone(&net);
        async move {
            loop {
                if net.link(from, to) == Link::Drop {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = pump(ir, ow, from, to, Arc::clone(&net)) => {}
        _ = pump(or, iw, from, to, Arc::clone(&net)) => {}
        _ = dropped => {}
    }
}

/// Copies one direction, applying the link's current rule to every chunk.
async fn pump(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    from: Option<usize>,
    to: usize,
    net: Arc<Net>,
) {
    // Bounded: a stalled link fills it, then the reader stops and TCP pushes back.
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(256);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        let mut changes = net.changes();
        while let Some((read_at, chunk)) = rx.recv().await {
            loop {
                match net.link(from, to) {
                    Link::Pass => break,
                    Link::Drop => return,
                    Link::Delay(d) => {
                        // Re-check after the wait: the rule may have changed meanwhile.
                        tokio::select! {
                            _ = tokio::time::sleep_until(read_at + d) => break,
                            r = changes.changed() => if r.is_err() { return },
                        }
                    }
                    Link::Stall => {
                        if changes.changed().await.is_err() {
                            return;
                        }
                    }
                }
            }
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    // Either half ending ends this direction (the other direction's pump or the peer's
    // close ends the connection).
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut got = vec![0; msg.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    /// This test process stands for member 0 connecting to member 1's proxy.
    #[tokio::test]
    async fn proxy_identifies_the_source_and_applies_each_rule() {
        let echo = echo_server().await;
        let net = Net::new();
        net.register(std::process::id(), 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy_addr = listener.local_addr().expect("addr");
        let _proxy = Proxy::start(listener, echo, 1, Arc::clone(&net)).expect("proxy");

        let mut s = TcpStream::connect(proxy_addr).await.expect("connect");
        assert_eq!(roundtrip(&mut s, b"pass").await.expect("pass"), b"pass");
        assert_eq!(net.unidentified(), 0, "the source was identified");

        // Delay: both directions are held 100 ms.
        net.set(&[0], &[1], Link::Delay(Duration::from_millis(100)));
        let t = std::time::Instant::now();
        assert_eq!(roundtrip(&mut s, b"slow").await.expect("delay"), b"slow");
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );

        // Stall: nothing arrives until the link heals, then everything does.
        net.set(&[0], &[1], Link::Stall);
        s.write_all(b"held").await.expect("write");
        let mut got = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut got)).await;
        assert!(early.is_err(), "a stalled link delivered");
        net.heal();
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
            .await
            .expect("delivered after healing")
            .expect("read");
        assert_eq!(&got, b"held");

        // A rule for another direction does not touch this one.
        net.set(&[1], &[0], Link::Drop);
        assert_eq!(roundtrip(&mut s, b"still").await.expect("other"), b"still");

        // Drop: the open connection is closed and new ones are too.
        net.set(&[0], &[1], Link::Drop);
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        let mut again = TcpStream::connect(proxy_addr).await.expect("accepts");
        let n = tokio::time::timeout(Duration::from_secs(5), again.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");

        net.heal();
        let mut healed = TcpStream::connect(proxy_addr).await.expect("connect");
        assert_eq!(
            roundtrip(&mut healed, b"back").await.expect("healed"),
            b"back"
        );
    }
}
