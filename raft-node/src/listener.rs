//! The client port's accept loop: one socket serving gRPC (HTTP/2) and plain
//! HTTP/1 (`/health`, `/version`) through the same router, with every
//! connection wrapped in [`AuthorityFix`]. Connections live in a `JoinSet`
//! owned by the loop, so stopping the loop closes them all.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use tokio_rustls::TlsAcceptor;

use tower::Layer;

use crate::auth::ClientCommonName;
use crate::batched_writes::BatchedWrites;
use crate::h2_authority::AuthorityFix;

/// TLS for one listener.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// If set, the client certificate's common name must be this.
    pub allowed_cn: Option<String>,
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
    builder
        .http2()
        .max_concurrent_streams(u32::MAX)
        .adaptive_window(true);
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
