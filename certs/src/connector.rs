//! The TLS connector every gRPC client of the workspace dials with (etcd-rs
//! members to their peers, etcdctl-rs, etcd-bench): TCP with `TCP_NODELAY`,
//! then a rustls handshake naming the URI's host, handed to tonic's
//! `Endpoint::connect_with_connector`.

use std::sync::Arc;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A connector for tonic: TCP, then the TLS handshake with `config`, to the
/// URI's host and port (`default_port` when the URI names none).
pub fn tls_connector(
    config: Arc<ClientConfig>,
    default_port: u16,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<TlsStream<TcpStream>>,
    Error = std::io::Error,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    tower::service_fn(move |uri: Uri| {
        let config = config.clone();
        async move {
            let host = uri.host().unwrap_or("localhost").to_string();
            let port = uri.port_u16().unwrap_or(default_port);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            // An IPv6 literal is named without its brackets.
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(TokioIo::new(stream))
        }
    })
}
