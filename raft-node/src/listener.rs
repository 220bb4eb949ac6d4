//! The accept loops of the client and peer ports: one socket serving gRPC
//! (HTTP/2) and plain HTTP/1 (`/health`, `/version`) through the same
//! router, with every connection wrapped in [`AuthorityFix`]. Connections
//! live in a `JoinSet` owned by the loop, so stopping the loop closes them
//! all. [`listen`] binds every URL of a port, the same way for both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use tokio_rustls::TlsAcceptor;

use tower::Layer;

use tokio::task::JoinHandle;

use crate::auth::ClientCommonName;
use crate::batched_writes::BatchedWrites;
use crate::h2_authority::AuthorityFix;
use crate::routers::{client_router, peer_router};
use crate::{tls, Config, EtcdServer, StartError};

/// TLS for one listener.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// If set, the client certificate's common name must be this.
    pub allowed_cn: Option<String>,
}

/// One port's listening side: its URLs (address, https), its TLS server
/// configuration if any, and how it is named in messages.
pub struct Port {
    pub addrs: Vec<(SocketAddr, bool)>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// With TLS, the common name a client certificate must have.
    pub allowed_cn: Option<String>,
    /// The flags a `https://` URL needs (for the error without them).
    pub cert_flags: &'static str,
    /// What the port serves (for the log).
    pub serving: &'static str,
}

/// Binds every URL of `port` and serves `router` on each until `stop`
/// turns true (accepting connections once `ready` does, if given); returns
/// the bound addresses (useful with port 0) and the accept loops.
pub async fn listen(
    port: Port,
    router: axum::Router,
    ready: Option<watch::Receiver<bool>>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<(SocketAddr, tokio::task::JoinHandle<()>)>, String> {
    let mut out = Vec::new();
    for (addr, https) in port.addrs {
        let tls = match (https, &port.tls) {
            (false, _) => None,
            (true, Some(c)) => Some(Tls {
                acceptor: TlsAcceptor::from(c.clone()),
                allowed_cn: port.allowed_cn.clone(),
            }),
            (true, None) => {
                return Err(format!(
                "TLS key/cert ({}) must be provided for {} url https://{addr} with HTTPS scheme",
                port.cert_flags, port.serving
            ))
            }
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        tracing::info!(address = %bound, tls = https, "serving {} traffic", port.serving);
        let task = tokio::spawn(serve(
            listener,
            router.clone(),
            tls,
            ready.clone(),
            stop.clone(),
        ));
        out.push((bound, task));
    }
    Ok(out)
}

/// Serves `router` on `listener` until `stop` turns true; over TLS when
/// `tls` is given. With `ready`, connections are accepted only once it
/// turns true (the socket is bound already, so clients queue meanwhile).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Tls>,
    ready: Option<watch::Receiver<bool>>,
    mut stop: watch::Receiver<bool>,
) {
    if let Some(mut ready) = ready {
        tokio::select! {
            _ = ready.wait_for(|r| *r) => {}
            _ = stopped(&mut stop) => return,
        }
    }
    let mut conns = JoinSet::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's fixed 1 MiB flow-control windows, not its adaptive window: it
    // estimates bandwidth with PING frames while data arrives, so under many
    // small requests every connection kept a ping in flight, each one a
    // frame to write, a frame for the client to answer and one more to
    // read. Without them: 8% less server CPU per put under 1 000 clients and
    // no loss with 1 MB values (benches/README.md, session 9).
    builder.http2().max_concurrent_streams(u32::MAX);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let router = router.clone();
                    let builder = builder.clone();
                    let tls = tls.clone();
                    conns.spawn(async move {
                        let result = match tls {
                            None => {
                                let io = TokioIo::new(BatchedWrites::new(AuthorityFix::new(tcp)));
                                let service = TowerToHyperService::new(router);
                                builder.serve_connection_with_upgrades(io, service).await
                            }
                            Some(tls) => {
                                let handshake = tokio::time::timeout(
                                    crate::tls::HANDSHAKE_TIMEOUT,
                                    tls.acceptor.accept(tcp),
                                );
                                let stream = match handshake.await {
                                    Ok(Ok(s)) => s,
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, "TLS handshake refused");
                                        return;
                                    }
                                    Err(_) => {
                                        tracing::debug!("TLS handshake timed out");
                                        return;
                                    }
                                };
                                if let Some(cn) = &tls.allowed_cn {
                                    let got = stream
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .and_then(crate::tls::common_name);
                                    if got.as_deref() != Some(cn.as_str()) {
                                        tracing::warn!(
                                            allowed = %cn, got = ?got,
                                            "refused peer connection: certificate CN not allowed"
                                        );
                                        return;
                                    }
                                }
                                // The verified client certificate names the
                                // user of requests that bring no token.
                                let common_name = stream
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(crate::tls::common_name)
                                    .map(ClientCommonName);
                                let service = TowerToHyperService::new(
                                    tower::util::MapRequestLayer::new(
                                        move |mut req: axum::http::Request<hyper::body::Incoming>| {
                                            if let Some(cn) = &common_name {
                                                req.extensions_mut().insert(cn.clone());
                                            }
                                            req
                                        },
                                    )
                                    .layer(router),
                                );
                                let io = TokioIo::new(BatchedWrites::new(AuthorityFix::new(stream)));
                                builder.serve_connection_with_upgrades(io, service).await
                            }
                        };
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "client connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // Usually out of file descriptors: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    conns.shutdown().await;
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves a member: its peer URLs at once, its client URLs once
/// `published` says it is in the member list. The client addresses bound
/// (useful with port 0) and the serving tasks.
pub(crate) async fn serve_member(
    config: &Config,
    server: &Arc<EtcdServer>,
    published: watch::Receiver<bool>,
    shutdown_rx: watch::Receiver<bool>,
) -> Result<(Vec<SocketAddr>, Vec<JoinHandle<()>>), StartError> {
    let mut tasks = Vec::new();
    let peer_port = Port {
        addrs: config.peer_listeners().map_err(StartError::Config)?,
        tls: tls::peer_server_config(config).map_err(StartError::Config)?,
        allowed_cn: Some(config.peer_cert_allowed_cn.clone()).filter(|cn| !cn.is_empty()),
        cert_flags: "--peer-cert-file, --peer-key-file",
        serving: "peer",
    };
    let peers = listen(
        peer_port,
        peer_router(server.clone()),
        None,
        shutdown_rx.clone(),
    )
    .await
    .map_err(StartError::Config)?;
    tasks.extend(peers.into_iter().map(|(_, task)| task));
    let client_port = Port {
        addrs: config.client_listeners().map_err(StartError::Config)?,
        tls: tls::client_server_config(config).map_err(StartError::Config)?,
        allowed_cn: None,
        cert_flags: "--cert-file, --key-file",
        serving: "client",
    };
    let clients = listen(
        client_port,
        client_router(server.clone()),
        Some(published),
        shutdown_rx,
    )
    .await
    .map_err(StartError::Config)?;
    let mut client_addrs = Vec::new();
    for (addr, task) in clients {
        client_addrs.push(addr);
        tasks.push(task);
    }
    Ok((client_addrs, tasks))
}
