//! Reading one value from a member's Prometheus `/metrics` page over plain
//! HTTP, as etcdctl's `endpointMemoryMetrics` does for `check datascale`:
//! the endpoint gets an `http://` prefix unless it already has one (so an
//! `https://` endpoint yields an unusable URL, as in etcdctl), any status
//! is accepted, and every problem is printed on stdout and reported as 0.

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The metric `check datascale` measures.
const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// The server's resident memory in bytes, or 0 after printing why it could
/// not be read.
pub async fn resident_memory(endpoint: &str) -> f64 {
    let host = if endpoint.starts_with("http://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let url = format!("{host}/metrics");
    let body = match get(&url).await {
        Ok(b) => b,
        Err(e) => {
            println!("fetch error: Get \"{url}\": {e}");
            return 0.0;
        }
    };
    match parse_metric(&body, RESIDENT_MEMORY) {
        Ok(v) => v,
        Err(msg) => {
            println!("{msg}");
            0.0
        }
    }
}

/// The value of the first line starting with `name`, with etcdctl's texts
/// for a missing or unparsable value.
fn parse_metric(body: &str, name: &str) -> Result<f64, String> {
    let raw = body
        .split('\n')
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_default();
    if raw.is_empty() {
        return Err(format!("could not find: {name}"));
    }
    raw.parse::<f64>()
        .map_err(|_| format!("parse error: strconv.ParseFloat: parsing \"{raw}\": invalid syntax"))
}

/// Go's text for a failed dial of `addr`.
fn dial_error(addr: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => super::snapshot::go_errno(e),
    };
    format!("dial tcp {addr}: connect: {why}")
}

/// A plain HTTP/1.1 GET of `url` (which starts with `http://`); the body.
async fn get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let path = if end < rest.len() { &rest[end..] } else { "/" };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.trim_start_matches('[').trim_end_matches(']'), p)
        }
        _ => (authority, ""),
    };
    let port: u16 = if port.is_empty() {
        80
    } else {
        port.parse()
            .map_err(|_| format!("dial tcp: address {authority}: invalid port"))?
    };
    let addr = format!("{host}:{port}");
    let tcp = match TcpStream::connect((host, port)).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(dial_error(&addr, &e))
        }
        Err(e) if host.parse::<std::net::IpAddr>().is_err() => {
            let _ = e;
            return Err(format!("dial tcp: lookup {host}: no such host"));
        }
        Err(e) => return Err(dial_error(&addr, &e)),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("Host", authority)
        .header("User-Agent", "Go-http-client/1.1")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading {url}: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_value_line() {
        let page = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                    # TYPE process_resident_memory_bytes gauge\n\
                    process_resident_memory_bytes 2.4358912e+07\n";
        assert_eq!(parse_metric(page, RESIDENT_MEMORY), Ok(2.4358912e7));
        assert_eq!(
            parse_metric("404 page not found\n", RESIDENT_MEMORY),
            Err("could not find: process_resident_memory_bytes".to_string())
        );
        assert_eq!(
            parse_metric("process_resident_memory_bytes x\n", RESIDENT_MEMORY),
            Err("parse error: strconv.ParseFloat: parsing \"x\": invalid syntax".to_string())
        );
    }
}
